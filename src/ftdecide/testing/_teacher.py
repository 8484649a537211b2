"""A scripted teacher: right on a known fraction of items, the same items every time.

Distillation tests need a teacher whose quality is known exactly, so the
teacher arm's score and the student's training set can be asserted to the
item. :class:`ScriptedTeacher` is given the right answer of every item it
will see, in groups (the training inputs, the eval set); in each group it is
right on exactly ``round(right * len(group))`` items, chosen by the SHA-256
of the item's key (its last user message), so the choice depends on the item
alone: not on call order, concurrency or which run asks. ``script`` overrides
the answer of chosen items (an empty answer, a refusal) to test what the
labelling phase drops.

It is a responder for :class:`~ftdecide.testing.OpenAICompatibleServer`
(``teacher(request_json)``) and for :class:`~ftdecide.testing.FakeProvider`
(``teacher.for_messages(messages, model)``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterable, Mapping, Sequence

from ftdecide.providers import content_text

__all__ = ["ScriptedTeacher", "last_user_text"]


def last_user_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """The content of the last ``user`` message ("" if none): an item's key."""
    for message in reversed(list(messages)):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _rank(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ScriptedTeacher:
    """Right on exactly ``right`` of each group's items; ``wrong(key, answer)`` otherwise."""

    def __init__(self, groups: Sequence[Mapping[str, str]], right: float, *,
                 wrong: Callable[[str, str], str] | None = None,
                 script: Mapping[str, str] | None = None) -> None:
        if not 0 <= right <= 1:
            raise ValueError("right must be between 0 and 1")
        self.answers: dict[str, str] = {}
        self.right_keys: set[str] = set()
        for group in groups:
            self.answers.update(group)
            ranked = sorted(group, key=_rank)
            self.right_keys.update(ranked[:round(right * len(ranked))])
        self.wrong = wrong or (lambda key, answer: f"not {answer}")
        self.script = dict(script or {})
        #: every key asked, in order (a test counts the teacher's calls from it)
        self.asked: list[str] = []

    def answer(self, key: str) -> str:
        """The teacher's answer to the item whose last user message is ``key``."""
        self.asked.append(key)
        if key in self.script:
            return self.script[key]
        if key not in self.answers:
            raise KeyError(f"the scripted teacher has no answer for {key!r}")
        right = self.answers[key]
        return right if key in self.right_keys else self.wrong(key, right)

    def is_right(self, key: str) -> bool:
        return key in self.right_keys and key not in self.script

    def __call__(self, request_json: Mapping[str, Any]) -> str:
        """As an :class:`OpenAICompatibleServer` responder."""
        return self.answer(last_user_text(request_json.get("messages") or []))

    def for_messages(self, messages: Sequence[Mapping[str, Any]], model: str) -> str:
        """As a :class:`FakeProvider` responder."""
        return self.answer(last_user_text(messages))
