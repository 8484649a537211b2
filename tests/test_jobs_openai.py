"""``ftdecide tune`` / ``jobs`` with the openai provider: the real CLI, the real ``openai``
SDK, over HTTP to the stateful local server (ftdecide.testing), a real SQLite store.

Each acceptance line of issue 5 for OpenAI has a test here; subprocess tests run
the installed ``ftdecide`` command (SIGINT, SIGKILL, no traceback on stderr).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftdecide.cli.main import main
from ftdecide.examples import example_path
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import openai_server  # noqa: F401 - fixture
from ftdecide.tune._store import Store

pytest.importorskip("openai")
pytest.importorskip("ftdecide_openai")

KEY = "sk-proj-TESTKEY-7f3a9c1d2e4b5a6f"
MODEL = "openai/gpt-4o-mini-2024-07-18"
TRAINING_PRICE = 3.00  # USD per 1M trained tokens (providers.md §3)
FT_PRICES = (0.30, 0.15, 1.20)  # fine-tuned gpt-4o-mini: input, cached input, output
TRIAGE = example_path("triage", "train")
JOBS = "/v1/fine_tuning/jobs"


@pytest.fixture
def small_train(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"messages": [
        {"role": "system", "content": "Classify the ticket."},
        {"role": "user", "content": f"ticket number {i}: my invoice is wrong"},
        {"role": "assistant", "content": "billing"}]}) + "\n" for i in range(12)))
    return path


@pytest.fixture
def server(openai_server):
    openai_server.job_polls = {"validating_files": 1, "queued": 1, "running": 2}
    return openai_server


@pytest.fixture
def env(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    set_registry(Registry())
    return server


def run(capsys, *args):
    """(exit code, stdout, stderr) of one in-process CLI run."""
    code = 0
    try:
        main(list(map(str, args)))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def posts(server, path):
    return server.calls("POST", path)


def subprocess_env(extra=None):
    env = dict(os.environ)
    env.update(extra or {})
    return env


def cli(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "ftdecide", *map(str, args)],
                          capture_output=True, text=True, env=env or subprocess_env(),
                          timeout=120, **kwargs)


# -- acceptance: the happy path -----------------------------------------------------------

def test_tune_json_one_upload_one_job_polls_to_succeeded(env, capsys):
    server = env
    code, out, err = run(capsys, "tune", TRIAGE, "--model", MODEL, "--yes", "--json")
    assert code == 0, err
    result = json.loads(out)
    for key in ("provider", "job_id", "status", "fine_tuned_model", "trained_tokens",
                "estimated_cost_usd", "actual_cost_usd", "metrics", "model", "loss_curve",
                "wall_s"):
        assert key in result, key
    assert result["provider"] == "openai" and result["status"] == "succeeded"
    [job] = server.jobs.values()
    assert result["fine_tuned_model"] == job["fine_tuned_model"]
    assert result["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:")
    assert result["model"] == "openai/" + job["fine_tuned_model"]
    assert result["trained_tokens"] == job["trained_tokens"] > 0
    assert result["actual_cost_usd"] == pytest.approx(
        result["trained_tokens"] * TRAINING_PRICE / 1_000_000)
    # the cookbook estimate and the service's count agree on this data
    assert result["estimated_cost_usd"] == pytest.approx(result["actual_cost_usd"])
    curve = result["metrics"]["loss_curve"]
    assert curve == result["loss_curve"]
    assert [r["step"] for r in curve] == list(range(1, job["_state"]["total_steps"] + 1))
    assert all(set(r) >= {"step", "train_loss", "train_accuracy"} for r in curve)
    assert result["metrics"]["loss_curve_source"].startswith("result file")
    assert result["metrics"]["final_train_loss"] == curve[-1]["train_loss"]
    # the training set and the validation slice held out of it: two uploads, one job
    assert len(posts(server, "/v1/files")) == 2 and len(posts(server, JOBS)) == 1
    body = posts(server, JOBS)[0].json
    assert body["validation_file"] and body["validation_file"] != body["training_file"]
    assert body["method"]["type"] == "supervised" and "hyperparameters" not in body
    assert body["metadata"] == {"ftdecide_job_id": result["job_id"]}
    assert "ftdecide jobs wait " + result["job_id"] in err
    stored = Store().get_job(result["job_id"])
    assert stored.provider_job_id == job["id"] and stored.status == "succeeded"


def test_the_provider_job_id_is_stored_before_the_first_poll(env, small_train, capsys):
    server = env
    seen = {}

    def first_poll(s, request, match):
        if "stored" not in seen:
            [record] = Store().jobs()
            seen["stored"] = (record.provider_job_id, record.status)
        job = s.jobs[match.group("job_id")]
        from ftdecide.testing._finetuning import _advance_job
        from ftdecide.testing._protocol import _public

        _advance_job(s, job)
        return _public(job)

    server.add_route("GET", JOBS + "/{job_id}", first_poll)
    code, out, _ = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json")
    assert code == 0
    [job_id] = server.jobs
    assert seen["stored"] == (job_id, "validating")


def test_hyperparameters_suffix_seed_and_validation_file_are_sent(env, small_train, tmp_path,
                                                                   capsys):
    server = env
    valid = tmp_path / "valid.jsonl"
    valid.write_text(small_train.read_text())
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--validation", valid,
                         "--epochs", 2, "--batch-size", 4, "--lr-multiplier", 0.5,
                         "--seed", 7, "--suffix", "triage", "--yes", "--json")
    assert code == 0, err
    body = posts(server, JOBS)[0].json
    assert body["method"]["supervised"]["hyperparameters"] == {
        "n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 0.5}
    assert body["seed"] == 7 and body["suffix"] == "triage"
    # the same content twice: uploaded once, used as both files
    assert len(posts(server, "/v1/files")) == 1
    assert body["validation_file"] == body["training_file"]
    result = json.loads(out)
    assert ":triage:" in result["fine_tuned_model"]
    assert result["hyperparameters"]["n_epochs"] == 2
    assert any("valid_loss" in r for r in result["loss_curve"])


def test_ask_the_fine_tuned_model_priced_at_fine_tuned_rates(env, small_train, capsys):
    code, out, _ = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json")
    tuned = json.loads(out)["fine_tuned_model"]
    code, out, err = run(capsys, "ask", "--model", f"openai/{tuned}", "Is my invoice wrong?",
                         "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["text"] == "Is my invoice wrong?"
    u = answer["usage"]
    inp, cached, outp = FT_PRICES
    expected = ((u["input_tokens"] - u["cached_input_tokens"]) * inp
                + u["cached_input_tokens"] * cached + u["output_tokens"] * outp) / 1e6
    assert answer["cost_usd"] == pytest.approx(expected) and expected > 0


# -- acceptance: failures -------------------------------------------------------------------

def test_429_with_retry_after_on_the_first_two_posts_still_one_job(env, small_train, capsys):
    server = env
    server.fail_next(429, times=2, method="POST", headers={"Retry-After": "1"})
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded"
    assert len(server.jobs) == 1 and len(server.files) == 2  # the upload and the result file
    uploads = posts(server, "/v1/files")
    assert len(uploads) == 3  # 429, 429, then the one upload
    # Retry-After: 1 was honoured between the attempts (a lower bound, never an upper one)
    assert uploads[1].time - uploads[0].time >= 0.95
    assert uploads[2].time - uploads[1].time >= 0.95
    assert len(posts(server, JOBS)) == 1


def test_429_500_timeouts_and_drops_while_polling_are_retried(env, small_train, capsys,
                                                              monkeypatch):
    server = env
    job_path = JOBS + "/{job_id}"
    server.fail_next(429, times=2, method="GET", path=job_path, headers={"Retry-After": "0"})
    server.fail_next(500, method="GET", path=job_path)
    server.drop_next(times=2, method="GET", path=job_path)
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded"
    assert len(server.jobs) == 1 and len(posts(server, "/v1/files")) == 1


def test_dropped_connection_after_upload_and_after_create_never_duplicates(env, small_train,
                                                                           capsys):
    server = env
    server.drop_next(method="POST", path="/v1/files")  # the upload happened, no answer came
    server.drop_next(method="POST", path=JOBS)  # the job was created, no answer came
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json")
    assert code == 0, err
    assert len(posts(server, "/v1/files")) == 1 and len(posts(server, JOBS)) == 1
    assert len(server.jobs) == 1
    [job_id] = server.jobs
    assert json.loads(out)["provider_job_id"] == job_id


def test_a_500_after_the_job_was_created_is_found_not_repeated(env, small_train, capsys):
    server = env

    def create_then_fail(s, request, match):
        from ftdecide.testing import Reply, error_body
        from ftdecide.testing._finetuning import _create_job

        _create_job(s, request, match)
        return Reply(500, error_body("upstream error", type="server_error"))

    server.add_route("POST", JOBS, create_then_fail)
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json")
    assert code == 0, err
    assert len(server.jobs) == 1 and len(posts(server, JOBS)) == 1


def test_403_training_not_available_exit_3_wind_down_message_no_traceback(env, small_train):
    server = env
    server.fail_next(403, method="POST", path=JOBS)
    proc = cli("tune", small_train, "--model", MODEL, "--yes", "--json")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "ProviderError"  # --json: on stdout too
    assert "can no longer create OpenAI fine-tuning jobs" in proc.stderr
    assert "Azure OpenAI" in proc.stderr and "hf" in proc.stderr
    assert "2027-01-06" in proc.stderr
    assert len(posts(server, JOBS)) == 1  # a refusal is not retried
    [record] = Store().jobs()
    assert record.status == "failed" and "no longer create" in record.error


def test_401_exit_3_names_the_variable_without_the_key(env, small_train, capsys):
    server = env
    server.fail_next(401, method="POST", body={"error": {
        "message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}})
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes")
    assert code == 3 and "OPENAI_API_KEY" in err and "401" in err
    assert KEY not in err + out
    assert server.jobs == {}


def test_a_failed_job_shows_the_providers_error(env, small_train, capsys):
    server = env
    server.job_error = {"code": "invalid_training_file",
                        "message": "The job failed due to an invalid training file."}
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json")
    assert code == 3
    assert json.loads(out)["status"] == "failed"
    assert "invalid training file" in err and "invalid_training_file" in err
    assert "Traceback" not in err


# -- acceptance: nothing before validation, estimate and confirmation ---------------------

@pytest.mark.parametrize("args, fragment", [
    (["--model", MODEL, "--max-cost", "0.000001"], "above --max-cost"),
    (["--model", "openai/o4-mini"], "cannot be fine-tuned"),
    (["--model", MODEL, "--suffix", "x" * 65], "at most 64"),
    (["--model", MODEL, "--lora-r", "8"], "--lora-r"),
    (["--model", MODEL, "--tier", "global"], "no fine-tuning option 'tier'"),
    (["--model", MODEL, "-o", "tier", "global"], "openai accepts for fine-tuning: suffix"),
])
def test_refusals_exit_2_before_any_request(env, small_train, capsys, args, fragment):
    code, out, err = run(capsys, "tune", small_train, *args, "--yes")
    assert code == 2 and fragment in err, err
    assert env.requests == [] and Store().jobs() == []


def test_invalid_data_exit_2_before_any_upload(env, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "no answer"}]}\n' * 12)
    code, _, err = run(capsys, "tune", bad, "--model", MODEL, "--yes")
    assert code == 2 and "example_missing_assistant_message" in err
    assert env.requests == []


def test_no_terminal_and_no_yes_is_exit_2(env, small_train, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run(capsys, "tune", small_train, "--model", MODEL)
    assert code == 2 and "--yes" in err and "estimated training cost" in err
    assert env.requests == []


# -- reuse of uploads ----------------------------------------------------------------------

def test_same_content_is_uploaded_once_across_jobs_and_stores(env, small_train, capsys,
                                                              tmp_path, monkeypatch):
    server = env
    assert run(capsys, "tune", small_train, "--model", MODEL, "--yes")[0] == 0
    assert run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--epochs", 1)[0] == 0
    assert len(posts(server, "/v1/files")) == 1 and len(server.jobs) == 2
    assert len(Store().uploads()) == 1
    # a new machine (empty store): the server's file list has it
    monkeypatch.setenv("FTDECIDE_DATA_DIR", str(tmp_path / "other-data"))
    assert run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--epochs", 2)[0] == 0
    assert len(posts(server, "/v1/files")) == 1 and len(server.jobs) == 3
    # the file was deleted on the server: uploaded again, once
    server.files.clear()
    assert run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--epochs", 3)[0] == 0
    assert len(posts(server, "/v1/files")) == 2


# -- jobs commands --------------------------------------------------------------------------

def test_no_wait_then_jobs_wait_show_list_events(env, small_train, capsys):
    server = env
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json",
                         "--no-wait")
    assert code == 0
    started = json.loads(out)
    assert started["status"] == "validating" and started["provider_job_id"] in server.jobs
    assert "ftdecide jobs wait" in err
    job_id = started["job_id"]
    code, out, _ = run(capsys, "jobs", "show", job_id, "--json")  # refreshes from the provider
    assert json.loads(out)["status"] in ("validating", "queued")
    code, out, _ = run(capsys, "jobs", "wait", job_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "succeeded"
    code, out, _ = run(capsys, "jobs", "list", "--json")
    assert [j["job_id"] for j in json.loads(out)] == [job_id]
    code, out, _ = run(capsys, "jobs", "events", job_id, "--json", "--limit", 1000)
    events = json.loads(out)
    assert events[0]["message"].startswith("Created fine-tuning job")
    assert events[-1]["message"] == "The job has successfully completed"
    assert any(e["type"] == "metrics" and e["data"]["train_loss"] > 0 for e in events)
    code, out, _ = run(capsys, "jobs", "events", job_id)
    assert "successfully completed" in out
    code, out, _ = run(capsys, "jobs", "show", job_id)
    assert "succeeded" in out and "cost:" in out and "trained tokens" in out
    assert len(posts(server, JOBS)) == 1


def test_jobs_cancel_cancels_at_the_provider(env, small_train, capsys):
    server = env
    server.hold_jobs = True
    code, out, _ = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json",
                       "--no-wait")
    job_id = json.loads(out)["job_id"]
    code, out, err = run(capsys, "jobs", "cancel", job_id, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "cancelled"
    [job] = server.jobs.values()
    assert job["status"] == "cancelled"
    code, _, err = run(capsys, "jobs", "cancel", job_id)
    assert code == 2 and "already cancelled" in err


def test_jobs_wait_finds_a_job_whose_id_was_never_stored(env, small_train, capsys):
    """A crash between the create call and storing its answer: found by metadata."""
    server = env
    server.hold_jobs = True
    server.drop_next(method="POST", path=JOBS)
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--no-wait")
    assert code == 0, err
    [record] = Store().jobs()
    store = Store()
    store.update_job(record.id, provider_job_id=None, status="validating")  # as after a crash
    server.hold_jobs = False
    code, out, err = run(capsys, "jobs", "wait", record.id, "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "succeeded" and len(server.jobs) == 1


def test_jobs_wait_marks_a_never_created_job_failed(env, small_train, capsys):
    server = env
    server.fail_next(500, times=10, method="POST", path=JOBS)
    code, _, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes")
    assert code == 3 and "HTTP 500" in err
    [record] = Store().jobs()
    Store().update_job(record.id, status="validating", error=None)  # as if killed mid-create
    code, out, err = run(capsys, "jobs", "wait", record.id, "--json")
    assert code == 3 and "never created" in err
    assert server.jobs == {}


# -- Ctrl-C and SIGKILL: real processes -----------------------------------------------------

def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def polls(server):
    return server.calls("GET", JOBS + "/{job_id}")


def start_tune(train, server, *extra):
    env = subprocess_env({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url,
                          "FTDECIDE_POLL_INTERVAL": "0.05", "FTDECIDE_LOAD_PLUGINS": "openai"})
    proc = subprocess.Popen([sys.executable, "-m", "ftdecide", "tune", str(train), "--model",
                             MODEL, "--yes", "--json", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    return proc, env


def test_sigkill_while_polling_then_jobs_wait_finishes_one_upload_one_job(server, small_train):
    server.hold_jobs = True
    proc, env = start_tune(small_train, server)
    try:
        assert wait_for(lambda: len(polls(server)) >= 3), "the CLI never polled"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    [record] = Store().jobs()
    assert record.status in ("validating", "queued") and record.provider_job_id in server.jobs
    server.hold_jobs = False
    done = cli("jobs", "wait", record.id, "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"
    assert len(posts(server, "/v1/files")) == 1 and len(posts(server, JOBS)) == 1
    assert Store().get_job(record.id).fine_tuned_model


def test_ctrl_c_while_polling_leaves_the_job_running_exit_130(server, small_train):
    server.hold_jobs = True
    proc, env = start_tune(small_train, server)
    try:
        assert wait_for(lambda: len(polls(server)) >= 2), "the CLI never polled"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    [record] = Store().jobs()
    assert f"ftdecide jobs wait {record.id}" in err and "Traceback" not in err
    assert json.loads(out)["job_id"] == record.id
    [job] = server.jobs.values()
    assert job["status"] not in ("cancelled", "failed")  # still going at the provider
    assert not server.calls("POST", JOBS + "/{job_id}/cancel")


# -- secrets -----------------------------------------------------------------------------------

def test_no_key_in_the_store_run_folder_logs_or_json(server, small_train, tmp_path):
    env = subprocess_env({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url,
                          "FTDECIDE_POLL_INTERVAL": "0", "FTDECIDE_LOAD_PLUGINS": "openai",
                          "OPENAI_LOG": "debug"})
    server.fail_next(500, method="GET", body={"error": {"message": f"echo {KEY}"}})
    tuned = cli("tune", small_train, "--model", MODEL, "--yes", "--json", env=env)
    assert tuned.returncode == 0, tuned.stderr
    job_id = json.loads(tuned.stdout)["job_id"]
    outputs = [tuned.stdout, tuned.stderr]
    for args in (["jobs", "show", job_id, "--json"], ["jobs", "list", "--json"],
                 ["jobs", "events", job_id, "--json"], ["jobs", "show", job_id]):
        proc = cli(*args, env=env)
        assert proc.returncode == 0, proc.stderr
        outputs += [proc.stdout, proc.stderr]
    assert all(KEY not in text for text in outputs)
    data_dir = Path(os.environ["FTDECIDE_DATA_DIR"])
    db = sqlite3.connect(data_dir / "ftdecide.db")
    dump = "\n".join(db.iterdump())
    assert job_id in dump and KEY not in dump
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    # and what the server recorded never holds a credential either
    assert KEY not in repr(server.requests)


# -- complete() against any OpenAI-compatible server -------------------------------------------

def test_ask_base_url_unknown_model_is_unpriced_unless_a_price_file_says_otherwise(
        server, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    set_registry(Registry())
    code, out, err = run(capsys, "ask", "--base-url", server.base_url, "--model",
                         "openai/llama-3-8b", "hello there", "--json")
    assert code == 0, err
    answer = json.loads(out)
    # a server's own model has no known price: unknown (null), never $0
    assert answer["text"] == "hello there" and answer["cost_usd"] is None
    assert server.requests[-1].json["model"] == "llama-3-8b"
    prices = tmp_path / "prices.yaml"
    prices.write_text("as_of: 2026-11-02\nmodels:\n  openai/llama-3-8b:\n    input_per_1m: 1.0\n"
                      "    output_per_1m: 0.0\n")
    code, out, err = run(capsys, "ask", "--base-url", server.base_url, "--model",
                         "openai/llama-3-8b", "hello there", "--json", "--prices", prices)
    answer = json.loads(out)
    # the prices from the file
    assert answer["cost_usd"] == pytest.approx(answer["usage"]["input_tokens"] / 1e6)


def test_jobs_list_refresh_and_show_when_the_provider_is_unreachable(env, small_train, capsys,
                                                                    monkeypatch):
    code, out, _ = run(capsys, "tune", small_train, "--model", MODEL, "--yes", "--json",
                       "--no-wait")
    job_id = json.loads(out)["job_id"]
    code, out, _ = run(capsys, "jobs", "list", "--json")
    assert json.loads(out)[0]["status"] == "validating"  # no refresh: the stored state
    for _ in range(3):
        code, out, _ = run(capsys, "jobs", "list", "--refresh", "--json")
    assert json.loads(out)[0]["status"] == "running"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    monkeypatch.setattr("ftdecide_openai.shared.backoff", lambda attempt, exc=None: 0.0)
    code, out, err = run(capsys, "jobs", "show", job_id)
    assert code == 0 and "could not refresh" in err and "running" in out


def test_polling_that_keeps_failing_stops_with_how_to_follow_the_job(env, small_train, capsys,
                                                                     monkeypatch):
    server = env
    monkeypatch.setattr("ftdecide_openai.shared.backoff", lambda attempt, exc=None: 0.0)
    server.fail_next(503, times=50, method="GET", path=JOBS + "/{job_id}")
    code, _, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes")
    [record] = Store().jobs()
    assert code == 3 and "HTTP 503" in err and f"ftdecide jobs wait {record.id}" in err
    assert record.status == "validating" and record.provider_job_id in server.jobs
    server.reset()
    code, out, err = run(capsys, "jobs", "wait", record.id, "--json")
    assert code == 0 and json.loads(out)["status"] == "succeeded"
