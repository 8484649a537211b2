"""Errors every part of ftdecide raises, each carrying its exit code.

The CLI turns any :class:`FtdecideError` into one clear message and the exit
code below, never a traceback (unless ``--debug``). Plugins raise these too,
so a provider failure looks the same whichever plugin it came from.

Exit codes (DESIGN.md §3): 2 for bad usage or bad data, 3 for a provider that
failed.
"""

from __future__ import annotations


class FtdecideError(Exception):
    """Base of every expected failure: a message for a person and an exit code.

    ``hint`` says what to do about it; the CLI prints it on its own line.
    ``path``, ``line`` (1-based, physical) and ``key`` (a dotted config key or a
    ``--flag``) point at the place to fix where the raising code knows it: the
    message then starts with ``path:line:``, and ``--json`` reports them as
    ``file``, ``line`` and ``key`` (see :meth:`to_json`).
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None,
                 line: int | None = None, key: str | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.message = where + message
        self.hint = hint
        self.path = path
        self.line = line
        self.key = key

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message

    def to_json(self) -> dict[str, object]:
        """What ``--json`` prints on stdout for this error: ``{"error": {...}}``."""
        return {"error": {"type": type(self).__name__, "message": self.message,
                          "hint": self.hint, "file": self.path, "line": self.line,
                          "key": self.key, "exit_code": self.exit_code}}


class UsageError(FtdecideError):
    """The command line, a setting or a config file is wrong (exit 2)."""

    exit_code = 2


class DataError(FtdecideError):
    """An input file cannot be used: missing, unreadable, wrong format (exit 2).

    ``path`` and ``line`` (1-based, physical) point at the place to fix.
    """

    exit_code = 2


class UnknownModelError(UsageError):
    """``--model`` names no model any catalog knows; ``suggestions`` are close ids."""

    def __init__(self, model: str, suggestions: list[str]) -> None:
        hint = (
            "did you mean: " + ", ".join(suggestions) + "?"
            if suggestions
            else "run `ftdecide prices` to list the known models"
        )
        super().__init__(f"unknown model {model!r}", hint=hint)
        self.model = model
        self.suggestions = suggestions


class PluginError(FtdecideError):
    """A plugin broke the contract (misspelled hook, bad registration) (exit 2)."""

    exit_code = 2


class ProviderError(FtdecideError):
    """A provider call failed: network, refused, server error (exit 3)."""

    exit_code = 3


class AuthenticationError(ProviderError):
    """The provider refused the credentials, or none were configured (exit 3)."""


class NotTunableError(UsageError):
    """The model cannot be fine-tuned (exit 2, before anything is uploaded)."""
