"""The comparison runs in the local SQLite store: runs, calls, the response cache.

Every call is written the moment it completes, so a crash, a Ctrl-C or a
SIGKILL loses at most the calls in flight; ``compare --resume RUN`` repeats
none of the recorded ones. The cache is keyed on (provider, model, messages,
parameters): a re-run of the same comparison pays nothing, and a changed
prompt or parameter is a different key, never a stale answer.

The tables live in the same database file as the jobs (``paths.store_path``)
with their own append-only migrations, recorded in the same ``_migrations``
table as the job store's.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import secrets
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from ftdecide.errors import UsageError
from ftdecide.tune._store import open_db

_MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = []


def _migration(fn: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    _MIGRATIONS.append((fn.__name__, fn))
    return fn


@_migration
def runs_001_tables(db: sqlite3.Connection) -> None:
    db.execute("""
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            status TEXT NOT NULL,
            command TEXT NOT NULL DEFAULT '',
            config TEXT NOT NULL DEFAULT '{}',
            state TEXT NOT NULL DEFAULT '{}',
            results TEXT
        )
    """)
    db.execute("""
        CREATE TABLE calls (
            run_id TEXT NOT NULL REFERENCES runs(id),
            arm TEXT NOT NULL,
            item TEXT NOT NULL,
            key TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            text TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_input_tokens INTEGER NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL,
            cost_usd REAL,
            from_cache INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, arm, item)
        )
    """)
    db.execute("""
        CREATE TABLE cache (
            key TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            text TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_input_tokens INTEGER NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL,
            cost_usd REAL,
            created_at TEXT NOT NULL
        )
    """)
    db.execute("""
        CREATE TABLE batches (
            run_id TEXT NOT NULL REFERENCES runs(id),
            batch_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            calls TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, batch_id)
        )
    """)


RUN_STATES = ("running", "interrupted", "stopped", "complete", "failed")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """``cmp-YYYYMMDD-xxxxxx``: sortable by day, short enough to type."""
    return f"cmp-{_dt.datetime.now(_dt.timezone.utc):%Y%m%d}-{secrets.token_hex(3)}"


def endpoint_of(provider: Any) -> str | None:
    """The provider's self-hosted server address, for the cache key (None for its own service,
    and for providers written before :meth:`Provider.endpoint` existed)."""
    method = getattr(provider, "endpoint", None)
    return method() if callable(method) else None


def call_key(provider: str, model: str, messages: Sequence[Mapping[str, Any]],
             params: Mapping[str, Any], endpoint: str | None = None) -> str:
    """The cache key: sha256 of the canonical JSON of everything that shapes the answer.

    ``endpoint`` (a self-hosted server's address, :meth:`Provider.endpoint`) is part of it
    only when there is one, so the keys of calls to a provider's own service are unchanged.
    """
    shape: dict[str, Any] = {"provider": provider, "model": model, "messages": list(messages),
                             "params": dict(params)}
    if endpoint:
        shape["endpoint"] = endpoint
    blob = json.dumps(shape, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class CallResult:
    """One answer as stored: text, usage as the provider reported it, latency, cost."""

    text: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float | None = None
    from_cache: bool = False


@dataclass
class RunRecord:
    id: str
    created_at: str
    updated_at: str
    status: str
    command: str
    config: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] | None = None


class RunStore:
    """Runs, calls and the cache in the store file; migrates on open."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from ftdecide.paths import store_path

            path = store_path()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = open_db(self.path, _MIGRATIONS, what="run store")
        # WAL + NORMAL: a commit survives a crash or SIGKILL of this process (only a
        # power cut can lose the last ones), at a fraction of FULL's fsyncs per call.
        self.db.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self.db.close()

    # -- runs ----------------------------------------------------------------------------
    def create_run(self, *, config: Mapping[str, Any], command: str = "",
                   run_id: str | None = None) -> RunRecord:
        run_id = run_id or new_run_id()
        now = _now()
        self.db.execute("INSERT INTO runs (id, created_at, updated_at, status, command, config) "
                        "VALUES (?, ?, ?, 'running', ?, ?)",
                        (run_id, now, now, command, json.dumps(dict(config), sort_keys=True)))
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> RunRecord:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            known = [r[0] for r in self.db.execute(
                "SELECT id FROM runs ORDER BY created_at DESC LIMIT 5")]
            hint = f"recent runs: {', '.join(known)}" if known else "no compare run is recorded yet"
            raise UsageError(f"no compare run {run_id!r} in {self.path}", hint=hint)
        return RunRecord(id=row["id"], created_at=row["created_at"], updated_at=row["updated_at"],
                         status=row["status"], command=row["command"],
                         config=json.loads(row["config"]), state=json.loads(row["state"]),
                         results=json.loads(row["results"]) if row["results"] else None)

    def runs(self, limit: int = 20) -> list[RunRecord]:
        ids = [r[0] for r in self.db.execute(
            "SELECT id FROM runs ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))]
        return [self.get_run(i) for i in ids]

    def update_run(self, run_id: str, *, status: str | None = None,
                   state: Mapping[str, Any] | None = None,
                   results: Mapping[str, Any] | None = None) -> None:
        sets, args = ["updated_at = ?"], [_now()]
        if status is not None:
            if status not in RUN_STATES:
                raise ValueError(f"unknown run status {status!r}")
            sets.append("status = ?")
            args.append(status)
        if state is not None:
            sets.append("state = ?")
            args.append(json.dumps(dict(state), sort_keys=True))
        if results is not None:
            sets.append("results = ?")
            args.append(json.dumps(dict(results), sort_keys=True))
        args.append(run_id)
        self.db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id = ?", args)

    # -- calls ---------------------------------------------------------------------------
    def record_call(self, run_id: str, arm: str, item: str, key: str, provider: str, model: str,
                    result: CallResult) -> None:
        """Write one answer (and, when it was paid for, put it in the cache) atomically."""
        self.record_calls(run_id, [(arm, item, key, provider, model, result)])

    def record_calls(self, run_id: str,
                     rows: Sequence[tuple[str, str, str, str, str, CallResult]]) -> None:
        """Write many answers (arm, item, key, provider, model, result) in one transaction."""
        if not rows:
            return
        now = _now()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, arm, item, key, provider, model, r.text, r.input_tokens,
                  r.output_tokens, r.cached_input_tokens, r.latency_s, r.cost_usd,
                  int(r.from_cache), now) for arm, item, key, provider, model, r in rows])
            self.db.executemany(
                "INSERT OR REPLACE INTO cache VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(key, provider, model, r.text, r.input_tokens, r.output_tokens,
                  r.cached_input_tokens, r.latency_s, r.cost_usd, now)
                 for _arm, _item, key, provider, model, r in rows if not r.from_cache])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def calls(self, run_id: str) -> dict[tuple[str, str], CallResult]:
        """The recorded answers of a run by (arm, item)."""
        out: dict[tuple[str, str], CallResult] = {}
        for r in self.db.execute("SELECT * FROM calls WHERE run_id = ?", (run_id,)):
            out[(r["arm"], r["item"])] = _result(r, from_cache=bool(r["from_cache"]))
        return out

    def cached(self, key: str) -> CallResult | None:
        row = self.db.execute("SELECT * FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else _result(row, from_cache=True)

    def cached_many(self, keys: Sequence[str]) -> dict[str, CallResult]:
        """The cached answers of ``keys`` (those that have one), in a few queries."""
        out: dict[str, CallResult] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):
            chunk = unique[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(f"SELECT * FROM cache WHERE key IN ({marks})", chunk):
                out[row["key"]] = _result(row, from_cache=True)
        return out

    # -- provider batches ----------------------------------------------------------------
    def record_batch(self, run_id: str, batch_id: str, provider: str, model: str,
                     calls: Sequence[Mapping[str, Any]]) -> None:
        """Remember a submitted provider batch before polling it (resume polls, never resubmits)."""
        self.db.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, ?, ?, 'submitted', ?)",
                        (run_id, batch_id, provider, model, json.dumps(list(calls)), _now()))

    def finish_batch(self, run_id: str, batch_id: str, status: str = "collected") -> None:
        self.db.execute("UPDATE batches SET status = ? WHERE run_id = ? AND batch_id = ?",
                        (status, run_id, batch_id))

    def open_batches(self, run_id: str) -> Iterator[dict[str, Any]]:
        for r in self.db.execute("SELECT * FROM batches WHERE run_id = ? AND status = 'submitted'",
                                 (run_id,)):
            yield {"batch_id": r["batch_id"], "provider": r["provider"], "model": r["model"],
                   "calls": json.loads(r["calls"])}


def _result(row: sqlite3.Row, *, from_cache: bool) -> CallResult:
    return CallResult(text=row["text"], input_tokens=row["input_tokens"],
                      output_tokens=row["output_tokens"],
                      cached_input_tokens=row["cached_input_tokens"], latency_s=row["latency_s"],
                      cost_usd=row["cost_usd"], from_cache=from_cache)


def finished_results(ref: str, store: RunStore | None = None) -> tuple[str, dict[str, Any], str]:
    """``(run id, results, status)`` of a finished compare run, named by its id in the local
    run store, or by a report folder (``reports/cmp-…``) or the ``results.json`` in it, so a
    run shared by a colleague can be re-rendered and assessed here.
    """
    from ftdecide.errors import DataError

    path = Path(ref)
    if path.is_dir() or (path.suffix.lower() == ".json" and path.exists()):
        file = path / "results.json" if path.is_dir() else path
        if not file.is_file():
            raise DataError("no results.json in this folder", path=str(path),
                            hint="give a compare report folder (it holds report.html and "
                                 "results.json), or a run id from the local run store")
        try:
            results = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path=str(file), line=exc.lineno) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read: {exc}", path=str(file)) from None
        if not isinstance(results, dict) or not isinstance(results.get("arms"), dict) \
                or not isinstance(results.get("items"), list):
            raise DataError("not the results.json of a compare run (no arms and items)",
                            path=str(file), hint="give the results.json a compare run wrote")
        return str(results.get("run_id") or path.resolve().name), results, "shared"
    store = store or RunStore()
    try:
        record = store.get_run(ref)
    except UsageError as exc:
        raise UsageError(exc.message, hint=(exc.hint + "; or give a report folder "
                                            "(reports/cmp-…, with its results.json)")) from None
    if not record.results:
        raise UsageError(f"run {ref} has no results yet ({record.status})",
                         hint=f"finish it with: ftdecide compare --resume {ref}")
    return record.id, record.results, record.status
