"""The ``ftdecide`` command line: parse arguments, call the core, render.

``main.py`` only assembles the commands; each command group lives in its own
module. Nothing below this package imports it.
"""

from ftdecide.cli.main import cli, main

__all__ = ["cli", "main"]
