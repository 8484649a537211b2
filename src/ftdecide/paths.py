"""Where ftdecide keeps things on the user's machine.

Config (price overrides), data (the job store, run folders with adapters and
checkpoints) and cache (converted models) follow the platform's conventions
through platformdirs, each overridable by an environment variable so tests
and CI never touch a real home folder.
"""

from __future__ import annotations

import os
from pathlib import Path


def _dir(env: str, kind: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override)
    import platformdirs

    getter = getattr(platformdirs, f"user_{kind}_dir")
    return Path(getter("ftdecide", appauthor=False))


def config_dir() -> Path:
    """User settings (``prices.yaml``); ``FTDECIDE_CONFIG_DIR`` overrides."""
    return _dir("FTDECIDE_CONFIG_DIR", "config")


def data_dir() -> Path:
    """The job store and run folders; ``FTDECIDE_DATA_DIR`` overrides."""
    return _dir("FTDECIDE_DATA_DIR", "data")


def cache_dir() -> Path:
    """Rebuildable files (converted models); ``FTDECIDE_CACHE_DIR`` overrides."""
    return _dir("FTDECIDE_CACHE_DIR", "cache")


def runs_dir() -> Path:
    """One folder per fine-tuning job: ``runs/<job id>/``."""
    return data_dir() / "runs"


def store_path() -> Path:
    return data_dir() / "ftdecide.db"
