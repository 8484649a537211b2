"""Injected failures: the rules that ``fail_next``, ``delay_next`` and ``drop_next`` queue.

``_Rule`` is one injected behaviour (fail, delay or drop) for the next
request that matches a method and a route pattern; ``_DEFAULT_FAILURES`` is
the OpenAI-shaped body and headers :meth:`OpenAICompatibleServer.fail_next
<ftdecide.testing.OpenAICompatibleServer.fail_next>` answers a status with
unless told otherwise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ftdecide.testing._protocol import Reply, _compile, error_body

_DEFAULT_FAILURES: dict[int, tuple[dict[str, Any], dict[str, str]]] = {
    400: (error_body("Bad request."), {}),
    401: (error_body("Incorrect API key provided.", code="invalid_api_key"), {}),
    403: (error_body(
        "This organization can no longer create fine-tuning jobs.",
        code="training_not_available",
    ), {}),
    404: (error_body("The model does not exist.", code="model_not_found"), {}),
    429: (error_body("Rate limit reached for requests.", type="requests",
                     code="rate_limit_exceeded"), {"Retry-After": "1"}),
    500: (error_body("The server had an error while processing your request.",
                     type="server_error"), {}),
    503: (error_body("The engine is currently overloaded.", type="server_error"), {}),
}


@dataclass
class _Rule:
    """One injected behaviour for the next matching request."""

    kind: str  # "fail", "delay", "drop"
    method: str | None
    path: "re.Pattern[str] | None"
    reply: Reply | None = None
    seconds: float = 0.0
    handled: bool = False

    def matches(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method == method)
                and (self.path is None or self.path.match(path) is not None))


def _path_rule(path: str | None) -> "re.Pattern[str] | None":
    return None if path is None else _compile(path)
