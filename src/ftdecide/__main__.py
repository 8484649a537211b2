"""``python -m ftdecide``: the same as the ``ftdecide`` command."""

from .cli import main

main()
