"""The litellm plugin's tests never inherit a server address from the developer's shell."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_api_base_from_the_shell(monkeypatch):
    monkeypatch.delenv("FTDECIDE_LITELLM_API_BASE", raising=False)
