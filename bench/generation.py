"""Benchmark: batched vs one-by-one greedy generation with the default local model.

One command (`make bench` or `python bench/generation.py`). Takes 32
support tickets from the triage example's eval set (with its system
prompt), and answers them with hf/smollm2-135m (SmolLM2-135M-Instruct),
greedy, max_new_tokens 32:

1. one by one: `ftdecide_hf_trl.generation.complete` per ticket;
2. batched: one `complete_batch` call (left padding, batches of 16, sorted by
   length).

Prints both wall times and the ratio (goal >= 4x), and checks that the two
runs gave identical texts and token counts (exit 1 if not). The model is
loaded and warmed up before timing; the default model is converted into
ftdecide's cache on first use (20-40 s, once) unless --cache-dir points
elsewhere. Timings depend on the machine and on what else runs on it: on a
2-core machine torch's default two threads slow down badly when another
process competes for the cores, so the load average and the process's CPU
time are printed too; `--threads 1` gives CPU times that hold up under load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tickets(n: int) -> list[list[dict]]:
    from ftdecide.examples import example_path

    path = example_path("triage", "eval")
    convs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            messages = json.loads(line)["messages"]
            convs.append([m for m in messages if m["role"] != "assistant"])
    if len(convs) < n:
        raise SystemExit(f"{path} has only {len(convs)} examples, {n} asked")
    return convs[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32, help="tickets (default 32)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default="smollm2-135m", help="an hf model spec")
    parser.add_argument("--cache-dir", help="FTDECIDE_CACHE_DIR for the converted model")
    parser.add_argument("--threads", type=int,
                        help="torch threads (default: torch's own); 1 gives stable CPU times "
                             "on a machine other processes share")
    args = parser.parse_args()
    if args.cache_dir:
        os.environ["FTDECIDE_CACHE_DIR"] = args.cache_dir
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from ftdecide_hf_trl import generation
    from ftdecide_hf_trl.loading import loaded
    from ftdecide_hf_trl.resolve import resolve

    convs = tickets(args.n)
    resolved = resolve(args.model)
    started = time.perf_counter()
    entry = loaded(resolved)
    import torch

    print(f"model: hf/{args.model} from {entry.folder} on {entry.device} "
          f"(loaded in {time.perf_counter() - started:.1f} s); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    generation.complete(resolved, convs[0], max_tokens=4)            # warm-up
    generation.complete_batch(resolved, convs[:2], max_tokens=4)

    t0, c0 = time.perf_counter(), time.process_time()
    singles = [generation.complete(resolved, c, max_tokens=args.max_tokens) for c in convs]
    t_single, c_single = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    batch = generation.complete_batch(resolved, convs, max_tokens=args.max_tokens,
                                      batch_size=args.batch_size)
    t_batch, c_batch = time.perf_counter() - t0, time.process_time() - c0

    out_tokens = sum(c.usage.output_tokens for c in singles)
    in_tokens = sum(c.usage.input_tokens for c in singles)
    print(f"{args.n} tickets, {in_tokens:,} prompt tokens, {out_tokens:,} generated tokens, "
          f"max_new_tokens {args.max_tokens}, greedy")
    print(f"{'':32s} {'wall':>9s} {'CPU':>9s}  generated tokens/s (wall)")
    print(f"{'one by one':32s} {t_single:7.2f} s {c_single:7.2f} s  {out_tokens / t_single:6.1f}")
    print(f"{f'batched ({args.batch_size} per chunk)':32s} {t_batch:7.2f} s {c_batch:7.2f} s  "
          f"{out_tokens / t_batch:6.1f}")
    ratio = t_single / t_batch
    print(f"speed-up: {ratio:5.2f}x wall, {c_single / c_batch:5.2f}x CPU time  (goal >= 4x)  "
          f"{'OK' if ratio >= 4 else 'BELOW GOAL'}")
    diff = [i for i, (a, b) in enumerate(zip(singles, batch))
            if (a.text, a.usage) != (b.text, b.usage)]
    if diff:
        for i in diff[:5]:
            print(f"  ticket {i}: one by one {singles[i].text!r} ({singles[i].usage}) vs "
                  f"batched {batch[i].text!r} ({batch[i].usage})")
        print(f"DIFFERENT: {len(diff)} of {args.n} answers differ between the two runs")
        sys.exit(1)
    print(f"identical: all {args.n} texts and token counts match")
    print(f"example answer: {singles[0].text!r}")


if __name__ == "__main__":
    main()
