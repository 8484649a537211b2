"""Hosting that bills by the hour (Azure deployments): each period's hours and accrued cost.

Kept apart from job orchestration because it is pure arithmetic over the
store's deployment rows, used by every job summary.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

#: Azure deletes a Developer-tier deployment after this many hours.
DEVELOPER_TIER_HOURS = 24.0


def hosting(deployments: list[dict[str, Any]], now: _dt.datetime | None = None
            ) -> tuple[list[dict[str, Any]], float | None]:
    """Each deployment period with its hours and accrued cost, and the total.

    A live deployment accrues until ``now``; a Developer-tier one is deleted by
    Azure after 24 hours (and has no hosting fee). The total is ``None`` when a
    period's hourly price is unknown.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    rows, total = [], 0.0
    unknown = False
    for d in deployments:
        start = _dt.datetime.fromisoformat(d["deployed_at"])
        end = _dt.datetime.fromisoformat(d["undeployed_at"]) if d["undeployed_at"] else now
        live = d["undeployed_at"] is None
        expires = None
        if d.get("tier") == "developer":
            expires = start + _dt.timedelta(hours=DEVELOPER_TIER_HOURS)
            if end > expires:
                end, live = expires, False
        hours = max(0.0, (end - start).total_seconds() / 3600)
        rate = d.get("hosting_per_hour")
        cost = None if rate is None else hours * rate
        if cost is None:
            unknown = True
        else:
            total += cost
        rows.append({"name": d["name"], "tier": d.get("tier"), "deployed_at": d["deployed_at"],
                     "undeployed_at": d["undeployed_at"], "live": live,
                     "expires_at": expires.isoformat(timespec="seconds") if expires else None,
                     "hosting_per_hour": rate, "hours": hours, "hosting_cost_usd": cost,
                     "note": (d.get("details") or {}).get("ended")})
    return rows, (None if unknown else total)
