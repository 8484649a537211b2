"""The one schedule (epochs, steps floor, learning rate from the model's size), the time budget
and its trade, and validation loss at step 0 — the arithmetic, and the tiny model through the
real worker and CLI (the real SmolLM2 runs are in test_schedule_real.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny
from test_options_cli import hf_loaded, tune  # noqa: F401  (fixture and helper)
from test_training import _base, _request, _write_jsonl

from ftdecide import UsageError
from ftdecide.pricing._costs import default_epochs
from ftdecide.tune._learned import learned
from ftdecide_hf_trl import hardware, provider, schedule, training

SMOL = 134_515_008


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for the tiny model (see test_training.one_thread)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- the rule ----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 10, 24, 33, 34, 40, 48, 100, 400, 8333, 8334, 10_000,
                               30_000])
def test_epochs_are_the_cookbook_rule_of_the_core(n):
    assert schedule.cookbook_epochs(n) == default_epochs(n)


@pytest.mark.parametrize("n, steps, epochs, seen, source", [
    (40, 30, 6, 240, "floor"),       # the one-word task after its hold-out: 3 epochs = 15 steps < 30
    (48, 30, 5, 240, "floor"),
    (10, 30, 15, 150, "floor"),      # cookbook 10 epochs = 20 steps, raised to the floor
    (3, 25, 25, 75, "data"),         # 1 step an epoch: the floor stops at the cookbook's 25 epochs
    (80, 30, 3, 240, "data"),        # 10 steps an epoch × 3 epochs reaches the floor
    (400, 150, 3, 1200, "data"),
    (360, 135, 3, 1080, "data"),     # the triage set less its hold-out
    (20_000, 2500, 1, 20_000, "data"),
])
def test_schedule_from_the_number_of_examples(n, steps, epochs, seen, source):
    plan = schedule.plan(n)
    assert (plan["steps"], plan["epochs"], plan["examples_seen"], plan["source"]) == \
        (steps, epochs, seen, source)
    assert plan["batch_size"] == 8 and plan["steps_per_epoch"] == -(-n // 8)


def test_user_settings_replace_the_rule_and_add_no_floor():
    one = schedule.plan(40, epochs=1)
    assert (one["steps"], one["examples_seen"], one["source"]) == (5, 40, "epochs")
    capped = schedule.plan(40, max_steps=1)
    assert (capped["steps"], capped["examples_seen"], capped["source"]) == (1, 8, "max_steps")
    assert schedule.plan(40, max_steps=12)["examples_seen"] == 80 + 16   # 2 epochs, 2 batches
    big = schedule.plan(40, batch_size=16)          # 3 steps an epoch: floor 30 = 10 epochs
    assert (big["steps"], big["epochs"], big["examples_seen"]) == (30, 10, 400)
    accum = schedule.plan(400, gradient_accumulation_steps=2)
    assert accum["steps_per_epoch"] == 25 and accum["steps"] == 75
    assert schedule.plan(40, epochs=2.5)["steps"] == 13


def test_learning_rate_from_the_model_size():
    assert schedule.learning_rate_for(SMOL) == 1e-3
    assert schedule.learning_rate_for(7_000_000_000) == 2e-4
    sizes = [10**6, SMOL, 360 * 10**6, 1_700_000_000, 7 * 10**9, 70 * 10**9, 10**12]
    rates = [schedule.learning_rate_for(p) for p in sizes]
    assert rates == sorted(rates, reverse=True)
    assert rates[0] == schedule.LR_MAX and rates[-1] == schedule.LR_MIN
    assert 5e-4 < schedule.learning_rate_for(360 * 10**6) < 1e-3
    assert 7e-5 < schedule.learning_rate_for(65 * 10**9) < 1.2e-4     # QLoRA's 65B: 1e-4
    assert schedule.learning_rate_for(None) == 2e-4


@pytest.mark.parametrize("text, seconds", [("600", 600), (600, 600), (90.5, 90.5), ("90s", 90),
                                           ("10m", 600), ("10 min", 600), ("2h", 7200),
                                           ("1h30m", 5400), ("1.5h", 5400), (" 45 ", 45)])
def test_parse_duration(text, seconds):
    assert schedule.parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "0", "0s", -5, True, "10 parsecs", "m"])
def test_parse_duration_refuses(bad):
    with pytest.raises(ValueError):
        schedule.parse_duration(bad)


# -- the time budget ---------------------------------------------------------------------

def _fit(budget: float, *, given: bool = False) -> dict:
    # 30 steps of 500 tokens at 100 tokens/s: 150 s
    return schedule.fit_time_budget(schedule.plan(40), budget_s=budget, tokens_per_step=500,
                                    tokens_per_s=100, lora_layers="all", lora_layers_given=given,
                                    hardware="cpu_local")


def test_time_budget_trades_layers_then_steps_and_says_so():
    fits = _fit(150)
    assert fits["fits"] and fits["trade"] == {} and fits["message"] is None
    layers = _fit(120)                              # 150 s / 1.44 = 104 s: fewer layers suffice
    assert not layers["fits"] and layers["trade"] == {"lora_layers": "top_half"}
    assert layers["steps_after"] == 30 and layers["estimated_s_after"] == pytest.approx(150 / 1.44)
    assert "top half" in layers["message"] and "time_budget of 2.0 min" in layers["message"]
    both = _fit(60)                                 # 60 s at 144 tokens/s: 17 steps of 500 tokens
    assert both["trade"] == {"lora_layers": "top_half", "max_steps": 17}
    assert both["estimated_s_after"] <= 60
    assert "17 optimizer steps instead of 30" in both["message"] and "underfit" in both["message"]
    steps_only = _fit(60, given=True)               # the user chose the layers: only steps go
    assert steps_only["trade"] == {"max_steps": 12}
    assert _fit(0.001)["trade"]["max_steps"] == 1   # never zero steps


def test_estimate_announces_the_trade_only_with_a_budget():
    stats = {"records": 48, "tokens_total": 48 * 60}
    none = hardware.estimate_training(parameters=SMOL, stats=stats, hyperparameters={})
    assert "time_budget" not in none and none["warnings"] == []
    est = hardware.estimate_training(parameters=SMOL, stats=stats, hyperparameters={},
                                     options={"time_budget": "20s", "device": "cpu"})
    fit = est["time_budget"]
    assert fit["hardware"] == "cpu_local" and fit["budget_s"] == 20 and not fit["fits"]
    assert fit["trade"]["lora_layers"] == "top_half" and fit["trade"]["max_steps"] < 30
    assert est["warnings"] == [fit["message"]] and "over the time_budget of 20 s" in fit["message"]
    # the rows still price the schedule itself: the trade is announced, not hidden in them
    assert est["cpu_local"]["steps"] == 30
    roomy = hardware.estimate_training(parameters=SMOL, stats=stats, hyperparameters={},
                                       options={"time_budget": "2h", "device": "cpu"})
    assert roomy["time_budget"]["fits"] and roomy["warnings"] == []


def test_check_tune_options_refuses_a_bad_budget_and_warns_below_the_floor():
    hf = provider.HFProvider()
    assert hf.check_tune_options("smollm2-135m", hyperparameters={}, options={}) == []
    with pytest.raises(UsageError, match="time_budget"):
        hf.check_tune_options("smollm2-135m", hyperparameters={}, options={"time_budget": "soon"})
    warned = hf.check_tune_options("smollm2-135m", hyperparameters={}, options={"max_steps": 1})
    assert len(warned) == 1 and "underfit" in warned[0]


# -- the worker on the tiny model --------------------------------------------------------

def _valid_file(root: Path) -> Path:
    return _write_jsonl(root / "valid.jsonl", tiny.examples()[::4])


def test_validation_at_step_0_survives_interrupt_and_resume(tiny_model_dir, tiny_train_file, tmp_path):
    run = tmp_path / "run"
    req = _request(run, tiny_train_file, validation=_valid_file(tmp_path), max_steps=20,
                   save_steps=1000, stop_after_steps=7)
    state = training.train(req, base=_base(tiny_model_dir))
    assert state.status == "interrupted", state.error
    rows = json.loads((run / "loss_curve.json").read_text())
    assert rows[0]["step"] == 0 and "valid_loss" in rows[0] and "train_loss" not in rows[0]
    assert [r["step"] for r in rows if "valid_loss" in r] == [0, 5]
    state = training.train(req, base=_base(tiny_model_dir), resume=True)
    assert state.status == "succeeded", state.error
    valid = [(r["step"], r["valid_loss"]) for r in state.loss_curve if "valid_loss" in r]
    # measured before any update (once: the resume does not measure its start again), every
    # ceil(20 / 4) = 5 steps, and at the last step
    assert [s for s, _ in valid] == [0, 5, 10, 15, 20]
    assert valid[0][1] == rows[0]["valid_loss"]
    assert valid[-1][1] < valid[0][1]
    verdict = learned(state.loss_curve)
    assert verdict["valid_loss_start"] == valid[0][1] and verdict["verdict"] == "learned"


def test_the_run_records_its_schedule(tiny_model_dir, tiny_train_file, tmp_path):
    """No epochs or steps given: the schedule comes from the 54 examples (the tiny model's
    learning rate is given here; from its 168 k parameters it would get the 2e-3 ceiling)."""
    run = tmp_path / "run"
    state = training.train(_request(run, tiny_train_file, save_steps=1000), base=_base(tiny_model_dir))
    assert state.status == "succeeded", state.error
    # 54 examples at batch 16: 4 steps an epoch; the cookbook's 3 epochs = 12 steps, floor 30
    assert len(tiny.examples()) == 54
    assert state.total_steps == 30 and state.hyperparameters["epochs"] == 7.5
    meta = json.loads((run / "metadata.json").read_text())
    plan = meta["schedule"]
    assert (plan["steps"], plan["source"], plan["examples_seen"], plan["max_steps"]) == \
        (30, "floor", 7 * 54 + 2 * 16, 30)
    assert plan["learning_rate_source"] == "given" and meta["time_budget"] is None
    saved = json.loads((run / "hyperparameters.json").read_text())
    assert saved["schedule"]["max_steps"] == 30     # what a resume trains to
    rate = training.train(_request(tmp_path / "rate", tiny_train_file, hyperparameters={"batch_size": 16},
                                   max_steps=1, save_steps=1000), base=_base(tiny_model_dir))
    assert rate.hyperparameters["learning_rate"] == schedule.LR_MAX     # from the size: the ceiling


def test_a_time_budget_trade_is_made_before_training_and_recorded(tiny_model_dir, tiny_train_file,
                                                                 tmp_path, capfd):
    # The tiny model at this machine's CPU row; a budget of a fifth of the schedule's time.
    from ftdecide_hf_trl import worker

    run = tmp_path / "run"
    trainer = worker.build_trainer(_request(run, tiny_train_file, max_steps=200), _base(tiny_model_dir))
    params = sum(p.numel() for n, p in trainer.model.named_parameters() if "lora_" not in n)
    tps, _ = hardware.machine_throughput("cpu: 2 cores", parameters=params)
    mean = sum(len(i) for i in trainer.train_dataset["input_ids"]) / len(trainer.train_dataset)
    seconds = 200 * 16 * mean / tps
    req = _request(run, tiny_train_file, max_steps=200, save_steps=1000, time_budget=f"{seconds / 5}s")
    state = training.train(req, base=_base(tiny_model_dir))
    assert state.status == "succeeded", state.error
    err = capfd.readouterr().err
    assert "Warning: the schedule (200 steps" in err and "trading LoRA on the top half" in err
    fit = state.metrics["time_budget"]
    # 200 steps / 5 × 1.44 (the top half trains faster) ≈ 57 steps, give or take the token count
    assert fit["trade"]["lora_layers"] == "top_half" and 50 <= fit["trade"]["max_steps"] <= 65
    assert state.total_steps == state.step == fit["trade"]["max_steps"]
    assert state.hyperparameters["lora_layers"] == "top_half"
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["time_budget"] == fit and meta["schedule"]["source"] == "time_budget"
    assert meta["hyperparameters"]["lora_layers"] == "top_half"


def test_under_torchrun_the_launcher_says_what_rank_0_traded(tiny_model_dir, tiny_train_file,
                                                             tmp_path, capfd):
    """Rank 0's output goes to train.log; its time-budget warning reaches the user's terminal
    through progress.jsonl, before the first step's progress."""
    req = _request(tmp_path / "run", tiny_train_file, max_steps=20, save_steps=1000, processes=2,
                   time_budget="0.001s")
    state = training.train(req, base=_base(tiny_model_dir))
    assert state.status == "succeeded", state.error
    err = capfd.readouterr().err
    assert "Warning: the schedule (20 steps" in err and "1 optimizer step instead of 20" in err
    assert state.total_steps == 1 and state.metrics["time_budget"]["trade"]["max_steps"] == 1


def test_cli_warns_before_starting_and_the_job_keeps_the_trade(hf_loaded, tiny_model_dir,  # noqa: F811
                                                             tiny_train_file, capsys):
    code, out, err = tune(capsys, tiny_train_file, "--model", f"hf/{tiny_model_dir}", "--yes", "--json",
                          "-o", "processes", "1", "-o", "time_budget", "0.001s", "-o", "lr", "5e-3",
                          "--batch-size", "16", "-o", "save_steps", "1000")
    assert code == 0, err
    job = json.loads(out)
    assert "Warning: the schedule (" in err and "over the time_budget of 0 s" in err
    assert job["estimate"]["hardware"]["time_budget"]["trade"]["max_steps"] == 1
    assert job["metrics"]["time_budget"]["trade"]["max_steps"] == 1 and job["total_steps"] == 1
    plan = job["estimate"]["hardware"]["schedule"]
    rows = job["estimate"]["hardware"]["hardware"] + [job["estimate"]["hardware"]["cpu_local"]]
    assert {(r["steps"], r["examples_seen"]) for r in rows} == {(plan["steps"], plan["examples_seen"])}


def test_estimate_table_shows_the_schedule(hf_loaded, tiny_model_dir, tiny_train_file, capsys):  # noqa: F811
    from ftdecide.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["tune", str(tiny_train_file), "--model", f"hf/{tiny_model_dir}"])
    assert exc.value.code == 2                       # no --yes and no terminal: nothing starts
    err = capsys.readouterr().err
    assert "steps" in err and "examples seen" in err
    assert "schedule (the same on every row)" in err and "held out" in err
