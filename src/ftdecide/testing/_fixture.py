"""The ``openai_server`` pytest fixture: a started :class:`OpenAICompatibleServer` per test.

Created only when pytest can be imported; without pytest ``openai_server``
is ``None`` and importing :mod:`ftdecide.testing` still works.
"""

from __future__ import annotations

from typing import Iterator

from ftdecide.testing._server import OpenAICompatibleServer

__all__ = ["openai_server"]


def _server_fixture() -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer() as server:
        yield server


try:  # a fixture for plugin authors; pytest is only needed when it is used
    import pytest as _pytest
except ImportError:  # pragma: no cover - pytest is not installed outside tests
    _pytest = None

if _pytest is not None:
    openai_server = _pytest.fixture(_server_fixture, name="openai_server")
    """``openai_server``: an :class:`OpenAICompatibleServer` started on 127.0.0.1 for one test.

    Import it where pytest looks for fixtures (``from ftdecide.testing import
    openai_server`` in ``conftest.py`` or a test module).
    """
else:  # pragma: no cover
    openai_server = None
