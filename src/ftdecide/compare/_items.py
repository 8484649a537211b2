"""The per-item table of a run, built in one place for every view of it.

``results.json`` holds one record per eval item with each arm's output
(:func:`item_record`, written by :mod:`ftdecide.compare._scoring`); every
other view of the items reads those records through :func:`item_rows`, one
flat row per item × arm: the report's ``items.csv`` (pivoted back to one row
per item), the ``items.parquet`` export and the Python API's
``Run.items()`` DataFrame. So the columns cannot drift apart between the
file a spreadsheet opens and the frame a notebook gets.

Runs stored before an output carried its tokens, latency and cost read back
with those cells empty (``None``), never as zero.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

__all__ = ["ITEM_COLUMNS", "arm_order", "item_output", "item_rows", "missing_output"]

#: The columns of :func:`item_rows`, in order (also the parquet schema's order).
ITEM_COLUMNS = ("id", "arm", "input", "expected", "answer", "score", "input_tokens",
                "output_tokens", "cached_input_tokens", "latency_s", "cost_usd", "cached",
                "error")


def item_output(result: Any, score: float) -> dict[str, Any]:
    """One arm's output for one item in ``results.json``: the answer, its score and what
    the call measured (``result`` is the stored :class:`CallResult`)."""
    return {"text": result.text, "score": float(score), "cached": bool(result.from_cache),
            "error": None, "input_tokens": result.input_tokens,
            "output_tokens": result.output_tokens,
            "cached_input_tokens": result.cached_input_tokens,
            "latency_s": result.latency_s, "cost_usd": result.cost_usd}


def missing_output(reason: str = "not run") -> dict[str, Any]:
    """The output of an arm that has no answer for an item (a budget stop, a failure)."""
    return {"text": None, "score": None, "cached": False, "error": reason}


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def arm_order(results: Mapping[str, Any]) -> list[str]:
    """The run's arms in the order they were configured (a store or a JSON file that sorted
    the keys of ``arms`` does not change the order people read them in)."""
    arms = [str(a) for a in results.get("arms") or {}]
    config = ((results.get("provenance") or {}).get("config") or {}).get("arms")
    if not isinstance(config, (list, tuple)):
        return arms
    names = [str(a.get("name")) if isinstance(a, Mapping) else str(a) for a in config]
    return names if sorted(names) == sorted(arms) else arms


def item_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per item × arm (arms in the run's order), with the :data:`ITEM_COLUMNS`.

    Reads ``results["items"]``; an arm without an output for an item gets a
    row with ``answer``/``score`` ``None`` and its ``error``, so every item
    appears once per arm. Keys an output holds beyond the known columns are
    kept (after them), so a newer results mapping loses nothing.
    """
    arms = arm_order(results)
    rows: list[dict[str, Any]] = []
    for item in results.get("items") or []:
        outputs = item.get("outputs") or {}
        names = arms + [a for a in outputs if a not in arms]
        for arm in names:
            out = outputs.get(arm) or missing_output()
            row = {
                "id": str(item.get("id", "")),
                "arm": arm,
                "input": item.get("input"),
                "expected": item.get("expected"),
                "answer": out.get("text"),
                "score": _number(out.get("score")),
                "input_tokens": _number(out.get("input_tokens")),
                "output_tokens": _number(out.get("output_tokens")),
                "cached_input_tokens": _number(out.get("cached_input_tokens")),
                "latency_s": _number(out.get("latency_s")),
                "cost_usd": _number(out.get("cost_usd")),
                "cached": bool(out.get("cached")),
                "error": out.get("error"),
            }
            for key, value in out.items():
                if key not in ("text",) and key not in row:
                    row[key] = value
            rows.append(row)
    return rows
