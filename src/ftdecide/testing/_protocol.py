"""What the test server and its route handlers share: requests, replies and errors.

:class:`RecordedRequest` (one request as received and recorded),
:class:`Reply` (what a handler answers), the :data:`Handler` signature,
:func:`error_body` (an OpenAI-shaped error) and ``_ClientError`` (a
handler's 4xx), plus the helpers every route module uses: the public view of
a stored object (``_public``), an OpenAI cursor page (``_page``), the API
flavour a request was made in (``_flavor``), route patterns (``_compile``)
and the parser for multipart uploads (``_parse_multipart``). Standard library only; nothing here imports
the server, so every route module and the server can import it.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from ftdecide.testing._server import OpenAICompatibleServer

__all__ = ["Handler", "RecordedRequest", "Reply", "error_body"]


@dataclass
class RecordedRequest:
    """One request the server received.

    ``headers`` has the credential headers (``Authorization``, ``api-key``)
    removed; ``auth`` says which kind was present: ``"bearer"``, ``"api-key"``
    or ``None``, so tests can check how a client authenticated without the
    secret ever being stored. A multipart upload has its fields in ``form``
    (a file field as ``{"filename", "bytes", "sha256"}``; the content is in
    :attr:`OpenAICompatibleServer.files`). ``time`` is ``time.monotonic()``
    on arrival.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    auth: str | None = None
    form: dict[str, Any] | None = None
    time: float = 0.0


@dataclass
class Reply:
    """What a route handler returns: status, a JSON-able body and extra headers.

    A ``bytes`` body is sent as it is, with ``content_type``.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[["OpenAICompatibleServer", RecordedRequest, "re.Match[str]"], "Reply | Any"]


def error_body(message: str, *, type: str = "invalid_request_error",
               code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class _ClientError(Exception):
    def __init__(self, message: str, param: str | None = None, *, status: int = 400,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.status = status
        self.code = code


def _flavor(request: RecordedRequest) -> str:
    return "azure" if request.path.startswith("/openai") else "openai"


def _page(items: list[dict[str, Any]], query: Mapping[str, str], *,
          default_limit: int = 20) -> dict[str, Any]:
    """An OpenAI cursor page of ``items`` (already in order) honouring ``after`` and ``limit``."""
    after = query.get("after")
    if after:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    try:
        limit = max(1, int(query.get("limit") or default_limit))
    except ValueError:
        raise _ClientError("limit must be an integer", "limit") from None
    page = items[:limit]
    return {"object": "list", "data": page, "has_more": len(items) > limit,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None}


def _compile(pattern: str) -> "re.Pattern[str]":
    """``/v1/x/{name}`` → a regex with a named group per ``{placeholder}``."""
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("^" + "".join(out) + "$")


def _public(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The object without the server's private keys (``content``, ``_state``)."""
    return {k: v for k, v in obj.items() if k != "content" and not k.startswith("_")}


def _parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Fields of a ``multipart/form-data`` body: text fields as str, file fields described."""
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                                + raw)
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    form: dict[str, Any] = {}
    uploads: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            form[name] = {"filename": filename, "bytes": len(payload),
                          "sha256": hashlib.sha256(payload).hexdigest()}
            uploads[name] = payload
        else:
            form[name] = payload.decode("utf-8", "replace")
    return form, uploads
