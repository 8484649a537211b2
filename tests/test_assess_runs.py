"""assess --from-run reads a run like an ML lead: runs made through the real CLI against the
local OpenAI-compatible server (real SDK over HTTP), whose answers the tests script."""

from __future__ import annotations

import hashlib
import json
import re

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
