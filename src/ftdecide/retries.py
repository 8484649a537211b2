"""Reading a server's request to wait: ``Retry-After`` and ``retry-after-ms``.

Every provider that talks HTTP meets 429s and 503s, and the polite answer is
to wait what the server asked rather than a guess. The header comes in three
spellings (milliseconds, seconds, an HTTP date), and each plugin reading it
by itself drifted; this is the one reading, public so plugins use it.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

__all__ = ["retry_after_seconds"]


def retry_after_seconds(headers: Mapping[str, Any] | None, *, cap: float) -> float | None:
    """Seconds the server asked to wait (at most ``cap``), or None when it asked nothing usable.

    ``retry-after-ms`` wins over ``retry-after``; a date in the past is not a request to wait
    (None: the caller's own back-off applies).
    """
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except (TypeError, ValueError):
            import email.utils

            when = email.utils.parsedate_tz(str(value))
            if when is None:
                continue
            seconds = email.utils.mktime_tz(when) - time.time()
        if seconds >= 0:
            return min(seconds, cap)
    return None
