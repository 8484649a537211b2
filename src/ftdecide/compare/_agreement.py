"""How far a judge can be trusted: its agreement with people on the items both labelled.

A grader model's scores are only evidence when they track what a person
would say. ``human_labels: FILE`` gives a person's label per eval item (CSV
or JSONL with ``id``, the item's id as in ``items.csv``, and ``label``, on
the judge's scale; an optional ``arm`` column says which arm's answer was
labelled, the baseline's when absent). :func:`load_labels` reads and checks
the file (a bad row is a :class:`DataError` naming its line) and
:func:`agreement` compares the judge with the labels:

- percent agreement (the labels are equal);
- Cohen's κ, quadratic-weighted on the 1–5 scale (a 4 against a 5 is a
  smaller miss than a 1 against a 5) and unweighted for pass/fail, computed
  by :func:`sklearn.metrics.cohen_kappa_score`;
- the percent agreement of a constant predictor that always gives the most
  common human label: a judge that does not beat it has learned nothing
  about these items;

each with a seeded percentile-bootstrap interval over the labelled items.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ftdecide.errors import DataError

#: κ from which the verdict trusts a judge (a common reading of "substantial" agreement).
KAPPA_CALIBRATED = 0.6
RESAMPLES = 2000
_PASS = {"pass": 1, "passed": 1, "true": 1, "yes": 1, "1": 1,
         "fail": 0, "failed": 0, "false": 0, "no": 0, "0": 0}


@dataclass(frozen=True)
class HumanLabel:
    """One person's label: the item, which arm's answer (None: the baseline's), the value."""

    item: str
    arm: str | None
    value: int
    line: int


def label_value(raw: Any, scale: str) -> int | None:
    """A label on the judge's scale as an int (1–5, or 1 pass / 0 fail); None when it is not one."""
    if isinstance(raw, bool):
        return int(raw) if scale == "pass-fail" else None
    if scale == "pass-fail":
        if isinstance(raw, (int, float)) and raw in (0, 1):
            return int(raw)
        return _PASS.get(str(raw).strip().lower()) if isinstance(raw, str) else None
    if isinstance(raw, str):
        try:
            raw = float(raw.strip())
        except ValueError:
            return None
    if isinstance(raw, (int, float)) and math.isfinite(raw) and float(raw).is_integer() \
            and 1 <= raw <= 5:
        return int(raw)
    return None


def _rows(path: Path) -> list[tuple[int, Mapping[str, Any]]]:
    """(line, row) of a CSV or JSONL file; the format from the suffix (``.csv`` or JSON lines)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("no such human labels file", path=str(path),
                        hint="human_labels: a CSV or JSONL file with id and label columns") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot be read: {exc}", path=str(path)) from None
    rows: list[tuple[int, Mapping[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        import csv
        import io

        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        missing = [c for c in ("id", "label") if c not in fields]
        if missing:
            raise DataError(f"the header has no {' or '.join(missing)} column "
                            f"(found: {', '.join(fields) or 'nothing'})", path=str(path), line=1,
                            hint="the first line must name the columns: id,label (and arm, "
                                 "optionally)")
        for row in reader:
            rows.append((reader.line_num, {str(k).strip().lower(): v for k, v in row.items()
                                           if k is not None}))
        return rows
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"not a JSON object: {exc.msg}", path=str(path), line=n,
                            hint="one object per line, e.g. {\"id\": \"3\", \"label\": 4}; "
                                 "or give a .csv file") from None
        if not isinstance(row, dict):
            raise DataError(f"expected a JSON object, got {type(row).__name__}", path=str(path),
                            line=n, hint="one object per line, e.g. {\"id\": \"3\", \"label\": 4}")
        rows.append((n, {str(k).strip().lower(): v for k, v in row.items()}))
    return rows


def load_labels(path: str, scale: str, arms: Sequence[str] | None = None) -> list[HumanLabel]:
    """The labels in ``path``, checked against the judge's ``scale`` (and the run's arms)."""
    where = Path(path)
    out: list[HumanLabel] = []
    seen: dict[tuple[str, str | None], int] = {}
    what = "PASS or FAIL (or 1/0)" if scale == "pass-fail" else "a whole number from 1 to 5"
    for line, row in _rows(where):
        item = row.get("id")
        if item is None or str(item).strip() == "":
            raise DataError("no id", path=path, line=line,
                            hint="id is the eval item's id as in items.csv (its eval line)")
        raw = row.get("label")
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            raise DataError(f"item {item}: no label", path=path, line=line,
                            hint=f"label is {what}")
        value = label_value(raw, scale)
        if value is None:
            raise DataError(f"item {item}: label {raw!r} is not on the judge's scale", path=path,
                            line=line, hint=f"label is {what} (the judge's scale: {scale})")
        arm = row.get("arm")
        arm = None if arm is None or str(arm).strip() == "" else str(arm).strip()
        if arm is not None:
            from ftdecide.compare._config import arm_name

            try:
                arm = arm_name(arm, key="arm")
            except Exception:
                raise DataError(f"item {item}: unknown arm {arm!r}", path=path, line=line,
                                hint=f"arms of this run: {', '.join(arms or [])}") from None
            if arms is not None and arm not in arms:
                raise DataError(f"item {item}: the arm {arm!r} is not in this run", path=path,
                                line=line, hint=f"arms of this run: {', '.join(arms)}")
        key = (str(item).strip(), arm)
        if key in seen:
            raise DataError(f"item {key[0]}{f' ({arm})' if arm else ''} is labelled twice, on "
                            f"lines {seen[key]} and {line}", path=path, line=line,
                            hint="keep one label per item and arm")
        seen[key] = line
        out.append(HumanLabel(item=key[0], arm=arm, value=value, line=line))
    if not out:
        raise DataError("the human labels file has no labels", path=path,
                        hint="one row per labelled item: id,label")
    return out


def _kappa(human: Sequence[int], judge: Sequence[int], scale: str) -> float | None:
    """Cohen's κ (quadratic weights on 1–5); None where it is undefined (one label only)."""
    import warnings

    from sklearn.metrics import cohen_kappa_score

    labels = _labels(scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = cohen_kappa_score(human, judge, labels=labels,
                                  weights=None if scale == "pass-fail" else "quadratic")
    value = float(value)
    return value if math.isfinite(value) else None


def _labels(scale: str) -> list[int]:
    return [0, 1] if scale == "pass-fail" else [1, 2, 3, 4, 5]


def _kappas(human: "Any", judge: "Any", scale: str) -> "Any":
    """κ of each row of two (resamples × n) label arrays, vectorised: ``1 − Σ w·O / Σ w·E``
    with the observed (O) and chance-expected (E) confusion matrices, the formula
    :func:`sklearn.metrics.cohen_kappa_score` computes (checked against it in the tests);
    NaN where κ is undefined. Calling sklearn per resample costs seconds per run."""
    import numpy as np

    labels = _labels(scale)
    k = len(labels)
    rows, n = human.shape
    h = human - labels[0]
    j = judge - labels[0]
    codes = (h * k + j) + (np.arange(rows)[:, None] * k * k)
    observed = np.bincount(codes.ravel(), minlength=rows * k * k).reshape(rows, k, k) / n
    expected = observed.sum(axis=2)[:, :, None] * observed.sum(axis=1)[:, None, :]
    i = np.arange(k)
    if scale == "pass-fail":
        w = (i[:, None] != i[None, :]).astype(float)
    else:
        w = (i[:, None] - i[None, :]) ** 2 / (k - 1) ** 2
    den = (w * expected).sum(axis=(1, 2))
    num = (w * observed).sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 1 - num / np.where(den > 0, den, 1), np.nan)


def _interval(values: Sequence[float]) -> list[float] | None:
    import numpy as np

    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    low, high = np.percentile(finite, [2.5, 97.5])
    return [float(low), float(high)]


def agreement(pairs: Sequence[tuple[int, int]], scale: str, *, seed: int = 0,
              resamples: int = RESAMPLES) -> dict[str, Any]:
    """The judge's agreement with people on ``pairs`` of (human, judge) labels.

    ``kappa`` is None when undefined (every label the same on both sides);
    intervals resample the pairs (seeded) and leave out resamples where κ is
    undefined.
    """
    import numpy as np

    n = len(pairs)
    out: dict[str, Any] = {"n": n, "percent": None, "percent_ci": None, "kappa": None,
                           "kappa_ci": None, "kappa_weights": None if scale == "pass-fail"
                           else "quadratic", "constant_baseline": None,
                           "constant_baseline_ci": None, "constant_label": None}
    if n == 0:
        return out
    human = np.array([h for h, _ in pairs])
    judge = np.array([j for _, j in pairs])
    mode = Counter(human.tolist()).most_common(1)[0][0]
    out["constant_label"] = _label_text(int(mode), scale)
    out["percent"] = float(np.mean(human == judge))
    out["constant_baseline"] = float(np.mean(human == mode))
    out["kappa"] = _kappa(human.tolist(), judge.tolist(), scale)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, (resamples, n))
    h, j = human[idx], judge[idx]
    out["percent_ci"] = _interval(np.mean(h == j, axis=1).tolist())
    labels = _labels(scale)
    counts = np.stack([(h == v).sum(axis=1) for v in labels], axis=1)
    out["constant_baseline_ci"] = _interval((counts.max(axis=1) / n).tolist())
    out["kappa_ci"] = _interval([k for k in _kappas(h, j, scale).tolist() if math.isfinite(k)])
    return out


def _label_text(value: int, scale: str) -> str:
    if scale == "pass-fail":
        return "PASS" if value else "FAIL"
    return str(value)


def calibrated(agree: Mapping[str, Any] | None) -> bool:
    """Whether the verdict may rest on this judge: κ at least :data:`KAPPA_CALIBRATED`."""
    kappa = (agree or {}).get("kappa")
    return isinstance(kappa, (int, float)) and kappa >= KAPPA_CALIBRATED
