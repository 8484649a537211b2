"""Embeddings: ``POST /embeddings`` with deterministic vectors and counted usage.

A vector is a hashed bag of words (:func:`hashed_embedding`): each lower-cased
word adds one to a coordinate chosen by its SHA-256, and the vector is
L2-normalised as OpenAI's are. Texts that share words are close, texts that
share none are orthogonal, and a test can compute the exact vector (and so the
exact cosine) the server sent. ``usage.prompt_tokens`` counts the inputs'
tokens offline in the server's encoding. An empty string is refused with
OpenAI's 400, as the real endpoint does. ``encoding_format`` ``float`` and
``base64`` (little-endian float32, what the SDK asks for by default) are both
served; ``dimensions`` sets the length (default :data:`DIMENSIONS`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from typing import TYPE_CHECKING, Any, Mapping

from ftdecide.testing._protocol import Handler, RecordedRequest, Reply, error_body

if TYPE_CHECKING:
    from ftdecide.testing._server import OpenAICompatibleServer

__all__ = ["DIMENSIONS", "hashed_embedding"]

#: The vectors' length when the request gives no ``dimensions``.
DIMENSIONS = 64
_WORD = re.compile(r"\w+")


def hashed_embedding(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    """The vector the test server returns for ``text`` (all zeros for a text with no word)."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        vector[int.from_bytes(digest[:8], "big") % dimensions] += 1.0
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector] if norm else vector


def _embeddings(server: OpenAICompatibleServer, request: RecordedRequest,
                match: "re.Match[str]") -> Reply:
    from ftdecide.data._tokens import count_texts

    body = request.json
    if not isinstance(body, Mapping):
        return Reply(400, error_body("the body must be a JSON object"))
    model = body.get("model") or match.groupdict().get("deployment")
    if not model:
        return Reply(400, error_body("you must provide a model parameter", param="model"))
    given = body.get("input")
    texts = [given] if isinstance(given, str) else given
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return Reply(400, error_body("'input' must be a string or a non-empty list of strings",
                                     param="input"))
    if any(t == "" for t in texts):
        return Reply(400, error_body("'$.input' is invalid. Please check the API reference: "
                                     "https://platform.openai.com/docs/api-reference.",
                                     param="input"))
    dimensions = body.get("dimensions") or DIMENSIONS
    if not isinstance(dimensions, int) or dimensions < 1:
        return Reply(400, error_body("'dimensions' must be a positive integer",
                                     param="dimensions"))
    fmt = body.get("encoding_format") or "float"
    data: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        vector = hashed_embedding(text, dimensions)
        value: Any = vector
        if fmt == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        elif fmt != "float":
            return Reply(400, error_body(f"unknown encoding_format {fmt!r}",
                                         param="encoding_format"))
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = sum(count_texts(texts, server.encoding))
    return Reply(200, {"object": "list", "data": data, "model": model,
                       "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})


_embeddings.concurrent = True  # type: ignore[attr-defined]

#: Served under every prefix (``/v1``, ``/openai``, ``/openai/v1``).
ROUTES: list[tuple[str, str, Handler]] = [("POST", "/embeddings", _embeddings)]
#: Azure's embeddings addressed to a deployment (served at this path only).
DEPLOYMENT_ROUTE: tuple[str, str, Handler] = (
    "POST", "/openai/deployments/{deployment}/embeddings", _embeddings)
