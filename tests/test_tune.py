"""The tune orchestration with a local provider that really writes checkpoints.

The trainer here counts steps into files instead of training a network (the
hf plugin's tests train real models); what is tested is the core's promise:
validate and estimate first, record the job before starting, keep an
interrupted job resumable from its checkpoint, never lose a finished result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import ftdecide
from ftdecide.cli.main import cli
from ftdecide.errors import DataError, NotTunableError
from ftdecide.examples import example_path
from ftdecide.plugins import Registry, set_registry
from ftdecide.pricing._catalog import load_catalog
from ftdecide.testing import FakeProvider
from ftdecide.tune import _jobs as tuning
from ftdecide.tune._store import Store

TRAIN = example_path("triage", "train")


class StepTrainer(FakeProvider):
    """Tunes `fake-tunable` by counting steps; stops after `stop_after` like Ctrl-C."""

    runs_locally = True
    total = 10

    def __init__(self):
        super().__init__()
        self.stop_after: int | None = None
        self.starts: list[int] = []

    def start(self, request, *, progress=None):
        return self._run(request, progress, first=0)

    def resume(self, request, *, progress=None):
        ckpt = json.loads((Path(request.run_dir) / "checkpoint.json").read_text())
        return self._run(request, progress, first=ckpt["step"])

    def _run(self, request, progress, first):
        self.starts.append(first)
        curve = []
        for step in range(first + 1, self.total + 1):
            curve.append({"step": step, "train_loss": 1.0 / step})
            state = ftdecide.JobState(status="running", step=step, total_steps=self.total,
                                      loss_curve=list(curve))
            if progress:
                progress(state)
            if self.stop_after is not None and step == self.stop_after:
                (Path(request.run_dir) / "checkpoint.json").write_text(json.dumps({"step": step}))
                return ftdecide.JobState(status="interrupted", step=step, total_steps=self.total,
                                         loss_curve=curve)
        return ftdecide.JobState(status="succeeded", fine_tuned_model=request.job_id,
                                 step=self.total, total_steps=self.total, loss_curve=curve,
                                 metrics={"wall_s": 1.5, "tokens_per_s": 100.0})


class TrainerPlugin:
    def __init__(self, provider):
        self.provider = provider

    @ftdecide.hookimpl
    def register_providers(self, register):
        register(self.provider)


@pytest.fixture
def trainer():
    provider = StepTrainer()
    reg = Registry(load_entry_points=False)
    reg.add_plugin(TrainerPlugin(provider), name="fake")
    set_registry(reg)
    return provider


def test_plan_validates_and_estimates_without_side_effects(trainer, tmp_path):
    p = tuning.plan(load_catalog(), "fake/fake-tunable", str(TRAIN))
    # 40 of the 400 examples are held out as the validation slice: the estimate is what trains
    assert p.estimate["examples"] == 360 and p.estimate["training_cost_usd"] > 0
    assert p.estimate["holdout"]["valid_examples"] == 40 and p.holdout is not None
    assert not (tmp_path / "user-data").exists()


def test_untunable_and_invalid_data_refused_before_anything(trainer, tmp_path):
    with pytest.raises(NotTunableError, match="cannot be fine-tuned"):
        tuning.plan(load_catalog(), "fake/fake-small", str(TRAIN))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n' * 20)
    with pytest.raises(DataError, match="missing_messages_list"):
        tuning.plan(load_catalog(), "fake/fake-tunable", str(bad))


def test_start_records_job_and_result(trainer):
    store = Store()
    seen = []
    record = tuning.start(tuning.plan(load_catalog(), "fake/fake-tunable", str(TRAIN)), store,
                          progress=seen.append)
    assert record.status == "succeeded" and record.fine_tuned_model == record.id
    assert len(seen) == 10
    run_dir = Path(record.run_dir)
    trained = (run_dir / "train.jsonl").read_text().splitlines()
    held = (run_dir / "validation.jsonl").read_text().splitlines()
    assert len(trained) == 360 and len(held) == 40
    originals = [json.dumps(json.loads(line)) for line in TRAIN.read_text().splitlines()]
    assert sorted(json.dumps(json.loads(x)) for x in trained + held) == sorted(originals)
    data = tuning.summary(store.get_job(record.id))
    assert data["model"] == f"fake/{record.id}" and data["wall_s"] == 1.5
    assert [r["step"] for r in data["loss_curve"]] == list(range(1, 11))


def test_interrupted_job_resumes_from_checkpoint(trainer):
    store = Store()
    trainer.stop_after = 4
    record = tuning.start(tuning.plan(load_catalog(), "fake/fake-tunable", str(TRAIN)), store)
    assert record.status == "interrupted" and record.result["step"] == 4
    trainer.stop_after = None
    record = tuning.resume(store, load_catalog(), record.id)
    assert record.status == "succeeded"
    assert trainer.starts == [0, 4]
    with pytest.raises(ftdecide.UsageError, match="already succeeded"):
        tuning.resume(store, load_catalog(), record.id)


def test_cli_tune_needs_yes_without_a_terminal(trainer, capsys, monkeypatch):
    from ftdecide.cli.main import main

    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(SystemExit) as info:
        main(["tune", str(TRAIN), "--model", "fake/fake-tunable"])
    assert info.value.code == 2 and "add --yes" in capsys.readouterr().err
    assert Store().jobs() == []  # nothing recorded, nothing started


def test_cli_tune_yes_json_and_jobs_commands(trainer):
    runner = CliRunner()
    result = runner.invoke(cli, ["tune", str(TRAIN), "--model", "fake/fake-tunable", "--yes",
                                 "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "succeeded" and out["model"] == f"fake/{out['job_id']}"
    assert out["estimate"]["examples"] == 360 and out["loss_curve"]
    listed = json.loads(runner.invoke(cli, ["jobs", "list", "--json"]).stdout)
    assert [j["job_id"] for j in listed] == [out["job_id"]]
    shown = runner.invoke(cli, ["jobs", "show", out["job_id"]])
    assert shown.exit_code == 0 and "succeeded" in shown.stdout and "tuned model" in shown.stdout


def test_cli_interrupted_exit_130_then_resume(trainer, capsys):
    from ftdecide.cli.main import main

    trainer.stop_after = 3
    with pytest.raises(SystemExit) as info:
        main(["tune", str(TRAIN), "--model", "fake/fake-tunable", "--yes", "--json"])
    out, err = capsys.readouterr()
    assert info.value.code == 130 and "ftdecide jobs resume" in err
    job_id = json.loads(out)["job_id"]
    trainer.stop_after = None
    main(["jobs", "resume", job_id, "--json"])
    out, _ = capsys.readouterr()
    assert json.loads(out)["status"] == "succeeded" and trainer.starts == [0, 3]


# -- remote jobs: state merging, costs, budget, hosting --------------------------------------

import datetime as dt  # noqa: E402


def remote_record(store, **estimate):
    return store.create_job(provider="fake", model="fake-tunable", train_path="/t",
                            train_sha256="ab", validation_path=None, run_dir="/r",
                            estimate={"training_cost_usd": 0.3,
                                      "price": {"training_per_1m": 3.0}, **estimate})


def test_record_state_keeps_what_a_poll_does_not_repeat(trainer):
    store = Store()
    record = remote_record(store)
    tuning.record_state(store, record.id, ftdecide.JobState(
        status="running", provider_job_id="ftjob-1", step=2, total_steps=4,
        loss_curve=[{"step": 1, "train_loss": 2.0}, {"step": 2, "train_loss": 1.5}]))
    rec = tuning.record_state(store, record.id, ftdecide.JobState(
        status="running", step=3, loss_curve=[{"step": 3, "train_loss": 1.2}]))
    assert rec.provider_job_id == "ftjob-1" and rec.result["total_steps"] == 4
    assert [r["step"] for r in rec.result["loss_curve"]] == [1, 2, 3]
    rec = tuning.record_state(store, record.id, ftdecide.JobState(
        status="succeeded", fine_tuned_model="ft:x", trained_tokens=100_000))
    assert rec.result["actual_cost_usd"] == pytest.approx(0.3)
    data = tuning.summary(rec)
    assert data["actual_cost_usd"] == pytest.approx(0.3) and data["total_cost_usd"] == \
        pytest.approx(0.3)
    assert data["metrics"]["loss_curve"] == data["loss_curve"]
    assert data["metrics"]["final_train_loss"] == 1.2


def test_hardware_priced_jobs_get_no_token_cost(trainer):
    store = Store()
    record = remote_record(store, hardware={"hardware": []})
    rec = tuning.record_state(store, record.id, ftdecide.JobState(status="succeeded",
                                                                  trained_tokens=10))
    assert "actual_cost_usd" not in rec.result


def test_check_budget(trainer):
    p = tuning.plan(load_catalog(), "fake/fake-tunable", str(TRAIN))
    cost = p.estimate["training_cost_usd"]
    tuning.check_budget(p, None)
    tuning.check_budget(p, cost)
    with pytest.raises(ftdecide.UsageError, match="above --max-cost"):
        tuning.check_budget(p, cost * 0.99)
    p.estimate["training_cost_usd"] = None
    with pytest.raises(ftdecide.UsageError, match="unknown"):
        tuning.check_budget(p, 100)


def test_hardware_estimate_gets_the_options_and_its_warnings_are_shown(trainer, monkeypatch):
    """A provider whose estimate_training takes ``options`` gets the run options (max_steps, a
    time budget); its ``warnings`` join the plan's, shown before anything starts. One written
    before the parameter existed is still called, without it."""
    seen = {}

    def with_options(model, *, stats, hyperparameters, options=None):
        seen["options"] = options
        return {"hardware": [], "warnings": ["the schedule needs 3 h, over the time_budget"]}

    monkeypatch.setattr(trainer, "estimate_training", with_options)
    monkeypatch.setattr(trainer, "options", (ftdecide.Option("max_steps", int, minimum=1),))
    p = tuning.plan(load_catalog(), "fake/fake-tunable", str(TRAIN), options=[("max_steps", "12")])
    assert seen["options"] == {"max_steps": 12}
    assert p.warnings[-1] == "the schedule needs 3 h, over the time_budget"

    def old_style(model, *, stats, hyperparameters):
        seen["old"] = hyperparameters
        return {"hardware": []}

    monkeypatch.setattr(trainer, "estimate_training", old_style)
    p = tuning.plan(load_catalog(), "fake/fake-tunable", str(TRAIN), hyperparameters={"epochs": 2})
    assert seen["old"] == {"epochs": 2} and p.estimate["hardware"] == {"hardware": []}


def test_a_tune_inside_compare_shows_the_plan_warnings_before_it_starts(trainer):
    """compare's fine-tune shows what `tune` shows before anything starts: the estimate, then
    the warnings (here the held-out slice; for hf also a time-budget trade)."""
    from types import SimpleNamespace

    from ftdecide.tune._trainer import TrainerView, make_trainer

    shown: list[str] = []
    view = TrainerView(notice=shown.append, show_estimate=lambda e: shown.append("estimate"))
    train = make_trainer(load_catalog(), yes=True, view=view)
    config = SimpleNamespace(tune={"model": "fake/fake-tunable"}, model="fake/fake-tunable",
                             train=str(TRAIN), max_cost_usd=None)
    summary = train(config, {"state": {}, "save": lambda **kw: None})
    assert summary["status"] == "succeeded"
    assert shown[0] == "estimate" and shown[1].startswith("Warning: held out 40 of 400")


def period(hours_ago, *, ended_hours_ago=None, tier="global", rate=1.7):
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc)
    ended = None if ended_hours_ago is None else \
        (now - dt.timedelta(hours=ended_hours_ago)).isoformat()
    return now, {"name": "d", "tier": tier, "hosting_per_hour": rate, "details": {},
                 "deployed_at": (now - dt.timedelta(hours=hours_ago)).isoformat(),
                 "undeployed_at": ended}


def test_hosting_accrues_per_hour_while_deployed():
    now, live = period(3)
    _, done = period(10, ended_hours_ago=8)
    rows, total = tuning.hosting([live, done], now)
    assert [r["hours"] for r in rows] == pytest.approx([3.0, 2.0])
    assert total == pytest.approx(5 * 1.7) and rows[0]["live"] and not rows[1]["live"]
    _, developer = period(30, tier="developer", rate=0.0)
    [row], total = tuning.hosting([developer], now)
    assert row["hours"] == pytest.approx(24.0) and not row["live"] and total == 0.0
    _, unknown = period(1, rate=None)
    assert tuning.hosting([unknown], now)[1] is None


def test_the_request_carries_the_upload_log_outside_its_json_fields(trainer):
    import dataclasses

    store = Store()
    request = ftdecide.TuneRequest(job_id="j", model="m", train_path="t", run_dir="r",
                                   upload_log=store)
    assert request.uploads is store
    fields = {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}
    assert json.loads(json.dumps(fields))["job_id"] == "j"  # plugins may write it as JSON
    assert ftdecide.TuneRequest(**fields).uploads is None


def test_jobs_commands_on_a_local_job(trainer, capsys):
    from ftdecide.cli.main import main

    def run(*args):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    trainer.stop_after = 3
    code, out, _ = run("tune", str(TRAIN), "--model", "fake/fake-tunable", "--yes", "--json")
    job_id = json.loads(out)["job_id"]
    code, out, _ = run("jobs", "events", job_id, "--json")
    assert [e["data"]["step"] for e in json.loads(out)] == [1, 2, 3]
    code, _, err = run("jobs", "wait", job_id)
    assert code == 2 and f"ftdecide jobs resume {job_id}" in err  # nothing is training it
    code, _, err = run("jobs", "deploy", job_id)
    assert code == 2 and "without a deployment" in err
    code, out, _ = run("jobs", "cancel", job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "cancelled"
    code, out, _ = run("jobs", "wait", job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "cancelled"
