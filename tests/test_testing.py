"""ftdecide.testing: the local OpenAI-compatible server (raw HTTP) and the fake provider."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest

import ftdecide
from ftdecide.plugins import Registry
from ftdecide.prices import Catalog
from ftdecide.testing import (
    FakePlugin,
    FakeProvider,
    OpenAICompatibleServer,
    Reply,
    fake_plugin,
)
from ftdecide.tokens import count_messages, count_texts

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello world"}]


def call(url, body=None, *, method=None, headers=None, timeout=5):
    """(status, headers, json body) of one raw request; HTTP errors are returned, not raised."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"null")


@pytest.fixture
def server():
    with OpenAICompatibleServer() as s:
        yield s


def test_base_url_and_url(server):
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_chat_completion_is_openai_shaped_with_counted_usage(server):
    server.cached_tokens = 3
    status, headers, body = call(server.base_url + "/chat/completions",
                                 {"model": "gpt-4o-mini", "messages": MESSAGES},
                                 headers={"Authorization": "Bearer sk-secret-value"})
    assert status == 200
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "hello world", "refusal": None}
    assert choice["finish_reason"] == "stop"
    prompt, completion = count_messages(MESSAGES), count_texts(["hello world"])[0]
    assert body["usage"]["prompt_tokens"] == prompt
    assert body["usage"]["completion_tokens"] == completion
    assert body["usage"]["total_tokens"] == prompt + completion
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 3
    assert headers["x-request-id"].startswith("req-")


def test_requests_are_recorded_without_credentials(server):
    call(server.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES},
         headers={"Authorization": "Bearer sk-secret-value", "X-Extra": "1"})
    call(server.url + "/openai/deployments/d/chat/completions?api-version=2024-10-21",
         {"messages": MESSAGES}, headers={"api-key": "az-secret-value"})
    first, second = server.requests
    assert (first.method, first.path, first.query) == ("POST", "/v1/chat/completions", {})
    assert first.json == {"model": "m", "messages": MESSAGES}
    assert first.headers["x-extra"] == "1" and "authorization" not in first.headers
    assert first.auth == "bearer"
    assert second.auth == "api-key" and "api-key" not in second.headers
    assert second.query == {"api-version": "2024-10-21"}
    assert "secret-value" not in repr(server.requests)


def test_custom_responder_and_cached_tokens_callable_capped():
    with OpenAICompatibleServer(responder=lambda req: req["model"].upper(),
                                cached_tokens=lambda req: 10_000) as s:
        _, _, body = call(s.base_url + "/chat/completions", {"model": "abc", "messages": MESSAGES})
    assert body["choices"][0]["message"]["content"] == "ABC"
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == body["usage"]["prompt_tokens"]


def test_content_parts_are_echoed(server):
    parts = [{"role": "user", "content": [{"type": "text", "text": "a"},
                                          {"type": "text", "text": "b"}]}]
    _, _, body = call(server.base_url + "/chat/completions", {"model": "m", "messages": parts})
    assert body["choices"][0]["message"]["content"] == "ab"


def test_azure_deployment_path_needs_an_api_version(server):
    url = server.url + "/openai/deployments/my-dep/chat/completions"
    status, _, body = call(url, {"messages": MESSAGES})
    assert status == 404 and "api-version" in body["error"]["message"]
    status, _, body = call(url + "?api-version=2024-10-21", {"messages": MESSAGES})
    assert status == 200 and body["model"] == "my-dep"


def test_azure_v1_surface(server):
    status, _, _ = call(server.url + "/openai/v1/chat/completions",
                        {"model": "m", "messages": MESSAGES})
    assert status == 200


def test_list_models(server):
    server.models.append("extra")
    status, _, body = call(server.base_url + "/models")
    assert status == 200 and body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["gpt-4o-mini-2024-07-18", "extra"]


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "parse the JSON"),
    ({"messages": MESSAGES}, "model"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": MESSAGES, "stream": True}, "streaming"),
])
def test_bad_requests_get_openai_shaped_400s(server, body, fragment):
    status, _, err = call(server.base_url + "/chat/completions", body)
    assert status == 400 and fragment in err["error"]["message"]


def test_unknown_path_is_404_and_wrong_method_405(server):
    status, _, body = call(server.base_url + "/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _, _ = call(server.base_url + "/chat/completions")  # GET
    assert status == 405


def test_fail_next_defaults_and_times(server):
    server.fail_next(429, times=2)
    url = server.base_url + "/chat/completions"
    ok = {"model": "m", "messages": MESSAGES}
    for _ in range(2):
        status, headers, body = call(url, ok)
        assert status == 429 and headers["Retry-After"] == "1"
        assert body["error"]["code"] == "rate_limit_exceeded"
    assert call(url, ok)[0] == 200


@pytest.mark.parametrize("status, code", [
    (401, "invalid_api_key"), (403, "training_not_available"), (500, None),
])
def test_fail_next_default_bodies(server, status, code):
    server.fail_next(status)
    got, _, body = call(server.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
    assert got == status and body["error"]["code"] == code and body["error"]["message"]


def test_fail_next_custom_body_and_headers(server):
    server.fail_next(503, body={"error": {"message": "down"}}, headers={"Retry-After": "0"})
    status, headers, body = call(server.base_url + "/models")
    assert (status, headers["Retry-After"], body) == (503, "0", {"error": {"message": "down"}})


def test_delay_next_causes_a_client_timeout(server):
    server.delay_next(1.0)
    started = time.perf_counter()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        call(server.base_url + "/models", timeout=0.2)
    assert time.perf_counter() - started < 0.9
    assert call(server.base_url + "/models")[0] == 200  # only the next one was delayed


def test_stop_does_not_wait_for_a_delayed_request():
    server = OpenAICompatibleServer().start()
    server.delay_next(30)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        call(server.base_url + "/models", timeout=0.2)
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 2


def test_add_route_with_placeholders(server):
    def get_job(s, request, match):
        return {"id": match.group("job_id"), "object": "fine_tuning.job"}

    def create_job(s, request, match):
        return Reply(200, {"id": s.next_id("ftjob"), "model": request.json["model"]})

    server.add_route("GET", "/v1/fine_tuning/jobs/{job_id}", get_job)
    server.add_route("POST", "/v1/fine_tuning/jobs", create_job)
    assert call(server.base_url + "/fine_tuning/jobs/ftjob-abc")[2]["id"] == "ftjob-abc"
    _, _, body = call(server.base_url + "/fine_tuning/jobs", {"model": "gpt-4o-mini"})
    assert body["id"].startswith("ftjob-") and body["model"] == "gpt-4o-mini"


def test_a_failing_handler_answers_500(server):
    server.add_route("GET", "/v1/models", lambda s, r, m: 1 / 0)
    status, _, body = call(server.base_url + "/models")
    assert status == 500 and "ZeroDivisionError" in body["error"]["message"]


def test_reset(server):
    server.fail_next(500)
    call(server.base_url + "/models")
    server.fail_next(500)
    server.reset()
    assert server.requests == []
    assert call(server.base_url + "/models")[0] == 200


def test_testing_module_does_not_import_the_openai_sdk():
    import subprocess

    code = "import sys, ftdecide.testing; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the fake provider --------------------------------------------------------------------

def test_fake_provider_catalog():
    models = {m.id: m for m in FakeProvider().catalog()}
    assert set(models) == {"fake-small", "fake-tunable"}
    assert not models["fake-small"].tunable and models["fake-tunable"].tunable
    assert models["fake-tunable"].training_per_1m == 1.0
    assert models["fake-small"].input_per_1m == 0.10
    assert FakeProvider().model_info("small").id == "fake-small"


def test_fake_provider_complete_is_deterministic_and_counted():
    provider = FakeProvider()
    a = provider.complete(MESSAGES, model="fake-small", temperature=0)
    b = provider.complete(MESSAGES, model="fake-small")
    assert a.text == b.text == "hello world"
    assert a.usage == ftdecide.Usage(count_messages(MESSAGES), count_texts(["hello world"])[0])
    assert provider.call_count == 2
    assert provider.calls[0]["params"] == {"temperature": 0}
    custom = FakeProvider(responder=lambda messages, model: f"{model}:{len(messages)}")
    assert custom.complete(MESSAGES, model="fake-tunable").text == "fake-tunable:2"


def test_fake_provider_refuses_unknown_models():
    with pytest.raises(ftdecide.ProviderError, match="no model 'other'"):
        FakeProvider().complete(MESSAGES, model="other")


def test_fake_plugin_registers_through_the_registry():
    registry = Registry(load_entry_points=False)
    registry.add_plugin(fake_plugin)
    assert registry.provider("fake") is fake_plugin.provider
    assert [r.name for r in registry.plugin_records()] == ["fake"]
    catalog = Catalog(registry.providers())
    assert catalog.resolve("fake/small").key == "fake/fake-small"


def test_separate_fake_plugins_have_separate_providers():
    own = FakePlugin(name="fake-2")
    registry = Registry(load_entry_points=False)
    registry.add_plugin(own)
    assert registry.provider("fake") is own.provider is not fake_plugin.provider
