"""The ``autotrain`` provider: model specs, settings refused before anything runs, the estimate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ftdecide
from ftdecide_autotrain import AutoTrainProvider, hardware


def test_import_is_light():
    code = ("import sys, ftdecide_autotrain\n"
            "from ftdecide.plugins import get_registry\n"
            "get_registry().providers()['autotrain'].model_info('Org/Model')\n"
            "heavy = [m for m in ('torch', 'transformers', 'yaml', 'numpy', 'peft') "
            "if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"FTDECIDE_LOAD_PLUGINS": "autotrain", "PATH": "/usr/bin:/bin"},
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_model_specs(model_dir, tmp_path):
    p = AutoTrainProvider()
    local = p.model_info(str(model_dir))
    assert local.tunable and local.context_window == 128 and local.source == str(model_dir)
    hub = p.model_info("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert hub.tunable and hub.source == "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"
    assert p.model_info("not-a-model") is None
    with pytest.raises(ftdecide.UsageError, match="does not exist"):
        p.model_info("./no/such/folder")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ftdecide.UsageError, match="no config.json"):
        p.model_info(str(tmp_path / "empty"))
    run = ftdecide.paths.runs_dir() / "ft-20261128-abcdef"
    run.mkdir(parents=True)
    (run / "autotrain-run.json").write_text(json.dumps({"base_model": str(model_dir)}))
    tuned = p.model_info("ft-20261128-abcdef")
    assert not tuned.tunable and tuned.input_per_1m == 0.0 and tuned.context_window == 128
    with pytest.raises(ftdecide.NotTunableError):
        p.check_tune_options("ft-20261128-abcdef", hyperparameters={},
                             options={"dry_run": True})


def test_estimate_uses_the_planned_backend(model_dir):
    p = AutoTrainProvider()
    assert p.check_tune_options(str(model_dir), hyperparameters={},
                                options={"dry_run": True}) == []
    est = p.estimate_training(str(model_dir), stats={"tokens_total": 36_000},
                              hyperparameters={})
    row = est["hardware"][0]
    assert row["backend"] == "local" and row["epochs"] == 1 and row["usd_per_hour"] == 0.0
    assert est["parameters"] == 2 * 64 * 8            # counted from the safetensors header
    assert row["hours"] == pytest.approx(36_000 / row["tokens_per_s"] / 3600)
    warnings = p.check_tune_options("Org/Model", hyperparameters={"epochs": 2},
                                    options={"backend": "spaces-l4x1", "dry_run": True})
    assert warnings == [hardware.describe_rate("spaces-l4x1") + "; the hours depend on the run"]
    assert "$0.80/hour" in warnings[0] and "as of 2026-11-28" in warnings[0]
    assert p.estimate_training("Org/Model", stats={"tokens_total": 1}, hyperparameters={}) is None


def test_remote_estimate_rows(model_dir):
    est = hardware.estimate("spaces-a10g-largex2", parameters=135_000_000,
                            tokens_per_epoch=100_000, epochs=3, tokens_source="t")
    row = est["hardware"][0]
    assert row["gpus"] == 2 and row["usd_per_hour"] == 3.00
    assert row["training_tokens"] == 300_000
    assert row["cost_usd"] == pytest.approx(row["hours"] * 3.00)
    assert row["tokens_per_s"] == pytest.approx(2 * 125e12 * 0.05 / (6 * 135_000_000))
    cost = hardware.actual_cost("ep-aws-useast1-4xl", wall_s=1800)
    assert cost["actual_cost_usd"] == pytest.approx(5.0) and cost["hardware_hours"] == 0.5
    assert cost["price_as_of"] == "2026-11-28" and "inference-endpoints" in cost["price_source"]
    for name in hardware.backend_names():
        e = hardware.entry(name)
        assert e["usd_per_hour"] >= 0 and e["as_of"] and e["source"]


def test_complete_goes_through_hf(model_dir, monkeypatch):
    from ftdecide.plugins import Registry, set_registry

    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "autotrain")
    set_registry(Registry())
    with pytest.raises(ftdecide.UsageError, match="hf provider, which is not loaded"):
        AutoTrainProvider().complete([{"role": "user", "content": "hi"}], model=str(model_dir))
