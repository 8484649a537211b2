"""ftdecide.testing: the local OpenAI-compatible server (raw HTTP) and the fake provider."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import sys
import time
import urllib.error
import urllib.request

import pytest

import ftdecide
from ftdecide.data._tokens import count_messages, count_texts
from ftdecide.plugins import Registry
from ftdecide.pricing._catalog import Catalog
from ftdecide.testing import (
    ARM_DEPLOYMENT_PATH,
    AZURE_RESULT_COLUMNS,
    OPENAI_RESULT_COLUMNS,
    FakePlugin,
    FakeProvider,
    OpenAICompatibleServer,
    Reply,
    fake_plugin,
    openai_server,  # noqa: F401 - the fixture
)

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


# -- stateful routes: files, fine-tuning jobs, batches, ARM (driven through the real SDK) ----

TRAIN_LINES = [{"messages": [{"role": "user", "content": f"q{i}"},
                             {"role": "assistant", "content": f"a{i}"}]} for i in range(20)]
TRAIN_BYTES = "".join(json.dumps(x) + "\n" for x in TRAIN_LINES).encode()


@pytest.fixture
def sdk(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=5)


@pytest.fixture
def azure_sdk(server):
    openai = pytest.importorskip("openai")
    return openai.AzureOpenAI(azure_endpoint=server.url, api_key="az-test",
                              api_version="2024-10-21", max_retries=0, timeout=5)


def run_job(client, server, **create):
    uploaded = client.files.create(file=("train.jsonl", TRAIN_BYTES), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18",
                                         training_file=uploaded.id, **create)
    seen = [job.status]
    while job.status not in ("succeeded", "failed", "cancelled"):
        job = client.fine_tuning.jobs.retrieve(job.id)
        seen.append(job.status)
    return job, seen


def test_files_upload_list_retrieve_content_delete(server, sdk):
    uploaded = sdk.files.create(file=("train.jsonl", TRAIN_BYTES), purpose="fine-tune")
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(TRAIN_BYTES)
    assert uploaded.filename == "train.jsonl" and uploaded.purpose == "fine-tune"
    [recorded] = server.calls("POST", "/v1/files")
    assert recorded.form["purpose"] == "fine-tune"
    assert recorded.form["file"]["sha256"] == hashlib.sha256(TRAIN_BYTES).hexdigest()
    assert [f.id for f in sdk.files.list(purpose="fine-tune")] == [uploaded.id]
    assert sdk.files.list(purpose="batch").data == []
    assert sdk.files.retrieve(uploaded.id).bytes == len(TRAIN_BYTES)
    assert sdk.files.content(uploaded.id).read() == TRAIN_BYTES
    assert sdk.files.delete(uploaded.id).deleted
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.NotFoundError):
        sdk.files.retrieve(uploaded.id)


def test_upload_of_invalid_jsonl_is_refused(sdk):
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.BadRequestError, match="line 2"):
        sdk.files.create(file=("t.jsonl", b'{"a": 1}\nnot json\n'), purpose="fine-tune")


def test_job_advances_per_poll_and_finishes_with_model_tokens_and_result_file(server, sdk):
    from ftdecide.data._tokens import count_examples

    job, seen = run_job(sdk, server, suffix="triage", metadata={"ftdecide_job_id": "ft-1"},
                        method={"type": "supervised",
                                "supervised": {"hyperparameters": {"n_epochs": 2,
                                                                   "batch_size": 4}}})
    assert seen == ["validating_files", "validating_files", "queued", "running", "running",
                    "running", "succeeded"]
    assert job.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:ftdecide-test:triage:")
    tokens = sum(count_examples([x["messages"] for x in TRAIN_LINES]))
    assert job.trained_tokens == tokens * 2
    assert job.hyperparameters.n_epochs == 2 and job.metadata == {"ftdecide_job_id": "ft-1"}
    events = sdk.fine_tuning.jobs.list_events(job.id, limit=100).data
    metrics = [e.data for e in events if e.type == "metrics"]
    assert [m["step"] for m in metrics] == list(range(10, 0, -1))  # newest first
    assert all(m["total_steps"] == 10 and m["train_loss"] > 0 for m in metrics)
    assert [c.step_number for c in sdk.fine_tuning.jobs.checkpoints.list(job.id)] == [10, 5]
    [result_id] = job.result_files
    text = base64.b64decode(sdk.files.content(result_id).read()).decode()
    assert text.splitlines()[0] == ",".join(OPENAI_RESULT_COLUMNS)
    assert len(text.splitlines()) == 11
    assert sdk.models.list().data[-1].id == job.fine_tuned_model
    chat = sdk.chat.completions.create(model=job.fine_tuned_model,
                                       messages=[{"role": "user", "content": "hi"}])
    assert chat.choices[0].message.content == "hi"


def test_unknown_fine_tuned_model_is_404(sdk):
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="ft:gpt-4o-mini-2024-07-18:x::y",
                                    messages=[{"role": "user", "content": "hi"}])


def test_job_list_filters_by_metadata_and_pages(server, sdk):
    uploaded = sdk.files.create(file=("t.jsonl", TRAIN_BYTES), purpose="fine-tune")
    ids = [sdk.fine_tuning.jobs.create(model="m", training_file=uploaded.id,
                                       metadata={"ftdecide_job_id": f"j{i}"}).id
           for i in range(3)]
    assert [j.id for j in sdk.fine_tuning.jobs.list(metadata={"ftdecide_job_id": "j1"})] \
        == [ids[1]]
    page = sdk.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == ids[::-1][:2] and page.has_more
    assert [j.id for j in sdk.fine_tuning.jobs.list(after=ids[1])] == [ids[0]]


def test_job_failure_cancel_hold_and_bad_requests(server, sdk):
    openai = pytest.importorskip("openai")
    server.job_error = {"code": "invalid_training_file", "message": "Too few examples."}
    job, seen = run_job(sdk, server)
    assert seen[-1] == "failed" and job.error.message == "Too few examples."
    server.job_error = None
    server.hold_jobs = True
    uploaded = sdk.files.create(file=("t.jsonl", TRAIN_BYTES), purpose="fine-tune")
    job = sdk.fine_tuning.jobs.create(model="m", training_file=uploaded.id)
    for _ in range(10):
        assert sdk.fine_tuning.jobs.retrieve(job.id).status == "validating_files"
    assert sdk.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="cancelled"):
        sdk.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.BadRequestError, match="training_file"):
        sdk.fine_tuning.jobs.create(model="m", training_file="file-nope")
    with pytest.raises(openai.BadRequestError, match="suffix"):
        sdk.fine_tuning.jobs.create(model="m", training_file=uploaded.id, suffix="x" * 65)
    with pytest.raises(openai.NotFoundError):
        sdk.fine_tuning.jobs.retrieve("ftjob-nope")


def test_azure_shapes(server, azure_sdk):
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.BadRequestError, match="BOM"):
        azure_sdk.files.create(file=("t.jsonl", b"\xef\xbb\xbf" + TRAIN_BYTES),
                               purpose="fine-tune")
    with pytest.raises(openai.BadRequestError, match="suffix"):
        run_job(azure_sdk, server, suffix="s" * 19)
    job, _ = run_job(azure_sdk, server, suffix="triage",
                     extra_body={"trainingType": "developerTier"})
    assert all(r.query.get("api-version") == "2024-10-21" for r in server.requests
               if r.path.startswith("/openai/"))
    assert {r.auth for r in server.requests} == {"api-key"}
    assert job.status == "succeeded" and server.jobs[job.id]["trainingType"] == "developerTier"
    assert job.fine_tuned_model.startswith("gpt-4o-mini-2024-07-18.ft-")
    assert job.fine_tuned_model.endswith("-triage")
    header = azure_sdk.files.content(job.result_files[0]).read().decode().splitlines()[0]
    assert header == ",".join(AZURE_RESULT_COLUMNS)


def test_batches_answer_every_line_through_the_responder(server, sdk):
    lines = [{"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"x{i}"}]}}
             for i in range(3)]
    lines.append({"custom_id": "bad", "method": "POST", "url": "/v1/chat/completions",
                  "body": {"model": "gpt-4o-mini", "messages": []}})
    source = sdk.files.create(file=("b.jsonl", "".join(json.dumps(x) + "\n" for x in lines)
                                    .encode()), purpose="batch")
    batch = sdk.batches.create(input_file_id=source.id, endpoint="/v1/chat/completions",
                               completion_window="24h", metadata={"k": "v"})
    statuses = [batch.status]
    while batch.status != "completed":
        batch = sdk.batches.retrieve(batch.id)
        statuses.append(batch.status)
    assert statuses == ["validating", "validating", "in_progress", "finalizing", "completed"]
    assert (batch.request_counts.total, batch.request_counts.completed,
            batch.request_counts.failed) == (4, 3, 1)
    out = [json.loads(x) for x in sdk.files.content(batch.output_file_id).read().splitlines()]
    assert {o["custom_id"]: o["response"]["body"]["choices"][0]["message"]["content"]
            for o in out} == {"c0": "x0", "c1": "x1", "c2": "x2"}
    [err] = [json.loads(x) for x in sdk.files.content(batch.error_file_id).read().splitlines()]
    assert err["custom_id"] == "bad" and err["response"]["status_code"] == 400
    assert [b.id for b in sdk.batches.list()] == [batch.id]


def test_fail_next_filters_by_method_and_path(server):
    server.fail_next(429, times=2, method="POST", headers={"Retry-After": "0"})
    assert call(server.base_url + "/models")[0] == 200  # a GET is not counted
    url = server.base_url + "/chat/completions"
    ok = {"model": "m", "messages": MESSAGES}
    assert [call(url, ok)[0] for _ in range(3)] == [429, 429, 200]
    server.fail_next(500, path="/v1/fine_tuning/jobs/{job_id}")
    assert call(server.base_url + "/models")[0] == 200
    assert call(server.base_url + "/fine_tuning/jobs/ftjob-x")[0] == 500


def test_drop_next_after_handling_leaves_the_effect(server):
    server.drop_next(method="POST", path="/v1/chat/completions")
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        call(server.base_url + "/chat/completions", {"model": "m", "messages": MESSAGES})
    assert len(server.calls("POST", "/v1/chat/completions")) == 1
    assert call(server.base_url + "/chat/completions",
                {"model": "m", "messages": MESSAGES})[0] == 200


def test_delay_after_handling_times_out_but_the_job_exists(server, sdk):
    openai = pytest.importorskip("openai")
    uploaded = sdk.files.create(file=("t.jsonl", TRAIN_BYTES), purpose="fine-tune")
    server.delay_next(2.0, method="POST", path="/v1/fine_tuning/jobs", handled=True)
    with pytest.raises(openai.APITimeoutError):
        sdk.with_options(timeout=0.3).fine_tuning.jobs.create(model="m",
                                                              training_file=uploaded.id)
    assert len(server.jobs) == 1


def test_arm_deployment_lifecycle(server):
    path = ARM_DEPLOYMENT_PATH.format(subscription="sub", resource_group="rg", account="acct",
                                      name="dep1")
    url = server.url + path + "?api-version=2024-10-01"
    bearer = {"Authorization": "Bearer arm-token"}
    body = {"sku": {"name": "standard", "capacity": 1},
            "properties": {"model": {"format": "OpenAI", "name": "nope", "version": "1"}}}
    assert call(url, body, method="PUT")[0] == 401
    assert call(server.url + path, body, method="PUT", headers=bearer)[0] == 400  # no api-version
    status, _, err = call(url, body, method="PUT", headers=bearer)
    assert status == 400 and err["error"]["code"] == "DeploymentModelNotSupported"
    server.jobs["ftjob-x"] = {"fine_tuned_model": "gpt-4o-mini-2024-07-18.ft-abc"}
    body["properties"]["model"]["name"] = "gpt-4o-mini-2024-07-18.ft-abc"
    status, _, created = call(url, body, method="PUT", headers=bearer)
    assert status == 201 and created["properties"]["provisioningState"] == "Creating"
    chat = server.url + "/openai/deployments/dep1/chat/completions?api-version=2024-10-21"
    assert call(chat, {"messages": MESSAGES})[0] == 404  # not provisioned yet
    states = [call(url, headers=bearer)[2]["properties"]["provisioningState"] for _ in range(2)]
    assert states == ["Creating", "Succeeded"]
    assert call(chat, {"messages": MESSAGES})[0] == 200
    assert call(url, method="DELETE", headers=bearer)[0] == 202
    assert call(url, headers=bearer)[0] == 404 and "dep1" not in server.deployments


def test_openai_server_fixture_is_importable(openai_server):
    assert isinstance(openai_server, OpenAICompatibleServer)
    assert call(openai_server.base_url + "/models")[0] == 200
