"""assess --from-run reads a run like an ML lead: runs made through the real CLI against the
local OpenAI-compatible server (real SDK over HTTP), whose answers the tests script."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer

BASE = "gpt-4.1-mini-2025-04-14"
EMOTIONS = ("joy", "sadness", "anger", "fear", "love", "surprise")


def _example(i: int) -> dict:
    label = EMOTIONS[i % 6]
    return {"messages": [
        {"role": "system", "content": "Name the emotion: joy, sadness, anger, fear, love or surprise."},
        {"role": "user", "content": f"message {i}: a sentence whose feeling is {label} in case {i}"},
        {"role": "assistant", "content": label}]}


def at_chance(request: dict) -> str:
    """Any model, tuned or not, names an emotion that does not depend on the message."""
    text = request["messages"][-1]["content"]
    return EMOTIONS[int(hashlib.sha256(text.encode()).hexdigest(), 16) % 6]


def always_right(request: dict) -> str:
    return re.search(r"feeling is (\w+)", request["messages"][-1]["content"]).group(1)


def run(capsys, *args):
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def task(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(_example(i)) + "\n" for i in range(300)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(1000, 1060)))
    (tmp_path / "answers.yaml").write_text(yaml.safe_dump({
        "use_case": {"goal": "task", "knowledge_changes_often": False},
        "alternatives": {"target_quality": 0.80},
        "costs": {"model": f"openai/{BASE}", "examples_available": 300,
                  "examples_reviewed": 300, "eval_set": True},
        "benefits": {"requests_per_month": 5_000_000}}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0.01")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai,azure")
    return tmp_path


def compare_run(capsys, monkeypatch, responder) -> dict:
    with OpenAICompatibleServer(responder=responder, models=(BASE,)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-assess-runs")
        set_registry(Registry())
        code, out, err = run(capsys, "compare", "--train", "train.jsonl", "--eval", "eval.jsonl",
                             "--model", f"openai/{BASE}", "--tune", "--yes",
                             "--arms", "zeroshot,fewshot,finetuned", "--metric", "exact",
                             "--shots", "4", "--out", "reports", "--json")
        assert code == 0, err
    monkeypatch.delenv("OPENAI_BASE_URL")
    set_registry(Registry())
    return json.loads(out)


def assess(capsys, run_id: str) -> dict:
    code, out, err = run(capsys, "assess", "--answers", "answers.yaml", "--from-run", run_id,
                         "--json", "--today", "2026-12-05")
    assert code == 0, err
    return json.loads(out)


def test_every_arm_at_chance_far_below_the_target_is_measure_first(task, capsys, monkeypatch):
    result = compare_run(capsys, monkeypatch, at_chance)
    labels = result["audit"]["labels"]
    assert labels["chance_rate"] == pytest.approx(1 / 6)
    for arm in result["arms"].values():
        assert arm["quality"]["mean"] < 0.4  # at chance, far below the 0.80 target
    data = assess(capsys, result["run_id"])
    assert data["recommendation"] == "measure-first"
    decisive = data["reasons"][0]
    assert decisive["rule"] == "measure-first-at-the-floor"
    text = decisive["text"]
    assert "the majority label or chance" in text and "cannot decide" in text
    stronger = decisive["values"]["stronger_model"]
    assert stronger and stronger != f"openai/{BASE}" and stronger in text
    commands = [s["command"] for s in data["next_steps"]]
    assert any(c.startswith("ftdecide compare ") and f"--model {stronger}" in c
               and "--train train.jsonl" in c for c in commands)
    assert any(c.startswith("ftdecide audit train.jsonl --eval eval.jsonl") for c in commands)
    assert not any(r.get("recommend") == "keep-baseline" and r["effect"] == "decides"
                   for r in data["reasons"])
    # the stronger-model command is runnable as it stands
    command = next(c for c in commands if c.startswith("ftdecide compare "))
    with OpenAICompatibleServer(responder=always_right, models=(BASE,)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        set_registry(Registry())
        code, out, err = run(capsys, *command.split()[1:], "--yes", "--dry-run")
    assert code == 0, err


def test_a_good_baseline_and_a_conclusive_no_gain_keep_the_baseline(task, capsys, monkeypatch):
    result = compare_run(capsys, monkeypatch, always_right)
    assert result["training"]["learned"]["verdict"] == "learned"
    assert result["arms"]["fewshot"]["quality"]["mean"] == 1.0
    data = assess(capsys, result["run_id"])
    assert data["recommendation"] == "keep-baseline"
    assert data["reasons"][0]["rule"] == "keep-baseline-meets-target"
    factors = {f["factor"] for f in data["confidence_factors"]}
    assert "rule" in factors and "at_the_floor" not in factors


def test_confidence_comes_with_the_factors_that_set_it(task, capsys, monkeypatch):
    result = compare_run(capsys, monkeypatch, at_chance)
    data = assess(capsys, result["run_id"])
    factors = data["confidence_factors"]
    assert factors[0]["factor"] == "rule" and factors[0]["effect"].startswith("starts at")
    assert all({"factor", "value", "effect"} <= set(f) for f in factors)
    levels = ("low", "medium", "high")
    start = factors[0]["effect"].split()[-1]
    assert levels.index(data["confidence"]) == max(0, levels.index(start) - (len(factors) - 1))


def mostly_right(request: dict) -> str:
    """Every arm answers right, but for messages whose number ends in 0 (9 in 10 right)."""
    number, label = re.search(r"message (\d+): .*feeling is (\w+)",
                              request["messages"][-1]["content"]).groups()
    return label if int(number) % 10 else EMOTIONS[(EMOTIONS.index(label) + 1) % 6]


def grade_pass_fail(request: dict) -> str:
    """The scripted judge passes an answer that names the message's feeling."""
    text = request["messages"][-1]["content"]
    truth = re.search(r"## Input\n.*feeling is (\w+)", text).group(1)
    answer = text.split("## Answer to grade\n", 1)[1].strip()
    return json.dumps({"score": "PASS" if answer == truth else "FAIL", "reason": "checked"})


def judged_run(capsys, monkeypatch, *extra, port: int = 0) -> tuple[dict, int]:
    """A compare run scored by the local server as a pass/fail judge; the judge calls it made.

    ``port``: restart the server where a previous run found it (the answer cache is keyed on
    the server's address); the port used is in ``judged_run.port``."""
    from ftdecide.testing import reply_by_prompt

    (compare_cfg := Path("compare.yaml")).write_text(
        "train: train.jsonl\neval: eval.jsonl\n"
        f"model: openai/{BASE}\narms: [zeroshot, fewshot]\nshots: 4\nout: reports\n"
        f"metric: judge\njudge: {{model: openai/{BASE}, scale: pass-fail, "
        "rubric: \"names the feeling of the message\"}\n")
    responder = reply_by_prompt([(r"You grade one answer", grade_pass_fail)], default=mostly_right)
    with OpenAICompatibleServer(responder=responder, models=(BASE,), port=port) as server:
        judged_run.port = server.port
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-assess-runs")
        set_registry(Registry())
        code, out, err = run(capsys, "compare", "-c", compare_cfg, "--json", *extra)
        assert code == 0, err
        judged = sum(1 for p in server.calls("POST", "/v1/chat/completions")
                     if "You grade one answer" in p.json["messages"][0]["content"])
    monkeypatch.delenv("OPENAI_BASE_URL")
    set_registry(Registry())
    return json.loads(out), judged


def test_an_uncalibrated_judge_leads_to_measure_first_then_its_labels_decide(task, capsys,
                                                                            monkeypatch):
    """A judged run without human labels cannot keep the baseline on the judge's scores (few-shot
    scores 0.9 against a 0.80 target); the next steps say how to calibrate it, and the re-run
    with a person's labels (from the cache) lets the usual rule decide, the trace naming κ."""
    result, judged = judged_run(capsys, monkeypatch)
    assert judged == 2 * 60 and result["judge"]["calibrated"] is False
    assert result["arms"]["fewshot"]["quality"]["mean"] == pytest.approx(0.9)
    data = assess(capsys, result["run_id"])
    assert data["recommendation"] == "measure-first"
    decisive = data["reasons"][0]
    assert decisive["rule"] == "measure-first-judge-uncalibrated"
    assert f"the judge openai/{BASE}" in decisive["text"]
    assert "(no human labels)" in decisive["text"]
    assert not any(r["rule"] == "keep-baseline-meets-target" for r in data["reasons"])
    labels_file = f"human_labels-{result['run_id']}.csv"
    commands = [s["command"] for s in data["next_steps"]]
    assert commands[0] == f"ftdecide report {result['run_id']}"
    assert "review mode" in data["next_steps"][0]["why"] and labels_file in data["next_steps"][0]["why"]
    assert commands[1] == f"ftdecide compare -c compare.yaml --human-labels {labels_file}"

    # a person marks the few-shot answers (the baseline's) as the report's Review button saves them
    rows = [f"{i},{'fail' if (999 + i) % 10 == 0 else 'pass'}\n" for i in range(1, 61)]
    Path(labels_file).write_text("id,label\n" + "".join(rows))
    again, judged = judged_run(capsys, monkeypatch, "--human-labels", labels_file,
                               port=judged_run.port)
    assert judged == 0  # every answer and judgment from the cache
    assert again["judge"]["calibrated"] is True
    assert again["judge"]["agreement"]["kappa"] == pytest.approx(1.0)
    data = assess(capsys, again["run_id"])
    assert (data["recommendation"], data["reasons"][0]["rule"]) == ("keep-baseline",
                                                                    "keep-baseline-meets-target")
    trace = next(r for r in data["reasons"] if r["rule"] == "judge-calibrated")
    assert "κ 1.00 with people on 60 labelled items, at least 0.6" in trace["text"]
