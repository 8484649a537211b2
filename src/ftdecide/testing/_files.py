"""The files routes: upload (multipart), list, get, delete and download.

Uploaded files live in :attr:`OpenAICompatibleServer.files
<ftdecide.testing.OpenAICompatibleServer.files>`;
:meth:`~ftdecide.testing.OpenAICompatibleServer.add_file` stores one. A
``fine-tune`` or ``batch`` upload must be a ``.jsonl`` file of JSON lines,
and Azure refuses one that starts with a byte order mark.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from ftdecide.testing._protocol import (
    Handler,
    RecordedRequest,
    Reply,
    _ClientError,
    _flavor,
    _page,
    _public,
)

if TYPE_CHECKING:
    from ftdecide.testing._server import OpenAICompatibleServer

FILE_PURPOSES = ("fine-tune", "batch", "assistants", "vision", "user_data", "evals")


def _create_file(server: OpenAICompatibleServer, request: RecordedRequest,
                 match: "re.Match[str]") -> Any:
    form = request.form or {}
    purpose = form.get("purpose")
    if purpose not in FILE_PURPOSES:
        raise _ClientError(f"purpose must be one of {', '.join(FILE_PURPOSES)}", "purpose")
    described = form.get("file")
    content = getattr(request, "_uploads", {}).get("file")
    if not isinstance(described, dict) or content is None:
        raise _ClientError("a file is required", "file")
    if purpose in ("fine-tune", "batch"):
        if not described["filename"].endswith(".jsonl"):
            raise _ClientError("Invalid file format: the file name must end in .jsonl", "file")
        if _flavor(request) == "azure" and content.startswith(b"\xef\xbb\xbf"):
            raise _ClientError("Invalid file: the file starts with a UTF-8 byte order mark "
                               "(BOM), which is not supported", "file", code="invalidFile")
        _check_jsonl(content)
    return server.add_file(content, filename=described["filename"], purpose=purpose)


def _check_jsonl(content: bytes) -> None:
    text = content.decode("utf-8-sig" if content.startswith(b"\xef\xbb\xbf") else "utf-8")
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                raise _ClientError(f"Invalid file format: line {n} is not valid JSON",
                                   "file") from None


def _the_file(server: OpenAICompatibleServer, file_id: str) -> dict[str, Any]:
    found = server.files.get(file_id)
    if found is None:
        raise _ClientError(f"No such File object: {file_id}", "id", status=404)
    return found


def _list_files(server: OpenAICompatibleServer, request: RecordedRequest,
                match: "re.Match[str]") -> Any:
    files = [_public(f) for f in server.files.values()
             if not request.query.get("purpose") or f["purpose"] == request.query["purpose"]]
    files.sort(key=lambda f: (f["created_at"], f["id"]),
               reverse=request.query.get("order", "desc") != "asc")
    return _page(files, request.query, default_limit=10_000)


def _get_file(server: OpenAICompatibleServer, request: RecordedRequest,
              match: "re.Match[str]") -> Any:
    return _public(_the_file(server, match.group("file_id")))


def _delete_file(server: OpenAICompatibleServer, request: RecordedRequest,
                 match: "re.Match[str]") -> Any:
    file_id = match.group("file_id")
    _the_file(server, file_id)
    del server.files[file_id]
    return {"id": file_id, "object": "file", "deleted": True}


def _file_content(server: OpenAICompatibleServer, request: RecordedRequest,
                  match: "re.Match[str]") -> Reply:
    found = _the_file(server, match.group("file_id"))
    return Reply(200, found["content"], content_type="application/octet-stream")


#: Served under every prefix (``/v1``, ``/openai``, ``/openai/v1``).
ROUTES: list[tuple[str, str, Handler]] = [
    ("POST", "/files", _create_file),
    ("GET", "/files", _list_files),
    ("GET", "/files/{file_id}", _get_file),
    ("DELETE", "/files/{file_id}", _delete_file),
    ("GET", "/files/{file_id}/content", _file_content),
]
