"""Fine-tuning, deployments (ARM) and the Batch API of the azure provider, through the
real SDK (and urllib for ARM) over HTTP to ftdecide.testing's server. CLI flows:
tests/test_jobs_azure.py."""

from __future__ import annotations

import json

import pytest

import ftdecide
from ftdecide.testing import ARM_DEPLOYMENT_PATH, openai_server  # noqa: F401 - fixture
from ftdecide.tune._store import Store
from ftdecide_azure import AzureOpenAIProvider, arm

KEY = "azkey-0123456789abcdef-SECRET"
MESSAGES = [{"role": "user", "content": "Say hello"}]
LINES = [{"messages": [{"role": "user", "content": f"q{i}"},
                       {"role": "assistant", "content": f"a{i}"}]} for i in range(12)]
ARM_PATH = ARM_DEPLOYMENT_PATH.replace("{subscription}", "{s}").replace(
    "{resource_group}", "{g}").replace("{account}", "{a}")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_AD_TOKEN",
                 "OPENAI_API_VERSION", "FTDECIDE_AZURE_AUTH", "AZURE_SUBSCRIPTION_ID",
                 "AZURE_RESOURCE_GROUP", "AZURE_OPENAI_ACCOUNT", "FTDECIDE_AZURE_ARM_URL",
                 "FTDECIDE_AZURE_ARM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0")


@pytest.fixture
def server(openai_server):
    openai_server.job_polls = {"validating_files": 1, "queued": 1, "running": 1}
    return openai_server


@pytest.fixture
def provider(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    return AzureOpenAIProvider(timeout=5)


@pytest.fixture
def request_(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    return ftdecide.TuneRequest(job_id="ft-az-1", model="gpt-4o-mini", train_path=str(train),
                                run_dir=str(tmp_path), hyperparameters={"epochs": 1},
                                options={"tier": "regional"},
                                upload_log=Store(tmp_path / "db.sqlite"))


def follow(provider, state):
    while state.status not in ("succeeded", "failed", "cancelled"):
        state = provider.status(state.provider_job_id)
    return state


def test_tune_with_the_dated_model_and_training_type(provider, server, request_):
    state = follow(provider, provider.start(request_))
    body = server.calls("POST", "/openai/fine_tuning/jobs")[0].json
    assert body["model"] == "gpt-4o-mini-2024-07-18" and body["trainingType"] == "standard"
    assert state.status == "succeeded" and state.fine_tuned_model.startswith(
        "gpt-4o-mini-2024-07-18.ft-")
    assert state.loss_curve[0]["train_accuracy"] > 0  # train_mean_token_accuracy, by name
    assert provider.find_job(request_).provider_job_id == state.provider_job_id


def test_find_job_without_an_upload_is_none_without_any_request(provider, server, request_):
    assert provider.find_job(request_) is None
    assert server.requests == []


def test_fine_tuned_ids_are_priced_at_base_rates_with_hosting():
    info = AzureOpenAIProvider().model_info("gpt-4o-mini-2024-07-18.ft-0123456789abcdef-triage")
    assert (info.input_per_1m, info.output_per_1m) == (0.15, 0.60)
    assert info.hosting_per_hour == 1.70 and not info.tunable and info.training_tiers == {}
    assert AzureOpenAIProvider().model_info("gpt-4o-mini.ft-xyz") is None


def test_check_tune_options():
    provider = AzureOpenAIProvider()
    with pytest.raises(ftdecide.UsageError, match="at most 18"):
        provider.check_tune_options("gpt-4o-mini", hyperparameters={},
                                    options={"suffix": "x" * 19})
    with pytest.raises(ftdecide.UsageError, match="--lr"):
        provider.check_tune_options("gpt-4o-mini", hyperparameters={"learning_rate": 1e-4},
                                    options={})
    warnings = provider.check_tune_options("gpt-4o-mini", hyperparameters={},
                                           options={"tier": "developer", "suffix": "x" * 18})
    assert any("15 days" in w for w in warnings) and any("24 hours" in w for w in warnings)


def test_entra_token_provider_sends_a_bearer_token(server, request_):
    provider = AzureOpenAIProvider(endpoint=server.url, token_provider=lambda: "entra-token",
                                   timeout=5)
    assert provider.complete(MESSAGES, model="dep").text == "Say hello"
    provider.start(request_)
    assert {r.auth for r in server.requests} == {"bearer"}


def test_batch_on_azure(provider, server):
    batch_id = provider.batch_submit([("a", MESSAGES), ("b", MESSAGES)], model="gpt-4o-mini")
    [create] = server.calls("POST", "/openai/batches")
    assert create.json["endpoint"] == "/chat/completions" and "metadata" not in create.json
    result = provider.batch_poll(batch_id, model="gpt-4o-mini")
    while not result.finished:
        result = provider.batch_poll(batch_id, model="gpt-4o-mini")
    assert set(result.completions) == {"a", "b"}
    c = result.completions["a"]
    assert c.cost_usd == pytest.approx((c.usage.input_tokens * 0.15
                                        + c.usage.output_tokens * 0.60) / 1e6 / 2)
    assert provider.batch_submit([("a", MESSAGES), ("b", MESSAGES)],
                                 model="gpt-4o-mini") == batch_id  # by input file


# -- ARM ---------------------------------------------------------------------------------

def test_arm_settings_from_the_config_file_and_the_endpoint(monkeypatch, tmp_path):
    config = tmp_path / "user-config"
    config.mkdir(exist_ok=True)
    (config / "azure.yaml").write_text("subscription_id: s1\nresource_group: g1\n")
    got = arm.settings("https://my-resource.openai.azure.com")
    assert (got.subscription, got.resource_group, got.account) == ("s1", "g1", "my-resource")
    assert got.arm_url == "https://management.azure.com"
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "g2")  # the environment wins
    monkeypatch.setenv("FTDECIDE_AZURE_ARM_URL", "http://127.0.0.1:1")
    got = arm.settings("https://my-resource.openai.azure.com")
    assert got.resource_group == "g2" and got.arm_url == "http://127.0.0.1:1"
    assert got.deployment_url("d 1").endswith(
        "/subscriptions/s1/resourceGroups/g2/providers/Microsoft.CognitiveServices/accounts/"
        "my-resource/deployments/d%201?api-version=2024-10-01")
    with pytest.raises(ftdecide.UsageError, match="AZURE_OPENAI_ACCOUNT"):
        arm.settings("http://127.0.0.1:8000")


def test_deploy_retries_429_and_500_and_polls_provisioning(provider, server, request_,
                                                            monkeypatch):
    state = follow(provider, provider.start(request_))
    for name, value in {"AZURE_SUBSCRIPTION_ID": "s", "AZURE_RESOURCE_GROUP": "g",
                        "AZURE_OPENAI_ACCOUNT": "a", "FTDECIDE_AZURE_ARM_URL": server.url}.items():
        monkeypatch.setenv(name, value)
    provider = AzureOpenAIProvider(arm_token_provider=lambda: "arm-token")
    server.fail_next(429, method="PUT", headers={"Retry-After": "0"})
    server.fail_next(500, method="GET", path=ARM_PATH)
    seen = []
    result = provider.deploy(state.fine_tuned_model, tier="regional", progress=seen.append)
    assert result["state"] == "Succeeded" and result["sku"] == "standard"
    assert [s["state"] for s in seen] == ["Creating", "Succeeded"]
    assert len(server.calls("PUT", ARM_PATH)) == 2
    assert any("every hour" in w for w in result["warnings"])
    gone = []
    assert provider.undeploy(result["name"], progress=gone.append)["state"] == "Deleted"
    assert [g["state"] for g in gone] == ["Deleting", "Deleted"] and server.deployments == {}
    with pytest.raises(ftdecide.ProviderError, match="DeploymentModelNotSupported"):
        provider.deploy("gpt-4o-mini.ft-0000000000", name="x")


def test_arm_401_is_an_authentication_error(provider, server, monkeypatch):
    for name, value in {"AZURE_SUBSCRIPTION_ID": "s", "AZURE_RESOURCE_GROUP": "g",
                        "AZURE_OPENAI_ACCOUNT": "a", "FTDECIDE_AZURE_ARM_URL": server.url}.items():
        monkeypatch.setenv(name, value)
    server.fail_next(401, method="PUT", body={"error": {"code": "InvalidAuthenticationToken",
                                                        "message": "The token is expired."}})
    provider = AzureOpenAIProvider(arm_token_provider=lambda: "arm-token")
    with pytest.raises(ftdecide.AuthenticationError, match="expired") as info:
        provider.deploy("m.ft-0123456789", name="d")
    assert "FTDECIDE_AZURE_ARM_TOKEN" in info.value.hint and "arm-token" not in str(info.value)
