"""What every result object of the Python API shares: the ``--json`` mapping behind it.

A result holds exactly the mapping the CLI prints with ``--json`` (so a
script and a notebook see the same fields), reads its keys like a mapping
(``run["verdict"]``, ``"audit" in run``; not a ``Mapping`` subclass, because
``Run.items()`` is the per-item DataFrame), gives a copy with :meth:`Result.to_dict`, and builds
pandas views on demand: pandas is imported when a view is asked for, never
by ``import ftdecide``.
"""

from __future__ import annotations

import copy
from typing import Any, Iterator, KeysView, Mapping, Sequence

__all__ = ["Result", "frame", "safe_html"]


class Result:
    """One command's ``--json`` result, read by key, plus views of it."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data: dict[str, Any] = dict(data)

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the mapping: exactly what the command prints with ``--json``."""
        return copy.deepcopy(self._data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def keys(self) -> KeysView[str]:
        """The top-level keys of the ``--json`` mapping."""
        return self._data.keys()

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def to_pandas(self) -> Any:
        """The result as a DataFrame: here one row of the flattened mapping (``a.b`` columns);
        :class:`Run` gives its items, :class:`ValidationReport` its errors."""
        row: dict[str, Any] = {}
        _flatten("", self._data, row)
        return frame([row], list(row), what=f"{type(self).__name__}.to_pandas()")

    def _summary(self) -> str:
        return ", ".join(f"{k}={self._data[k]!r}" for k in list(self._data)[:3])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._summary()}>"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Nested mappings as dotted keys; lists are kept whole (one cell)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def safe_html(render: Any, fallback: str) -> str:
    """``render()``, or the escaped ``fallback`` text when the results cannot be shown as
    the report's tables (a run stopped before an arm answered): a notebook shows the
    object either way, never a traceback from its display."""
    from ftdecide.errors import FtdecideError

    try:
        return str(render())
    except (FtdecideError, KeyError, TypeError, ValueError):
        import html

        return f"<pre>{html.escape(fallback)}</pre>"


def frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, what: str) -> Any:
    """A pandas DataFrame of ``rows`` with ``columns`` first (then any extra keys in order).

    Raises :class:`ftdecide.UsageError` saying how to install pandas when it is missing.
    """
    try:
        import pandas as pd
    except ImportError:
        from ftdecide.errors import UsageError

        raise UsageError(f"{what} needs pandas, which is not installed",
                         hint="pip install 'ftdecide[pandas]'") from None
    extra: list[str] = []
    for row in rows:
        extra += [k for k in row if k not in columns and k not in extra]
    return pd.DataFrame([dict(r) for r in rows], columns=[*columns, *extra])
