"""The configuration of one ``compare`` run: a YAML/JSON file, flags on top.

promptfoo's lesson: a file that describes the whole comparison can be
reviewed, committed and re-run; flags are for the one-off change. Every key
is checked here, once, so the runner never meets a half-valid config: a bad
key or value is a :class:`UsageError` that names the file and the key.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ftdecide.errors import UsageError

#: Arm names in display order; the report and results keep this order.
ARMS = ("zeroshot", "fewshot", "rag", "finetuned", "finetuned-rag")
ARM_LABELS = {
    "zeroshot": "zero-shot",
    "fewshot": "few-shot",
    "rag": "RAG",
    "finetuned": "fine-tuned",
    "finetuned-rag": "fine-tuned + RAG",
}
TUNED_ARMS = ("finetuned", "finetuned-rag")
SHOT_SELECTIONS = ("random", "similar")
RETRIEVERS = ("tfidf", "bm25")

_ALIASES = {
    "zero-shot": "zeroshot", "zero_shot": "zeroshot", "zeroshot": "zeroshot",
    "few-shot": "fewshot", "few_shot": "fewshot", "fewshot": "fewshot",
    "rag": "rag",
    "fine-tuned": "finetuned", "fine_tuned": "finetuned", "finetuned": "finetuned",
    "fine-tune": "finetuned", "finetune": "finetuned",
    "finetuned-rag": "finetuned-rag", "finetuned_rag": "finetuned-rag",
    "fine-tuned-rag": "finetuned-rag", "fine_tuned_rag": "finetuned-rag",
    "fine-tuned+rag": "finetuned-rag", "finetuned+rag": "finetuned-rag",
}


def arm_name(value: str, *, key: str = "arms", where: str = "") -> str:
    """The canonical name of an arm; hyphenated and underscored spellings accepted."""
    canon = _ALIASES.get(str(value).strip().lower())
    if canon is None:
        raise UsageError(f"{where}{key}: unknown arm {value!r}",
                         hint=f"use some of: {', '.join(ARMS)}")
    return canon


@dataclass
class CompareConfig:
    """Everything a ``compare`` run needs, validated; see ``docs`` in the README."""

    train: str
    eval: str
    model: str
    corpus: str | None = None
    tuned: str | None = None
    tune: dict[str, Any] | None = None
    arms: tuple[str, ...] = ()
    baseline: str = "fewshot"
    shots: int = 4
    shot_selection: str = "random"
    retrieval: str = "tfidf"
    top_k: int = 3
    metric: str = "exact"
    requests_per_month: int = 100_000
    max_cost_usd: float | None = None
    concurrency: int = 8
    seed: int = 0
    out: str = "reports"
    max_tokens: int = 256
    eval_limit: int | None = None
    batch: bool = False
    task: str | None = None
    price_as: str | None = None
    source: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as it goes into the run store and the report."""
        data = dataclasses.asdict(self)
        data.pop("source")
        data["arms"] = list(self.arms)
        return data


# key -> (type, description) for checking; types are what YAML gives us.
_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "train": (str, "a path"),
    "eval": (str, "a path"),
    "corpus": (str, "a path"),
    "model": (str, "a model id such as hf/smollm2-135m"),
    "tuned": (str, "a fine-tuned model id"),
    "tune": (dict, "a mapping of tune options"),
    "arms": ((list, str), "a list of arms"),
    "baseline": (str, "an arm name"),
    "shots": (int, "a whole number"),
    "shot_selection": (str, "random or similar"),
    "retrieval": (str, "tfidf or bm25"),
    "top_k": (int, "a whole number"),
    "metric": (str, "a metric name"),
    "requests_per_month": (int, "a whole number"),
    "max_cost_usd": ((int, float), "a number of dollars"),
    "concurrency": (int, "a whole number"),
    "seed": (int, "a whole number"),
    "out": (str, "a folder"),
    "max_tokens": (int, "a whole number"),
    "eval_limit": (int, "a whole number"),
    "batch": (bool, "true or false"),
    "task": (str, "a name"),
    "price_as": (str, "a model id whose prices apply to the measured tokens"),
}
_KEY_ALIASES = {"max_cost": "max_cost_usd", "shot-selection": "shot_selection",
                "requests-per-month": "requests_per_month", "max-cost": "max_cost_usd",
                "top-k": "top_k", "max-tokens": "max_tokens", "eval-limit": "eval_limit",
                "price-as": "price_as"}
#: Keys of ``tune:``: the generic ones, ``options`` (the provider's ``-o`` keys, checked
#: against its schema), and provider keys earlier releases took directly under ``tune:``.
TUNE_KEYS = ("epochs", "batch_size", "seed", "validation", "model", "options",
             "lr", "learning_rate", "lora_r", "max_length", "max_steps", "processes", "suffix",
             "lr_multiplier", "tier", "lora_layers")


def read_file(path: str) -> dict[str, Any]:
    """The mapping in a YAML or JSON config file (UsageError when it is not one)."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such config file",
                         hint="pass the path of a compare.yaml (see the README)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{path}:{line} is not valid YAML: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the config must be a mapping of keys, not {type(data).__name__}")
    return data


def _check(key: str, value: Any, where: str) -> Any:
    kind, what = _FIELDS[key]
    if value is None:
        return None
    if kind is int and isinstance(value, bool) or (kind is bool and not isinstance(value, bool)):
        raise UsageError(f"{where}{key}: expected {what}, got {value!r}")
    if not isinstance(value, kind):
        raise UsageError(f"{where}{key}: expected {what}, got {value!r}")
    return value


def build(file_values: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None,
          *, source: str | None = None) -> CompareConfig:
    """Merge a config file's values with flags (flags win) and validate every key.

    Relative paths in a file are relative to the file's folder (so a config
    committed beside its data works from anywhere); paths given as flags are
    relative to the current directory.
    """
    where = f"{source}: " if source else ""
    values: dict[str, Any] = {}
    base = Path(source).parent if source else None
    for raw_key, value in (file_values or {}).items():
        key = _KEY_ALIASES.get(str(raw_key), str(raw_key))
        if key not in _FIELDS:
            import difflib

            close = difflib.get_close_matches(key, list(_FIELDS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(_FIELDS)}"
            raise UsageError(f"{where}unknown key {raw_key!r}", hint=hint)
        value = _check(key, value, where)
        if key in ("train", "eval", "corpus", "out") and value is not None and base is not None:
            value = str(value) if os.path.isabs(value) else str(base / value)
        values[key] = value
    for key, value in (flags or {}).items():
        if value is None or value == ():
            continue
        values[key] = _check(key, value, "")
    for required in ("train", "eval", "model"):
        if not values.get(required):
            raise UsageError(f"{where}missing {required!r}",
                             hint=f"set {required}: in the config or pass --{required}")
    if values.get("tuned") and values.get("tune") is not None:
        raise UsageError(f"{where}tuned and tune are both set",
                         hint="give a fine-tuned model id (tuned:) or options to train one (tune:), not both")
    tune = values.get("tune")
    if tune is not None:
        for k in tune:
            if str(k).replace("-", "_") not in TUNE_KEYS:
                raise UsageError(f"{where}tune.{k}: unknown tune option",
                                 hint=f"known: {', '.join(TUNE_KEYS)}")
        values["tune"] = {str(k).replace("-", "_"): v for k, v in tune.items()}
        if values["tune"].get("options") is not None and not isinstance(values["tune"]["options"],
                                                                        dict):
            raise UsageError(f"{where}tune.options: expected a mapping of provider options",
                             hint="e.g. tune: {options: {lora_r: 8, max_steps: 12}}")
    arms_value = values.get("arms")
    has_tuned = bool(values.get("tuned")) or values.get("tune") is not None
    if arms_value is None:
        arms = ARMS if has_tuned else tuple(a for a in ARMS if a not in TUNED_ARMS)
    else:
        items = arms_value.split(",") if isinstance(arms_value, str) else arms_value
        names = [arm_name(a, where=where) for a in items if str(a).strip()]
        arms = tuple(a for a in ARMS if a in names)  # display order, no duplicates
        if not arms:
            raise UsageError(f"{where}arms: no arm selected", hint=f"use some of: {', '.join(ARMS)}")
    if not has_tuned and any(a in TUNED_ARMS for a in arms):
        raise UsageError(f"{where}arms: {', '.join(a for a in arms if a in TUNED_ARMS)} needs a tuned model",
                         hint="set tuned: <model id>, or tune: {} to train one inside the run")
    baseline = arm_name(values.get("baseline") or "fewshot", key="baseline", where=where)
    if baseline not in arms:
        raise UsageError(f"{where}baseline: {baseline!r} is not one of the arms ({', '.join(arms)})",
                         hint="add it to arms or choose another baseline")
    values["arms"] = arms
    values["baseline"] = baseline
    if values.get("shot_selection", "random") not in SHOT_SELECTIONS:
        raise UsageError(f"{where}shot_selection: {values['shot_selection']!r} is not one of "
                         f"{', '.join(SHOT_SELECTIONS)}")
    if values.get("retrieval", "tfidf") not in RETRIEVERS:
        raise UsageError(f"{where}retrieval: {values['retrieval']!r} is not one of {', '.join(RETRIEVERS)}")
    for key, low in (("shots", 0), ("top_k", 1), ("requests_per_month", 0), ("concurrency", 1),
                     ("max_tokens", 1), ("eval_limit", 1)):
        if values.get(key) is not None and values[key] < low:
            raise UsageError(f"{where}{key}: must be at least {low}, got {values[key]}")
    if values.get("max_cost_usd") is not None and values["max_cost_usd"] < 0:
        raise UsageError(f"{where}max_cost_usd: must not be negative")
    if "fewshot" in arms and values.get("shots", 4) == 0:
        raise UsageError(f"{where}shots: the few-shot arm needs at least one shot")
    values["source"] = source
    return CompareConfig(**values)
