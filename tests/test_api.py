"""The Python API (``ftdecide.validate``, ``estimate``, ``compare`` …): the same figures as the
CLI's ``--json``, pandas views built from the rows the exports are written from, HTML for
notebooks escaped like the report, and an ``import ftdecide`` that stays light.

The compare runs answer through the real openai SDK over HTTP from the local
server, which knows the bundled triage example's answers
(:func:`ftdecide.testing.answer_key`); the run store is a real SQLite file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import ftdecide
from ftdecide.cli.main import cli
from ftdecide.data._tokens import count_messages
from ftdecide.errors import DataError, UsageError
from ftdecide.examples import EXAMPLES_DIR
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer, answer_key

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = EXAMPLES_DIR / "triage"
BASE = "openai/gpt-4o-mini-2024-07-18"
N_EVAL = 8
HEAVY = ("torch", "transformers", "pandas", "numpy", "sklearn", "scipy", "openai", "jinja2")


@pytest.fixture
def server():
    with OpenAICompatibleServer(responder=answer_key(EXAMPLE / "eval.jsonl")) as s:
        yield s


@pytest.fixture
def env(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-api")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    monkeypatch.setenv("FTDECIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0")
    monkeypatch.chdir(tmp_path)
    set_registry(Registry())
    yield tmp_path
    set_registry(Registry())


def cli_json(*args: str, expect: int = 0) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return json.loads(result.stdout)


KEYS = dict(train=str(EXAMPLE / "train.jsonl"), eval=str(EXAMPLE / "eval.jsonl"),
            corpus=str(EXAMPLE / "corpus"), model=BASE, arms="zeroshot,fewshot,rag",
            metric="json-fields", eval_limit=N_EVAL, top_k=1, shots=2)


def cli_compare_args(out: Path, *extra: str) -> list[str]:
    return ["compare", "--train", KEYS["train"], "--eval", KEYS["eval"], "--corpus", KEYS["corpus"],
            "--model", BASE, "--arms", KEYS["arms"], "--metric", "json-fields", "--eval-limit",
            str(N_EVAL), "--top-k", "1", "--shots", "2", "--out", str(out), *extra]


# -- import cost and names -----------------------------------------------------------------------

def test_import_ftdecide_pulls_in_nothing_heavy():
    code = textwrap.dedent(f"""
        import sys, ftdecide
        print("AFTER_IMPORT", [m for m in {HEAVY!r} + ("ftdecide.api",) if m in sys.modules])
        assert callable(ftdecide.compare) and callable(ftdecide.validate)
        import ftdecide.api
        print("AFTER_API", [m for m in {HEAVY!r} if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "AFTER_IMPORT []" in out.stdout, out.stdout
    assert "AFTER_API []" in out.stdout, out.stdout


def test_api_names_are_public_and_shared_names_are_both_function_and_subpackage():
    for name in ("validate", "estimate", "audit", "compare", "load_run", "assess", "tune", "Run",
                 "Estimate", "ValidationReport", "Assessment", "Job", "AuditReport"):
        assert name in ftdecide.__all__ and getattr(ftdecide, name) is not None
    import ftdecide.compare as cmp
    import ftdecide.tune as tuning
    from ftdecide.compare import RunStore

    # the subpackages stay importable and usable under the same names as the functions
    assert cmp.RunStore is RunStore and callable(tuning.plan)
    assert callable(ftdecide.compare) and callable(ftdecide.assess)
    assert "items_format" in str(__import__("inspect").signature(ftdecide.compare))
    assert "bundled example" in (ftdecide.compare.__doc__ or "")


# -- validate, audit, estimate ---------------------------------------------------------------------

def test_validate_equals_the_cli_json_and_lists_each_error(env, tmp_path):
    good = ftdecide.validate(EXAMPLE / "train.jsonl", model=BASE)
    assert good.valid and good.to_dict() == cli_json("validate", str(EXAMPLE / "train.jsonl"),
                                                     "--model", BASE)
    bad = tmp_path / "bad.jsonl"
    lines = [json.dumps({"messages": [{"role": "user", "content": "hi"},
                                      {"role": "assistant", "content": "ok"}]})] * 12
    lines[3] = '{"messages": [{"role": "user", "content": "<script>alert(1)</script>"'  # cut off
    lines[5] = json.dumps({"messages": [{"role": "robot", "content": "x"}]})
    bad.write_text("\n".join(lines) + "\n")
    report = ftdecide.validate(bad)
    assert not report.valid
    assert report.to_dict() == cli_json("validate", str(bad), expect=2)
    frame = report.errors()
    errors = frame[frame["kind"] == "error"]
    assert set(errors["category"]) >= {"invalid_json", "unrecognized_role"}
    assert errors.loc[errors["category"] == "invalid_json", "line"].tolist() == [4]
    assert errors["advice"].notna().all()
    html = report._repr_html_()
    assert "INVALID" in html and "<script>alert" not in html


def test_audit_equals_the_cli_json(env):
    report = ftdecide.audit(EXAMPLE / "train.jsonl", EXAMPLE / "eval.jsonl")
    assert report.to_dict() == cli_json("audit", str(EXAMPLE / "train.jsonl"), "--eval",
                                        str(EXAMPLE / "eval.jsonl"))


def test_estimate_equals_the_cli_json_and_refuses_what_the_cli_refuses(env):
    est = ftdecide.estimate(EXAMPLE / "train.jsonl", BASE, requests_per_month=100_000, shots=3)
    assert est.to_dict() == cli_json("estimate", str(EXAMPLE / "train.jsonl"), "--model", BASE,
                                     "--requests-per-month", "100000", "--shots", "3")
    assert est.training_cost_usd == est["training_cost_usd"] > 0
    row = est.to_pandas().iloc[0]
    assert row["economics.payback_months"] == est["economics"]["payback_months"]
    html = est._repr_html_()
    assert "training cost" in html and "payback" in html
    with pytest.raises(UsageError, match="prompt_tokens= is used only for the inference economics"):
        ftdecide.estimate(EXAMPLE / "train.jsonl", BASE, prompt_tokens=100)
    with pytest.raises(DataError):
        ftdecide.estimate(env / "missing.jsonl", BASE)


# -- compare -----------------------------------------------------------------------------------

def test_run_to_dict_is_the_cli_json_and_the_views_agree_with_the_exports(env, server):
    data = cli_json(*cli_compare_args(env / "reports"))
    run = ftdecide.load_run(data["run_id"])
    assert run.to_dict() == data  # the --json of the same run, field for field
    assert run.report == data["report"]
    # the views: one row per item x arm, tokens as the server counted them, cost per arm
    items = run.items()
    assert run.to_pandas().equals(items)
    arms = list(data["arms"])
    assert len(items) == N_EVAL * len(arms) and list(items["arm"].unique()) == arms
    posts = server.calls("POST", "/v1/chat/completions")
    assert sorted(items["input_tokens"]) == sorted(count_messages(p.json["messages"])
                                                   for p in posts)
    for arm, a in data["arms"].items():
        rows = items[items["arm"] == arm]
        assert rows["score"].mean() == pytest.approx(a["quality"]["mean"])
        assert rows["input_tokens"].mean() == pytest.approx(a["tokens"]["input_mean"])
        assert rows["cost_usd"].mean() * 1000 == pytest.approx(a["cost_per_1k_usd"])
        assert not rows["cached"].any()
    table = run.arms().set_index("arm")
    assert list(table.index) == arms
    assert table.loc["zeroshot", "quality"] == data["arms"]["zeroshot"]["quality"]["mean"]
    assert table.loc["fewshot", "baseline"] and table.loc["zeroshot", "vs_baseline"] == \
        data["arms"]["zeroshot"]["vs_baseline"]["diff"]
    assert "economics.monthly_inference_usd" in table.columns  # every figure of an arm, flattened
    # items.csv is pivoted from the same rows
    rows = list(csv.reader(io.StringIO(Path(data["report"]).with_name("items.csv").read_text())))
    assert len(rows) == 1 + N_EVAL
    for row in rows[1:]:
        for k, arm in enumerate(arms):
            cell = items[(items["id"] == row[0]) & (items["arm"] == arm)].iloc[0]
            assert row[3 + 2 * k] == cell["answer"] and float(row[4 + 2 * k]) == cell["score"]


def test_compare_from_python_gets_the_cli_figures(env):
    run = ftdecide.compare(progress=False, use_cache=False, out=str(env / "py"), **KEYS)
    data = cli_json(*cli_compare_args(env / "cli", "--no-cache"))
    assert run.run_id != data["run_id"]
    for arm, a in data["arms"].items():
        mine = run.to_dict()["arms"][arm]
        for key in ("quality", "vs_baseline", "tokens", "cost_per_1k_usd", "monthly_cost_usd",
                    "calls", "cached_calls"):
            assert mine[key] == a[key], (arm, key)
    assert run["verdict"] == data["verdict"] and Path(run.report).is_file()
    assert run.outcome.new_calls == N_EVAL * 3 and run.config.eval_limit == N_EVAL
    # a mapping config, with keys that override it, is the same run
    again = ftdecide.compare({**KEYS, "arms": "zeroshot"}, arms="zeroshot,fewshot",
                             progress=False, write_report=False)
    assert list(again.to_dict()["arms"]) == ["zeroshot", "fewshot"] and again.report is None
    assert again.outcome.cached_calls == 2 * N_EVAL  # answered from the first run's cache


def test_compare_errors_are_the_cli_exceptions(env):
    with pytest.raises(UsageError, match="missing 'model'"):
        ftdecide.compare(train=KEYS["train"], eval=KEYS["eval"], progress=False)
    with pytest.raises(UsageError, match="no bundled example"):
        ftdecide.compare(example="nope")
    with pytest.raises(UsageError, match="no compare run"):
        ftdecide.load_run("cmp-20000101-000000")


def test_a_run_hands_through_blocks_it_does_not_know_and_curve_needs_one(env):
    data = cli_json(*cli_compare_args(env / "reports"))
    run = ftdecide.load_run(data["run_id"])
    with pytest.raises(UsageError, match="no learning curve"):
        run.curve()
    results = dict(run.results)
    results["serving"] = {"engine": "vllm", "concurrency": 4}
    results["learning_curve"] = {"arm": "finetuned", "points": [
        {"examples": 50, "quality": 0.4, "ci_low": 0.3, "ci_high": 0.5},
        {"examples": 100, "quality": 0.55, "ci_low": 0.45, "ci_high": 0.65}]}
    results["arms"]["rag"]["judge"] = {"mean": 0.7}
    results["items"][0]["outputs"]["rag"]["judge_score"] = 0.9
    newer = ftdecide.Run.from_results(results)
    assert newer["serving"] == {"engine": "vllm", "concurrency": 4} and "serving" in newer
    curve = newer.curve()
    assert curve["examples"].tolist() == [50, 100] and curve["quality"].tolist() == [0.4, 0.55]
    assert newer.arms().set_index("arm").loc["rag", "judge.mean"] == 0.7
    items = newer.items()
    assert items.loc[(items["arm"] == "rag"), "judge_score"].iloc[0] == 0.9
    # results the report cannot show still display (escaped text), never a traceback
    broken = {**results, "task": {"name": "<b>x</b>"}, "arms": {
        k: {kk: vv for kk, vv in a.items() if kk != "quality" or k != "rag"}
        for k, a in results["arms"].items()}}
    html = ftdecide.Run(newer.to_dict(), broken)._repr_html_()
    assert html.startswith("<pre>") and "<b>" not in html


def test_run_html_is_the_report_table_escaped(env, server):
    server.responder = lambda request: "<script>window.__pwned = 1</script>"
    run = ftdecide.compare(progress=False, task="<script>alert(1)</script>", **KEYS)
    html = run._repr_html_()
    assert 'class="arms"' in html and "few-shot" in html  # the report's own arms table
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert run.items()["answer"].iloc[0] == "<script>window.__pwned = 1</script>"  # data as given


# -- the items export: csv always, parquet on request ------------------------------------------

def test_format_parquet_writes_the_items_rows(env):
    pq = pytest.importorskip("pyarrow.parquet")
    data = cli_json(*cli_compare_args(env / "reports", "--format", "parquet"))
    folder = Path(data["report"]).parent
    assert (folder / "items.csv").is_file()
    table = pq.read_table(folder / "items.parquet").to_pylist()
    run = ftdecide.load_run(data["run_id"])
    assert table == [{k: r[k] for k in table[0]} for r in run.item_rows()]
    assert len(table) == 3 * N_EVAL and table[0]["score"] is not None
    again = cli_json("report", data["run_id"], "--out", str(env / "again"), "--format", "parquet")
    assert Path(again["report"]).with_name("items.parquet").is_file()
    # a newer output's nested value (a judge's judgment) is kept, as JSON text
    from ftdecide.report._html import items_parquet

    results = dict(run.results)
    results["items"][0]["outputs"]["rag"]["judgment"] = {"score": 1, "parsed": True,
                                                        "reason": "<b>ok</b>"}
    path = items_parquet(results, env / "judged.parquet")
    rows = pq.read_table(path).to_pylist()
    judged = [r for r in rows if r["judgment"]]
    assert len(judged) == 1 and json.loads(judged[0]["judgment"])["reason"] == "<b>ok</b>"


def test_format_parquet_without_pyarrow_says_what_to_install(env, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = CliRunner().invoke(cli, cli_compare_args(env / "reports", "--format", "parquet"))
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError)
    assert "needs pyarrow" in result.exception.message and "ftdecide[parquet]" in result.exception.hint
    assert not (env / "reports").exists()  # said before any call


# -- assess and tune ---------------------------------------------------------------------------

ANSWERS = {
    "use_case": {"goal": "format", "description": "<script>alert('x')</script> tickets",
                 "knowledge_changes_often": False},
    "alternatives": {"few_shot": {"tried": True, "quality": 0.70}, "rag": {"tried": False},
                     "target_quality": 0.90},
    "costs": {"model": "gpt-4.1-mini", "examples_available": 800, "examples_reviewed": 800},
    "benefits": {"requests_per_month": 2_000_000, "prompt_tokens_now": 1800,
                 "prompt_tokens_after": 150},
}


def test_assess_equals_the_cli_json_with_a_run_as_evidence(env, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    data = cli_json(*cli_compare_args(env / "reports"))
    path = env / "answers.yaml"
    path.write_text(yaml.safe_dump(ANSWERS, sort_keys=False))
    import datetime as dt

    today = dt.date(2026, 11, 28)
    result = ftdecide.assess(path, from_run=ftdecide.load_run(data["run_id"]), today=today)
    expected = cli_json("assess", "--answers", str(path), "--from-run", data["run_id"],
                        "--today", "2026-11-28")
    assert result.to_dict() == expected
    assert result.recommendation == expected["recommendation"]
    # a dict of answers (nested or dotted) is the same assessment as the file
    flat = {"use_case.goal": "format", "costs.model": "gpt-4.1-mini"}
    assert ftdecide.assess(flat, today=today).to_dict()["evidence"]["answers"]["values"] == \
        {"use_case": {"goal": "format"}, "costs": {"model": "gpt-4.1-mini"}}
    html = result._repr_html_()
    assert 'id="recommendation"' in html and "<script>alert" not in html
    assert "&lt;script&gt;" in html
    with pytest.raises(DataError, match="use_case.goal"):
        ftdecide.assess({"use_case": {"goal": "nonsense"}})


def test_tune_needs_yes_then_trains_on_the_local_server(env):
    with pytest.raises(UsageError, match="without confirmation"):
        ftdecide.tune(EXAMPLE / "train.jsonl", BASE)
    job = ftdecide.tune(EXAMPLE / "train.jsonl", BASE, yes=True, options={"suffix": "triage"})
    assert job.status == "succeeded" and job.model.startswith("openai/ft:gpt-4o-mini")
    again = ftdecide.tune(EXAMPLE / "train.jsonl", BASE, suffix="triage")  # options as keywords
    assert again.reused and again["job_id"] == job["job_id"]  # paid once: no yes needed
    with pytest.raises(UsageError, match="no_such_option"):
        ftdecide.tune(EXAMPLE / "train.jsonl", BASE, no_such_option=1)
    shown = cli_json("jobs", "show", job["job_id"])
    assert shown["model"] == job.model and shown["status"] == "succeeded"


# -- acceptance: a fresh interpreter gets the CLI's figures ---------------------------------------

SCRIPT = """
import json, sys
import ftdecide
heavy = [m for m in {heavy!r} if m in sys.modules]
v = ftdecide.validate({train!r}, model={model!r})
e = ftdecide.estimate({train!r}, {model!r}, requests_per_month=100000)
run = ftdecide.compare(train={train!r}, eval={eval!r}, model={model!r}, arms="zeroshot,fewshot",
                       metric="json-fields", eval_limit={n}, shots=2, out={out!r}, progress=False)
items = run.items()
print(json.dumps({{"heavy_after_import": heavy, "validate": v.to_dict(), "estimate": e.to_dict(),
                  "run": run.to_dict(),
                  "items": {{arm: {{"score": float(g["score"].mean()),
                                   "tokens_in": float(g["input_tokens"].mean()),
                                   "cost_per_1k": float(g["cost_usd"].mean() * 1000)}}
                             for arm, g in items.groupby("arm", sort=False)}}}}))
"""


def test_a_script_in_a_fresh_interpreter_gets_the_cli_figures(env, server):
    train, ev = str(EXAMPLE / "train.jsonl"), str(EXAMPLE / "eval.jsonl")
    script = SCRIPT.format(heavy=("torch", "transformers", "pandas"), train=train, eval=ev,
                           model=BASE, n=N_EVAL, out=str(env / "py"))
    child_env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=child_env, timeout=180, cwd=env)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["heavy_after_import"] == []

    def ftdecide_json(*args: str) -> dict:
        proc = subprocess.run([sys.executable, "-m", "ftdecide", *args, "--json"],
                              capture_output=True, text=True, env=child_env, timeout=180, cwd=env)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    assert got["validate"] == ftdecide_json("validate", train, "--model", BASE)
    assert got["estimate"] == ftdecide_json("estimate", train, "--model", BASE,
                                            "--requests-per-month", "100000")
    cli_run = ftdecide_json("compare", "--train", train, "--eval", ev, "--model", BASE, "--arms",
                            "zeroshot,fewshot", "--metric", "json-fields", "--eval-limit",
                            str(N_EVAL), "--shots", "2", "--out", str(env / "cli"), "--no-cache")
    for arm, a in cli_run["arms"].items():
        mine = got["run"]["arms"][arm]
        assert mine["quality"] == a["quality"] and mine["tokens"] == a["tokens"]
        assert mine["cost_per_1k_usd"] == pytest.approx(a["cost_per_1k_usd"])
        assert got["items"][arm]["score"] == pytest.approx(a["quality"]["mean"])
        assert got["items"][arm]["tokens_in"] == pytest.approx(a["tokens"]["input_mean"])
        assert got["items"][arm]["cost_per_1k"] == pytest.approx(a["cost_per_1k_usd"])
    assert got["run"]["verdict"] == cli_run["verdict"]


# -- the row builder on its own ----------------------------------------------------------------

def test_item_rows_read_old_runs_as_unknown_not_zero_and_keep_the_configured_order():
    from ftdecide.compare import item_rows

    results = {  # a run stored before outputs carried their usage; arms sorted by a store
        "arms": {"fewshot": {}, "zeroshot": {}},
        "provenance": {"config": {"arms": ["zeroshot", {"name": "fewshot", "model": "x/y"}]}},
        "items": [{"id": "1", "input": "hi", "expected": "a", "outputs": {
            "fewshot": {"text": "a", "score": 1.0, "cached": True, "error": None},
            "zeroshot": {"text": None, "score": None, "cached": False, "error": "not run"}}},
            {"id": "2", "input": "yo", "expected": "b", "outputs": {}}],
    }
    rows = item_rows(results)
    assert [(r["id"], r["arm"]) for r in rows] == [("1", "zeroshot"), ("1", "fewshot"),
                                                   ("2", "zeroshot"), ("2", "fewshot")]
    assert rows[1]["score"] == 1.0 and rows[1]["cached"] is True
    assert rows[1]["input_tokens"] is None and rows[1]["cost_usd"] is None  # unknown, not $0
    assert rows[0]["answer"] is None and rows[0]["error"] == "not run"
    assert rows[2]["error"] == "not run" and rows[3]["score"] is None
