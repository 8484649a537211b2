"""The ``audit`` command: leaks, conflicts, duplicates, labels and power, before any spend."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ftdecide.cli.common import echo_json, err

#: Entries shown per section before "… and N more".
SHOWN = 5


@click.command()
@click.argument("train", type=click.Path(dir_okay=True))
@click.option("--eval", "eval_path", type=click.Path(dir_okay=True),
              help="Eval set to check against the training set (leaks, label shift, power).")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=0.9,
              show_default=True, help="Cosine similarity (character n-gram TF-IDF) at which "
              "two prompts count as near copies.")
@click.option("--metric", help="Metric the comparison will use: exact, accuracy, json-fields "
              "(default: json-fields for JSON answers, else exact).")
@click.option("--baseline-rate", type=click.FloatRange(0, 1), help="Score the power "
              "calculation starts from, as a fraction (default: the majority rate when answers "
              "are labels, else 0.5).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Significance level (two-sided).")
@click.option("--power", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.8, show_default=True, help="Power for the minimum detectable difference.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def audit(train: str, eval_path: str | None, threshold: float, metric: str | None,
          baseline_rate: float | None, alpha: float, power: float, as_json: bool) -> None:
    """Check the data before any spend: leaks, conflicts, duplicates, labels, power.

    Finds eval prompts that are in the training set (exactly after
    normalising case, width and spaces, or nearly: a paraphrase), the same
    prompt with different answers, near-duplicate training examples, the
    label mix with the scores of answering blindly (majority, chance), and
    the smallest gain the eval set can detect. Reads the formats `validate`
    reads. Exit 0 when the audit ran (findings are a report, not a failure),
    2 for a missing or unreadable file.

    \b
    Example:
      ftdecide audit train.jsonl --eval eval.jsonl
      ftdecide audit train.jsonl --eval eval.jsonl --metric exact --json
    """
    import ftdecide.api as api

    progress = _progress(train, eval_path)
    report = api.audit(train, eval_path, threshold=threshold, metric=metric,
                       baseline_rate=baseline_rate, alpha=alpha, power=power, progress=progress)
    if as_json:
        echo_json(report.to_dict())
    else:
        _render(report.to_dict())
    sys.exit(0)


def _progress(train: str, eval_path: str | None) -> Any:
    """Stage lines on stderr for files big enough to take a while, when a person watches."""
    size = sum(os.path.getsize(p) for p in (train, eval_path) if p and os.path.isfile(p))
    if size < 5_000_000 or not sys.stderr.isatty():
        return None
    seen: set[str] = set()

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in seen:
            seen.add(stage)
            err(f"{stage}…")

    return progress


def _more(items: list[Any], total: int | None = None) -> str | None:
    extra = (len(items) if total is None else total) - SHOWN
    return f"  … and {extra:,} more" if extra > 0 else None


def _n(count: int, noun: str) -> str:
    """``1 eval item``, ``3 eval items``."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _render(r: dict[str, Any]) -> None:
    from ftdecide.report._text import table

    counts, settings = r["counts"], r["settings"]
    head = f"{os.path.basename(r['train'])}: {counts['train_examples']:,} examples"
    if r["eval"] is not None:
        head += f"; {os.path.basename(r['eval'])}: {counts['eval_examples']:,} examples"
    click.echo(head + f" (near threshold {settings['near_threshold']:g})")

    if r["eval"] is not None:
        click.echo(f"\nLeaks: {_n(len(r['leaked']), 'eval item')} with a training prompt "
                   "(equal after normalising case, width and spaces)")
        for e in r["leaked"][:SHOWN]:
            click.echo(f"  {e['eval']} = {e['train']}")
        _echo(_more(r["leaked"]))
        click.echo(f"Near leaks: {_n(len(r['near_leaked']), 'more eval item')} at least "
                   f"{settings['near_threshold']:g} similar to a training prompt")
        for e in r["near_leaked"][:SHOWN]:
            click.echo(f"  {e['eval']} ≈ {e['train']} ({e['similarity']:.2f})")
        _echo(_more(r["near_leaked"]))
        dropped = counts["excluded_if_leaks_dropped"]
        if dropped:
            click.echo(f"  → leave {'this' if dropped == 1 else 'these'} {_n(dropped, 'eval item')}"
                       " out of scoring: a fine-tune may answer from memory")

    conflicts = r["conflicts"]
    click.echo(f"\nConflicts: {_n(len(conflicts['train']), 'prompt')} in train with different "
               "answers" + (f"; {_n(len(conflicts['train_eval']), 'eval item')} disagreeing "
                            "with train" if r["eval"] is not None else ""))
    for c in conflicts["train"][:SHOWN]:
        answers = " / ".join(_short(a) for a in c["answers"])
        click.echo(f"  {', '.join(c['lines'][:4])}{' …' if len(c['lines']) > 4 else ''}: "
                   f"{answers}")
    _echo(_more(conflicts["train"]))
    for c in conflicts["train_eval"][:SHOWN]:
        click.echo(f"  {c['eval']} ({_short(c['eval_answer'])}) vs {c['train'][0]} "
                   f"({_short(c['train_answers'][0])})")
    _echo(_more(conflicts["train_eval"]))

    dups = r["near_duplicates"]
    click.echo(f"\nNear duplicates in train: {_n(dups['total'], 'pair')} "
               f"({dups['exact_pairs']:,} exact; {_n(dups['repeated_lines'], 'line')} repeating "
               "an earlier prompt)")
    for p in dups["pairs"][:SHOWN]:
        how = "exact" if p["exact"] else f"{p['similarity']:.2f}"
        click.echo(f"  {p['a']} {'=' if p['exact'] else '≈'} {p['b']} ({how})")
    _echo(_more(dups["pairs"], dups["total"]))

    _render_labels(r["labels"], r["eval"] is not None, table)
    _render_power(r["power"])


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _echo(line: str | None) -> None:
    if line:
        click.echo(line)


def _render_labels(labels: dict[str, Any], has_eval: bool, table: Any) -> None:
    how = "chosen from the answers" if labels["metric_chosen"] == "auto" else "given"
    if not labels["categorical"]:
        why = labels.get("note") or (_n(labels['distinct_answers'], 'distinct training answer')
                                     if "distinct_answers" in labels else "no field with few values")
        click.echo(f"\nLabels: answers are free text ({why}); no trivial baseline")
        return
    click.echo(f"\nLabels (metric {labels['metric']}, {how}):")
    if labels["kind"] == "json":
        sections = list(labels["fields"].items())
    else:
        sections = [("label", labels)]
    for name, section in sections:
        rows = []
        for label, n in section["train"].items():
            rows.append([label, n] + ([section["eval"].get(label, 0)] if has_eval else []))
        if has_eval:
            for label in section["unseen_in_train"]:
                rows.append([label + " (unseen in train)", 0, section["eval"][label]])
        click.echo(table([name, "train"] + (["eval"] if has_eval else []), rows, indent="  "))
        if has_eval:
            flag = "  ← shifted" if section["shifted"] else ""
            click.echo(f"  train↔eval distance {section['distance']:.2f} (total variation; "
                       f"flagged above {labels['distance_threshold']:g}){flag}")
    if labels.get("free_text_fields"):
        click.echo(f"  free-text fields: {', '.join(labels['free_text_fields'])}")
    if labels.get("majority_rate") is not None:
        click.echo(f"  answering blindly: majority {_percent(labels['majority_rate'])}, "
                   f"chance {_percent(labels['chance_rate'])} ({labels['metric']})")
    elif labels.get("note"):
        click.echo(f"  {labels['note']}")


def _render_power(power: dict[str, Any]) -> None:
    n = power["n"]
    if not n:
        return
    settings = (f"α {power['alpha']:g}, power {power['power'] * 100:g} %, baseline "
                f"{power['baseline_rate'] * 100:.0f} %")
    diff = power["min_detectable_diff"]
    if diff is None:
        click.echo(f"\nPower: with {_n(n, 'eval item')} no gain over the baseline can be "
                   f"detected ({settings}); add eval items")
    else:
        click.echo(f"\nPower: with {_n(n, 'eval item')} the comparison can only detect a gain "
                   f"of ≥ {diff * 100:.0f} points ({settings})")
    kept, after = power.get("n_after_exclusion"), power.get("min_detectable_diff_after_exclusion")
    if kept is not None and kept != n:
        click.echo(f"  without the leaked items ({kept:,} left): "
                   + ("none" if after is None else f"≥ {after * 100:.0f} points"))
