"""Keeping transformers quiet: its info logs and progress bars are not for ftdecide's users.

Used while converting the default model (:mod:`ftdecide_hf_trl.gguf`) and
while loading a model (:mod:`ftdecide_hf_trl.loading`); warnings and errors
still show.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover
        yield
        return
    was = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            tlog.enable_progress_bar()


def _quiet_transformers() -> None:
    """transformers' info logs are not for ftdecide's users; warnings and errors still show."""
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        from transformers.utils import logging as tlog
    except ImportError:  # pragma: no cover
        return
    if tlog.get_verbosity() < tlog.ERROR:
        tlog.set_verbosity_error()
