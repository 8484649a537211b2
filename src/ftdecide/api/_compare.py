"""``compare`` and ``load_run`` for Python, and the :class:`Run` they return.

``ftdecide compare`` builds its config with :func:`compare_config`, plans a
dry run with :func:`plan` and runs with :func:`execute`; :func:`compare` is
those steps for a notebook. So ``Run.to_dict()`` is, by construction, what
``ftdecide compare --json`` prints for the same run.

A :class:`Run` keeps the whole results mapping (``results.json``) beside the
``--json`` fields and hands through every block it holds, including blocks
this module does not know (``run["serving"]``): its views read the items,
arms and learning curve and keep any extra keys as extra columns.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ftdecide.api._progress import arm_progress
from ftdecide.api._result import Result, frame, safe_html

__all__ = ["ARM_COLUMNS", "Run", "compare", "compare_config", "execute", "load_run", "plan"]

#: The first columns of :meth:`Run.arms` (then every other scalar of the arm, flattened).
ARM_COLUMNS = ("arm", "label", "model", "baseline", "quality", "ci_low", "ci_high", "n",
               "vs_baseline", "vs_ci_low", "vs_ci_high", "p_value", "input_tokens_mean",
               "output_tokens_mean", "cost_per_1k_usd", "monthly_cost_usd", "latency_p50_s",
               "latency_p95_s", "calls", "cached_calls", "errors")


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif not isinstance(value, (list, tuple)):
        out[prefix] = value


class Run(Result):
    """A compare run: the ``ftdecide compare --json`` mapping, the full results, and views.

    ``run["verdict"]`` reads the ``--json`` fields first, then the results
    mapping (``run["items"]``, ``run["provenance"]``, any block a newer
    ftdecide adds). :meth:`items`, :meth:`arms` and :meth:`curve` are pandas
    DataFrames (pandas is imported when one is asked for).
    """

    def __init__(self, data: Mapping[str, Any], results: Mapping[str, Any], *,
                 outcome: Any = None, config: Any = None, judge_outcome: Any = None) -> None:
        super().__init__(data)
        self.results: dict[str, Any] = dict(results)  #: the ``results.json`` mapping
        self.outcome = outcome  #: calls made, cached, spent (None for a loaded run)
        self.judge_outcome = judge_outcome  #: the judge phase's calls (None without a judge)
        self.config = config  #: the :class:`ftdecide.compare.CompareConfig` (None when loaded)

    @property
    def budget_stopped(self) -> bool:
        """Whether the budget stopped the arms or the judge before every call was made."""
        return bool((self.outcome is not None and self.outcome.budget_stopped)
                    or (self.judge_outcome is not None and self.judge_outcome.budget_stopped))

    @classmethod
    def from_results(cls, results: Mapping[str, Any], *, report: str | None = None,
                     outcome: Any = None, config: Any = None,
                     judge_outcome: Any = None) -> Run:
        from ftdecide.compare import CompareResult, arm_order, result_json

        arms = results.get("arms")
        if isinstance(arms, Mapping):  # the configured order, whatever a store sorted
            results = {**results, "arms": {a: arms[a] for a in arm_order(results)}}
        data = result_json(CompareResult(run_id=str(results.get("run_id")), results=dict(results),
                                         outcome=outcome, judge_outcome=judge_outcome), report)
        return cls(data, results, outcome=outcome, config=config, judge_outcome=judge_outcome)

    # -- reading by key: the --json fields, then the results mapping ----------------------
    def __getitem__(self, key: str) -> Any:
        if key in self._data:
            return self._data[key]
        return self.results[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data or key in self.results

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    @property
    def run_id(self) -> str:
        return str(self._data["run_id"])

    @property
    def verdict(self) -> str | None:
        return self._data.get("verdict")

    @property
    def report(self) -> str | None:
        """The path of ``report.html``, or None when none was written."""
        return self._data.get("report")

    def fail_under(self, gates: Mapping[str, float] | Sequence[tuple[str, float]]) -> list[str]:
        """The CI gates that fail (``--fail-under ARM:DELTA``): each arm's lower interval
        bound of its gain over the baseline must reach DELTA. Empty when all pass."""
        from ftdecide.compare import fail_under

        pairs = list(gates.items()) if isinstance(gates, Mapping) else list(gates)
        return fail_under(self.results, pairs)

    # -- pandas views --------------------------------------------------------------------
    def item_rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`items` as plain dicts (no pandas needed)."""
        from ftdecide.compare import item_rows

        return item_rows(self.results)

    def items(self) -> Any:
        """One row per eval item × arm: ``id``, ``arm``, ``input``, ``expected``, ``answer``,
        ``score``, ``input_tokens``, ``output_tokens``, ``cached_input_tokens``,
        ``latency_s``, ``cost_usd``, ``cached``, ``error`` (the rows ``items.csv`` and
        ``items.parquet`` are written from). A run stored before outputs carried their
        tokens, latency and cost has those cells empty, not zero."""
        from ftdecide.compare import ITEM_COLUMNS

        return frame(self.item_rows(), ITEM_COLUMNS, what="Run.items()")

    def to_pandas(self) -> Any:
        """The items DataFrame (:meth:`items`), the run's most detailed table."""
        return self.items()

    def arm_rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`arms` as plain dicts (no pandas needed)."""
        rows = []
        baseline = self.results.get("baseline")
        for name, a in (self.results.get("arms") or {}).items():
            q = a.get("quality") or {}
            vs = a.get("vs_baseline") or {}
            tokens = a.get("tokens") or {}
            row: dict[str, Any] = {
                "arm": name, "label": a.get("label"), "model": a.get("model"),
                "baseline": name == baseline, "quality": q.get("mean"),
                "ci_low": q.get("ci_low"), "ci_high": q.get("ci_high"), "n": q.get("n"),
                "vs_baseline": vs.get("diff"), "vs_ci_low": vs.get("ci_low"),
                "vs_ci_high": vs.get("ci_high"), "p_value": vs.get("p_value"),
                "input_tokens_mean": tokens.get("input_mean"),
                "output_tokens_mean": tokens.get("output_mean"),
                "cost_per_1k_usd": a.get("cost_per_1k_usd"),
                "monthly_cost_usd": a.get("monthly_cost_usd"),
                "latency_p50_s": a.get("latency_p50_s"), "latency_p95_s": a.get("latency_p95_s"),
                "calls": a.get("calls"), "cached_calls": a.get("cached_calls"),
                "errors": a.get("errors"),
            }
            seen = {"label", "model", "quality", "vs_baseline", "tokens", "cost_per_1k_usd",
                    "monthly_cost_usd", "latency_p50_s", "latency_p95_s", "calls",
                    "cached_calls", "errors", "prompt"}
            extra: dict[str, Any] = {}
            for key, value in a.items():
                if key not in seen:
                    _flat(key, value, extra)
            rows.append({**row, **{k: v for k, v in extra.items() if k not in row}})
        return rows

    def arms(self) -> Any:
        """One row per arm: quality with its interval, the difference from the baseline
        with its interval and p-value, mean tokens, cost per 1k requests, monthly cost,
        latency, calls; then every other figure of the arm (``economics.*`` …)."""
        return frame(self.arm_rows(), ARM_COLUMNS, what="Run.arms()")

    def curve(self) -> Any:
        """The learning curve (quality by number of training examples) as a DataFrame,
        when the run measured one (its ``learning_curve`` block); a
        :class:`ftdecide.UsageError` otherwise."""
        block = self.results.get("learning_curve")
        if not block:
            from ftdecide.errors import UsageError

            raise UsageError(f"run {self.run_id} has no learning curve (no learning_curve "
                             "block in its results)",
                             hint="run compare with a learning curve configured "
                                  "(learning_curve: in compare.yaml) to measure one")
        rows: list[dict[str, Any]] = []
        if isinstance(block, list):
            rows = [dict(r) for r in block if isinstance(r, Mapping)]
        elif isinstance(block, Mapping):
            lists = {k: v for k, v in block.items()
                     if isinstance(v, list) and v and all(isinstance(r, Mapping) for r in v)}
            for key, values in lists.items():
                for r in values:
                    row = {}
                    _flat("", r, row)
                    rows.append({"series": key, **row} if len(lists) > 1 else row)
        columns = [c for c in ("series", "arm", "examples", "train_examples", "quality",
                               "ci_low", "ci_high") if any(c in r for r in rows)]
        return frame(rows, columns, what="Run.curve()")

    def _summary(self) -> str:
        return f"{self.run_id} ({self._data.get('status')}): {self.verdict}"

    def _repr_html_(self) -> str:
        from ftdecide.report import run_fragment

        return safe_html(lambda: run_fragment(self.results), repr(self))


def _example_config(name: str) -> str:
    from ftdecide.errors import UsageError
    from ftdecide.examples import EXAMPLES_DIR, example_names

    if name not in example_names():
        raise UsageError(f"no bundled example {name!r}",
                         hint=f"bundled: {', '.join(example_names())}")
    path = EXAMPLES_DIR / name / "compare.yaml"
    if not path.exists():
        raise UsageError(f"the bundled example {name!r} has no compare.yaml")
    return str(path)


def compare_config(config: str | os.PathLike[str] | Mapping[str, Any] | Any | None = None, *,
                   example: str | None = None, resume: str | None = None, store: Any = None,
                   **keys: Any) -> Any:
    """The checked :class:`ftdecide.compare.CompareConfig` of a run.

    ``config`` is a ``compare.yaml`` path (relative paths in it are relative
    to the file), a mapping of the same keys (paths relative to the current
    folder), or a ``CompareConfig``; ``example`` names a bundled example's
    config; ``keys`` override the config's keys like the CLI's flags do
    (``arms="zeroshot,fewshot"``, ``eval_limit=10``). ``resume`` takes the config
    of a stored run (only ``max_cost_usd`` may change).
    """
    from ftdecide.compare import CompareConfig
    from ftdecide.compare import _config as compare_config_module
    from ftdecide.errors import UsageError

    if isinstance(config, CompareConfig):
        if example or resume:
            raise UsageError("give a CompareConfig alone, without example or resume")
        config = {k: v for k, v in config.to_dict().items() if k not in ("source", "notices")}
    source: str | None = None
    lines: Mapping[str, int] = {}
    if resume:
        if config is not None or example:
            raise UsageError("--resume takes its config from the run; drop --config/--example")
        from ftdecide.compare import RunStore

        record = (store or RunStore()).get_run(resume)
        file_values = dict(record.config)
        file_values.pop("source", None)
        if any(v is not None for k, v in keys.items() if k != "max_cost_usd"):
            raise UsageError("--resume continues the run as it was configured; only --max-cost "
                             "may change")
    else:
        if config is not None and example:
            raise UsageError("give --config or --example, not both")
        if isinstance(config, Mapping):
            file_values = dict(config)
        else:
            source = _example_config(example) if example else (
                os.fspath(config) if config is not None else None)
            file_values, lines = compare_config_module.read_file_lines(source) if source \
                else ({}, {})
    return compare_config_module.build(file_values, keys, source=source, lines=lines)


def _unknown_stays_unknown(result: dict[str, Any], catalog: Any) -> None:
    """An arm whose model has no price predicts an unknown cost, not $0 (a self-hosted
    server's model, say); the total is then unknown too."""
    from ftdecide.errors import FtdecideError
    from ftdecide.pricing._costs import base_prices

    unpriced = []
    for arm, a in result["arms"].items():
        if a["predicted_cost_usd"] is None or not a["calls"]:
            continue
        try:
            known = base_prices(catalog.resolve(a["model"])).known
        except FtdecideError:
            known = False
        if not known:
            a["predicted_cost_usd"] = None
            unpriced.append(arm)
    dist = result.get("distillation")
    if dist and dist["labelling"]["calls"]:
        try:
            known = base_prices(catalog.resolve(dist["teacher"])).known
        except FtdecideError:
            known = False
        if not known:
            dist["labelling"]["predicted_cost_usd"] = None
            unpriced.append("labelling")
    result["unpriced_arms"] = unpriced
    judge = result.get("judge")
    if judge and judge["calls"] and judge["predicted_cost_usd"] is None:
        unpriced.append(f"the judge ({judge['model']})")
    if unpriced:
        result["predicted_cost_usd"] = None


def plan(config: Any, *, catalog: Any, store: Any = None, resume: str | None = None,
         retrain: bool = False) -> dict[str, Any]:
    """The calls a run would make and their predicted cost (``compare --dry-run --json``);
    calls nothing, trains nothing. An unpriced arm's cost is unknown (None), not $0."""
    import ftdecide.compare as cmp

    result = cmp.dry_run(config, catalog=catalog, store=store, resume=resume, retrain=retrain)
    _unknown_stays_unknown(result, catalog)
    return result


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def execute(config: Any, *, catalog: Any, store: Any, resume: str | None = None,
            progress: Any = True, use_cache: bool = True, retrain: bool = False,
            trainer: Callable[..., Any] | None = None, yes: bool = False,
            command: str = "", on_run_id: Callable[[str], None] | None = None,
            write_report: bool = True, items_format: str = "csv") -> Run:
    """Run (or resume) ``config`` and write its report; the :class:`Run`.

    ``trainer`` trains the tuned model when the config has ``tune:`` (default:
    the tune layer's trainer, which starts a paid job only with ``yes``).
    The report (``report.html``, ``results.json``, ``items.csv``, and
    ``items.parquet`` with ``items_format="parquet"``) lands in
    ``config.out/RUN`` once every arm has answers.
    """
    import ftdecide.compare as cmp

    if items_format == "parquet":
        from ftdecide.report import parquet_modules

        parquet_modules()  # a missing pyarrow is said before the run, not after it
    if trainer is None:
        from ftdecide.tune import TrainerView, make_trainer

        trainer = make_trainer(catalog, yes=yes, view=TrainerView(notice=_stderr),
                               retrain=retrain)
    callback, close = arm_progress(progress)
    try:
        result = cmp.run(config, catalog=catalog, store=store, command=command, resume=resume,
                         use_cache=use_cache, progress=callback, retrain=retrain,
                         train=trainer, on_run_id=on_run_id)
    finally:
        close()
    report_path: str | None = None
    if write_report and all(a["quality"]["n"] for a in result.results["arms"].values()):
        from ftdecide.report import write_report as write

        files = write(result.results, Path(config.out) / result.run_id, items_format=items_format)
        report_path = str(files.html)
    return Run.from_results(result.results, report=report_path, outcome=result.outcome,
                            config=config, judge_outcome=result.judge_outcome)


def compare(config: str | os.PathLike[str] | Mapping[str, Any] | Any | None = None, *,
            example: str | None = None, resume: str | None = None, progress: Any = True,
            use_cache: bool = True, retrain: bool = False, yes: bool = False,
            price_files: Sequence[str] = (), write_report: bool = True,
            items_format: str = "csv", **keys: Any) -> Run:
    """Measure zero-shot, few-shot, RAG and fine-tuned arms on an eval set (``ftdecide compare``).

    ``config``: a ``compare.yaml`` path, a mapping of its keys, or a
    ``CompareConfig``; ``example="triage"`` uses a bundled example; ``keys``
    override any key (``train=``, ``eval=``, ``model=``, ``tuned=``,
    ``arms=``, ``metric=``, ``eval_limit=`` …, as in the config file).
    ``progress``: True shows tqdm's bars (a notebook widget in Jupyter) or a
    plain line without tqdm; False shows nothing; a callable
    ``(arm, done, total)`` gets the counts. Every call is recorded, so
    ``resume=RUN`` repeats none. Raises the exceptions the CLI maps to exit
    codes (:class:`ftdecide.UsageError`, :class:`ftdecide.DataError`,
    :class:`ftdecide.ProviderError`).
    """
    from ftdecide.compare import RunStore
    from ftdecide.pricing import load_catalog

    store = RunStore()
    cfg = compare_config(config, example=example, resume=resume, store=store, **keys)
    for notice in cfg.notices:
        _stderr(f"note: {notice}")
    catalog = load_catalog(price_files=tuple(price_files))
    return execute(cfg, catalog=catalog, store=store, resume=resume, progress=progress,
                   use_cache=use_cache, retrain=retrain, yes=yes, write_report=write_report,
                   items_format=items_format, command="ftdecide.compare()")


def load_run(run_id: str) -> Run:
    """A finished compare run, by its id in the local run store, or a report folder (or the
    ``results.json`` in it) that a run wrote here or on a colleague's machine."""
    from ftdecide.compare import finished_results

    rid, results, _status = finished_results(run_id)
    report = None
    path = Path(run_id)
    candidates = [path / "report.html"] if path.is_dir() else [path.with_name("report.html")] \
        if path.suffix.lower() == ".json" else []
    out = ((results.get("provenance") or {}).get("config") or {}).get("out")
    if out:
        candidates.append(Path(out) / rid / "report.html")
    report = next((str(p) for p in candidates if p.is_file()), None)
    return Run.from_results(results, report=report)
