"""Progress of a compare run for Python callers: tqdm's bar where tqdm is installed
(``tqdm.auto``: a widget in Jupyter, text in a terminal), one plain status line otherwise.

The run calls ``progress(arm, done, total)`` as answers arrive; both
classes here are such callables, closed once the run ends.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable

__all__ = ["ArmBars", "PlainProgress", "arm_progress"]

Progress = Callable[[str, int, int], None]


class PlainProgress:
    """One status line on stderr (``fewshot 12/32  rag 4/32``), rewritten in place."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, arm: str, done: int, total: int) -> None:
        with self._lock:
            self.counts[arm] = (done, total)
            line = "  ".join(f"{a} {d}/{t}" for a, (d, t) in self.counts.items())
            self.stream.write(f"\r{line}")
            self.stream.flush()

    def close(self) -> None:
        if self.counts:
            self.stream.write("\n")
            self.stream.flush()


class ArmBars:
    """One ``tqdm.auto`` bar over every arm's calls (a notebook widget when ipywidgets is
    installed, text otherwise), each arm's count beside it. One bar, not one per arm: a
    notebook without widgets shows stacked text bars as a mess of escape codes."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self.bar: Any = None
        self.counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, arm: str, done: int, total: int) -> None:
        with self._lock:
            self.counts[arm] = (done, total)
            all_done = sum(d for d, _ in self.counts.values())
            all_total = sum(t for _, t in self.counts.values())
            if self.bar is None:
                self.bar = self._tqdm(total=all_total, desc="compare", unit="call", leave=True)
            self.bar.total = all_total
            self.bar.set_postfix_str("  ".join(f"{a} {d}/{t}" for a, (d, t)
                                               in self.counts.items()), refresh=False)
            self.bar.update(all_done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def arm_progress(progress: "bool | Progress | None") -> tuple[Progress | None, Callable[[], None]]:
    """The callback a run reports to, and what to call when it ends.

    ``True``: tqdm's notebook-aware bar when tqdm is installed, else the
    plain line; ``False``/``None``: nothing; a callable: that callable.
    """
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        try:
            import warnings

            with warnings.catch_warnings():  # tqdm.auto warns when ipywidgets is missing
                warnings.simplefilter("ignore")
                from tqdm.auto import tqdm
        except ImportError:
            plain = PlainProgress()
            return plain, plain.close
        bars = ArmBars(tqdm)
        return bars, bars.close
    return progress, getattr(progress, "close", lambda: None)
