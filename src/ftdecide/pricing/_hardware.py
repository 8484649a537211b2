"""The dated hardware table: what an hour of each GPU class costs, and how fast it trains and serves.

Open weights are priced in hardware time, for training (the hf plugin's
estimate) and for serving (:mod:`ftdecide.pricing._serving`), so both read
one table: ``hardware.yaml`` beside this module, with ``as_of`` and
``source``, merged class by class with the user's
``<config dir>/hardware.yaml`` (same schema; a user value replaces the
bundled one, new classes are added). It lives in the core because a
self-hosted model may be served by any provider (the hf plugin in process,
or a vLLM/llama.cpp server behind the openai plugin).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

from ftdecide import paths
from ftdecide.errors import UsageError

TABLE_FILE = Path(__file__).with_name("hardware.yaml")
USER_FILE_NAME = "hardware.yaml"
CPU_LOCAL = "cpu_local"

NUMBER_FIELDS = ("usd_per_hour", "usd_per_hour_low", "usd_per_hour_high", "peak_tflops", "mfu",
                 "tokens_per_s", "memory_gb", "memory_bandwidth_gbps", "serving_peak_tflops", "prefill_tokens_per_s",
                 "decode_tokens_per_s")


def user_file() -> Path:
    """Where the user's overrides live: ``<config dir>/hardware.yaml``."""
    return paths.config_dir() / USER_FILE_NAME


def load_table(*, user: bool = True) -> dict[str, Any]:
    """The bundled table merged with the user's overrides (class by class, field by field).

    Raises UsageError when the user's file is not valid YAML or has a wrong
    value, naming the file.
    """
    table = _read_yaml(TABLE_FILE)
    if user:
        path = user_file()
        if path.is_file():
            table = _merge(table, _read_yaml(path), path)
    return table


def hardware_names(table: Mapping[str, Any] | None = None) -> list[str]:
    """The classes of the table, then ``cpu_local``."""
    table = table if table is not None else load_table()
    return [*(table.get("hardware") or {}), CPU_LOCAL]


def entry(name: str, table: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """One class of the table by name (case-insensitive); None when it has none."""
    table = table if table is not None else load_table()
    if name == CPU_LOCAL:
        return dict(table.get(CPU_LOCAL) or {})
    for key, value in (table.get("hardware") or {}).items():
        if key.lower() == name.lower():
            return {"name": key, **dict(value)}
    return None


def serving_estimate(hw: Mapping[str, Any], *, parameters: int,
                     table: Mapping[str, Any]) -> tuple[float, float, str] | None:
    """Prefill and decode tokens/s of one class for a model of ``parameters``, and the rule.

    A recorded ``prefill_tokens_per_s``/``decode_tokens_per_s`` (for the
    table's ``reference_parameters``, scaled as reference / parameters) wins;
    else the rule in the YAML's header:

    - prefill (compute-bound): ``peak_tflops × 1e12 × serving_mfu / (2 × parameters)``
    - decode (memory-bound, batched): ``min(decode_batch × bandwidth / (bytes × parameters),
      the prefill rate)``

    None when the class has neither figures nor the datasheet numbers the rule needs.
    """
    reference = float(table.get("reference_parameters") or parameters)
    if hw.get("prefill_tokens_per_s") and hw.get("decode_tokens_per_s"):
        scale = reference / parameters
        source = str(hw.get("serving_source") or "recorded in hardware.yaml")
        return (float(hw["prefill_tokens_per_s"]) * scale, float(hw["decode_tokens_per_s"]) * scale,
                source + ("" if parameters == reference else
                          f"; scaled × {reference:.4g}/{parameters:.4g} parameters"))
    peak = hw.get("serving_peak_tflops") or hw.get("peak_tflops")
    bandwidth = hw.get("memory_bandwidth_gbps")
    if not peak or not bandwidth:
        return None
    mfu = float(hw.get("serving_mfu", table.get("serving_mfu", 0.3)))
    batch = float(hw.get("decode_batch", table.get("decode_batch", 16)))
    width = float(hw.get("bytes_per_parameter", table.get("bytes_per_parameter", 2)))
    prefill = float(peak) * 1e12 * mfu / (2 * parameters)
    decode = min(batch * float(bandwidth) * 1e9 / (width * parameters), prefill)
    rule = (f"estimate: prefill = {peak:g} TFLOPS × MFU {mfu:g} / (2 × parameters); decode = "
            f"{batch:g} sequences × {bandwidth:g} GB/s / ({width:g} bytes × parameters)")
    return prefill, decode, rule


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path} must be a mapping (as_of, source, hardware: {{...}}, cpu_local: {{...}})")
    return data


def _check_entry(name: str, entry: Any, path: Path) -> None:
    if not isinstance(entry, dict):
        raise UsageError(f"{path}: hardware {name!r} must be a mapping of fields")
    for key in NUMBER_FIELDS:
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
            raise UsageError(f"{path}: {name}.{key} must be a non-negative number, got {value!r}")
    for key in ("tokens_per_s", "prefill_tokens_per_s", "decode_tokens_per_s"):
        if entry.get(key) == 0:
            raise UsageError(f"{path}: {name}.{key} must be above 0")


def _merge_entry(merged: dict[str, Any], entry: Mapping[str, Any], path: Path) -> dict[str, Any]:
    if "tokens_per_s" in entry and "throughput_source" not in entry:
        merged["throughput_source"] = f"user override in {path}"
    if ("prefill_tokens_per_s" in entry or "decode_tokens_per_s" in entry) \
            and "serving_source" not in entry:
        merged["serving_source"] = f"user override in {path}"
    if "usd_per_hour" in entry:
        # a single new rate replaces the bundled range unless the range is given too
        merged.pop("usd_per_hour_low", None)
        merged.pop("usd_per_hour_high", None)
    merged.update(entry)
    return merged


def _merge(base: dict[str, Any], override: Mapping[str, Any], path: Path) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key == "hardware":
            if not isinstance(value, dict):
                raise UsageError(f"{path}: hardware must be a mapping of class name to fields")
            classes = out.setdefault("hardware", {})
            for name, entry_ in value.items():
                _check_entry(str(name), entry_, path)
                classes[name] = _merge_entry(dict(classes.get(name) or {}), entry_, path)
        elif key == CPU_LOCAL:
            _check_entry(CPU_LOCAL, value, path)
            out[CPU_LOCAL] = _merge_entry(dict(out.get(CPU_LOCAL) or {}), value, path)
        else:
            out[key] = value
    return out
