"""Prompt builders: how each way of using a model turns an example into messages.

One module builds every prompt so that what is priced (``estimate``) is what
is sent (``compare``) and what the report shows. An example is a chat
conversation whose last assistant message is the expected answer; its
*prompt* is everything before that message.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

Messages = list[dict[str, Any]]


def split_example(messages: Sequence[Mapping[str, Any]]) -> tuple[Messages, str | None]:
    """(prompt messages, expected answer): the answer is the last assistant message."""
    msgs = [dict(m) for m in messages]
    for i in range(len(msgs) - 1, -1, -1):
        if msgs[i].get("role") == "assistant":
            content = msgs[i].get("content")
            return msgs[:i], content if isinstance(content, str) else None
    return msgs, None


def turns(messages: Sequence[Mapping[str, Any]]) -> Messages:
    """The non-system messages of an example (what a shot contributes)."""
    return [{"role": m["role"], "content": m.get("content", "")}
            for m in messages if m.get("role") != "system"]


def zero_shot(prompt: Sequence[Mapping[str, Any]]) -> Messages:
    """The example's own prompt (system + input): also what a fine-tune sees."""
    return [dict(m) for m in prompt]


def few_shot(prompt: Sequence[Mapping[str, Any]],
             shots: Sequence[Sequence[Mapping[str, Any]]]) -> Messages:
    """System message(s) of ``prompt``, then each shot's turns, then the rest of ``prompt``."""
    prompt = [dict(m) for m in prompt]
    head = [m for m in prompt if m.get("role") == "system"]
    tail = [m for m in prompt if m.get("role") != "system"]
    out: Messages = list(head)
    for shot in shots:
        out.extend(turns(shot))
    out.extend(tail)
    return out


def with_context(prompt: Sequence[Mapping[str, Any]], passages: Sequence[str]) -> Messages:
    """RAG: the retrieved passages, numbered, before the input in the last user message.

    The system message stays first and unchanged (so the model's instructions
    read the same in every arm); the passages go into the user turn because
    small chat models attend to it far more than to a long system message.
    """
    out = [dict(m) for m in prompt]
    if not passages:
        return out
    context = "\n\n".join(f"[{i}] {text.strip()}" for i, text in enumerate(passages, 1))
    for m in reversed(out):
        if m.get("role") == "user":
            content = m.get("content", "")
            m["content"] = f"Context:\n{context}\n\n---\n\n{content}"
            return out
    out.append({"role": "user", "content": f"Context:\n{context}"})
    return out
