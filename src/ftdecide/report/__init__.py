"""Everything people read: the HTML reports, terminal tables, number and money formatting,
and the report's tables as HTML fragments for notebooks (``_fragments``)."""

from ftdecide.report._fragments import (
    assessment_fragment,
    estimate_fragment,
    run_fragment,
    validation_fragment,
)
from ftdecide.report._html import parquet_modules, write_report

__all__ = ["assessment_fragment", "estimate_fragment", "parquet_modules", "run_fragment",
           "validation_fragment", "write_report"]
