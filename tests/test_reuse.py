"""A fine-tune is paid once: the same data and settings reuse the finished job, across
compare runs and `ftdecide tune`, counted on the local OpenAI-compatible server (real SDK)."""

from __future__ import annotations

import json

import pytest
import yaml

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer

BASE = "gpt-4.1-mini-2025-04-14"
JOBS = "/v1/fine_tuning/jobs"


def _example(i: int) -> dict:
    cat = ("billing", "account", "technical")[i % 3]
    return {"messages": [
        {"role": "system", "content": "Classify the ticket as JSON."},
        {"role": "user", "content": f"ticket {i} about {cat}"},
        {"role": "assistant", "content": json.dumps({"category": cat})}]}


@pytest.fixture
def server(monkeypatch, tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(40)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(100, 112)))
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0.01")
    monkeypatch.chdir(tmp_path)
    with OpenAICompatibleServer(models=(BASE,)) as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-reuse")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        set_registry(Registry())
        yield s


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def compare(capsys, *extra, **config) -> dict:
    values = {"train": "train.jsonl", "eval": "eval.jsonl", "model": f"openai/{BASE}",
              "arms": ["fewshot", "finetuned"], "metric": "json-fields", "shots": 2,
              "out": "reports", "tune": {"epochs": 2}, **config}
    with open("compare.yaml", "w") as f:
        yaml.safe_dump(values, f)
    code, out, err = run(capsys, "compare", "-c", "compare.yaml", "--yes", "--json", *extra)
    assert code == 0, err
    return {"result": json.loads(out), "err": err}


def jobs_created(server) -> int:
    return len(server.calls("POST", JOBS))


def test_the_same_tune_is_paid_once_across_compare_runs(server, capsys):
    first = compare(capsys)["result"]
    assert jobs_created(server) == 1 and first["training"]["reused"] is False
    second = compare(capsys)
    assert jobs_created(server) == 1, "the same config trained again"
    training = second["result"]["training"]
    assert training["reused"] is True and training["job_id"] == first["training"]["job_id"]
    assert f"reusing {training['job_id']}" in second["err"] and "--retrain" in second["err"]
    # the economics still count the training (once); the run paid nothing for it
    assert training["actual_cost_usd"] == pytest.approx(first["training"]["actual_cost_usd"])
    # what does not change the model reuses it too
    compare(capsys, shots=3)
    compare(capsys, eval_limit=6)
    compare(capsys, arms=["zeroshot", "finetuned"], baseline="zeroshot")
    assert jobs_created(server) == 1
    # a hyperparameter or the data changes the model: exactly one more each
    compare(capsys, tune={"epochs": 3})
    assert jobs_created(server) == 2
    with open("train.jsonl", "a") as f:
        f.write(json.dumps(_example(41)) + "\n")
    compare(capsys)
    assert jobs_created(server) == 3
    compare(capsys, "--retrain")
    assert jobs_created(server) == 4


def test_dry_run_says_reuse_or_new_and_the_budget_counts_only_new(server, capsys):
    with open("compare.yaml", "w") as f:
        yaml.safe_dump({"train": "train.jsonl", "eval": "eval.jsonl", "model": f"openai/{BASE}",
                        "arms": ["fewshot", "finetuned"], "metric": "json-fields", "shots": 2,
                        "out": "reports", "tune": {"epochs": 2}}, f)
    code, out, err = run(capsys, "compare", "-c", "compare.yaml", "--dry-run", "--json")
    plan = json.loads(out)
    assert plan["tune"]["action"] == "new" and plan["tune"]["new_cost_usd"] > 0
    new_cost = plan["tune"]["new_cost_usd"]
    compare(capsys)
    code, out, err = run(capsys, "compare", "-c", "compare.yaml", "--dry-run", "--json")
    plan = json.loads(out)
    assert plan["tune"]["action"] == "reuse" and plan["tune"]["new_cost_usd"] == 0
    assert plan["arms"]["finetuned"]["model"].startswith("openai/ft:")  # planned and priced
    # a budget below the tune's cost but above the calls: fine now, the tune is paid
    code, out, err = run(capsys, "compare", "-c", "compare.yaml", "--dry-run",
                         "--max-cost", f"{new_cost / 2:.6f}")
    assert code == 0, err
    assert "no new fine-tune: reusing" in out
    code, out, err = run(capsys, "compare", "-c", "compare.yaml", "--dry-run", "--retrain",
                         "--max-cost", f"{new_cost / 2:.6f}")
    assert code == 2 and "above --max-cost" in err


def test_tune_reuses_a_finished_job_unless_retrain(server, capsys):
    args = ["tune", "train.jsonl", "--model", f"openai/{BASE}", "--epochs", "2", "--yes", "--json"]
    code, out, err = run(capsys, *args)
    first = json.loads(out)
    assert code == 0 and first["reused"] is False and jobs_created(server) == 1
    code, out, err = run(capsys, *args)
    again = json.loads(out)
    assert code == 0 and again["reused"] is True and again["job_id"] == first["job_id"]
    assert again["tune_key"] == first["tune_key"] and jobs_created(server) == 1
    assert f"reusing {first['job_id']}" in err
    # the default epochs resolved: --epochs given or not, the same tune when equal
    code, out, err = run(capsys, *args, "--retrain")
    assert code == 0 and json.loads(out)["reused"] is False and jobs_created(server) == 2
    code, out, err = run(capsys, "jobs", "list")
    assert first["tune_key"][:8] in out and out.count(first["tune_key"][:8]) == 2


def test_a_deleted_model_is_not_reused(server, capsys):
    args = ["tune", "train.jsonl", "--model", f"openai/{BASE}", "--yes", "--json"]
    first = json.loads(run(capsys, *args)[1])
    server.deleted_models.add(first["fine_tuned_model"])
    code, out, err = run(capsys, *args)
    assert code == 0 and json.loads(out)["reused"] is False and jobs_created(server) == 2


def test_a_job_still_running_is_followed_not_started_twice(server, capsys):
    args = ["tune", "train.jsonl", "--model", f"openai/{BASE}", "--yes", "--json"]
    server.hold_jobs = True
    code, out, err = run(capsys, *args, "--no-wait")
    assert code == 0 and jobs_created(server) == 1
    server.hold_jobs = False
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "following" in err and json.loads(out)["status"] == "succeeded"
    assert jobs_created(server) == 1
