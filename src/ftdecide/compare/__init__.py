"""``compare``: run the method's arms on an eval set and turn answers into evidence.

Config → preflight (everything checkable before a call) → arms and prompts →
runner (recorded, cached, resumable, budgeted) → metrics and statistics →
economics → verdict → results for the report.

Public names: :class:`CompareConfig` and :func:`build_config` (a config file's
values + flags, checked), :func:`run` / :func:`dry_run` (the same preflight),
:func:`fail_under` (the CI gate), :class:`RunStore` (runs, calls, the cache),
:func:`finished_results` (a finished run's results, from the store or a report folder),
:func:`item_rows` (the per-item table every export and view of the items is built from).
"""

from __future__ import annotations

from ftdecide.compare._config import CompareConfig
from ftdecide.compare._config import build as build_config
from ftdecide.compare._items import ITEM_COLUMNS, arm_order, item_rows
from ftdecide.compare._run import CompareResult, dry_run, fail_under, result_json, run
from ftdecide.compare._runstore import RunStore, finished_results

__all__ = ["ITEM_COLUMNS", "CompareConfig", "CompareResult", "RunStore", "build_config", "dry_run", "fail_under",
           "arm_order", "finished_results", "item_rows", "result_json", "run"]
