"""Helpers for testing ftdecide and its plugins without a network.

:class:`OpenAICompatibleServer` is a real HTTP server on 127.0.0.1 that speaks
the OpenAI (and Azure OpenAI) REST API: chat completions with usage, files,
fine-tuning jobs with events and checkpoints, batches, an ARM deployment
endpoint, and injectable failures. ``openai_server`` is its pytest fixture.
:class:`FakeProvider` / ``fake_plugin`` are an in-process provider registered
through the real plugin manager.

Layout: ``_server`` (the server: recording, failure injection, dispatch),
``_protocol`` (requests, replies, errors shared with the route handlers),
``_failures`` (the injected-failure rules), the routes by what they serve
(``_chat``, ``_embeddings``, ``_files``, ``_finetuning``, ``_batches``, ``_arm``),
``_fixture`` (``openai_server``), ``_fake`` (``FakeProvider``), ``_answers``
(:func:`answer_key`: a responder that knows an eval set's answers) and ``_teacher``
(:class:`ScriptedTeacher`: right on a known fraction of items, for distillation).
"""

from ftdecide.testing._answers import answer_key
from ftdecide.testing._arm import ARM_DEPLOYMENT_PATH
from ftdecide.testing._chat import echo_last_user, reply_by_prompt
from ftdecide.testing._embeddings import hashed_embedding
from ftdecide.testing._fake import FakePlugin, FakeProvider, fake_plugin
from ftdecide.testing._finetuning import AZURE_RESULT_COLUMNS, OPENAI_RESULT_COLUMNS
from ftdecide.testing._fixture import openai_server
from ftdecide.testing._protocol import RecordedRequest, Reply, error_body
from ftdecide.testing._server import OpenAICompatibleServer
from ftdecide.testing._teacher import ScriptedTeacher, last_user_text

__all__ = [
    "ARM_DEPLOYMENT_PATH",
    "AZURE_RESULT_COLUMNS",
    "OPENAI_RESULT_COLUMNS",
    "FakePlugin",
    "FakeProvider",
    "OpenAICompatibleServer",
    "RecordedRequest",
    "Reply",
    "ScriptedTeacher",
    "answer_key",
    "echo_last_user",
    "error_body",
    "fake_plugin",
    "hashed_embedding",
    "last_user_text",
    "openai_server",
    "reply_by_prompt",
]
