"""`ftdecide tune --model hf/... -o KEY VALUE` through the real CLI on the tiny model: the options
reach the training as the old flags did, and bad keys or values exit 2 before anything trains."""

from __future__ import annotations

import json

import pytest

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry


@pytest.fixture
def hf_loaded(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    set_registry(Registry())


def tune(capsys, *args):
    try:
        main(["tune", *map(str, args)])
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_options_train_as_the_old_flags(hf_loaded, tiny_model_dir, tiny_train_file, capsys):
    common = [tiny_train_file, "--model", f"hf/{tiny_model_dir}", "--yes", "--json",
              "-o", "max_steps", "2", "-o", "save_steps", "1000"]
    code, out, err = tune(capsys, *common, "-o", "lora_r", "8", "-o", "processes", "1",
                          "-o", "lr", "0.001")
    assert code == 0, err
    new = json.loads(out)
    assert "deprecated" not in err
    code, out, err = tune(capsys, *common, "--lora-r", "8", "--processes", "1", "--lr", "0.001")
    assert code == 0, err
    old = json.loads(out)
    assert "--lora-r is deprecated" in err and "use -o lora_r 8" in err
    for job in (new, old):
        assert job["status"] == "succeeded"
        assert job["hyperparameters"]["lora_r"] == 8
        assert job["hyperparameters"]["learning_rate"] == pytest.approx(0.001)
        assert job["options"]["processes"] == 1 and job["options"]["max_steps"] == 2
    assert new["hyperparameters"] == old["hyperparameters"] and new["options"] == old["options"]


@pytest.mark.parametrize("args, fragment", [
    (["-o", "lora_rank", "8"], "hf has no fine-tuning option 'lora_rank'"),
    (["-o", "lora_r", "eight"], "hf option lora_r = 'eight': expected an integer"),
    (["-o", "processes", "0"], "hf option processes = '0': expected at least 1"),
    (["-o", "lora_layers", "middle"], "expected one of all, top_half or a whole number"),
])
def test_bad_options_exit_2_naming_the_accepted_keys(hf_loaded, tiny_model_dir, tiny_train_file,
                                                     capsys, args, fragment):
    code, out, err = tune(capsys, tiny_train_file, "--model", f"hf/{tiny_model_dir}", "--yes",
                          *args)
    assert code == 2, err
    assert fragment in err and "Traceback" not in err
    if "no fine-tuning option" in fragment:
        assert "hf accepts for fine-tuning: learning_rate, lora_r" in err


def test_identical_local_tunes_train_once(hf_loaded, tiny_model_dir, tiny_train_file, capsys):
    """The same data and settings: one training run on disk; the second tune reuses it,
    --retrain trains again."""
    from ftdecide.paths import runs_dir

    args = [tiny_train_file, "--model", f"hf/{tiny_model_dir}", "--yes", "--json",
            "-o", "max_steps", "2"]
    code, out, err = tune(capsys, *args)
    first = json.loads(out)
    assert code == 0 and first["reused"] is False
    code, out, err = tune(capsys, *args)
    second = json.loads(out)
    assert code == 0 and second["reused"] is True and second["job_id"] == first["job_id"]
    assert f"reusing {first['job_id']}" in err
    assert [p.name for p in runs_dir().iterdir()] == [first["job_id"]]
    code, out, err = tune(capsys, *args, "-o", "save_steps", "1000")  # no effect on the model
    assert code == 0 and json.loads(out)["reused"] is True
    code, out, err = tune(capsys, *args, "--retrain")
    assert code == 0 and json.loads(out)["reused"] is False
    assert len(list(runs_dir().iterdir())) == 2
