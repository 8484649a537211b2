"""Measured serving throughput: the rows ``ftdecide bench-serve`` writes and compare reads.

One JSON file in the user's data dir (``<data dir>/serving-bench.json``, beside
the job store; ``FTDECIDE_DATA_DIR`` moves both), one row per (hardware name,
model): the newest measurement replaces the older one. A measured row beats
the table's estimate for that model on that hardware, and compare names it
(``throughput_source: measured (bench-serve, DATE)``). Rows hold figures,
the model id and the server's address without credentials, never a key.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from ftdecide import paths
from ftdecide.errors import UsageError

FILE_NAME = "serving-bench.json"


def store_file() -> Path:
    return paths.data_dir() / FILE_NAME


def _read() -> list[dict[str, Any]]:
    path = store_file()
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot be read as the bench-serve store: {exc}",
                         hint="remove the file; `ftdecide bench-serve` writes it again") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    return [r for r in rows or [] if isinstance(r, dict)]


def rows_for(hardware: str) -> list[dict[str, Any]]:
    """The measured rows of one hardware name (case-insensitive), newest first."""
    rows = [r for r in _read() if str(r.get("hardware", "")).lower() == hardware.lower()]
    return sorted(rows, key=lambda r: str(r.get("measured_at", "")), reverse=True)


def lookup(hardware: str, model: str) -> dict[str, Any] | None:
    """The measured row for ``model`` on ``hardware``, or None."""
    for row in rows_for(hardware):
        if row.get("model") == model:
            return row
    return None


def save(row: Mapping[str, Any]) -> Path:
    """Store a measured row, replacing the one for the same hardware and model."""
    for key in ("hardware", "model", "prefill_tokens_per_s", "decode_tokens_per_s", "measured_at"):
        if row.get(key) in (None, ""):
            raise UsageError(f"a measured serving row needs {key}")
    rows = [r for r in _read() if not (str(r.get("hardware", "")).lower() == str(row["hardware"]).lower()
                                       and r.get("model") == row["model"])]
    rows.append(dict(row))
    path = store_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"rows": rows}, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path
