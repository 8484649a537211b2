"""compare audits train against eval before any call: leaked items are left out (default),
refused (audit: fail) or scored with a warning (audit: keep); the trivial baselines stand
beside the arms in the terminal, the report and --json. Through the real CLI and the local
OpenAI-compatible server (real SDK over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer

BASE = "gpt-4o-mini-2024-07-18"
LABELS = ("POSITIVE", "NEGATIVE")


def _example(i: int, label: str) -> dict:
    return {"messages": [
        {"role": "user", "content": f"Review {i}: the product number {i * 7} was {label.lower()} "
                                    f"in ways only review {i} describes. Answer POSITIVE or NEGATIVE."},
        {"role": "assistant", "content": label}]}


@pytest.fixture
def task(tmp_path, monkeypatch):
    train = [_example(i, LABELS[i % 3 == 0]) for i in range(60)]  # 2/3 POSITIVE
    evals = [_example(i, LABELS[i % 3 == 0]) for i in range(200, 230)]
    evals[:10] = train[:10]  # ten eval items copied from the training set
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in train))
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evals))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def server(monkeypatch):
    # a model that always says POSITIVE: exactly the majority label
    with OpenAICompatibleServer(responder=lambda request: "POSITIVE") as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-audit")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        set_registry(Registry())
        yield s


def run(capsys, *args):
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def config(**extra) -> str:
    values = {"train": "train.jsonl", "eval": "eval.jsonl", "model": f"openai/{BASE}",
              "arms": ["zeroshot", "fewshot"], "metric": "exact", "shots": 2, "out": "reports",
              **extra}
    Path("compare.yaml").write_text(yaml.safe_dump(values))
    return "compare.yaml"


def test_leaked_items_are_listed_and_left_out_by_default(task, server, capsys):
    code, out, err = run(capsys, "compare", "-c", config(), "--json")
    assert code == 0, err
    result = json.loads(out)
    audit = result["audit"]
    assert {"leaked", "near_leaked", "conflicts", "near_duplicates", "labels",
            "min_detectable_diff", "excluded"} <= set(audit)
    pairs = [(e["eval"], e["train"]) for e in audit["leaked"]]
    assert pairs == [(f"eval.jsonl:{i}", f"train.jsonl:{i}") for i in range(1, 11)]
    assert audit["excluded"] == [str(i) for i in range(1, 11)] and audit["mode"] == "exclude"
    assert result["arms"]["zeroshot"]["quality"]["n"] == 20
    assert len(server.calls("POST", "/v1/chat/completions")) == 40  # 20 items × 2 arms
    assert "10 eval item(s) found in the training set were left out of scoring" in result["verdict"]
    # the trivial baselines, computed on the eval set
    labels = audit["labels"]
    assert labels["majority_label"] == "positive"  # labels compare as the metric normalises them
    # computed on the 20 items that are scored, not the 10 left out
    evals = [json.loads(line)["messages"][-1]["content"] for line in open("eval.jsonl")][10:]
    assert labels["majority_rate"] == pytest.approx(evals.count("POSITIVE") / 20)
    assert labels["chance_rate"] == pytest.approx(0.5)
    # an arm that always says the majority label does not beat it: the verdict says so
    assert result["verdict"].startswith("this run cannot decide: no arm beats always answering "
                                        "the majority label")
    report = Path(result["report"]).read_text()
    assert 'id="audit"' in report and "trivial baseline" in report and "left out of scoring" in report


def test_audit_fail_exits_2_naming_the_leaks_before_any_call(task, server, capsys):
    path = config(audit="fail")
    for extra in ([], ["--dry-run"]):
        code, out, err = run(capsys, "compare", "-c", path, *extra)
        assert code == 2
        assert "10 eval item(s) also occur in the training set: eval.jsonl:1 ↔ train.jsonl:1" in err
        assert "(audit: fail)" in err and "Traceback" not in err
    assert server.calls("POST", "/v1/chat/completions") == []


def test_audit_keep_scores_them_and_the_verdict_warns(task, server, capsys):
    code, out, err = run(capsys, "compare", "-c", config(audit="keep"), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["arms"]["zeroshot"]["quality"]["n"] == 30
    assert result["audit"]["excluded"] == []
    assert "10 eval item(s) also occur in the training set and were scored (audit: keep)" \
        in result["verdict"]


def test_the_terminal_table_shows_the_trivial_baselines(task, server, capsys):
    code, out, err = run(capsys, "compare", "-c", config())
    assert code == 0, err
    assert "always 'positive' (trivial)" in out and "guessing (trivial)" in out
    assert "audit: 10 eval item(s) found in the training set were left out of scoring" in err


def test_power_uses_the_measured_baseline(task, server, capsys):
    from ftdecide.data import min_detectable_diff

    code, out, err = run(capsys, "compare", "-c", config(), "--json")
    result = json.loads(out)
    base = result["arms"]["fewshot"]["quality"]
    power = result["audit"]["power"]
    assert power["measured_n"] == base["n"] == 20
    assert result["audit"]["min_detectable_diff"] == pytest.approx(
        min_detectable_diff(20, min(base["mean"], 0.999)))
