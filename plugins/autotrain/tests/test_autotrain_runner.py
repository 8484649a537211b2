"""Running the ``autotrain`` executable and judging the outcome by the files it wrote.

The executable is ``fake_autotrain.py``, a test double of the external CLI
(see its docstring): it replays AutoTrain's log and writes what AutoTrain
writes. What is real here: the subprocess, its process group, the log file
growing while ftdecide reads it, the project folder on disk and the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ftdecide
from ftdecide_autotrain import runner
from ftdecide_autotrain.judge import judge


def _prepare(tmp_path: Path, model_dir: Path, small_train: Path, binary: Path,
             **kw) -> runner.Prepared:
    return runner.prepare(run_dir=tmp_path / "run", train_path=small_train,
                          base_model=str(model_dir), base_is_local=True, project="ft-test-1",
                          backend="local", hyperparameters=kw.pop("hyperparameters", {}),
                          options={}, context_window=128, binary=binary, **kw)


def test_judge_on_a_finished_folder(tmp_path):
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "training_params.json").write_text("{}")
    assert not judge(folder).ok and judge(folder).launched
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"x" * 16)
    v = judge(folder)
    assert not v.ok and v.missing == ["training_args.bin"]
    (folder / "training_args.bin").write_bytes(b"x")
    v = judge(folder)
    assert v.ok and v.kind == "adapter" and v.weights == ["adapter_model.safetensors"]
    merged = tmp_path / "merged"
    merged.mkdir()
    for name in ("config.json", "model.safetensors", "training_args.bin"):
        (merged / name).write_bytes(b"{}")
    assert judge(merged).kind == "merged"
    (merged / "model.safetensors").write_bytes(b"")        # an empty file is not weights
    assert not judge(merged).ok
    assert not judge(tmp_path / "absent").ok


def test_successful_run(tmp_path, model_dir, small_train, fake_autotrain):
    record = fake_autotrain("success", "real-success.log")
    prepared = _prepare(tmp_path, model_dir, small_train, fake_autotrain.script)
    assert prepared.validated_by == ["ftdecide's mirror of AutoTrain 0.8.36's config schema"]
    seen = []
    state = runner.run(prepared, job_id="ft-test-1", progress=seen.append)
    assert state.status == "succeeded" and state.fine_tuned_model == "ft-test-1"
    assert state.error is None
    assert seen and all(s.status == "running" for s in seen)
    steps = [s.step for s in seen]
    assert steps == sorted(steps) and seen[-1].total_steps == state.total_steps
    assert state.loss_curve and state.loss_curve[-1]["step"] == state.total_steps
    m = state.metrics
    assert m["verdict"]["ok"] and m["verdict"]["kind"] == "adapter"
    assert m["exit_code"] == 0 and m["wall_s"] > 0
    assert m["backend"] == "local" and m["usd_per_hour"] == 0.0 and m["actual_cost_usd"] == 0.0
    assert m["hardware_hours"] == pytest.approx(m["wall_s"] / 3600, abs=1e-6)
    assert m["hf_model"] == f"hf/{prepared.project_dir}"
    call = json.loads(record.read_text())
    assert call["cwd"] == str(prepared.work_dir)
    assert call["argv"][1:] == ["--config", str(prepared.config_path)]
    assert call["env"]["HF_HUB_OFFLINE"] == "1" and call["env"]["ALLOW_REMOTE_CODE"] == "false"
    assert call["config"]["params"]["quantization"] is None
    run_dir = prepared.run_dir
    assert (run_dir / "autotrain.log").read_text() == (
        Path(__file__).parent / "data" / "real-success.log").read_text()
    meta = json.loads((run_dir / "metadata.json").read_text())   # hf/<job id> reads this
    assert meta["base_model"] == str(model_dir)
    assert meta["adapter_dir"] == "autotrain/ft-test-1" and meta["merged_dir"] is None
    assert json.loads((run_dir / "autotrain-run.json").read_text())["metrics"]["verdict"]["ok"]


@pytest.mark.parametrize("log", ["real-failed-exit0.log"])
def test_exit_0_without_weights_is_a_failure_with_the_last_error_line(
        tmp_path, model_dir, small_train, fake_autotrain, log):
    fake_autotrain("failed-exit0", log)
    prepared = _prepare(tmp_path, model_dir, small_train, fake_autotrain.script)
    state = runner.run(prepared, job_id="ft-test-1")
    assert state.status == "failed" and state.metrics["exit_code"] == 0
    assert not state.metrics["verdict"]["ok"] and state.metrics["verdict"]["launched"]
    from ftdecide_autotrain.logparse import LogProgress

    p = LogProgress()
    p.feed((Path(__file__).parent / "data" / log).read_text())
    p.close()
    assert "exited with code 0 but wrote no model" in state.error
    assert state.error.endswith(p.last_error())
    assert not (prepared.run_dir / "metadata.json").exists()


def test_refused_config_is_a_failure_with_the_traceback_line(tmp_path, model_dir, small_train,
                                                             fake_autotrain):
    fake_autotrain("refused", "real-refused.log")
    state = runner.run(_prepare(tmp_path, model_dir, small_train, fake_autotrain.script),
                       job_id="ft-test-1")
    assert state.status == "failed" and state.metrics["exit_code"] == 1
    assert state.error.endswith("ValidationError: 1 validation error for LLMTrainingParams: "
                                "epochs: Input should be a valid integer, unable to parse "
                                "string as an integer [type=int_parsing, input_value='many', "
                                "input_type=str]")


def test_environment_bin_is_first_on_path(tmp_path, model_dir, small_train, fake_autotrain,
                                          monkeypatch):
    """AutoTrain starts `accelerate` by name: the environment's bin folder must come first."""
    fake_autotrain("success")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    state = runner.run(_prepare(tmp_path, model_dir, small_train, fake_autotrain.script),
                       job_id="ft-test-1")
    assert state.status == "succeeded"


def test_a_missing_executable_is_a_provider_error(tmp_path, model_dir, small_train):
    prepared = _prepare(tmp_path, model_dir, small_train, tmp_path / "nowhere" / "autotrain")
    with pytest.raises(ftdecide.ProviderError, match="cannot start"):
        runner.run(prepared, job_id="x")


def test_ctrl_c_stops_autotrain_and_its_children(tmp_path, model_dir, small_train,
                                                 fake_autotrain):
    """SIGINT while AutoTrain runs: its process group is stopped and the interrupt propagates
    (the core then records the job as interrupted; `jobs resume` trains again)."""
    import os
    import signal
    import threading

    fake_autotrain("success", "real-success.log", delay=0.05)
    prepared = _prepare(tmp_path, model_dir, small_train, fake_autotrain.script)
    pids = []

    def interrupt():
        while not (prepared.run_dir / "autotrain.log").exists() or \
                "Starting to train" not in (prepared.run_dir / "autotrain.log").read_text():
            threading.Event().wait(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    original = runner.subprocess.Popen

    def popen(*args, **kwargs):
        proc = original(*args, **kwargs)
        pids.append(proc.pid)
        return proc

    runner.subprocess.Popen = popen
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(prepared, job_id="ft-test-1")
    finally:
        runner.subprocess.Popen = original
    assert pids
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[0], 0)                 # the whole group is gone
    assert not judge(prepared.project_dir).ok


def test_provider_resume_trains_again_from_the_start(tmp_path, model_dir, small_train,
                                                     fake_autotrain):
    from ftdecide_autotrain import AutoTrainProvider

    fake_autotrain("failed-exit0", "real-failed-exit0.log")
    request = ftdecide.TuneRequest(job_id="ft-resume-1", model=str(model_dir),
                                   train_path=str(small_train), run_dir=str(tmp_path / "run"))
    p = AutoTrainProvider()
    assert p.start(request).status == "failed"
    fake_autotrain("success", "real-success.log")
    state = p.resume(request)
    assert state.status == "succeeded"
    log = (tmp_path / "run" / "autotrain.log").read_text()
    assert log.count("Using AutoTrain configuration") == 2      # the log keeps both attempts
