"""``bench-serve``: measure a self-hosted model's prefill and decode tokens/s where it runs.

Method (the same for the hf provider in process and for an OpenAI-compatible
server through the openai plugin, so no streaming is needed): send every
prompt twice, ``concurrency`` at a time, first with ``max_tokens=1`` (the
time is the prompt's prefill plus one token) and then with ``max_tokens=N``
(prefill plus N tokens of decode). From the reported usage and the wall time
of each pass::

    prefill tokens/s = prompt tokens of pass 1 / wall time of pass 1
    decode tokens/s  = (answer tokens of pass 2 − of pass 1) / (wall 2 − wall 1)

These are an instance's aggregate rates at that concurrency, which is what
cost per request needs (an instance serves many requests at once). Pass 1's
time includes request overhead and its one decoded token, so prefill comes
out a little low (cost a little high): the conservative side. Time-to-first-
token from a streaming response would split the two within one request, but
not every server streams usage and the hf provider does not stream; the
two-pass split needs neither. A warm-up call (model load, compilation) is
sent first and not counted. The hf provider in process serves one request
at a time (its model lock), so there the figure is single-stream whatever
``--concurrency`` says: the conservative side again; a batching server
(vLLM, TGI) measured at the concurrency it will see gives the real rate.
"""

from __future__ import annotations

import datetime as _dt
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from ftdecide.errors import UsageError
from ftdecide.providers import ModelInfo

METHOD = ("two passes over the prompts (max_tokens=1, then max_tokens=N): prefill = prompt "
          "tokens / wall time of pass 1; decode = extra answer tokens / extra wall time")


def _pass(provider: Any, info: ModelInfo, prompts: Sequence[Any], *, max_tokens: int,
          concurrency: int) -> dict[str, float]:
    def one(messages: Any) -> tuple[int, int]:
        c = provider.complete(messages, model=info.id, max_tokens=max_tokens, temperature=0)
        usage = c.usage
        return int(usage.input_tokens or 0), int(usage.output_tokens or 0)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        done = list(pool.map(one, prompts))
    wall = time.perf_counter() - start
    return {"wall_s": wall, "input_tokens": sum(i for i, _ in done),
            "output_tokens": sum(o for _, o in done), "requests": len(done)}


def bench_serve(provider: Any, info: ModelInfo, prompts: Sequence[Any], *, hardware: str,
                concurrency: int = 4, max_tokens: int = 64, usd_per_hour: float | None = None,
                base_url: str | None = None, prompts_source: str = "") -> dict[str, Any]:
    """Measure prefill and decode tokens/s of ``info`` and return the row to store."""
    if not prompts:
        raise UsageError("no prompts to measure with", key="--prompts",
                         hint="pass a chat JSONL file of the run's prompts (its eval set)")
    _pass(provider, info, prompts[:1], max_tokens=1, concurrency=1)  # warm-up, not counted
    first = _pass(provider, info, prompts, max_tokens=1, concurrency=concurrency)
    second = _pass(provider, info, prompts, max_tokens=max_tokens, concurrency=concurrency)
    extra_tokens = second["output_tokens"] - first["output_tokens"]
    extra_s = second["wall_s"] - first["wall_s"]
    if first["input_tokens"] <= 0 or first["wall_s"] <= 0:
        raise UsageError("the server reported no prompt tokens, so prefill cannot be measured",
                         hint="use a server that returns usage (vLLM, llama.cpp and TGI do)")
    if extra_tokens <= 0 or extra_s <= 0:
        raise UsageError(f"could not separate decode from prefill: {extra_tokens} more answer "
                         f"tokens in {extra_s:.3f} s more",
                         key="--max-tokens",
                         hint="raise --max-tokens, or use prompts whose answers are longer than "
                              "one token; more prompts also steady the figure")
    return {
        "hardware": hardware,
        "model": info.key,
        "parameters": info.parameters,
        "prefill_tokens_per_s": first["input_tokens"] / first["wall_s"],
        "decode_tokens_per_s": extra_tokens / extra_s,
        "usd_per_hour": usd_per_hour,
        "concurrency": concurrency,
        "max_tokens": max_tokens,
        "requests": first["requests"],
        "passes": {"prefill": first, "decode": second},
        "method": METHOD,
        "base_url": _without_credentials(base_url),
        "prompts": prompts_source,
        "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _without_credentials(url: str | None) -> str | None:
    """A server address fit to store: no user:password, no query string."""
    from ftdecide.urls import url_without_credentials

    return url_without_credentials(url) if url else None
