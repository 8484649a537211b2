"""The answer cache is keyed on the server too: two engines serving the same model name
never stand in for each other (a vLLM and a llama.cpp server both answering as one model)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.compare._runstore import call_key
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer, echo_last_user

MODEL = "openai/gpt-4o-mini-2024-07-18"
WORDS = ["my printer", "the invoice export", "login with SSO", "the mobile app", "a webhook",
         "password reset", "the billing page", "CSV import", "the dashboard", "search"]


def _example(i: int) -> dict:
    return {"messages": [{"role": "system", "content": "Answer with the ticket's team."},
                         {"role": "user", "content": WORDS[i % len(WORDS)] + f" broke on day {i}"},
                         {"role": "assistant", "content": f"team {i % 3}"}]}


def _compare(tmp_path, monkeypatch, server) -> dict:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    set_registry(Registry())
    result = CliRunner().invoke(cli, [
        "compare", "--train", str(tmp_path / "train.jsonl"), "--eval", str(tmp_path / "eval.jsonl"),
        "--model", MODEL, "--arms", "zeroshot", "--out", str(tmp_path / "reports"), "--json"],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_two_servers_under_one_model_name_never_share_cached_answers(tmp_path, monkeypatch):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(_example(i)) + "\n" for i in range(6)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(6, 11)))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-endpoint")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    with OpenAICompatibleServer(responder=echo_last_user) as a, \
            OpenAICompatibleServer(responder=lambda req: "team 0") as b:
        first = _compare(tmp_path, monkeypatch, a)
        other = _compare(tmp_path, monkeypatch, b)
        again = _compare(tmp_path, monkeypatch, a)
        sent_a = len(a.calls("POST", "/v1/chat/completions"))
        sent_b = len(b.calls("POST", "/v1/chat/completions"))
    n = first["arms"]["zeroshot"]["calls"]
    assert n >= 3 and first["arms"]["zeroshot"]["cached_calls"] == 0
    # the second server is asked, not answered from the first one's cache
    assert other["arms"]["zeroshot"]["cached_calls"] == 0 and sent_b == n
    assert other["arms"]["zeroshot"]["quality"]["mean"] != first["arms"]["zeroshot"]["quality"]["mean"]
    # the first server's answers are still cached for it
    assert again["arms"]["zeroshot"]["cached_calls"] == n and sent_a == n


def test_the_key_of_a_providers_own_service_is_unchanged():
    messages = [{"role": "user", "content": "hi"}]
    assert call_key("openai", "m", messages, {}) == call_key("openai", "m", messages, {}, None)
    assert call_key("openai", "m", messages, {}, "http://a:1/v1") != \
        call_key("openai", "m", messages, {}, "http://b:1/v1")
