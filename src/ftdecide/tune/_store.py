"""The local SQLite store: fine-tuning jobs now, evaluation runs later.

A job is recorded the moment it starts, before anything is uploaded or
trained, so a crash, a Ctrl-C or a kill never loses track of work that was
paid for. Migrations are append-only and named (simonw/llm's pattern): a
database written by any earlier version upgrades in place, never the other
way round. Secrets are never stored: only ids, paths, settings and results.
"""

from __future__ import annotations

import datetime as _dt
import json
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ftdecide.errors import UsageError

JOB_STATES = ("created", "validating", "queued", "running", "interrupted", "succeeded",
              "failed", "cancelled")
"""``validating`` and ``queued`` are a remote service's stages before training starts."""
FINAL_STATES = ("succeeded", "failed", "cancelled")

_MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = []


def migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    """Register a migration; they run once each, in the order they are defined."""
    _MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_jobs(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            train_path TEXT NOT NULL,
            train_sha256 TEXT NOT NULL,
            validation_path TEXT,
            run_dir TEXT NOT NULL,
            hyperparameters TEXT NOT NULL DEFAULT '{}',
            options TEXT NOT NULL DEFAULT '{}',
            estimate TEXT NOT NULL DEFAULT '{}',
            provider_job_id TEXT,
            fine_tuned_model TEXT,
            result TEXT NOT NULL DEFAULT '{}',
            error TEXT
        )
    """)
    db.execute("CREATE INDEX jobs_created ON jobs(created_at)")


@migration
def m002_uploads_and_deployments(db: sqlite3.Connection) -> None:
    """Uploaded files (so the same content is never uploaded twice) and the
    deployment periods of fine-tuned models (hosting billed by the hour)."""
    db.execute("""
        CREATE TABLE uploads (
            provider TEXT NOT NULL,
            account TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            purpose TEXT NOT NULL,
            file_id TEXT NOT NULL,
            filename TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (provider, account, sha256, purpose)
        )
    """)
    db.execute("""
        CREATE TABLE deployments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id TEXT NOT NULL REFERENCES jobs(id),
            name TEXT NOT NULL,
            tier TEXT,
            hosting_per_hour REAL,
            deployed_at TEXT NOT NULL,
            undeployed_at TEXT,
            details TEXT NOT NULL DEFAULT '{}'
        )
    """)
    db.execute("CREATE INDEX deployments_job ON deployments(job_id)")


@migration
def m003_tune_key(db: sqlite3.Connection) -> None:
    """The tune key (provider, base model, data, settings): a finished job with the same key
    is reused instead of paying for the same fine-tune again."""
    db.execute("ALTER TABLE jobs ADD COLUMN tune_key TEXT")
    db.execute("CREATE INDEX jobs_tune_key ON jobs(tune_key)")


_JSON_FIELDS = ("hyperparameters", "options", "estimate", "result")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_job_id() -> str:
    """``ft-YYYYMMDD-xxxxxx``: sortable by day, short enough to type."""
    return f"ft-{_dt.datetime.now(_dt.timezone.utc):%Y%m%d}-{secrets.token_hex(3)}"


@dataclass
class JobRecord:
    """One row of the jobs table, JSON columns decoded."""

    id: str
    provider: str
    model: str
    status: str
    created_at: str
    updated_at: str
    train_path: str
    train_sha256: str
    validation_path: str | None
    run_dir: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    estimate: dict[str, Any] = field(default_factory=dict)
    provider_job_id: str | None = None
    fine_tuned_model: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    tune_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def open_db(path: Path, migrations: list[Migration], *, what: str) -> sqlite3.Connection:
    """Connect to the store file (WAL, autocommit) and apply ``migrations`` not yet applied.

    The job store and the run store (:mod:`ftdecide.runstore`) share the file
    and the ``_migrations`` table, each with its own list of named migrations.
    """
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        apply_migrations(db, migrations)
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"the {what} {path} cannot be opened: {exc}",
                         hint="move the file aside; ftdecide creates a new one") from None
    return db


def apply_migrations(db: sqlite3.Connection, migrations: list[Migration]) -> None:
    """Run each migration once, in order, each in its own write transaction.

    The applied check is repeated under the write lock, so two processes
    opening a new store at the same moment never run a migration twice.
    """
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, "
               "applied_at TEXT NOT NULL)")
    done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    for name, fn in migrations:
        if name in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is None:
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, _now()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


class Store:
    """A connection to the store file; migrates on open."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from ftdecide.paths import store_path

            path = store_path()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = open_db(self.path, _MIGRATIONS, what="job store")

    def transaction(self) -> "_Transaction":
        return _Transaction(self.db)

    def close(self) -> None:
        self.db.close()

    # -- jobs --------------------------------------------------------------------------
    def create_job(self, *, provider: str, model: str, train_path: str, train_sha256: str,
                   validation_path: str | None, run_dir: str, job_id: str | None = None,
                   hyperparameters: dict[str, Any] | None = None,
                   options: dict[str, Any] | None = None,
                   estimate: dict[str, Any] | None = None,
                   tune_key: str | None = None) -> JobRecord:
        job_id = job_id or new_job_id()
        now = _now()
        with self.transaction():
            self.db.execute(
                "INSERT INTO jobs (id, provider, model, status, created_at, updated_at, "
                "train_path, train_sha256, validation_path, run_dir, hyperparameters, options, "
                "estimate, tune_key) VALUES (?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, provider, model, now, now, train_path, train_sha256, validation_path,
                 run_dir, json.dumps(hyperparameters or {}), json.dumps(options or {}),
                 json.dumps(estimate or {}, default=str), tune_key),
            )
        return self.get_job(job_id)

    def jobs_with_key(self, tune_key: str) -> list[JobRecord]:
        """Jobs of one tune key, newest first (the same data and settings, trained before)."""
        rows = self.db.execute("SELECT * FROM jobs WHERE tune_key = ? ORDER BY created_at DESC, "
                               "id DESC", (tune_key,))
        return [_record(r) for r in rows]

    def update_job(self, job_id: str, **fields: Any) -> JobRecord:
        allowed = {"status", "provider_job_id", "fine_tuned_model", "result", "error",
                   "estimate", "options", "hyperparameters", "run_dir"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update job fields {sorted(unknown)}")
        if "status" in fields and fields["status"] not in JOB_STATES:
            raise ValueError(f"unknown job status {fields['status']!r}")
        values = {k: (json.dumps(v, default=str) if k in _JSON_FIELDS else v)
                  for k, v in fields.items()}
        values["updated_at"] = _now()
        sets = ", ".join(f"{k} = ?" for k in values)
        with self.transaction():
            cur = self.db.execute(f"UPDATE jobs SET {sets} WHERE id = ?",
                                  (*values.values(), job_id))
            if cur.rowcount == 0:
                raise UsageError(f"no job {job_id!r}", hint="`ftdecide jobs list` shows them")
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> JobRecord:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UsageError(f"no job {job_id!r} in {self.path}",
                             hint="`ftdecide jobs list` shows the known jobs")
        return _record(row)

    def find_job(self, job_id: str) -> JobRecord | None:
        row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _record(row)

    def jobs(self, limit: int | None = None) -> list[JobRecord]:
        sql = "SELECT * FROM jobs ORDER BY created_at DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_record(r) for r in self.db.execute(sql)]


    # -- uploads (the UploadLog protocol of ftdecide.providers) -------------------------
    def find_upload(self, *, provider: str, account: str, sha256: str,
                    purpose: str) -> str | None:
        row = self.db.execute(
            "SELECT file_id FROM uploads WHERE provider = ? AND account = ? AND sha256 = ? "
            "AND purpose = ?", (provider, account, sha256, purpose)).fetchone()
        return None if row is None else str(row[0])

    def remember_upload(self, *, provider: str, account: str, sha256: str, purpose: str,
                        file_id: str, filename: str, size: int) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (provider, account, sha256, purpose, file_id, filename, int(size), _now()))

    def forget_upload(self, *, provider: str, account: str, file_id: str) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM uploads WHERE provider = ? AND account = ? AND "
                            "file_id = ?", (provider, account, file_id))

    def uploads(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM uploads ORDER BY created_at")]

    # -- deployments ---------------------------------------------------------------------
    def add_deployment(self, job_id: str, *, name: str, tier: str | None,
                       hosting_per_hour: float | None, details: dict[str, Any] | None = None,
                       deployed_at: str | None = None) -> dict[str, Any]:
        """Record that ``job_id``'s model went live as deployment ``name`` (hosting starts)."""
        self.get_job(job_id)
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO deployments (job_id, name, tier, hosting_per_hour, deployed_at, "
                "details) VALUES (?, ?, ?, ?, ?, ?)",
                (job_id, name, tier, hosting_per_hour, deployed_at or _now(),
                 json.dumps(details or {}, default=str)))
        return self._deployment(int(cur.lastrowid or 0))

    def end_deployment(self, deployment_id: int, *, undeployed_at: str | None = None,
                       note: str | None = None) -> dict[str, Any]:
        """Record that a deployment is gone (hosting stops accruing)."""
        current = self._deployment(deployment_id)
        details = dict(current["details"])
        if note:
            details["ended"] = note
        with self.transaction():
            self.db.execute("UPDATE deployments SET undeployed_at = ?, details = ? WHERE id = ?",
                            (undeployed_at or _now(), json.dumps(details, default=str),
                             deployment_id))
        return self._deployment(deployment_id)

    def deployments(self, job_id: str) -> list[dict[str, Any]]:
        """The job's deployment periods, oldest first (``undeployed_at`` None = live)."""
        rows = self.db.execute("SELECT * FROM deployments WHERE job_id = ? ORDER BY id",
                               (job_id,))
        return [_deployment_row(r) for r in rows]

    def _deployment(self, deployment_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM deployments WHERE id = ?",
                              (deployment_id,)).fetchone()
        if row is None:
            raise UsageError(f"no deployment {deployment_id} in {self.path}")
        return _deployment_row(row)


def _deployment_row(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    data["details"] = json.loads(data["details"] or "{}")
    return data


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _record(row: sqlite3.Row) -> JobRecord:
    data = dict(row)
    for name in _JSON_FIELDS:
        data[name] = json.loads(data[name] or "{}")
    return JobRecord(**data)


def iter_migrations() -> Iterator[str]:
    return (name for name, _ in _MIGRATIONS)
