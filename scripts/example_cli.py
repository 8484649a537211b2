"""The command line every bundled-example generator shares: write the files, or --check them.

A generator module gives ``render(seed) -> (files, tables)``; this writes the
files (bytes, UTF-8, so the committed output is byte-stable) or, with
``--check``, writes nothing and exits 1 naming the files that differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable


def main(argv: list[str] | None, *, description: str, seed: int, out: Path,
         render: Callable[[int], tuple[dict[str, str], str]], tables: str = "tables") -> int:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--seed", type=int, default=seed, help=f"random seed (default {seed})")
    ap.add_argument("--out", type=Path, default=out, help="output folder (default: the bundled example)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files in --out differ")
    ap.add_argument("--quiet", action="store_true", help=f"do not print the {tables}")
    args = ap.parse_args(argv)

    files, stats = render(args.seed)
    if args.check:
        stale = [n for n, text in files.items()
                 if not (args.out / n).exists() or (args.out / n).read_bytes() != text.encode("utf-8")]
        if stale:
            print("stale: " + ", ".join(stale), file=sys.stderr)
            return 1
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_bytes(text.encode("utf-8"))
    if not args.quiet:
        print(stats, end="")
    return 0
