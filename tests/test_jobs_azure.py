"""``ftdecide tune`` / ``jobs`` with the azure provider: the Azure path shapes
(``/openai/...?api-version=``, ``api-key``), Azure's result-file columns, tiers,
the 18-character suffix, BOM stripping, and deploy/undeploy through ARM with
hosting accrued on the job. Real CLI, real ``openai`` SDK, real HTTP, real SQLite."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ftdecide.cli.main import main
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import openai_server  # noqa: F401 - fixture
from ftdecide.tune._store import Store

pytest.importorskip("openai")
pytest.importorskip("ftdecide_azure")

KEY = "azkey-TEST-0123456789abcdef-SECRET"
ARM_TOKEN = "arm-TEST-token-9f8e7d6c5b4a"
MODEL = "azure/gpt-4o-mini"
JOBS = "/openai/fine_tuning/jobs"
DEVELOPER_PRICE, GLOBAL_PRICE, HOSTING = 1.50, 3.00, 1.70


@pytest.fixture
def small_train(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"ticket {i}: the app crashes on start"},
        {"role": "assistant", "content": "bug"}]}) + "\n" for i in range(12)))
    return path


@pytest.fixture
def env(openai_server, monkeypatch):
    server = openai_server
    server.job_polls = {"validating_files": 1, "queued": 1, "running": 2}
    server.arm_polls = 2
    for name, value in {
        "AZURE_OPENAI_ENDPOINT": server.url, "AZURE_OPENAI_API_KEY": KEY,
        "FTDECIDE_POLL_INTERVAL": "0", "FTDECIDE_LOAD_PLUGINS": "azure",
        "AZURE_SUBSCRIPTION_ID": "sub-1", "AZURE_RESOURCE_GROUP": "rg-1",
        "AZURE_OPENAI_ACCOUNT": "acct-1", "FTDECIDE_AZURE_ARM_URL": server.url,
        "FTDECIDE_AZURE_ARM_TOKEN": ARM_TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    set_registry(Registry())
    return server


def run(capsys, *args):
    code = 0
    try:
        main(list(map(str, args)))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def tune(capsys, train, *extra):
    code, out, err = run(capsys, "tune", train, "--model", MODEL, "--yes", "--json", *extra)
    assert code == 0, err
    return json.loads(out), err


def test_azure_tune_flow_on_the_azure_path_shapes(env, small_train, capsys):
    server = env
    server.fail_next(429, times=2, method="POST", headers={"Retry-After": "0.2"})
    result, err = tune(capsys, small_train, "--tier", "developer", "--suffix", "triage")
    assert result["provider"] == "azure" and result["status"] == "succeeded"
    [job] = server.jobs.values()
    assert result["fine_tuned_model"] == job["fine_tuned_model"]
    assert result["fine_tuned_model"].startswith("gpt-4o-mini-2024-07-18.ft-")
    assert result["fine_tuned_model"].endswith("-triage")
    # developer tier: the estimate and the actual cost use its price
    assert result["estimate"]["price"]["tier"] == "developer"
    assert result["actual_cost_usd"] == pytest.approx(
        result["trained_tokens"] * DEVELOPER_PRICE / 1e6)
    assert result["estimated_cost_usd"] == pytest.approx(result["actual_cost_usd"])
    # Azure's result columns, parsed by name
    curve = result["metrics"]["loss_curve"]
    assert curve and all({"step", "train_loss", "train_accuracy"} <= set(r) for r in curve)
    # the Azure shapes: /openai/... with api-version, the api-key header, the dated model,
    # trainingType, no metadata; one upload, one job despite the two 429s
    assert len(server.calls("POST", "/openai/files")) == 3
    assert len(server.files) == 2 and len(server.calls("POST", JOBS)) == 1
    body = server.calls("POST", JOBS)[0].json
    assert body["model"] == "gpt-4o-mini-2024-07-18" and body["trainingType"] == "developerTier"
    assert "metadata" not in body and body["suffix"] == "triage"
    for request in server.requests:
        assert request.path.startswith("/openai/") and request.auth == "api-key"
        assert request.query.get("api-version") == "2024-10-21"
    assert "Developer tier" in err and "24 hours" in err


def test_default_tier_is_global_as_estimated(env, small_train, capsys):
    result, _ = tune(capsys, small_train)
    assert env.calls("POST", JOBS)[0].json["trainingType"] == "globalstandard"
    assert result["actual_cost_usd"] == pytest.approx(result["trained_tokens"] * GLOBAL_PRICE / 1e6)


def test_suffix_over_18_and_unknown_tier_refused_before_any_request(env, small_train, capsys):
    code, _, err = run(capsys, "tune", small_train, "--model", MODEL, "--suffix", "s" * 19,
                       "--yes")
    assert code == 2 and "at most 18" in err
    code, _, err = run(capsys, "tune", small_train, "--model", MODEL, "--tier", "premium",
                       "--yes")
    assert code == 2 and "premium" in err
    assert env.requests == [] and Store().jobs() == []


def test_a_bom_is_stripped_before_upload(env, tmp_path, small_train, capsys):
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + small_train.read_bytes())
    result, _ = tune(capsys, bom)
    assert result["status"] == "succeeded"
    [upload] = [f for f in env.files.values() if f["purpose"] == "fine-tune"]
    assert not upload["content"].startswith(b"\xef\xbb\xbf")


def test_dropped_create_found_by_training_file_without_metadata(env, small_train, capsys):
    env.drop_next(method="POST", path=JOBS)
    result, _ = tune(capsys, small_train)
    assert len(env.jobs) == 1 and len(env.calls("POST", JOBS)) == 1
    assert result["provider_job_id"] in env.jobs


def test_401_names_the_azure_key_variable(env, small_train, capsys):
    env.fail_next(401, method="POST")
    code, out, err = run(capsys, "tune", small_train, "--model", MODEL, "--yes")
    assert code == 3 and "AZURE_OPENAI_API_KEY" in err and KEY not in out + err


def test_deploy_ask_show_hosting_then_undeploy(env, small_train, capsys):
    server = env
    result, _ = tune(capsys, small_train)
    job_id, model = result["job_id"], result["fine_tuned_model"]
    code, out, err = run(capsys, "jobs", "deploy", job_id, "--json")
    assert code == 0, err
    deployed = json.loads(out)
    assert deployed["name"] == model[:64] and deployed["tier"] == "global"
    assert deployed["hosting_per_hour"] == HOSTING and deployed["state"] == "Succeeded"
    assert "15 days" in err and "every hour" in err
    [put] = server.calls("PUT", "/subscriptions/{s}/resourceGroups/{g}/providers/"
                         "Microsoft.CognitiveServices/accounts/{a}/deployments/{n}")
    assert put.path.startswith("/subscriptions/sub-1/resourceGroups/rg-1/")
    assert "/accounts/acct-1/deployments/" in put.path and put.auth == "bearer"
    assert put.query == {"api-version": "2024-10-01"}
    assert put.json["sku"] == {"name": "globalstandard", "capacity": 1}
    assert put.json["properties"]["model"] == {"format": "OpenAI", "name": model,
                                               "version": "1"}
    assert server.deployments[deployed["name"]]["properties"]["provisioningState"] == \
        "Succeeded"
    # the deployed model answers, priced at the base's rates
    code, out, err = run(capsys, "ask", "--model", deployed["model"], "hello", "--json")
    assert code == 0, err
    answer = json.loads(out)
    u = answer["usage"]
    assert answer["cost_usd"] == pytest.approx((u["input_tokens"] * 0.15
                                                + u["output_tokens"] * 0.60) / 1e6)
    # hosting accrues on the job: pretend it went live two hours ago
    store = Store()
    two_hours_ago = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)).isoformat()
    store.db.execute("UPDATE deployments SET deployed_at = ?", (two_hours_ago,))
    code, out, _ = run(capsys, "jobs", "show", job_id, "--json")
    shown = json.loads(out)
    assert shown["deployment"] == deployed["model"]
    assert shown["hosting_cost_usd"] == pytest.approx(2 * HOSTING, rel=1e-3)
    assert shown["total_cost_usd"] == pytest.approx(shown["actual_cost_usd"] + 2 * HOSTING,
                                                    rel=1e-3)
    code, out, _ = run(capsys, "jobs", "show", job_id)
    assert "hosting:" in out and "live" in out
    code, out, _ = run(capsys, "jobs", "deploy", job_id)
    assert code == 2  # already deployed
    code, out, err = run(capsys, "jobs", "undeploy", job_id, "--json")
    assert code == 0, err
    after = json.loads(out)
    assert after["deployment"] is None and deployed["name"] not in server.deployments
    assert server.calls("DELETE", "/subscriptions/{s}/resourceGroups/{g}/providers/"
                        "Microsoft.CognitiveServices/accounts/{a}/deployments/{n}")
    assert after["hosting_cost_usd"] == pytest.approx(2 * HOSTING, rel=1e-3)
    [period] = after["deployments"]
    assert period["undeployed_at"] and not period["live"]
    code, _, err = run(capsys, "jobs", "undeploy", job_id)
    assert code == 2 and "no live deployment" in err


def test_developer_deployment_has_no_fee_and_ends_after_24_hours(env, small_train, capsys):
    result, _ = tune(capsys, small_train, "--tier", "developer")
    code, out, err = run(capsys, "jobs", "deploy", result["job_id"], "--json")
    assert code == 0, err
    deployed = json.loads(out)
    assert deployed["tier"] == "developer" and deployed["hosting_per_hour"] == 0.0
    assert env.calls("PUT", "/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft."
                     "CognitiveServices/accounts/{a}/deployments/{n}")[0].json["sku"]["name"] \
        == "developertier"
    assert "24 hours" in err
    store = Store()
    store.db.execute("UPDATE deployments SET deployed_at = ?", (
        (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=30)).isoformat(),))
    code, out, _ = run(capsys, "jobs", "show", result["job_id"], "--json")
    [period] = json.loads(out)["deployments"]
    assert period["hours"] == pytest.approx(24.0) and not period["live"]
    assert period["hosting_cost_usd"] == 0.0


def test_deploy_failures(env, small_train, capsys, monkeypatch):
    result, _ = tune(capsys, small_train)
    job_id = result["job_id"]
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    monkeypatch.delenv("AZURE_RESOURCE_GROUP")
    code, _, err = run(capsys, "jobs", "deploy", job_id)
    assert code == 2 and "AZURE_SUBSCRIPTION_ID" in err and "AZURE_RESOURCE_GROUP" in err
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub-1")
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "rg-1")
    monkeypatch.delenv("FTDECIDE_AZURE_ARM_TOKEN")
    code, _, err = run(capsys, "jobs", "deploy", job_id)
    assert code == 3 and "FTDECIDE_AZURE_ARM_TOKEN" in err and "azure-identity" in err
    monkeypatch.setenv("FTDECIDE_AZURE_ARM_TOKEN", ARM_TOKEN)
    env.deployment_error = "Quota exceeded for this region."
    code, _, err = run(capsys, "jobs", "deploy", job_id)
    assert code == 3 and "Failed" in err and "Quota exceeded" in err
    [period] = Store().deployments(job_id)
    assert period["undeployed_at"] and "failed" in period["details"]["ended"]
    assert "Traceback" not in err


def test_openai_jobs_need_no_deployment(capsys, monkeypatch, openai_server, small_train):
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("FTDECIDE_POLL_INTERVAL", "0")
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    set_registry(Registry())
    code, out, _ = run(capsys, "tune", small_train, "--model", "openai/gpt-4o-mini", "--yes",
                       "--json")
    code, _, err = run(capsys, "jobs", "deploy", json.loads(out)["job_id"])
    assert code == 2 and "without a deployment" in err


def test_no_key_or_arm_token_in_store_outputs_or_files(env, small_train):
    environ = dict(os.environ)
    outputs = []

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "ftdecide", *map(str, args)],
                              capture_output=True, text=True, env=environ, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    job_id = json.loads(cli("tune", small_train, "--model", MODEL, "--yes", "--json")
                        .stdout)["job_id"]
    cli("jobs", "deploy", job_id, "--json")
    cli("jobs", "show", job_id, "--json")
    cli("jobs", "events", job_id)
    cli("jobs", "undeploy", job_id, "--json")
    for text in outputs:
        assert KEY not in text and ARM_TOKEN not in text
    data_dir = Path(os.environ["FTDECIDE_DATA_DIR"])
    dump = "\n".join(sqlite3.connect(data_dir / "ftdecide.db").iterdump())
    assert job_id in dump and KEY not in dump and ARM_TOKEN not in dump
    for path in data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY.encode() not in data and ARM_TOKEN.encode() not in data, path
    assert KEY not in repr(env.requests) and ARM_TOKEN not in repr(env.requests)


def test_tier_and_suffix_options_behave_as_the_old_flags(env, small_train, capsys):
    """`-o tier developer -o suffix triage` sends what `--tier developer --suffix triage` sent."""
    server = env
    result, err = tune(capsys, small_train, "-o", "tier", "developer", "-o", "suffix", "triage")
    assert "deprecated" not in err
    body = server.calls("POST", JOBS)[-1].json
    assert body["trainingType"] == "developerTier" and body["suffix"] == "triage"
    assert result["estimate"]["price"]["tier"] == "developer"
    assert result["options"] == {"tier": "developer", "suffix": "triage"}
    code, _, err = run(capsys, "tune", small_train, "--model", MODEL, "-o", "tier", "premium",
                       "--yes")
    assert code == 2 and "tier = 'premium': expected one of global, regional, developer" in err
    assert len(server.calls("POST", JOBS)) == 1
