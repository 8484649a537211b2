"""The Batch API (OpenAI and Azure OpenAI): many chat completions at half price, within 24 h.

:func:`submit` uploads one JSONL file of requests and creates one batch,
each exactly once (the rules of :mod:`ftdecide_openai.finetune`). A batch is
keyed by the SHA-256 of its input (in its ``metadata``; by its input file
where metadata is not kept): submitting the same requests again within a day
returns the batch already running or done instead of paying twice, and a
creation that went unanswered is found the same way. The caller stores the
returned batch id at once and polls it with :func:`poll`, on ``--resume``
too.

Prices: the catalogs carry no batch prices (``ftdecide.ModelInfo`` has no
batch fields), so a batch completion costs half the model's standard price
(providers.md §3: "Batch API: 50 % of the standard input/output price"),
cached input at half the cached price; ``BatchResult.price_factor`` is 0.5.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Mapping, Sequence

import ftdecide

from . import shared
from .finetune import Api, create_once, read, upload_bytes

PRICE_FACTOR = 0.5
BATCH_METADATA_KEY = "ftdecide_batch"
FINAL = ("completed", "failed", "expired", "cancelled")
#: Batches that cannot be reused for the same requests.
UNUSABLE = ("failed", "expired", "cancelling", "cancelled")
#: How old a batch of the same requests may be and still be reused (its window is 24 h).
REUSE_WITHIN_S = 24 * 3600


def submit(api: Api, requests: Sequence[tuple[str, Sequence[ftdecide.Message]]], *, model: str,
           params: Mapping[str, Any], url: str = "/v1/chat/completions") -> str:
    """Create one batch of ``(custom_id, messages)`` chat requests; return its id."""
    if not requests:
        raise ftdecide.UsageError("a batch needs at least one request")
    ids = [cid for cid, _ in requests]
    if any(not isinstance(cid, str) or not cid for cid in ids) or len(set(ids)) != len(ids):
        raise ftdecide.UsageError("batch custom ids must be unique non-empty strings")
    body_params = shared.chat_params(model, params)
    lines = [json.dumps({"custom_id": cid, "method": "POST", "url": url,
                         "body": {"model": model, "messages": list(messages), **body_params}},
                        ensure_ascii=False) for cid, messages in requests]
    content = ("\n".join(lines) + "\n").encode("utf-8")
    key = hashlib.sha256(content).hexdigest()[:32]
    input_file = upload_bytes(api, content, purpose="batch", prefix="ftdecide-batch")
    kwargs: dict[str, Any] = {"input_file_id": input_file, "endpoint": url,
                              "completion_window": "24h"}
    if api.job_metadata:
        kwargs["metadata"] = {BATCH_METADATA_KEY: key}

    def find() -> Any:
        page = read(api, lambda: api.raw.batches.list(limit=100))
        since = time.time() - REUSE_WITHIN_S
        for batch in getattr(page, "data", None) or []:
            if batch.status in UNUSABLE or (batch.created_at or 0) < since:
                continue
            meta = getattr(batch, "metadata", None) or {}
            if api.job_metadata and meta.get(BATCH_METADATA_KEY) == key:
                return batch
            if not api.job_metadata and batch.input_file_id == input_file:
                return batch
        return None

    try:
        existing = find()
    except ftdecide.AuthenticationError:
        raise
    except ftdecide.ProviderError:  # a server without a batch list: nothing to reuse
        existing = None
    batch = existing or create_once(api, lambda: api.raw.batches.create(**kwargs), find,
                                    what="batch")
    return str(batch.id)


def poll(api: Api, batch_id: str, *, info: ftdecide.ModelInfo | None) -> ftdecide.BatchResult:
    """The batch now; when finished, completions and errors by custom id, priced at
    :data:`PRICE_FACTOR` × ``info``'s prices (cost unknown when ``info`` has none)."""
    batch = read(api, lambda: api.raw.batches.retrieve(batch_id))
    counts = getattr(batch, "request_counts", None)
    total = int(getattr(counts, "total", 0) or 0)
    done = int(getattr(counts, "completed", 0) or 0) + int(getattr(counts, "failed", 0) or 0)
    result = ftdecide.BatchResult(batch_id=batch_id, status=str(batch.status),
                                  finished=batch.status in FINAL, done=done, total=total,
                                  price_factor=PRICE_FACTOR)
    if not result.finished:
        return result
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    if errors:
        result.error = "; ".join(shared.scrub(getattr(e, "message", "") or str(e), api.secrets)
                                 for e in errors)
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        for line in _lines(api, file_id):
            _take(line, result, info, batch_id)
    wanted = [x.get("custom_id") for x in _lines(api, batch.input_file_id)]
    for cid in wanted:
        if cid not in result.completions and cid not in result.errors:
            result.errors[cid] = f"no answer: the batch {batch.status}" + (
                f" ({result.error})" if result.error else "")
    return result


def _lines(api: Api, file_id: str) -> list[Any]:
    content = read(api, lambda: api.raw.files.content(file_id).read())
    return [json.loads(x) for x in content.decode("utf-8").splitlines() if x.strip()]


def _take(line: Mapping[str, Any], result: ftdecide.BatchResult,
          info: ftdecide.ModelInfo | None, batch_id: str) -> None:
    cid = line.get("custom_id")
    response = line.get("response") or {}
    body = response.get("body") or {}
    status = response.get("status_code")
    if line.get("error") or status != 200:
        err = line.get("error") or body.get("error") or {}
        message = err.get("message") if isinstance(err, Mapping) else str(err)
        result.errors[cid] = f"HTTP {status}: {message or 'failed'}"
        return
    try:
        completion = completion_from_body(body)
    except (ftdecide.ProviderError, KeyError, TypeError, ValueError) as exc:
        result.errors[cid] = f"unreadable answer: {exc}"
        return
    cost = batch_cost(info, completion.usage)
    result.completions[cid] = ftdecide.Completion(
        text=completion.text, usage=completion.usage, latency_s=0.0, cost_usd=cost,
        model=completion.model, raw={"batch_id": batch_id, "batch": True, **body})


def completion_from_body(body: Mapping[str, Any]) -> ftdecide.Completion:
    """A ``Completion`` from a chat completion's JSON (a batch output line's body)."""
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        raise ftdecide.ProviderError("the batch answer has no token usage")
    details = usage.get("prompt_tokens_details") or {}
    choices = body.get("choices") or []
    if not choices:
        raise ftdecide.ProviderError("the batch answer has no choices")
    return ftdecide.Completion(
        text=(choices[0].get("message") or {}).get("content") or "",
        usage=ftdecide.Usage(input_tokens=int(usage.get("prompt_tokens") or 0),
                             output_tokens=int(usage.get("completion_tokens") or 0),
                             cached_input_tokens=int(details.get("cached_tokens") or 0)),
        latency_s=0.0, model=body.get("model"))


def batch_cost(info: ftdecide.ModelInfo | None, usage: ftdecide.Usage,
               factor: float = PRICE_FACTOR) -> float | None:
    """``factor`` × the standard cost of ``usage`` at ``info``'s prices; None if unknown."""
    if info is None or info.input_per_1m is None or info.output_per_1m is None:
        return None
    cached_price = info.cached_input_per_1m if info.cached_input_per_1m is not None \
        else info.input_per_1m
    uncached = max(0, usage.input_tokens - usage.cached_input_tokens)
    standard = (uncached * info.input_per_1m + usage.cached_input_tokens * cached_price
                + usage.output_tokens * info.output_per_1m) / 1_000_000
    return standard * factor
