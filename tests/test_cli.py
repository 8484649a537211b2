"""The CLI through click's runner, and as a real subprocess like a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.data import _tokens as tokens
from ftdecide.examples import example_path

TRAIN = example_path("triage", "train")


def run(*args, env=None):
    runner = CliRunner()
    result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def invoke_main(args, capsys):
    """Through main(): the error handling users get (messages, exit codes)."""
    from ftdecide.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def cookbook_estimate(path: Path, encoding: str, limit: int, price: float) -> dict:
    """The OpenAI cookbook notebook's arithmetic, written out independently."""
    enc = tokens.get_encoding(encoding)
    per_example = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        n = 0
        for message in json.loads(line)["messages"]:
            n += 3
            for key, value in message.items():
                n += len(enc.encode(value))
                if key == "name":
                    n += 1
        per_example.append(n + 3)
    n_examples = len(per_example)
    epochs = 3
    if n_examples * 3 < 100:
        epochs = min(25, 100 // n_examples)
    elif n_examples * 3 > 25000:
        epochs = max(1, 25000 // n_examples)
    billed = sum(min(limit, t) for t in per_example) * epochs
    return {"examples": n_examples, "total": sum(per_example), "epochs": epochs,
            "billed_tokens": billed, "cost": billed / 1e6 * price}


@pytest.mark.parametrize("model,encoding,limit,price", [
    ("gpt-4o-mini-2024-07-18", "o200k_base", 65536, 3.00),
    ("gpt-4.1-mini-2025-04-14", "o200k_base", 65536, 5.00),
])
def test_estimate_json_equals_cookbook(first_party, model, encoding, limit, price):
    result = run("estimate", str(TRAIN), "--model", model, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    ref = cookbook_estimate(TRAIN, encoding, limit, price)
    assert got["examples"] == ref["examples"]
    assert got["tokens"]["total"] == ref["total"]
    assert got["epochs"] == ref["epochs"]
    assert got["billed_tokens"] == ref["billed_tokens"]
    assert got["training_cost_usd"] == pytest.approx(ref["cost"], abs=1e-6)
    assert got["limit"] == limit
    assert got["price"]["training_per_1m"] == price
    assert got["price"]["as_of"] and got["price"]["source"]


def test_estimate_limit_caps_billing(first_party, tmp_path):
    # gpt-3.5-turbo-0125 has a 16,385 limit: one example far above it is billed at the limit.
    long = {"messages": [{"role": "user", "content": "word " * 20000},
                         {"role": "assistant", "content": "ok"}]}
    short = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]}
    f = tmp_path / "t.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in [long] + [short] * 11) + "\n")
    got = json.loads(run("estimate", str(f), "--model", "gpt-3.5-turbo-0125", "--json").stdout)
    ref = cookbook_estimate(f, "cl100k_base", 16385, 8.0)
    assert got["billed_tokens"] == ref["billed_tokens"] < got["tokens"]["total"] * got["epochs"]
    assert got["over_limit_examples"] == 1
    assert got["epochs"] == 8  # 12 examples: 100 // 12


def test_estimate_economics(first_party):
    result = run("estimate", str(TRAIN), "--model", "gpt-4o-mini", "--requests-per-month",
                 "100000", "--shots", "4", "--json")
    assert result.exit_code == 0, result.output
    econ = json.loads(result.stdout)["economics"]
    assert econ["requests_per_month"] == 100000
    assert econ["prompt_tokens"] > econ["tuned_prompt_tokens"] > 0
    assert econ["base_monthly_usd"] == pytest.approx(econ["base_cost_per_request"] * 100000)
    assert econ["shutdown"] == "2027-01-14"
    assert econ["few_shot_prompt_sample"][0]["role"] == "system"
    # the sample prompt is the first example's prompt with 4 shots (8 turns) before its input
    assert len(econ["few_shot_prompt_sample"]) == 1 + 8 + 1


def test_estimate_economics_human_output(first_party):
    result = run("estimate", str(TRAIN), "--model", "gpt-4o-mini", "--requests-per-month",
                 "100000", "--prompt-tokens", "150", "--tuned-prompt-tokens", "150")
    assert result.exit_code == 0, result.output
    assert "payback: never" in result.stdout
    assert "training cost" in result.stdout and "prices as of 2026-" in result.stdout


def test_estimate_azure_tier(first_party):
    out = json.loads(run("estimate", str(TRAIN), "--model", "azure/gpt-4o-mini", "--tier",
                         "developer", "--json").stdout)
    assert out["price"]["training_per_1m"] == 1.5 and out["price"]["tier"] == "developer"


def test_estimate_untunable_model_exits_2(first_party, capsys):
    code, out, err = invoke_main(["estimate", str(TRAIN), "--model", "openai/o4-mini"], capsys)
    assert code == 2 and "cannot be fine-tuned" in err and "gpt-4o-mini" in err


def test_unknown_model_exits_2_with_suggestions(first_party, capsys):
    code, out, err = invoke_main(["estimate", str(TRAIN), "--model", "gpt-4o-mni"], capsys)
    assert code == 2
    assert "unknown model 'gpt-4o-mni'" in err and "did you mean" in err
    assert "Traceback" not in err


def test_missing_file_exits_2(first_party, capsys, tmp_path):
    code, out, err = invoke_main(["validate", str(tmp_path / "nope.jsonl")], capsys)
    assert code == 2 and "nope.jsonl" in err and "Traceback" not in err


def test_bad_flag_exits_2(capsys):
    code, out, err = invoke_main(["estimate", "x.jsonl", "--epochs", "zero", "--model", "m"], capsys)
    assert code == 2 and "--epochs" in err


def test_bad_price_file_exits_2(first_party, capsys, tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("models:\n  openai/gpt-4o-mini-2024-07-18:\n    training_per_1m: cheap\n")
    code, out, err = invoke_main(["prices", "--prices", str(bad)], capsys)
    assert code == 2 and str(bad) in err and "training_per_1m" in err


def test_invalid_training_set_exits_2_before_pricing(first_party, capsys, tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n' * 12)
    code, out, err = invoke_main(["estimate", str(f), "--model", "gpt-4o-mini"], capsys)
    assert code == 2 and "example_missing_assistant_message" in err


def test_missing_api_key_is_clear(first_party, capsys):
    code, out, err = invoke_main(["ask", "--model", "openai/gpt-4o-mini", "hi"], capsys)
    assert code in (2, 3) and "OPENAI_API_KEY" in err and "Traceback" not in err


def test_validate_human_and_json(first_party):
    result = run("validate", str(TRAIN), "--model", "gpt-4o-mini")
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout and "tokens / example" in result.stdout
    data = json.loads(run("validate", str(TRAIN), "--json").stdout)
    assert data["valid"] is True and data["examples"] >= 300 and data["format"] == "chat"
    assert set(data) >= {"file", "format", "valid", "examples", "errors", "warnings", "stats"}


def test_prices_table_and_json(first_party):
    result = run("prices", "--provider", "openai")
    assert result.exit_code == 0, result.output
    assert "gpt-4o-mini-2024-07-18" in result.stdout and "source:" in result.stdout
    rows = json.loads(run("prices", "--json").stdout)
    keys = {r["key"] for r in rows}
    assert {"openai/gpt-4o-mini-2024-07-18", "openai/gpt-4.1-2025-04-14"} <= keys
    shut = {r["key"]: r["flags"] for r in rows}
    assert "shut-down" in shut["openai/gpt-3.5-turbo-0125"]


def test_plugins_json_lists_first_party(first_party):
    rows = json.loads(run("plugins", "--json").stdout)
    names = {r["name"]: r for r in rows}
    assert names["openai"]["providers"] == ["openai"]
    assert names["azure"]["distribution"] == "ftdecide-azure"


def test_help_has_examples():
    for command in ("validate", "estimate", "prices", "plugins", "ask"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout, command


HEAVY = ("torch", "transformers", "pandas", "sklearn", "numpy", "openai", "tiktoken")


def test_help_imports_nothing_heavy():
    code = ("import sys\nfrom ftdecide.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    env = {**os.environ, "FTDECIDE_LOAD_PLUGINS": "openai,azure"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_plugins_command_imports_no_sdk():
    code = ("import sys\nfrom ftdecide.cli import main\n"
            "try:\n    main(['plugins'])\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', [m for m in ('openai', 'torch') if m in sys.modules])")
    env = {**os.environ, "FTDECIDE_LOAD_PLUGINS": "openai,azure"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_real_subprocess_with_empty_home_and_no_tiktoken_cache(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TIKTOKEN_CACHE_DIR", "FTDECIDE_LOAD_PLUGINS", "FTDECIDE_CONFIG_DIR",
                        "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path)
    ftdecide = Path(sys.executable).parent / "ftdecide"
    cmd = [str(ftdecide)] if ftdecide.exists() else [sys.executable, "-m", "ftdecide"]
    out = subprocess.run(cmd + ["estimate", str(TRAIN), "--model", "gpt-4o-mini-2024-07-18",
                                "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    ref = cookbook_estimate(TRAIN, "o200k_base", 65536, 3.0)
    assert got["billed_tokens"] == ref["billed_tokens"]
    assert got["training_cost_usd"] == pytest.approx(ref["cost"], abs=1e-6)
    # nothing was written to a tiktoken cache in the fake home or the temp folder's default
    assert not any(p.name == "data-gym-cache" for p in tmp_path.rglob("*"))
    out = subprocess.run(cmd + ["validate", str(tmp_path / "missing.jsonl")], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "missing.jsonl" in out.stderr


PLANTED = {
    # category: a line that has exactly that problem (and nothing else)
    "data_type": '["not", "an", "object"]',
    "missing_messages_list": '{"conversation": []}',
    "message_missing_key": '{"messages": [{"role": "user"}, {"role": "assistant", "content": "a"}]}',
    "message_unrecognized_key": '{"messages": [{"role": "user", "content": "q", "mood": "x"}, '
                                '{"role": "assistant", "content": "a"}]}',
    "unrecognized_role": '{"messages": [{"role": "robot", "content": "q"}, '
                         '{"role": "assistant", "content": "a"}]}',
    "missing_content": '{"messages": [{"role": "user", "content": ""}, '
                       '{"role": "assistant", "content": "a"}]}',
    "example_missing_assistant_message": '{"messages": [{"role": "user", "content": "q"}]}',
    "invalid_json": '{"messages": [',
    "invalid_weight": '{"messages": [{"role": "user", "content": "q", "weight": 1}, '
                      '{"role": "assistant", "content": "a"}]}',
}


def _good(i):
    return json.dumps({"messages": [{"role": "system", "content": "Answer."},
                                    {"role": "user", "content": f"question number {i}"},
                                    {"role": "assistant", "content": f"answer {i}"}]})


def test_validate_planted_errors_reports_exactly_those_lines(tmp_path):
    lines, expected = [], {}
    for i in range(60):
        lines.append(_good(i))
    for category, bad in PLANTED.items():
        lines.insert(3 + 5 * len(expected), bad)
        expected[category] = None
    raw = "\n".join(lines).encode() + b"\n"
    # one line that is not UTF-8
    raw += b'{"messages": [{"role": "user", "content": "caf\xe9"}]}\n'
    f = tmp_path / "planted.jsonl"
    f.write_bytes(raw)
    text_lines = raw.split(b"\n")
    for category, bad in PLANTED.items():
        expected[category] = [text_lines.index(bad.encode()) + 1]
    expected["encoding_error"] = [len(text_lines) - 1]
    result = run("validate", str(f), "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["errors"] == expected
    assert report["valid"] is False and report["examples"] == 60
    human = run("validate", str(f))
    assert human.exit_code == 2 and "INVALID" in human.stdout
    assert "invalid_weight at line" in human.stdout and "→" in human.stdout


def test_validate_valid_file_warns_duplicates_and_over_limit(first_party, tmp_path):
    lines = [_good(i) for i in range(60)]
    lines[10] = lines[4]  # line 11 repeats line 5
    lines[20] = json.dumps({"messages": [{"role": "user", "content": "word " * 17000},
                                         {"role": "assistant", "content": "ok"}]})
    f = tmp_path / "train.jsonl"
    f.write_text("\n".join(lines) + "\n")
    result = run("validate", str(f), "--model", "gpt-3.5-turbo-0125", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["valid"] is True and report["errors"] == {}
    assert report["warnings"]["duplicate_example"] == [11]
    assert report["warnings"]["over_token_limit"] == [21]
    assert report["warnings"]["missing_system_message"] == [21]
    human = run("validate", str(f), "--model", "gpt-3.5-turbo-0125")
    assert human.exit_code == 0
    assert "duplicate_example at line 11" in human.stdout
    assert "over_token_limit at line 21" in human.stdout
