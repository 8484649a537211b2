"""The ``assess`` questionnaire: the questions (``questions.yaml``), answer files, prompting.

The questions are data so that the wording, the help that says why each one
matters, the validation and the follow-up conditions can change without
touching code, and so the report can show the same text the user saw.

Answers are a nested mapping (``use_case: {goal: format}``), flattened here
to dotted ids (``use_case.goal``). One validator serves both ways in: an
answers file (YAML or JSON) and the interactive prompts, so a value the
prompt accepts is exactly one the file accepts. Every problem names the key
(and the line, for YAML) and exits 2.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

from ftdecide.assess._conditions import Condition, ConditionError, parse
from ftdecide.errors import DataError, UsageError

AREAS = ("use_case", "alternatives", "costs", "benefits")
TYPES = ("choice", "number", "bool", "text")
_QUESTION_KEYS = {"id", "area", "text", "help", "type", "choices", "default", "assume", "min", "max",
                  "integer", "pattern", "required", "when", "example"}
_TRUE = {"y", "yes", "true", "1", "on"}
_FALSE = {"n", "no", "false", "0", "off"}


@dataclass(frozen=True)
class Question:
    """One question of ``questions.yaml`` (see the comment at the top of that file)."""

    id: str
    area: str
    text: str
    help: str
    type: str
    choices: Mapping[str, str] = field(default_factory=dict)
    default: Any = None
    assume: bool = False
    min: float | None = None
    max: float | str | None = None
    integer: bool = False
    pattern: str | None = None
    required: bool = False
    when: Condition | None = None
    example: str | None = None

    def check(self, value: Any, answers: Mapping[str, Any] | None = None) -> Any:
        """``value`` validated and normalised, or :class:`ValueError` saying what is expected."""
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(f"expected true or false, got {value!r}")
        if self.type == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ValueError(f"expected one of {', '.join(self.choices)}, got {value!r}")
        if self.type == "text":
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"expected a text, got {value!r}")
            value = value.strip()
            if self.pattern and not re.fullmatch(self.pattern, value):
                raise ValueError(f"{value!r} is not a valid value (lower-case letters, digits, - and _)")
            return value
        # number
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
        if self.integer:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"expected a whole number, got {value!r}")
            value = int(value)
        if self.min is not None and value < self.min:
            raise ValueError(f"must be at least {_num(self.min)}, got {_num(value)}")
        limit = self.max
        limit_name = None
        if isinstance(limit, str):
            limit_name, limit = limit, (answers or {}).get(limit)
        if limit is not None and value > limit:
            where = f" ({limit_name})" if limit_name else ""
            raise ValueError(f"must be at most {_num(limit)}{where}, got {_num(value)}")
        return value

    def parse_text(self, text: str) -> Any:
        """What a person typed, converted to this question's type (then :meth:`check` it)."""
        text = text.strip()
        if self.type == "bool":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("answer yes or no")
        if self.type == "number":
            try:
                number = float(text.replace(",", "").replace("_", ""))
            except ValueError:
                raise ValueError(f"expected a number, got {text!r}") from None
            return int(number) if number.is_integer() and self.integer else number
        if self.type == "choice":
            hits = [c for c in self.choices if c == text] or [c for c in self.choices if c.startswith(text)]
            if len(hits) == 1:
                return hits[0]
            raise ValueError(f"expected one of {', '.join(self.choices)}")
        return text


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Questionnaire:
    """The questions in asking order, the area titles, and lookups by id."""

    questions: tuple[Question, ...]
    areas: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {q.id: q for q in self.questions})

    def __getitem__(self, qid: str) -> Question:
        return self._by_id[qid]  # type: ignore[attr-defined]

    def __contains__(self, qid: object) -> bool:
        return qid in self._by_id  # type: ignore[attr-defined]

    @property
    def ids(self) -> list[str]:
        return [q.id for q in self.questions]

    @property
    def groups(self) -> set[str]:
        """Every dotted prefix that holds questions (``alternatives.few_shot`` ...)."""
        out = set()
        for q in self.questions:
            parts = q.id.split(".")
            for i in range(1, len(parts)):
                out.add(".".join(parts[:i]))
        return out


def _load_error(message: str) -> DataError:
    return DataError(message, path="ftdecide/questions.yaml",
                     hint="the packaged questions file is broken: reinstall ftdecide")


def questions_from_data(data: Any) -> Questionnaire:
    """Build and check a questionnaire from the parsed ``questions.yaml`` mapping."""
    if not isinstance(data, Mapping) or not isinstance(data.get("questions"), list):
        raise _load_error("expected 'areas' and a list of 'questions'")
    areas = dict(data.get("areas") or {})
    if tuple(areas) != AREAS:
        raise _load_error(f"areas must be {', '.join(AREAS)} in that order")
    out: list[Question] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["questions"]):
        if not isinstance(raw, Mapping):
            raise _load_error(f"questions[{i}] is not a mapping")
        unknown = set(raw) - _QUESTION_KEYS
        qid = raw.get("id")
        where = f"question {qid or i}"
        if unknown:
            raise _load_error(f"{where}: unknown field {sorted(unknown)[0]!r}")
        if not isinstance(qid, str) or not re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", qid) or qid in seen:
            raise _load_error(f"{where}: id must be a new dotted key such as use_case.goal")
        seen.add(qid)
        if raw.get("area") not in AREAS or not qid.startswith(raw["area"] + "."):
            raise _load_error(f"{where}: area must be one of {', '.join(AREAS)} and start the id")
        if raw.get("type") not in TYPES:
            raise _load_error(f"{where}: type must be one of {', '.join(TYPES)}")
        for key in ("text", "help"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise _load_error(f"{where}: {key} is required")
        when = None
        if raw.get("when") is not None:
            try:
                when = parse(raw["when"])
            except ConditionError as exc:
                raise _load_error(f"{where}: when: {exc}") from None
            later = [n for n in when.names if n not in seen or n == qid]
            if later:
                raise _load_error(f"{where}: when refers to {later[0]}, which is not asked before it")
        choices = dict(raw.get("choices") or {})
        if (raw["type"] == "choice") != bool(choices):
            raise _load_error(f"{where}: choices go with type choice, and only with it")
        q = Question(id=qid, area=raw["area"], text=raw["text"].strip(), help=" ".join(raw["help"].split()),
                     type=raw["type"], choices=choices, default=raw.get("default"),
                     assume=bool(raw.get("assume")), min=raw.get("min"), max=raw.get("max"),
                     integer=bool(raw.get("integer")), pattern=raw.get("pattern"),
                     required=bool(raw.get("required")), when=when, example=raw.get("example"))
        if isinstance(q.max, str) and q.max not in seen:
            raise _load_error(f"{where}: max names {q.max}, which is not asked before it")
        if q.default is not None:
            try:
                q.check(q.default)
            except ValueError as exc:
                raise _load_error(f"{where}: default: {exc}") from None
        if q.assume and q.default is None:
            raise _load_error(f"{where}: assume needs a default")
        out.append(q)
    return Questionnaire(tuple(out), areas)


@lru_cache(maxsize=1)
def load_questions() -> Questionnaire:
    """The packaged questionnaire (read once)."""
    import yaml

    text = resources.files(__package__).joinpath("questions.yaml").read_text(encoding="utf-8")
    return questions_from_data(yaml.safe_load(text))


# -- answers ---------------------------------------------------------------------------------


@dataclass
class Answers:
    """Validated answers by dotted id, with where each came from.

    ``values`` holds what was answered (and what a follow-up implied);
    ``sources`` says, per id, ``answers FILE``, ``interactive``, ``default``
    or ``implied by ID``. Unanswered ids are absent: unknown.
    """

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    origin: str = "interactive"

    def get(self, qid: str, default: Any = None) -> Any:
        return self.values.get(qid, default)

    def nested(self) -> dict[str, Any]:
        return nest(self.values)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``, in the questionnaire's order where known."""
    order = {qid: i for i, qid in enumerate(load_questions().ids)}
    out: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: order.get(k, len(order))):
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = flat[key]
    return out


def _flatten(data: Mapping[str, Any], prefix: str, out: dict[str, Any], groups: set[str],
             ids: set[str], error: Callable[[str, str], DataError]) -> None:
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if path in ids:
            out[path] = value
        elif path in groups:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise error(path, f"{path}: expected a mapping of "
                            + ", ".join(sorted(i.split(".")[-1] for i in ids if i.rsplit(".", 1)[0] == path))
                            + f", got {value!r}")
            _flatten(value, path, out, groups, ids, error)
        else:
            siblings = sorted({k[len(prefix) + 1:].split(".")[0] if prefix else k.split(".")[0]
                               for k in ids | groups if not prefix or k.startswith(prefix + ".")})
            close = difflib.get_close_matches(str(key), siblings, n=1, cutoff=0.6)
            hint = f"did you mean {(prefix + '.' if prefix else '') + close[0]}?" if close else \
                "known keys here: " + ", ".join(siblings)
            raise error(path, f"unknown key {path}", hint)


def validate(data: Any, *, origin: str, lines: Mapping[str, int] | None = None,
             partial: bool = False) -> Answers:
    """Check a nested answers mapping; :class:`DataError` (exit 2) names the key.

    ``partial`` accepts answers without the required keys (a file being
    completed interactively, or saved after Ctrl-C).
    """
    q = load_questions()
    lines = lines or {}
    path = None if origin == "interactive" else origin

    def error(key: str, message: str, hint: str | None = None) -> DataError:
        return DataError(message, path=path, line=lines.get(key), hint=hint, key=key)

    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise DataError(f"expected a mapping with the keys {', '.join(AREAS)}, got {type(data).__name__}",
                        path=path, hint="see `ftdecide assess --help` for the answers file")
    flat: dict[str, Any] = {}
    _flatten(data, "", flat, q.groups, set(q.ids), error)
    answers = Answers(origin=origin)
    source = "interactive" if origin == "interactive" else f"answers {origin}"
    for question in q.questions:  # in asking order, so max: and when: see earlier answers
        if question.id not in flat or flat[question.id] is None:
            continue
        try:
            answers.values[question.id] = question.check(flat[question.id], answers.values)
        except ValueError as exc:
            raise error(question.id, f"{question.id}: {exc}",
                        hint=f"the question: {question.text}") from None
        answers.sources[question.id] = source
    _apply_conditions(q, answers, error)
    if not partial:
        missing = [x.id for x in q.questions if x.required and x.id not in answers.values]
        if missing:
            raise error(missing[0], f"{missing[0]} is required",
                        hint=f"{q[missing[0]].text} {_choices_hint(q[missing[0]])}".strip())
    return answers


def _choices_hint(question: Question) -> str:
    if question.choices:
        return "One of: " + ", ".join(question.choices) + "."
    if question.example:
        return f"For example: {question.example}."
    return ""


def _apply_conditions(q: Questionnaire, answers: Answers,
                      error: Callable[..., DataError]) -> None:
    """Follow-ups: a value given for a question whose condition is false is an error; a value
    given under a bare yes/no question left unanswered implies yes (a few-shot quality means
    few-shot was tried)."""
    for question in q.questions:
        if question.when is None or question.id not in answers.values:
            continue
        names = question.when.names
        if (len(names) == 1 and question.when.text == names[0] and names[0] in q
                and q[names[0]].type == "bool" and names[0] not in answers.values):
            answers.values[names[0]] = True
            answers.sources[names[0]] = f"implied by {question.id}"
        if question.when.evaluate(answers.values) is False:
            shown = ", ".join(f"{n} = {_show(answers.values.get(n))}" for n in names)
            raise error(question.id, f"{question.id} is given, but it applies only when "
                        f"{question.when.text} ({shown})",
                        hint=f"remove {question.id}, or change {names[0]}")


def _show(value: Any) -> str:
    if value is None:
        return "not answered"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def with_assumptions(answers: Answers) -> Answers:
    """The answers plus the defaults of ``assume: true`` questions left unanswered
    (their source says ``default``), for questions whose condition allows them."""
    q = load_questions()
    out = Answers(dict(answers.values), dict(answers.sources), answers.origin)
    for question in q.questions:
        if question.id in out.values or not question.assume:
            continue
        if question.when is not None and not question.when.holds(out.values):
            continue
        out.values[question.id] = question.default
        out.sources[question.id] = "default (not answered)"
    return out


def read_answers(path: str | Path, *, partial: bool = False) -> Answers:
    """Read and validate an answers file (YAML, or JSON by its ``.json`` suffix)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("file not found", path=str(p), hint="check the path given to --answers") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", path=str(p)) from None
    lines: dict[str, int] = {}
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path=str(p), line=exc.lineno) from None
    else:
        from ftdecide.data._yamlfile import read_yaml

        data, lines = read_yaml(text, str(p))  # a key given twice is an error, not last-wins
    return validate(data, origin=str(p), lines=lines, partial=partial)


def dump_answers(answers: Answers, *, note: str | None = None) -> str:
    """The answers as a YAML answers file (what ``--save-answers`` and Ctrl-C write)."""
    import yaml

    head = "# ftdecide assess answers: rerun with `ftdecide assess --answers THIS_FILE`\n"
    if note:
        head += f"# {note}\n"
    body = yaml.safe_dump(answers.nested(), sort_keys=False, allow_unicode=True, default_flow_style=False)
    return head + (body if answers.values else "{}\n")


def save_answers(answers: Answers, path: str | Path, *, note: str | None = None) -> Path:
    p = Path(path)
    try:
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(dump_answers(answers, note=note), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the answers to {p}: {exc}",
                         hint="choose another path with --save-answers") from None
    return p


def free_path(path: str | Path) -> Path:
    """``path``, or ``name-2.yaml``, ``name-3.yaml`` ... when it exists already."""
    p = Path(path)
    n = 2
    while p.exists():
        p = p.with_name(f"{Path(path).stem}-{n}{Path(path).suffix}")
        n += 1
    return p


# -- interactive --------------------------------------------------------------------------------


class Interrupted(Exception):
    """Prompting stopped (Ctrl-C, or input ended) with ``answers`` given so far."""

    def __init__(self, answers: Answers, question: Question, *, eof: bool = False) -> None:
        super().__init__(f"stopped at {question.id}")
        self.answers = answers
        self.question = question
        self.eof = eof


def _default_text(question: Question, answers: Mapping[str, Any]) -> str:
    value = question.default
    if value is None:
        return ""
    if question.type == "bool":
        return "yes" if value else "no"
    return _num(value)


def ask(preset: Answers | None = None, *, echo: Callable[[str], None] | None = None,
        prompt: Callable[..., str] | None = None,
        validators: Mapping[str, Callable[[Any, Mapping[str, Any]], None]] | None = None
        ) -> Answers:
    """Ask every question ``preset`` leaves open, in order, with its help and default.

    Follow-ups are asked only when their condition holds. A typed answer is
    checked by the same validator as an answers file and asked again when
    wrong. ``validators`` (question id → check raising ValueError) add the
    checks that need more than the question itself — a model id against the
    installed catalog — so a typo is caught when typed, not after the last
    question. Ctrl-C (or the end of input) raises :class:`Interrupted`
    carrying the answers so far, so the caller can save them.
    """
    import click

    echo = echo or (lambda text: click.echo(text, err=True))
    prompt = prompt or (lambda text, default: click.prompt(text, default=default, show_default=bool(default),
                                                            err=True, type=str))
    q = load_questions()
    answers = Answers(dict(preset.values), dict(preset.sources), preset.origin) if preset else Answers()
    area = None
    for question in q.questions:
        if question.id in answers.values:
            continue
        if question.when is not None and not question.when.holds(answers.values):
            continue
        if question.area != area:
            area = question.area
            echo("")
            echo(click.style(f"— {q.areas[area]} —", bold=True))
        echo("")
        echo(click.style(question.text, bold=True))
        for line in textwrap.wrap(question.help, 88, break_on_hyphens=False):
            echo(click.style("  " + line, dim=True))
        if question.choices:
            width = max(len(c) for c in question.choices)
            for choice, meaning in question.choices.items():
                echo(f"    {choice.ljust(width)}  {meaning}")
        label = _prompt_label(question)
        while True:
            try:
                text = prompt(label, _default_text(question, answers.values))
            except click.exceptions.Abort as exc:
                eof = not isinstance(exc.__context__, KeyboardInterrupt)
                raise Interrupted(answers, question, eof=eof) from None
            except KeyboardInterrupt:
                raise Interrupted(answers, question) from None
            except EOFError:
                raise Interrupted(answers, question, eof=True) from None
            if not text.strip():
                if question.required:
                    echo("  an answer is needed")
                    continue
                break  # skipped: unknown
            try:
                value = question.check(question.parse_text(text), answers.values)
                if validators and question.id in validators:
                    validators[question.id](value, answers.values)
            except ValueError as exc:
                echo(f"  {exc}")
                continue
            answers.values[question.id] = value
            answers.sources[question.id] = "interactive"
            break
    return answers


def _prompt_label(question: Question) -> str:
    if question.type == "bool":
        return "  yes/no"
    if question.type == "choice":
        return "  choice"
    if question.type == "number":
        lo = "" if question.min is None else _num(question.min)
        hi = "" if question.max is None or isinstance(question.max, str) else _num(question.max)
        rng = f" {lo}–{hi}" if lo and hi else ""
        skip = "" if question.default is not None or question.required else " (empty: skip)"
        return f"  {'whole number' if question.integer else 'number'}{rng}{skip}"
    example = f" (e.g. {question.example})" if question.example else ""
    return f"  text{example}" + ("" if question.required or question.default is not None else ", empty: skip")
