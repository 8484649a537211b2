"""Serving open weights, priced in hardware time: cost per request, the monthly bill, its floor.

A self-hosted model has no per-token price: it costs the hours of the
machine it runs on, used or not. So (issue 14)::

    busy seconds per request = tokens in ÷ prefill tokens/s + tokens out ÷ decode tokens/s
    cost per request         = busy seconds / 3600 × $/hour ÷ utilization
    monthly                  = max(min_instances × 730 h × $/hour, volume × cost per request)

``utilization`` is the share of an instance's hours that does useful work
(traffic is uneven; a server sized for the peak idles off-peak). The floor
is what keeping ``min_instances`` up costs whether or not a request comes;
``max_instances`` caps the capacity, and a volume above it is said, not
silently priced. Throughput comes from a ``bench-serve`` measurement of the
same model on that hardware when there is one (:mod:`ftdecide.pricing._benchstore`),
else from the dated table's estimate rule (:mod:`ftdecide.pricing._hardware`);
every result says which (``throughput_source``).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ftdecide.errors import UsageError
from ftdecide.pricing import _hardware as hardware
from ftdecide.pricing._costs import HOURS_PER_MONTH

SERVING_KEYS = ("hardware", "utilization", "min_instances", "max_instances", "usd_per_hour",
                "parameters")
DEFAULT_UTILIZATION = 0.5
#: providers whose models run on hardware the user pays for by the hour
SELF_HOSTED_PROVIDERS = ("hf", "autotrain")
UNPRICED_SELF_HOSTED = ("unpriced: self-hosted; add serving: {hardware: ...} (e.g. L4) to price "
                        "it in hardware time")


def is_self_hosted(provider_name: str, provider: Any = None) -> bool:
    """Whether a provider's models run on the user's own hardware (the hf plugin, AutoTrain)."""
    flag = getattr(provider, "self_hosted", None)
    return bool(flag) if isinstance(flag, bool) else provider_name in SELF_HOSTED_PROVIDERS


def check_serving(value: Any, *, key: str = "serving",
                  at: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A ``serving:`` mapping, checked and defaulted; errors name ``key`` and the field."""
    at = dict(at or {"key": key})

    def bad(field: str, message: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{key}.{field}: {message}", **{**at, "key": f"{key}.{field}"}, hint=hint)

    if not isinstance(value, Mapping):
        raise UsageError(f"{key}: expected a mapping such as {{hardware: L4, utilization: 0.5}}, "
                         f"got {value!r}", **at)
    for k in value:
        if str(k) not in SERVING_KEYS:
            raise bad(str(k), "unknown serving key", hint=f"known: {', '.join(SERVING_KEYS)}")
    name = value.get("hardware")
    if not isinstance(name, str) or not name.strip():
        raise bad("hardware", f"expected a hardware class, got {name!r}",
                  hint=f"one of {', '.join(hardware.hardware_names())}, or a name you measured "
                       "with `ftdecide bench-serve --as NAME`")
    spec: dict[str, Any] = {"hardware": name.strip(), "utilization": DEFAULT_UTILIZATION,
                            "min_instances": 1, "max_instances": None}
    util = value.get("utilization", DEFAULT_UTILIZATION)
    if isinstance(util, bool) or not isinstance(util, (int, float)) or not 0 < util <= 1:
        raise bad("utilization", f"must be a number above 0 and at most 1, got {util!r}",
                  hint="the share of the hours an instance does useful work, e.g. 0.5")
    spec["utilization"] = float(util)
    for field, low in (("min_instances", 0), ("max_instances", 1), ("parameters", 1)):
        v = value.get(field, spec.get(field))
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise bad(field, f"must be a whole number of at least {low}, got {v!r}")
        spec[field] = v
    if spec["max_instances"] is not None and spec["max_instances"] < spec["min_instances"]:
        raise bad("max_instances", f"{spec['max_instances']} is below min_instances "
                  f"{spec['min_instances']}")
    rate = value.get("usd_per_hour")
    if rate is not None:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
            raise bad("usd_per_hour", f"must be a positive number of dollars, got {rate!r}")
        spec["usd_per_hour"] = float(rate)
    _hourly_rate(spec, key=key, at=at)  # an unknown class or a free one is refused now
    return spec


def _hourly_rate(spec: Mapping[str, Any], *, key: str = "serving",
                 at: Mapping[str, Any] | None = None) -> tuple[float, str, str | None, str]:
    """($/hour, class name, as_of, source) of a spec: its own rate, a measured row's, or the table's."""
    from ftdecide.pricing import _benchstore as benchstore

    table = hardware.load_table()
    name = spec["hardware"]
    row = hardware.entry(name, table)
    measured = benchstore.rows_for(name)
    if spec.get("usd_per_hour") is not None:
        return (float(spec["usd_per_hour"]), (row or {}).get("name", name), None,
                f"{key}.usd_per_hour in the config")
    if row is not None and row.get("usd_per_hour"):
        return (float(row["usd_per_hour"]), row.get("name", name),
                str(row.get("as_of") or table.get("as_of")), str(row.get("source") or table.get("source")))
    for m in measured:
        if m.get("usd_per_hour"):
            return (float(m["usd_per_hour"]), name, m.get("measured_at"),
                    f"given to `ftdecide bench-serve --as {name}`")
    where = {**(at or {}), "key": f"{key}.hardware"}
    if row is None and not measured:
        raise UsageError(f"{key}.hardware: unknown hardware {name!r}", **where,
                         hint=f"one of {', '.join(hardware.hardware_names(table))}, a class you add "
                              f"to {hardware.user_file()}, or a name measured with "
                              "`ftdecide bench-serve --as NAME --usd-per-hour X`")
    raise UsageError(f"{key}.hardware: {name} has no hourly rate (serving it is not free: the "
                     "machine costs something)", **where,
                     hint=f"set {key}.usd_per_hour, or usd_per_hour for {name} in "
                          f"{hardware.user_file()}")


def throughput_for(spec: Mapping[str, Any], *, model: str,
                   parameters: int | None) -> dict[str, Any] | None:
    """Prefill/decode tokens/s for ``model`` on the spec's hardware, measured if possible.

    None when nothing is measured and the model's size is unknown (the table's
    estimate scales with parameters).
    """
    from ftdecide.pricing import _benchstore as benchstore

    row = benchstore.lookup(spec["hardware"], model)
    if row is not None:
        return {"prefill": float(row["prefill_tokens_per_s"]),
                "decode": float(row["decode_tokens_per_s"]),
                "source": "measured",
                "label": f"measured (bench-serve, {str(row.get('measured_at'))[:10]})",
                "detail": str(row.get("method") or "")
                + (f"; concurrency {row['concurrency']}" if row.get("concurrency") else "")
                + (f"; {row['prompts']}" if row.get("prompts") else ""),
                "as_of": row.get("measured_at")}
    parameters = spec.get("parameters") or parameters
    if not parameters:
        return None
    table = hardware.load_table()
    hw = hardware.entry(spec["hardware"], table)
    if hw is None:
        return None
    found = hardware.serving_estimate(hw, parameters=int(parameters), table=table)
    if found is None:
        return None
    prefill, decode, rule = found
    as_of = str(hw.get("as_of") or table.get("as_of"))
    kind = "measured" if str(hw.get("serving_source") or "").startswith("measured") else "estimate"
    return {"prefill": prefill, "decode": decode, "source": kind,
            "label": f"{kind} (table as_of {as_of})", "detail": rule.removeprefix("estimate: "),
            "as_of": as_of, "parameters": int(parameters)}


def serving_costs(spec: Mapping[str, Any], *, model: str, parameters: int | None,
                  tokens_in: float, tokens_out: float, requests_per_month: int) -> dict[str, Any]:
    """The serving block of an arm: cost per request, instances, the fixed floor, the monthly bill.

    ``cost_per_request_usd`` is None (with ``unpriced_reason``) when no
    throughput is known for the model on that hardware.
    """
    rate, name, rate_as_of, rate_source = _hourly_rate(spec)
    util = float(spec.get("utilization") or DEFAULT_UTILIZATION)
    min_n, max_n = int(spec.get("min_instances", 1)), spec.get("max_instances")
    fixed = min_n * HOURS_PER_MONTH * rate
    out: dict[str, Any] = {
        "hardware": name, "usd_per_hour": rate, "rate_as_of": rate_as_of, "rate_source": rate_source,
        "utilization": util, "min_instances": min_n, "max_instances": max_n,
        "fixed_monthly_usd": fixed, "kind": "self-hosted hardware time",
        "throughput_source": None, "tokens_per_s": None, "cost_per_request_usd": None,
        "instances": None, "monthly_usd": None, "over_capacity": False,
        "requests_per_month_per_instance": None, "floor_requests_per_month": None,
    }
    tp = throughput_for(spec, model=model, parameters=parameters)
    if tp is None:
        out["unpriced_reason"] = (f"unpriced: no throughput for {model} on {name} (its size is "
                                  "unknown); measure it with `ftdecide bench-serve --model "
                                  f"{model} --as {name}`, or set serving.parameters")
        return out
    busy_s = tokens_in / tp["prefill"] + tokens_out / tp["decode"]
    cpr = busy_s / 3600 * rate / util
    out.update(throughput_source=tp["label"], throughput_detail=tp["detail"],
               throughput_kind=tp["source"],
               tokens_per_s={"prefill": tp["prefill"], "decode": tp["decode"]},
               busy_seconds_per_request=busy_s, cost_per_request_usd=cpr)
    per_instance = HOURS_PER_MONTH * 3600 * util / busy_s if busy_s > 0 else math.inf
    out["requests_per_month_per_instance"] = per_instance
    out.update(monthly_at(out, requests_per_month))
    out["floor_requests_per_month"] = (math.ceil(fixed / cpr) if cpr > 0 and fixed > 0 else 0)
    return out


def monthly_at(serving: Mapping[str, Any], volume: float) -> dict[str, Any]:
    """Instances and the monthly bill of a priced serving block at ``volume`` requests/month."""
    cpr = serving["cost_per_request_usd"]
    per_instance = serving["requests_per_month_per_instance"]
    min_n, max_n = serving["min_instances"], serving["max_instances"]
    needed = max(min_n, math.ceil(volume / per_instance) if per_instance and volume else 0)
    over = max_n is not None and needed > max_n
    monthly = max(serving["fixed_monthly_usd"], volume * cpr)
    return {"instances": min(needed, max_n) if max_n is not None else needed,
            "instances_needed": needed, "monthly_usd": monthly, "over_capacity": over,
            "capacity_requests_per_month": None if max_n is None else
            math.floor(max_n * per_instance)}
