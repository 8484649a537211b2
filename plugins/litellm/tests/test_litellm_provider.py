"""The litellm provider against the local OpenAI-compatible server, through LiteLLM's real
``openai/`` route with a custom ``api_base``: real HTTP, no network, no mocks."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys

import pytest

import ftdecide
import ftdecide_litellm
from ftdecide.data._tokens import count_messages, count_texts
from ftdecide.plugins import Registry
from ftdecide.pricing._catalog import Catalog, parse_price_data
from ftdecide.testing import OpenAICompatibleServer
from ftdecide_litellm import LiteLLMProvider, price_map

KEY = "sk-test-litellm-0123456789SECRET"
MODEL = "openai/gpt-4.1-mini"  # in LiteLLM's price map as "gpt-4.1-mini"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic")

MESSAGES = [{"role": "system", "content": "Answer with one word."},
            {"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def model_cost():
    """``litellm.model_cost`` itself (imported the way the plugin imports it: offline)."""
    from ftdecide_litellm.calls import import_litellm

    return import_litellm().model_cost


@pytest.fixture
def server():
    with OpenAICompatibleServer(responder=lambda request: "Paris") as s:
        yield s


@pytest.fixture
def provider(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("FTDECIDE_LITELLM_API_BASE", raising=False)
    return LiteLLMProvider(api_base=server.base_url, max_retries=0, timeout=10)


# -- catalog -----------------------------------------------------------------------------

def test_catalog_prices_and_limits_are_litellms(model_cost):
    info = LiteLLMProvider().model_info(MODEL)
    entry = model_cost["gpt-4.1-mini"]
    assert info.id == MODEL and info.provider == "litellm"
    assert info.input_per_1m == pytest.approx(entry["input_cost_per_token"] * 1e6)
    assert info.output_per_1m == pytest.approx(entry["output_cost_per_token"] * 1e6)
    assert info.cached_input_per_1m == pytest.approx(entry["cache_read_input_token_cost"] * 1e6)
    assert info.context_window == entry["max_input_tokens"]
    version = __import__("importlib.metadata").metadata.version("litellm")
    assert f"LiteLLM {version}" in info.source and "model_prices" in info.source
    assert isinstance(info.as_of, dt.date) and info.as_of <= dt.date.today()


def test_catalog_is_every_chat_model_and_claims_none_tunable(model_cost):
    catalog = LiteLLMProvider().catalog()
    chat = {k for k, v in model_cost.items() if isinstance(v, dict) and v.get("mode") == "chat"}
    assert len(catalog) >= 0.95 * len(chat) > 100  # keys naming one model twice collapse
    assert not any(m.tunable for m in catalog)
    ids = {m.id for m in catalog}
    assert {"anthropic/claude-sonnet-4-5", MODEL} <= ids
    assert all("/" in i for i in ids if not i.startswith(("ft:",)))
    # a price the map does not give stays unknown, never 0
    unknown = [k for k, v in model_cost.items() if isinstance(v, dict)
               and v.get("mode") == "chat" and v.get("input_cost_per_token") is None]
    for key in unknown[:5]:
        assert LiteLLMProvider().model_info(key).input_per_1m is None


def test_model_info_by_map_key_open_route_and_unknown_route():
    p = LiteLLMProvider()
    assert p.model_info("gpt-4.1-mini").id == MODEL
    served = p.model_info("hosted_vllm/my-finetune")
    assert served.input_per_1m is None and "prices unknown" in served.notes
    assert p.model_info("nosuchroute/model") is None
    assert p.model_info("gpt-nothing") is None


def test_price_file_overrides_litellms_price_like_any_catalog():
    overrides = parse_price_data({"as_of": "2026-12-01", "source": "our contract", "models": {
        f"litellm/{MODEL}": {"input_per_1m": 0.3},
        "litellm/hosted_vllm/ours": {"input_per_1m": 0.01, "output_per_1m": 0.02}}}, "p.yaml")
    catalog = Catalog({"litellm": LiteLLMProvider()}, overrides)
    info = catalog.resolve(f"litellm/{MODEL}")
    assert info.input_per_1m == 0.3 and info.source == "our contract"
    assert info.output_per_1m == LiteLLMProvider().model_info(MODEL).output_per_1m
    assert catalog.resolve("litellm/hosted_vllm/ours").output_per_1m == 0.02


def test_a_bare_id_means_the_makers_model_not_litellms(first_party, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai,litellm")
    catalog = Catalog(Registry().providers())
    assert catalog.resolve("gpt-4o-mini").provider == "openai"


# -- completions --------------------------------------------------------------------------

def test_complete_through_the_openai_route_and_api_base(server, provider):
    result = provider.complete(MESSAGES, model=MODEL, temperature=0, max_tokens=5)
    assert result.text == "Paris"
    assert result.usage == ftdecide.Usage(input_tokens=count_messages(MESSAGES),
                                          output_tokens=count_texts(["Paris"])[0])
    [request] = server.calls("POST", "/v1/chat/completions")
    assert request.json["model"] == "gpt-4.1-mini" and request.json["max_tokens"] == 5
    assert request.auth == "bearer"
    assert result.cost_usd is None  # priced by ftdecide's catalog, so price files apply
    assert KEY not in json.dumps(result.raw)


def test_api_base_option_and_environment_variable(server, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LITELLM_API_BASE", server.base_url)
    assert LiteLLMProvider().complete(MESSAGES, model=MODEL).text == "Paris"
    monkeypatch.setenv("FTDECIDE_LITELLM_API_BASE", "http://127.0.0.1:9/v1")
    assert LiteLLMProvider().complete(MESSAGES, model=MODEL, api_base=server.base_url).text \
        == "Paris"
    assert len(server.requests) == 2


def test_self_hosted_server_needs_no_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = LiteLLMProvider(api_base=server.base_url, max_retries=0)
    assert provider.complete(MESSAGES, model="openai/served-model").text == "Paris"
    assert provider.complete(MESSAGES, model="hosted_vllm/served-model").text == "Paris"


def test_429_is_retried_after_the_servers_retry_after(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = LiteLLMProvider(api_base=server.base_url, max_retries=2)
    server.fail_next(429, headers={"Retry-After": "0.5"})
    assert provider.complete(MESSAGES, model=MODEL).text == "Paris"
    first, second = server.calls("POST", "/v1/chat/completions")
    assert second.time - first.time >= 0.5  # waited what the server asked, no less
    server.reset()
    server.fail_next(429, headers={"retry-after-ms": "300"})
    provider.complete(MESSAGES, model=MODEL)
    first, second = server.calls("POST", "/v1/chat/completions")
    assert 0.3 <= second.time - first.time < 5


def test_429_after_the_retries_names_the_wait(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = LiteLLMProvider(api_base=server.base_url, max_retries=1)
    server.fail_next(429, headers={"Retry-After": "0.1"}, times=2)
    with pytest.raises(ftdecide.ProviderError, match=r"HTTP 429.*after 2 attempts") as info:
        provider.complete(MESSAGES, model=MODEL)
    assert "asked to wait 0.1 s" in info.value.hint
    assert len(server.requests) == 2


def test_500_is_retried_then_reported_clearly_without_the_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = LiteLLMProvider(api_base=server.base_url, max_retries=2)
    server.fail_next(500, body={"error": {"message": f"boom while using {KEY}",
                                          "type": "server_error"}}, times=3)
    with pytest.raises(ftdecide.ProviderError) as info:
        provider.complete(MESSAGES, model=MODEL)
    error = info.value
    assert "HTTP 500" in error.message and "after 3 attempts" in error.message
    assert "boom while using ***" in error.message and "request id req-" in error.message
    assert error.exit_code == 3 and "retry later" in error.hint
    assert all(KEY not in text for text in (str(error), error.message, repr(error)))
    assert len(server.requests) == 3
    server.reset()
    server.fail_next(503)
    assert provider.complete(MESSAGES, model=MODEL).text == "Paris"  # one 5xx: retried


def test_missing_key_fails_at_once_without_retrying(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = LiteLLMProvider(max_retries=5)
    with pytest.raises(ftdecide.ProviderError, match="OPENAI_API_KEY") as info:
        provider.complete(MESSAGES, model=MODEL)
    assert "after" not in info.value.message  # LiteLLM refused before any request: no retry


def test_unknown_parameter_is_a_usage_error(provider):
    with pytest.raises(ftdecide.UsageError, match="frequency_penalty"):
        provider.complete(MESSAGES, model=MODEL, frequency_penalty=1)


# -- packaging and start-up -------------------------------------------------------------------

def run_python(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_neither_the_plugin_nor_the_cli_start_imports_litellm():
    code = ("import sys, ftdecide_litellm\nfrom ftdecide.cli.main import main\n"
            "for args in (['--help'], ['plugins'], ['prices', '--provider', 'litellm']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print('LITELLM', 'litellm' in sys.modules)")
    assert "LITELLM False" in run_python(code, FTDECIDE_LOAD_PLUGINS="litellm")


def test_registered_through_its_entry_point(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "litellm")
    registry = Registry()
    assert isinstance(registry.provider("litellm"), LiteLLMProvider)
    [record] = registry.plugin_records()
    assert record.distribution == "ftdecide-litellm" and record.providers == ["litellm"]
    assert ftdecide_litellm.__version__ == "0.1.0"


def test_map_is_read_once_per_process():
    assert price_map.load() is price_map.load()


def test_an_api_base_with_credentials_is_shown_without_them(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = LiteLLMProvider(api_base=f"http://user:pw-SECRET@127.0.0.1:{port}/v1?token=t0k3n",
                               max_retries=0, timeout=5)
    with pytest.raises(ftdecide.ProviderError) as info:
        provider.complete(MESSAGES, model=MODEL)
    text = str(info.value) + (info.value.hint or "")
    assert f"127.0.0.1:{port}/v1" in text
    assert "pw-SECRET" not in text and "t0k3n" not in text and KEY not in text
