"""``estimate``: price a training set offline, and the economics around it.

Validation and token counting come from :mod:`ftdecide.data` (one streaming
pass with the model's encoding and per-example limit); the arithmetic from
:mod:`ftdecide.costs`; prompts from :mod:`ftdecide.strategies`, so the
few-shot prompt priced here is built exactly as ``compare`` sends it.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass
from typing import Any, Callable

from ftdecide._formatting import counted
from ftdecide.data import _prompts as strategies
from ftdecide.data import _tokens as tokens
from ftdecide.errors import DataError, NotTunableError
from ftdecide.pricing import _costs as costs
from ftdecide.providers import ModelInfo

PathLike = str | os.PathLike[str]


def _encoding(info: ModelInfo) -> str:
    return info.encoding or tokens.DEFAULT_ENCODING


def check_tunable(info: ModelInfo, catalog: Any = None) -> None:
    """Refuse an untunable model, naming tunable ones of the same provider."""
    if info.tunable:
        return
    alternatives: list[str] = []
    if catalog is not None:
        alternatives = [m.key for m in catalog.models(info.provider) if m.tunable]
    hint = ("tunable models: " + ", ".join(alternatives)) if alternatives else \
        "run `ftdecide prices` to see which models can be fine-tuned"
    raise NotTunableError(f"model {info.key} cannot be fine-tuned", hint=hint)


def validated(path: PathLike, info: ModelInfo, progress: Callable[[int], None] | None = None):
    """Validate ``path`` with the model's encoding and limit; DataError when invalid."""
    import ftdecide.data as data

    report = data.validate(path, encoding=_encoding(info), token_limit=info.training_token_limit,
                           progress=progress)
    if not report.valid:
        if "invalid_json" in report.errors or "data_type" in report.errors:
            from ftdecide.data._read import json_array_error

            array = json_array_error(path)
            if array is not None:
                raise array
        parts = []
        for category, lines in report.errors.items():
            parts.append(f"{len(lines):,} × {category} (first at line {lines[0]})" if lines
                         else category)
        raise DataError(
            "the training set is not valid: " + "; ".join(parts),
            path=str(path),
            hint=f"run `ftdecide validate {path}` for every error and how to fix it",
        )
    return report


def training_estimate(report: Any, info: ModelInfo, *, epochs: int | None = None,
                      tier: str | None = None) -> dict[str, Any]:
    """The cookbook estimate as a JSON-ready dict (keys are a stable contract)."""
    n = report.examples
    n_epochs = epochs if epochs is not None else costs.default_epochs(n)
    billed = costs.billed_tokens(report.tokens_capped_total, n_epochs)
    price = costs.training_price(info, tier)
    token_stats = dict(report.stats.get("tokens_per_example", {}))
    return {
        "file": report.file,
        "model": info.key,
        "examples": n,
        "tokens": {"total": report.tokens_total, **token_stats},
        "epochs": n_epochs,
        "epochs_source": "given" if epochs is not None else "cookbook default",
        "billed_tokens": billed,
        "training_cost_usd": costs.training_cost(billed, price),
        "limit": info.training_token_limit,
        "over_limit_examples": len(report.warnings.get("over_token_limit", [])),
        "price": {
            "training_per_1m": price,
            "tier": tier,
            "as_of": info.as_of.isoformat() if info.as_of else None,
            "source": info.source,
        },
        "encoding": _encoding(info),
    }


def notices(provider: Any, info: ModelInfo) -> list[str]:
    """What the provider says before anyone fine-tunes ``info`` (OpenAI's wind-down, the base
    model's shutdown ...): the warnings ``tune`` shows, from the plugin that knows them.

    ``estimate`` passes no settings, so a provider refusing its own defaults (a missing
    local folder) is ``tune``'s message to give, not the estimate's.
    """
    from ftdecide.errors import FtdecideError

    try:
        return list(provider.check_tune_options(info.id, hyperparameters={}, options={}) or [])
    except FtdecideError:
        return []


def hardware_estimate(provider: Any, info: ModelInfo, report: Any,
                      hyperparameters: dict[str, Any] | None = None,
                      options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The provider's hardware-hours estimate (open weights), or None (token-priced).

    ``options`` reach providers whose ``estimate_training`` takes them (an
    override written before the parameter existed is called without it).
    """
    import inspect

    kwargs: dict[str, Any] = {}
    params = inspect.signature(provider.estimate_training).parameters
    if "options" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs["options"] = dict(options or {})
    return provider.estimate_training(
        info.id, stats={**report.stats, "examples": report.examples},
        hyperparameters=dict(hyperparameters or {}), **kwargs)


@dataclass(frozen=True)
class PromptProfile:
    """Mean prompt and answer tokens of a dataset's examples."""

    examples: int
    prompt_tokens_mean: float
    output_tokens_mean: float


def prompt_profile(path: PathLike, encoding: str) -> PromptProfile:
    """Stream ``path`` and measure the prompt (all but the answer) and the answer."""
    import ftdecide.data as data

    n = 0
    prompt_sum = 0
    output_sum = 0
    batch: list[list[dict[str, Any]]] = []
    answers: list[str] = []

    def flush() -> None:
        nonlocal prompt_sum, output_sum
        prompt_sum += sum(tokens.count_examples(batch, encoding))
        output_sum += sum(tokens.count_texts(answers, encoding))
        batch.clear()
        answers.clear()

    for _line, messages, problems in data.iter_records(path):
        if messages is None or problems:
            continue
        prompt, answer = strategies.split_example(messages)
        batch.append(prompt)
        answers.append(answer or "")
        n += 1
        if len(batch) >= 1000:
            flush()
    flush()
    if n == 0:
        raise DataError("no valid examples to measure prompts from", path=str(path))
    return PromptProfile(n, prompt_sum / n, output_sum / n)


def few_shot_prompt(path: PathLike, shots: int, query: list[dict[str, Any]],
                    encoding: str) -> tuple[list[dict[str, Any]], int]:
    """Build the K-shot prompt for ``query`` from the first K examples of ``path``."""
    import ftdecide.data as data

    if shots < 0:
        raise DataError("--shots must be 0 or more")
    examples = data.load_examples(path, limit=shots) if shots else []
    if len(examples) < shots:
        raise DataError(f"asked for {shots} shots but the file has "
                        f"{counted(len(examples), 'example')}",
                        path=str(path), hint="lower --shots or use a larger file")
    messages = strategies.few_shot(query, [e.messages for e in examples])
    return messages, tokens.count_examples([messages], encoding)[0]


def economics(
    info: ModelInfo,
    *,
    train_path: PathLike,
    requests_per_month: int,
    training_cost_usd: float | None,
    prompt_tokens: float | None = None,
    few_shot_from: PathLike | None = None,
    shots: int = 4,
    tuned_prompt_tokens: float | None = None,
    output_tokens: float | None = None,
    horizon_months: float | None = None,
    today: _dt.date | None = None,
) -> dict[str, Any]:
    """Monthly cost of prompting the base model vs the fine-tune, and when tuning pays back.

    Defaults come from the data: the fine-tune sees the training examples'
    own prompts (``tuned_prompt_tokens``), answers as long as theirs
    (``output_tokens``); today's prompt is ``--prompt-tokens`` or the K-shot
    prompt built from ``few_shot_from`` (default: the training file).
    """
    enc = _encoding(info)
    profile = prompt_profile(train_path, enc)
    tuned = tuned_prompt_tokens if tuned_prompt_tokens is not None else profile.prompt_tokens_mean
    out_tokens = output_tokens if output_tokens is not None else profile.output_tokens_mean
    prompt_source = "given"
    sample_prompt = None
    if prompt_tokens is None:
        import ftdecide.data as data

        first = data.load_examples(train_path, limit=1)[0]
        query, _ = strategies.split_example(first.messages)
        source = few_shot_from or train_path
        sample_prompt, sample_tokens = few_shot_prompt(source, shots, query, enc)
        query_tokens = tokens.count_examples([query], enc)[0]
        # Shots add the same tokens to every query: today's mean prompt is the
        # fine-tune's mean prompt plus what the shots add.
        prompt_tokens = profile.prompt_tokens_mean + (sample_tokens - query_tokens)
        prompt_source = f"{shots}-shot prompt built from {source}"
    econ = costs.economics(
        info,
        requests_per_month=requests_per_month,
        prompt_tokens=prompt_tokens,
        tuned_prompt_tokens=tuned,
        output_tokens=out_tokens,
        training_cost_usd=training_cost_usd,
        horizon_months=horizon_months,
        today=today,
    ).to_dict()
    econ["prompt_tokens_source"] = prompt_source
    econ["shutdown"] = info.shutdown.isoformat() if info.shutdown else None
    econ["prices"] = {
        "base": costs.base_prices(info).__dict__,
        "fine_tuned": costs.fine_tuned_prices(info).__dict__,
        "hosting_per_hour": info.hosting_per_hour,
    }
    if sample_prompt is not None:
        econ["few_shot_prompt_sample"] = sample_prompt
    return econ
