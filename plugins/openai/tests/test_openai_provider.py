"""The openai provider against a real local HTTP server, through the real openai SDK."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys

import pytest

import ftdecide
from ftdecide.data._tokens import count_messages, count_texts
from ftdecide.plugins import Registry
from ftdecide.pricing._catalog import Catalog, parse_price_data
from ftdecide.testing import OpenAICompatibleServer
from ftdecide_openai import OpenAIProvider
from ftdecide_openai.shared import WIND_DOWN_MESSAGE

KEY = "sk-test-0123456789abcdefSECRET"
MESSAGES = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID",
                 "OPENAI_ADMIN_KEY", "OPENAI_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with OpenAICompatibleServer(responder=lambda request: "Paris") as s:
        yield s


@pytest.fixture
def provider(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return OpenAIProvider(base_url=server.base_url, max_retries=0, timeout=5)


def assert_no_secret(exc: ftdecide.FtdecideError) -> None:
    for text in (str(exc), exc.message, exc.hint or "", repr(exc)):
        assert KEY not in text


# -- complete() ----------------------------------------------------------------------

def test_complete_returns_the_servers_text_and_usage(server, provider):
    server.cached_tokens = 5
    result = provider.complete(MESSAGES, model="gpt-4o-mini-2024-07-18")
    assert isinstance(result, ftdecide.Completion)
    assert result.text == "Paris"
    assert result.usage == ftdecide.Usage(
        input_tokens=count_messages(MESSAGES), output_tokens=count_texts(["Paris"])[0],
        cached_input_tokens=5,
    )
    assert result.model == "gpt-4o-mini-2024-07-18"
    assert result.latency_s > 0
    assert result.raw["usage"]["total_tokens"] == result.usage.input_tokens + 1
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.json["messages"] == MESSAGES
    assert request.auth == "bearer"


def test_missing_cached_token_details_mean_zero(server, provider):
    def no_details(s, request, match):
        body = s.chat_completion(request.json)
        del body["usage"]["prompt_tokens_details"]
        return body

    server.add_route("POST", "/v1/chat/completions", no_details)
    assert provider.complete(MESSAGES, model="m").usage.cached_input_tokens == 0


def test_params_are_sent_with_max_tokens_for_chat_models(server, provider):
    provider.complete(MESSAGES, model="gpt-4.1-mini", temperature=0.0, top_p=0.5,
                      max_tokens=7, seed=42)
    body = server.requests[-1].json
    assert body["model"] == "gpt-4.1-mini"
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.0, 0.5, 7, 42)
    assert "max_completion_tokens" not in body


def test_reasoning_models_get_max_completion_tokens(server, provider):
    provider.complete(MESSAGES, model="o4-mini", max_tokens=9, temperature=None)
    body = server.requests[-1].json
    assert body["max_completion_tokens"] == 9
    assert "max_tokens" not in body and "temperature" not in body


def test_unknown_param_is_a_usage_error_before_any_request(server, provider):
    with pytest.raises(ftdecide.UsageError, match="frequency_penalty"):
        provider.complete(MESSAGES, model="m", frequency_penalty=1.0)
    assert server.requests == []


def test_base_url_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    provider = OpenAIProvider(max_retries=0)
    assert provider.base_url == server.base_url
    assert provider.complete(MESSAGES, model="m").text == "Paris"
    assert len(server.requests) == 1


def test_self_hosted_server_needs_no_key(server):
    provider = OpenAIProvider(base_url=server.base_url, max_retries=0)
    assert provider.complete(MESSAGES, model="llama").text == "Paris"
    assert server.requests[-1].auth == "bearer"  # a placeholder key was sent


def test_missing_key_fails_before_any_request(server):
    provider = OpenAIProvider(max_retries=0)  # no base URL: OpenAI itself
    with pytest.raises(ftdecide.AuthenticationError, match="OPENAI_API_KEY is not set") as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert info.value.exit_code == 3
    assert "OPENAI_BASE_URL" in info.value.hint
    assert provider._client is None  # no client was made, so nothing was sent
    assert server.requests == []


def test_blank_key_counts_as_missing(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "  ")
    with pytest.raises(ftdecide.AuthenticationError, match="not set"):
        OpenAIProvider().complete(MESSAGES, model="gpt-4o-mini")


def test_client_is_remade_when_the_key_changes(server, provider, monkeypatch):
    provider.complete(MESSAGES, model="m")
    first = provider._client
    provider.complete(MESSAGES, model="m")
    assert provider._client is first
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "2")
    provider.complete(MESSAGES, model="m")
    assert provider._client is not first


# -- errors ----------------------------------------------------------------------------

def test_401_is_an_authentication_error_naming_the_variable(server, provider):
    server.fail_next(401, body={"error": {"message": f"Incorrect API key provided: {KEY}",
                                          "type": "invalid_request_error",
                                          "code": "invalid_api_key"}})
    with pytest.raises(ftdecide.AuthenticationError, match="OPENAI_API_KEY") as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert "401" in info.value.message
    assert_no_secret(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_403_training_not_available_gives_the_wind_down_message(server, provider):
    server.fail_next(403)  # the server's default 403 body has code training_not_available
    with pytest.raises(ftdecide.ProviderError) as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert not isinstance(info.value, ftdecide.AuthenticationError)
    assert info.value.message == WIND_DOWN_MESSAGE
    assert "can no longer create OpenAI fine-tuning jobs" in info.value.message
    assert "hf-trl" in info.value.message and "Azure OpenAI" in info.value.message
    assert "2027-01-06" in info.value.hint
    assert info.value.exit_code == 3


def test_other_403_is_a_refusal_with_the_servers_message(server, provider):
    server.fail_next(403, body={"error": {"message": "Project lacks access", "code": "nope"}})
    with pytest.raises(ftdecide.ProviderError, match=r"refused.*403.*Project lacks access"):
        provider.complete(MESSAGES, model="gpt-4o-mini")


def test_429_is_a_provider_error_with_status_and_message(server, provider):
    server.fail_next(429, headers={"Retry-After": "7"})
    with pytest.raises(ftdecide.ProviderError, match=r"429.*Rate limit reached") as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert "7 s" in info.value.hint


def test_429_is_retried_by_the_sdk_honouring_retry_after(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = OpenAIProvider(base_url=server.base_url, max_retries=1)
    server.fail_next(429, headers={"retry-after-ms": "10"})
    assert provider.complete(MESSAGES, model="m").text == "Paris"
    assert len(server.requests) == 2


def test_500_is_a_provider_error_and_never_shows_the_key(server, provider):
    server.fail_next(500, body={"error": {"message": f"boom while using {KEY}",
                                          "type": "server_error"}})
    with pytest.raises(ftdecide.ProviderError, match=r"HTTP 500.*boom while using \*\*\*") as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert "request id req-" in info.value.message
    assert_no_secret(info.value)


def test_non_json_error_body_is_reported(server, provider):
    server.fail_next(502, body="Bad gateway")
    with pytest.raises(ftdecide.ProviderError, match=r"HTTP 502.*Bad gateway"):
        provider.complete(MESSAGES, model="m")


def test_timeout_is_a_provider_error(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = OpenAIProvider(base_url=server.base_url, max_retries=0, timeout=0.2)
    server.delay_next(2.0)
    with pytest.raises(ftdecide.ProviderError, match="timed out"):
        provider.complete(MESSAGES, model="m")


def test_connection_refused_is_a_provider_error(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1", max_retries=0, timeout=2)
    with pytest.raises(ftdecide.ProviderError, match=f"could not connect.*127.0.0.1:{port}") as info:
        provider.complete(MESSAGES, model="m")
    assert_no_secret(info.value)


def test_missing_usage_is_an_error_not_a_guess(server, provider):
    def no_usage(s, request, match):
        body = s.chat_completion(request.json)
        del body["usage"]
        return body

    server.add_route("POST", "/v1/chat/completions", no_usage)
    with pytest.raises(ftdecide.ProviderError, match="no token usage"):
        provider.complete(MESSAGES, model="m")


def test_repr_shows_no_key(provider):
    assert KEY not in repr(provider)
    provider._get_client()
    assert KEY not in repr(provider) and KEY not in repr(provider._client_config)


# -- catalog and model_info ------------------------------------------------------------

# providers.md §3: training, FT input, FT cached, FT output, base input, base cached, base output
PRICES = {
    "gpt-4.1-2025-04-14": (25.00, 3.00, 0.75, 12.00, 2.00, 0.50, 8.00),
    "gpt-4.1-mini-2025-04-14": (5.00, 0.80, 0.20, 3.20, 0.40, 0.10, 1.60),
    "gpt-4.1-nano-2025-04-14": (1.50, 0.20, 0.05, 0.80, 0.10, 0.025, 0.40),
    "gpt-4o-2024-08-06": (25.00, 3.75, 1.875, 15.00, 2.50, 1.25, 10.00),
    "gpt-4o-mini-2024-07-18": (3.00, 0.30, 0.15, 1.20, 0.15, 0.075, 0.60),
    "gpt-3.5-turbo-0125": (8.00, 3.00, None, 6.00, 0.50, None, 1.50),
}
LIMITS = {"gpt-4.1-2025-04-14": 65536, "gpt-4.1-mini-2025-04-14": 65536,
          "gpt-4.1-nano-2025-04-14": 32768, "gpt-4o-2024-08-06": 65536,
          "gpt-4o-mini-2024-07-18": 65536, "gpt-3.5-turbo-0125": 16385}
SHUTDOWN = {"gpt-3.5-turbo-0125": "2026-10-23", "gpt-4.1-nano-2025-04-14": "2026-10-23"}


def test_catalog_has_the_six_tunable_models_with_exact_prices():
    catalog = {m.id: m for m in OpenAIProvider().catalog()}
    assert {m for m, info in catalog.items() if info.tunable} == set(PRICES)
    for model_id, prices in PRICES.items():
        m = catalog[model_id]
        assert (m.training_per_1m, m.ft_input_per_1m, m.ft_cached_input_per_1m,
                m.ft_output_per_1m, m.input_per_1m, m.cached_input_per_1m,
                m.output_per_1m) == prices, model_id
        assert m.training_token_limit == LIMITS[model_id]
        assert m.encoding == ("cl100k_base" if model_id.startswith("gpt-3.5") else "o200k_base")
        assert m.shutdown == dt.date.fromisoformat(SHUTDOWN.get(model_id, "2027-01-14"))
        if m.shutdown == dt.date(2027, 1, 14):
            assert "secondary source" in m.notes
        assert m.as_of == dt.date(2026, 11, 1)
        assert m.source.startswith("https://")
        assert m.provider == "openai"
        assert m.context_window


def test_untunable_models_have_no_invented_prices():
    catalog = {m.id: m for m in OpenAIProvider().catalog()}
    o4 = catalog["o4-mini"]
    assert not o4.tunable and o4.shutdown == dt.date(2026, 10, 23)
    assert (o4.input_per_1m, o4.output_per_1m, o4.training_per_1m) == (None, None, None)
    assert "unknown" in o4.notes


@pytest.mark.parametrize("alias, model_id", [
    ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
    ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
    ("gpt-4o", "gpt-4o-2024-08-06"),
    ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06"),
])
def test_model_info_by_id_or_alias(alias, model_id):
    assert OpenAIProvider().model_info(alias).id == model_id


def test_fine_tuned_id_is_priced_at_its_bases_fine_tuned_rates():
    ft = OpenAIProvider().model_info("ft:gpt-4o-mini-2024-07-18:acme:support:AbC123")
    assert ft.id == "ft:gpt-4o-mini-2024-07-18:acme:support:AbC123"
    assert not ft.tunable
    assert (ft.input_per_1m, ft.cached_input_per_1m, ft.output_per_1m) == (0.30, 0.15, 1.20)
    assert ft.shutdown == dt.date(2027, 1, 14)
    assert ft.encoding == "o200k_base" and ft.provider == "openai"
    # an empty suffix and an alias as the base work too
    assert OpenAIProvider().model_info("ft:gpt-3.5-turbo:acme::x1").output_per_1m == 6.00


def test_fine_tune_of_an_unknown_base_has_unknown_prices():
    info = OpenAIProvider().model_info("ft:davinci-002:acme::x1")
    assert info is not None and info.input_per_1m is None and info.output_per_1m is None
    assert "not in the catalog" in info.notes


def test_unknown_model_is_unknown_without_a_base_url():
    assert OpenAIProvider().model_info("llama-3-8b") is None


def test_unknown_model_on_a_self_hosted_server_has_unknown_prices():
    # a server may be free or billed by the hour: unknown, never $0, until a price file says
    info = OpenAIProvider(base_url="http://localhost:8000/v1").model_info("llama-3-8b")
    assert (info.input_per_1m, info.output_per_1m) == (None, None)
    assert info.notes.startswith("served at http://localhost:8000/v1: prices unknown")
    # catalog models keep their prices even behind a base URL (e.g. a proxy)
    assert OpenAIProvider(base_url="http://x/v1").model_info("gpt-4o-mini").input_per_1m == 0.15


def test_price_file_prices_a_self_hosted_model(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1")
    overrides = parse_price_data(
        {"as_of": "2026-11-02", "models": {"openai/llama-3-8b": {"input_per_1m": 0.05}}}, "p.yaml")
    catalog = Catalog({"openai": OpenAIProvider()}, overrides)
    assert catalog.resolve("openai/llama-3-8b").input_per_1m == 0.05
    assert catalog.resolve("openai/qwen").input_per_1m is None  # no file entry: unknown
    ft = catalog.resolve("openai/ft:gpt-4.1-nano-2025-04-14:acme::z")
    assert ft.input_per_1m == 0.20 and ft.shutdown == dt.date(2026, 10, 23)
    assert catalog.resolve("gpt-4o-mini").key == "openai/gpt-4o-mini-2024-07-18"


# -- packaging ----------------------------------------------------------------------------

def test_importing_the_plugin_does_not_import_the_sdk():
    code = "import sys, ftdecide_openai; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registered_through_its_entry_point(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    registry = Registry()
    assert isinstance(registry.provider("openai"), OpenAIProvider)
    [record] = registry.plugin_records()
    assert record.distribution == "ftdecide-openai" and record.providers == ["openai"]
