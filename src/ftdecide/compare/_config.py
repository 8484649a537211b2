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
ARMS = ("zeroshot", "fewshot", "rag", "finetuned", "finetuned-rag", "teacher", "distilled")
ARM_LABELS = {
    "zeroshot": "zero-shot",
    "fewshot": "few-shot",
    "rag": "RAG",
    "finetuned": "fine-tuned",
    "finetuned-rag": "fine-tuned + RAG",
    "teacher": "teacher",
    "distilled": "distilled",
}
TUNED_ARMS = ("finetuned", "finetuned-rag")
#: The distillation arms (``teacher:``): the teacher on the eval set, and the student tuned on
#: the teacher's answers (see :mod:`ftdecide.compare._distill`).
DISTILL_ARMS = ("teacher", "distilled")
SHOT_SELECTIONS = ("random", "similar")
#: What compare does with eval items the audit finds in the training set.
AUDIT_MODES = ("exclude", "keep", "fail")
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
    "teacher": "teacher", "distilled": "distilled", "distill": "distilled",
    "student": "distilled",
}


def arm_name(value: str, *, key: str = "arms", where: str = "",
             at: Mapping[str, Any] | None = None) -> str:
    """The canonical name of an arm; hyphenated and underscored spellings accepted.

    ``at`` (``path``, ``line``, ``key``) says where the value was written, for the error.
    """
    canon = _ALIASES.get(str(value).strip().lower())
    if canon is None:
        raise UsageError(f"{where}{key}: unknown arm {value!r}", **(at or {"key": key}),
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
    audit: str = "exclude"
    audit_threshold: float = 0.9
    batch: bool = False
    task: str | None = None
    price_as: str | None = None
    #: the ``judge`` metric's grader (:func:`ftdecide.compare._judge.check_config`'s mapping)
    judge: dict[str, Any] | None = None
    #: a person's labels (CSV/JSONL: id, label[, arm]) the judge is calibrated against
    human_labels: str | None = None
    #: the ``similarity`` metric's vectors: ``{"model": "PROVIDER/EMBEDDING-MODEL"}``, or None
    #: for TF-IDF fitted on the run (offline)
    similarity: dict[str, Any] | None = None
    #: how self-hosted arms are served (hardware, utilization, instances): priced in hardware time
    serving: dict[str, Any] | None = None
    #: arm -> the model it names itself (``arms: [{name: fewshot, model: ...}]``)
    arm_models: dict[str, str] = field(default_factory=dict)
    #: arm -> its own ``serving:`` (marks an OpenAI-compatible server as self-hosted)
    arm_serving: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: training-set sizes of the learning curve: fractions (floats, 0 < f ≤ 1) or counts (ints)
    learning_curve: tuple[float | int, ...] | None = None
    #: the quality that is good enough (0 to 1): the learning curve says how many examples reach it
    target_quality: float | None = None
    teacher: str | None = None
    inputs: str | None = None
    source: str | None = field(default=None, compare=False)
    #: what the defaults decided that a person should hear (an arm left out, the baseline
    #: chosen); the CLI prints them on stderr
    notices: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as it goes into the run store and the report."""
        data = dataclasses.asdict(self)
        data.pop("source")
        data.pop("notices")
        from ftdecide.compare._armspec import arms_for_dict

        data["arms"] = arms_for_dict(self.arms, self.arm_models, self.arm_serving)
        data.pop("arm_models")
        data.pop("arm_serving")
        if data["serving"] is None:
            data.pop("serving")
        if self.learning_curve is not None:
            data["learning_curve"] = list(self.learning_curve)
        return data

    def model_of(self, arm: str, tuned_model: str | None = None) -> str | None:
        """The model id an arm calls: its own, else the tuned model (fine-tuned arms) or ``model``."""
        if arm in self.arm_models:
            return self.arm_models[arm]
        return (tuned_model or self.tuned) if arm in TUNED_ARMS else self.model

    def serving_of(self, arm: str) -> dict[str, Any] | None:
        """The arm's own ``serving:``, else the run's (which applies to self-hosted arms only)."""
        return self.arm_serving.get(arm) or self.serving


# key -> (type, description) for checking; types are what YAML gives us.
_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "train": (str, "a path"),
    "eval": (str, "a path"),
    "corpus": (str, "a path"),
    "model": (str, "a model id such as hf/smollm2-135m"),
    "tuned": (str, "a fine-tuned model id"),
    "tune": (dict, "a mapping of tune options"),
    "arms": ((list, str), "a list of arms: names, or {name, model, serving} mappings"),
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
    "audit": (str, "exclude, keep or fail: what to do with eval items leaked from train"),
    "audit_threshold": ((int, float), "the similarity (0 to 1) from which a prompt counts as a "
                                      "near copy"),
    "batch": (bool, "true or false"),
    "task": (str, "a name"),
    "price_as": (str, "a model id whose prices apply to the measured tokens"),
    "judge": (dict, "a mapping {model, rubric, scale: 5 or pass-fail, pairwise}"),
    "human_labels": (str, "a CSV or JSONL file with id and label columns"),
    "similarity": (dict, "a mapping such as {model: openai/text-embedding-3-small}"),
    "embedding_model": (str, "an embedding model id such as openai/text-embedding-3-small "
                             "(short for similarity: {model: ...})"),
    "serving": (dict, "a mapping such as {hardware: L4, utilization: 0.5, min_instances: 1}"),
    "learning_curve": ((list, str), "a list of training-set sizes: fractions such as 0.25 or counts "
                             "such as 200"),
    "target_quality": ((int, float), "a quality from 0 to 1"),
    "teacher": (str, "a model id that labels the training inputs (the distillation arms)"),
    "inputs": (str, "a path: unlabelled prompts for the teacher (chat JSONL without answers)"),
}
#: Keys of ``similarity:``.
SIMILARITY_KEYS = ("model",)
_KEY_ALIASES = {"max_cost": "max_cost_usd", "shot-selection": "shot_selection",
                "requests-per-month": "requests_per_month", "max-cost": "max_cost_usd",
                "top-k": "top_k", "max-tokens": "max_tokens", "eval-limit": "eval_limit",
                "price-as": "price_as", "human-labels": "human_labels",
                "embedding-model": "embedding_model", "learning-curve": "learning_curve",
                "target-quality": "target_quality"}
#: Keys of ``tune:``: the generic ones, ``options`` (the provider's ``-o`` keys, checked
#: against its schema), and provider keys earlier releases took directly under ``tune:``.
TUNE_KEYS = ("epochs", "batch_size", "seed", "validation", "model", "options",
             "lr", "learning_rate", "lora_r", "max_length", "max_steps", "processes", "suffix",
             "lr_multiplier", "tier", "lora_layers")


#: The flag that sets each key, where it is not ``--`` + the key with dashes.
_FLAGS = {"max_cost_usd": "--max-cost", "eval": "--eval", "batch": "--batch/--no-batch"}
_PATH_KEYS = ("train", "eval", "corpus", "out", "human_labels", "inputs")


def read_file(path: str) -> dict[str, Any]:
    """The mapping in a YAML or JSON config file (UsageError when it is not one)."""
    return read_file_lines(path)[0]


def read_file_lines(path: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The mapping in a YAML or JSON config file and the line of each (dotted) key.

    A key given twice is an error naming both lines, not a silent last-one-wins.
    """
    from ftdecide.data._yamlfile import read_yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError("no such config file", path=path, key="--config",
                         hint="pass the path of a compare.yaml (see the README)") from None
    except IsADirectoryError:
        raise UsageError("is a folder, not a config file", path=path, key="--config",
                         hint="pass the compare.yaml inside it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot be read: {exc}", path=path) from None
    data, lines = read_yaml(text, path, error=UsageError)
    if data is None:
        return {}, lines
    if not isinstance(data, dict):
        raise UsageError(f"the config must be a mapping of keys, not {type(data).__name__}",
                         path=path, line=1)
    return data, lines


class _Where:
    """Where each key's value came from: a line of the config file, or a flag."""

    def __init__(self, source: str | None, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = dict(lines)
        self.flags: set[str] = set()

    def name(self, key: str) -> str:
        """How to name ``key`` in a message: the flag that set it, or the config key."""
        if key in self.flags:
            return _FLAGS.get(key, "--" + key.replace("_", "-"))
        return key

    def at(self, key: str) -> dict[str, Any]:
        """``path``/``line``/``key`` for an error about ``key``."""
        if key in self.flags:
            return {"key": self.name(key)}
        if self.source is None:
            return {"key": key}
        line = self.lines.get(key) or self.lines.get(key.split(".")[0])
        return {"path": self.source, "line": line, "key": key}

    def error(self, key: str, message: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{self.name(key)}: {message}", hint=hint, **self.at(key))


def _check(key: str, value: Any, where: _Where) -> Any:
    kind, what = _FIELDS[key]
    if value is None:
        return None
    if kind is int and isinstance(value, bool) or (kind is bool and not isinstance(value, bool)):
        raise where.error(key, f"expected {what}, got {value!r}")
    if not isinstance(value, kind):
        raise where.error(key, f"expected {what}, got {value!r}")
    if kind is str and key in _PATH_KEYS and not value.strip():
        raise where.error(key, f"is empty; expected {what}")
    return value


def _check_paths(values: Mapping[str, Any], where: _Where) -> None:
    """The data files exist: a missing one names the key (and line) that gave it."""
    for key in ("train", "eval", "corpus", "human_labels", "inputs"):
        value = values.get(key)
        if not value:
            continue
        p = Path(value)
        relative = (" (a path in a config file is relative to the file's folder)"
                    if key not in where.flags and where.source else "")
        if not p.exists():
            raise where.error(key, f"{value}: no such {'file or folder' if key == 'corpus' else 'file'}",
                              hint=f"check the path{relative}")
        if key != "corpus" and p.is_dir():
            raise where.error(key, f"{value} is a folder, not a data file",
                              hint="give the JSONL or CSV file inside it")


def _check_judge(values: dict[str, Any], where: _Where) -> None:
    """``judge:``, ``metric: judge`` and ``human_labels:`` go together: each names what the
    others need. A ``judge:`` with no metric given makes the metric ``judge``."""
    from ftdecide.compare._judge import EXAMPLE_CONFIG, check_config

    if values.get("judge") is not None:
        values["judge"] = check_config(values["judge"],
                                       lambda key, message, hint: where.error(key, message, hint))
        if values.get("metric") is None:
            values["metric"] = "judge"
        elif values["metric"] != "judge":
            raise where.error("judge", f"a judge is configured but the metric is "
                              f"{values['metric']!r}", hint="set metric: judge (--metric judge) "
                              "to score the arms with it, or remove judge:")
    elif values.get("metric") == "judge":
        raise where.error("metric", "the judge metric needs a judge: mapping",
                          hint="add to the config:\n" + EXAMPLE_CONFIG)
    if values.get("human_labels") and values.get("judge") is None:
        raise where.error("human_labels", "human labels calibrate a judge, and none is configured",
                          hint="add judge: {model: ..., scale: 5} and metric: judge")
def _similarity_settings(values: dict[str, Any], where: _Where) -> None:
    """``similarity: {model: X}`` checked; ``embedding_model: X`` is the same, shorter."""
    short = values.pop("embedding_model", None)
    settings = values.get("similarity")
    if short is not None and settings is not None:
        raise where.error("embedding_model", "similarity and embedding_model are both set",
                          hint="give the model once: similarity: {model: ...}")
    if short is not None:
        if not short.strip():
            raise where.error("embedding_model", "is empty; expected an embedding model id")
        values["similarity"] = {"model": short.strip()}
        return
    if settings is None:
        return
    for k, v in settings.items():
        if k not in SIMILARITY_KEYS:
            raise UsageError(f"similarity.{k}: unknown key", **where.at(f"similarity.{k}"),
                             hint=f"known: {', '.join(SIMILARITY_KEYS)}")
        if not isinstance(v, str) or not v.strip():
            raise UsageError(f"similarity.{k}: expected an embedding model id such as "
                             f"openai/text-embedding-3-small, got {v!r}",
                             **where.at(f"similarity.{k}"))
    values["similarity"] = {k: v.strip() for k, v in settings.items()}


def build(file_values: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None,
          *, source: str | None = None, lines: Mapping[str, int] | None = None
          ) -> CompareConfig:
    """Merge a config file's values with flags (flags win) and validate every key.

    Relative paths in a file are relative to the file's folder (so a config
    committed beside its data works from anywhere); paths given as flags are
    relative to the current directory. ``lines`` (from :func:`read_file_lines`)
    puts the line of the key at fault into errors; an error about a value a flag
    gave names the flag, not the file.
    """
    where = _Where(source, lines or {})
    values: dict[str, Any] = {}
    notices: list[str] = []
    base = Path(source).parent if source else None
    for raw_key, value in (file_values or {}).items():
        key = _KEY_ALIASES.get(str(raw_key), str(raw_key))
        if key not in _FIELDS:
            import difflib

            close = difflib.get_close_matches(key, list(_FIELDS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(_FIELDS)}"
            raise UsageError(f"unknown key {raw_key!r}", hint=hint, **where.at(str(raw_key)))
        if str(raw_key) != key and str(raw_key) in where.lines:
            where.lines.setdefault(key, where.lines[str(raw_key)])
        value = _check(key, value, where)
        if key in _PATH_KEYS and value is not None and base is not None:
            value = str(value) if os.path.isabs(value) else str(base / value)
        values[key] = value
    for key, value in (flags or {}).items():
        if value is None or value == ():
            continue
        where.flags.add(key)
        values[key] = _check(key, value, where)
    for required in ("train", "eval", "model"):
        if not values.get(required):
            raise UsageError(f"missing {required!r}", path=source, key=required,
                             hint=f"set {required}: in the config or pass --{required}")
    _check_paths(values, where)
    _check_judge(values, where)
    if values.get("tuned") and values.get("tune") is not None:
        raise where.error("tune", "tuned and tune are both set",
                          hint="give a fine-tuned model id (tuned:) or options to train one "
                               "(tune:), not both")
    tune = values.get("tune")
    if tune is not None:
        for k in tune:
            if str(k).replace("-", "_") not in TUNE_KEYS:
                raise UsageError(f"tune.{k}: unknown tune option", **where.at(f"tune.{k}"),
                                 hint=f"known: {', '.join(TUNE_KEYS)}")
        values["tune"] = {str(k).replace("-", "_"): v for k, v in tune.items()}
        if values["tune"].get("options") is not None and not isinstance(values["tune"]["options"],
                                                                        dict):
            raise UsageError("tune.options: expected a mapping of provider options",
                             **where.at("tune.options"),
                             hint="e.g. tune: {options: {lora_r: 8, max_steps: 12}}")
    _similarity_settings(values, where)
    arms_value = values.get("arms")
    specs = None
    if arms_value is not None:
        from ftdecide.compare._armspec import parse_arms

        items = arms_value.split(",") if isinstance(arms_value, str) else arms_value
        specs = parse_arms(items, key=where.name("arms"), at=where.at("arms"), arm_name=arm_name)
        values["arm_models"], values["arm_serving"] = specs.models, specs.serving
    if values.get("serving") is not None:
        from ftdecide.pricing._serving import check_serving

        values["serving"] = check_serving(values["serving"], key=where.name("serving"),
                                          at=where.at("serving"))
    has_tuned = bool(values.get("tuned")) or values.get("tune") is not None
    if specs is None:
        arms = tuple(a for a in ARMS if a not in DISTILL_ARMS
                     and (has_tuned or a not in TUNED_ARMS))
        if not has_tuned:
            notices.append("the fine-tuned arms (finetuned, finetuned-rag) are left out: no "
                           "tuned model is given. To include them, set tuned: MODEL (--tuned) "
                           "or tune: {} (--tune) to train one inside the run")
    else:
        arms = tuple(a for a in ARMS if a in specs.names)  # display order, no duplicates
        if not arms:
            raise where.error("arms", "no arm selected", hint=f"use some of: {', '.join(ARMS)}")
        # a fine-tuned arm that names its own model needs no tuned: of the run
        has_tuned = has_tuned or all(a in specs.models for a in arms if a in TUNED_ARMS)
    arms = _distill_arms(values, arms, specs is None, has_tuned, where, notices)
    if not has_tuned and any(a in TUNED_ARMS for a in arms):
        raise where.error("arms", f"{', '.join(a for a in arms if a in TUNED_ARMS)} needs a "
                          "tuned model", hint="set tuned: <model id>, or tune: {} to train one "
                          "inside the run (--tuned, --tune)")
    if values.get("baseline"):
        baseline = arm_name(values["baseline"], key=where.name("baseline"),
                            at=where.at("baseline"))
        if baseline not in arms:
            raise where.error("baseline", f"{baseline!r} is not one of the arms "
                              f"({', '.join(arms)})",
                              hint="add it to arms or choose another baseline")
    elif "fewshot" in arms:
        baseline = "fewshot"
    else:
        baseline = arms[0]
        notices.append(f"baseline: {baseline} (the default baseline, fewshot, is not among the "
                       f"arms{'' if len(arms) > 1 else '; with one arm there is nothing to compare it with'}). "
                       "Set baseline: (--baseline) to choose another")
    values["arms"] = arms
    values["baseline"] = baseline
    if values.get("shot_selection", "random") not in SHOT_SELECTIONS:
        raise where.error("shot_selection", f"{values['shot_selection']!r} is not one of "
                          f"{', '.join(SHOT_SELECTIONS)}")
    if values.get("audit", "exclude") not in AUDIT_MODES:
        raise where.error("audit", f"{values['audit']!r} is not one of {', '.join(AUDIT_MODES)}")
    if values.get("audit_threshold") is not None and not 0 < values["audit_threshold"] <= 1:
        raise where.error("audit_threshold", f"must be above 0 and at most 1, got "
                          f"{values['audit_threshold']}")
    if values.get("retrieval", "tfidf") not in RETRIEVERS:
        raise where.error("retrieval", f"{values['retrieval']!r} is not one of "
                          f"{', '.join(RETRIEVERS)}")
    for key, low in (("shots", 0), ("top_k", 1), ("requests_per_month", 0), ("concurrency", 1),
                     ("max_tokens", 1), ("eval_limit", 1)):
        if values.get(key) is not None and values[key] < low:
            raise where.error(key, f"must be at least {low}, got {values[key]}")
    if values.get("max_cost_usd") is not None and values["max_cost_usd"] < 0:
        raise where.error("max_cost_usd", "must not be negative")
    if "fewshot" in arms and values.get("shots", 4) == 0:
        raise where.error("shots", "the few-shot arm needs at least one shot")
    _check_curve(values, where)
    values["source"] = source
    values["notices"] = tuple(notices)
    return CompareConfig(**values)


def _check_curve(values: dict[str, Any], where: _Where) -> None:
    """``learning_curve`` (sizes) and ``target_quality``: checked, the sizes made a tuple.

    A number with a decimal point is a fraction of the training set (0 < f ≤ 1);
    a whole number is a count of examples (at least 2; ``1`` alone would be
    ambiguous, so the whole set is written ``1.0``). The curve trains the tuned
    model, so it needs ``tune:`` and the ``finetuned`` arm.
    """
    target = values.get("target_quality")
    if target is not None and not 0 < target <= 1:
        raise where.error("target_quality", f"must be above 0 and at most 1, got {target}",
                          hint="the quality that is good enough, on the metric's 0-1 scale")
    curve = values.get("learning_curve")
    if curve is None:
        return
    example = "e.g. learning_curve: [0.125, 0.25, 0.5, 1.0] or [50, 100, 200]"
    if isinstance(curve, str):  # --learning-curve 0.25,0.5,1.0
        curve = [_size(part.strip()) for part in curve.split(",") if part.strip()]
    if not curve:
        raise where.error("learning_curve", "is empty", hint=example)
    sizes: list[float | int] = []
    for value in curve:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise where.error("learning_curve", f"{value!r} is not a number", hint=example)
        if isinstance(value, float) and not 0 < value <= 1:
            raise where.error("learning_curve", f"{value} is not a fraction above 0 and at most "
                              "1 (write counts as whole numbers)", hint=example)
        if isinstance(value, int) and value < 2:
            raise where.error("learning_curve", f"{value} examples is too few to tune on "
                              "(write the whole set as 1.0)", hint=example)
        if value in sizes:
            raise where.error("learning_curve", f"{value} is given twice", hint=example)
        sizes.append(value)
    if values.get("tune") is None:
        raise where.error("learning_curve", "needs tune: (the curve trains the tuned model on "
                          "each subset)", hint="add tune: {} (--tune), or drop learning_curve")
    if "finetuned" not in values["arms"]:
        raise where.error("learning_curve", "needs the finetuned arm (the full-size point)",
                          hint="add finetuned to arms")
    if values.get("judge") is not None or values.get("metric") == "judge":
        raise where.error("learning_curve", "is not measured with the judge metric yet (the "
                          "judge scores the arms' answers only)",
                          hint="use a reference metric (exact, json-fields, rouge-l ...) for "
                               "the curve, or drop learning_curve")
    values["learning_curve"] = tuple(sorted(sizes, key=lambda v: (isinstance(v, int), v)))


def _size(text: str) -> float | int | str:
    """A size written in a flag: ``0.25`` a fraction, ``200`` a count (else the text, refused)."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def _distill_arms(values: Mapping[str, Any], arms: tuple[str, ...], default: bool,
                  has_tuned: bool, where: _Where, notices: list[str]) -> tuple[str, ...]:
    """The distillation arms: added by default when ``teacher:`` is set, checked otherwise.

    ``teacher`` needs a teacher model; ``distilled`` also needs ``tune:`` (the student is the
    tuned model's base, trained with the same options on the teacher's answers).
    """
    teacher, tune = values.get("teacher"), values.get("tune")
    if values.get("inputs") and not teacher:
        raise where.error("inputs", "unlabelled inputs need a teacher to label them",
                          hint="set teacher: MODEL (e.g. openai/gpt-4.1), or drop inputs:")
    if default and teacher:
        arms = arms + (("teacher", "distilled") if tune is not None else ("teacher",))
        if tune is None:
            notices.append("the distilled arm is left out: the student is trained inside the "
                           "run, so it needs tune: {} (--tune) beside teacher:")
    if not teacher and any(a in DISTILL_ARMS for a in arms):
        raise where.error("arms", f"{', '.join(a for a in arms if a in DISTILL_ARMS)} needs a "
                          "teacher model", hint="set teacher: MODEL (e.g. openai/gpt-4.1)")
    if "distilled" in arms and tune is None:
        raise where.error("arms", "distilled needs tune: (the student is trained inside the run "
                          "on the teacher's answers)"
                          + (", not an existing tuned: model" if has_tuned else ""),
                          hint="set tune: {} (--tune), with options if needed")
    return tuple(a for a in ARMS if a in arms)
