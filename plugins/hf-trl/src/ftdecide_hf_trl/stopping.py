"""How a running fine-tune is asked to stop: signals, the STOP file, the launcher's death.

On a training process (or each torchrun rank) :class:`_StopFlag` is set by
SIGINT/SIGTERM, a ``STOP`` file in the run folder, the test-only
``stop_after_steps`` or, on a torchrun rank, the death of the ftdecide
process that launched torchrun; the trainer's stop callback
(:mod:`ftdecide_hf_trl.callbacks`) checks it after every step. In the
launching process of a multi-process run, :class:`_ParentStop` turns the
first SIGINT/SIGTERM into a STOP file, so that every rank stops at the same
step. :func:`request_stop` writes that file.

Ranks of one run may notice a cause at different moments (one sees the
launcher gone or the STOP file a moment before another): at every step they
all-reduce the :func:`_reason_code` of why they stop and all take the
highest (:meth:`_StopFlag.agree`), so they stop at the same step *and*
record the same reason, the root cause, whichever rank saw it first. Rank
0's reason is the one in ``result.json``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from .rundir import STOP_FILE


def request_stop(run_dir: str | os.PathLike[str]) -> None:
    """Ask the job training in ``run_dir`` to checkpoint and stop after its current step."""
    path = Path(run_dir) / STOP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("stop\n")


LAUNCHER_ENV = "FTDECIDE_LAUNCHER_PID"

#: Why a run stops, lowest priority first (see the module doc). "another rank" stands for a
#: reason not listed here; the launcher's death outranks everything it may have caused.
STOP_REASONS = ("another rank", "stop_after_steps", "stop file", "SIGTERM", "SIGINT", "launcher gone")


def _reason_code(reason: str | None) -> int:
    """``reason`` as a number to all-reduce with MAX: 1 + its place in :data:`STOP_REASONS`
    (1 for a reason not listed)."""
    return STOP_REASONS.index(reason) + 1 if reason in STOP_REASONS else 1


def _launcher_gone() -> bool:
    """True on a torchrun rank whose launching ftdecide process no longer exists.

    torchrun starts its ranks in their own sessions, so killing the launcher
    (even its whole process group) leaves them running; each rank checks this
    after every step.
    """
    pid = os.environ.get(LAUNCHER_ENV)
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


class _StopFlag:
    """Set by SIGINT/SIGTERM (main thread only), a STOP file, ``stop_after_steps`` or the
    launcher's death (torchrun ranks)."""

    def __init__(self, run_dir: Path, stop_after: int | None) -> None:
        self.stop_file = run_dir / STOP_FILE
        self.stop_after = stop_after
        self.requested = False
        self.reason: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except (ValueError, OSError):  # pragma: no cover - exotic platforms
                pass

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError, TypeError):  # pragma: no cover
                pass
        self._previous.clear()

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT and int(os.environ.get("WORLD_SIZE", "1")) == 1:
            # A second Ctrl-C: stop now. Not under torchrun, which forwards the
            # terminal's Ctrl-C to its workers a second time.
            raise KeyboardInterrupt
        self.requested = True
        self.reason = signal.Signals(signum).name
        if signum == signal.SIGINT:
            print("\nftdecide: stopping after this step and saving a checkpoint "
                  "(Ctrl-C again to abort now)", file=sys.stderr, flush=True)

    def check(self, step: int, start_step: int) -> bool:
        if self.requested:
            return True
        if self.stop_file.exists():
            self.requested, self.reason = True, "stop file"
        elif _launcher_gone():
            # the ftdecide process that launched torchrun was killed (SIGKILL, OOM):
            # checkpoint and stop rather than train on as orphans nobody records
            self.requested, self.reason = True, "launcher gone"
        elif self.stop_after is not None and start_step < self.stop_after <= step:
            self.requested, self.reason = True, "stop_after_steps"
        return self.requested

    def agree(self, code: int) -> None:
        """Stop for the reason the ranks agreed on: ``code`` is the all-reduced maximum of
        their :func:`_reason_code` (> 0). A listed reason replaces this rank's own, so every
        rank records the same one."""
        agreed = STOP_REASONS[code - 1]
        self.requested = True
        if agreed != "another rank" or self.reason is None:
            self.reason = agreed


class _ParentStop:
    """In the launching process: the first SIGINT/SIGTERM writes STOP (ranks checkpoint and
    stop together); a second SIGINT aborts."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.requested = False
        self.proc: subprocess.Popen | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handler)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        request_stop(self.run_dir)


__all__ = ["LAUNCHER_ENV", "STOP_REASONS", "request_stop"]
