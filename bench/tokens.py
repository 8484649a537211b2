"""Benchmark: counting the tokens of a training set, as `validate`/`estimate` do.

One command (`make bench` or `python bench/tokens.py`). Prints ratios
against baselines measured in the same run, on the same file:

1. ftdecide's path (`ftdecide.data.validate`: parse, validate every line,
   count with the model's encoding, statistics) vs the OpenAI cookbook's
   per-example loop (`json.loads` + `encoding.encode` per value), which
   does strictly less work (no validation). Goal: >= 3x.
2. the same vs "raw tiktoken": read + `json.loads` + one
   `encode_ordinary_batch` call per 1,000 examples (tiktoken's own batch
   API with its defaults). Goal: >= 0.7x of it.
3. peak memory (RSS) of ftdecide's path when the file grows 10x, each size in
   a fresh process: the main process and, for a file big enough to be
   validated on worker processes (one per core), the largest worker. Goal: flat.

Timings are best-of-N wall clock; the machine must be otherwise idle for the
ratios to mean anything (the parallel path needs the cores to itself).

Files are generated (seeded) under bench/out/, which git ignores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
WORDS = ("the customer invoice failed login error payment urgent please help my account was "
         "charged twice since yesterday browser chrome export report project timeline sso okta "
         "refund plan upgrade downgrade api webhook 500 timeout slow dashboard mobile app crash "
         "password reset two-factor team member invite permission admin billing cycle").split()
SYSTEM = ("Classify the support ticket. Answer with JSON: {\"category\": billing|technical|"
          "account|security|feature_request|other, \"priority\": low|medium|high|urgent}.")


def generate(path: Path, n: int, seed: int = 0) -> Path:
    if path.exists() and path.stat().st_size > 0 and path.with_suffix(".done").exists():
        return path
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(n):
            ticket = " ".join(rng.choices(WORDS, k=rng.randint(8, 160)))
            answer = json.dumps({"category": rng.choice(["billing", "technical", "account"]),
                                 "priority": rng.choice(["low", "medium", "high", "urgent"])})
            f.write(json.dumps({"messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": ticket},
                {"role": "assistant", "content": answer}]}) + "\n")
    path.with_suffix(".done").touch()
    return path


def cookbook_loop(path: Path) -> int:
    """The notebook's num_tokens_from_messages over every example."""
    from ftdecide.data._tokens import get_encoding

    encoding = get_encoding("o200k_base")
    total = 0
    with path.open(encoding="utf-8") as f:
        for line in f:
            num_tokens = 0
            for message in json.loads(line)["messages"]:
                num_tokens += 3
                for key, value in message.items():
                    num_tokens += len(encoding.encode(value))
                    if key == "name":
                        num_tokens += 1
            total += num_tokens + 3
    return total


def raw_tiktoken(path: Path) -> int:
    """Read, parse, and encode_ordinary_batch 1,000 examples at a time."""
    from ftdecide.data._tokens import get_encoding

    encoding = get_encoding("o200k_base")
    total = 0
    texts: list[str] = []
    examples = 0

    def flush() -> int:
        return sum(len(ids) for ids in encoding.encode_ordinary_batch(texts)) if texts else 0

    with path.open(encoding="utf-8") as f:
        for line in f:
            for message in json.loads(line)["messages"]:
                total += 3
                texts.extend(message.values())
            total += 3
            examples += 1
            if examples % 1000 == 0:
                total += flush()
                texts.clear()
    return total + flush()


def ftdecide_path(path: Path) -> int:
    import ftdecide.data as data

    report = data.validate(path, encoding="o200k_base")
    assert report.valid, report.errors
    return report.tokens_total


def timed(fn, path: Path, repeat: int) -> tuple[float, int]:
    best = float("inf")
    result = 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn(path)
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mb(path: Path) -> tuple[float, float]:
    """Peak RSS (MB) of a fresh process that validates ``path``, and of its
    largest worker process (0 when it used none)."""
    code = ("import resource, sys\nimport ftdecide.data as data\n"
            "r = data.validate(sys.argv[1])\nassert r.valid\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,"
            " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True)
    main, worker = out.stdout.split()
    return float(main), float(worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2, help="best of N timings")
    parser.add_argument("--no-memory", action="store_true", help="skip the 10x memory run")
    args = parser.parse_args()

    OUT.mkdir(exist_ok=True)
    n = args.examples
    small = generate(OUT / f"train-{n}.jsonl", n)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"file: {small} ({small.stat().st_size / 1e6:.1f} MB, {n:,} examples), "
          f"{cores} cores usable (of {os.cpu_count()})")
    from ftdecide.data._tokens import get_encoding

    get_encoding("o200k_base")  # load once, outside the timings

    t_ours, tok_ours = timed(ftdecide_path, small, args.repeat)
    t_cook, tok_cook = timed(cookbook_loop, small, args.repeat)
    t_raw, tok_raw = timed(raw_tiktoken, small, args.repeat)
    assert tok_ours == tok_cook == tok_raw, (tok_ours, tok_cook, tok_raw)
    print(f"tokens counted: {tok_ours:,} (all three agree)")
    print(f"{'ftdecide validate (parse+validate+count+stats)':50s} {t_ours:7.2f} s")
    print(f"{'cookbook per-example loop (count only)':50s} {t_cook:7.2f} s")
    print(f"{'raw tiktoken encode_ordinary_batch (count only)':50s} {t_raw:7.2f} s")
    r1 = t_cook / t_ours
    r2 = t_raw / t_ours
    print(f"speed vs cookbook loop:     {r1:5.2f}x  (goal >= 3x)   {'OK' if r1 >= 3 else 'BELOW GOAL'}")
    print(f"speed vs raw tiktoken batch: {r2:5.2f}x  (goal >= 0.7x) {'OK' if r2 >= 0.7 else 'BELOW GOAL'}")

    if not args.no_memory:
        big = generate(OUT / f"train-{n * 10}.jsonl", n * 10, seed=1)
        (m1, w1), (m10, w10) = peak_rss_mb(small), peak_rss_mb(big)
        print(f"peak RSS validating {n:,} examples: {m1:7.1f} MB; {n * 10:,} examples "
              f"({big.stat().st_size / 1e6:.0f} MB): {m10:7.1f} MB")
        if w1 or w10:
            print(f"largest worker process's peak RSS:  {w1:7.1f} MB; {' ' * len(f'{n * 10:,}')}"
                  f"           {w10:7.1f} MB")
        print(f"memory growth for 10x the file: {m10 / m1:5.2f}x  (goal: flat, ~1x)"
              + (f"; worker: {w10 / w1:5.2f}x" if w1 else ""))


if __name__ == "__main__":
    main()
