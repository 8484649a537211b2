"""The ``compare`` and ``report`` commands: parse, call :func:`ftdecide.api.compare_config`,
:func:`ftdecide.api.plan` and :func:`ftdecide.api.execute` (the steps of
``ftdecide.compare()``), render.

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
    from ftdecide.api._compare import _example_config

    return _example_config(name)


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
@click.option("--example", help="Use a bundled example's config: triage (JSON labels), triage-curve (a learning curve) or voice (free text).")
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
@click.option("--metric", help="exact, accuracy, f1, json-fields; for free text rouge-l, chrf, "
              "bleu, similarity (TF-IDF offline, or embeddings: similarity: {model: ...} in the "
              "config), judge (an LLM grader: judge: {model: ...} in the config); or a plugin "
              "metric.")
@click.option("--human-labels", type=click.Path(dir_okay=False),
              help="A person's labels (CSV/JSONL: id,label) to calibrate the judge against.")
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
@click.option("--learning-curve", metavar="SIZES", help="Also tune on nested subsets of the "
              "training set: fractions (0.25) or counts (200), comma-separated, e.g. "
              "0.125,0.25,0.5,1.0.")
@click.option("--target-quality", type=float, help="The quality that is good enough (0 to 1): "
              "the learning curve says how many examples reach it.")
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
@click.option("--format", "items_format", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True, help="The items export: items.csv, or also items.parquet "
              "(one row per item × arm; needs pyarrow, the ftdecide[parquet] extra).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--prices", "price_files", multiple=True, type=click.Path(dir_okay=False),
              help="Price file (YAML/JSON) overriding the catalog; repeatable.")
def compare(config_path: str | None, example: str | None, train: str | None,
            eval_path: str | None, corpus: str | None, model: str | None, tuned: str | None,
            tune_flag: bool | None, arms: str | None, teacher: str | None,
            inputs: str | None, baseline: str | None, shots: int | None,
            shot_selection: str | None, retrieval: str | None, top_k: int | None,
            metric: str | None, human_labels: str | None, requests_per_month: int | None, max_cost_usd: float | None,
            concurrency: int | None, seed: int | None, max_tokens: int | None,
            eval_limit: int | None, batch: bool | None, price_as: str | None,
            learning_curve: str | None, target_quality: float | None, out: str | None,
            resume_id: str | None,
            dry_run: bool, no_cache: bool, fail_under: tuple[str, ...], yes: bool, retrain: bool,
            items_format: str, as_json: bool, price_files: tuple[str, ...]) -> None:
    """Measure zero-shot, few-shot, RAG and fine-tuned arms on your eval set.

    Every answer is scored against the expected one, with a 95 % interval
    and a paired test against the baseline; tokens, cost and latency are
    measured; the report (HTML, results.json, items.csv) lands in
    reports/RUN/. Each call is recorded as it completes: a re-run answers
    from the cache, and --resume RUN repeats no completed call.

    \b
    Examples:
      ftdecide compare --example triage
      ftdecide compare --example voice      # free text, scored with rouge-l
      ftdecide compare -c compare.yaml --fail-under finetuned:0.05
      ftdecide compare --train train.jsonl --eval eval.jsonl \\
          --model openai/gpt-4o-mini --tuned openai/ft:gpt-4o-mini:acme::abc123
    """
    import ftdecide.api as api
    from ftdecide.compare import RunStore

    gates = _parse_gates(fail_under)
    store = RunStore()
    flags = {"train": train, "eval": eval_path, "corpus": corpus, "model": model, "tuned": tuned,
             "tune": {} if tune_flag else None, "arms": arms, "baseline": baseline,
             "shots": shots, "shot_selection": shot_selection, "retrieval": retrieval,
             "top_k": top_k, "metric": metric, "requests_per_month": requests_per_month,
             "max_cost_usd": max_cost_usd, "concurrency": concurrency, "seed": seed,
             "max_tokens": max_tokens, "eval_limit": eval_limit, "batch": batch, "out": out,
             "price_as": price_as, "human_labels": human_labels,
             "learning_curve": learning_curve, "target_quality": target_quality,
             "teacher": teacher, "inputs": inputs}
    if items_format == "parquet":
        from ftdecide.report import parquet_modules

        parquet_modules()  # before any config is read or call made
    config = api.compare_config(config_path, example=example, resume=resume_id, store=store,
                                **flags)
    unknown = sorted({arm for arm, _ in gates if arm not in config.arms})
    if unknown:
        raise UsageError(f"--fail-under {unknown[0]}: the arm {unknown[0]} is not in this run "
                         f"(arms: {', '.join(config.arms)})", key="--fail-under",
                         hint="gate an arm the run has, or add it to arms (--arms)")
    for notice in config.notices:
        err(f"note: {notice}")
    catalog = open_catalog(price_files)
    if dry_run:
        plan = api.plan(config, catalog=catalog, store=store, resume=resume_id, retrain=retrain)
        if as_json:
            echo_json(plan)
        else:
            render_dry_run(plan)
        return
    command = "ftdecide " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    progress = _ArmProgress()
    run_ids: list[str] = []
    try:
        run = api.execute(config, catalog=catalog, store=store, command=command,
                          resume=resume_id, use_cache=not no_cache, progress=progress,
                          retrain=retrain, trainer=_trainer(catalog, yes, retrain),
                          on_run_id=run_ids.append, items_format=items_format)
    except KeyboardInterrupt:
        if run_ids:
            err(f"Interrupted: every answer so far is recorded. Continue with: "
                 f"ftdecide compare --resume {run_ids[0]}")
        raise
    except Exception:
        if run_ids:
            err(f"run {run_ids[0]} stopped; answers so far are recorded "
                 f"(ftdecide compare --resume {run_ids[0]})")
        raise
    outcome = run.outcome
    if as_json:
        echo_json(run.to_dict())
    else:
        _render_summary(run.results, run.report, outcome, run.judge_outcome)
    if run.budget_stopped:
        judged = run.judge_outcome
        skipped = outcome.skipped + (judged.skipped if judged else 0)
        spent = outcome.spent_usd + (judged.spent_usd if judged else 0.0)
        err(f"Budget reached: stopped before ${config.max_cost_usd:.4f} would be crossed "
             f"({counted(skipped, 'call')} not made, ${spent:.4f} spent). "
             f"Continue with: ftdecide compare --resume {run.run_id} --max-cost <higher>")
        sys.exit(1)
    failures = run.fail_under(gates)
    for f in failures:
        err(f"Gate failed: {f}")
    if failures:
        sys.exit(1)


def _write_report(results: dict[str, Any], out_dir: Path, items_format: str = "csv") -> Any:
    from ftdecide.report import write_report

    return write_report(results, out_dir, items_format=items_format)


def _render_dry_similarity(sim: dict[str, Any] | None) -> None:
    """The similarity metric's vectors in the dry run: evaluation cost, apart from the arms."""
    from ftdecide.report._text import money

    if not sim:
        return
    if sim["backend"] == "tfidf":
        click.echo("similarity: TF-IDF vectors, offline, free (no embedding calls)")
        return
    cost = (sim["cost"] if sim["predicted_cost_usd"] is None
            else f"at most {money(sim['predicted_cost_usd'])}")
    click.echo(f"similarity {sim['model']}: {sim['texts'] - sim['cached']:,} texts to embed "
               f"({sim['cached']:,} cached) and {sim['unknown_answers']:,} answers not made yet "
               f"(counted at max_tokens), at most {sim['input_tokens']:,} tokens; evaluation "
               f"cost {cost} (in the total below)")


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
    judge = plan.get("judge")
    if judge:
        judge_cost = ("unknown (no price for the judge's model: add one with --prices FILE)"
                      if judge["predicted_cost_usd"] is None else
                      f"at most {money(judge['predicted_cost_usd'])}")
        click.echo(f"judge {judge['model']}: {judge['calls']:,} calls ({judge['cached']:,} cached, "
                   f"{judge['recorded']:,} recorded), evaluation cost {judge_cost} (in the total "
                   "below; an answer not made yet is counted at max_tokens)")
    _render_dry_similarity(plan.get("similarity"))
    calls = f"{plan['calls']:,} calls" + (f" and {judge['calls']:,} judge calls" if judge else "")
    click.echo(f"{plan['items']:,} eval items; {calls} would be made, {cost}")
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
    for p in plan.get("learning_curve") or []:
        cost = p["new_cost_usd"]
        click.echo(f"learning curve, {p['examples']:,} examples: "
                   + (f"reuses job {p['job_id']} ({p['action']})" if p["action"] != "new" else
                      "a new fine-tune, " + ("cost unknown" if cost is None else
                                             f"about {money(cost)} (included above)"))
                   + f", then {p['calls']:,} calls")
    click.echo("dry run: nothing was called")


def _render_judge(judge: dict[str, Any] | None, judged: Any) -> None:
    """The judge's lines: its agreement with people, unparseable replies, evaluation cost."""
    if not judge:
        return
    from ftdecide.report._text import money

    agree = judge.get("agreement")
    if agree and agree.get("n"):
        ci = agree.get("kappa_ci")
        kappa = "undefined" if agree["kappa"] is None else f"{agree['kappa']:.2f}"
        click.echo(f"judge {judge['model']}: κ {kappa}"
                   + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and agree["kappa"] is not None else "")
                   + f" with people on {agree['n']} items, {agree['percent'] * 100:.0f} % agree "
                   f"(always {agree['constant_label']}: {agree['constant_baseline'] * 100:.0f} %)")
    else:
        click.echo(f"judge {judge['model']}: no human labels on judged items (not calibrated)")
    if judge.get("unparseable"):
        err(f"judge: {counted(judge['unparseable'], 'unparseable judgment')} left out of the "
            "judge score (see the report's items)")
    cost = judge.get("evaluation_cost_usd")
    new = f"{counted(judged.new_calls, 'new call')}, " if judged is not None else ""
    err(f"judge: {new}evaluation cost "
        + ("unknown (no price for the judge's model)" if cost is None else money(cost))
        + " (apart from the arms' cost per 1k requests)")


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


def _render_summary(results: dict[str, Any], report: str | None, outcome: Any,
                    judged: Any = None) -> None:
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
            a.get("model") or "-",
            "unknown" if a["cost_per_1k_usd"] is None else money(a["cost_per_1k_usd"]),
            "unknown" if a["monthly_cost_usd"] is None else money(a["monthly_cost_usd"]),
            "-" if a["latency_p50_s"] is None else f"{a['latency_p50_s']:.2f}",
            f"{a['calls']} ({a['cached_calls']} cached)",
        ])
    rows += _trivial_rows(results, width=9)
    click.echo(table(["arm", f"{results['metric']['name']} (points, 95% CI)", "vs baseline",
                      "tokens in", "model", "cost/1k", "monthly", "p50 s", "calls"], rows))
    _render_serving(results)
    audit = results.get("audit") or {}
    if audit.get("excluded"):
        err(f"audit: {len(audit['excluded'])} eval item(s) found in the training set were left out "
            f"of scoring (eval lines {', '.join(audit['excluded'][:8])}"
            f"{' …' if len(audit['excluded']) > 8 else ''}); `audit: keep` scores them")
    curve = results.get("learning_curve")
    if curve:
        click.echo("learning curve: " + ", ".join(
            f"{p['examples']:,} → {_pts(p['quality']['mean'])}" for p in curve["points"])
            + f" ({results['metric']['name']}, points)")
        for key, what in (("examples_to_target", "to reach the target"),
                          ("examples_to_beat_baseline", "to beat the baseline's upper bound")):
            need = curve.get(key) or {}
            if need.get("goal") is not None:
                click.echo(f"  {what} ({_pts(need['goal'])}): {need.get('text')}")
    _render_distillation(results)
    _render_judge(results.get("judge"), judged)
    click.echo(f"verdict: {results['verdict']}")
    click.echo(f"report: {report}" if report else "report: not written (an arm has no answers yet)")
    # self-hosted arms ran on hardware the user pays by the hour: unpriced to serve, not to call
    unpriced = [name for name, a in results["arms"].items() if a["cost_per_1k_usd"] is None
                and not str(a.get("cost_kind") or "").startswith("self-hosted")]
    spent = f"${outcome.spent_usd:.4f} spent"
    if unpriced and outcome.new_calls:  # an unknown price is unknown, not $0
        spent = ("spent: unknown" if len(unpriced) == len(results["arms"]) else
                 f"{spent} on priced calls, unknown on {', '.join(unpriced)}")
        spent += " (no price for the model: add one with --prices FILE)"
    err(f"{counted(outcome.new_calls, 'new call')}, {outcome.cached_calls:,} from the cache, "
         f"{outcome.resumed_calls:,} already recorded; {spent}")
    ev = results["metric"].get("evaluation") or {}
    if ev.get("backend") == "provider":  # scoring's own calls, never in an arm's cost
        cost = "unknown" if ev.get("cost_usd") is None else f"${ev['cost_usd']:.4f}"
        err(f"evaluation: {counted(ev['calls'], 'embedding call')} to {ev['model']}, "
            f"{ev['cached_texts']:,} of {ev['texts']:,} texts from the cache; {cost} spent")


def _render_serving(results: dict[str, Any]) -> None:
    """How each self-hosted arm was priced (hardware, throughput's source, the floor), and
    where self-hosting pays against each hosted arm."""
    for a in results["arms"].values():
        s = a.get("serving")
        reason = (a.get("economics") or {}).get("unpriced_reason")
        if s and a.get("cost_per_1k_usd") is not None:
            click.echo(f"{a['label']} ({a['model']}) self-hosted on {s['hardware']}: "
                       f"${s['usd_per_hour']:.2f}/h at utilization {s['utilization']}, "
                       f"{s.get('instances')} instance(s), floor ${s['fixed_monthly_usd']:,.0f}/month; "
                       f"throughput {s.get('throughput_source')}")
        elif reason:
            click.echo(f"{a['label']} ({a['model']}): {reason}")
    for p in results.get("self_hosting") or []:
        be = p.get("break_even_requests_per_month")
        if be:
            click.echo(f"self-hosting {p['self_hosted']} on {p['hardware']} is cheaper than "
                       f"{p['hosted']} ({p['hosted_model']}) above {be:,} requests/month; below it "
                       f"the ${p['fixed_monthly_usd']:,.0f}/month floor makes it dearer")
        elif be == 0:
            click.echo(f"self-hosting {p['self_hosted']} on {p['hardware']} is cheaper than "
                       f"{p['hosted']} from the first request")
        else:
            click.echo(f"self-hosting {p['self_hosted']} against {p['hosted']}: {p['reason']}")


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--out", "-o", default="reports", show_default=True, help="Folder for the report.")
@click.option("--format", "items_format", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True, help="The items export: items.csv, or also items.parquet "
              "(needs pyarrow, the ftdecide[parquet] extra).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def report(run_id: str, out: str, items_format: str, as_json: bool) -> None:
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
    paths = _write_report(results, Path(out) / rid, items_format)
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
    for t in results.get("trivial") or []:  # free text: copying the input, with its interval
        ci = ("" if t.get("ci_low") is None else
              f" [{_pts(t['ci_low'])}, {_pts(t['ci_high'])}]")
        rows.append([f"{t.get('name')} (trivial)", f"{_pts(t.get('mean'))}{ci}"]
                    + ["-"] * (width - 2))
    return rows
