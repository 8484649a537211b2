"""The learning curve inside ``compare``: nested subsets, a tune per point, a fit, and assess.

The local server's tuned models answer right on a share of the eval items
that depends only on how many examples their job trained on (the scripted
shape ``q(n) = 0.9 - 6.4/n``, exact at 40 items), so the fitted curve and the
examples it says are needed are asserted exactly.
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
from ftdecide.compare import _curve as curve
from ftdecide.compare import _curvefit as curvefit
from ftdecide.compare._config import build
from ftdecide.errors import UsageError
from ftdecide.testing import OpenAICompatibleServer

BASE = "gpt-4o-mini-2024-07-18"
CATS = ("billing", "account", "technical")
N_TRAIN, N_EVAL = 128, 40
A, B = 0.9, 6.4  # the scripted curve: quality a - b/n (c = 1)
BASELINE_RIGHT = 24  # the few-shot baseline is right on 24 of 40 items


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [
        {"role": "system", "content": "Classify the ticket as JSON."},
        {"role": "user", "content": f"ticket {i} about {cat}"},
        {"role": "assistant", "content": json.dumps({"category": cat})}]}


def scripted(server_ref: list) -> object:
    def rule(request: dict) -> str:
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        number, cat = re.search(r"ticket (\d+) about (\w+)", users[-1]).groups()
        index = int(number) - 1000
        model = request["model"]
        if model.startswith("ft:"):
            n = server_ref[0].trained_examples(model)
            right = round((A - B / n) * N_EVAL)
        else:
            right = BASELINE_RIGHT
        return json.dumps({"category": cat if index < right else "other"})
    return rule


@pytest.fixture
def task(tmp_path):
    (tmp_path / "train.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(N_TRAIN)))
    (tmp_path / "valid.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(500, 520)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(1000, 1000 + N_EVAL)))
    (tmp_path / "compare.yaml").write_text(
        f"train: train.jsonl\neval: eval.jsonl\nmodel: openai/{BASE}\n"
        f"tune: {{validation: {tmp_path / 'valid.jsonl'}, epochs: 1}}\narms: [fewshot, finetuned]\n"
        "metric: json-fields\nshots: 2\nlearning_curve: [16, 32, 0.5, 1.0]\n"
        "target_quality: 0.88\nout: reports\naudit: keep\n")
    return tmp_path


@pytest.fixture
def server():
    ref: list = []
    with OpenAICompatibleServer(responder=scripted(ref)) as s:
        ref.append(s)
        yield s


@pytest.fixture
def env(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-curve")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0.01")


def _run(*args, expect=0):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def test_config_checks_the_curve(task):
    def values(**extra):
        return {"train": str(task / "train.jsonl"), "eval": str(task / "eval.jsonl"),
                "model": "openai/x", "tune": {}, "arms": ["fewshot", "finetuned"], **extra}

    config = build(values(learning_curve=[1.0, 0.25, 50]))
    assert config.learning_curve == (0.25, 1.0, 50)
    for bad, message in (([], "is empty"), ([1.5], "not a fraction"), ([1], "too few"),
                         (["x"], "not a number"), ([0.5, 0.5], "given twice")):
        with pytest.raises(UsageError, match=message):
            build(values(learning_curve=bad))
    with pytest.raises(UsageError, match="needs tune"):
        build({**values(learning_curve=[0.5]), "tune": None, "tuned": "openai/ft:x",
               "arms": ["fewshot", "finetuned"]})
    with pytest.raises(UsageError, match="target_quality"):
        build(values(target_quality=1.5))
    with pytest.raises(UsageError, match="not measured with the judge metric"):
        build(values(learning_curve=[0.5], judge={"model": "openai/x"}))


def test_subsets_are_nested_seeded_and_stratified(task):
    answers = [json.dumps({"category": CATS[i % 3]}) for i in range(N_TRAIN)]
    order = curve.nested_order(answers, seed=3, metric="json-fields")
    assert order == curve.nested_order(answers, seed=3, metric="json-fields")
    assert order != curve.nested_order(answers, seed=4, metric="json-fields")
    assert sorted(order) == list(range(N_TRAIN))
    for n in (6, 16, 32, 64):  # every prefix holds each label in proportion
        counts = [sum(1 for i in order[:n] if i % 3 == k) for k in range(3)]
        assert max(counts) - min(counts) <= 1


def test_fit_recovers_a_known_power_law():
    sizes = [16, 32, 64, 128]
    f = curvefit.fit(sizes, [A - B / n for n in sizes])
    assert f.form == "inverse-power" and f.converged
    assert f.params["a"] == pytest.approx(A, abs=1e-6)
    assert f.params["b"] == pytest.approx(B, rel=1e-5)
    assert f.params["c"] == pytest.approx(1.0, abs=1e-6)
    assert curvefit.examples_for(f.form, f.params, 0.88) == pytest.approx(320, rel=1e-5)
    falling = curvefit.fit(sizes, [0.8, 0.6, 0.5, 0.4])
    assert falling.form == "log-linear" and not falling.converged and "instead" in falling.note


def test_flat_curve_is_not_reached_within_ten_times_the_data():
    scores = [[1.0] * 20 + [0.0] * 20 for _ in range(4)]
    out = curvefit.analyse([16, 32, 64, 128], scores, target=0.88, baseline_high=0.6, seed=0,
                           resamples=50)
    assert out["examples_to_target"]["reached"] is False
    assert "not reached within ~10× the data" in out["examples_to_target"]["text"]


def test_curve_in_a_run_json_jobs_and_report(task, server, env):
    data = json.loads(_run("compare", "--config", str(task / "compare.yaml"), "--yes",
                           "--json").stdout)
    lc = data["learning_curve"]
    assert [p["examples"] for p in lc["points"]] == [16, 32, 64, 128]
    assert [p["quality"]["mean"] for p in lc["points"]] == pytest.approx([0.5, 0.7, 0.8, 0.85])
    assert lc["points"][-1]["job_id"] == data["training"]["job_id"]  # the finetuned arm itself
    assert lc["fit"]["form"] == "inverse-power" and lc["fit"]["converged"]
    assert lc["fit"]["params"]["a"] == pytest.approx(A, abs=1e-4)
    assert lc["fit"]["params"]["b"] == pytest.approx(B, rel=1e-3)
    assert lc["fit"]["params"]["c"] == pytest.approx(1.0, abs=1e-3)
    to_target = lc["examples_to_target"]
    assert to_target["examples"] == 320 and to_target["reached"]
    assert to_target["ci_low"] is not None and to_target["ci_low"] <= 320
    base_high = data["arms"]["fewshot"]["quality"]["ci_high"]
    beat = lc["examples_to_beat_baseline"]
    assert beat["goal"] == base_high
    assert beat["examples"] == pytest.approx(B / (A - base_high), abs=1)
    # every point is priced as the tune prices it: trained tokens × the training price
    for p in lc["points"]:
        assert p["training_cost_usd"] > 0 and p["training_cost_kind"] == "actual"
    costs = [p["training_cost_usd"] for p in lc["points"]]
    assert costs == sorted(costs)
    # every point's job is an ordinary job in the store
    jobs = json.loads(_run("jobs", "list", "--json").stdout)
    listed = {j.get("job_id") or j.get("id") for j in (jobs.get("jobs", jobs)
                                                       if isinstance(jobs, dict) else jobs)}
    assert {p["job_id"] for p in lc["points"]} <= listed
    assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 4
    # the report: results.json carries the curve, the HTML its chart
    report = Path(data["report"])
    results = json.loads((report.parent / "results.json").read_text())
    assert results["learning_curve"]["band"]
    html = report.read_text()
    assert "learning-curve" in html and "320" in html
    # a re-run trains nothing and calls nothing: every tune reused, every answer cached
    posts = len(server.calls("POST", "/v1/chat/completions"))
    again = json.loads(_run("compare", "--config", str(task / "compare.yaml"), "--yes",
                            "--json").stdout)
    assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 4
    assert len(server.calls("POST", "/v1/chat/completions")) == posts
    assert again["learning_curve"]["examples_to_target"]["examples"] == 320


def _chat_keys(server):
    return [json.dumps([p.json["model"], p.json["messages"]], sort_keys=True)
            for p in server.calls("POST", "/v1/chat/completions")]


def test_killed_in_the_third_tune_then_resumed_repeats_nothing(task, tmp_path):
    ref: list = []
    data_dir = tmp_path / "data"
    env = {**os.environ, "FTDECIDE_DATA_DIR": str(data_dir), "FTDECIDE_LOAD_PLUGINS": "openai",
           "OPENAI_API_KEY": "sk-test", "FTDECIDE_POLL_INTERVAL": "0.01"}
    with OpenAICompatibleServer(responder=scripted(ref)) as server:
        ref.append(server)
        env["OPENAI_BASE_URL"] = server.base_url
        args = [sys.executable, "-m", "ftdecide", "compare", "--config",
                str(task / "compare.yaml"), "--yes", "--json"]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            jobs = server.calls("POST", "/v1/fine_tuning/jobs")
            if len(jobs) == 3:
                server.hold_jobs = True  # the third tune stays in the middle
                break
            time.sleep(0.005)
        assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 3, proc.communicate(timeout=5)
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        with sqlite3.connect(data_dir / "ftdecide.db") as con:
            run_id = con.execute("SELECT id FROM runs").fetchone()[0]
        before = _chat_keys(server)
        server.hold_jobs = False
        out = subprocess.run([sys.executable, "-m", "ftdecide", "compare", "--resume", run_id,
                              "--yes", "--json"], env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        # the third tune was followed, not started again; the fourth is the only new one
        assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 4
        after = _chat_keys(server)[len(before):]
        assert not set(after) & set(before)  # no recorded call sent again
        assert len(after) == len(set(after))
        lc = result["learning_curve"]
        assert [p["quality"]["mean"] for p in lc["points"]] == pytest.approx([0.5, 0.7, 0.8, 0.85])
        assert lc["examples_to_target"]["examples"] == 320


def test_assess_from_a_run_whose_curve_misses_the_target_says_collect_data(task, server, env):
    import yaml

    data = json.loads(_run("compare", "--config", str(task / "compare.yaml"), "--yes",
                           "--json").stdout)
    answers = task / "answers.yaml"
    answers.write_text(yaml.safe_dump({
        "use_case": {"goal": "task", "knowledge_changes_often": False},
        "alternatives": {"target_quality": 0.88},
        "costs": {"model": f"openai/{BASE}", "examples_available": N_TRAIN,
                  "examples_reviewed": N_TRAIN, "eval_set": True,
                  "label_cost_usd_per_example": 0.5},
        "benefits": {"requests_per_month": 100_000}}))
    out = json.loads(_run("assess", "--answers", str(answers), "--from-run", data["run_id"],
                          "--json", "--today", "2026-12-05").stdout)
    assert out["recommendation"] == "collect-data"
    decisive = out["reasons"][0]
    assert decisive["rule"] == "collect-data-learning-curve"
    text = decisive["text"]
    # the curve reaches 0.88 at 320 examples; 128 today: 192 more, at $0.50 each
    assert "about 320 examples" in text and "collect about 192 more" in text
    assert "$96.00" in text
    rules = {r["rule"] for r in out["reasons"]}
    assert "learning-curve-fit" in rules  # the trace shows the fit
    fit = next(r for r in out["reasons"] if r["rule"] == "learning-curve-fit")["text"]
    assert "inverse-power" in fit and "16 → 0.50" in fit
    assert not any(r.get("recommend") == "fine-tune" and r["effect"] == "decides"
                   for r in out["reasons"])
    steps = " ".join(s["why"] for s in out["next_steps"])
    assert "label about 192 more examples (about $96.00 to label)" in steps


def test_dry_run_lists_the_curve_tunes_and_the_budget_counts_them(task, server, env):
    out = _run("compare", "--config", str(task / "compare.yaml"), "--dry-run", "--json").stdout
    plan = json.loads(out)
    points = plan["learning_curve"]
    assert [p["examples"] for p in points] == [16, 32, 64]
    assert all(p["action"] == "new" and p["new_cost_usd"] > 0 for p in points)
    assert plan["predicted_cost_usd"] >= sum(p["new_cost_usd"] for p in points)
    text = _run("compare", "--config", str(task / "compare.yaml"), "--dry-run").stdout
    assert "learning curve, 16 examples: a new fine-tune" in text
    # a budget the curve's tunes do not fit in is refused before anything is trained
    budget = plan["tune"]["new_cost_usd"] + sum(p["new_cost_usd"] for p in points) / 2
    with pytest.raises(UsageError, match="learning-curve tune"):
        CliRunner().invoke(cli, ["compare", "--config", str(task / "compare.yaml"), "--yes",
                                 "--max-cost", f"{budget:.6f}"], catch_exceptions=False)
    assert server.calls("POST", "/v1/fine_tuning/jobs") == []


def test_the_chart_escapes_and_dashes_the_extrapolation():
    from ftdecide.report._curvechart import learning_curve

    sizes = [16, 32, 64, 128]
    scores = [[1.0] * round((A - B / n) * N_EVAL) + [0.0] * (N_EVAL - round((A - B / n) * N_EVAL))
              for n in sizes]
    analysis = curvefit.analyse(sizes, scores, target=0.88, baseline_high=0.7, resamples=50)
    lc = {"points": [{"examples": n, "quality": {"mean": sum(s) / N_EVAL, "ci_low": 0.4,
                                                  "ci_high": 0.9}} for n, s in zip(sizes, scores)],
          "metric": "<script>alert(1)</script>", "target_quality": 0.88,
          "baseline": {"arm": "fewshot<b>", "mean": 0.6, "ci_low": 0.45, "ci_high": 0.7},
          **analysis}
    chart = learning_curve({"learning_curve": lc, "metric": {"name": "x"}})
    assert "<script>" not in chart.svg and "&lt;script&gt;" in chart.svg
    assert "fewshot&lt;b&gt;" in chart.svg
    assert 'stroke-dasharray="6 4"' in chart.svg  # the extrapolation
    assert "about 320 examples" in chart.caption


def test_a_budget_that_runs_out_mid_curve_stops_the_curve_not_the_run(task, server, env):
    plan = json.loads(_run("compare", "--config", str(task / "compare.yaml"), "--dry-run",
                           "--json").stdout)
    curve_cost = sum(p["new_cost_usd"] for p in plan["learning_curve"])
    budget = plan["predicted_cost_usd"] - curve_cost / 2  # above the floor, below the upper bound
    data = json.loads(_run("compare", "--config", str(task / "compare.yaml"), "--yes",
                           "--max-cost", f"{budget:.6f}", "--json").stdout)
    points = {p["examples"]: p for p in data["learning_curve"]["points"]}
    assert data["status"] == "partial"
    assert points[128]["quality"]["mean"] == pytest.approx(0.85)
    skipped = [n for n, p in points.items() if p.get("training_cost_usd") is None]
    assert skipped and all(points[n]["quality"]["mean"] is None for n in skipped)
    assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 4 - len(skipped)
    assert all(points[n]["skipped"] == "budget" for n in skipped)
    assert data["learning_curve"]["fit"] is not None  # fitted on the points measured


def test_the_bundled_triage_curve_example_builds():
    from ftdecide.cli.compare import example_config
    from ftdecide.compare._config import read_file_lines

    path = example_config("triage-curve")
    values, lines = read_file_lines(path)
    config = build(values, source=path, lines=lines)
    assert config.learning_curve == (0.1, 0.3, 1.0)
    assert config.model == "hf/smollm2-135m" and config.target_quality == 0.5
    assert Path(config.train).resolve() == (Path(path).parent.parent / "triage" / "train.jsonl")
    assert curve.sizes(config, 400) == [40, 120, 400]


def test_a_count_above_the_training_set_is_refused_before_any_tune(task, server, env):
    from ftdecide.errors import DataError

    config = task / "compare.yaml"
    config.write_text(config.read_text().replace("[16, 32, 0.5, 1.0]", "[16, 500]"))
    with pytest.raises(DataError, match="more than the training set holds"):
        CliRunner().invoke(cli, ["compare", "--config", str(config), "--yes"],
                           catch_exceptions=False)
    assert server.calls("POST", "/v1/fine_tuning/jobs") == []


def test_the_curve_from_flags(task):
    config = build({"train": str(task / "train.jsonl"), "eval": str(task / "eval.jsonl"),
                    "model": "openai/x", "arms": ["fewshot", "finetuned"]},
                   {"tune": {}, "learning_curve": "0.25, 50,1.0", "target_quality": 0.8})
    assert config.learning_curve == (0.25, 1.0, 50) and config.target_quality == 0.8
    with pytest.raises(UsageError, match="--learning-curve: 'many' is not a number"):
        build({"train": str(task / "train.jsonl"), "eval": str(task / "eval.jsonl"),
               "model": "openai/x", "tune": {}}, {"learning_curve": "0.5,many"})


def test_a_subset_too_small_to_tune_is_refused_before_any_tune(task, server, env):
    config = task / "compare.yaml"
    config.write_text(config.read_text().replace("[16, 32, 0.5, 1.0]", "[4, 1.0]"))
    with pytest.raises(UsageError, match="the 4-example subset cannot be tuned on"):
        CliRunner().invoke(cli, ["compare", "--config", str(config), "--yes"],
                           catch_exceptions=False)
    assert server.calls("POST", "/v1/fine_tuning/jobs") == []


def _scores(means, items=40):
    """Per-item 0/1 scores whose mean at each point is ``means[i]`` (to the nearest item)."""
    return [[1.0] * round(m * items) + [0.0] * (items - round(m * items)) for m in means]


def test_a_falling_curve_says_no_number_of_examples():
    # the bundled triage-curve measured 29.0, 21.0, 24.2 points at 40, 120, 400 examples: read
    # backwards, the falling fit said "about 1 example" beats the baseline
    out = curvefit.analyse([40, 120, 400], _scores([0.3, 0.2, 0.25]), target=0.5,
                           baseline_high=0.24, resamples=50)
    need = out["examples_to_beat_baseline"]
    assert need["examples"] is None and need["reached"] is False and need["flat"] is True
    assert "does not rise" in need["text"]


def test_a_goal_below_the_smallest_subset_is_not_extrapolated_backwards():
    out = curvefit.analyse([16, 32, 64, 128], _scores([0.5, 0.7, 0.8, 0.85]), target=0.88,
                           baseline_high=0.3, resamples=50)
    need = out["examples_to_beat_baseline"]
    assert need["examples"] == 16 and need["at_or_below_smallest"] is True
    assert need["text"].startswith("at most 16 examples")
