"""The first hour, continued: ``compare`` configs, reports shared between machines, ``assess``
and ``estimate`` say what a careful newcomer needs to read (see ``test_first_hour.py``)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_first_hour import TRIAGE_TRAIN, json_error, load, run

from ftdecide.testing import OpenAICompatibleServer

BASE = "gpt-4o-mini-2024-07-18"
CATS = ("billing", "account", "technical")


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [{"role": "system", "content": "Classify the ticket as JSON."},
                         {"role": "user", "content": f"ticket {i} about {cat}"},
                         {"role": "assistant", "content": json.dumps({"category": cat})}]}


def _rule(request: dict) -> str:
    number, cat = re.search(r"ticket (\d+) about (\w+)", request["messages"][-1]["content"]).groups()
    return json.dumps({"category": cat}) if int(number) % 2 == 0 else f"probably {cat}"


@pytest.fixture
def task(tmp_path):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(_example(i)) + "\n" for i in range(30)))
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(_example(i)) + "\n"
                                                 for i in range(100, 108)))
    return tmp_path


@pytest.fixture
def server(monkeypatch):
    with OpenAICompatibleServer(responder=_rule) as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-first-hour")
        load(monkeypatch, "openai")
        yield s


def config(task: Path, text: str) -> Path:
    path = task / "compare.yaml"
    path.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: openai/{BASE}\n" + text)
    return path


def posts(server) -> int:
    return len(server.calls("POST", "/v1/chat/completions"))


# -- compare configs: the file, the line and the key; flags blamed as flags ------------------------


def test_config_errors_name_the_line_and_key(task, server, capsys):
    cfg = config(task, "shots: 2\ntop_k: many\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--dry-run", "--json")
    assert code == 2 and f"{cfg}:5: top_k: expected a whole number, got 'many'" in err
    error = json_error(out)
    assert (error["file"], error["line"], error["key"]) == (str(cfg), 5, "top_k")
    cfg = config(task, "arms: [zeroshot, fivesh]\n")
    code, _, err = run(capsys, "compare", "-c", cfg, "--dry-run")
    assert code == 2 and f"{cfg}:4: arms: unknown arm 'fivesh'" in err


def test_a_key_given_twice_is_refused_naming_both_lines(task, server, capsys):
    cfg = config(task, "shots: 4\nmetric: exact\nshots: 2\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--dry-run", "--json")
    assert code == 2 and "shots is given twice, on lines 4 and 6" in err
    assert json_error(out)["line"] == 6 and posts(server) == 0


def test_flag_errors_are_blamed_on_the_flag(task, server, capsys):
    cfg = config(task, "shots: 2\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--arms", "zeroshot,foo", "--dry-run",
                         "--json")
    assert code == 2 and "Error: --arms: unknown arm 'foo'" in err and str(cfg) not in err
    error = json_error(out)
    assert (error["file"], error["line"], error["key"]) == (None, None, "--arms")
    code, _, err = run(capsys, "compare", "-c", cfg, "--baseline", "rag", "--arms",
                       "zeroshot,fewshot", "--dry-run")
    assert code == 2 and "--baseline: 'rag' is not one of the arms" in err


def test_missing_or_empty_data_file_names_the_key(task, server, capsys):
    cfg = task / "c.yaml"
    cfg.write_text(f"model: openai/{BASE}\neval: eval.jsonl\ntrain: trian.jsonl\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--dry-run", "--json")
    assert code == 2 and f"{cfg}:3: train: {task / 'trian.jsonl'}: no such file" in err
    assert "relative to the file's folder" in err
    assert json_error(out)["key"] == "train"
    cfg.write_text(f"model: openai/{BASE}\neval: eval.jsonl\ntrain: ''\n")
    code, _, err = run(capsys, "compare", "-c", cfg, "--dry-run")
    assert code == 2 and f"{cfg}:3: train: is empty; expected a path" in err
    assert "is a directory" not in err
    code, _, err = run(capsys, "compare", "-c", config(task, ""), "--eval", task / "nope.jsonl",
                       "--dry-run")
    assert code == 2 and f"--eval: {task / 'nope.jsonl'}: no such file" in err


def test_fail_under_an_arm_not_in_the_run_is_refused_before_any_call(task, server, capsys):
    cfg = config(task, "arms: [zeroshot, fewshot]\nshots: 2\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--fail-under", "finetuned:0.05", "--json")
    assert code == 2 and "--fail-under finetuned: the arm finetuned is not in this run" in err
    assert json_error(out)["key"] == "--fail-under"
    assert posts(server) == 0


def test_one_arm_without_fewshot_takes_it_as_the_baseline(task, server, capsys):
    cfg = config(task, f"arms: [zeroshot]\nout: {task / 'reports'}\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--json")
    assert code == 0, err
    assert json.loads(out)["baseline"] == "zeroshot"
    assert "note: baseline: zeroshot (the default baseline, fewshot, is not among the arms" in err
    code, out, err = run(capsys, "compare", "-c", cfg, "--arms", "zeroshot,rag", "--dry-run")
    assert code == 0 and "note: baseline: zeroshot" in err


def test_tuned_arms_left_out_by_default_are_announced(task, server, capsys):
    code, _, err = run(capsys, "compare", "-c", config(task, "shots: 2\n"), "--dry-run")
    assert code == 0
    assert "the fine-tuned arms (finetuned, finetuned-rag) are left out" in err
    assert "--tuned" in err and "--tune" in err
    # said only when the defaults chose, not when the arms were given
    code, _, err = run(capsys, "compare", "-c", config(task, "arms: [zeroshot]\n"), "--dry-run")
    assert code == 0 and "left out" not in err


def test_an_unpriced_model_costs_unknown_never_zero(task, server, capsys):
    cfg = config(task, f"arms: [zeroshot, fewshot]\nshots: 2\nout: {task / 'reports'}\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--model", "openai/llama-local",
                         "--dry-run")
    assert code == 0 and "an unknown cost (no price for the model of zeroshot, fewshot" in out
    code, out, err = run(capsys, "compare", "-c", cfg, "--model", "openai/llama-local", "--json")
    assert code == 0, err
    arms = json.loads(out)["arms"]
    assert {a["cost_per_1k_usd"] for a in arms.values()} == {None}
    assert {a["monthly_cost_usd"] for a in arms.values()} == {None}
    code, out, err = run(capsys, "compare", "-c", cfg, "--model", "openai/llama-local",
                         "--no-cache")
    table = out.split("verdict:")[0]
    assert code == 0 and "unknown" in table and "$0.0000" not in table
    assert "spent: unknown (no price for the model: add one with --prices FILE)" in err


# -- a shared report folder is a run too ------------------------------------------------------------


def test_report_and_assess_read_a_shared_report_folder(task, server, capsys, monkeypatch,
                                                       tmp_path):
    cfg = config(task, f"arms: [zeroshot, fewshot]\nshots: 2\nout: {task / 'reports'}\n")
    code, out, err = run(capsys, "compare", "-c", cfg, "--json")
    assert code == 0, err
    first = json.loads(out)
    shared = tmp_path / "from-a-colleague" / first["run_id"]
    shutil.copytree(Path(first["report"]).parent, shared)
    monkeypatch.setenv("FTDECIDE_DATA_DIR", str(tmp_path / "another-machine"))  # no run store
    code, _, err = run(capsys, "report", first["run_id"])
    assert code == 2 and "or give a report folder" in err
    code, out, err = run(capsys, "report", shared, "--out", tmp_path / "again", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["run_id"] == first["run_id"] and Path(again["report"]).exists()
    assert Path(again["report"]).parent == tmp_path / "again" / first["run_id"]
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump({"use_case": {"goal": "format"},
                                       "costs": {"model": "gpt-4o-mini"}}))
    for ref in (shared, shared / "results.json"):
        code, out, err = run(capsys, "assess", "--answers", answers, "--from-run", ref, "--json")
        assert code == 0, err
        few = json.loads(out)["evidence"]["inputs"]["alternatives.few_shot.quality"]
        assert few["source"].startswith(f"run {first['run_id']}: arm fewshot")
    code, _, err = run(capsys, "report", tmp_path)
    assert code == 2 and "no results.json in this folder" in err


# -- estimate ------------------------------------------------------------------------------------------


def test_estimate_shows_the_openai_wind_down_from_the_plugin(monkeypatch, capsys):
    load(monkeypatch, "openai")
    code, out, err = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "openai/gpt-4o-mini")
    assert code == 0, err
    assert ("notice: OpenAI is winding down self-serve fine-tuning: no new jobs for anyone "
            "after 2027-01-06") in out
    code, out, _ = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "openai/gpt-4o-mini", "--json")
    assert any("2027-01-06" in n for n in json.loads(out)["notices"])


def test_the_wind_down_date_has_one_value_everywhere():
    """assess reads its notice from rules.yaml, estimate and tune from the openai plugin."""
    from ftdecide.assess._decision import load_rules
    from ftdecide_openai.provider import WIND_DOWN_END

    assert load_rules().notices["openai"].fine_tuning_closes == WIND_DOWN_END


def test_estimate_at_zero_requests_does_not_blame_hosting(monkeypatch, capsys):
    load(monkeypatch, "openai")
    code, out, err = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "openai/gpt-4o-mini",
                         "--requests-per-month", "0")
    assert code == 0, err
    assert "payback: never (no requests a month, so nothing is saved)" in out
    assert "hosting" not in out


def test_estimate_refuses_economics_flags_it_would_ignore(monkeypatch, capsys):
    load(monkeypatch, "openai")
    code, out, err = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "openai/gpt-4o-mini",
                         "--prompt-tokens", "900", "--json")
    assert code == 2 and "--prompt-tokens is used only for the inference economics" in err
    assert json_error(out)["key"] == "--prompt-tokens"
    code, _, err = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "openai/gpt-4o-mini",
                       "--requests-per-month", "1000", "--prompt-tokens", "900",
                       "--few-shot-from", TRIAGE_TRAIN)
    assert code == 2 and "--prompt-tokens gives today's prompt size; --few-shot-from" in err


# -- assess ------------------------------------------------------------------------------------------


def test_assess_without_a_terminal_writes_no_empty_file(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    import io

    load(monkeypatch, "openai")
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO(""))
        code, out, err = run(capsys, "assess")
        assert code == 2 and "no answer could be read" in err
        assert "ftdecide assess --answers answers.yaml" in err
    assert list(tmp_path.iterdir()) == []


def test_assess_refuses_a_key_given_twice(monkeypatch, capsys, tmp_path):
    load(monkeypatch, "openai")
    answers = tmp_path / "answers.yaml"
    answers.write_text("use_case:\n  goal: format\ncosts:\n  model: gpt-4o-mini\n"
                       "  budget_usd: 10\n  budget_usd: 50\n")
    code, out, err = run(capsys, "assess", "--answers", answers, "--json")
    assert code == 2
    assert f"{answers}:6: costs.budget_usd is given twice, on lines 5 and 6" in err
    assert json_error(out)["key"] == "costs.budget_usd"


def test_assess_help_lists_the_answers_file(capsys):
    from ftdecide.assess._questionnaire import load_questions

    code, out, _ = run(capsys, "assess", "--help")
    assert code == 0 and "README" not in out
    assert "Answers file (--answers, --save-answers)" in out
    for question in load_questions().questions:
        assert question.id in out
    assert "use_case.goal *" in out and "format | style" in out
