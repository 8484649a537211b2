"""Backends and what an hour of each costs: the catalog behind the cost of an AutoTrain run.

AutoTrain trains ``local`` (this machine), on a Hugging Face Space
(``spaces-*``) or on an Inference Endpoint (``ep-*``); the names are
AutoTrain's own (``AVAILABLE_HARDWARE`` in ``src/autotrain/backends/base.py``,
autotrain-advanced 0.8.36). ``hardware.yaml`` beside this module gives each
one's hardware, GPU count, hourly rate (with ``as_of`` and ``source``) and a
throughput figure, so the cost is hardware-hours × rate: estimated before a
run from the training tokens, measured after a local one from its wall time.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from pathlib import Path
from typing import Any, Mapping

import ftdecide

CATALOG = Path(__file__).with_name("hardware.yaml")
LOCAL = "local"
#: Prefixes of the remote backends ftdecide prepares (Spaces and Inference Endpoints).
REMOTE_PREFIXES = ("spaces-", "ep-")


@functools.lru_cache(maxsize=1)
def load_catalog() -> dict[str, Any]:
    """``hardware.yaml`` as ``{"as_of", "reference_parameters", "default_mfu", "backends"}``.

    Every entry carries ``hardware``, ``gpus``, ``usd_per_hour``, ``as_of``
    and ``source``; ``local`` is one of them.
    """
    import yaml

    raw = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    as_of = raw["as_of"]
    as_of = as_of.isoformat() if isinstance(as_of, _dt.date) else str(as_of)
    backends: dict[str, dict[str, Any]] = {
        LOCAL: {**raw[LOCAL], "as_of": as_of},
    }
    for group in ("spaces", "endpoints"):
        section = raw[group]
        for name, entry in section["backends"].items():
            backends[name] = {**entry, "source": section["source"], "as_of": as_of}
    return {"as_of": as_of, "reference_parameters": int(raw["reference_parameters"]),
            "default_mfu": float(raw["default_mfu"]), "backends": backends}


def backend_names() -> list[str]:
    return list(load_catalog()["backends"])


def is_remote(backend: str) -> bool:
    return backend.startswith(REMOTE_PREFIXES)


def entry(backend: str) -> dict[str, Any]:
    """The catalog entry of ``backend``; a UsageError naming the choices if unknown."""
    backends = load_catalog()["backends"]
    if backend not in backends:
        spaces = sorted(b for b in backends if b.startswith("spaces-"))
        eps = sorted(b for b in backends if b.startswith("ep-"))
        raise ftdecide.UsageError(
            f"unknown AutoTrain backend {backend!r}",
            hint=f"use local, one of {', '.join(spaces)}, or one of {', '.join(eps)}")
    return dict(backends[backend])


def tokens_per_s(backend: str, parameters: int) -> tuple[float, str]:
    """Training tokens/s on ``backend`` for a model of ``parameters``, and how it was got."""
    catalog = load_catalog()
    e = entry(backend)
    reference = catalog["reference_parameters"]
    if e.get("tokens_per_s") is not None:
        tps = float(e["tokens_per_s"]) * reference / parameters
        source = e.get("throughput_source") or (
            f"estimate: {e['tokens_per_s']} tokens/s for {reference:,} parameters, scaled")
        return tps, source
    gpus = int(e.get("gpus") or 1)
    mfu = float(e.get("mfu", catalog["default_mfu"]))
    tps = gpus * float(e["peak_tflops"]) * 1e12 * mfu / (6 * parameters)
    return tps, (f"estimate: {gpus} × peak {e['peak_tflops']:g} TFLOPS × MFU {mfu:g} / "
                 f"(6 × {parameters:,} parameters)")


def estimate(backend: str, *, parameters: int, tokens_per_epoch: int, epochs: float,
             tokens_source: str) -> dict[str, Any]:
    """The hardware estimate for one run, in the shape ``ftdecide tune`` renders (stable keys).

    ``{"parameters", "tokens_per_epoch", "tokens_source", "as_of", "source", "backend",
    "hardware": [row]}`` with ``row = {"hardware", "backend", "gpus", "epochs",
    "training_tokens", "tokens_per_s", "hours", "usd_per_hour", "cost_usd", "as_of",
    "source", "throughput_source"}``.
    """
    if parameters <= 0:
        raise ftdecide.UsageError(f"parameters must be positive, got {parameters!r}")
    e = entry(backend)
    tokens = int(math.ceil(tokens_per_epoch * epochs))
    tps, tsource = tokens_per_s(backend, parameters)
    hours = tokens / tps / 3600
    rate = float(e["usd_per_hour"])
    row = {
        "hardware": f"{backend}: {e['hardware']}",
        "backend": backend,
        "gpus": int(e.get("gpus") or 0),
        "epochs": epochs,
        "training_tokens": tokens,
        "tokens_per_s": tps,
        "hours": hours,
        "usd_per_hour": rate,
        "cost_usd": hours * rate,
        "as_of": e["as_of"],
        "source": e["source"],
        "throughput_source": tsource,
    }
    return {"parameters": parameters, "tokens_per_epoch": tokens_per_epoch,
            "tokens_source": tokens_source, "as_of": e["as_of"], "source": e["source"],
            "backend": backend, "hardware": [row]}


def actual_cost(backend: str, *, wall_s: float) -> dict[str, Any]:
    """What a run of ``wall_s`` seconds on ``backend`` cost: hours × the catalog's rate."""
    e = entry(backend)
    hours = max(0.0, wall_s) / 3600
    rate = float(e["usd_per_hour"])
    return {"backend": backend, "hardware": e["hardware"], "hardware_hours": hours,
            "usd_per_hour": rate, "actual_cost_usd": hours * rate, "price_as_of": e["as_of"],
            "price_source": e["source"]}


def describe_rate(backend: str) -> str:
    """One line for people: the backend, its hardware and its hourly rate with the date."""
    e = entry(backend)
    return (f"{backend} ({e['hardware']}) bills ${float(e['usd_per_hour']):.2f}/hour "
            f"(as of {e['as_of']}; {e['source']})")


def count_parameters(folder: Path) -> int | None:
    """Parameters in a model folder's safetensors files, read from their headers (nothing loaded).

    ``None`` when the folder has no readable safetensors weights.
    """
    import json
    import struct

    files = sorted(p for p in folder.glob("*.safetensors") if not p.name.startswith("adapter_"))
    total = 0
    try:
        for f in files:
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n > 100_000_000:
                    return None
                header: Mapping[str, Any] = json.loads(fh.read(n))
            for name, meta in header.items():
                if name == "__metadata__":
                    continue
                count = 1
                for d in meta["shape"]:
                    count *= int(d)
                total += count
    except (OSError, ValueError, KeyError, struct.error):
        return None
    return total or None
