"""The ``assess`` command: ask (or read) the answers, call :func:`ftdecide.api.assess`, render.

Kept apart from ``cli.py`` so the main CLI module stays small; ``cli.py``
adds the command to its group. Prompts, notices and the report path go to
stderr; stdout carries the summary, or with ``--json`` only the JSON.
"""

from __future__ import annotations

import datetime as _dt
import sys
import textwrap
from typing import Any

import click

from ftdecide._formatting import counted
from ftdecide.cli.common import echo_json, err, open_catalog
from ftdecide.errors import UsageError

PARTIAL_ANSWERS = "ftdecide-answers.partial.yaml"


def _question_kind(question: Any) -> str:
    if question.type == "choice":
        return " | ".join(question.choices)
    if question.type == "bool":
        return "true | false"
    if question.type == "number":
        low = "" if question.min is None else f"{question.min:g}"
        high = question.max if isinstance(question.max, str) else (
            "" if question.max is None else f"{question.max:g}")
        span = (f" {low}..{high}" if low and high else f" >= {low}" if low
                else f" <= {high}" if high else "")
        return ("whole number" if question.integer else "number") + span
    return "text" + (f", e.g. {question.example}" if question.example else "")


class _AssessCommand(click.Command):
    """``assess --help`` ends with every key of the answers file, read from the questions."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        from ftdecide.assess._questionnaire import load_questions

        questions = load_questions()
        formatter.write_paragraph()
        with formatter.section("Answers file (--answers, --save-answers)"):
            formatter.write_text(
                "YAML (or JSON), nested by the dots of each key, e.g. use_case: {goal: format}; "
                "keys marked * are required, any other may be left out (unknown). A wrong key "
                "or value exits 2 naming the key and its line.")
            formatter.write_dl([(q.id + (" *" if q.required else ""), _question_kind(q))
                                for q in questions.questions])



@click.command(cls=_AssessCommand)
@click.option("--answers", "-a", "answers_path", type=click.Path(dir_okay=False),
              help="Answers file (YAML or JSON) instead of the questions; its keys are listed "
                   "below.")
@click.option("--ask", "ask_missing", is_flag=True,
              help="With --answers: ask the questions the file leaves out (e.g. a file saved after Ctrl-C).")
@click.option("--from-run", "run_id", metavar="RUN",
              help="A compare run (its id, or a report folder with its results.json) whose "
                   "measurements (quality per arm with intervals, tokens, costs) replace the "
                   "matching answers.")
@click.option("--train", "train_path", type=click.Path(dir_okay=False),
              help="Training set: validated and priced (examples, prompt tokens, training cost).")
@click.option("--save-answers", type=click.Path(dir_okay=False),
              help="Write the answers to this file (YAML) for the next --answers.")
@click.option("--out", "-o", help="Write the HTML assessment: a .html file, or a folder "
              "(assessment.html in it). With --from-run it also holds the comparison.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Assess as of this date (default: today): shutdown dates and provider notices "
                   "are counted from it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
@click.option("--prices", "price_files", multiple=True, type=click.Path(dir_okay=False),
              envvar="FTDECIDE_PRICES", help="Price file overriding or extending the catalog (repeatable).")
def assess(answers_path: str | None, ask_missing: bool, run_id: str | None, train_path: str | None,
           save_answers: str | None, out: str | None, today: _dt.datetime | None, as_json: bool,
           price_files: tuple[str, ...]) -> None:
    """Should we fine-tune? The lesson's questions, answered with evidence where it exists.

    Asks about the use case, the alternatives tried, the costs and the
    benefits (or reads them with --answers), replaces answers with
    measurements where it can (--from-run, --train), and recommends one of
    fine-tune, try-rag, try-prompting, measure-first, collect-data,
    keep-baseline or not-tunable, with every rule that fired, the numbers
    that made it fire and its source, the costs, the risks and the next
    commands to run. Ctrl-C while asking saves the answers so far.

    \b
    Examples:
      ftdecide assess --save-answers answers.yaml
      ftdecide assess --answers answers.yaml --json
      ftdecide assess --answers answers.yaml --train train.jsonl --from-run cmp-20261128-ab12cd --out reports/
    """
    import ftdecide.api as api
    from ftdecide.assess import _questionnaire as qn

    if ask_missing and not answers_path:
        raise UsageError("--ask completes an answers file: give it with --answers FILE")
    # everything that can be wrong without the answers is checked before the first question
    if out:
        _check_out(out)
    run = api.load_run(run_id) if run_id else None
    catalog = open_catalog(price_files)
    if answers_path:
        answers = qn.read_answers(answers_path, partial=ask_missing)
    else:
        answers = qn.Answers()
    if not answers_path or ask_missing:
        answers = _ask(qn, answers, save_answers, validators={"costs.model": _model_check(catalog)})
    if save_answers:
        path = qn.save_answers(answers, save_answers)
        err(f"answers saved to {path}")
    assessment = api.assess(answers, from_run=run, train=train_path,
                            today=today.date() if today else None, price_files=price_files,
                            answers_path=answers_path or save_answers)
    result = assessment.assessment
    report = assessment.write_html(out) if out else None
    if as_json:
        echo_json(assessment.to_dict())
        if report:
            err(f"assessment: {report}")
        return
    render_summary(result)
    if report:
        click.echo(f"\nassessment: {report}")


def _check_out(out: str) -> None:
    """``--out`` is a ``.html`` file or a folder; either must be writable before any question."""
    from pathlib import Path

    from ftdecide.paths import check_output_dir, check_output_file

    if Path(out).suffix.lower() in (".html", ".htm"):
        check_output_file(out, what="--out")
    else:
        check_output_dir(out, what="--out")


def _model_check(catalog: Any) -> Any:
    """A check of the base-model answer against the installed catalog, run as it is typed."""
    from ftdecide.errors import FtdecideError

    def check(value: Any, values: Any) -> None:
        spec = str(value).strip()
        provider = values.get("costs.provider")
        if provider and ("/" not in spec or spec.split("/", 1)[0] not in catalog.providers):
            spec = f"{provider}/{spec}"
        try:
            catalog.resolve(spec)
        except FtdecideError as exc:
            raise ValueError(exc.message + (f" ({exc.hint})" if exc.hint else "")) from None

    return check


def _ask(qn: Any, preset: Any, save_to: str | None, validators: Any = None) -> Any:
    """Prompt for what ``preset`` lacks; on Ctrl-C save the answers so far and exit 130."""
    try:
        return qn.ask(preset, validators=validators)
    except qn.Interrupted as stop:
        count = len(stop.answers.values)
        if count == len(preset.values):  # nothing new answered: write no file
            if stop.eof:
                raise UsageError("no answer could be read: the input is not a terminal (or it "
                                 "ended) before the first question",
                                 hint="answer in a terminal, or give the answers in a file: "
                                      "ftdecide assess --answers answers.yaml (its keys: "
                                      "ftdecide assess --help)") from None
            err("")
            err("Interrupted before any answer; nothing saved.")
            sys.exit(130)
        path = qn.save_answers(stop.answers, save_to or qn.free_path(PARTIAL_ANSWERS),
                               note=f"partial: stopped at {stop.question.id}")
        if stop.eof:
            raise UsageError(f"the input ended at the question {stop.question.id}; {counted(count, 'answer')} "
                             f"saved to {path}",
                             hint=f"answer in a terminal, or give a file: ftdecide assess --answers {path} --ask") from None
        err("")
        err(f"Interrupted: {counted(count, 'answer')} saved to {path}")
        err(f"  continue with: ftdecide assess --answers {path} --ask")
        sys.exit(130)


# -- the terminal summary ----------------------------------------------------------------------------


def _wrap(text: str, indent: str, width: int = 96) -> str:
    return "\n".join(textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent)) or indent


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if value is None:
        return "unknown"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def render_summary(result: Any) -> None:
    """The human summary on stdout: decision, why, costs, risks, next steps, evidence."""
    from ftdecide.assess._facts import payback_text
    from ftdecide.report._format import money as _money
    from ftdecide.report._text import table

    def money(value: Any) -> str:
        return _money(value).replace("−", "-")

    d = result.decision
    labels = result.rules.labels if result.rules else {}
    click.echo(click.style(f"Recommendation: {d.recommendation}", bold=True)
               + f"  (confidence: {d.confidence})")
    if d.recommendation in labels:
        click.echo(f"  {labels[d.recommendation]}")
    click.echo("\nWhy")
    n = 0
    for r in d.reasons:
        if r.effect == "risk":
            continue
        n += 1
        tag = {"decides": "decides", "outranked": f"outranked: {r.recommend}", "supports": "supports"}[r.effect]
        click.echo(textwrap.fill(f"{n}. [{r.rule}, {tag}] {r.text}", 96, initial_indent="  ",
                                 subsequent_indent="     "))
        shown = ", ".join(f"{k} = {_value(v)}" for k, v in r.values.items()
                          if not (isinstance(v, str) and len(v) > 60))
        if shown:
            click.echo(_wrap(f"values: {shown}", "       "))
        click.echo(_wrap(f"source: {r.source}", "       "))
    c = result.costs
    click.echo(f"\nCosts: {c['model']}" + (f" (prices as of {c['prices']['as_of']}, {c['prices']['source']})"
                                           if c["prices"]["as_of"] else ""))
    rows = [
        ["training (one-off)", money(c["training_cost_usd"]), c["training_cost_source"] or ""],
        ["per request, today", money(c["cost_per_request_before_usd"]),
         f"{_value(c['prompt_tokens_now'])} prompt + {_value(c['output_tokens'])} output tokens"],
        ["per request, fine-tuned", money(c["cost_per_request_after_usd"]),
         f"{_value(c['prompt_tokens_after'])} prompt + {_value(c['output_tokens'])} output tokens"],
        ["per month, today", money(c["monthly_before_usd"]), f"at {_value(c['requests_per_month'])} requests"],
        ["per month, fine-tuned", money(c["monthly_after_usd"]), "hosting included"],
        ["hosting per month", money(c["hosting_monthly_usd"]), ""],
        ["saving per month", money(c["monthly_savings_usd"]), ""],
        ["payback", payback_text(c), ""],
        ["break-even volume", _value(c["break_even_requests_per_month"]), "requests per month"],
        ["shutdown", c["shutdown"] or "none known",
         "" if c["months_to_shutdown"] is None else f"{c['months_to_shutdown']:.1f} months left"],
    ]
    if c["fine_tuning_closes"]:
        rows.append(["fine-tuning closes", c["fine_tuning_closes"], "no new jobs after it"])
    click.echo(table(["", "value", "how"], rows, indent="  "))
    if d.risks:
        click.echo("\nRisks")
        for r in d.risks:
            click.echo(textwrap.fill(f"- {r.text} [{r.rule}]", 96, initial_indent="  ",
                                     subsequent_indent="    ", break_on_hyphens=False))
    if result.next_steps:
        click.echo("\nNext steps")
        for step in result.next_steps:
            click.echo(f"  $ {step['command']}")
            click.echo(_wrap(step["why"], "    "))
    click.echo("\nEvidence (where each input came from)")
    rows = []
    for key, item in result.evidence["inputs"].items():
        note = f" (answered {_value(item['answered'])})" if "answered" in item else ""
        rows.append([key, _value(item["value"]), item["source"] + note])
    click.echo(table(["input", "value", "source"], rows, indent="  "))
