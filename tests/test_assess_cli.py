"""``ftdecide assess`` through the real CLI: the acceptance scenarios with --answers and --json,
evidence from a real compare run (the real openai SDK over HTTP to the local test server, a real
run store) and a real training file, the interactive questions, Ctrl-C, and the exit codes.

Dates matter (OpenAI stops new fine-tuning jobs on 2027-01-06; gpt-4.1-mini shuts down on
2027-01-14), so every run passes ``--today`` and the scenarios stay true whenever they run.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from ftdecide.assess._decision import LABELS
from ftdecide.cli.main import cli, main
from ftdecide.testing import OpenAICompatibleServer

TODAY = "2026-11-28"
KEYS = ["recommendation", "confidence", "confidence_factors", "reasons", "costs", "risks", "next_steps", "evidence"]


def write(tmp_path, data, name="answers.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if name.endswith(".json") else yaml.safe_dump(data, sort_keys=False))
    return path


def assess(capsys, *args, today=TODAY):
    """Run ``ftdecide assess`` through main() (the exit codes users get): (code, stdout, stderr)."""
    argv = ["assess", *args] + (["--today", today] if today else [])
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assess_json(capsys, *args, today=TODAY) -> dict:
    code, out, err = assess(capsys, *args, "--json", today=today)
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == KEYS
    return data


def rules(data) -> dict:
    return {r["rule"]: r for r in data["reasons"]}


# -- the acceptance scenarios ------------------------------------------------------------------

FORMAT_TASK = {  # "a format task, few-shot tried at 0.70 against a target of 0.90, RAG not relevant,
    # 800 reviewed examples, gpt-4.1-mini, 2,000,000 requests a month with 1,800 prompt tokens now
    # and 150 after"
    "use_case": {"goal": "format", "knowledge_changes_often": False},
    "alternatives": {"few_shot": {"tried": True, "quality": 0.70}, "rag": {"tried": False},
                     "target_quality": 0.90},
    "costs": {"model": "gpt-4.1-mini", "examples_available": 800, "examples_reviewed": 800},
    "benefits": {"requests_per_month": 2_000_000, "prompt_tokens_now": 1800, "prompt_tokens_after": 150},
}

SCENARIOS = [
    # (name, answers, expected label, deciding rule)
    ("format task, unmeasured", FORMAT_TASK, "measure-first", "measure-first-promising"),
    ("knowledge changes weekly, RAG untried",
     {"use_case": {"goal": "task", "knowledge_changes_often": True},
      "alternatives": {"few_shot": {"tried": True, "quality": 0.6}, "rag": {"tried": False}},
      "costs": {"model": "gpt-4.1-mini", "examples_available": 300, "examples_reviewed": 300}},
     "try-rag", "try-rag-changing-knowledge"),
    ("6 examples", {"use_case": {"goal": "format"}, "costs": {"model": "gpt-4.1-mini", "examples_available": 6}},
     "collect-data", "collect-data-too-few"),
    ("untunable model", {"use_case": {"goal": "format"}, "costs": {"model": "gpt-5-mini"}},
     "not-tunable", "model-not-tunable"),
    ("nothing tried", {"use_case": {"goal": "style"},
                       "alternatives": {"few_shot": {"tried": False}, "rag": {"tried": False}},
                       "costs": {"model": "gpt-4.1-mini", "examples_available": 500, "examples_reviewed": 500}},
     "try-prompting", "try-prompting-nothing-tried"),
    ("nothing said about alternatives", {"use_case": {"goal": "style"}, "costs": {"model": "gpt-4.1-mini"}},
     "try-prompting", "try-prompting-nothing-tried"),
    ("few-shot meets the target", {"use_case": {"goal": "format"},
                                   "alternatives": {"few_shot": {"tried": True, "quality": 0.93},
                                                    "target_quality": 0.90},
                                   "costs": {"model": "gpt-4.1-mini"}},
     "keep-baseline", "keep-baseline-meets-target"),
]


@pytest.mark.parametrize("name,answers,label,rule", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_acceptance_scenarios(first_party, tmp_path, capsys, name, answers, label, rule):
    data = assess_json(capsys, "--answers", str(write(tmp_path, answers)))
    assert data["recommendation"] == label
    assert data["reasons"][0]["rule"] == rule
    assert data["confidence"] in ("low", "medium", "high")
    assert all(set(r) == {"rule", "text", "values"} for r in data["reasons"])
    assert data["next_steps"] and all(s["command"].startswith("ftdecide ") for s in data["next_steps"])


def test_format_task_measure_first_with_training_cost_payback_and_the_compare_line(first_party, tmp_path, capsys):
    answers = write(tmp_path, FORMAT_TASK)
    data = assess_json(capsys, "--answers", str(answers))
    reasons = rules(data)
    pays = reasons["pays-back"]
    # gpt-4.1-mini (catalog, 2026-11-01): training $5/1M; 800 examples × (150 + 100 output) tokens × 3 epochs
    assert pays["values"]["training_cost_usd"] == pytest.approx(800 * 250 * 3 * 5 / 1e6)
    # $0.40/$1.60 base, $0.80/$3.20 fine-tuned per 1M tokens, 100 output tokens (assumed, and said so)
    before = 2_000_000 * (1800 * 0.40 + 100 * 1.60) / 1e6
    after = 2_000_000 * (150 * 0.80 + 100 * 3.20) / 1e6
    assert pays["values"]["base_monthly_usd"] == pytest.approx(before)
    assert pays["values"]["tuned_monthly_usd"] == pytest.approx(after)
    assert pays["values"]["payback_months"] == pytest.approx(3.0 / (before - after), rel=1e-4)
    assert "pays back its $3.00 training" in pays["text"] and "0.0034 months" in pays["text"]
    costs = data["costs"]
    assert costs["training_cost_usd"] == pytest.approx(3.0)
    assert costs["monthly_before_usd"] == pytest.approx(1760) and costs["monthly_after_usd"] == pytest.approx(880)
    assert costs["shutdown"] == "2027-01-14" and costs["fine_tuning_closes"] == "2027-01-06"
    assert costs["pays_back_before_shutdown"] is True
    assert data["evidence"]["inputs"]["benefits.output_tokens"] == {"value": 100, "source": "default (not answered)"}
    commands = [s["command"] for s in data["next_steps"]]
    assert ("ftdecide compare --train train.jsonl --eval eval.jsonl --model openai/gpt-4.1-mini-2025-04-14 "
            "--tune --arms zeroshot,fewshot,finetuned --baseline fewshot --requests-per-month 2000000") in commands
    assert f"ftdecide assess --answers {answers} --from-run RUN" in commands
    assert {r["rule"] for r in data["risks"]} >= {"shutdown-horizon", "provider-fine-tuning-closing"}


def test_untunable_names_tunable_models(first_party, tmp_path, capsys):
    data = assess_json(capsys, "--answers", str(write(tmp_path, SCENARIOS[3][1])))
    reason = data["reasons"][0]
    assert "openai/gpt-4.1-mini-2025-04-14" in reason["values"]["tunable_alternatives"]
    assert "azure/gpt-4.1-mini" in reason["values"]["tunable_elsewhere"]
    assert "Tunable models from openai: openai/gpt-4.1-2025-04-14" in reason["text"]
    assert any(s["command"].startswith("ftdecide estimate train.jsonl --model openai/gpt-4.1")
               for s in data["next_steps"])


def test_after_openai_closes_fine_tuning_recommends_another_provider(first_party, tmp_path, capsys):
    data = assess_json(capsys, "--answers", str(write(tmp_path, FORMAT_TASK)), today="2027-01-10")
    assert data["recommendation"] == "not-tunable"
    reason = data["reasons"][0]
    assert reason["rule"] == "provider-fine-tuning-closed"
    assert "azure/gpt-4.1-mini" in reason["text"]
    assert all(not m.startswith("openai/") for m in reason["values"]["tunable_elsewhere"])
    # and once the model itself is gone
    gone = assess_json(capsys, "--answers", str(write(tmp_path, FORMAT_TASK)), today="2027-02-01")
    assert gone["reasons"][0]["rule"] == "model-shut-down"
    assert "was shut down on 2027-01-14" in gone["reasons"][0]["text"]


def test_retiring_before_payback(first_party, tmp_path, capsys):
    low_volume = json.loads(json.dumps(FORMAT_TASK))
    low_volume["benefits"]["requests_per_month"] = 2_000   # saves ~$0.88 a month against $3 of training
    data = assess_json(capsys, "--answers", str(write(tmp_path, low_volume)))
    assert (data["recommendation"], data["reasons"][0]["rule"]) == ("not-tunable", "retires-before-payback")
    values = data["reasons"][0]["values"]
    assert values["payback_months"] > values["months_to_shutdown"]
    assert "azure/gpt-4.1-mini" in values["tunable_elsewhere"]


def test_cost_goal_where_the_premium_eats_the_saving(first_party, tmp_path, capsys):
    answers = {"use_case": {"goal": "cost"}, "alternatives": {"few_shot": {"tried": True, "quality": 0.8}},
               "costs": {"model": "gpt-4.1-mini", "examples_available": 500, "examples_reviewed": 500},
               "benefits": {"requests_per_month": 100_000, "prompt_tokens_now": 400, "prompt_tokens_after": 300,
                            "output_tokens": 500}}
    data = assess_json(capsys, "--answers", str(write(tmp_path, answers)))
    assert data["recommendation"] == "keep-baseline"
    assert data["reasons"][0]["rule"] == "cost-goal-no-saving"
    assert "premium-exceeds-savings" in rules(data)
    assert "a fine-tuned token costs 2× a base one" in rules(data)["premium-exceeds-savings"]["text"]


def test_json_answers_and_human_output(first_party, tmp_path, capsys):
    path = write(tmp_path, FORMAT_TASK, "answers.json")
    code, out, err = assess(capsys, "--answers", str(path))
    assert code == 0, err
    for heading in ("Recommendation: measure-first", "Why", "Costs: openai/gpt-4.1-mini-2025-04-14", "Risks",
                    "Next steps", "Evidence (where each input came from)"):
        assert heading in out
    assert "[pays-back, supports]" in out and "$ ftdecide compare" in out
    assert re.search(r"benefits\.output_tokens\s+100\s+default \(not answered\)", out)


BAD_FILES = [
    ({"use_case": {"goal": "format"}, "costs": {"model": "gpt-4.1-mini", "gpus": 8}}, "costs.gpus", 5),
    ({"use_case": {"goal": "format"}, "costs": {"model": "gpt-4.1-mini", "examples_available": "lots"}},
     "costs.examples_available", 5),
    ({"use_case": {"goal": "format"}, "alternatives": {"target_quality": 90},
      "costs": {"model": "gpt-4.1-mini"}}, "alternatives.target_quality", 4),
    ({"use_case": {"goal": "format"}, "costs": {"model": "gpt-4.2-maxi"}}, "costs.model", None),
    ({"use_case": {"goal": "format"}, "costs": {"model": "gpt-4.1-mini", "provider": "nope"}},
     "costs.provider", None),
]


@pytest.mark.parametrize("answers,key,line", BAD_FILES, ids=[b[1] for b in BAD_FILES])
def test_bad_answers_exit_2_naming_the_key(first_party, tmp_path, capsys, answers, key, line):
    path = write(tmp_path, answers)
    code, out, err = assess(capsys, "--answers", str(path), "--json")
    assert code == 2
    error = json.loads(out)["error"]  # --json: the error as one object on stdout too
    assert error["key"] == key and error["line"] == line and error["file"] == str(path)
    assert key in err and "Traceback" not in err
    assert (f"{path}:{line}:" if line else str(path)) in err


def test_unknown_model_suggests_close_ones(first_party, tmp_path, capsys):
    code, _, err = assess(capsys, "--answers", str(write(tmp_path, BAD_FILES[3][0])))
    assert code == 2 and "costs.model: unknown model 'gpt-4.2-maxi'" in err and "did you mean" in err


# -- evidence: a real compare run and a real training file ----------------------------------------

BASE = "gpt-4.1-mini-2025-04-14"
CATS = ("billing", "account", "technical")


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [{"role": "system", "content": "Classify the ticket as JSON."},
                         {"role": "user", "content": f"ticket {i} about {cat}"},
                         {"role": "assistant", "content": json.dumps({"category": cat})}]}


def _rule(request: dict) -> str:
    """The fine-tuned model is always right; the base model only on even ticket numbers."""
    number, cat = re.search(r"ticket (\d+) about (\w+)", request["messages"][-1]["content"]).groups()
    if request["model"].startswith("ft:") or int(number) % 2 == 0:
        return json.dumps({"category": cat})
    return f"probably {cat}"


@pytest.fixture
def task(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(_example(i)) + "\n" for i in range(60)))
    ev = tmp_path / "eval.jsonl"
    ev.write_text("".join(json.dumps(_example(i)) + "\n" for i in range(100, 124)))
    return tmp_path


def compare_run(task, monkeypatch, shots: int, loss=None) -> dict:
    """gpt-4.1-mini fine-tuned inside a compare run (upload, job, polls) and measured against
    few-shot on 24 eval items, all through the real openai SDK and the local server
    (``loss``: the loss the job reports per step, to script a tune that does not learn)."""
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0.01")
    with OpenAICompatibleServer(responder=_rule, models=(BASE,)) as server:
        if loss is not None:
            server.loss = loss
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-assess")
        result = CliRunner().invoke(cli, [
            "compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
            "--model", f"openai/{BASE}", "--tune", "--yes", "--arms", "fewshot,finetuned",
            "--metric", "json-fields", "--shots", str(shots), "--requests-per-month", "2000000",
            "--out", str(task / "reports"), "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    monkeypatch.delenv("OPENAI_BASE_URL")
    return json.loads(result.stdout)


@pytest.fixture
def measured_run(task, monkeypatch, first_party):
    """8 shots: the few-shot prompt is long enough that the fine-tune's short prompt pays back."""
    return compare_run(task, monkeypatch, shots=8)


def test_from_run_measurements_override_answers_and_decide_fine_tune(measured_run, task, capsys):
    run_id = measured_run["run_id"]
    answers = write(task, FORMAT_TASK)
    out_dir = task / "assessment"
    data = assess_json(capsys, "--answers", str(answers), "--from-run", run_id, "--out", str(out_dir))
    assert data["recommendation"] == "fine-tune"
    decisive = data["reasons"][0]
    assert decisive["rule"] == "fine-tune-measured-gain"
    arms = measured_run["arms"]
    assert decisive["values"]["ft_quality"] == pytest.approx(arms["finetuned"]["quality"]["mean"]) == 1.0
    assert decisive["values"]["baseline_quality_measured"] == pytest.approx(0.5)
    assert decisive["values"]["ft_diff_low"] > 0
    assert f"Measured in run {run_id}" in decisive["text"]
    ev = data["evidence"]
    few = ev["inputs"]["alternatives.few_shot.quality"]
    assert few["value"] == pytest.approx(0.5) and few["answered"] == 0.7
    assert few["source"] == f"run {run_id}: arm fewshot, n = 24"
    tokens = ev["inputs"]["benefits.prompt_tokens_now"]
    assert tokens["value"] == pytest.approx(arms["fewshot"]["tokens"]["input_mean"]) and tokens["answered"] == 1800
    after = ev["inputs"]["benefits.prompt_tokens_after"]
    assert after["value"] == pytest.approx(arms["finetuned"]["tokens"]["input_mean"]) and after["answered"] == 150
    assert ev["inputs"]["costs.model"]["source"] == f"run {run_id}: base model"
    assert "answered" not in ev["inputs"]["costs.model"]  # the same model, spelt differently
    assert ev["inputs"]["benefits.requests_per_month"]["source"].startswith("answers ")
    assert {o["key"] for o in ev["overridden"]} >= {"alternatives.few_shot.quality", "benefits.prompt_tokens_now",
                                                    "benefits.prompt_tokens_after", "costs.examples_available"}
    assert ev["inputs"]["costs.examples_available"] == {"value": 60, "source": f"run {run_id}: training set "
                                                        f"{task / 'train.jsonl'}", "answered": 800}
    tuned = measured_run["training"]["model"]
    assert ev["run"]["run_id"] == run_id and ev["run"]["tuned_model"] == tuned
    # the training cost is the one the run paid
    assert data["costs"]["training_cost_usd"] == pytest.approx(measured_run["training"]["actual_cost_usd"])
    assert data["costs"]["training_cost_source"] == (f"run {run_id}: actual cost of job "
                                                     f"{measured_run['training']['job_id']}")
    # one report: the assessment and the comparison
    html = (out_dir / "assessment.html").read_text()
    for section in ('id="recommendation"', 'id="why"', 'id="evidence"', 'id="verdict"', 'id="arms"',
                    'id="items"', 'id="provenance"'):
        assert section in html
    assert json.loads((out_dir / "assessment.json").read_text()) == data
    for text in (json.dumps(data), html):
        assert "sk-test-SECRET" not in text
    commands = [s["command"] for s in data["next_steps"]]
    assert any("--fail-under finetuned:0" in c and f"--tuned {tuned}" in c for c in commands)


def test_from_run_without_a_fine_tune_uses_the_measured_baseline(task, monkeypatch, first_party, capsys):
    """A run of zero-shot and few-shot only: its few-shot quality (0.5: the server is right on even
    tickets) replaces the answer, meets a 0.45 target, and nothing needs tuning."""
    with OpenAICompatibleServer(responder=_rule, models=(BASE,)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-assess")
        result = CliRunner().invoke(cli, [
            "compare", "--train", str(task / "train.jsonl"), "--eval", str(task / "eval.jsonl"),
            "--model", f"openai/{BASE}", "--arms", "zeroshot,fewshot", "--metric", "json-fields",
            "--out", str(task / "reports"), "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    answers = {"use_case": {"goal": "task"},
               "alternatives": {"few_shot": {"tried": True, "quality": 0.3}, "target_quality": 0.45},
               "costs": {"model": "gpt-4.1-mini"}}
    data = assess_json(capsys, "--answers", str(write(task, answers)), "--from-run", run["run_id"])
    assert (data["recommendation"], data["reasons"][0]["rule"]) == ("keep-baseline", "keep-baseline-meets-target")
    assert data["reasons"][0]["values"]["best_baseline_quality"] == pytest.approx(0.5)
    assert data["evidence"]["inputs"]["alternatives.few_shot.quality"]["answered"] == 0.3
    assert data["evidence"]["run"]["arms"]["fewshot"]["cost_per_1k_usd"] == pytest.approx(
        run["arms"]["fewshot"]["cost_per_1k_usd"])
    assert data["next_steps"] == [{"command": f"ftdecide report {run['run_id']}",
                                   "why": "the comparison that supports keeping the baseline, to share"}]


def test_measured_gain_that_costs_more_each_month(task, monkeypatch, first_party, capsys):
    """2 shots: the fine-tune is better, but its per-token premium outweighs the few prompt tokens
    it saves, so it is a fine-tune for quality, at a price the reason states."""
    run = compare_run(task, monkeypatch, shots=2)
    data = assess_json(capsys, "--answers", str(write(task, FORMAT_TASK)), "--from-run", run["run_id"])
    assert (data["recommendation"], data["confidence"]) == ("fine-tune", "low")
    decisive = data["reasons"][0]
    assert decisive["rule"] == "fine-tune-measured-gain-at-a-cost"
    costs = data["costs"]
    assert costs["monthly_after_usd"] > costs["monthly_before_usd"] and costs["payback_months"] is None
    assert f"{fmt_money(costs['monthly_after_usd'])} a month against {fmt_money(costs['monthly_before_usd'])}" \
        in decisive["text"]
    assert "premium-exceeds-savings" in rules(data)


def fmt_money(value: float) -> str:
    from ftdecide.report._format import money

    return money(value)


def test_train_file_is_validated_and_priced(first_party, task, capsys):
    answers = write(task, {"use_case": {"goal": "format"},
                           "alternatives": {"few_shot": {"tried": True, "quality": 0.7}, "target_quality": 0.9},
                           "costs": {"model": "gpt-4.1-mini", "examples_available": 1000, "examples_reviewed": 60},
                           "benefits": {"requests_per_month": 500_000}})
    train = task / "train.jsonl"
    data = assess_json(capsys, "--answers", str(answers), "--train", str(train))
    ev = data["evidence"]
    assert ev["train"]["valid"] and ev["train"]["examples"] == 60
    assert ev["inputs"]["costs.examples_available"] == {"value": 60, "source": f"{train}: valid examples (validate)",
                                                        "answered": 1000}
    # the cookbook estimate, as `ftdecide estimate` prices it
    est = json.loads(CliRunner().invoke(cli, ["estimate", str(train), "--model", "gpt-4.1-mini", "--json"]).stdout)
    assert data["costs"]["training_cost_usd"] == pytest.approx(est["training_cost_usd"])
    assert data["costs"]["training_cost_source"].startswith(f"{train}: cookbook estimate")
    assert ev["inputs"]["benefits.prompt_tokens_after"]["source"] == f"{train}: mean prompt tokens of its examples"
    assert ev["inputs"]["benefits.prompt_tokens_now"]["source"] == f"{train}: a 4-shot prompt built from it (estimate)"
    assert "training-set-checked" in rules(data)
    assert data["recommendation"] == "measure-first"
    assert any(s["command"].startswith(f"ftdecide compare --train {train} ") for s in data["next_steps"])


def test_invalid_train_file_means_collect_data(first_party, task, capsys):
    bad = task / "bad.jsonl"
    bad.write_text("".join(json.dumps(_example(i)) + "\n" for i in range(20)) + '{"messages": [\n')
    answers = write(task, {"use_case": {"goal": "format"}, "costs": {"model": "gpt-4.1-mini"},
                           "alternatives": {"few_shot": {"tried": True, "quality": 0.5}}})
    data = assess_json(capsys, "--answers", str(answers), "--train", str(bad))
    assert data["recommendation"] == "collect-data"
    assert data["reasons"][0]["rule"] == "collect-data-invalid-train"
    assert "1 example(s) fail the checks (invalid_json)" in data["reasons"][0]["text"]


def test_from_run_unknown_run_exits_2(first_party, tmp_path, capsys):
    code, _, err = assess(capsys, "--answers", str(write(tmp_path, FORMAT_TASK)), "--from-run", "cmp-nope")
    assert code == 2 and "no compare run 'cmp-nope'" in err


# -- the property: any valid answers give one label and a trace ------------------------------------

from test_questionnaire import ANSWERS  # noqa: E402


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answers=ANSWERS)
def test_any_valid_answers_give_a_label_and_a_trace(first_party, answers):
    import datetime as _dt

    from ftdecide.assess._assessment import assess as run
    from ftdecide.assess._questionnaire import validate
    from ftdecide.pricing._catalog import load_catalog

    result = run(validate(answers, origin="interactive"), catalog=load_catalog(),
                 today=_dt.date(2026, 11, 28)).to_json()
    assert result["recommendation"] in LABELS
    assert result["reasons"] and result["reasons"][0]["rule"]
    json.dumps(result, allow_nan=False)


# -- interactive ----------------------------------------------------------------------------------

ANSWERS_TYPED = "\n".join([
    "format", "tickets to JSON", "no",   # use case
    "yes", "0.7", "no", "0.9",           # alternatives (rag quality not asked)
    "", "gpt-4.1-mini", "800", "800", "yes", "yes", "", "",   # costs (budget, label cost: skipped)
    "2000000", "1800", "150", "", "no",  # benefits
]) + "\n"


def test_interactive_answers_through_the_prompts(first_party, tmp_path):
    saved = tmp_path / "saved.yaml"
    result = CliRunner().invoke(cli, ["assess", "--json", "--today", TODAY, "--save-answers", str(saved)],
                                input=ANSWERS_TYPED, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # prompts went to stderr: stdout is only the JSON
    assert data["recommendation"] == "measure-first"
    assert data["evidence"]["answers"]["origin"] == "interactive"
    assert data["evidence"]["inputs"]["use_case.goal"]["source"] == "interactive"
    assert "What should fine-tuning improve?" in result.stderr and "— Alternatives tried —" in result.stderr
    again = yaml.safe_load(saved.read_text())
    assert again["benefits"]["prompt_tokens_now"] == 1800 and again["alternatives"]["rag"] == {"tried": False}
    assert "output_tokens" in again["benefits"]  # typed as the default, kept
    # the saved file gives the same assessment
    rerun = CliRunner().invoke(cli, ["assess", "--answers", str(saved), "--json", "--today", TODAY])
    texts = [(r["rule"], r["text"]) for r in data["reasons"]]
    assert [(r["rule"], r["text"]) for r in json.loads(rerun.stdout)["reasons"]] == texts


class _InterruptAfter(io.RawIOBase):
    """Standard input that gives ``data`` and then behaves as if Ctrl-C was pressed."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.data:
            raise KeyboardInterrupt
        n = min(len(buffer), len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


def test_ctrl_c_saves_the_answers_so_far(first_party, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    stdin = io.BufferedReader(_InterruptAfter(b"format\ntickets\nno\nyes\n"))
    result = CliRunner().invoke(cli, ["assess", "--today", TODAY], input=stdin)
    assert result.exit_code == 130
    saved = tmp_path / "ftdecide-answers.partial.yaml"
    assert f"4 answers saved to {saved.name}" in result.stderr
    assert f"continue with: ftdecide assess --answers {saved.name} --ask" in result.stderr
    partial = yaml.safe_load(saved.read_text())
    assert partial == {"use_case": {"goal": "format", "description": "tickets", "knowledge_changes_often": False},
                       "alternatives": {"few_shot": {"tried": True}}}
    assert "stopped at alternatives.few_shot.quality" in saved.read_text()
    # continue where it stopped: only the questions left are asked
    rest = "\n".join(["0.7", "no", "0.9", "", "gpt-4.1-mini", "800", "800", "yes", "yes", "", "",
                      "2000000", "1800", "150", "", "no"]) + "\n"
    done = CliRunner().invoke(cli, ["assess", "--answers", saved.name, "--ask", "--json", "--today", TODAY],
                              input=rest)
    assert done.exit_code == 0, done.output
    assert "What should fine-tuning improve?" not in done.stderr
    assert json.loads(done.stdout)["recommendation"] == "measure-first"
    # a second interruption does not overwrite the first file
    again = CliRunner().invoke(cli, ["assess", "--today", TODAY], input=io.BufferedReader(_InterruptAfter(b"cost\n")))
    assert again.exit_code == 130 and (tmp_path / "ftdecide-answers.partial-2.yaml").exists()


def test_end_of_input_is_a_usage_error_that_keeps_the_answers(first_party, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO("format\n"))
    code, out, err = assess(capsys, "--save-answers", "mine.yaml")
    assert code == 2 and out == ""
    assert "the input ended at the question use_case.description; 1 answer saved to mine.yaml" in err
    assert yaml.safe_load((tmp_path / "mine.yaml").read_text()) == {"use_case": {"goal": "format"}}


def test_ask_needs_answers(capsys):
    code, _, err = assess(capsys, "--ask")
    assert code == 2 and "--ask completes an answers file" in err


def test_help_has_examples():
    result = CliRunner().invoke(cli, ["assess", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.stdout and "--from-run" in result.stdout


def test_real_process_ctrl_c_saves_answers(tmp_path):
    """A real ``ftdecide assess`` process interrupted with SIGINT while it waits for an answer."""
    env = {**os.environ, "FTDECIDE_LOAD_PLUGINS": "openai", "FTDECIDE_CONFIG_DIR": str(tmp_path / "cfg"),
           "FTDECIDE_DATA_DIR": str(tmp_path / "data"), "PYTHONUNBUFFERED": "1"}
    exe = Path(sys.executable).parent / "ftdecide"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "ftdecide"]
    proc = subprocess.Popen(cmd + ["assess", "--today", TODAY], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdin.write("task\nsort tickets\n")
        proc.stdin.flush()
        saved = tmp_path / "ftdecide-answers.partial.yaml"
        err = ""
        deadline = time.monotonic() + 60
        while "knowledge the answers depend on" not in err:  # it is waiting at the third question
            line = proc.stderr.readline()
            assert line, "the process ended before the third question"
            err += line
            assert time.monotonic() < deadline, err
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err += rest
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"2 answers saved to {saved.name}" in err
    assert yaml.safe_load(saved.read_text()) == {"use_case": {"goal": "task", "description": "sort tickets"}}


def test_readme_answers_example_runs(first_party, tmp_path, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in readme.split("```yaml\n")[1:] if b.startswith("# answers.yaml"))
    path = tmp_path / "answers.yaml"
    path.write_text(block.split("```")[0])
    data = assess_json(capsys, "--answers", str(path))
    assert data["recommendation"] == "measure-first"
    assert data["evidence"]["answers"]["values"]["costs"]["budget_usd"] == 50


def test_azure_hosting_by_the_hour_is_counted(first_party, tmp_path, capsys):
    answers = json.loads(json.dumps(FORMAT_TASK))
    answers["costs"]["provider"] = "azure"
    data = assess_json(capsys, "--answers", str(write(tmp_path, answers)))
    costs = data["costs"]
    assert costs["model"] == "azure/gpt-4.1-mini"
    assert costs["hosting_monthly_usd"] == pytest.approx(1.70 * 730)
    # Azure bills fine-tuned tokens at base rates: 150 + 100 tokens at $0.40/$1.60, plus hosting
    assert costs["monthly_after_usd"] == pytest.approx(2_000_000 * (150 * 0.40 + 100 * 1.60) / 1e6 + 1241)
    assert costs["shutdown"] is None and costs["fine_tuning_closes"] is None
    assert "provider-fine-tuning-closing" not in rules(data)
    # at a quarter of the volume the tokens saved no longer pay the hosting
    answers["benefits"]["requests_per_month"] = 500_000
    small = assess_json(capsys, "--answers", str(write(tmp_path, answers)))
    hosting = rules(small)["hosting-eats-savings"]
    assert "costs $1,241 a month, billed by the hour" in hosting["text"]
    assert hosting["values"]["break_even_requests_per_month"] == small["costs"]["break_even_requests_per_month"]
    assert "hosting-eats-savings" in {r["rule"] for r in small["risks"]}


def test_local_open_weights_cost_nothing_to_pay_back(first_party, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai,azure,hf")
    from ftdecide.plugins import Registry, set_registry

    set_registry(Registry())
    answers = json.loads(json.dumps(FORMAT_TASK))
    answers["costs"]["model"] = "hf/smollm2-135m"
    code, out, err = assess(capsys, "--answers", str(write(tmp_path, answers)))
    assert code == 0, err
    assert "payback                  nothing to pay back" in out
    assert "premium-exceeds-savings" not in out


def test_from_run_with_an_underfit_tune_is_measure_first(task, monkeypatch, first_party, capsys):
    """The job's loss barely moves: the run's fine-tuned arm says nothing about fine-tuning,
    whatever it scored, so the decision is to tune longer and measure again."""
    run = compare_run(task, monkeypatch, shots=8, loss=lambda step: 2.5 + 0.01 * (step % 2))
    assert run["training"]["learned"]["verdict"] == "underfit"
    assert "the fine-tune underfit" in run["verdict"] and "tune longer first" in run["verdict"]
    data = assess_json(capsys, "--answers", str(write(task, FORMAT_TASK)), "--from-run",
                       run["run_id"])
    assert data["recommendation"] == "measure-first"
    decisive = data["reasons"][0]
    assert decisive["rule"] == "measure-first-tune-underfit"
    assert "underfit" in decisive["text"] and "ftdecide tune" in decisive["text"]
