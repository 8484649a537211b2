"""The ``judge`` metric end to end: the local server scripted as the grader, a real run store.

The arms answer ticket-classification items as in ``test_compare.py`` (few-shot
always right, zero-shot right on even ticket numbers); the grader is the same
server, answering the judge's prompts from a table keyed on the ticket in the
prompt, so every judge score, agreement figure and cost is known in advance
and asserted exactly (κ against a hand computation, not against sklearn).
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
from hypothesis import given, settings
from hypothesis import strategies as st

from ftdecide.cli.main import cli
from ftdecide.compare._judge import parse_judgment, parse_preference
from ftdecide.data._tokens import count_messages, count_texts
from ftdecide.errors import DataError
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer, reply_by_prompt

BASE = "gpt-4o-mini-2024-07-18"
PRICE_IN, PRICE_OUT = 0.15, 0.60  # per 1M tokens, as test_compare.py
CATS = ("billing", "account", "technical")
N_EVAL = 12
FIRST = 100  # eval line i (1-based) is ticket FIRST + i - 1
#: what the scripted grader scores a right (JSON) answer, by ticket; a wrong one gets 2
JUDGE_5 = {100: 5, 101: 4, 102: 5, 103: 3, 104: 4, 105: 5, 106: 2, 107: 4, 108: 5, 109: 3,
           110: 4, 111: 5}
#: a person's labels of the few-shot (baseline) answers, by eval line
HUMAN_5 = {1: 5, 2: 4, 3: 4, 4: 3, 5: 5, 6: 5, 7: 1, 8: 4, 9: 5, 10: 2, 11: 4, 12: 5}


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [
        {"role": "system", "content": "Classify the ticket as JSON."},
        {"role": "user", "content": f"ticket {i} about {cat}"},
        {"role": "assistant", "content": json.dumps({"category": cat})}]}


def task_rule(request: dict) -> str:
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    number, cat = re.search(r"ticket (\d+) about (\w+)", users[-1]).groups()
    if len(users) > 1 or int(number) % 2 == 0:
        return json.dumps({"category": cat})
    return f"probably {cat}"


def _ticket(request: dict) -> int:
    return int(re.search(r"## Input\nticket (\d+)", request["messages"][-1]["content"]).group(1))


def _graded(request: dict) -> str:
    return request["messages"][-1]["content"].split("## Answer to grade\n", 1)[1]


def judge_5(request: dict) -> str:
    right = _graded(request).startswith("{")
    score = JUDGE_5[_ticket(request)] if right else 2
    return json.dumps({"score": score, "reason": f"ticket {_ticket(request)} <b>graded</b>"})


def pair_rule(request: dict) -> str:
    """The better answer when one is JSON and the other not; else "A" (position bias)."""
    text = request["messages"][-1]["content"]
    a = text.split("## Answer A\n", 1)[1].split("\n\n## Answer B\n", 1)[0]
    b = text.split("## Answer B\n", 1)[1]
    if a.startswith("{") != b.startswith("{"):
        return json.dumps({"winner": "A" if a.startswith("{") else "B", "reason": "format"})
    return "A"


def make_server(judge=judge_5, delay: float = 0.0) -> OpenAICompatibleServer:
    def grade(request):
        time.sleep(delay)
        return judge(request)

    return OpenAICompatibleServer(responder=reply_by_prompt(
        [(r"You grade one answer", grade), (r"You compare two answers", pair_rule)],
        default=task_rule))


@pytest.fixture
def task(tmp_path):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(_example(i)) + "\n"
                                                  for i in range(20)))
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(_example(i)) + "\n"
                                                 for i in range(FIRST, FIRST + N_EVAL)))
    return tmp_path


@pytest.fixture
def env(monkeypatch):
    def start(judge=judge_5):
        server = make_server(judge).start()
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-judge")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        set_registry(Registry())
        started.append(server)
        return server

    started: list[OpenAICompatibleServer] = []
    yield start
    for s in started:
        s.stop()


def config(task, *, scale="5", labels: dict | None = None, pairwise=False, extra="") -> Path:
    lines = [f"train: {task / 'train.jsonl'}", f"eval: {task / 'eval.jsonl'}",
             f"model: openai/{BASE}", "arms: [zeroshot, fewshot]", "shots: 2",
             f"out: {task / 'reports'}", "metric: judge",
             f"judge: {{model: openai/{BASE}, scale: {scale}, rubric: \"the right category\""
             f"{', pairwise: true' if pairwise else ''}}}"]
    if labels is not None:
        path = task / "labels.csv"
        path.write_text("id,label\n" + "".join(f"{k},{v}\n" for k, v in labels.items()))
        lines.append(f"human_labels: {path}")
    cfg = task / "compare.yaml"
    cfg.write_text("\n".join(lines) + "\n" + extra)
    return cfg


def run(cfg, *extra, expect=0):
    result = CliRunner().invoke(cli, ["compare", "-c", str(cfg), "--json", *extra],
                                catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return json.loads(result.stdout) if "--dry-run" in extra or expect == 0 else result


def judge_posts(server, kind="You grade one answer"):
    return [p for p in server.calls("POST", "/v1/chat/completions")
            if kind in p.json["messages"][0]["content"]]


def hand_weighted_kappa(human: list[int], judge: list[int], k: int = 5) -> float:
    """Quadratic-weighted κ by its definition: 1 − Σ w·O / Σ w·E."""
    n = len(human)
    observed = [[0.0] * k for _ in range(k)]
    for h, j in zip(human, judge):
        observed[h - 1][j - 1] += 1 / n
    rows = [sum(observed[i]) for i in range(k)]
    cols = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    w = [[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)]
    num = sum(w[i][j] * observed[i][j] for i in range(k) for j in range(k))
    den = sum(w[i][j] * rows[i] * cols[j] for i in range(k) for j in range(k))
    return 1 - num / den


def test_scale_5_agreement_equals_a_hand_computation(task, env):
    server = env()
    data = run(config(task, labels=HUMAN_5))
    judge = data["judge"]
    agree = judge["agreement"]
    human = [HUMAN_5[i] for i in range(1, N_EVAL + 1)]
    judged = [JUDGE_5[FIRST + i - 1] for i in range(1, N_EVAL + 1)]
    assert agree["n"] == N_EVAL
    # equal on lines 1, 2, 4, 6, 8, 9, 11, 12: 8 of 12
    assert agree["percent"] == pytest.approx(8 / 12)
    assert agree["kappa"] == pytest.approx(hand_weighted_kappa(human, judged), abs=1e-12)
    assert agree["kappa"] == pytest.approx(0.8674033149171271, abs=1e-12)
    # the most common human label is 5 (5 of 12): always saying 5 agrees 5/12
    assert agree["constant_baseline"] == pytest.approx(5 / 12)
    low, high = agree["kappa_ci"]
    assert low <= agree["kappa"] <= high
    assert judge["calibrated"] is True and judge["model"] == f"openai/{BASE}"
    # the arms are scored by the judge: few-shot gets the table, zero-shot 2 on odd tickets
    fewshot = data["arms"]["fewshot"]["quality"]
    assert fewshot["metric"] == "judge"
    assert fewshot["mean"] == pytest.approx(sum((s - 1) / 4 for s in JUDGE_5.values()) / N_EVAL)
    zs = [(JUDGE_5[t] - 1) / 4 if t % 2 == 0 else 0.25 for t in JUDGE_5]
    assert data["arms"]["zeroshot"]["quality"]["mean"] == pytest.approx(sum(zs) / N_EVAL)
    assert "κ 0.87" in data["verdict"] and "not calibrated" not in data["verdict"]
    assert len(judge_posts(server)) == 2 * N_EVAL


def test_pass_fail_kappa_below_threshold_refuses_and_matches_hand(task, env):
    # the judge passes every JSON answer (all the few-shot ones); a person fails lines 1-4:
    # both pass 8, person fail / judge pass 4, nothing else
    env(judge=lambda r: "PASS" if _graded(r).startswith("{") else "FAIL")
    human = {i: ("fail" if i <= 4 else "pass") for i in range(1, N_EVAL + 1)}
    data = run(config(task, scale="pass-fail", labels=human))
    agree = data["judge"]["agreement"]
    # po = 8/12; the judge always passes so pe = P(person pass) · 1 = 8/12; κ = 0
    assert agree["percent"] == pytest.approx(8 / 12)
    assert agree["kappa"] == pytest.approx(0.0, abs=1e-12)
    assert agree["constant_baseline"] == pytest.approx(8 / 12)
    assert data["judge"]["calibrated"] is False
    verdict = data["verdict"]
    assert "not calibrated" in verdict and "no arm is called better on the judge alone" in verdict
    assert "κ 0.00" in verdict and "sharpen the rubric" in verdict
    # the few-shot arm beats zero-shot on the judge's scores, yet no arm is called better
    assert data["arms"]["zeroshot"]["vs_baseline"]["ci_high"] < 0
    assert not verdict.startswith(("few-shot:", "zero-shot:", "keep"))


def test_pass_fail_kappa_by_a_two_by_two_table(task, env):
    """Unweighted κ for pass/fail from its 2×2 table, by hand."""
    # the judge fails tickets 100 and 101 (lines 1, 2) and passes the rest
    env(judge=lambda r: "FAIL" if _ticket(r) in (100, 101) or not _graded(r).startswith("{")
        else json.dumps({"score": "PASS", "reason": "ok"}))
    human = {1: "fail", 2: "pass", 3: "fail", 4: "fail", 5: "pass", 6: "pass", 7: "pass",
             8: "pass", 9: "pass", 10: "pass"}
    data = run(config(task, scale="pass-fail", labels=human))
    agree = data["judge"]["agreement"]
    # person × judge on 10 items: both pass 6 (5..10), person pass / judge fail 1 (2),
    # person fail / judge pass 2 (3, 4), both fail 1 (1)
    po = (6 + 1) / 10
    pe = (7 / 10) * (8 / 10) + (3 / 10) * (2 / 10)
    assert agree["n"] == 10
    assert agree["percent"] == pytest.approx(po)
    assert agree["kappa"] == pytest.approx((po - pe) / (1 - pe), abs=1e-12)
    assert agree["constant_baseline"] == pytest.approx(7 / 10)
    assert agree["kappa"] < 0.6 and "not calibrated" in data["verdict"]


def test_no_labels_verdict_says_not_calibrated_with_the_config_line(task, env):
    env()
    data = run(config(task))
    assert data["judge"]["agreement"] is None and data["judge"]["calibrated"] is False
    verdict = data["verdict"]
    assert "no human labels were given" in verdict and "human_labels: labels.csv" in verdict
    assert "no arm is called better on the judge alone" in verdict


def test_judge_cost_is_evaluation_cost_not_cost_per_1k(task, env):
    server = env()
    data = run(config(task))
    posts = judge_posts(server)
    assert len(posts) == 2 * N_EVAL
    expected = sum(count_messages(p.json["messages"]) * PRICE_IN
                   + count_texts([judge_5(p.json)])[0] * PRICE_OUT for p in posts) / 1e6
    assert data["judge"]["evaluation_cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert data["evaluation_cost_usd"] == pytest.approx(expected, rel=1e-9)  # the run's total
    # the arms' cost per 1k is their own calls' cost, judge calls left out
    for arm, few in (("zeroshot", False), ("fewshot", True)):
        own = [p for p in server.calls("POST", "/v1/chat/completions")
               if "You grade" not in p.json["messages"][0]["content"]
               and (sum(m["role"] == "user" for m in p.json["messages"]) > 1) == few]
        cost = sum(count_messages(p.json["messages"]) * PRICE_IN
                   + count_texts([task_rule(p.json)])[0] * PRICE_OUT for p in own) / 1e6
        assert len(own) == N_EVAL
        assert data["arms"][arm]["cost_per_1k_usd"] == pytest.approx(cost / N_EVAL * 1000)


def test_dry_run_predicts_the_judge_calls(task, env):
    server = env()
    cfg = config(task)
    plan = run(cfg, "--dry-run")
    assert server.requests == []
    judge = plan["judge"]
    assert judge["calls"] == 2 * N_EVAL and judge["predicted_cost_usd"] > 0
    arms_cost = sum(a["predicted_cost_usd"] for a in plan["arms"].values())
    assert plan["predicted_cost_usd"] == pytest.approx(arms_cost + judge["predicted_cost_usd"])
    # after a run everything is cached: nothing left to predict
    run(cfg)
    again = run(cfg, "--dry-run")
    assert again["judge"]["calls"] == 0 and again["judge"]["cached"] == 2 * N_EVAL


def test_unparseable_judgments_are_counted_and_left_out(task, env):
    def sloppy(request):
        if _ticket(request) in (101, 104, 107):
            return "I would say this answer is fine"
        if _ticket(request) == 110:
            return "4"  # a bare number is accepted
        return judge_5(request)

    env(judge=sloppy)
    data = run(config(task))
    judge = data["judge"]
    assert judge["unparseable"] == 6 and judge["unparseable_by_arm"] == {"zeroshot": 3,
                                                                          "fewshot": 3}
    fewshot = data["arms"]["fewshot"]["quality"]
    assert fewshot["n"] == N_EVAL - 3 and fewshot["unparseable"] == 3
    kept = [t for t in JUDGE_5 if t not in (101, 104, 107)]
    assert fewshot["mean"] == pytest.approx(sum((JUDGE_5[t] - 1) / 4 for t in kept) / len(kept))
    results = json.loads((Path(data["report"]).parent / "results.json").read_text())
    item = next(i for i in results["items"] if i["id"] == "2")  # ticket 101
    out = item["outputs"]["fewshot"]
    assert out["score"] is None and "unparseable judgment" in out["error"]
    assert out["judgment"]["raw"] == "I would say this answer is fine"
    assert out["judgment"]["parsed"] is False
    html = Path(data["report"]).read_text()
    assert "6</strong> replies were neither" in html


def test_report_shows_the_judge_section_and_escaped_judgments(task, env):
    env()
    data = run(config(task, labels=HUMAN_5))
    html = Path(data["report"]).read_text()
    assert 'id="judge"' in html and "Cohen" in html and "calibrated" in html
    # the judge's reason (model-written) is escaped; its prompt is in the drill-down
    assert "<b>graded</b>" not in html and "&lt;b&gt;graded&lt;/b&gt;" in html
    assert "You grade one answer" in html and "## Answer to grade" in html
    assert "sk-test-SECRET" not in html
    results = json.loads((Path(data["report"]).parent / "results.json").read_text())
    j = results["items"][0]["outputs"]["fewshot"]["judgment"]
    assert j["score"] == 5 and j["reason"] == "ticket 100 <b>graded</b>"
    assert j["prompt"][1]["content"].startswith("## Input\nticket 100")


def test_pairwise_asks_both_orders_and_counts_disagreement_as_tie(task, env):
    server = env()
    data = run(config(task, pairwise=True))
    pairs = judge_posts(server, "You compare two answers")
    assert len(pairs) == 2 * N_EVAL  # zero-shot against few-shot, both orders
    p = data["judge"]["pairwise_results"]["zeroshot"]
    # odd tickets: few-shot's JSON wins in both orders; even: both JSON, the grader says
    # "A" both times, so the orders disagree and it is a tie
    assert (p["wins"], p["losses"], p["ties"]) == (0, 6, 6)
    assert p["win_rate"] == pytest.approx(3 / 12)
    # the drill-down keeps both orders' prompts and replies
    results = json.loads((Path(data["report"]).parent / "results.json").read_text())
    pair = results["items"][1]["outputs"]["zeroshot"]["judgment"]["pairwise"]  # ticket 101
    assert pair["outcome"] == "loss"
    assert pair["arm_first"]["winner"] == "B" and pair["baseline_first"]["winner"] == "A"
    assert "## Answer A\nprobably" in pair["arm_first"]["prompt"][1]["content"]
    assert "## Answer B\nprobably" in pair["baseline_first"]["prompt"][1]["content"]


def test_bad_label_files_name_file_and_line(task, env):
    env()
    cases = {"id,label\n1,4\n2,7\n": (3, "not on the judge's scale"),
             "id,label\n1,4\n1,5\n": (3, "labelled twice"),
             "item,label\n1,4\n": (1, "no id"),
             "id,label\n1,\n": (2, "no label")}
    from ftdecide.cli.main import main

    for text, (line, message) in cases.items():
        cfg = config(task, labels={})
        (task / "labels.csv").write_text(text)
        with pytest.raises(SystemExit) as info:
            main(["compare", "-c", str(cfg)])
        assert info.value.code == 2
    from ftdecide.compare._agreement import load_labels

    for text, (line, message) in cases.items():
        (task / "labels.csv").write_text(text)
        with pytest.raises(DataError) as exc:
            load_labels(str(task / "labels.csv"), "5")
        assert exc.value.line == line and message in str(exc.value), (text, exc.value)
    jsonl = task / "labels.jsonl"
    jsonl.write_text('{"id": "1", "label": "PASS"}\n{"id": 2, "label": maybe}\n')
    with pytest.raises(DataError) as exc:
        load_labels(str(jsonl), "pass-fail")
    assert exc.value.line == 2 and str(jsonl) in str(exc.value.path)


def test_config_requires_judge_and_metric_together(task, env):
    env()
    from ftdecide.compare._config import build
    from ftdecide.errors import UsageError

    base = {"train": str(task / "train.jsonl"), "eval": str(task / "eval.jsonl"),
            "model": f"openai/{BASE}"}
    with pytest.raises(UsageError, match="needs a judge"):
        build({**base, "metric": "judge"})
    with pytest.raises(UsageError, match="metric is 'exact'"):
        build({**base, "metric": "exact", "judge": {"model": "openai/x"}})
    with pytest.raises(UsageError, match="not a scale"):
        build({**base, "judge": {"model": "openai/x", "scale": 10}})
    with pytest.raises(UsageError, match="unknown judge key"):
        build({**base, "judge": {"model": "openai/x", "rubrik": "x"}})
    config_ = build({**base, "judge": {"model": "openai/x", "scale": "pass/fail"}})
    assert config_.metric == "judge" and config_.judge["scale"] == "pass-fail"


def test_sigkill_in_the_judge_phase_then_resume_repeats_no_recorded_judge_call(task, tmp_path):
    """A real ``ftdecide compare`` killed with SIGKILL while the judge runs, then ``--resume``."""
    answered: list[str] = []

    def slow_judge(request):
        time.sleep(0.15)
        answered.append(json.dumps(request["messages"], sort_keys=True))
        return judge_5(request)

    cfg = config(task, extra="concurrency: 2\n")
    data_dir = tmp_path / "data"
    env = {**os.environ, "FTDECIDE_DATA_DIR": str(data_dir), "FTDECIDE_LOAD_PLUGINS": "openai",
           "OPENAI_API_KEY": "sk-test"}
    with make_server(judge=slow_judge) as server:
        env["OPENAI_BASE_URL"] = server.base_url
        proc = subprocess.Popen([sys.executable, "-m", "ftdecide", "compare", "-c", str(cfg),
                                 "--json"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        db = data_dir / "ftdecide.db"
        deadline = time.monotonic() + 120
        judged = 0
        while time.monotonic() < deadline and judged < 6:
            time.sleep(0.05)
            if db.exists():
                try:
                    with sqlite3.connect(db) as con:
                        judged = con.execute("SELECT count(*) FROM calls WHERE arm LIKE "
                                             "'judge:%'").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
        assert judged >= 6, proc.communicate(timeout=5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with sqlite3.connect(db) as con:
            run_id = con.execute("SELECT id FROM runs").fetchone()[0]
            recorded = con.execute("SELECT count(*) FROM calls WHERE arm LIKE 'judge:%'"
                                   ).fetchone()[0]
        answered_before = list(answered)
        before = len(judge_posts(server))
        out = subprocess.run([sys.executable, "-m", "ftdecide", "compare", "--resume", run_id,
                              "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        assert result["status"] == "complete"
        after = [json.dumps(p.json["messages"], sort_keys=True)
                 for p in judge_posts(server)[before:]]
        # no recorded judge call is sent again: exactly the unrecorded ones are
        assert len(after) == 2 * N_EVAL - recorded
        assert len(set(after) & set(answered_before)) <= 2  # at most those lost in flight
        assert result["arms"]["fewshot"]["quality"]["n"] == N_EVAL
        assert result["judge"]["calls"] == 2 * N_EVAL


def test_batch_api_sends_the_judge_calls_as_a_batch_too(task, env, monkeypatch):
    import ftdecide.compare._runner

    monkeypatch.setattr(ftdecide.compare._runner, "BATCH_POLL_S", 0.01)
    server = env()
    data = run(config(task, labels=HUMAN_5, extra="batch: true\n"))
    assert server.calls("POST", "/v1/chat/completions") == []
    assert len(server.calls("POST", "/v1/batches")) == 2  # the arms' batch, then the judge's
    assert data["judge"]["calls"] == 2 * N_EVAL
    assert data["judge"]["agreement"]["kappa"] == pytest.approx(0.8674033149171271, abs=1e-12)
    assert data["arms"]["fewshot"]["quality"]["mean"] == pytest.approx(
        sum((s - 1) / 4 for s in JUDGE_5.values()) / N_EVAL)


def test_max_cost_covers_the_judge_and_resume_finishes_it(task, env, monkeypatch, tmp_path):
    server = env()
    cfg = config(task, extra="concurrency: 1\n")
    # measure what the arms and the judge cost, in a store of its own
    monkeypatch.setenv("FTDECIDE_DATA_DIR", str(tmp_path / "measure"))
    full = run(cfg)
    arms_cost = sum(a["cost_per_1k_usd"] / 1000 * a["calls"] for a in full["arms"].values())
    judge_cost = full["judge"]["evaluation_cost_usd"]
    # a fresh store (nothing cached): the budget holds the arms and most of the judge's calls
    monkeypatch.setenv("FTDECIDE_DATA_DIR", str(tmp_path / "budget"))
    before = len(judge_posts(server))
    budget = arms_cost + 0.9 * judge_cost
    result = run(cfg, "--max-cost", f"{budget:.8f}", expect=1)
    data = json.loads(result.stdout)
    made = len(judge_posts(server)) - before
    assert 0 < made < 2 * N_EVAL
    assert data["status"] == "partial" and "Budget reached" in result.stderr
    assert data["judge"]["evaluation_cost_usd"] + arms_cost <= budget + 1e-12
    # resuming with a higher budget judges the rest and repeats no recorded judge call
    out = CliRunner().invoke(cli, ["compare", "--resume", data["run_id"], "--max-cost", "1",
                                   "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    done = json.loads(out.stdout)
    assert done["status"] == "complete" and done["judge"]["calls"] == 2 * N_EVAL
    assert len(judge_posts(server)) - before == 2 * N_EVAL


def test_bootstrap_kappa_is_sklearns_formula():
    """The intervals' vectorised κ equals sklearn's cohen_kappa_score, weighted and not."""
    import random
    import warnings

    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    from ftdecide.compare._agreement import _kappas

    rng = random.Random(0)
    for scale, low, high, weights in (("5", 1, 5, "quadratic"), ("pass-fail", 0, 1, None)):
        for _ in range(100):
            n = rng.randint(2, 30)
            h = [rng.randint(low, high) for _ in range(n)]
            j = [rng.randint(low, high) for _ in range(n)]
            ours = _kappas(np.array([h]), np.array([j]), scale)[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined κ (one label on both sides): NaN
                theirs = cohen_kappa_score(h, j, labels=list(range(low, high + 1)),
                                           weights=weights)
            if np.isnan(theirs):
                assert np.isnan(ours)
            else:
                assert ours == pytest.approx(theirs, abs=1e-12)


def test_items_csv_has_the_judgments_and_an_uncalibrated_judge_fails_every_gate(task, env):
    import csv
    import io

    env()
    cfg = config(task)
    result = run(cfg, "--fail-under", "zeroshot:-1", expect=1)
    assert "the judge is not calibrated (no human labels" in result.stderr
    data = json.loads(result.stdout)
    rows = list(csv.DictReader(io.StringIO(
        (Path(data["report"]).parent / "items.csv").read_text())))
    assert rows[0]["fewshot_judge_score"] == "5"
    assert rows[0]["fewshot_judge_reason"] == "ticket 100 <b>graded</b>"
    assert rows[1]["zeroshot_judge_score"] == "2"  # ticket 101: zero-shot's wrong answer
    # calibrated, the same gate holds
    run(config(task, labels=HUMAN_5), "--fail-under", "zeroshot:-1")


# -- the reply parser and the label reader: properties ---------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(["5", "pass-fail"]))
def test_any_reply_parses_or_is_unparseable_never_raises(text, scale):
    j = parse_judgment(text, scale)
    if j.parsed:
        assert j.score in ((0, 1) if scale == "pass-fail" else (1, 2, 3, 4, 5))
        assert 0.0 <= j.value <= 1.0
    else:
        assert j.score is None and j.value is None
    assert j.raw == text
    winner, _ = parse_preference(text)
    assert winner in (None, "A", "B", "tie")


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5), st.text(max_size=40), st.sampled_from(["{}", "```json\n{}\n```",
                                                                 "Here you go: {} Thanks."]))
def test_a_json_score_on_the_scale_maps_to_s_minus_1_over_4(score, reason, wrapper):
    reply = wrapper.replace("{}", json.dumps({"score": score, "reason": reason}))
    j = parse_judgment(reply, "5")
    assert j.parsed and j.score == score and j.reason == reason
    assert j.value == (score - 1) / 4


@pytest.mark.parametrize("reply,scale,score", [
    ("4", "5", 4), (" 5/5 ", "5", 5), ("Score: 3", "5", 3), ("**2**", "5", 2), ("3.0", "5", 3),
    ("PASS", "pass-fail", 1), ("fail.", "pass-fail", 0), ("1", "pass-fail", 1),
    ('{"score": "FAIL", "reason": "x"}', "pass-fail", 0), ('{"score": true}', "pass-fail", None),
    ("I think 4", "5", None), ('{"score": 6}', "5", None), ('{"score": 3.5}', "5", None),
    ("PASS", "5", None), ("4", "pass-fail", None), ("", "5", None),
    ('{"grade": 4}', "5", None),
])
def test_bare_replies_accepted_others_unparseable(reply, scale, score):
    j = parse_judgment(reply, scale)
    assert j.score == score and j.parsed == (score is not None)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.integers(1, 500), st.sampled_from(["1", "2", "3", "4", "5", " 4 ",
                                                            "5.0"]), min_size=1, max_size=20),
       st.sampled_from(["csv", "jsonl"]))
def test_label_files_round_trip(tmp_path_factory, labels, kind):
    from ftdecide.compare._agreement import load_labels

    path = tmp_path_factory.mktemp("labels") / f"labels.{kind}"
    if kind == "csv":
        path.write_text("id,label,comment\n" + "".join(f"{k},{v},ok\n" for k, v in labels.items()))
    else:
        path.write_text("".join(json.dumps({"id": k, "label": v}) + "\n" for k, v in labels.items()))
    got = load_labels(str(path), "5")
    assert [(x.item, x.value) for x in got] == [(str(k), int(float(v))) for k, v in labels.items()]
    assert [x.line for x in got] == list(range(2 if kind == "csv" else 1, len(labels) + (
        2 if kind == "csv" else 1)))


def test_an_unknown_judge_model_is_refused_and_an_unpriced_one_costs_unknown(task, env, capsys):
    from ftdecide.cli.main import main

    server = env()
    cfg = config(task)
    text = cfg.read_text()
    cfg.write_text(text.replace(f"judge: {{model: openai/{BASE}", "judge: {model: nosuch/judge"))
    with pytest.raises(SystemExit) as info:
        main(["compare", "-c", str(cfg)])
    assert info.value.code == 2
    assert "judge.model: unknown model 'nosuch/judge'" in capsys.readouterr().err
    assert server.requests == []
    # a model the provider serves but the catalog has no price for: unknown, never $0
    cfg.write_text(text.replace(f"judge: {{model: openai/{BASE}",
                                "judge: {model: openai/house-judge"))
    plan = run(cfg, "--dry-run")
    assert plan["judge"]["predicted_cost_usd"] is None
    data = run(cfg)
    assert data["judge"]["evaluation_cost_usd"] is None
    assert data["arms"]["fewshot"]["cost_per_1k_usd"] > 0
