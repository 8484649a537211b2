"""``ftdecide tune --model autotrain/...`` and ``ftdecide autotrain`` through the real CLI.

The dry run runs ``ftdecide`` as a real subprocess with its own HOME and
data folder. Training runs go through ``ftdecide.cli.main`` with the
``autotrain`` executable replaced by ``fake_autotrain.py`` (a test double of
the external CLI, see its docstring); the job store is real SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ftdecide.examples import example_path
from ftdecide.tune._store import Store
from ftdecide_autotrain import config as cfg
from ftdecide_autotrain import provider as provider_mod

TRAIN = example_path("triage", "train")
FTDECIDE = Path(sys.executable).with_name("ftdecide")


def _main(args, capsys):
    from ftdecide.cli.main import main

    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_json_through_the_real_cli(tmp_path, model_dir):
    env = {**os.environ, "HOME": str(tmp_path / "home"),
           "FTDECIDE_DATA_DIR": str(tmp_path / "data"),
           "FTDECIDE_CONFIG_DIR": str(tmp_path / "config"),
           "FTDECIDE_CACHE_DIR": str(tmp_path / "cache"),
           "FTDECIDE_LOAD_PLUGINS": "autotrain"}
    env.pop("FTDECIDE_AUTOTRAIN_BIN", None)
    proc = subprocess.run([str(FTDECIDE), "tune", str(TRAIN), "--model",
                           f"autotrain/{model_dir}", "--backend", "local", "--dry-run", "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["dry_run"] is True and out["provider"] == "autotrain"
    assert out["command"][1:] == ["--config", out["config"]]
    assert out["cwd"] == out["work_dir"] and out["shell"].startswith(f"cd {out['work_dir']} && ")
    config = cfg.read(out["config"])
    assert config == out["autotrain_config"]
    assert cfg.validate(config) == []
    assert config["base_model"] == str(model_dir) and config["backend"] == "local"
    assert out["data"]["examples"] == 400
    assert Path(out["data"]["path"]).read_text().count("\n") == 400
    hw = out["estimate"]["hardware"]["hardware"][0]
    assert hw["backend"] == "local" and hw["usd_per_hour"] == 0.0 and hw["as_of"]
    assert "no AutoTrain environment yet" in " ".join(out["notes"])
    assert "Note: no AutoTrain environment yet" in proc.stderr
    listed = subprocess.run([str(FTDECIDE), "jobs", "list", "--json"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert json.loads(listed.stdout) == []            # a dry run records no job


def test_dry_run_human_output_names_the_command(model_dir, autotrain_loaded, fake_autotrain,
                                                capsys):
    code, out, err = _main(["tune", str(TRAIN), "--model", f"autotrain/{model_dir}",
                            "--dry-run", "--epochs", "2"], capsys)
    assert code == 0, err
    assert "dry run: nothing was trained" in out and "command:" in out
    assert f"{fake_autotrain.script} --config " in out
    assert "hardware" in err and "local: this machine" in err     # the cost, before anything


def test_tune_trains_records_the_job_and_its_cost(model_dir, autotrain_loaded, fake_autotrain,
                                                  capsys):
    fake_autotrain("success", "real-success.log")
    code, out, err = _main(["tune", str(TRAIN), "--model", f"autotrain/{model_dir}", "--yes",
                            "--json"], capsys)
    assert code == 0, err
    job = json.loads(out)
    assert job["status"] == "succeeded" and job["provider"] == "autotrain"
    assert job["model"] == f"autotrain/{job['job_id']}"
    assert job["loss_curve"] and job["step"] == job["total_steps"]
    assert job["actual_cost_usd"] == 0.0 and job["wall_s"] > 0
    assert job["metrics"]["hardware_hours"] > 0 and job["metrics"]["price_as_of"]
    assert job["estimate"]["hardware"]["hardware"][0]["backend"] == "local"
    stored = Store().get_job(job["job_id"])
    assert stored.status == "succeeded" and stored.options == {}
    code, out, _ = _main(["jobs", "list", "--json"], capsys)
    assert [j["job_id"] for j in json.loads(out)] == [job["job_id"]]
    # the tuned model resolves as autotrain/<job id> (answered through hf)
    from ftdecide.pricing._catalog import load_catalog

    info = load_catalog().resolve(f"autotrain/{job['job_id']}")
    assert not info.tunable and info.output_per_1m == 0.0


def test_exit_0_without_weights_is_a_failed_job_exit_3(model_dir, autotrain_loaded,
                                                       fake_autotrain, capsys):
    fake_autotrain("failed-exit0", "real-failed-exit0.log")
    code, out, err = _main(["tune", str(TRAIN), "--model", f"autotrain/{model_dir}", "--yes",
                            "--json"], capsys)
    assert code == 3
    job = json.loads(out)
    assert job["status"] == "failed" and job["metrics"]["exit_code"] == 0
    from ftdecide_autotrain.logparse import LogProgress

    p = LogProgress()
    p.feed((Path(__file__).parent / "data" / "real-failed-exit0.log").read_text())
    assert job["error"].endswith(p.last_error())
    assert f"Error: job {job['job_id']} failed: AutoTrain exited with code 0 but wrote no model" \
        in err and "Traceback" not in err
    assert Store().get_job(job["job_id"]).status == "failed"


def test_no_autotrain_environment_is_a_clear_message(model_dir, autotrain_loaded, capsys,
                                                     monkeypatch):
    monkeypatch.delenv("FTDECIDE_AUTOTRAIN_BIN", raising=False)
    code, out, err = _main(["tune", str(TRAIN), "--model", f"autotrain/{model_dir}", "--yes"],
                           capsys)
    assert code == 2 and "no AutoTrain environment" in err
    assert "ftdecide autotrain setup" in err and "FTDECIDE_AUTOTRAIN_BIN" in err
    assert Store().jobs() == []
    code, _, err = _main(["tune", str(TRAIN), "--model", f"autotrain/{model_dir}", "--yes",
                          "--autotrain-bin", str(model_dir / "nope")], capsys)
    assert code == 2 and "--autotrain-bin is" in err and "not an executable" in err
    code, _, err = _main(["autotrain", "status"], capsys)
    assert code == 2 and "no AutoTrain environment" in err


def test_refusals_before_anything_is_written(model_dir, autotrain_loaded, fake_autotrain,
                                             capsys):
    cases = [
        (["--backend", "spaces-h100"], "unknown AutoTrain backend"),
        (["--backend", "spaces-t4-small"], "cannot read the local folder"),
        (["--lr-multiplier", "2"], "no fine-tuning option 'learning_rate_multiplier'"),
        (["-o", "lr_multiplier", "2"], "autotrain accepts for fine-tuning: backend, dry_run"),
        (["--tier", "global"], "autotrain has no fine-tuning option 'tier'"),
        (["--processes", "2"], "autotrain has no fine-tuning option 'processes'"),
    ]
    for extra, message in cases:
        code, _, err = _main(["tune", str(TRAIN), "--model", f"autotrain/{model_dir}", "--yes",
                              *extra], capsys)
        assert code == 2 and message in err, (extra, err)
    code, _, err = _main(["tune", str(TRAIN), "--model", "autotrain/Org/Model", "--yes",
                          "--backend", "spaces-t4-small"], capsys)
    assert code == 2 and "does not submit them" in err and "--dry-run" in err
    code, _, err = _main(["tune", str(TRAIN), "--model", "hf/smollm2-135m", "--dry-run"], capsys)
    assert code == 2
    assert Store().jobs() == []


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_remote_dry_run_without_token_or_network(autotrain_loaded, capsys, monkeypatch):
    monkeypatch.setattr(provider_mod, "HUB_HOST", ("127.0.0.1", _closed_port()))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = _main(["tune", str(TRAIN), "--model", "autotrain/HuggingFaceTB/SmolLM2-135M",
                            "--backend", "spaces-a10g-large", "--dry-run", "--json",
                            "--suffix", "triage v1"], capsys)
    assert code == 0, err
    out = json.loads(out)
    pre = out["preflight"]
    assert pre == {"token": False, "token_variable": None, "username": False, "network": False,
                   "network_error": pre["network_error"], "problems": pre["problems"]}
    assert "ConnectionRefusedError" in pre["network_error"]
    assert "Note: HF_TOKEN is not set" in err and "is not reachable" in err
    config = cfg.read(out["config"])
    assert config["project_name"] == "triage-v1" and config["backend"] == "spaces-a10g-large"
    assert config["hub"]["token"] == "${HF_TOKEN}"
    assert "$1.50/hour" in out["rate"] and "spaces-gpus" in out["rate"]
    assert "Warning: spaces-a10g-large (Nvidia A10G large) bills $1.50/hour" in err
    assert out["env"] == {"HF_USERNAME": "<your Hugging Face user>",
                          "HF_TOKEN": "<a write token>"}


def test_remote_dry_run_with_a_token_never_shows_it(autotrain_loaded, capsys, monkeypatch):
    monkeypatch.setattr(provider_mod, "HUB_HOST", ("127.0.0.1", _closed_port()))
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETSECRET")
    monkeypatch.setenv("HF_USERNAME", "someone")
    code, out, err = _main(["tune", str(TRAIN), "--model", "autotrain/Org/Model",
                            "--backend", "ep-aws-useast1-m", "--dry-run", "--json"], capsys)
    assert code == 0
    assert "hf_SECRET" not in out + err
    run_dir = Path(json.loads(out)["run_dir"])
    assert not any("hf_SECRET" in p.read_text(errors="replace")
                   for p in run_dir.rglob("*") if p.is_file())
    assert json.loads(out)["preflight"]["token"] is True


@pytest.mark.skipif(shutil.which("true") is None, reason="needs /bin/true")
def test_status_names_the_executable(autotrain_loaded, fake_autotrain, capsys):
    code, out, _ = _main(["autotrain", "status", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["binary"] == str(fake_autotrain.script) and data["from"] == "FTDECIDE_AUTOTRAIN_BIN"


def test_options_behave_as_the_old_flags(tmp_path, model_dir):
    """`-o backend local -o dry_run true -o lora_r 8` writes the same AutoTrain config as the
    deprecated `--backend local --dry-run --lora-r 8`, which still work with a notice."""
    env = {**os.environ, "HOME": str(tmp_path / "home"),
           "FTDECIDE_DATA_DIR": str(tmp_path / "data"),
           "FTDECIDE_CONFIG_DIR": str(tmp_path / "config"),
           "FTDECIDE_CACHE_DIR": str(tmp_path / "cache"),
           "FTDECIDE_LOAD_PLUGINS": "autotrain"}
    env.pop("FTDECIDE_AUTOTRAIN_BIN", None)

    def dry_run(*flags):
        proc = subprocess.run([str(FTDECIDE), "tune", str(TRAIN), "--model", f"autotrain/{model_dir}",
                               *flags, "--json"], capture_output=True, text=True, env=env,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        config = dict(out["autotrain_config"])
        config.pop("project_name"), config["data"].pop("path")  # per-run folders
        return config, proc.stderr

    new, new_err = dry_run("-o", "backend", "local", "-o", "dry_run", "true", "-o", "lora_r", "8")
    old, old_err = dry_run("--backend", "local", "--dry-run", "--lora-r", "8")
    assert new == old, (new, old)
    assert new["backend"] == "local" and new["params"]["lora_r"] == 8
    assert "deprecated" not in new_err
    assert "--backend is deprecated" in old_err and "use -o backend local" in old_err
    assert "--dry-run is deprecated" in old_err and "use -o dry_run true" in old_err
