"""The texts an audit compares: normalised prompts, and answers read as a metric reads them.

Two prompts are "the same" when they are equal after :func:`normalize_prompt`
(Unicode NFKC, casefold, whitespace collapsed and stripped), message by
message and role by role, system message included: that is what a model sees,
so an eval item whose prompt a fine-tune was trained on measures memory, not
skill.

Answers are compared the way ``compare``'s built-in metrics compare them, so
that a label count, a conflict and a majority-rate baseline mean what the
comparison's score means. The metrics live in ``ftdecide.compare._metrics``,
a layer above this one, which this package may not import; the few rules the
audit needs are restated here (``exact``'s normalisation, ``accuracy``'s
first line, ``json-fields``' flattening into (dotted key, normalised value)
pairs), and ``tests/test_audit.py`` checks them against the metrics
themselves, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Hashable, Mapping, Sequence

from ftdecide.data._prompts import split_example
from ftdecide.providers import content_text

__all__ = [
    "answer_key",
    "flatten_json",
    "label_key",
    "normalize_prompt",
    "parse_json_object",
    "prompt_key",
    "prompt_text",
]

#: Opening quote → closing quote pairs ``exact`` strips around a whole answer.
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019",
           "\u00ab": "\u00bb", "\u201e": "\u201c", "\u201a": "\u2018"}
_FENCE_LINE = re.compile(r"^\s*(```|~~~)")
_BULLET = re.compile(r"^(?:[-*+>]|\d+[.)])\s+")
_EMPHASIS = re.compile(r"^([*_])(.+)\1$")
_FENCED_BLOCK = re.compile(r"```[^\n`]*\n(.*?)```", re.S)


def normalize_prompt(text: str) -> str:
    """NFKC, casefold, whitespace collapsed to one space and stripped; idempotent.

    Casefolding an NFKC string can leave a string that NFKC changes again (and
    NFKC can turn a character into a space), so the steps repeat until nothing
    changes: ``normalize_prompt(normalize_prompt(s)) == normalize_prompt(s)``
    for every string (a property test checks it).
    """
    for _ in range(8):
        out = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
        if out == text:
            break
        text = out
    return text


def prompt_key(prompt: Sequence[Mapping[str, Any]]) -> str:
    """One string per prompt that equals another's exactly when the prompts leak.

    Each message as ``role`` and normalised text, joined with separators that
    normalised text cannot hold (control characters other than whitespace
    survive NFKC, so a message's text cannot fake a role boundary).
    """
    return "\x1e".join(f"{m.get('role', '')}\x1f{normalize_prompt(content_text(m.get('content')))}"
                       for m in prompt)


def prompt_text(prompt: Sequence[Mapping[str, Any]]) -> str:
    """The prompt as one normalised text (messages joined by a space): what is vectorised."""
    return normalize_prompt(" ".join(content_text(m.get("content")) for m in prompt))


def split(messages: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """(prompt messages, answer text): the answer is the last assistant message ("" if none)."""
    prompt, answer = split_example(messages)
    if answer is None:
        for m in reversed(list(messages)):
            if m.get("role") == "assistant":
                return prompt, content_text(m.get("content"))
        return prompt, ""
    return prompt, answer


# -- answers, as the metrics read them ----------------------------------------------------

def exact_text(text: str) -> str:
    """``exact``'s normalisation (``compare._metrics.normalize_text``): NFKC, casefold,
    whitespace collapsed, one pair of surrounding quotes and one trailing period dropped."""
    s = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    period_removed = False
    while True:
        before = s
        if not period_removed and s.endswith("."):
            s, period_removed = s[:-1].rstrip(), True
        if len(s) >= 2 and _QUOTES.get(s[0]) == s[-1]:
            s = s[1:-1].strip()
        if s == before:
            return s


def first_line(text: str) -> str:
    """The first non-empty line outside code-fence markers, without a list bullet or
    emphasis (as written: not normalised). ``accuracy`` reads its label from it, here and in
    compare's metric, so the audit's baselines and the metric cannot drift apart."""
    for raw in text.splitlines():
        if _FENCE_LINE.match(raw):
            continue
        line = raw.strip()
        if not line:
            continue
        line = _BULLET.sub("", line, count=1).replace("**", "").replace("__", "").strip()
        m = _EMPHASIS.match(line)
        if m:
            line = m.group(2).strip()
        return line
    return ""


def first_line_label(text: str) -> str:
    """The label ``accuracy`` reads from an *expected* answer: :func:`first_line`,
    normalised as ``exact``."""
    return exact_text(first_line(text))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object an expected answer is: the whole text, or a fenced code block's body.

    ``json-fields`` also digs an object out of prose; a *training* answer that
    needs that is not clean JSON, and the audit then treats answers as text.
    """
    candidates = [text.strip()] + [m.group(1).strip() for m in _FENCED_BLOCK.finditer(text)]
    for candidate in candidates:
        if not candidate.startswith("{"):
            continue
        try:
            value = json.loads(candidate, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict):
            return value
    return None


def _norm_value(value: Any) -> Hashable:
    """``json-fields``' normalised JSON value: strings as ``exact`` compares them, ``1``
    equal to ``1.0``, ``true`` never equal to ``1``, lists whole and in order."""
    if isinstance(value, str):
        return ("s", exact_text(value))
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if value is None:
        return ("null",)
    if isinstance(value, list):
        return ("l", tuple(_norm_value(v) for v in value))
    if isinstance(value, dict):
        return ("o", tuple(sorted(flatten_json(value).items(), key=repr)))
    return ("?", repr(value))


def flatten_json(obj: Mapping[str, Any]) -> dict[str, Hashable]:
    """``json-fields``' (dotted key → normalised value) of an object; nested objects
    flattened, a nested empty object a value of its own."""
    pairs: dict[str, Hashable] = {}
    stack: list[tuple[str, Mapping[str, Any]]] = [("", obj)]
    while stack:
        prefix, current = stack.pop()
        for key, value in current.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                stack.append((dotted, value))
            elif isinstance(value, dict):
                pairs[dotted] = ("o", ())
            else:
                pairs[dotted] = _norm_value(value)
    return pairs


def display_value(value: Hashable) -> str:
    """A normalised JSON value as a person reads it (``billing``, ``3``, ``true``)."""
    if isinstance(value, tuple) and value:
        tag = value[0]
        if tag == "s":
            return str(value[1])
        if tag == "b":
            return "true" if value[1] else "false"
        if tag == "n":
            return json.dumps(value[1])
        if tag == "null":
            return "null"
    return repr(value)


def answer_key(text: str) -> Hashable:
    """What makes two answers "the same" for a conflict: JSON objects by their fields
    (key order and spacing ignored), any other text by ``exact``'s normalisation."""
    obj = parse_json_object(text)
    if obj is not None:
        return ("json", tuple(sorted(flatten_json(obj).items(), key=repr)))
    return ("text", exact_text(text))


def label_key(text: str, metric: str) -> str:
    """A plain answer's label under ``metric`` (``accuracy``: first line; else ``exact``)."""
    return first_line_label(text) if metric == "accuracy" else exact_text(text)
