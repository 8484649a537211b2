"""The tuned output is a model for ``ask``/``compare`` through the hf provider.

AutoTrain (with ``peft``, without ``merge_adapter``) leaves a PEFT adapter
folder whose ``adapter_config.json`` names the base model's folder. The hf
plugin serves such a folder as ``hf/<folder>``, and a finished AutoTrain
job as ``hf/<job id>`` and ``autotrain/<job id>``. Here a real tiny Llama and
a real LoRA adapter (peft) are built, as AutoTrain's ``trainer.save_model``
would save them, and answered from through the real providers.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import ftdecide

hf = pytest.importorskip("ftdecide_hf_trl", reason="the hf plugin (ftdecide-hf-trl) is needed")
HF_TESTS = Path(hf.__file__).resolve().parents[2] / "tests"


@pytest.fixture(scope="module")
def tiny_with_adapter(tmp_path_factory):
    """A tiny base model folder and a LoRA adapter folder on it (untrained LoRA + a changed
    lm_head bias would be invisible, so the adapter's B matrices are set non-zero)."""
    pytest.importorskip("peft")
    sys.path.insert(0, str(HF_TESTS))
    try:
        import tiny
    finally:
        sys.path.remove(str(HF_TESTS))
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = tmp_path_factory.mktemp("autotrain-output")
    base = tiny.build(root / "base")
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                  task_type="CAUSAL_LM"))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    adapter = root / "run" / "autotrain" / "ft-hf-1"
    peft_model.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(base).save_pretrained(adapter)
    (adapter / "training_args.bin").write_bytes(b"x")
    cfg = json.loads((adapter / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == str(base)
    return base, adapter


def test_hf_serves_an_adapter_folder(tiny_with_adapter):
    from ftdecide_hf_trl import HFProvider
    from ftdecide_hf_trl.resolve import resolve

    base, adapter = tiny_with_adapter
    resolved = resolve(str(adapter))
    assert resolved.kind == "run" and resolved.adapter_dir == adapter
    assert resolved.path == base.resolve() and not resolved.tunable
    provider = HFProvider()
    info = provider.model_info(str(adapter))
    assert info is not None and not info.tunable and info.output_per_1m == 0.0
    messages = [{"role": "user", "content": "zebra"}]
    tuned = provider.complete(messages, model=str(adapter), max_tokens=4)
    plain = provider.complete(messages, model=str(base), max_tokens=4)
    assert tuned.usage.output_tokens > 0
    assert tuned.text != plain.text          # the adapter is applied


def test_adapter_on_a_missing_base_is_a_clear_error(tmp_path):
    from ftdecide_hf_trl.resolve import resolve

    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": "Org/hub-model"}))
    with pytest.raises(ftdecide.UsageError, match="not a local model folder"):
        resolve(str(folder))


def test_a_finished_autotrain_job_answers_as_autotrain_and_hf(tiny_with_adapter, tmp_path,
                                                              monkeypatch):
    """The run folder ftdecide leaves (metadata.json in the hf format, autotrain-run.json)."""
    from ftdecide.plugins import Registry, set_registry
    from ftdecide.pricing._catalog import load_catalog

    base, adapter = tiny_with_adapter
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "autotrain,hf")
    set_registry(Registry())
    run_dir = ftdecide.paths.runs_dir() / "ft-20261128-aaaaaa"
    shutil.copytree(adapter.parents[1], run_dir)
    (run_dir / "metadata.json").write_text(json.dumps({
        "job_id": run_dir.name, "base_model": str(base), "adapter_dir": "autotrain/ft-hf-1",
        "merged_dir": None}))
    (run_dir / "autotrain-run.json").write_text(json.dumps({"base_model": str(base)}))
    catalog = load_catalog()
    from ftdecide.pricing._ask import ask_once

    messages = "zebra"
    via_autotrain = ask_once(catalog, f"autotrain/{run_dir.name}", messages, max_tokens=4)
    via_hf = ask_once(catalog, f"hf/{run_dir.name}", messages, max_tokens=4)
    via_folder = ask_once(catalog, f"hf/{run_dir / 'autotrain' / 'ft-hf-1'}", messages,
                          max_tokens=4)
    assert via_autotrain["text"] == via_hf["text"] == via_folder["text"]
    assert via_autotrain["cost_usd"] == 0.0
