"""Chat completions with transformers: one at a time or batched, same answers either way.

Parameters (anything else is a :class:`ftdecide.UsageError`):

- ``max_tokens``: most tokens to generate (default 256); always passed as
  ``max_new_tokens``, and lowered if the prompt plus it would overrun the
  model's context window.
- ``temperature`` / ``top_p``: greedy decoding unless ``temperature > 0``
  or ``top_p`` is given (then sampling, ``temperature`` 1.0 if unset).
- ``seed``: seeds torch before a sampled generation, so the same call
  (same batch composition) gives the same text.
- ``batch_size`` (``complete_batch`` only): conversations per ``generate``
  call, default 16.

The prompt is the tokenizer's chat template with ``add_generation_prompt``
(a template may add its own default system prompt, as SmolLM2's does when
the conversation has none: those tokens are part of the input and counted).

Usage, counted with the model's own tokenizer: ``input_tokens`` are the
prompt's tokens (padding excluded); ``output_tokens`` the generated tokens
up to and including the first end-of-sequence token (the model computed it;
padding after it in a batch is not counted), or all of them when
``max_tokens`` stopped the generation. The text is those tokens before the
end-of-sequence token, decoded without special tokens.

Latency: ``latency_s`` is the wall time of prefilling, generating and
decoding (rendering and tokenizing the prompts, done first for the whole
call, take milliseconds and are not counted), not of loading the model:
the first completion of the call that loaded it reports that in
``raw["load_s"]``. In a batch every item gets the wall time of its chunk
divided by the items in it, so the latencies of a ``complete_batch`` add up
to its generation time; ``raw`` has ``batch_size`` and ``batch_wall_s``.

How a batch is computed. Conversations are sorted by prompt length and cut
into chunks of ``batch_size``; results come back in the input order. Each
prompt but its last token is *prefilled alone*, with no padding, on top of
the cached prefill of its prefix (every message but the last: the system
prompt, few-shot turns), which is computed once for all the conversations
of the call that share it. The per-conversation caches are then stacked,
left-padded, and ``generate`` decodes the whole chunk together with an
attention mask. Batched prefill of padded prompts would spend most of its
time on padding and on the shared prefix: on CPU, prefill is compute-bound
and is the larger part of a batch's time for prompts of 100-250 tokens.
A single completion goes through the very same steps (a chunk of one), so
its prefill arithmetic is identical to the batched one and in float32 on CPU
the texts are exactly those of one-by-one greedy generation (tested on
the tiny model and on SmolLM2); with bf16 on a GPU, batching can change
rounding and, rarely, a token. Models whose cache is not a plain per-layer
one (sliding-window or hybrid attention) fall back to ``generate`` on the
left-padded batch.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import ftdecide

from .loading import LoadedModel, is_loaded, loaded
from .resolve import ResolvedModel, resolve

DEFAULT_MAX_TOKENS = 256
DEFAULT_BATCH_SIZE = 16
ALLOWED_PARAMS = ("max_tokens", "temperature", "top_p", "seed", "batch_size")


def complete(model: ResolvedModel | str, messages: Sequence[ftdecide.Message],
             **params: Any) -> ftdecide.Completion:
    """One chat completion (a batch of one: no padding)."""
    params.pop("batch_size", None)
    return complete_batch(model, [messages], **params)[0]


def complete_batch(model: ResolvedModel | str,
                   batch: Sequence[Sequence[ftdecide.Message]],
                   **params: Any) -> list[ftdecide.Completion]:
    """Completions of many conversations, in the order of ``batch``."""
    opts = _options(params)
    if not batch:
        return []
    resolved = resolve(model) if isinstance(model, str) else model
    fresh = not is_loaded(resolved)
    entry = loaded(resolved)
    tok = entry.tokenizer
    if not getattr(tok, "chat_template", None):
        raise ftdecide.UsageError(
            f"hf/{resolved.spec} has no chat template, so conversations cannot be formatted",
            hint="use an instruction-tuned (chat) model")
    rows = [_tokenize(tok, messages, i) for i, messages in enumerate(batch)]
    order = sorted(range(len(rows)), key=lambda i: (-len(rows[i][0]), i))
    results: list[ftdecide.Completion | None] = [None] * len(rows)
    size = opts["batch_size"]
    prefixes = _PrefixCache()
    for start in range(0, len(order), size):
        chunk = order[start:start + size]
        outs = _generate(entry, [rows[i] for i in chunk], opts, resolved, prefixes)
        for i, completion in zip(chunk, outs):
            results[i] = completion
    done = [r for r in results if r is not None]
    if fresh:   # this call loaded the model: say how long that took, once
        done[0] = _with_raw(done[0], load_s=entry.load_s)
    return done


def _with_raw(c: ftdecide.Completion, **extra: Any) -> ftdecide.Completion:
    import dataclasses

    return dataclasses.replace(c, raw={**(c.raw or {}), **extra})


def _options(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(k for k, v in params.items() if k not in ALLOWED_PARAMS and v is not None)
    if unknown:
        raise ftdecide.UsageError(f"unsupported completion parameter(s) for hf: "
                                  f"{', '.join(unknown)}", hint="supported: " +
                                  ", ".join(ALLOWED_PARAMS))
    max_tokens = params.get("max_tokens")
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ftdecide.UsageError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    batch_size = params.get("batch_size")
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ftdecide.UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    temperature = params.get("temperature")
    top_p = params.get("top_p")
    if temperature is not None and (not isinstance(temperature, (int, float)) or temperature < 0):
        raise ftdecide.UsageError(f"temperature must be >= 0, got {temperature!r}")
    if top_p is not None and (not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ftdecide.UsageError(f"top_p must be in (0, 1], got {top_p!r}")
    seed = params.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ftdecide.UsageError(f"seed must be an integer, got {seed!r}")
    sample = bool(temperature and temperature > 0) or top_p is not None
    return {"max_tokens": max_tokens, "batch_size": batch_size, "sample": sample,
            "temperature": float(temperature) if temperature else 1.0,
            "top_p": float(top_p) if top_p is not None else 1.0, "seed": seed}


def _messages(messages: Sequence[ftdecide.Message], index: int) -> list[dict[str, str]]:
    msgs = []
    for m in messages:
        try:
            role, content = m["role"], m.get("content")
        except (KeyError, TypeError, AttributeError):
            raise ftdecide.UsageError(f"conversation {index}: each message needs a role and "
                                      f"content, got {m!r}") from None
        if isinstance(content, list):   # OpenAI content parts: keep the text ones
            content = "".join(p.get("text", "") for p in content
                              if isinstance(p, Mapping) and p.get("type", "text") == "text")
        msgs.append({"role": role, "content": "" if content is None else str(content)})
    if not msgs:
        raise ftdecide.UsageError(f"conversation {index} has no messages")
    return msgs


def _tokenize(tok: Any, messages: Sequence[ftdecide.Message], index: int) -> tuple[list[int], int]:
    """The prompt's token ids, and how many of them are the conversation's prefix.

    The prefix is the rendering of every message but the last (system
    prompt, few-shot turns); it is prefilled once per batch for all the
    conversations that share it. It counts only when its tokens are exactly
    the first tokens of the whole prompt (else 0).
    """
    msgs = _messages(messages, index)
    try:
        text = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    except Exception as exc:  # jinja errors, e.g. a template that rejects a role order
        raise ftdecide.UsageError(f"conversation {index} cannot be formatted with the model's "
                                  f"chat template: {exc}") from exc
    ids = list(tok(text, add_special_tokens=False)["input_ids"])
    k = 0
    if len(msgs) > 1:
        try:
            head = tok.apply_chat_template(msgs[:-1], add_generation_prompt=False,
                                           tokenize=False)
        except Exception:   # a template may refuse a conversation ending on any role
            head = ""
        if head and text.startswith(head):
            head_ids = list(tok(head, add_special_tokens=False)["input_ids"])
            if ids[:len(head_ids)] == head_ids:
                k = len(head_ids)
    return ids, min(k, max(len(ids) - 1, 0))


def _eos_ids(entry: LoadedModel) -> set[int]:
    ids: set[int] = set()
    cfg = getattr(entry.model, "generation_config", None)
    eos = getattr(cfg, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(int(e) for e in eos)
    if entry.tokenizer.eos_token_id is not None:
        ids.add(int(entry.tokenizer.eos_token_id))
    return ids


def _context_window(entry: LoadedModel) -> int | None:
    config = getattr(entry.model, "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


# -- prefill: one conversation at a time, shared prefixes once -------------------------------
class _PrefixCache:
    """KV caches of prompt prefixes computed during one ``complete_batch`` call (a few kept)."""

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self.items: dict[tuple[int, ...], list[tuple[Any, Any]]] = {}

    def get(self, key: tuple[int, ...]) -> list[tuple[Any, Any]] | None:
        value = self.items.pop(key, None)
        if value is not None:
            self.items[key] = value   # most recent last
        return value

    def put(self, key: tuple[int, ...], value: list[tuple[Any, Any]]) -> None:
        self.items[key] = value
        while len(self.items) > self.keep:
            self.items.pop(next(iter(self.items)))


def _base_model(model: Any) -> Any:
    get = getattr(model, "get_base_model", None)   # peft.PeftModel
    return get() if callable(get) else model


def _prefill_support(entry: LoadedModel) -> dict[str, str] | None:
    """The keyword names for a model's cache and logits_to_keep, or None when the model's
    cache is not the plain per-layer kind that can be prefilled row by row and stacked."""
    import inspect

    base = _base_model(entry.model)
    config = getattr(base, "config", None)
    if config is None or getattr(config, "is_encoder_decoder", False):
        return None
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return None
    if getattr(config, "layer_types", None) and any(
            t != "full_attention" for t in config.layer_types):
        return None
    if getattr(getattr(entry.model, "generation_config", None), "cache_implementation", None):
        return None   # the model asks generate for its own kind of cache
    params = inspect.signature(base.forward).parameters
    cache_kw = "cache" if "cache" in params else "past_key_values"
    if cache_kw not in params:
        return None
    return {"cache": cache_kw,
            "logits": "logits_to_keep" if "logits_to_keep" in params else ""}


def _forward_kv(entry: LoadedModel, ids: list[int], past: list[tuple[Any, Any]] | None,
                support: Mapping[str, str]) -> list[tuple[Any, Any]] | None:
    """Run ``ids`` (one conversation) on top of ``past``; the per-layer (keys, values)."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(ddp_cache_data=past) if past else DynamicCache()
    kwargs: dict[str, Any] = {support["cache"]: cache, "use_cache": True}
    if support["logits"]:
        kwargs[support["logits"]] = 1
    input_ids = torch.tensor([ids], dtype=torch.long, device=entry.device)
    out = entry.model(input_ids=input_ids, **kwargs)
    result = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    layers = getattr(result, "layers", None)
    if layers is None or any(type(layer).__name__ != "DynamicLayer" for layer in layers):
        return None
    return [(layer.keys, layer.values) for layer in layers]


def _prefill(entry: LoadedModel, rows: list[tuple[list[int], int]],
             prefixes: _PrefixCache, support: Mapping[str, str]) -> Any | None:
    """A cache holding every prompt but its last token, left-padded to the longest.

    Each conversation is prefilled alone (no padding, so no wasted compute and
    the same arithmetic whatever the batch), on top of its prefix's cache,
    which is computed once for all the conversations that share it. ``None``
    when the model's cache is not of the plain kind (then ``generate``
    prefills the padded batch itself).
    """
    import torch
    from transformers import DynamicCache

    per_row = []
    for ids, k in rows:
        kv = None
        if k > 0:
            key = tuple(ids[:k])
            kv = prefixes.get(key)
            if kv is None:
                kv = _forward_kv(entry, ids[:k], None, support)
                if kv is None:
                    return None
                prefixes.put(key, kv)
        if len(ids) - 1 > k:
            kv = _forward_kv(entry, ids[k:-1], kv, support)
            if kv is None:
                return None
        per_row.append(kv)
    width = max(len(ids) for ids, _ in rows) - 1
    shaped = next((kv for kv in per_row if kv), None)
    if width < 1 or shaped is None:
        return None
    layers = []
    for layer, (k0, v0) in enumerate(shaped):
        keys, values = [], []
        for (ids, _), kv in zip(rows, per_row):
            pad = width - (len(ids) - 1)
            k_row, v_row = kv[layer] if kv else (k0[:, :, :0], v0[:, :, :0])
            if pad:   # masked slots on the left, like the padding of the prompt
                b, h, _, d = k_row.shape
                k_row = torch.cat([k_row.new_zeros(b, h, pad, d), k_row], 2)
                v_row = torch.cat([v_row.new_zeros(b, h, pad, v_row.shape[3]), v_row], 2)
            keys.append(k_row)
            values.append(v_row)
        layers.append((torch.cat(keys, 0), torch.cat(values, 0)))
    return DynamicCache(ddp_cache_data=layers)


def _generate(entry: LoadedModel, rows: list[tuple[list[int], int]],
              opts: Mapping[str, Any], resolved: ResolvedModel,
              prefixes: _PrefixCache) -> list[ftdecide.Completion]:
    import torch

    tok = entry.tokenizer
    lengths = [len(ids) for ids, _ in rows]
    max_new = opts["max_tokens"]
    window = _context_window(entry)
    if window is not None:
        room = window - max(lengths)
        if room < 1:
            raise ftdecide.UsageError(
                f"a prompt of {max(lengths)} tokens does not fit hf/{resolved.spec}'s context "
                f"window of {window} tokens")
        max_new = min(max_new, room)
    eos = _eos_ids(entry)
    pad_id = tok.pad_token_id
    gen_kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": pad_id,
                                  "do_sample": opts["sample"]}
    if opts["sample"]:
        gen_kwargs.update(temperature=opts["temperature"], top_p=opts["top_p"])
    else:   # a model's generation_config may carry sampling settings: greedy ignores them
        gen_kwargs.update(temperature=None, top_p=None, top_k=None)
    width = max(lengths)
    input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids, _ in rows],
                             dtype=torch.long, device=entry.device)
    attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in rows],
                                  dtype=torch.long, device=entry.device)
    with entry.lock:
        started = time.perf_counter()
        support = _prefill_support(entry)
        with torch.inference_mode():
            cache = _prefill(entry, rows, prefixes, support) if support else None
            if cache is not None:
                gen_kwargs[support["cache"]] = cache
            if opts["sample"] and opts["seed"] is not None:
                torch.manual_seed(opts["seed"])
                if torch.cuda.is_available():
                    torch.cuda.manual_seed_all(opts["seed"])
            out = entry.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                       **gen_kwargs)
        new = out[:, width:].tolist()
        texts, counts, reasons = [], [], []
        for row in new:
            cut = next((j for j, t in enumerate(row) if t in eos), None)
            if cut is None:
                kept, count, reason = row, len(row), "length"
            else:
                kept, count, reason = row[:cut], cut + 1, "stop"
            texts.append(tok.decode(kept, skip_special_tokens=True))
            counts.append(count)
            reasons.append(reason)
        wall = time.perf_counter() - started
    per_item = wall / len(rows)
    return [ftdecide.Completion(
        text=text,
        usage=ftdecide.Usage(input_tokens=n_in, output_tokens=n_out),
        latency_s=per_item,
        model=f"hf/{resolved.spec}",
        raw={"finish_reason": reason, "batch_size": len(rows), "batch_wall_s": wall,
             "device": entry.device, "prefilled_by_row": cache is not None},
    ) for text, n_in, n_out, reason in zip(texts, lengths, counts, reasons)]
