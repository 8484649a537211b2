"""The ``validate`` command: parse, call :func:`ftdecide.api.validate`, render."""

from __future__ import annotations

import sys

import click

from ftdecide.cli.common import (
    echo_json,
    prices_option,
    progress_bar,
)


# -- validate ---------------------------------------------------------------------------
@click.command()
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--model", "-m", help="Model whose encoding and per-example limit to check against.")
@click.option("--format", "fmt", type=click.Choice(["chat", "prompt-completion", "csv"]),
              help="Input format (detected from the file when not given).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@prices_option
def validate(file: str, model: str | None, fmt: str | None, as_json: bool,
             price_files: tuple[str, ...]) -> None:
    """Check a training set line by line, the way the OpenAI cookbook does.

    Formats: OpenAI chat JSONL, prompt/completion JSONL, CSV with
    prompt/completion (or input/output) columns. Exit 0 when valid
    (warnings allowed), 2 on any error.

    \b
    Example:
      ftdecide validate train.jsonl --model gpt-4o-mini-2024-07-18
    """
    import ftdecide.api as api
    from ftdecide._formatting import counted
    from ftdecide.data import _checks as checks
    from ftdecide.report._text import lines_list, number, table

    bar, progress = progress_bar(file, "validating")
    try:
        checked = api.validate(file, model, fmt=fmt, price_files=price_files, progress=progress)
    finally:
        if bar is not None:
            bar.render_finish()
    report, array, result = checked.report, checked.array_error, checked.to_dict()
    limit = report.token_limit
    details = {c: d["detail"] for c, d in result["details"].items()}
    if as_json:
        echo_json(result)
    else:
        status = "valid" if report.valid else "INVALID"
        click.echo(f"{report.file}: {status} ({report.format}, {counted(report.examples, 'example')}, "
                   f"encoding {report.encoding}"
                   + (f", limit {limit:,} tokens per example" if limit else "") + ")")
        stats = report.stats
        rows = []
        for key, label in (("messages_per_example", "messages / example"),
                           ("tokens_per_example", "tokens / example"),
                           ("assistant_tokens_per_example", "assistant tokens / example")):
            s = stats.get(key) or {}
            if s:
                rows.append([label] + [number(s.get(k)) for k in ("min", "p5", "median", "mean",
                                                                  "p95", "max")])
        if rows:
            click.echo()
            click.echo(table(["", "min", "p5", "median", "mean", "p95", "max"], rows))
        click.echo(f"\ntotal tokens: {report.tokens_total:,}")
        if array is not None:
            click.echo(f"\nerror: {array.message}")
            click.echo(f"  {array.hint}")
        for title, found in (("errors", report.errors), ("warnings", report.warnings)):
            if not found:
                continue
            click.echo(f"\n{title}:")
            for category, lines in found.items():
                if array is not None and category in ("invalid_json", "data_type"):
                    continue  # said once above, with the command that converts the file
                where = f" at line {lines_list(lines)}" if lines else ""
                count = f"{len(lines):,} × " if len(lines) > 1 else ""
                click.echo(f"  {count}{category}{where}")
                if category in details:
                    click.echo(f"      line {lines[0]}: {details[category]}")
                advice = checks.advice(category, report.format)
                if advice:
                    click.echo(f"      → {advice}")
    sys.exit(0 if report.valid else 2)
