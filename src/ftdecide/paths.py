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


def check_output_dir(path: str | os.PathLike[str], *, what: str) -> Path:
    """``path`` as a folder results can be written into, checked before any work is done.

    It may not exist yet (it is created when written), but it may not be a
    file, and the nearest folder that exists must be writable: a run that
    pays for its calls and then cannot write its report is the failure this
    prevents. ``what`` names the option in the message (``--out``).
    """
    from ftdecide.errors import UsageError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{what} {p}: is a file, not a folder",
                         hint=f"give a folder for {what} (it is created if missing)")
    existing = p
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise UsageError(f"{what} {p}: {existing} is a file, so the folder cannot be created",
                         hint=f"give a folder path for {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {p}: {existing} is not writable",
                         hint=f"choose a folder you can write to for {what}")
    return p


def check_output_file(path: str | os.PathLike[str], *, what: str) -> Path:
    """``path`` as a file that can be written (not a folder; its folder creatable and writable)."""
    from ftdecide.errors import UsageError

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{what} {p}: is a folder, not a file",
                         hint=f"give a file name for {what}, e.g. {p / 'assessment.html'}")
    folder = p.parent
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {p}: {folder} is a file, so {p.name} cannot be written there",
                         hint=f"give a path in a folder for {what}")
    check_output_dir(p.parent, what=what)
    return p
