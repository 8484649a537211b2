"""The Python API: every CLI command as a function returning a result object.

``ftdecide.validate``, ``estimate``, ``audit``, ``compare``, ``load_run``,
``assess`` and ``tune`` are the functions the CLI commands call (one code
path, so a notebook and the terminal cannot drift apart). Each returns an
object holding exactly the command's ``--json`` mapping (``to_dict()``),
with pandas views (``Run.items()``, ``Run.arms()``, ``Run.curve()``,
``ValidationReport.errors()``) and ``_repr_html_`` for Jupyter, both
rendered from the report's own builders and templates. Errors are the
exceptions the CLI maps to exit codes (:class:`ftdecide.UsageError`,
:class:`ftdecide.DataError`, :class:`ftdecide.ProviderError`).

This layer sits above ``assess`` and below ``cli``; ``import ftdecide``
loads it only when one of its names is first used, and nothing here imports
pandas, torch or transformers at import time.
"""

from ftdecide.api._assess import Assessment, assess, read_answers
from ftdecide.api._compare import Run, compare, compare_config, execute, load_run, plan
from ftdecide.api._data import AuditReport, ValidationReport, audit, validate
from ftdecide.api._pricing import ECONOMICS_ARGS, Estimate, check_economics_args, estimate
from ftdecide.api._result import Result
from ftdecide.api._tune import Job, obtain_job, tune, tune_plan

#: The names ``ftdecide`` itself exports from here.
TOP_LEVEL = ("Assessment", "AuditReport", "Estimate", "Job", "Run", "ValidationReport",
             "assess", "audit", "compare", "estimate", "load_run", "tune", "validate")

__all__ = ["ECONOMICS_ARGS", "Assessment", "AuditReport", "Estimate", "Job", "Result", "Run", "TOP_LEVEL",
           "ValidationReport", "assess", "audit", "check_economics_args", "compare",
           "compare_config", "estimate", "execute", "load_run", "obtain_job", "plan",
           "read_answers", "tune", "tune_plan", "validate"]
