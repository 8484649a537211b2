"""Embeddings through ``client.embeddings.create``: the ``similarity`` metric's vectors.

Shared by the OpenAI provider and anything built on its client (an
``openai.OpenAI`` or ``openai.AzureOpenAI``). Vectors are asked for as
``float`` (full precision in the JSON, no base64 decoding), at most
:data:`MAX_INPUTS` texts per request (OpenAI's limit); the usage is the
``prompt_tokens`` the service reported, summed over the requests. The cost is
left to the core, which prices the tokens from the catalog.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import ftdecide

from . import shared

#: The most inputs OpenAI's embeddings endpoint takes in one request.
MAX_INPUTS = 2048


def embed(client: Any, texts: Sequence[str], *, model: str, service: str, credential: str,
          secrets: Iterable[str] = ()) -> ftdecide.Embeddings:
    """One vector per text, in order, from ``model``; errors mapped as chat errors are."""
    import openai

    vectors: list[list[float]] = []
    tokens: int | None = 0
    answered_model = None
    for start in range(0, len(texts), MAX_INPUTS):
        chunk = list(texts[start:start + MAX_INPUTS])
        try:
            response = client.embeddings.create(model=model, input=chunk,
                                                encoding_format="float")
        except openai.OpenAIError as exc:
            raise shared.map_error(exc, service=service, credential=credential,
                                   secrets=secrets) from None
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(chunk):
            raise ftdecide.ProviderError(f"{service} returned {len(data)} embeddings for "
                                         f"{len(chunk)} texts (model {model!r})")
        vectors.extend([float(x) for x in d.embedding] for d in data)
        usage = getattr(response, "usage", None)
        used = getattr(usage, "prompt_tokens", None) if usage is not None else None
        tokens = None if tokens is None or used is None else tokens + int(used)
        answered_model = getattr(response, "model", None) or answered_model
    return ftdecide.Embeddings(vectors=vectors, input_tokens=tokens, model=answered_model)
