"""Helpers for testing ftdecide and its plugins without a network.

:class:`OpenAICompatibleServer` is a real HTTP server on 127.0.0.1 that speaks
the OpenAI (and Azure OpenAI) REST API: chat completions with usage, files,
fine-tuning jobs with events and checkpoints, batches, an ARM deployment
endpoint, and injectable failures. ``openai_server`` is its pytest fixture.
:class:`FakeProvider` / ``fake_plugin`` are an in-process provider registered
through the real plugin manager.
"""

from ftdecide.testing._server import (
    ARM_DEPLOYMENT_PATH,
    AZURE_RESULT_COLUMNS,
    OPENAI_RESULT_COLUMNS,
    FakePlugin,
    FakeProvider,
    OpenAICompatibleServer,
    RecordedRequest,
    Reply,
    echo_last_user,
    error_body,
    fake_plugin,
    openai_server,
)

__all__ = [
    "ARM_DEPLOYMENT_PATH",
    "AZURE_RESULT_COLUMNS",
    "OPENAI_RESULT_COLUMNS",
    "FakePlugin",
    "FakeProvider",
    "OpenAICompatibleServer",
    "RecordedRequest",
    "Reply",
    "echo_last_user",
    "error_body",
    "fake_plugin",
    "openai_server",
]
