"""Offline token counting with the encodings shipped inside the package.

tiktoken normally downloads its BPE files on first use; ftdecide must count
tokens on machines with no network and no tiktoken cache, so the two
encodings the OpenAI chat models use are package data, checked against
tiktoken's own sha256 on load. Counting follows the OpenAI cookbook's
data-prep notebook: +3 per message, the tokens of every value, +1 when a
``name`` key is present, +3 per example for the reply priming.

Counting a file is done in batches with ``encode_ordinary_batch`` (tiktoken
runs it on native threads), so a large file is counted several times faster
than the cookbook's one-string-at-a-time loop while memory stays flat.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import tiktoken

ENCODING_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
DEFAULT_ENCODING = "o200k_base"

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_REPLY = 3

_lock = threading.Lock()


def _load_ranks(name: str) -> dict[bytes, int]:
    data = resources.files("ftdecide").joinpath(f"encodings/{name}.tiktoken").read_bytes()
    if hashlib.sha256(data).hexdigest() != ENCODING_SHA256[name]:
        raise UsageError(
            f"the bundled encoding file {name}.tiktoken is corrupt (sha256 mismatch)",
            hint="reinstall ftdecide: pip install --force-reinstall ftdecide",
        )
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@lru_cache(maxsize=None)
def get_encoding(name: str = DEFAULT_ENCODING) -> "tiktoken.Encoding":
    """The named encoding, built from package data (never from the network)."""
    if name not in ENCODING_SHA256:
        raise UsageError(
            f"unknown encoding {name!r}",
            hint="known encodings: " + ", ".join(sorted(ENCODING_SHA256)),
        )
    import tiktoken
    import tiktoken_ext.openai_public as public

    ranks = _load_ranks(name)
    # Take pattern and special tokens from tiktoken itself (one source of
    # truth) while handing it our local ranks instead of a download.
    with _lock:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = lambda *a, **k: ranks  # type: ignore[assignment]
        try:
            spec = getattr(public, name)()
        finally:
            public.load_tiktoken_bpe = original  # type: ignore[assignment]
    return tiktoken.Encoding(
        name=spec["name"],
        pat_str=spec["pat_str"],
        mergeable_ranks=spec["mergeable_ranks"],
        special_tokens=spec["special_tokens"],
    )


def _flatten(messages: Sequence[Mapping[str, Any]]) -> tuple[list[str], int]:
    """Strings to encode for one example, and the fixed overhead in tokens."""
    texts: list[str] = []
    overhead = TOKENS_PER_REPLY
    for message in messages:
        overhead += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "weight":
                continue
            if not isinstance(value, str):
                value = "" if value is None else _as_text(value)
            texts.append(value)
            if key == "name":
                overhead += TOKENS_PER_NAME
    return texts, overhead


def _as_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def count_messages(messages: Sequence[Mapping[str, Any]], encoding: str = DEFAULT_ENCODING) -> int:
    """Tokens of one example, as the cookbook counts them."""
    return count_examples([messages], encoding)[0]


def count_examples(
    examples: Sequence[Sequence[Mapping[str, Any]]], encoding: str = DEFAULT_ENCODING
) -> list[int]:
    """Tokens of each example in one batched encoder call."""
    enc = get_encoding(encoding)
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    for messages in examples:
        flat, overhead = _flatten(messages)
        spans.append((len(texts), len(texts) + len(flat), overhead))
        texts.extend(flat)
    lengths = [len(ids) for ids in enc.encode_ordinary_batch(texts)] if texts else []
    return [overhead + sum(lengths[a:b]) for a, b, overhead in spans]


def count_texts(texts: Sequence[str], encoding: str = DEFAULT_ENCODING) -> list[int]:
    """Tokens of each plain string (no message overhead)."""
    if not texts:
        return []
    enc = get_encoding(encoding)
    return [len(ids) for ids in enc.encode_ordinary_batch(list(texts))]


def count_assistant(
    examples: Sequence[Sequence[Mapping[str, Any]]], encoding: str = DEFAULT_ENCODING
) -> list[int]:
    """Tokens of the assistant messages' content per example (cookbook: content only)."""
    texts: list[str] = []
    spans: list[tuple[int, int]] = []
    for messages in examples:
        start = len(texts)
        for m in messages:
            if m.get("role") == "assistant" and isinstance(m.get("content"), str):
                texts.append(m["content"])
        spans.append((start, len(texts)))
    lengths = count_texts(texts, encoding)
    return [sum(lengths[a:b]) for a, b in spans]


def batched(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Yield lists of at most ``size`` items (streaming helper)."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
