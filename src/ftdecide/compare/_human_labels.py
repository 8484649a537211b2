"""The ``human_labels`` file: a person's marks on eval items, to calibrate a judge against.

A CSV file with a header row (``id,label``, optionally ``arm`` and
``comment``, in any order, extra columns ignored) or a JSONL file (one object
per line with the same keys). ``id`` is the eval item's id as the run's
``items.csv`` writes it; ``label`` is ``pass``/``fail`` or a whole score from
1 to 5; ``arm`` says whose answer was marked, and a row without one is about
the baseline's answer. The report's review mode downloads exactly this CSV,
so a person can mark answers in the browser and feed the file to the next run
(``human_labels:`` in the config).

Every bad row is a :class:`~ftdecide.errors.DataError` naming the file and
the physical line, because the file is usually written by hand or in a
spreadsheet and the person has to find the row to fix. One file holds one
scale: mixing pass/fail and 1–5 is refused rather than guessed at.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ftdecide.errors import DataError

__all__ = ["Label", "load_human_labels", "parse_label"]

#: A person's mark: ``"pass"``, ``"fail"`` or an int from 1 to 5.
Label = str | int

_PASS_FAIL = {"pass": "pass", "fail": "fail"}
_HINT = "each row needs an id (as in the run's items.csv) and a label: pass, fail or 1 to 5"


def parse_label(value: object) -> Label | None:
    """``value`` as a label, or ``None`` when it is not one.

    Accepts ``pass``/``fail`` in any case and whole numbers 1–5 (also as
    text, and as ``4.0``, which is what a spreadsheet may write back).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= 5 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 1 <= value <= 5 else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text in _PASS_FAIL:
        return _PASS_FAIL[text]
    try:
        number = float(text)
    except ValueError:
        return None
    return parse_label(number) if number == number else None  # NaN is not a label


def _scale(label: Label) -> str:
    return "pass-fail" if isinstance(label, str) else "5"


class _Collector:
    """Checks rows one by one: a label on one scale, each id once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.labels: dict[tuple[str, str | None], Label] = {}
        self.seen_at: dict[tuple[str, str | None], int] = {}
        self.scale: tuple[str, int] | None = None

    def add(self, line: int, item_id: object, label: object, arm: object = None) -> None:
        if item_id is None or (isinstance(item_id, str) and not item_id.strip()):
            raise DataError("the row has no id", path=self.path, line=line, hint=_HINT)
        if isinstance(item_id, (dict, list, bool, float)):
            raise DataError(f"id must be text or a whole number, got {item_id!r}", path=self.path,
                            line=line, hint=_HINT)
        key = str(item_id).strip()
        if label is None or (isinstance(label, str) and not label.strip()):
            raise DataError(f"id {key!r} has no label", path=self.path, line=line, hint=_HINT)
        parsed = parse_label(label)
        if parsed is None:
            raise DataError(f"label {label!r} for id {key!r} is not pass, fail or a whole number from 1 to 5",
                            path=self.path, line=line, hint=_HINT)
        if arm is not None and not isinstance(arm, str):
            raise DataError(f"arm must be an arm's name, got {arm!r}", path=self.path, line=line, hint=_HINT)
        which = (key, arm.strip() if isinstance(arm, str) and arm.strip() else None)
        if which in self.seen_at:
            whose = f" ({which[1]})" if which[1] else ""
            raise DataError(f"id {key!r}{whose} is labelled twice (first on line {self.seen_at[which]})",
                            path=self.path, line=line, hint="keep one label per eval item and arm")
        scale = _scale(parsed)
        if self.scale is None:
            self.scale = (scale, line)
        elif self.scale[0] != scale:
            raise DataError(f"label {label!r} is on another scale than line {self.scale[1]} "
                            f"({'pass/fail' if self.scale[0] == 'pass-fail' else '1 to 5'})",
                            path=self.path, line=line,
                            hint="use one scale in the whole file: pass/fail, or 1 to 5")
        self.seen_at[which] = line
        self.labels[which] = parsed


def _read_csv(text: str, out: _Collector) -> None:
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    start = 1
    for row in reader:
        line, start = start, reader.line_num + 1  # a quoted field may span lines: report the first
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            missing = [c for c in ("id", "label") if c not in header]
            if missing:
                raise DataError(f"the header has no {' and no '.join(missing)} column "
                                f"(found: {', '.join(header) or 'nothing'})", path=out.path, line=line,
                                hint="the first row must name the columns: id,label,comment")
            continue
        cells = dict(zip(header, row))
        out.add(line, cells.get("id"), cells.get("label"), cells.get("arm"))


def _read_jsonl(text: str, out: _Collector) -> None:
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid JSON: {exc.msg} (column {exc.colno})", path=out.path, line=line,
                            hint='one object per line, e.g. {"id": "3", "label": "pass"}') from None
        if not isinstance(row, dict):
            raise DataError(f"expected a JSON object, got {type(row).__name__}", path=out.path, line=line,
                            hint='one object per line, e.g. {"id": "3", "label": "pass"}')
        out.add(line, row.get("id"), row.get("label"), row.get("arm"))


def load_human_labels(path: str | Path) -> dict[tuple[str, str | None], Label]:
    """``(item id, arm)`` -> label from a ``human_labels`` CSV or JSONL file.

    ``arm`` is ``None`` for a row without one: a mark on the baseline's answer.

    The format follows the extension (``.jsonl``/``.json`` is JSONL, anything
    else CSV). A byte-order mark (Excel writes one) is ignored. Raises
    :class:`~ftdecide.errors.DataError` with the file and line of the first bad
    row; an empty file is an error too, since calibrating on nothing says nothing.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("no such human_labels file", path=name,
                        hint="download it from the report's review mode, or write id,label rows") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc.reason}", path=name,
                        hint="save the file as UTF-8 CSV") from None
    except OSError as exc:
        raise DataError(f"cannot be read: {exc.strerror or exc}", path=name) from None
    out = _Collector(name)
    if Path(path).suffix.lower() in (".jsonl", ".json"):
        _read_jsonl(text, out)
    else:
        _read_csv(text, out)
    if not out.labels:
        raise DataError("no labelled rows", path=name, hint=_HINT)
    return out.labels
