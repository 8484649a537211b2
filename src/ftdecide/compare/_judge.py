"""The ``judge`` metric's contract: its config, the grader's prompts, and reading its replies.

Where there is no single right answer (a support reply, a rewrite, a
summary) a grader model scores each answer against a rubric and the
reference answer. This module holds what does not call anything:

- :func:`check_config`: the ``judge: {model, rubric, scale, pairwise,
  max_tokens}`` mapping, checked once with the config (so a typo is an
  error naming the key, before any call);
- :func:`pointwise_messages` / :func:`pairwise_messages`: the grader's
  prompts, fixed text around the rubric, the eval input, the reference and
  the answer(s); they are part of each call's cache key, so a changed
  rubric is a new judgment and never a stale one;
- :func:`parse_judgment` / :func:`parse_preference`: the reply read as a
  JSON object ``{"score": ..., "reason": ...}`` (``{"winner": ...}`` for
  pairs); a bare number or PASS/FAIL (A/B/tie) is accepted too. Anything
  else is an *unparseable judgment*: counted, shown, and left out of the
  score rather than guessed at.

Scores map to ``[0, 1]`` so the intervals and paired tests apply unchanged:
``(s - 1) / 4`` on the 1–5 scale, 1/0 for pass/fail.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

SCALES = ("5", "pass-fail")
JUDGE_KEYS = ("model", "rubric", "scale", "pairwise", "max_tokens")
DEFAULT_RUBRIC = ("The answer does what the input asks as well as the reference answer does: "
                  "it is correct, complete, and in the same tone, style and format.")
DEFAULT_MAX_TOKENS = 200
_SCALE_ALIASES = {"5": "5", "1-5": "5", "1–5": "5", "five": "5",
                  "pass-fail": "pass-fail", "pass/fail": "pass-fail", "pass_fail": "pass-fail",
                  "passfail": "pass-fail", "binary": "pass-fail"}

#: The config lines a verdict or report points to when a run has no judge.
EXAMPLE_CONFIG = ("metric: judge\njudge: {model: openai/gpt-4.1-mini, scale: 5, "
                  "rubric: \"...\"}\nhuman_labels: labels.csv  # id,label from a person")


@dataclass(frozen=True)
class JudgeSpec:
    """A checked ``judge:`` mapping."""

    model: str
    rubric: str = DEFAULT_RUBRIC
    scale: str = "5"
    pairwise: bool = False
    max_tokens: int = DEFAULT_MAX_TOKENS

    @classmethod
    def from_config(cls, value: Mapping[str, Any]) -> "JudgeSpec":
        return cls(model=str(value["model"]), rubric=str(value.get("rubric") or DEFAULT_RUBRIC),
                   scale=str(value.get("scale", "5")), pairwise=bool(value.get("pairwise")),
                   max_tokens=int(value.get("max_tokens") or DEFAULT_MAX_TOKENS))

    @property
    def binary(self) -> bool:
        return self.scale == "pass-fail"

    def describe(self) -> str:
        how = "PASS/FAIL as 1/0" if self.binary else "1–5 mapped to [0, 1] as (s − 1) / 4"
        return f"LLM judge {self.model}: the rubric, {how}"


Error = Callable[[str, str, "str | None"], Exception]


def check_config(value: Any, error: Error) -> dict[str, Any]:
    """The ``judge:`` mapping, normalised (``scale`` "5" or "pass-fail"); ``error(key, message,
    hint)`` builds the exception that names the config key (and its line)."""
    if not isinstance(value, Mapping):
        raise error("judge", f"expected a mapping, got {value!r}",
                    "e.g. judge: {model: openai/gpt-4.1-mini, scale: 5, rubric: \"...\"}")
    out: dict[str, Any] = {}
    for raw_key, v in value.items():
        key = str(raw_key).replace("-", "_")
        if key not in JUDGE_KEYS:
            raise error(f"judge.{raw_key}", "unknown judge key", f"known: {', '.join(JUDGE_KEYS)}")
        out[key] = v
    model = out.get("model")
    if not isinstance(model, str) or not model.strip():
        raise error("judge.model", "the judge needs a model (provider/model)",
                    "e.g. judge: {model: openai/gpt-4.1-mini}")
    scale = _SCALE_ALIASES.get(str(out.get("scale", 5)).strip().lower())
    if scale is None or isinstance(out.get("scale"), bool):
        raise error("judge.scale", f"{out.get('scale')!r} is not a scale",
                    "scale: 5 (a score from 1 to 5) or scale: pass-fail")
    rubric = out.get("rubric")
    if rubric is not None and (not isinstance(rubric, str) or not rubric.strip()):
        raise error("judge.rubric", "expected the rubric as text",
                    "say what a good answer does, e.g. rubric: \"friendly, names the fix\"")
    pairwise = out.get("pairwise", False)
    if not isinstance(pairwise, bool):
        raise error("judge.pairwise", f"expected true or false, got {pairwise!r}", None)
    max_tokens = out.get("max_tokens", DEFAULT_MAX_TOKENS)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise error("judge.max_tokens", f"expected a whole number from 1, got {max_tokens!r}", None)
    return {"model": model.strip(), "rubric": (rubric or DEFAULT_RUBRIC).strip(), "scale": scale,
            "pairwise": pairwise, "max_tokens": max_tokens}


# -- prompts --------------------------------------------------------------------------------

def _scale_text(spec: JudgeSpec) -> tuple[str, str]:
    if spec.binary:
        return ("Give PASS if the answer meets the rubric and FAIL if it does not.",
                '{"score": "PASS" or "FAIL", "reason": "<one sentence>"}')
    return ("Score it from 1 (does not meet the rubric at all) to 5 (fully meets it).",
            '{"score": <1, 2, 3, 4 or 5>, "reason": "<one sentence>"}')


def pointwise_messages(spec: JudgeSpec, item_input: str, expected: str,
                       answer: str) -> list[dict[str, str]]:
    """The grader's prompt for one answer."""
    how, shape = _scale_text(spec)
    system = (f"You grade one answer to a task.\nRubric: {spec.rubric}\n"
              "The reference answer is one a person judged right; the answer may differ from it "
              f"in wording and still be good. {how}\nReply with only a JSON object: {shape}")
    user = (f"## Input\n{item_input}\n\n## Reference answer\n{expected}\n\n"
            f"## Answer to grade\n{answer}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def pairwise_messages(spec: JudgeSpec, item_input: str, expected: str, first: str,
                      second: str) -> list[dict[str, str]]:
    """The grader's prompt for two answers, A and B (each pair is asked in both orders)."""
    system = (f"You compare two answers to a task.\nRubric: {spec.rubric}\n"
              "The reference answer is one a person judged right. Say which answer meets the "
              "rubric better, or tie when neither does.\nReply with only a JSON object: "
              '{"winner": "A" or "B" or "tie", "reason": "<one sentence>"}')
    user = (f"## Input\n{item_input}\n\n## Reference answer\n{expected}\n\n"
            f"## Answer A\n{first}\n\n## Answer B\n{second}")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# -- replies --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Judgment:
    """One grader reply read: ``score`` on the scale (1–5, or 1 pass / 0 fail), ``value`` in
    ``[0, 1]``; both None and ``parsed`` False for an unparseable reply."""

    score: int | None
    value: float | None
    reason: str | None
    raw: str
    parsed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "value": self.value, "reason": self.reason, "raw": self.raw,
                "parsed": self.parsed}


_BARE_NUMBER = re.compile(r"^\s*(?:score\s*[:=]?\s*)?\**([1-5](?:\.0+)?)\**\s*(?:/\s*5)?\s*\.?\s*$",
                          re.I)
_BARE_PASS = re.compile(r"^\s*\**(pass|fail|passed|failed)\**\s*\.?\s*$", re.I)
_BARE_WINNER = re.compile(r"^\s*(?:answer\s+)?\**(a|b|tie)\**\s*\.?\s*$", re.I)


def _on_scale(raw: Any, scale: str) -> int | None:
    if isinstance(raw, bool):
        return None
    if scale == "pass-fail":
        if isinstance(raw, str):
            word = raw.strip().lower()
            return {"pass": 1, "passed": 1, "fail": 0, "failed": 0, "1": 1, "0": 0}.get(word)
        return int(raw) if isinstance(raw, (int, float)) and raw in (0, 1) else None
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    if isinstance(raw, (int, float)) and float(raw).is_integer() and 1 <= raw <= 5:
        return int(raw)
    return None


def _value(score: int, scale: str) -> float:
    return float(score) if scale == "pass-fail" else (score - 1) / 4


def parse_judgment(text: str | None, scale: str) -> Judgment:
    """A grader reply as a :class:`Judgment` (``scale``: "5" or "pass-fail")."""
    from ftdecide.compare._metrics import extract_json_object

    raw = text or ""
    obj = extract_json_object(raw)
    if obj is not None and "score" in obj:
        score = _on_scale(obj.get("score"), scale)
        reason = obj.get("reason")
        if score is not None:
            return Judgment(score, _value(score, scale),
                            None if reason is None else str(reason), raw, True)
        return Judgment(None, None, None, raw, False)
    bare = _BARE_PASS.match(raw) if scale == "pass-fail" else _BARE_NUMBER.match(raw)
    if bare is None and scale == "pass-fail":
        bare = re.match(r"^\s*([01])\s*\.?\s*$", raw)
    if bare is not None:
        score = _on_scale(bare.group(1), scale)
        if score is not None:
            return Judgment(score, _value(score, scale), None, raw, True)
    return Judgment(None, None, None, raw, False)


def parse_preference(text: str | None) -> tuple[str | None, str | None]:
    """``("A" | "B" | "tie", reason)`` from a pairwise reply; ``(None, None)`` when unparseable."""
    from ftdecide.compare._metrics import extract_json_object

    raw = text or ""
    obj = extract_json_object(raw)
    if obj is not None and "winner" in obj:
        winner = str(obj.get("winner") or "").strip().lower().removeprefix("answer").strip()
        reason = obj.get("reason")
        if winner in ("a", "b", "tie"):
            return (winner.upper() if winner != "tie" else "tie",
                    None if reason is None else str(reason))
        return None, None
    bare = _BARE_WINNER.match(raw)
    if bare is not None:
        w = bare.group(1).lower()
        return (w.upper() if w != "tie" else "tie"), None
    return None, None


def pair_outcome(first_order: str | None, second_order: str | None) -> str | None:
    """The arm's outcome against the baseline from both orders: ``ab`` shows the arm as A,
    ``ba`` as B. ``win``/``loss`` only when both orders agree; a disagreement (position
    bias) or a tie in either is a ``tie``; None when a reply was unparseable."""
    if first_order is None or second_order is None:
        return None
    arm_first = {"A": "win", "B": "loss", "tie": "tie"}[first_order]
    arm_second = {"B": "win", "A": "loss", "tie": "tie"}[second_order]
    return arm_first if arm_first == arm_second else "tie"


def dumps(messages: list[dict[str, str]]) -> str:
    """A prompt as stored text (for ``items.csv`` and search); the results keep the messages."""
    return json.dumps(messages, ensure_ascii=False)
