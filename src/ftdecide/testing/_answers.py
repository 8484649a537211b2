"""A responder that knows an eval set's answers: a compare run on the local server with
figures that differ by arm, fast and offline (the notebook and the API's tests use it).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

from ftdecide.providers import content_text

__all__ = ["answer_key"]


def _default_right(request: Mapping[str, Any], index: int) -> bool:
    users = [m for m in request.get("messages") or [] if m.get("role") == "user"]
    if str(request.get("model", "")).startswith("ft:"):
        return True  # a fine-tuned model: always right
    if len(users) > 1:
        return index % 4 != 3  # a few-shot prompt: three items in four
    return index % 2 == 0  # zero-shot and RAG: every other item


def answer_key(eval_path: "str | os.PathLike[str]", *,
               right: Callable[[Mapping[str, Any], int], bool] | None = None,
               wrong: str = "not sure") -> Callable[[Mapping[str, Any]], str]:
    """A ``responder`` for :class:`OpenAICompatibleServer` answering from ``eval_path``.

    The item is the eval example whose last user message appears in the
    request's last user message (so zero-shot, few-shot and RAG prompts all
    find it); the reply is its expected answer when ``right(request, index)``
    holds, else ``wrong``. The default rule: ``ft:`` models are always right,
    few-shot prompts on three items in four, other prompts on every other item.
    """
    items: list[tuple[str, str]] = []
    with open(os.fspath(eval_path), encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            messages = json.loads(line)["messages"]
            user = next(content_text(m["content"]) for m in reversed(messages)
                        if m["role"] == "user")
            items.append((user, content_text(messages[-1]["content"])))
    rule = right or _default_right

    def respond(request: Mapping[str, Any]) -> str:
        users = [content_text(m.get("content")) for m in request.get("messages") or []
                 if m.get("role") == "user"]
        last = users[-1] if users else ""
        for index, (user, expected) in enumerate(items):
            if user and user in last:
                return expected if rule(request, index) else wrong
        return wrong

    return respond
