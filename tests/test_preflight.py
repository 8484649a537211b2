"""One preflight: every config the real run rejects without calling a model is rejected by
``--dry-run`` with the same message, and the real run rejects it before its first request.

Both runs go through the real CLI against the local OpenAI-compatible server
(the real ``openai`` SDK over HTTP), so "no request was made" is counted, not assumed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer

BASE = "gpt-4o-mini-2024-07-18"


def _example(i: int) -> dict:
    cat = ("billing", "account", "technical")[i % 3]
    return {"messages": [
        {"role": "system", "content": "Classify the ticket as JSON."},
        {"role": "user", "content": f"ticket {i} about {cat}"},
        {"role": "assistant", "content": json.dumps({"category": cat})}]}


@pytest.fixture
def task(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(20)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(100, 112)))
    (tmp_path / "afile.txt").write_text("not a folder\n")
    return tmp_path


@pytest.fixture
def server(monkeypatch):
    with OpenAICompatibleServer() as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-preflight")
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


TUNED = {"arms": ["zeroshot", "finetuned"], "baseline": "zeroshot"}
BAD = {
    "unknown metric": ({"metric": "meteor"}, "unknown metric 'meteor'"),
    "tune epochs not a number": ({"tune": {"epochs": "three"}, **TUNED},
                                 "tune.epochs = 'three': expected an integer"),
    "tune option unknown": ({"tune": {"options": {"lora_r": 8}}, **TUNED},
                            "openai has no fine-tuning option 'lora_r'"),
    "price_as unknown": ({"price_as": "unknown/x"}, "unknown model 'unknown/x'"),
    "budget below the floor": ({"max_cost_usd": 0.000001}, "the run costs at least $"),
    "out is a file": ({"out": "afile.txt"}, "afile.txt: is a file, not a folder"),
    "tuned model unknown": ({"tuned": "openai/", **TUNED},
                            "names no model after 'openai/'"),
    "base model empty": ({"model": "openai/"}, "names no model after 'openai/'"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_dry_run_fails_exactly_when_the_real_run_would(task, server, capsys, name):
    changes, fragment = BAD[name]
    config = {"train": "train.jsonl", "eval": "eval.jsonl", "model": f"openai/{BASE}",
              "arms": ["zeroshot", "fewshot"], "metric": "json-fields", "out": "reports",
              "shots": 2, **changes}
    path = task / "compare.yaml"
    path.write_text(yaml.safe_dump(config))
    dry = run(capsys, "compare", "-c", path, "--dry-run")
    real = run(capsys, "compare", "-c", path, "--yes")
    assert dry[0] == real[0] == 2, (dry, real)
    dry_error = [line for line in dry[2].splitlines() if line.startswith("Error:")]
    real_error = [line for line in real[2].splitlines() if line.startswith("Error:")]
    assert dry_error == real_error and fragment in dry_error[0], (dry[2], real[2])
    assert "Traceback" not in dry[2] + real[2] and "Internal error" not in dry[2] + real[2]
    assert server.calls("POST", "/v1/chat/completions") == []
    assert server.calls("POST", "/v1/files") == [] and server.calls("POST", "/v1/fine_tuning/jobs") == []


def test_a_good_config_passes_both(task, server, capsys):
    path = task / "compare.yaml"
    path.write_text(yaml.safe_dump({"train": "train.jsonl", "eval": "eval.jsonl",
                                    "model": f"openai/{BASE}", "arms": ["zeroshot", "fewshot"],
                                    "metric": "json-fields", "out": "reports", "shots": 2,
                                    "max_cost_usd": 1.0}))
    code, out, err = run(capsys, "compare", "-c", path, "--dry-run", "--json")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["calls"] == 24 and plan["tune"] is None
    assert server.calls("POST", "/v1/chat/completions") == []
    code, out, err = run(capsys, "compare", "-c", path, "--json")
    assert code == 0, err
    assert len(server.calls("POST", "/v1/chat/completions")) == 24


def test_dry_run_shows_the_fine_tune_it_would_start(task, server, capsys):
    path = task / "compare.yaml"
    path.write_text(yaml.safe_dump({"train": "train.jsonl", "eval": "eval.jsonl",
                                    "model": f"openai/{BASE}", **TUNED,
                                    "metric": "json-fields", "out": "reports",
                                    "tune": {"epochs": 2, "options": {"suffix": "triage"}}}))
    code, out, err = run(capsys, "compare", "-c", path, "--dry-run", "--json")
    assert code == 0, err
    tune = json.loads(out)["tune"]
    assert tune["model"] == f"openai/{BASE}" and tune["options"] == {"suffix": "triage"}
    assert tune["hyperparameters"] == {"epochs": 2}
    assert tune["estimate"]["training_cost_usd"] > 0
    assert server.calls("POST", "/v1/files") == []


@pytest.mark.parametrize("args, fragment", [
    (["report", "cmp-x", "--out", "afile.txt"], "--out afile.txt: is a file, not a folder"),
    (["assess", "--out", "afile.txt/a.html"], "afile.txt is a file, so a.html cannot be written"),
    (["assess", "--out", "afile.txt"], "--out afile.txt: is a file, not a folder"),
    (["assess", "--from-run", "cmp-nope"], "no compare run 'cmp-nope'"),
    (["ask", "--model", "openai/", "hi"], "names no model after 'openai/'"),
])
def test_outputs_and_references_are_checked_before_any_work(task, server, capsys, monkeypatch,
                                                           args, fragment):
    monkeypatch.chdir(task)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = run(capsys, *args)
    assert code == 2, err
    assert fragment in err and "Internal error" not in err and "Traceback" not in err
    assert server.requests == [] or server.calls("POST", "/v1/chat/completions") == []
    assert not list(Path(task).glob("ftdecide-answers*"))  # asked nothing, saved nothing


def test_interactive_assess_rejects_a_mistyped_model_when_it_is_typed(monkeypatch, capsys):
    from ftdecide.assess import _questionnaire as qn
    from ftdecide.cli.assess import _model_check
    from ftdecide.pricing._catalog import load_catalog

    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    set_registry(Registry())
    check = _model_check(load_catalog())
    with pytest.raises(ValueError, match="gpt-4.1-minii"):
        check("gpt-4.1-minii", {})
    check("gpt-4.1-mini", {})  # a known alias passes
    typed = iter(["gpt-4.1-minii", "gpt-4.1-mini"])
    seen: list[str] = []

    def prompt(label, default):  # skips every optional question, types the model twice
        return next(typed) if "Which base model" in "".join(seen[-8:]) else ""

    answers = qn.ask(qn.Answers({"use_case.goal": "format"}), echo=seen.append, prompt=prompt,
                     validators={"costs.model": check})
    assert answers.values["costs.model"] == "gpt-4.1-mini"
    assert any("gpt-4.1-minii" in line for line in seen)  # said at once, then asked again
