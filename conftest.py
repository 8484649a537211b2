"""Shared fixtures for tests/ and plugins/*/tests: every test runs with its own user folders and no plugins
unless it asks for them, so what happens to be installed never leaks in."""

from __future__ import annotations

import signal

import pytest

from ftdecide.plugins import Registry, set_registry

# A test runner started in the background by a non-interactive shell (`cmd &`) inherits SIGINT
# *ignored*, and so would every process the Ctrl-C tests start: Python then never raises
# KeyboardInterrupt and those tests see a process that shrugs off Ctrl-C. Handling SIGINT here
# makes the children start with the default disposition again (a handler resets on exec, an
# ignored signal stays ignored), as they would under a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

SECRET_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AZURE_OPENAI_API_KEY",
              "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION", "FTDECIDE_PRICES")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("FTDECIDE_CONFIG_DIR", str(tmp_path / "user-config"))
    monkeypatch.setenv("FTDECIDE_DATA_DIR", str(tmp_path / "user-data"))
    monkeypatch.setenv("FTDECIDE_CACHE_DIR", str(tmp_path / "user-cache"))
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "")
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    previous = set_registry(None)
    yield
    set_registry(previous)


@pytest.fixture
def first_party(monkeypatch):
    """Load the first-party openai and azure plugins through their entry points."""
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai,azure")
    registry = Registry()
    set_registry(registry)
    return registry
