"""``python -m ftdecide``: the same as the ``ftdecide`` command."""

from ftdecide.cli.main import main

main()
