import sqlite3

import pytest

from ftdecide.errors import UsageError
from ftdecide.tune import _store as store_mod
from ftdecide.tune._store import Store


def make(store, **over):
    args = dict(provider="hf", model="smollm2-135m", train_path="/data/t.jsonl",
                train_sha256="ab" * 32, validation_path=None, run_dir="/runs/x")
    args.update(over)
    return store.create_job(**args)


def test_create_get_update_roundtrip(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    job = make(s, hyperparameters={"epochs": 2}, estimate={"training_cost_usd": 0.5})
    assert job.status == "created" and job.id.startswith("ft-")
    assert job.hyperparameters == {"epochs": 2}
    job = s.update_job(job.id, status="running", result={"step": 3})
    assert s.get_job(job.id).result == {"step": 3}
    s.update_job(job.id, status="succeeded", fine_tuned_model=job.id)
    assert s.get_job(job.id).fine_tuned_model == job.id
    assert [j.id for j in s.jobs()] == [job.id]


def test_survives_reopen_and_migrations_run_once(tmp_path):
    path = tmp_path / "db.sqlite"
    job = make(Store(path))
    s2 = Store(path)
    assert s2.get_job(job.id).model == "smollm2-135m"
    names = [r[0] for r in s2.db.execute("SELECT name FROM _migrations")]
    assert names == list(store_mod.iter_migrations())


def test_unknown_job_and_bad_status(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    with pytest.raises(UsageError, match="no job 'nope'"):
        s.get_job("nope")
    job = make(s)
    with pytest.raises(ValueError, match="unknown job status"):
        s.update_job(job.id, status="exploded")
    with pytest.raises(ValueError, match="cannot update"):
        s.update_job(job.id, train_path="/elsewhere")


def test_corrupt_store_is_a_clear_error(tmp_path):
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UsageError, match="cannot be opened"):
        Store(path)


def test_default_location_is_the_data_dir(tmp_path):
    s = Store()
    assert s.path == tmp_path / "user-data" / "ftdecide.db"
    assert isinstance(s.db, sqlite3.Connection)


def test_uploads_are_remembered_per_provider_account_and_purpose(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    key = dict(provider="openai", account="https://api.openai.com/v1", sha256="ab" * 32)
    assert s.find_upload(**key, purpose="fine-tune") is None
    s.remember_upload(**key, purpose="fine-tune", file_id="file-1", filename="f.jsonl", size=10)
    assert s.find_upload(**key, purpose="fine-tune") == "file-1"
    assert s.find_upload(**key, purpose="batch") is None
    assert s.find_upload(**{**key, "account": "http://127.0.0.1:1/v1"},
                         purpose="fine-tune") is None
    s.remember_upload(**key, purpose="fine-tune", file_id="file-2", filename="f.jsonl", size=10)
    assert s.find_upload(**key, purpose="fine-tune") == "file-2"
    s.forget_upload(provider="openai", account=key["account"], file_id="file-2")
    assert s.find_upload(**key, purpose="fine-tune") is None


def test_deployment_periods(tmp_path):
    s = Store(tmp_path / "db.sqlite")
    job = make(s)
    d = s.add_deployment(job.id, name="dep", tier="global", hosting_per_hour=1.7,
                         details={"sku": "globalstandard"})
    assert d["undeployed_at"] is None and d["details"] == {"sku": "globalstandard"}
    ended = s.end_deployment(d["id"], note="undeployed")
    assert ended["undeployed_at"] and ended["details"]["ended"] == "undeployed"
    assert [x["name"] for x in s.deployments(job.id)] == ["dep"]
    with pytest.raises(UsageError, match="no job"):
        s.add_deployment("nope", name="x", tier=None, hosting_per_hour=None)


def test_a_store_written_before_m002_upgrades_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    store_mod.m001_jobs(db)
    db.execute("INSERT INTO _migrations VALUES ('m001_jobs', '2026-11-01')")
    db.execute("INSERT INTO jobs (id, provider, model, status, created_at, updated_at, "
               "train_path, train_sha256, run_dir) VALUES ('ft-old', 'hf', 'm', 'succeeded', "
               "'2026-11-01', '2026-11-01', '/t', 'ab', '/r')")
    db.commit()
    db.close()
    s = Store(path)
    assert s.get_job("ft-old").status == "succeeded"
    assert s.deployments("ft-old") == [] and s.uploads() == []
