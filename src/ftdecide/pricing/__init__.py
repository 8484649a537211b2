"""Prices and cost arithmetic: the dated catalog, training and inference costs, estimates.

Public names: :func:`load_catalog` / :class:`Catalog` (every provider's models
with the user's price files applied), :func:`ask_once` (one priced completion).
The estimate and cost arithmetic live in ``_estimate`` and ``_costs``.
"""

from __future__ import annotations

from ftdecide.pricing._ask import ask_once
from ftdecide.pricing._catalog import Catalog, load_catalog

__all__ = ["Catalog", "ask_once", "load_catalog"]
