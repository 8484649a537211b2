"""Reading AutoTrain's log: step and loss as they are written, and the last error line.

The logs in ``tests/data`` are AutoTrain 0.8.36's real output, recorded from
``autotrain --config`` runs on a CPU (``test_autotrain_real.py`` writes them
with ``FTDECIDE_AUTOTRAIN_KEEP_LOG``; only the temporary paths were shortened):
``real-success.log`` a finished run (the Trainer's tqdm bar and the loss lines
of ``LossLoggingCallback`` share lines), ``real-failed-exit0.log`` a run whose
model failed to load (``monitor`` logged the exception, exit 0),
``real-refused.log`` a config AutoTrain refused (a traceback, exit 1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide_autotrain.logparse import LogProgress, parse_dict, parse_line, parse_tqdm

DATA = Path(__file__).parent / "data"


def _feed_in_chunks(text: str, size: int) -> LogProgress:
    p = LogProgress()
    for i in range(0, len(text), size):
        p.feed(text[i:i + size])
    p.close()
    return p


def test_one_loguru_line():
    line = parse_line("INFO     | 2026-11-28 10:31:03 | autotrain.trainers.common:on_log:367 - "
                      "{'loss': 5.9912, 'grad_norm': 1.1, 'learning_rate': 0.00015, 'epoch': 0.25}")
    assert line is not None and line.level == "INFO"
    assert line.where == "autotrain.trainers.common:on_log:367"
    assert parse_dict(line.message) == {"loss": 5.9912, "grad_norm": 1.1,
                                        "learning_rate": 0.00015, "epoch": 0.25}
    colored = "\x1b[1mERROR   \x1b[0m | 2026-11-28 10:31:03 | a.b:c:1 - \x1b[1mboom\x1b[0m"
    assert parse_line(colored).message == "boom"
    assert parse_line("  File \"x.py\", line 3, in f") is None


def test_trainer_bar_is_told_from_dataset_bars():
    assert parse_tqdm(" 40%|████      | 4/10 [00:02<00:03,  1.93it/s]") == (4, 10)
    assert parse_tqdm("  0%|          | 0/10 [00:00<?, ?it/s]") == (0, 10)
    assert parse_tqdm(" 10%|█         | 1/10 [00:03<00:27,  3.01s/it]") == (1, 10)
    assert parse_tqdm("Map: 100%|██████████| 400/400 [00:00<00:00, 4012.32 examples/s]") is None
    assert parse_tqdm("Saving the dataset (1/1 shards): 100%|██| 400/400 [00:00<00:00, "
                      "9.1 examples/s]") is None


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*success*.log")))
def test_successful_run_gives_steps_and_losses(name):
    text = (DATA / name).read_text(encoding="utf-8")
    p = _feed_in_chunks(text, 4096)
    assert p.started_training
    assert p.rows and p.total_steps and p.step == p.total_steps
    steps = [r["step"] for r in p.rows]
    assert steps == sorted(steps) and steps[-1] == p.total_steps
    assert all(r["train_loss"] > 0 for r in p.rows)
    assert p.summary.get("train_runtime") and p.summary.get("train_loss")
    assert p.errors == [] and p.last_error() is None


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*success*.log")))
@pytest.mark.parametrize("size", [1, 7, 100])
def test_chunking_does_not_change_the_result(name, size):
    text = (DATA / name).read_text(encoding="utf-8")
    whole = _feed_in_chunks(text, len(text) + 1)
    parts = _feed_in_chunks(text, size)
    assert (parts.rows, parts.step, parts.total_steps, parts.summary) == \
        (whole.rows, whole.step, whole.total_steps, whole.summary)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*failed-exit0*.log")))
def test_failure_logged_by_monitor_gives_its_last_error_line(name):
    p = _feed_in_chunks((DATA / name).read_text(encoding="utf-8"), 512)
    assert p.errors
    error = p.last_error()
    assert error and "Traceback" not in error and "has failed due to an exception" not in error
    assert error == p.errors[-1].splitlines()[0]


def test_real_success_log_in_detail():
    p = _feed_in_chunks((DATA / "real-success.log").read_text(encoding="utf-8"), 4096)
    assert len(p.rows) == p.total_steps == 37 and p.logging_steps == 1
    assert p.rows[0] == {"step": 1, "epoch": 0.02702702702702703, "train_loss": 8.5801,
                         "learning_rate": 0.00125}
    assert p.rows[-1]["step"] == 37 and p.rows[-1]["epoch"] == 1.0
    assert p.summary["train_steps_per_second"] > 0


def test_real_failure_gives_autotrains_own_message():
    p = _feed_in_chunks((DATA / "real-failed-exit0.log").read_text(encoding="utf-8"), 300)
    assert p.last_error() == "Error while deserializing header: invalid header length"
    assert p.last_exception.startswith("safetensors._safetensors_rust.SafetensorError")


def test_refused_config_gives_the_traceback_line():
    p = _feed_in_chunks((DATA / "real-refused.log").read_text(encoding="utf-8"), 64)
    assert p.errors == []
    assert p.last_error() == (
        "pydantic_core._pydantic_core.ValidationError: 1 validation error for "
        "LLMTrainingParams: epochs: Input should be a valid integer, unable to parse string as "
        "an integer [type=int_parsing, input_value='many', input_type=str]")


def test_logging_steps_scale_the_step_numbers():
    p = LogProgress()
    p.feed("INFO     | 2026-11-28 10:31:01 | autotrain.trainers.clm.utils:"
           "configure_logging_steps:684 - Logging steps: 5\n")
    for loss in (3.0, 2.0):
        p.feed("INFO     | 2026-11-28 10:31:03 | autotrain.trainers.common:on_log:367 - "
               f"{{'loss': {loss}, 'grad_norm': 1.0, 'learning_rate': 0.1, 'epoch': 0.5}}\n")
    assert [r["step"] for r in p.rows] == [5, 10]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_any_output_is_parsed_without_raising(text):
    p = LogProgress()
    p.feed(text)
    p.close()
    p.last_error()
