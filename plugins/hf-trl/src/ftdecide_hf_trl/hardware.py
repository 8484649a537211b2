"""What fine-tuning open weights costs: hardware hours × an hourly rate, not tokens.

The table (the core's ``ftdecide/pricing/hardware.yaml``, which serving costs
read too, overridable by the user's ``<config dir>/hardware.yaml`` with the same schema) holds, per GPU class, the
on-demand USD per GPU-hour with ``as_of``/``source`` and a LoRA training
throughput for a ~135M-parameter model, each with where it comes from: a
measurement, or an estimate from a stated rule (see the YAML's header).

:func:`estimate_training` turns ``ftdecide validate`` statistics into
training tokens, hours and dollars per class; :func:`actual_cost` prices a
finished run from its wall time and the hardware it ran on.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path
from typing import Any, Mapping

import ftdecide
from ftdecide import paths
from ftdecide.errors import UsageError

from .hyperparameters import resolve_hyperparameters

USER_FILE_NAME = "hardware.yaml"
CPU_LOCAL = "cpu_local"


def user_file() -> Path:
    """Where the user's overrides live: ``<config dir>/hardware.yaml``."""
    return paths.config_dir() / USER_FILE_NAME


def load_table(*, user: bool = True) -> dict[str, Any]:
    """The core's dated hardware table (:func:`ftdecide.load_hardware_table`): training and
    serving read one table, merged class by class with the user's overrides."""
    return ftdecide.load_hardware_table(user=user)


def throughput(entry: Mapping[str, Any], *, parameters: int, table: Mapping[str, Any]) -> tuple[float, str]:
    """Training tokens/s of one hardware entry for a model of ``parameters``, and its source.

    A recorded ``tokens_per_s`` (measured) wins; else the estimate rule
    ``peak_tflops × 1e12 × mfu / (6 × reference_parameters)``. Both are
    for ``reference_parameters`` and scale as reference_parameters / parameters.
    """
    if parameters <= 0:
        raise UsageError(f"parameters must be positive, got {parameters!r}")
    reference = float(table.get("reference_parameters") or parameters)
    scale = reference / parameters
    measured = entry.get("tokens_per_s")
    if measured is not None:
        source = entry.get("throughput_source") or "recorded in hardware.yaml"
        return float(measured) * scale, _scaled(source, reference, parameters)
    peak = entry.get("peak_tflops")
    if peak is None:
        raise UsageError("a hardware entry needs tokens_per_s or peak_tflops")
    mfu = float(entry.get("mfu", table.get("default_mfu", 0.05)))
    tokens = float(peak) * 1e12 * mfu / (6 * reference)
    source = (f"estimate: peak {entry.get('precision', 'bf16')} {peak:g} TFLOPS × MFU {mfu:g} "
              f"/ (6 × {reference:.4g} parameters)")
    return tokens * scale, _scaled(source, reference, parameters)


def estimate_training(*, parameters: int, stats: Mapping[str, Any],
                      hyperparameters: Mapping[str, Any],
                      options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """GPU hours and dollars to fine-tune a model of ``parameters`` on data with ``stats``.

    ``stats``: ``ftdecide.data.validate(...).stats`` (optionally with
    ``examples``). Tokens per epoch are ``stats["model_tokens_total"]`` when
    present (the model's own tokenizer), else the core's ``tokens_total``,
    a tiktoken count that only approximates the model's tokens (``tokens_source``
    says which). ``hyperparameters``/``options``: what the user set (epochs,
    batch_size, learning_rate, lora_layers; max_steps, time_budget).

    One schedule (:func:`ftdecide_hf_trl.schedule.plan`: epochs, steps,
    examples seen) for every row: the data decides what is trained, the
    hardware only how long it takes. Returns (stable keys)::

        {"parameters", "examples", "tokens_per_epoch", "tokens_source", "as_of", "source",
         "schedule": {...},             # schedule.plan(...) + learning_rate, lora_layers
         "hardware": [row, ...],        # one per GPU class, table order
         "cpu_local": row,
         "time_budget": {...},          # only with -o time_budget: schedule.fit_time_budget(...)
         "warnings": [...]}             # what the core shows before starting
        row = {"hardware", "epochs", "steps", "examples_seen", "training_tokens", "tokens_per_s",
               "hours", "usd_per_hour", "usd_per_hour_low", "usd_per_hour_high",
               "cost_usd", "cost_usd_low", "cost_usd_high", "as_of", "source", "throughput_source"}

    ``hours = training_tokens / tokens_per_s / 3600``, ``cost_usd = hours × usd_per_hour``
    (one GPU); the local CPU costs 0. The rows price the schedule as given:
    a time-budget trade is in ``time_budget`` (and its warning), not in the rows.
    """
    from . import schedule as sched_rules

    if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters <= 0:
        raise UsageError(f"parameters must be a positive whole number, got {parameters!r}")
    options = dict(options or {})
    table = load_table()
    tokens_per_epoch, tokens_source = _tokens_per_epoch(stats)
    examples = _examples(stats)
    hp = resolve_hyperparameters(_user_hyperparameters(hyperparameters))
    max_steps = options.get("max_steps")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                  or max_steps < 1):
        raise UsageError(f"max_steps must be a whole number >= 1, got {max_steps!r}")
    # statistics without a count of examples (not validate's): guess 100 tokens an example
    n = examples if examples else max(1, round(tokens_per_epoch / 100))
    plan = sched_rules.plan(n, batch_size=hp["batch_size"],
                            gradient_accumulation_steps=hp["gradient_accumulation_steps"],
                            epochs=hp["epochs"], max_steps=max_steps)
    plan["learning_rate"] = hp["learning_rate"] or sched_rules.learning_rate_for(parameters)
    plan["learning_rate_source"] = "given" if hp["learning_rate"] else "model size"
    plan["lora_layers"] = hp["lora_layers"]
    tokens = int(math.ceil(tokens_per_epoch * plan["examples_seen"] / n))
    speedup = sched_rules.TOP_HALF_SPEEDUP if hp["lora_layers"] == "top_half" else 1.0
    as_of = _iso(table.get("as_of"))
    price_source = str(table.get("source", ""))

    def row(name: str, entry: Mapping[str, Any], device: str) -> dict[str, Any]:
        tps, tsource = throughput(entry, parameters=parameters, table=table)
        tps *= speedup
        hours = tokens / tps / 3600
        rate = float(entry.get("usd_per_hour") or 0.0)
        low = float(entry.get("usd_per_hour_low", rate))
        high = float(entry.get("usd_per_hour_high", rate))
        return {
            "hardware": name,
            "epochs": plan["epochs"],
            "steps": plan["steps"],
            "examples_seen": plan["examples_seen"],
            "training_tokens": tokens,
            "tokens_per_s": tps,
            "hours": hours,
            "usd_per_hour": rate,
            "usd_per_hour_low": low,
            "usd_per_hour_high": high,
            "cost_usd": hours * rate,
            "cost_usd_low": hours * low,
            "cost_usd_high": hours * high,
            "as_of": _iso(entry.get("as_of")) or as_of,
            "source": str(entry.get("source") or (price_source if device == "cuda" else
                                                   "local CPU: no hourly charge")),
            "throughput_source": tsource + (f"; × {speedup:g} for LoRA on the top half of the layers"
                                            if speedup != 1.0 else ""),
        }

    rows = [row(name, entry, "cuda") for name, entry in (table.get("hardware") or {}).items()]
    cpu = row(CPU_LOCAL, table.get(CPU_LOCAL) or {"usd_per_hour": 0.0, "tokens_per_s": 140}, "cpu")
    out: dict[str, Any] = {
        "parameters": parameters,
        "examples": examples,
        "tokens_per_epoch": tokens_per_epoch,
        "tokens_source": tokens_source,
        "as_of": as_of,
        "source": price_source,
        "schedule": plan,
        "hardware": rows,
        CPU_LOCAL: cpu,
        "warnings": [],
    }
    budget = sched_rules.time_budget_seconds(options)
    if budget is not None:
        from .devices import _device, _device_name

        device = _device({"device": options["device"]} if options.get("device") else {})
        fit = fit_on_machine(plan, budget_s=budget, tokens_per_step=tokens / max(1, plan["steps"]),
                             parameters=parameters, device_name=_device_name(device),
                             lora_layers=hp["lora_layers"],
                             lora_layers_given="lora_layers" in (hyperparameters or {}))
        if fit.get("message") and fit.get("trade") and tokens_source != "model tokenizer":
            fit["message"] += ("; counted with tiktoken, not the model's tokenizer: the run "
                               "re-checks with the model's own tokens and says so if it cuts more")
        out["time_budget"] = fit
        if fit.get("message"):
            out["warnings"].append(fit["message"])
    return out


def machine_throughput(device_name: str, *, parameters: int,
                       lora_layers: Any = "all") -> tuple[float, str] | None:
    """Training tokens/s of the device ``device_name`` ("cpu: 2 cores", "cuda: NVIDIA H100 ...")
    for a model of ``parameters`` with LoRA on ``lora_layers``, and its hardware class;
    None for a GPU the table does not know.
    """
    from .schedule import TOP_HALF_SPEEDUP

    table = load_table()
    name = classify(device_name, table=table)
    if name is None:
        return None
    entry = (table.get(CPU_LOCAL) or {"tokens_per_s": 140}) if name == CPU_LOCAL \
        else table["hardware"][name]
    tps, _ = throughput(entry, parameters=parameters, table=table)
    return tps * (TOP_HALF_SPEEDUP if lora_layers == "top_half" else 1.0), name


def fit_on_machine(sched: Mapping[str, Any], *, budget_s: float, tokens_per_step: float,
                   parameters: int, device_name: str, lora_layers: Any,
                   lora_layers_given: bool) -> dict[str, Any]:
    """:func:`ftdecide_hf_trl.schedule.fit_time_budget` on the device ``device_name``, at its
    throughput in the table; for a GPU the table does not know, nothing is traded and the
    message says the budget cannot be checked."""
    from .schedule import fit_time_budget

    found = machine_throughput(device_name, parameters=parameters, lora_layers=lora_layers)
    if found is None:
        return {"budget_s": budget_s, "hardware": device_name, "estimated_s": None, "fits": None,
                "trade": {}, "message": (f"time_budget cannot be checked: {device_name} is not in "
                                         "the hardware table (add its tokens_per_s to hardware.yaml); "
                                         "nothing is traded")}
    tokens_per_s, name = found
    return fit_time_budget(dict(sched), budget_s=budget_s, tokens_per_step=tokens_per_step,
                           tokens_per_s=tokens_per_s, lora_layers=lora_layers,
                           lora_layers_given=lora_layers_given, hardware=name)


def _user_hyperparameters(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the user set, as :func:`resolve_hyperparameters` takes it (``n_epochs`` and other
    aliases included; a non-positive epochs is refused here with the estimate's message)."""
    user = {k: v for k, v in dict(given or {}).items() if v is not None and k != "time_budget"}
    epochs = user.get("epochs", user.get("n_epochs"))
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, (int, float))
                               or epochs <= 0):
        raise UsageError(f"epochs must be a positive number, got {epochs!r}")
    return user


def classify(device_name: str, *, table: Mapping[str, Any] | None = None) -> str | None:
    """The hardware class of a device name ("cuda: NVIDIA H100 80GB HBM3" → "H100"); None if unknown.

    A CPU device ("cpu: ...") is ``cpu_local``.
    """
    if device_name.lower().startswith("cpu"):
        return CPU_LOCAL
    table = table if table is not None else load_table()
    for name, entry in (table.get("hardware") or {}).items():
        pattern = entry.get("match") or re.escape(name)
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return name
    return None


def actual_cost(device_name: str, *, wall_s: float, gpus: int = 1) -> dict[str, Any]:
    """What a finished run cost: ``{"hardware", "usd_per_hour", "actual_cost_usd"}``.

    ``usd_per_hour`` is per GPU × ``gpus``; the local CPU is 0 USD; an unknown
    GPU gives ``hardware`` = the device name and None for the money.
    """
    table = load_table()
    name = classify(device_name, table=table)
    if name == CPU_LOCAL:
        return {"hardware": CPU_LOCAL, "usd_per_hour": 0.0, "actual_cost_usd": 0.0}
    if name is None:
        return {"hardware": device_name, "usd_per_hour": None, "actual_cost_usd": None}
    rate = float(table["hardware"][name].get("usd_per_hour") or 0.0) * max(1, gpus)
    return {"hardware": name, "usd_per_hour": rate, "actual_cost_usd": wall_s / 3600 * rate}


# -- helpers -----------------------------------------------------------------------------

def _tokens_per_epoch(stats: Mapping[str, Any]) -> tuple[int, str]:
    if stats.get("model_tokens_total") is not None:
        return int(stats["model_tokens_total"]), "model tokenizer"
    if stats.get("tokens_total") is not None:
        return int(stats["tokens_total"]), "tiktoken count (an approximation of the model's own tokens)"
    dist = stats.get("tokens_per_example") or {}
    examples = _examples(stats)
    if dist.get("mean") is not None and examples:
        return int(round(float(dist["mean"]) * examples)), \
            "tiktoken mean × examples (an approximation of the model's own tokens)"
    raise UsageError("the data statistics have no token counts (tokens_total or tokens_per_example)")


def _examples(stats: Mapping[str, Any]) -> int | None:
    if stats.get("examples") is not None:
        return int(stats["examples"])
    if stats.get("records") is not None:
        return int(stats["records"]) - int(stats.get("invalid_records") or 0)
    return None


def _scaled(source: str, reference: float, parameters: int) -> str:
    if parameters == reference:
        return source
    return f"{source}; scaled × {reference:.4g}/{parameters:.4g} parameters"


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    return str(value)


__all__ = ["actual_cost", "classify", "estimate_training", "fit_on_machine", "load_table",
           "machine_throughput", "throughput",
           "user_file"]
