"""Fine-tuning and the Batch API of the openai provider, through the real SDK over HTTP
to ftdecide.testing's server. (CLI flows: tests/test_jobs_openai.py.)"""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ftdecide
from ftdecide.testing import (
    AZURE_RESULT_COLUMNS,
    OPENAI_RESULT_COLUMNS,
    openai_server,  # noqa: F401 - the fixture
)
from ftdecide.tune._store import Store
from ftdecide_openai import OpenAIProvider
from ftdecide_openai.batch import batch_cost
from ftdecide_openai.finetune import (
    BOM,
    Api,
    job_state,
    parse_result_file,
    upload,
    upload_name,
)

KEY = "sk-test-0123456789abcdefSECRET"
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
LINES = [{"messages": [{"role": "user", "content": f"q{i}"},
                       {"role": "assistant", "content": f"a{i}"}]} for i in range(12)]


@pytest.fixture
def server(openai_server):
    openai_server.job_polls = {"validating_files": 1, "queued": 1, "running": 1}
    return openai_server


@pytest.fixture
def provider(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return OpenAIProvider(base_url=server.base_url, timeout=5)


@pytest.fixture
def request_(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    return ftdecide.TuneRequest(job_id="ft-test-1", model="gpt-4o-mini-2024-07-18",
                                train_path=str(train), run_dir=str(tmp_path),
                                hyperparameters={"epochs": 1}, options={"suffix": "s"},
                                upload_log=Store(tmp_path / "db.sqlite"))


def follow(provider, state):
    while state.status not in ("succeeded", "failed", "cancelled"):
        state = provider.status(state.provider_job_id)
    return state


# -- result files -------------------------------------------------------------------------

def csv_text(columns, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in columns})
    return out.getvalue()


def test_result_file_parsed_by_column_name_openai_base64_and_azure():
    rows = [{"step": 1, "train_loss": 1.5, "train_accuracy": 0.5, "valid_loss": "",
             "valid_mean_token_accuracy": ""},
            {"step": 2, "train_loss": 1.0, "train_accuracy": 0.6, "valid_loss": 1.2,
             "valid_mean_token_accuracy": 0.55}]
    plain = csv_text(OPENAI_RESULT_COLUMNS, rows)
    expected = [{"step": 1, "train_loss": 1.5, "train_accuracy": 0.5},
                {"step": 2, "train_loss": 1.0, "train_accuracy": 0.6, "valid_loss": 1.2,
                 "valid_accuracy": 0.55}]
    assert parse_result_file(plain) == expected
    assert parse_result_file(base64.b64encode(plain.encode())) == expected
    azure = [{"step": 1, "train_loss": 2.0, "train_mean_token_accuracy": 0.4,
              "validation_mean_token_accuracy": 0.3, "full_valid_loss": 2.5}]
    assert parse_result_file(csv_text(AZURE_RESULT_COLUMNS, azure)) == [
        {"step": 1, "train_loss": 2.0, "train_accuracy": 0.4, "valid_accuracy": 0.3,
         "full_valid_loss": 2.5}]
    assert parse_result_file(b"not,a,result\n1,2,3\n") == []
    assert parse_result_file(b"\x00\xff") == []


@settings(max_examples=60, deadline=None)
@given(st.permutations(AZURE_RESULT_COLUMNS),
       st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.booleans()), min_size=1,
                max_size=20))
def test_result_file_any_column_order_gives_the_same_curve(columns, values):
    rows = [{"step": i + 1, "train_loss": loss, "train_mean_token_accuracy": 0.5,
             "valid_loss": loss + 1 if has_valid else ""} for i, (loss, has_valid) in
            enumerate(values)]
    parsed = parse_result_file(csv_text(list(columns), rows))
    assert [r["step"] for r in parsed] == [r["step"] for r in rows]
    assert [r["train_loss"] for r in parsed] == pytest.approx([r["train_loss"] for r in rows])
    assert [("valid_loss" in r) for r in parsed] == [has for _, has in values]


def test_job_state_maps_statuses_and_the_error():
    from openai.types.fine_tuning import FineTuningJob

    base = dict(id="ftjob-1", created_at=1, fine_tuned_model=None, finished_at=None,
                hyperparameters={"n_epochs": 3}, model="m", object="fine_tuning.job",
                organization_id="o", result_files=[], seed=1, trained_tokens=None,
                training_file="f", validation_file=None)
    for raw, ours in (("validating_files", "validating"), ("queued", "queued"),
                      ("running", "running"), ("paused", "running"), ("cancelled", "cancelled")):
        state = job_state(FineTuningJob.model_construct(**base, status=raw))
        assert state.status == ours and state.metrics["provider_status"] == raw
    failed = job_state(FineTuningJob.model_validate({**base, "status": "failed", "error": {
        "code": "invalid_n_examples", "message": "Too few examples.", "param": None}}))
    assert failed.status == "failed" and failed.error == "Too few examples. (invalid_n_examples)"


# -- start / status / find / events --------------------------------------------------------

def test_start_then_status_to_the_end(provider, server, request_):
    state = provider.start(request_)
    assert state.status == "validating" and state.provider_job_id in server.jobs
    final = follow(provider, state)
    assert final.status == "succeeded" and final.trained_tokens > 0
    assert final.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:ftdecide-test:s:")
    assert [c["step"] for c in final.metrics["checkpoints"]] == [12]
    assert final.loss_curve and final.metrics["loss_curve_source"].startswith("result file")
    assert provider.find_job(request_).provider_job_id == state.provider_job_id


def test_find_job_is_none_when_nothing_was_created(provider, request_):
    assert provider.find_job(request_) is None


def test_an_unanswered_create_is_found_not_repeated(server, request_, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = OpenAIProvider(base_url=server.base_url, timeout=0.5)
    server.delay_next(3.0, method="POST", path="/v1/fine_tuning/jobs", handled=True)
    state = provider.start(request_)
    assert list(server.jobs) == [state.provider_job_id]
    assert len(server.calls("POST", "/v1/fine_tuning/jobs")) == 1


def test_an_unanswered_upload_is_found_not_repeated(server, request_, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = OpenAIProvider(base_url=server.base_url, timeout=0.5)
    server.delay_next(3.0, method="POST", path="/v1/files", handled=True)
    provider.start(request_)
    assert len(server.calls("POST", "/v1/files")) == 1 and len(server.files) == 1


def test_persistent_500_on_create_gives_up_with_a_clear_error(provider, server, request_,
                                                              monkeypatch):
    monkeypatch.setattr("ftdecide_openai.shared.backoff", lambda attempt, exc=None: 0.0)
    server.fail_next(500, times=20, method="POST", path="/v1/fine_tuning/jobs")
    with pytest.raises(ftdecide.ProviderError, match="HTTP 500") as info:
        provider.start(request_)
    assert "nothing is created twice" in info.value.hint
    assert server.jobs == {}


def test_events_are_paged_oldest_first(provider, server, request_):
    import dataclasses

    request_ = dataclasses.replace(request_, hyperparameters={"epochs": 10},
                                   upload_log=request_.uploads)
    state = follow(provider, provider.start(request_))
    count = len(server.jobs[state.provider_job_id]["_state"]["events"])
    assert count > 100
    found = provider.events(state.provider_job_id, limit=1000)
    assert len(found) == count
    assert found[0]["message"].startswith("Created fine-tuning job")
    assert provider.events(state.provider_job_id, limit=5)[-1]["message"] == \
        "The job has successfully completed"


def test_cancel(provider, server, request_):
    server.hold_jobs = True
    state = provider.start(request_)
    assert provider.cancel(state.provider_job_id).status == "cancelled"


def test_upload_strips_a_bom_when_asked_and_names_files_by_content(server, tmp_path):
    import openai

    path = tmp_path / "t.jsonl"
    path.write_bytes(BOM + json.dumps(LINES[0]).encode() + b"\n")
    api = Api(client=openai.OpenAI(base_url=server.base_url, api_key="k"), provider="openai",
              service="test", credential="K", account=server.base_url, strip_bom=True)
    file_id = upload(api, str(path))
    stored = server.files[file_id]
    assert not stored["content"].startswith(BOM)
    import hashlib

    assert stored["filename"] == upload_name(hashlib.sha256(stored["content"]).hexdigest())


def test_hf_only_options_and_long_suffix_are_refused():
    provider = OpenAIProvider()
    with pytest.raises(ftdecide.UsageError, match="--lora-r"):
        provider.check_tune_options("gpt-4o-mini-2024-07-18", hyperparameters={"lora_r": 8},
                                    options={})
    with pytest.raises(ftdecide.UsageError, match="at most 64"):
        provider.check_tune_options("gpt-4o-mini-2024-07-18", hyperparameters={},
                                    options={"suffix": "x" * 65})
    warnings = provider.check_tune_options("gpt-4o-mini-2024-07-18", hyperparameters={},
                                           options={})
    assert any("2027-01-06" in w for w in warnings)
    assert any("2027-01-14" in w for w in warnings)


# -- Batch API -----------------------------------------------------------------------------

def poll_to_end(provider, batch_id, model):
    result = provider.batch_poll(batch_id, model=model)
    while not result.finished:
        result = provider.batch_poll(batch_id, model=model)
    return result


def test_batch_answers_by_custom_id_at_half_price(provider, server):
    assert provider.supports_batch_api
    requests = [(f"item-{i}", [{"role": "user", "content": f"question {i}"}]) for i in range(3)]
    batch_id = provider.batch_submit(requests, model="gpt-4o-mini", temperature=0,
                                     max_tokens=5)
    [line] = server.calls("POST", "/v1/batches")
    assert line.json["endpoint"] == "/v1/chat/completions" and "ftdecide_batch" in \
        line.json["metadata"]
    sent = server.files[line.json["input_file_id"]]["content"].decode().splitlines()
    assert json.loads(sent[0])["body"] == {"model": "gpt-4o-mini", "messages": requests[0][1],
                                           "temperature": 0, "max_tokens": 5}
    first = provider.batch_poll(batch_id, model="gpt-4o-mini")
    assert not first.finished and first.completions == {}
    result = poll_to_end(provider, batch_id, "gpt-4o-mini")
    assert result.status == "completed" and (result.done, result.total) == (3, 3)
    assert set(result.completions) == {"item-0", "item-1", "item-2"} and result.errors == {}
    c = result.completions["item-1"]
    assert c.text == "question 1"
    standard = (c.usage.input_tokens * 0.15 + c.usage.output_tokens * 0.60) / 1e6
    assert c.cost_usd == pytest.approx(standard / 2) and result.price_factor == 0.5
    assert c.raw["batch_id"] == batch_id
    # polling the stored id again (after a crash) gives the same answers and submits nothing
    again = provider.batch_poll(batch_id, model="gpt-4o-mini")
    assert again.completions.keys() == result.completions.keys()
    assert len(server.calls("POST", "/v1/batches")) == 1


def test_batch_errors_and_a_failed_batch(provider, server):
    batch_id = provider.batch_submit([("ok", MESSAGES), ("bad", [])], model="gpt-4o-mini")
    result = poll_to_end(provider, batch_id, "gpt-4o-mini")
    assert set(result.completions) == {"ok"} and "HTTP 400" in result.errors["bad"]
    server.batch_error = {"code": "invalid_request", "message": "The input file is malformed.",
                          "line": 1}
    batch_id = provider.batch_submit([("a", MESSAGES)], model="gpt-4o-mini")
    result = poll_to_end(provider, batch_id, "gpt-4o-mini")
    assert result.status == "failed" and "malformed" in result.error
    assert "no answer" in result.errors["a"] and result.completions == {}


def test_batch_dropped_create_is_found_not_repeated(provider, server):
    server.drop_next(method="POST", path="/v1/batches")
    batch_id = provider.batch_submit([("a", MESSAGES)], model="gpt-4o-mini")
    assert list(server.batches) == [batch_id]
    assert len(server.calls("POST", "/v1/batches")) == 1


def test_the_same_requests_again_reuse_the_batch_instead_of_paying_twice(provider, server):
    first = provider.batch_submit([("a", MESSAGES)], model="gpt-4o-mini")
    assert provider.batch_submit([("a", MESSAGES)], model="gpt-4o-mini") == first
    other = provider.batch_submit([("a", MESSAGES)], model="gpt-4o-mini", temperature=0.5)
    assert other != first
    assert len(server.calls("POST", "/v1/batches")) == 2
    assert len(server.calls("POST", "/v1/files")) == 2
    server.batches[first]["status"] = "expired"  # an expired batch is not reused
    assert provider.batch_submit([("a", MESSAGES)], model="gpt-4o-mini") != first


def test_batch_custom_ids_must_be_unique(provider, server):
    with pytest.raises(ftdecide.UsageError, match="unique"):
        provider.batch_submit([("a", MESSAGES), ("a", MESSAGES)], model="gpt-4o-mini")
    assert server.requests == []


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000))
def test_batch_cost_is_half_the_standard_cost(inp, cached, out):
    cached = min(cached, inp)
    info = OpenAIProvider().model_info("gpt-4o-mini")
    usage = ftdecide.Usage(input_tokens=inp, output_tokens=out, cached_input_tokens=cached)
    from ftdecide.pricing._costs import usage_cost

    assert batch_cost(info, usage) == pytest.approx(usage_cost(info, usage) / 2)
    assert batch_cost(ftdecide.ModelInfo(id="x"), usage) is None
