"""Everything people read: the HTML reports, terminal tables, number and money formatting."""

from ftdecide.report._html import write_report

__all__ = ["write_report"]
