"""The ``compare`` and ``report`` commands: parse, call :mod:`ftdecide.compare`, render.

Kept apart from ``cli.py`` so the main CLI module stays small; ``cli.py``
adds these commands to its group.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from ftdecide._formatting import counted
from ftdecide.cli.common import echo_json, err, open_catalog
from ftdecide.errors import UsageError


def example_config(name: str) -> str:
    """The path of a bundled example's ``compare.yaml``."""
    from ftdecide.examples import EXAMPLES_DIR, example_names

    if name not in example_names():
        raise UsageError(f"no bundled example {name!r}",
                         hint=f"bundled: {', '.join(example_names())}")
    path = EXAMPLES_DIR / name / "compare.yaml"
    if not path.exists():
        raise UsageError(f"the bundled example {name!r} has no compare.yaml")
    return str(path)


def _parse_gates(values: tuple[str, ...]) -> list[tuple[str, float]]:
    from ftdecide.compare._config import arm_name

    gates = []
    for v in values:
        arm, sep, delta = v.partition(":")
        if not sep:
            raise UsageError(f"--fail-under {v!r}: expected ARM:DELTA, e.g. finetuned:0.05")
        try:
            gates.append((arm_name(arm, key="--fail-under"), float(delta)))
        except ValueError:
            raise UsageError(f"--fail-under {v!r}: DELTA must be a number (0.05 = 5 points)") from None
    return gates


class _ArmProgress:
    """One status line on stderr: each arm's answered calls out of its total."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, int]] = {}
        self.tty = sys.stderr.isatty()
        self.reported: set[str] = set()

    def __call__(self, arm: str, done: int, total: int) -> None:
        self.counts[arm] = (done, total)
        if self.tty:
            line = "  ".join(f"{a} {d}/{t}" for a, (d, t) in self.counts.items())
            click.echo(f"\r{line}", nl=False, err=True)
        elif done == total and arm not in self.reported:
            self.reported.add(arm)
            err(f"{arm}: {done}/{total} answered")

    def close(self) -> None:
        if self.tty and self.counts:
            click.echo("", err=True)


def _trainer(catalog: Any, yes: bool, retrain: bool = False) -> Any:
    """The tune layer's trainer, shown to a person: the estimate, a progress line, a question."""
    from ftdecide.cli.jobview import JobProgress, render_tune_estimate
    from ftdecide.tune import TrainerView, make_trainer

    bar = JobProgress()

    def confirm(cost: float) -> bool:
        return click.confirm(f"Start fine-tuning (about ${cost:.2f})?", default=False, err=True)

    view = TrainerView(notice=err, show_estimate=render_tune_estimate, progress=bar.update,
                       close_progress=bar.close, confirm=confirm if sys.stdin.isatty() else None)
    return make_trainer(catalog, yes=yes, view=view, retrain=retrain)


@click.command()
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False),
              help="A compare.yaml describing the run (flags override its keys).")
@click.option("--example", help="Use a bundled example's config (e.g. triage).")
@click.option("--train", help="Training set (also the source of few-shot examples).")
@click.option("--eval", "eval_path", help="Eval set; each example's last assistant message is "
              "the expected answer.")
@click.option("--corpus", help="Folder or file of text/markdown for the RAG arms.")
@click.option("--model", "-m", help="Base model of every arm (provider/model).")
@click.option("--tuned", help="A fine-tuned model for the fine-tuned arms.")
@click.option("--tune", "tune_flag", is_flag=True, default=None,
              help="Fine-tune the base model inside the run (provider defaults).")
@click.option("--arms", help="Comma list of zeroshot,fewshot,rag,finetuned,finetuned-rag,"
              "teacher,distilled.")
@click.option("--teacher", help="A model that labels the training inputs; its answers train "
              "the student (the distilled arm, with --tune).")
@click.option("--inputs", help="Unlabelled prompts for the teacher (chat JSONL without "
              "answers; default: the training set's prompts).")
@click.option("--baseline", help="The arm the others are compared with (default fewshot).")
@click.option("--shots", type=int, help="Few-shot examples per prompt (default 4).")
@click.option("--shot-selection", type=click.Choice(["random", "similar"]))
@click.option("--retrieval", type=click.Choice(["tfidf", "bm25"]))
@click.option("--top-k", type=int, help="Passages per RAG prompt (default 3).")
@click.option("--metric", help="exact, accuracy, f1, json-fields, or a plugin metric.")
@click.option("--requests-per-month", type=int, help="Volume for the monthly costs.")
@click.option("--max-cost", "max_cost_usd", type=float, help="Stop before spending more (USD).")
@click.option("--concurrency", type=int, help="Calls in flight per hosted provider (default 8).")
@click.option("--seed", type=int, help="Seed for shot sampling and the bootstrap.")
@click.option("--max-tokens", type=int, help="Most tokens per answer (default 256).")
@click.option("--eval-limit", type=int, help="Use only the first N eval items.")
@click.option("--batch/--no-batch", default=None, help="Send hosted calls through the "
              "provider's Batch API (half price, slower).")
@click.option("--price-as", help="Price the measured prompts and answers as if this model "
              "served them (e.g. a local model's run priced as openai/gpt-4.1-mini).")
@click.option("--out", "-o", help="Folder for the report (default reports/).")
@click.option("--resume", "resume_id", metavar="RUN", help="Continue an interrupted run; "
              "no recorded call is repeated.")
@click.option("--dry-run", is_flag=True, help="Print the calls and their predicted cost; "
              "call nothing.")
@click.option("--no-cache", is_flag=True, help="Do not answer from earlier runs' cache.")
@click.option("--fail-under", multiple=True, metavar="ARM:DELTA",
              help="Exit 1 unless ARM beats the baseline by DELTA (lower interval bound).")
@click.option("--yes", "-y", is_flag=True, help="Start a paid fine-tune without asking.")
@click.option("--retrain", is_flag=True, help="Train again even when a finished job has the "
              "same data and settings (it is reused otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--prices", "price_files", multiple=True, type=click.Path(dir_okay=False),
              help="Price file (YAML/JSON) overriding the catalog; repeatable.")
def compare(config_path: str | None, example: str | None, train: str | None,
            eval_path: str | None, corpus: str | None, model: str | None, tuned: str | None,
            tune_flag: bool | None, arms: str | None, teacher: str | None,
            inputs: str | None, baseline: str | None, shots: int | None,
            shot_selection: str | None, retrieval: str | None, top_k: int | None,
            metric: str | None, requests_per_month: int | None, max_cost_usd: float | None,
            concurrency: int | None, seed: int | None, max_tokens: int | None,
            eval_limit: int | None, batch: bool | None, price_as: str | None, out: str | None,
            resume_id: str | None,
            dry_run: bool, no_cache: bool, fail_under: tuple[str, ...], yes: bool, retrain: bool,
            as_json: bool, price_files: tuple[str, ...]) -> None:
    """Measure zero-shot, few-shot, RAG and fine-tuned arms on your eval set.

    Every answer is scored against the expected one, with a 95 % interval
    and a paired test against the baseline; tokens, cost and latency are
    measured; the report (HTML, results.json, items.csv) lands in
    reports/RUN/. Each call is recorded as it completes: a re-run answers
    from the cache, and --resume RUN repeats no completed call.

    \b
    Examples:
      ftdecide compare --example triage
      ftdecide compare -c compare.yaml --fail-under finetuned:0.05
      ftdecide compare --train train.jsonl --eval eval.jsonl \\
          --model openai/gpt-4o-mini --tuned openai/ft:gpt-4o-mini:acme::abc123
    """
    import ftdecide.compare as cmp
    from ftdecide.compare import RunStore
    from ftdecide.compare import _config as compare_config

    gates = _parse_gates(fail_under)
    store = RunStore()
    if resume_id:
        record = store.get_run(resume_id)
        if config_path or example:
            raise UsageError("--resume takes its config from the run; drop --config/--example")
        file_values, source, lines = dict(record.config), None, {}
        file_values.pop("source", None)
    else:
        if config_path and example:
            raise UsageError("give --config or --example, not both")
        source = example_config(example) if example else config_path
        file_values, lines = compare_config.read_file_lines(source) if source else ({}, {})
    flags = {"train": train, "eval": eval_path, "corpus": corpus, "model": model, "tuned": tuned,
             "tune": {} if tune_flag else None, "arms": arms, "baseline": baseline,
             "shots": shots, "shot_selection": shot_selection, "retrieval": retrieval,
             "top_k": top_k, "metric": metric, "requests_per_month": requests_per_month,
             "max_cost_usd": max_cost_usd, "concurrency": concurrency, "seed": seed,
             "max_tokens": max_tokens, "eval_limit": eval_limit, "batch": batch, "out": out,
             "price_as": price_as, "teacher": teacher, "inputs": inputs}
    if resume_id and any(v is not None for k, v in flags.items() if k != "max_cost_usd"):
        raise UsageError("--resume continues the run as it was configured; only --max-cost may change")
    config = compare_config.build(file_values, flags, source=source, lines=lines)
    unknown = sorted({arm for arm, _ in gates if arm not in config.arms})
    if unknown:
        raise UsageError(f"--fail-under {unknown[0]}: the arm {unknown[0]} is not in this run "
                         f"(arms: {', '.join(config.arms)})", key="--fail-under",
                         hint="gate an arm the run has, or add it to arms (--arms)")
    for notice in config.notices:
        err(f"note: {notice}")
    catalog = open_catalog(price_files)
    if dry_run:
        plan = cmp.dry_run(config, catalog=catalog, store=store, resume=resume_id,
                           retrain=retrain)
        _unknown_stays_unknown(plan, catalog)
        if as_json:
            echo_json(plan)
        else:
            render_dry_run(plan)
        return
    command = "ftdecide " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    progress = _ArmProgress()
    run_ids: list[str] = []
    try:
        result = cmp.run(config, catalog=catalog, store=store, command=command, resume=resume_id,
                         use_cache=not no_cache, progress=progress, retrain=retrain,
                         train=_trainer(catalog, yes, retrain), on_run_id=run_ids.append)
    except KeyboardInterrupt:
        progress.close()
        if run_ids:
            err(f"Interrupted: every answer so far is recorded. Continue with: "
                 f"ftdecide compare --resume {run_ids[0]}")
        raise
    except Exception:
        progress.close()
        if run_ids:
            err(f"run {run_ids[0]} stopped; answers so far are recorded "
                 f"(ftdecide compare --resume {run_ids[0]})")
        raise
    progress.close()
    outcome = result.outcome
    report_path: str | None = None
    if all(a["quality"]["n"] for a in result.results["arms"].values()):
        report_path = str(_write_report(result.results, Path(config.out) / result.run_id).html)
    if as_json:
        echo_json(cmp.result_json(result, report_path))
    else:
        _render_summary(result.results, report_path, outcome)
    if outcome.budget_stopped:
        err(f"Budget reached: stopped before ${config.max_cost_usd:.4f} would be crossed "
             f"({counted(outcome.skipped, 'call')} not made, ${outcome.spent_usd:.4f} spent). "
             f"Continue with: ftdecide compare --resume {result.run_id} --max-cost <higher>")
        sys.exit(1)
    failures = cmp.fail_under(result.results, gates)
    for f in failures:
        err(f"Gate failed: {f}")
    if failures:
        sys.exit(1)


def _write_report(results: dict[str, Any], out_dir: Path) -> Any:
    from ftdecide.report import write_report

    return write_report(results, out_dir)


def _unknown_stays_unknown(plan: dict[str, Any], catalog: Any) -> None:
    """An arm whose model has no price predicts an unknown cost, not $0 (a self-hosted
    server's model, say); the total is then unknown too."""
    from ftdecide.errors import FtdecideError
    from ftdecide.pricing._costs import base_prices

    unpriced = []
    for arm, a in plan["arms"].items():
        if a["predicted_cost_usd"] is None or not a["calls"]:
            continue
        try:
            known = base_prices(catalog.resolve(a["model"])).known
        except FtdecideError:
            known = False
        if not known:
            a["predicted_cost_usd"] = None
            unpriced.append(arm)
    dist = plan.get("distillation")
    if dist and dist["labelling"]["calls"]:
        try:
            known = base_prices(catalog.resolve(dist["teacher"])).known
        except FtdecideError:
            known = False
        if not known:
            dist["labelling"]["predicted_cost_usd"] = None
            unpriced.append("labelling")
    plan["unpriced_arms"] = unpriced
    if unpriced:
        plan["predicted_cost_usd"] = None


def render_dry_run(plan: dict[str, Any]) -> None:
    from ftdecide.report._text import money, table

    rows = [[arm, a["model"], a["calls"], a["cached"], a["recorded"],
             "unknown" if a["predicted_cost_usd"] is None else money(a["predicted_cost_usd"])]
            for arm, a in plan["arms"].items()]
    click.echo(table(["arm", "model", "calls", "cached", "recorded", "predicted cost"], rows))
    if plan["predicted_cost_usd"] is None:
        cost = ("an unknown cost (no price for the model of "
                + ", ".join(plan.get("unpriced_arms") or ["an arm"])
                + ": add one with --prices FILE)")
    else:
        cost = (f"at most {money(plan['predicted_cost_usd'])} (prompt tokens at input prices + "
                "max_tokens at output prices)")
    click.echo(f"{plan['items']:,} eval items; {plan['calls']:,} calls would be made, {cost}")
    _render_dry_distillation(plan.get("distillation"))
    tune = plan["tune"]
    if tune and tune["action"] != "new":
        click.echo(f"no new fine-tune: {tune['message']}")
    elif tune:
        cost = tune["estimate"].get("training_cost_usd")
        click.echo(f"a new fine-tune of {tune['model']} would run first: "
                   + ("cost unknown" if cost is None else f"about {money(cost)}")
                   + " (included above)")
        for warning in tune.get("warnings") or []:
            err(f"Warning: {warning}")
    click.echo("dry run: nothing was called")


def _render_dry_distillation(dist: dict[str, Any] | None) -> None:
    """The teacher's labelling calls and the student's tune a dry run predicts."""
    from ftdecide.report._text import money

    if not dist:
        return
    lab = dist["labelling"]
    cost = "unknown" if lab["predicted_cost_usd"] is None else f"at most {money(lab['predicted_cost_usd'])}"
    click.echo(f"labelling: {dist['teacher']} answers {lab['calls']:,} training inputs "
               f"({lab['cached']:,} cached, {lab['recorded']:,} recorded), {cost} (included above)")
    student = dist.get("student")
    if student:
        c = student.get("training_cost_usd")
        click.echo("the student's fine-tune would run after it: "
                   + ("cost unknown" if c is None else f"about {money(c)}")
                   + f" ({student.get('basis')})" + ("" if c is None else "; included above"))


def _render_distillation(results: dict[str, Any]) -> None:
    """One line on the teacher's labels under the summary table."""
    from ftdecide.report._text import money

    d = results.get("distillation")
    if not d or d.get("labelled") is None:
        return
    dropped = d.get("dropped") or {}
    cost = d.get("labelling_cost_usd")
    click.echo(f"distillation: {d.get('teacher')} labelled {d['labelled']:,} of {d['inputs']:,} "
               f"inputs (dropped {dropped.get('empty', 0)} empty, {dropped.get('refused', 0)} "
               f"refused, {dropped.get('invalid', 0)} invalid) for "
               + ("an unknown cost" if cost is None else money(cost))
               + f"; student's training set: {d.get('train_file')}")
    g = d.get("gold_over_teacher")
    if g and g.get("ci_low") is not None:
        click.echo(f"gold labels over the teacher's (fine-tuned − distilled): "
                   f"{g['diff'] * 100:+.1f} [{g['ci_low'] * 100:+.1f}, {g['ci_high'] * 100:+.1f}] "
                   f"points, p={g['p_value']:.3g}, n={g['n']}")


def _pts(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}"


def _render_summary(results: dict[str, Any], report: str | None, outcome: Any) -> None:
    from ftdecide.report._text import money, table

    rows = []
    for name, a in results["arms"].items():
        q, vs = a["quality"], a["vs_baseline"]
        rows.append([
            a["label"] + (" (baseline)" if name == results["baseline"] else ""),
            f"{_pts(q['mean'])} [{_pts(q['ci_low'])}, {_pts(q['ci_high'])}]",
            "-" if vs is None else f"{vs['diff'] * 100:+.1f} [{vs['ci_low'] * 100:+.1f}, "
                                   f"{vs['ci_high'] * 100:+.1f}] p={vs['p_value']:.3g}",
            "-" if a["tokens"]["input_mean"] is None else f"{a['tokens']['input_mean']:.0f}",
            "unknown" if a["cost_per_1k_usd"] is None else money(a["cost_per_1k_usd"]),
            "-" if a["latency_p50_s"] is None else f"{a['latency_p50_s']:.2f}",
            f"{a['calls']} ({a['cached_calls']} cached)",
        ])
    rows += _trivial_rows(results, width=7)
    click.echo(table(["arm", f"{results['metric']['name']} (points, 95% CI)", "vs baseline",
                      "tokens in", "cost/1k", "p50 s", "calls"], rows))
    audit = results.get("audit") or {}
    if audit.get("excluded"):
        err(f"audit: {len(audit['excluded'])} eval item(s) found in the training set were left out "
            f"of scoring (eval lines {', '.join(audit['excluded'][:8])}"
            f"{' …' if len(audit['excluded']) > 8 else ''}); `audit: keep` scores them")
    _render_distillation(results)
    click.echo(f"verdict: {results['verdict']}")
    click.echo(f"report: {report}" if report else "report: not written (an arm has no answers yet)")
    unpriced = [name for name, a in results["arms"].items() if a["cost_per_1k_usd"] is None]
    spent = f"${outcome.spent_usd:.4f} spent"
    if unpriced and outcome.new_calls:  # an unknown price is unknown, not $0
        spent = ("spent: unknown" if len(unpriced) == len(results["arms"]) else
                 f"{spent} on priced calls, unknown on {', '.join(unpriced)}")
        spent += " (no price for the model: add one with --prices FILE)"
    err(f"{counted(outcome.new_calls, 'new call')}, {outcome.cached_calls:,} from the cache, "
         f"{outcome.resumed_calls:,} already recorded; {spent}")


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--out", "-o", default="reports", show_default=True, help="Folder for the report.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def report(run_id: str, out: str, as_json: bool) -> None:
    """Re-render the report of a compare run (calls nothing).

    RUN is a run id from the local run store, or a report folder (or the
    results.json in it) that a run wrote, here or on a colleague's machine.

    \b
    Examples:
      ftdecide report cmp-20261128-ab12cd
      ftdecide report shared/reports/cmp-20261128-ab12cd --out reports
    """
    from ftdecide.compare import finished_results
    from ftdecide.paths import check_output_dir

    check_output_dir(out, what="--out")
    rid, results, status = finished_results(run_id)
    paths = _write_report(results, Path(out) / rid)
    if as_json:
        echo_json({"run_id": rid, "report": str(paths.html), "status": status})
    else:
        click.echo(f"report: {paths.html}")


def _trivial_rows(results: dict[str, Any], *, width: int) -> list[list[str]]:
    """What answering blindly scores on this eval set, beside the arms (from the audit)."""
    labels = (results.get("audit") or {}).get("labels") or {}
    rows = []
    majority = labels.get("majority_rate")
    if majority is not None:
        label = labels.get("majority_label")
        name = f"always {label!r}" if isinstance(label, str) and len(label) <= 24 else \
            "always the majority answer"
        rows.append([f"{name} (trivial)", _pts(majority)] + ["-"] * (width - 2))
    chance = labels.get("chance_rate")
    if chance is not None:
        rows.append(["guessing (trivial)", _pts(chance)] + ["-"] * (width - 2))
    return rows
