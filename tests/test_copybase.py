"""The "copy the input" trivial baseline of free-text runs, end to end.

Real compare runs over HTTP (the openai SDK against the local test server) on a
small rewriting task; every expected value is computed here with the libraries
themselves (rouge-score, scikit-learn) and the run's bootstrap.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rouge_score import rouge_scorer
from sklearn.feature_extraction.text import TfidfVectorizer

from ftdecide.cli.main import cli
from ftdecide.compare import _stats as stats
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer, echo_last_user

N_EVAL = 10


def _reply(i: int) -> str:
    return f"Hello! Your refund for order {i} is on its way and arrives within {i % 5 + 2} days."


def _draft(i: int) -> str:
    return f"refund order {i} sent <b>today</b>, it arrives in {i % 5 + 2} days"


def _example(i: int) -> dict:
    return {"messages": [
        {"role": "system", "content": "Rewrite the draft as a friendly support reply."},
        {"role": "user", "content": _draft(i)},
        {"role": "assistant", "content": _reply(i)}]}


def answers_the_reference(request: dict) -> str:
    """Few-shot (several user turns) answers the reference; zero-shot echoes the draft."""
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    if len(users) > 1:
        i = int(users[-1].split("order ")[1].split()[0])
        return _reply(i)
    return users[-1]


@pytest.fixture
def task(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(1, 21)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(100, 100 + N_EVAL)))
    return tmp_path


def _serve(monkeypatch, responder):
    server = OpenAICompatibleServer(responder=responder)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-copybase")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    set_registry(Registry())
    return server


def compare(task, monkeypatch, responder, *extra) -> dict:
    with _serve(monkeypatch, responder) as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        args = ["compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
                "--model", "openai/gpt-4o-mini-2024-07-18", "--arms", "zeroshot,fewshot",
                "--out", str(task / "reports"), "--shots", "2", *extra]
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {"output": result.output,
            **(json.loads(result.stdout) if "--json" in extra else {})}


def _results(data: dict) -> dict:
    return json.loads(Path(data["report"]).with_name("results.json").read_text())


def _rouge_l(expected: str, answer: str) -> float:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return scorer.score(expected, answer)["rougeL"].fmeasure


def test_copy_baseline_is_rouge_l_of_the_inputs_and_a_floor(task, monkeypatch):
    data = compare(task, monkeypatch, echo_last_user, "--metric", "rouge-l", "--json")
    (copy,) = data["trivial"]
    # the scored items only: the audit leaves eval lines that nearly copy a training line out
    scored = [int(it["id"]) for it in _results(data)["items"]]
    excluded = (data["audit"] or {}).get("excluded") or []
    assert len(scored) + len(excluded) == N_EVAL and scored
    values = [_rouge_l(_reply(99 + line), _draft(99 + line)) for line in scored]
    iv = stats.bootstrap_mean(values, resamples=2000, seed=0)
    assert copy["name"] == "copy the input" and copy["metric"] == "rouge-l"
    assert copy["n"] == len(scored)
    assert copy["mean"] == pytest.approx(sum(values) / len(values), abs=1e-12)
    assert 0 < copy["mean"] < 1
    assert (copy["ci_low"], copy["ci_high"]) == pytest.approx((iv.ci_low, iv.ci_high), abs=1e-12)
    # both arms just echo the draft: they score what copying does, with the same interval
    zs = data["arms"]["zeroshot"]["quality"]
    assert (zs["mean"], zs["ci_low"], zs["ci_high"]) == pytest.approx(
        (copy["mean"], copy["ci_low"], copy["ci_high"]), abs=1e-12)
    assert "this run cannot decide" in data["verdict"]
    assert "copying the input unchanged" in data["verdict"]
    assert _results(data)["trivial"] == data["trivial"]
    html = Path(data["report"]).read_text()
    assert "copy the input" in html and "answers with the input unchanged" in html
    assert "<b>today</b>" not in html  # the drafts in the item table stay escaped


def test_copy_baseline_does_not_stop_a_run_whose_arm_answers(task, monkeypatch):
    data = compare(task, monkeypatch, answers_the_reference, "--metric", "rouge-l", "--json")
    (copy,) = data["trivial"]
    assert data["arms"]["fewshot"]["quality"]["ci_low"] > copy["mean"]
    assert "cannot decide" not in data["verdict"]


def test_terminal_table_shows_the_copy_baseline(task, monkeypatch):
    out = compare(task, monkeypatch, echo_last_user, "--metric", "chrf")["output"]
    assert "copy the input (trivial)" in out


def test_tfidf_copy_baseline_is_fitted_on_the_runs_texts(task, monkeypatch):
    data = compare(task, monkeypatch, answers_the_reference, "--metric", "similarity", "--json")
    (copy,) = data["trivial"]
    items = _results(data)["items"]
    texts = {t for it in items for t in (it["expected"], it["input"],
                                         *(o["text"] for o in it["outputs"].values()))}
    vectorizer = TfidfVectorizer().fit(sorted(texts))
    want = [float((vectorizer.transform([it["expected"]]).multiply(
        vectorizer.transform([it["input"]]))).sum()) for it in items]
    assert copy["metric"] == "similarity"
    assert copy["mean"] == pytest.approx(sum(want) / len(want), abs=1e-9)


def test_categorical_runs_have_no_copy_baseline(task, monkeypatch):
    data = compare(task, monkeypatch, echo_last_user, "--metric", "exact", "--json")
    assert data["trivial"] == []


def test_the_report_escapes_a_copy_baseline_and_reads_old_results(task, monkeypatch):
    from ftdecide.report._html import render_html

    data = compare(task, monkeypatch, echo_last_user, "--metric", "bleu", "--json")
    results = _results(data)
    results["trivial"][0]["name"] = "<script>alert(1)</script>"
    html = render_html(results)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    del results["trivial"]  # results.json written before the copy baseline existed
    assert "copy the input" not in render_html(results)


def test_assess_from_a_run_whose_arms_only_echo_is_measure_first_at_the_copy_floor(
        task, monkeypatch):
    import yaml

    data = compare(task, monkeypatch, echo_last_user, "--metric", "rouge-l", "--json")
    (task / "answers.yaml").write_text(yaml.safe_dump({
        "use_case": {"goal": "style"}, "alternatives": {"target_quality": 0.6},
        "costs": {"model": "openai/gpt-4o-mini-2024-07-18", "examples_available": 500,
                  "examples_reviewed": 500, "eval_set": True}}))
    result = CliRunner().invoke(cli, ["assess", "--answers", str(task / "answers.yaml"),
                                      "--from-run", data["run_id"], "--json",
                                      "--today", "2026-12-05"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["recommendation"] == "measure-first"
    deciding = out["reasons"][0]
    assert deciding["rule"] == "measure-first-at-the-floor"
    assert "copying the input unchanged" in deciding["text"]
