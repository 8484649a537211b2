"""``compare`` end to end: the real openai SDK over HTTP to the local server, a real run store.

The server answers from a known rule, so quality and cost figures are
asserted exactly: the few-shot prompt (more than one user turn) and a
fine-tuned ``ft:`` model always get the right JSON, the zero-shot prompt only
for even ticket numbers, and the third-party ``fake`` provider (the tuned
model of most tests here) always.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.data._tokens import count_texts
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import FakePlugin, FakeProvider, OpenAICompatibleServer

BASE = "gpt-4o-mini-2024-07-18"
PRICE_IN, PRICE_OUT = 0.15, 0.60  # reference/providers.md §3, per 1M tokens
CATS = ("billing", "account", "technical")
N_EVAL = 12


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [
        {"role": "system", "content": "Classify the ticket as JSON."},
        {"role": "user", "content": f"ticket {i} about {cat}"},
        {"role": "assistant", "content": json.dumps({"category": cat})}]}


def _answer(messages) -> tuple[str, str]:
    users = [m["content"] for m in messages if m["role"] == "user"]
    m = re.search(r"ticket (\d+) about (\w+)", users[-1])
    return m.group(1), m.group(2)


def server_rule(request: dict) -> str:
    number, cat = _answer(request["messages"])
    users = [m for m in request["messages"] if m["role"] == "user"]
    if len(users) > 1 or int(number) % 2 == 0 or request["model"].startswith("ft:"):
        return json.dumps({"category": cat})
    return f"probably {cat}"


def fake_rule(messages, model) -> str:
    return json.dumps({"category": _answer(messages)[1]})


@pytest.fixture
def task(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(_example(i)) + "\n" for i in range(20)))
    ev = tmp_path / "eval.jsonl"
    ev.write_text("".join(json.dumps(_example(i)) + "\n" for i in range(100, 100 + N_EVAL)))
    return tmp_path


@pytest.fixture
def server():
    with OpenAICompatibleServer(responder=server_rule) as s:
        yield s


@pytest.fixture
def fake():
    return FakeProvider(responder=fake_rule)


@pytest.fixture
def env(server, fake, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-compare")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    registry = Registry()
    registry.add_plugin(FakePlugin(fake, name="third-party"))
    set_registry(registry)
    return registry


def compare(task, *extra, expect=0):
    args = ["compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
            "--model", f"openai/{BASE}", "--tuned", "fake/fake-tunable",
            "--metric", "json-fields", "--out", str(task / "reports"), "--shots", "2", *extra]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def chat_posts(server):
    return server.calls("POST", "/v1/chat/completions")


def test_full_run_has_exact_quality_and_cost(task, server, fake, env):
    result = compare(task, "--json")
    data = json.loads(result.stdout)
    arms = data["arms"]
    assert list(arms) == ["zeroshot", "fewshot", "rag", "finetuned", "finetuned-rag"]
    assert data["baseline"] == "fewshot"
    # zero-shot: right only for even ticket numbers (half of 100..111)
    assert arms["zeroshot"]["quality"]["mean"] == pytest.approx(0.5)
    assert arms["fewshot"]["quality"]["mean"] == 1.0
    assert arms["finetuned"]["quality"]["mean"] == 1.0
    assert arms["zeroshot"]["quality"]["n"] == N_EVAL
    vs = arms["zeroshot"]["vs_baseline"]
    assert vs["diff"] == pytest.approx(-0.5)
    assert vs["ci_high"] < 0 < vs["p_value"] < 0.05
    assert arms["finetuned"]["vs_baseline"]["diff"] == 0
    assert arms["finetuned"]["vs_baseline"]["p_value"] == 1
    # cost: the tokens the server reported, at the catalog's prices
    posts = chat_posts(server)
    assert len(posts) == 3 * N_EVAL  # zeroshot, fewshot, rag on openai; the tuned arms on fake
    zs = [p for p in posts if sum(m["role"] == "user" for m in p.json["messages"]) == 1
          and "Context:" not in p.json["messages"][-1]["content"]]
    expected_cost = 0.0
    for p in zs:
        answer = server_rule(p.json)
        from ftdecide.data._tokens import count_messages

        expected_cost += (count_messages(p.json["messages"]) * PRICE_IN
                          + count_texts([answer])[0] * PRICE_OUT) / 1e6
    assert arms["zeroshot"]["cost_per_1k_usd"] == pytest.approx(expected_cost / N_EVAL * 1000)
    assert arms["fewshot"]["tokens"]["input_mean"] > arms["zeroshot"]["tokens"]["input_mean"]
    assert len(fake.calls) == 2 * N_EVAL
    assert arms["zeroshot"]["calls"] == N_EVAL and arms["zeroshot"]["cached_calls"] == 0
    report = Path(data["report"])
    assert report.name == "report.html" and report.exists()
    assert (report.parent / "results.json").exists() and (report.parent / "items.csv").exists()
    assert "sk-test-SECRET" not in report.read_text()
    assert "sk-test-SECRET" not in result.stdout


def test_rerun_is_served_from_the_cache(task, server, fake, env):
    compare(task)
    before = len(chat_posts(server))
    fake_before = len(fake.calls)
    data = json.loads(compare(task, "--json").stdout)
    assert len(chat_posts(server)) == before
    assert len(fake.calls) == fake_before
    assert all(a["cached_calls"] == N_EVAL for a in data["arms"].values())
    assert data["arms"]["zeroshot"]["quality"]["mean"] == pytest.approx(0.5)


def test_no_cache_calls_again(task, server, env):
    compare(task, "--arms", "zeroshot,fewshot")
    before = len(chat_posts(server))
    compare(task, "--arms", "zero-shot,few_shot", "--no-cache")
    assert len(chat_posts(server)) == before + 2 * N_EVAL


def test_dry_run_calls_nothing_and_predicts_cost(task, server, fake, env):
    data = json.loads(compare(task, "--dry-run", "--json").stdout)
    assert chat_posts(server) == [] and fake.calls == []
    assert data["calls"] == 5 * N_EVAL
    assert data["predicted_cost_usd"] > 0
    assert data["arms"]["fewshot"]["predicted_cost_usd"] > data["arms"]["zeroshot"]["predicted_cost_usd"]


def test_budget_stops_before_crossing_it(task, server, env):
    # one call is predicted at its prompt tokens + 256 output tokens ≈ $0.00016, and costs ≈ $0.00001
    result = compare(task, "--arms", "zeroshot,fewshot", "--concurrency", "1",
                     "--max-cost", "0.0002", "--json", expect=1)
    data = json.loads(result.stdout)
    made = len(chat_posts(server))
    assert 0 < made < 2 * N_EVAL
    assert data["status"] == "partial"
    assert "Budget reached" in result.stderr
    spent = sum(a["cost_per_1k_usd"] / 1000 * a["calls"] for a in data["arms"].values()
                if a["calls"])
    assert spent <= 0.0002
    # resuming with a higher budget finishes without repeating a call
    run_id = data["run_id"]
    CliRunner().invoke(cli, ["compare", "--resume", run_id, "--max-cost", "1"],
                       catch_exceptions=False)
    keys = [json.dumps(p.json["messages"], sort_keys=True) for p in chat_posts(server)]
    assert len(keys) == len(set(keys)) == 2 * N_EVAL


def test_fail_under_gate(task, server, env):
    assert "Gate failed" in compare(task, "--fail-under", "zeroshot:0.0", expect=1).stderr
    compare(task, "--fail-under", "finetuned:-0.1")  # lower bound 0 ≥ -0.1: holds


def test_bad_config_names_the_key(task, tmp_path, env):
    cfg = tmp_path / "compare.yaml"
    cfg.write_text("train: train.jsonl\neval: eval.jsonl\nmodel: openai/gpt-4o-mini\nshotz: 3\n")
    result = CliRunner().invoke(cli, ["compare", "--config", str(cfg)])
    assert result.exit_code != 0
    from ftdecide.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["compare", "--config", str(cfg)])
    assert info.value.code == 2


def test_bad_config_messages(task, tmp_path, env, capsys):
    from ftdecide.cli.main import main

    cases = {
        "shotz: 3\n": "unknown key 'shotz'",
        "arms: [zeroshot, fivesh]\n": "unknown arm 'fivesh'",
        "arms: [zeroshot, finetuned]\n": "needs a tuned model",
        "shots: many\n": "shots: expected a whole number",
        "baseline: rag\narms: [zeroshot]\n": "baseline: 'rag' is not one of the arms",
    }
    for extra, message in cases.items():
        cfg = tmp_path / "c.yaml"
        cfg.write_text("train: train.jsonl\neval: eval.jsonl\nmodel: openai/gpt-4o-mini\n" + extra)
        (tmp_path / "train.jsonl").write_text((task / "train.jsonl").read_text())
        (tmp_path / "eval.jsonl").write_text((task / "eval.jsonl").read_text())
        with pytest.raises(SystemExit) as info:
            main(["compare", "--config", str(cfg)])
        err = capsys.readouterr().err
        assert info.value.code == 2, (extra, err)
        assert message in err and str(cfg) in err, err
        assert "Traceback" not in err


def test_config_file_paths_are_relative_to_the_file(task, server, env):
    cfg = task / "compare.yaml"
    cfg.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: openai/{BASE}\n"
                   "arms: [zero-shot, few_shot]\nmetric: json-fields\nshots: 2\n"
                   f"out: {task / 'reports'}\n")
    result = CliRunner().invoke(cli, ["compare", "-c", str(cfg), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data["arms"]) == ["zeroshot", "fewshot"]


def test_report_rerenders_from_the_store(task, server, env, tmp_path):
    data = json.loads(compare(task, "--arms", "zeroshot,fewshot", "--json").stdout)
    posts = len(chat_posts(server))
    out = tmp_path / "again"
    result = CliRunner().invoke(cli, ["report", data["run_id"], "--out", str(out), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)
    assert Path(again["report"]).exists()
    first = json.loads((Path(data["report"]).parent / "results.json").read_text())
    second = json.loads((Path(again["report"]).parent / "results.json").read_text())
    assert first == second
    assert len(chat_posts(server)) == posts


def test_sigkill_then_resume_repeats_no_answered_call(task, tmp_path):
    """A real ``ftdecide compare`` process killed with SIGKILL mid-run, then ``--resume``."""
    answered: list[str] = []

    def slow_rule(request):
        time.sleep(0.15)
        text = server_rule(request)
        answered.append(json.dumps(request["messages"], sort_keys=True))
        return text

    data_dir = tmp_path / "data"
    env = {**os.environ, "FTDECIDE_DATA_DIR": str(data_dir), "FTDECIDE_LOAD_PLUGINS": "openai",
           "OPENAI_API_KEY": "sk-test"}
    with OpenAICompatibleServer(responder=slow_rule) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        args = [sys.executable, "-m", "ftdecide", "compare", "--train", str(task / "train.jsonl"),
                "--eval", str(task / "eval.jsonl"), "--model", f"openai/{BASE}", "--arms",
                "zeroshot,fewshot", "--metric", "json-fields", "--shots", "2", "--concurrency", "2",
                "--out", str(tmp_path / "reports"), "--json"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        db = data_dir / "ftdecide.db"
        deadline = time.monotonic() + 120
        recorded = 0
        while time.monotonic() < deadline and recorded < 6:
            time.sleep(0.05)
            if db.exists():
                try:
                    with sqlite3.connect(db) as con:
                        recorded = con.execute("SELECT count(*) FROM calls").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
        assert recorded >= 6, proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with sqlite3.connect(db) as con:
            run_id = con.execute("SELECT id FROM runs").fetchone()[0]
            done = {r[0] for r in con.execute("SELECT key FROM calls")}
            status = con.execute("SELECT status FROM runs").fetchone()[0]
        assert status == "running"  # killed: nothing had the chance to update it
        answered_before = list(answered)
        requests_before = len(chat_posts(server))
        out = subprocess.run([sys.executable, "-m", "ftdecide", "compare", "--resume", run_id,
                              "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["status"] == "complete"
        assert result["arms"]["fewshot"]["quality"]["mean"] == 1.0
        after = [json.dumps(p.json["messages"], sort_keys=True)
                 for p in chat_posts(server)[requests_before:]]
        # every call recorded before the kill, and every one answered before it, is not sent again
        # except those whose answer was lost in flight (at most --concurrency)
        repeated = set(after) & set(answered_before)
        assert len(repeated) <= 2
        assert len(done) >= 6
        assert len(after) == 2 * N_EVAL - len(done)


def test_batch_api_sends_one_batch_at_half_price(task, server, env, monkeypatch):
    import ftdecide.compare._runner

    monkeypatch.setattr(ftdecide.compare._runner, "BATCH_POLL_S", 0.01)
    data = json.loads(compare(task, "--arms", "zeroshot,fewshot", "--batch", "--json").stdout)
    assert chat_posts(server) == []
    assert len(server.calls("POST", "/v1/batches")) == 1
    assert data["arms"]["zeroshot"]["quality"]["mean"] == pytest.approx(0.5)
    assert data["arms"]["fewshot"]["quality"]["mean"] == 1.0
    # the same answers without --batch cost twice as much
    direct = json.loads(compare(task, "--arms", "zeroshot,fewshot", "--no-cache", "--json").stdout)
    for arm in ("zeroshot", "fewshot"):
        assert data["arms"][arm]["cost_per_1k_usd"] == pytest.approx(
            direct["arms"][arm]["cost_per_1k_usd"] / 2)


def test_tune_inside_the_run_then_compare(task, server, env, monkeypatch):
    """`--tune` with a hosted model: upload, job, poll to success, then the fine-tuned arms
    call the model the job produced; a re-run reuses the job (no second upload or job)."""
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0.01")
    args = ["compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
            "--model", f"openai/{BASE}", "--tune", "--arms", "fewshot,finetuned",
            "--metric", "json-fields", "--out", str(task / "reports"), "--shots", "2", "--yes",
            "--json"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    training = data["training"]
    assert training["status"] == "succeeded" and training["provider"] == "openai"
    assert training["model"].startswith("openai/ft:")
    assert training["loss_curve"]
    assert len(server.calls("POST", "/v1/files")) == 1
    assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 1
    tuned = [p for p in chat_posts(server) if p.json["model"].startswith("ft:")]
    assert len(tuned) == N_EVAL
    assert data["arms"]["finetuned"]["quality"]["mean"] == 1.0  # the server's rule: ft: is always right
    # the verdict states the training cost the run paid
    assert data["verdict"]
    report = (Path(data["report"]).parent / "results.json").read_text()
    assert json.loads(report)["training"]["job_id"] == training["job_id"]
