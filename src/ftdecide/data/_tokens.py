"""Offline token counting with the encodings shipped inside the package.

tiktoken normally downloads its BPE files on first use; ftdecide must count
tokens on machines with no network and no tiktoken cache, so the two
encodings the OpenAI chat models use are package data, checked against
tiktoken's own sha256 on load. Counting follows the OpenAI cookbook's
data-prep notebook: +3 per message, the tokens of every value, +1 when a
``name`` key is present, +3 per example for the reply priming.

Counting is done in batches: equal strings of a batch are encoded once, and
the usual role values (``system``, ``user``...) are not encoded at all: their
lengths are looked up. When a batch has enough distinct strings they are
split into one contiguous chunk per core and each chunk is encoded on its own
thread (the encoder releases the GIL). tiktoken's own ``encode_ordinary_batch``
submits one task per string to 8 threads, which on short strings and few cores
is dominated by scheduling: measured 9x slower than a plain loop on 2 cores
(bench/tokens.py keeps the comparison honest).

Processes: a forked child starts with no thread pool (see
:func:`_after_fork`); :func:`release_threads` ends the pool's threads before a
fork, and :func:`set_max_threads` lets a worker process encode on its own
thread (``ftdecide.data`` runs one such process per core for big files).
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

from ftdecide.errors import UsageError

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
_max_threads: int | None = None  # None: one per core (at most 8)
_PARALLEL_MIN = 2000  # below this many strings, threads cost more than they save


def _workers() -> int:
    if _max_threads is not None:
        return _max_threads
    return max(1, min(8, os.cpu_count() or 1))


def set_max_threads(n: int | None) -> None:
    """Encode on at most ``n`` threads in this process (None: one per core).

    A worker process that is one of several, one per core, passes 1: more
    threads there would only compete with its sibling processes.
    """
    global _max_threads
    if n is not None and n < 1:
        raise ValueError("n must be at least 1")
    _max_threads = n


def _submit(fn: Callable[..., Any], chunks: list[Sequence[str]], length: Callable[[str], int]
            ) -> list[Any]:
    """Submit one task per chunk to the pool (created on first use).

    Submitting happens under the lock, so :func:`release_threads` never shuts
    down a pool between another thread's look-up and its submit.
    """
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(_workers(), thread_name_prefix="ftdecide-tokens")
        return [_executor.submit(fn, length, chunk) for chunk in chunks]


def release_threads() -> None:
    """End the pool's threads (they are started again on demand).

    Called before forking worker processes: a process that forks while it
    has threads risks a child that inherits a lock some thread held (Python
    3.12+ warns about it). Tasks already submitted still complete.
    """
    global _executor
    with _lock:
        executor, _executor = _executor, None
    if executor is not None:
        executor.shutdown(wait=True)


def _after_fork() -> None:
    """In a forked child: the parent's pool threads do not exist here, and its
    lock may have been held at the fork; start from a fresh lock and no pool."""
    global _executor, _lock
    _lock = threading.Lock()
    _executor = None


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_after_fork)


def _encode_chunk(length: Callable[[str], int], chunk: Sequence[str]) -> list[int]:
    return list(map(length, chunk))


@lru_cache(maxsize=None)
def _length_of(name: str) -> Callable[[str], int]:
    """A function giving the token count of a string encoded as ordinary text.

    ``encode_ordinary`` builds a Python list of ints only to have its length
    taken. tiktoken's core can instead return the ids as one buffer (what
    ``Encoding.encode_to_numpy`` uses), measured ~25% faster for counting.
    With no special token allowed the core encodes special-token strings as
    text, exactly as ``encode_ordinary`` does. That entry point is not
    tiktoken's public API, so it is used only when present and when it agrees
    with ``encode_ordinary`` on a probe that holds special-token text;
    otherwise ``encode_ordinary`` it is.
    """
    enc = get_encoding(name)
    ordinary = enc.encode_ordinary

    def by_list(text: str) -> int:
        return len(ordinary(text))

    to_buffer = getattr(getattr(enc, "_core_bpe", None), "encode_to_tiktoken_buffer", None)
    if to_buffer is None:  # pragma: no cover - older or newer tiktoken
        return by_list
    none_allowed: set[str] = set()

    def by_buffer(text: str) -> int:
        try:
            return memoryview(to_buffer(text, none_allowed)).nbytes >> 2  # uint32 ids
        except UnicodeEncodeError:  # a lone surrogate: encode_ordinary replaces it
            return by_list(text)

    probe = "Hi <|endoftext|> there<|fim_prefix|>, caf\u00e9 \u4e2d\u6587 12345\n\n  x <|im_start|>"
    try:
        agrees = by_buffer(probe) == by_list(probe) and by_buffer("") == 0
    except Exception:  # pragma: no cover - an incompatible signature
        agrees = False
    return by_buffer if agrees else by_list


def submit_lengths(texts: Sequence[str], encoding: str = DEFAULT_ENCODING
                   ) -> Callable[[], list[int]]:
    """Start counting the tokens of each string; call the result to get the counts.

    Equal strings are encoded once (a training set repeats its system
    prompt, the roles and often its answers in every example). When there
    are enough distinct strings, they are split into one contiguous chunk
    per core, each encoded on a pool thread (the encoder releases the GIL).
    """
    length = _length_of(encoding)
    unique = list(dict.fromkeys(texts))
    n = len(unique)
    workers = _workers()
    if n < _PARALLEL_MIN or workers == 1:
        known = dict(zip(unique, _encode_chunk(length, unique)))
        return lambda: list(map(known.__getitem__, texts))
    size = -(-n // workers)
    futures = _submit(_encode_chunk, [unique[i:i + size] for i in range(0, n, size)], length)

    def result() -> list[int]:
        known = dict(zip(unique, (n for f in futures for n in f.result())))
        return list(map(known.__getitem__, texts))

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


@lru_cache(maxsize=None)
def _role_lengths(name: str) -> dict[str, int]:
    """Token counts of the role values the chat format allows (read-only)."""
    length = _length_of(name)
    return {role: length(role) for role in ("system", "user", "assistant", "function", "tool")}


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
    add = texts.append
    spans: list[tuple[int, int, int]] = []  # per example: its texts[a:b], its fixed tokens
    assistant_at: list[tuple[int, int]] = []  # (example, index in texts) of assistant content
    roles = _role_lengths(encoding)
    for example, messages in enumerate(examples):
        start = len(texts)
        overhead = TOKENS_PER_REPLY
        for message in messages:
            overhead += TOKENS_PER_MESSAGE
            role = message.get("role")
            content = message.get("content")
            if len(message) == 2 and type(role) is str and type(content) is str:
                # the common shape, {"role", "content"}: no per-key loop, and
                # a usual role's length is known without encoding it
                known = roles.get(role)
                if known is None:
                    add(role)
                else:
                    overhead += known
                if role == "assistant":
                    assistant_at.append((example, len(texts)))
                add(content)
                continue
            is_assistant = role == "assistant"
            for key, value in message.items():
                if key == "weight":
                    continue
                if not isinstance(value, str):
                    value = "" if value is None else _as_text(value)
                elif key == "content" and is_assistant:
                    assistant_at.append((example, len(texts)))
                add(value)
                if key == "name":
                    overhead += TOKENS_PER_NAME
        spans.append((start, len(texts), overhead))
    pending = submit_lengths(texts, encoding)

    def result() -> tuple[list[int], list[int]]:
        lengths = pending()
        totals = [overhead + sum(lengths[a:b]) for a, b, overhead in spans]
        assistant = [0] * len(spans)
        for example, i in assistant_at:
            assistant[example] += lengths[i]
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
