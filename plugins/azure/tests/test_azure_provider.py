"""The azure provider against a real local HTTP server, through the real openai SDK."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

import ftdecide
from ftdecide.data._tokens import count_messages, count_texts
from ftdecide.plugins import Registry
from ftdecide.pricing._catalog import Catalog
from ftdecide.testing import OpenAICompatibleServer
from ftdecide_azure import AzureOpenAIProvider
from ftdecide_azure.provider import DEFAULT_API_VERSION
from ftdecide_openai.shared import WIND_DOWN_MESSAGE

KEY = "azkey-0123456789abcdef-SECRET"
MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_AD_TOKEN",
                 "OPENAI_API_VERSION", "FTDECIDE_AZURE_AUTH", "OPENAI_API_KEY",
                 "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with OpenAICompatibleServer(responder=lambda request: "hello!") as s:
        yield s


@pytest.fixture
def provider(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    return AzureOpenAIProvider(max_retries=0, timeout=5)


def assert_no_secret(exc: ftdecide.FtdecideError) -> None:
    for text in (str(exc), exc.message, exc.hint or "", repr(exc)):
        assert KEY not in text


# -- complete() ----------------------------------------------------------------------

def test_complete_calls_the_deployment_with_the_api_key_header(server, provider):
    server.cached_tokens = 1
    result = provider.complete(MESSAGES, model="my-4o-mini", max_tokens=5, temperature=0)
    assert result.text == "hello!"
    assert result.usage == ftdecide.Usage(count_messages(MESSAGES), count_texts(["hello!"])[0], 1)
    assert result.model == "my-4o-mini"
    assert result.latency_s > 0
    [request] = server.requests
    assert request.path == "/openai/deployments/my-4o-mini/chat/completions"
    assert request.query == {"api-version": DEFAULT_API_VERSION}
    assert request.auth == "api-key"
    assert request.json["max_tokens"] == 5 and request.json["temperature"] == 0


def test_api_version_and_endpoint_from_arguments_or_environment(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    AzureOpenAIProvider(endpoint=server.url, max_retries=0).complete(MESSAGES, model="d")
    assert server.requests[-1].query["api-version"] == "2025-04-01-preview"
    AzureOpenAIProvider(endpoint=server.url + "/", api_version="2024-06-01",
                        max_retries=0).complete(MESSAGES, model="d")
    assert server.requests[-1].query["api-version"] == "2024-06-01"


def test_missing_endpoint_and_key_are_named_before_any_request():
    with pytest.raises(ftdecide.AuthenticationError) as info:
        AzureOpenAIProvider().complete(MESSAGES, model="gpt-4o-mini")
    assert info.value.message == "AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY are not set"
    assert info.value.exit_code == 3


def test_missing_key_fails_before_any_request(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    provider = AzureOpenAIProvider(max_retries=0)
    with pytest.raises(ftdecide.AuthenticationError, match="^AZURE_OPENAI_API_KEY is not set$"):
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert server.requests == []


def test_missing_endpoint_alone(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    with pytest.raises(ftdecide.AuthenticationError, match="^AZURE_OPENAI_ENDPOINT is not set$"):
        AzureOpenAIProvider().complete(MESSAGES, model="gpt-4o-mini")


def test_entra_without_azure_identity_says_what_to_install(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("FTDECIDE_AZURE_AUTH", "entra")
    monkeypatch.setitem(sys.modules, "azure.identity", None)  # as if not installed
    with pytest.raises(ftdecide.AuthenticationError, match="azure-identity") as info:
        AzureOpenAIProvider().complete(MESSAGES, model="gpt-4o-mini")
    assert "ftdecide-azure[entra]" in info.value.hint
    assert server.requests == []


def test_unknown_auth_mode_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("FTDECIDE_AZURE_AUTH", "password")
    with pytest.raises(ftdecide.UsageError, match="FTDECIDE_AZURE_AUTH"):
        AzureOpenAIProvider().complete(MESSAGES, model="gpt-4o-mini")


# -- errors (shared mapping with ftdecide-openai) ----------------------------------------

def test_401_is_an_authentication_error_naming_the_variable(server, provider):
    server.fail_next(401, body={"error": {"code": "401", "message": f"Access denied: {KEY}"}})
    with pytest.raises(ftdecide.AuthenticationError, match="AZURE_OPENAI_API_KEY") as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert "Azure OpenAI" in info.value.message
    assert_no_secret(info.value)


def test_403_training_not_available_is_mapped(server, provider):
    server.fail_next(403)
    with pytest.raises(ftdecide.ProviderError) as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert info.value.message == WIND_DOWN_MESSAGE


def test_429_and_500_are_provider_errors_with_status(server, provider):
    server.fail_next(429, headers={"Retry-After": "3"})
    with pytest.raises(ftdecide.ProviderError, match="429"):
        provider.complete(MESSAGES, model="gpt-4o-mini")
    server.fail_next(500, body={"error": {"message": f"internal {KEY}"}})
    with pytest.raises(ftdecide.ProviderError, match=r"HTTP 500.*internal \*\*\*") as info:
        provider.complete(MESSAGES, model="gpt-4o-mini")
    assert_no_secret(info.value)


def test_timeout_is_a_provider_error(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    server.delay_next(2.0)
    with pytest.raises(ftdecide.ProviderError, match="timed out"):
        AzureOpenAIProvider(endpoint=server.url, max_retries=0, timeout=0.2).complete(
            MESSAGES, model="d")


def test_repr_shows_no_key(provider):
    provider._get_client()
    assert KEY not in repr(provider) and KEY not in repr(provider._client_config)


# -- catalog ---------------------------------------------------------------------------

# providers.md §4 (global, regional, developer) and §3 base prices (input, cached, output)
TIERS = {
    "gpt-4.1": (25.0, 27.5, 12.5), "gpt-4.1-mini": (5.0, 5.5, 2.5),
    "gpt-4.1-nano": (1.5, 1.65, 0.75), "gpt-4o": (25.0, 27.5, 12.5),
    "gpt-4o-mini": (3.0, 3.3, 1.5),
}
BASE = {
    "gpt-4.1": (2.00, 0.50, 8.00), "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40), "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4o-mini": (0.15, 0.075, 0.60),
}


def test_catalog_has_training_tiers_hosting_and_base_rate_inference():
    catalog = {m.id: m for m in AzureOpenAIProvider().catalog()}
    assert set(catalog) == set(TIERS)
    for model_id, (glob, regional, developer) in TIERS.items():
        m = catalog[model_id]
        assert m.tunable and m.provider == "azure"
        assert dict(m.training_tiers) == {"global": glob, "regional": regional,
                                          "developer": developer}
        assert m.training_per_1m == glob
        assert m.hosting_per_hour == 1.70
        assert (m.input_per_1m, m.cached_input_per_1m, m.output_per_1m) == BASE[model_id]
        assert (m.ft_input_per_1m, m.ft_cached_input_per_1m, m.ft_output_per_1m) == BASE[model_id]
        assert m.training_token_limit == (32768 if model_id == "gpt-4.1-nano" else 65536)
        assert m.encoding == "o200k_base"
        assert m.as_of == dt.date(2026, 11, 1) and m.source.startswith("https://")
        assert "2.04" in m.notes and "24 h" in m.notes


def test_model_info_knows_catalog_ids_only():
    provider = AzureOpenAIProvider()
    assert provider.model_info("gpt-4.1").training_tiers["developer"] == 12.5
    assert provider.model_info("my-custom-deployment") is None
    # the dated OpenAI id is an alias here; bare ids still go to openai (bare_ids = False)
    assert provider.model_info("gpt-4o-mini-2024-07-18").id == "gpt-4o-mini"
    assert provider.bare_ids is False


def test_dated_ids_stay_unambiguous_with_both_plugins(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai,azure")
    catalog = Catalog(Registry().providers())
    assert catalog.resolve("gpt-4o-mini-2024-07-18").key == "openai/gpt-4o-mini-2024-07-18"
    assert catalog.resolve("azure/gpt-4o-mini").training_tiers["regional"] == 3.3
    assert catalog.resolve("openai/gpt-4o-mini").id == "gpt-4o-mini-2024-07-18"
    assert catalog.resolve("gpt-4o-mini").key == "openai/gpt-4o-mini-2024-07-18"
    assert catalog.resolve("azure/gpt-4o-mini-2024-07-18").key == "azure/gpt-4o-mini"


# -- packaging ----------------------------------------------------------------------------

def test_importing_the_plugin_does_not_import_the_sdk():
    code = "import sys, ftdecide_azure; print('openai' in sys.modules, 'azure' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_registered_through_its_entry_point(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "azure")
    registry = Registry()
    assert isinstance(registry.provider("azure"), AzureOpenAIProvider)
    [record] = registry.plugin_records()
    assert record.distribution == "ftdecide-azure" and record.providers == ["azure"]
