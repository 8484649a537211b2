"""Offline token counting with the encodings shipped inside the package.

tiktoken normally downloads its BPE files on first use; ftdecide must count
tokens on machines with no network and no tiktoken cache, so the two
encodings the OpenAI chat models use are package data, checked against
tiktoken's own sha256 on load. Counting follows the OpenAI cookbook's
data-prep notebook: +3 per message, the tokens of every value, +1 when a
``name`` key is present, +3 per example for the reply priming.

Counting is done in batches: equal strings of a batch are encoded once, the
distinct ones are split into one contiguous chunk per core and each chunk is
encoded on its own thread (the encoder releases the GIL) while the caller
goes on parsing the next batch. tiktoken's own ``encode_ordinary_batch`` submits
one task per string to 8 threads, which on short strings and few cores is
dominated by scheduling: measured 9x slower than a plain loop on 2 cores
(bench/tokens.py keeps the comparison honest).
"""

from __future__ import annotations

import binascii
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

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
_executor: ThreadPoolExecutor | None = None
_PARALLEL_MIN = 2000  # below this many strings, threads cost more than they save


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_workers(), thread_name_prefix="ftdecide-tokens")
        return _executor


def _encode_chunk(encode: Callable[[str], list[int]], chunk: Sequence[str]) -> list[int]:
    return [len(encode(t)) for t in chunk]


def submit_lengths(texts: Sequence[str], encoding: str = DEFAULT_ENCODING
                   ) -> Callable[[], list[int]]:
    """Start counting the tokens of each string; call the result to get the counts.

    Equal strings are encoded once (a training set repeats its system
    prompt, the roles and often its answers in every example). The distinct
    strings are split into one contiguous chunk per core, each encoded on a
    pool thread, so the caller can go on parsing while they run.
    """
    enc = get_encoding(encoding)
    encode = enc.encode_ordinary
    index: dict[str, int] = {}
    positions = [index.setdefault(t, len(index)) for t in texts]
    unique = list(index)
    n = len(unique)
    workers = _workers()
    if n < _PARALLEL_MIN or workers == 1:
        lengths = _encode_chunk(encode, unique)
        return lambda: [lengths[i] for i in positions]
    size = -(-n // workers)
    futures = [_pool().submit(_encode_chunk, encode, unique[i:i + size])
               for i in range(0, n, size)]

    def result() -> list[int]:
        lengths = [length for f in futures for length in f.result()]
        return [lengths[i] for i in positions]

    return result


def encoded_lengths(texts: Sequence[str], encoding: str = DEFAULT_ENCODING) -> list[int]:
    """Token count of each string, encoded as ordinary text (special-token
    strings in user data count as text, never raise)."""
    return submit_lengths(texts, encoding)()


def _load_ranks(name: str) -> dict[bytes, int]:
    data = resources.files("ftdecide").joinpath(f"encodings/{name}.tiktoken").read_bytes()
    if hashlib.sha256(data).hexdigest() != ENCODING_SHA256[name]:
        raise UsageError(
            f"the bundled encoding file {name}.tiktoken is corrupt (sha256 mismatch)",
            hint="reinstall ftdecide: pip install --force-reinstall ftdecide",
        )
    decode = binascii.a2b_base64  # base64.b64decode's per-call checks cost ~1 s here
    return {decode(token): int(rank)
            for token, rank in (line.split() for line in data.splitlines() if line)}


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


def _as_text(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def count_messages(messages: Sequence[Mapping[str, Any]], encoding: str = DEFAULT_ENCODING) -> int:
    """Tokens of one example, as the cookbook counts them."""
    return count_examples([messages], encoding)[0]


def submit_examples(
    examples: Sequence[Sequence[Mapping[str, Any]]], encoding: str = DEFAULT_ENCODING
) -> Callable[[], tuple[list[int], list[int]]]:
    """Start counting a batch of examples; the result gives, per example,
    (total tokens as the cookbook counts them, tokens of assistant content).

    One encoder pass serves both figures: the assistant contents are among
    the strings of the example.
    """
    texts: list[str] = []
    spans: list[tuple[int, int, int]] = []
    assistant_at: list[list[int]] = []
    for messages in examples:
        start = len(texts)
        overhead = TOKENS_PER_REPLY
        mine: list[int] = []
        for message in messages:
            overhead += TOKENS_PER_MESSAGE
            role = message.get("role")
            content = message.get("content")
            if len(message) == 2 and type(role) is str and type(content) is str:
                # the common shape, {"role", "content"}: no per-key loop
                if role == "assistant":
                    mine.append(len(texts) + 1)
                texts.append(role)
                texts.append(content)
                continue
            is_assistant = role == "assistant"
            for key, value in message.items():
                if key == "weight":
                    continue
                if not isinstance(value, str):
                    value = "" if value is None else _as_text(value)
                elif key == "content" and is_assistant:
                    mine.append(len(texts))
                texts.append(value)
                if key == "name":
                    overhead += TOKENS_PER_NAME
        spans.append((start, len(texts), overhead))
        assistant_at.append(mine)
    pending = submit_lengths(texts, encoding)

    def result() -> tuple[list[int], list[int]]:
        lengths = pending()
        totals = [overhead + sum(lengths[a:b]) for a, b, overhead in spans]
        assistant = [sum(lengths[i] for i in mine) for mine in assistant_at]
        return totals, assistant

    return result


def count_examples(
    examples: Sequence[Sequence[Mapping[str, Any]]], encoding: str = DEFAULT_ENCODING
) -> list[int]:
    """Tokens of each example, as the cookbook counts them."""
    return submit_examples(examples, encoding)()[0]


def count_assistant(
    examples: Sequence[Sequence[Mapping[str, Any]]], encoding: str = DEFAULT_ENCODING
) -> list[int]:
    """Tokens of the assistant messages' content per example (cookbook: content only)."""
    return submit_examples(examples, encoding)()[1]


def count_texts(texts: Sequence[str], encoding: str = DEFAULT_ENCODING) -> list[int]:
    """Tokens of each plain string (no message overhead)."""
    return encoded_lengths(list(texts), encoding)


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
