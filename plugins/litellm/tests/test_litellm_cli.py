"""``ftdecide ask``, ``plugins`` and ``compare`` on ``litellm/openai/...`` against the local
server: the CLI as users run it, LiteLLM's real HTTP client, a real run store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.data._tokens import count_messages, count_texts
from ftdecide.testing import OpenAICompatibleServer
from ftdecide_litellm import LiteLLMProvider

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic")

KEY = "sk-test-litellm-cli-SECRET-42"
MODEL = "openai/gpt-4.1-mini"
CATS = ("billing", "account", "technical")
N_EVAL = 6


@pytest.fixture
def server():
    def rule(request: dict) -> str:
        last = request["messages"][-1]["content"]
        return json.dumps({"category": next(c for c in CATS if c in last)})

    with OpenAICompatibleServer(responder=rule) as s:
        yield s


def cli_env(server, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FTDECIDE_LITELLM_API_BASE"}
    return {**env, "FTDECIDE_LOAD_PLUGINS": "litellm", "OPENAI_API_KEY": KEY, **extra}


def test_ask_answers_with_usage_and_litellms_price(server):
    args = [sys.executable, "-m", "ftdecide", "ask", "--model", f"litellm/{MODEL}",
            "ticket about billing", "-o", "api_base", server.base_url]
    out = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120,
                         env=cli_env(server))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    messages = [{"role": "user", "content": "ticket about billing"}]
    answer = json.dumps({"category": "billing"})
    assert result["text"] == answer and result["model"] == f"litellm/{MODEL}"
    assert result["usage"] == {"input_tokens": count_messages(messages),
                               "output_tokens": count_texts([answer])[0],
                               "cached_input_tokens": 0}
    info = LiteLLMProvider().model_info(MODEL)
    assert result["cost_usd"] == pytest.approx(
        (result["usage"]["input_tokens"] * info.input_per_1m
         + result["usage"]["output_tokens"] * info.output_per_1m) / 1e6)
    assert result["cost_usd"] > 0 and result["price_as_of"] == info.as_of.isoformat()
    human = subprocess.run(args, capture_output=True, text=True, timeout=120,
                           env=cli_env(server))
    assert human.returncode == 0 and "$0.0000" in human.stderr
    for text in (out.stdout, out.stderr, human.stdout, human.stderr):
        assert KEY not in text


def test_ask_reports_a_500_clearly_with_exit_3(server):
    server.fail_next(500, times=3)
    out = subprocess.run([sys.executable, "-m", "ftdecide", "ask", "--model", f"litellm/{MODEL}",
                          "hi"], capture_output=True, text=True, timeout=120,
                         env=cli_env(server, FTDECIDE_LITELLM_API_BASE=server.base_url))
    assert out.returncode == 3
    assert "HTTP 500" in out.stderr and "after 3 attempts" in out.stderr
    assert "Traceback" not in out.stderr and KEY not in out.stderr


def test_plugins_json_lists_the_plugin_and_its_provider(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "litellm")
    result = CliRunner().invoke(cli, ["plugins", "--json"], catch_exceptions=False)
    [row] = [r for r in json.loads(result.stdout) if r["name"] == "litellm"]
    assert row["distribution"] == "ftdecide-litellm" and row["providers"] == ["litellm"]
    assert "api_base" in json.dumps(row)


def test_prices_folds_litellms_thousands_of_models_into_one_line(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai,litellm")
    everything = CliRunner().invoke(cli, ["prices"], catch_exceptions=False).stdout
    assert "gpt-4o-mini" in everything and "litellm/" not in everything
    line = next(x for x in everything.splitlines() if x.startswith("litellm: "))
    assert "ftdecide prices --provider litellm" in line
    only = CliRunner().invoke(cli, ["prices", "--provider", "litellm"], catch_exceptions=False)
    assert f"litellm/{MODEL}" in only.stdout
    assert int(line.split()[1].replace(",", "")) > 1000


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [{"role": "system", "content": "Classify the ticket as JSON."},
                         {"role": "user", "content": f"ticket {i} about {cat}"},
                         {"role": "assistant", "content": json.dumps({"category": cat})}]}


def test_compare_on_a_litellm_model_is_priced_with_litellms_prices(server, tmp_path,
                                                                   monkeypatch):
    for name, items in (("train", range(10)), ("eval", range(100, 100 + N_EVAL))):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps(_example(i)) + "\n" for i in items))
    config = tmp_path / "compare.yaml"
    config.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: litellm/{MODEL}\n"
                      "arms: [zeroshot, fewshot]\nmetric: json-fields\nshots: 2\n"
                      "concurrency: 2\nout: reports\n")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "litellm")
    monkeypatch.setenv("FTDECIDE_LITELLM_API_BASE", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    posts = server.calls("POST", "/v1/chat/completions")
    assert len(posts) == 2 * N_EVAL and {p.json["model"] for p in posts} == {"gpt-4.1-mini"}
    assert data["arms"]["fewshot"]["quality"]["mean"] == 1.0
    info = LiteLLMProvider().model_info(MODEL)
    zeroshot = [p for p in posts if sum(m["role"] == "user" for m in p.json["messages"]) == 1]
    spent = sum(count_messages(p.json["messages"]) * info.input_per_1m
                + count_texts([server.responder(p.json)])[0] * info.output_per_1m
                for p in zeroshot) / 1e6
    assert data["arms"]["zeroshot"]["cost_per_1k_usd"] == pytest.approx(spent / N_EVAL * 1000)
    # the key is in none of what the run leaves behind: output, report, exports, run store
    report_dir = Path(data["report"]).parent
    results = json.loads((report_dir / "results.json").read_text())
    [price] = [p for p in results["prices"] if p["model"] == f"litellm/{MODEL}"]
    assert "LiteLLM" in price["source"] and price["input_per_1m"] == info.input_per_1m
    assert KEY not in result.output
    leftovers = [f for base in (tmp_path, Path(os.environ["FTDECIDE_DATA_DIR"]),
                                Path(os.environ["FTDECIDE_CACHE_DIR"]))
                 for f in base.rglob("*") if f.is_file()]
    assert any(f.suffix in (".db", ".sqlite", ".sqlite3") for f in leftovers)
    assert [f for f in leftovers if KEY.encode() in f.read_bytes()] == []


def test_an_arm_on_litellm_beside_an_arm_on_openai_each_priced_with_its_own_model(
        server, tmp_path, monkeypatch):
    for name, items in (("train", range(10)), ("eval", range(100, 100 + N_EVAL))):
        (tmp_path / f"{name}.jsonl").write_text(
            "".join(json.dumps(_example(i)) + "\n" for i in items))
    other = "openai/gpt-4o-mini-2024-07-18"
    config = tmp_path / "compare.yaml"
    config.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: {other}\n"
                      f"arms: [{{name: fewshot, model: litellm/{MODEL}}}, zeroshot]\n"
                      "metric: json-fields\nshots: 2\nout: reports\n")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai,litellm")
    monkeypatch.setenv("FTDECIDE_LITELLM_API_BASE", server.base_url)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    arms = json.loads(result.stdout)["arms"]
    posts = server.calls("POST", "/v1/chat/completions")
    by_model = {m: [p for p in posts if p.json["model"] == m]
                for m in ("gpt-4.1-mini", "gpt-4o-mini-2024-07-18")}
    assert all(len(v) == N_EVAL for v in by_model.values())
    from ftdecide.pricing._catalog import load_catalog

    catalog = load_catalog()
    for arm, model, sent in (("fewshot", f"litellm/{MODEL}", "gpt-4.1-mini"),
                             ("zeroshot", other, "gpt-4o-mini-2024-07-18")):
        info = catalog.resolve(model)
        spent = sum(count_messages(p.json["messages"]) * info.input_per_1m
                    + count_texts([server.responder(p.json)])[0] * info.output_per_1m
                    for p in by_model[sent]) / 1e6
        assert arms[arm]["cost_per_1k_usd"] == pytest.approx(spent / N_EVAL * 1000), arm
        assert arms[arm]["model"] == info.key
    assert KEY not in result.output
