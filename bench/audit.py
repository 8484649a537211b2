"""Benchmark: `ftdecide audit` at 100,000 training × 10,000 eval examples.

One command (`make bench` or `python bench/audit.py [--train N --eval M]`).
It prints, in one run:

1. the wall time and the peak memory (RSS, a fresh process) of
   ``ftdecide.data.audit`` at the full size (default 100k × 10k; goal: about
   a minute on 2 cores, memory bounded), with what it found;
2. at a size brute force can handle (default 20k × 2k), the pairs the audit's
   pruned, chunked search finds against brute-force scikit-learn
   ``cosine_similarity`` on *the same vectors* (every eval × train pair and
   every train × train pair, dense, in row blocks): the recall of the pairs at
   or above the threshold (goal: 1.0, and no pair the brute force does not
   find), the similarities' largest difference, the speed ratio and the peak
   memory of each (each in a fresh process).

The data are generated (seeded) support tickets: a short system message and
a ticket written from templates with varied wording, names, products, order
numbers, amounts and dates, labelled with a JSON category and priority.
Injected on purpose: exact leaks (an eval ticket copied from train with its
case, width and spacing changed), near leaks (one word swapped for a
synonym), training duplicates and near duplicates, and conflicting labels.
The script checks that every injected exact leak is found and reports how
many injected near leaks reach the threshold (a swap in a short ticket can
fall below 0.9: that is the similarity, not the search, as part 2 shows).
Templates make many tickets natural near copies of each other, so the audit
finds more than was injected.

Timings are wall clock, once each (the full size takes long enough); the
machine must be otherwise idle for the ratios to mean anything. Files go to
bench/out/, which git ignores.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"

SYSTEM = ("You triage support tickets for Acme Cloud. Answer with JSON: category and "
          "priority.")
GREETINGS = ("Hi,", "Hello,", "Hello team,", "Hey there,", "Good morning,", "Dear support,", "",
             "Hi all,", "Greetings,", "Hey,")
CLOSINGS = ("Thanks.", "Thank you!", "Please advise.", "Regards, {name}", "Cheers, {name}",
            "Any help appreciated.", "", "Thanks in advance.", "Best, {name}",
            "Please fix this asap.")
NAMES = ("Anna", "Bilal", "Chen", "Dmitri", "Elena", "Farah", "Goran", "Hiro", "Ines", "Jonas",
         "Kemal", "Lena", "Marta", "Noor", "Oscar", "Priya", "Quentin", "Rosa", "Sven", "Tomasz",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe")
PRODUCTS = ("Acme Drive", "Acme Mail", "the analytics dashboard", "the mobile app",
            "the billing portal", "the API", "Acme Chat", "the desktop client", "SSO",
            "the export tool", "the admin console", "webhooks")
PLANS = ("Starter", "Team", "Business", "Enterprise")
TEMPLATES = {
    "billing": (
        "I was charged {amount} twice for order {order} on {date}.",
        "My invoice {invoice} shows {amount} but I am on the {plan} plan.",
        "Why did my card get billed {amount} on {date}? I cancelled {product} last month.",
        "Can I get a refund for order {order}? The charge of {amount} was a mistake.",
        "The {plan} plan price went up to {amount} without notice.",
        "Please send a corrected invoice for {invoice}, the VAT number is missing.",
    ),
    "technical": (
        "{product} keeps crashing when I open it since {date}.",
        "Getting error {code} from {product} every time I try to upload a file.",
        "{product} is extremely slow today, pages take {n} seconds to load.",
        "The export from {product} stops at {n} percent and never finishes.",
        "After the update on {date}, {product} shows a blank screen.",
        "Webhook deliveries fail with status {code} for order {order}.",
    ),
    "account": (
        "I cannot log in to {product}, the password reset email never arrives.",
        "Please add {name2} to our team on the {plan} plan.",
        "How do I change the owner of our workspace to {name2}?",
        "My account got locked after {n} failed attempts.",
        "I need to change the email address on my account to {email}.",
        "Please delete the account of {name2}, they left the company on {date}.",
    ),
    "security": (
        "I got a login alert from an unknown device in {city} on {date}.",
        "Someone changed my two-factor settings without my permission.",
        "We think an API key for {product} leaked, please revoke key {invoice}.",
        "Suspicious sign-in attempts on {n} accounts in our workspace.",
    ),
    "feature_request": (
        "It would be great if {product} supported dark mode.",
        "Could you add an export to CSV in {product}?",
        "Please allow more than {n} members on the {plan} plan.",
        "We would love a Slack integration for {product}.",
    ),
}
PRIORITIES = ("low", "medium", "high", "urgent")
URGENCY = ("", "This is urgent!", "No rush.", "It blocks our whole team.",
           "We have a deadline on {date}.", "Not critical but annoying.")
CITIES = ("Lagos", "Lima", "Oslo", "Pune", "Quito", "Riga", "Seoul", "Tunis", "Utrecht", "Vigo")
SWAPS = {"keeps": "kept", "slow": "sluggish", "great": "nice", "please": "kindly",
         "charged": "billed", "cannot": "can't", "error": "failure", "update": "upgrade",
         "invoice": "bill", "account": "profile", "never": "not", "today": "now"}


def _ticket(rng: random.Random) -> tuple[str, dict[str, str]]:
    category = rng.choices(list(TEMPLATES), weights=(30, 30, 20, 8, 12))[0]
    name = rng.choice(NAMES)
    fill = {
        "amount": f"${rng.randint(5, 2000)}.{rng.randint(0, 99):02d}",
        "order": f"#{rng.randint(100000, 999999)}",
        "invoice": f"INV-{rng.randint(1000, 99999)}",
        "date": f"{rng.choice(('March', 'April', 'May', 'June', 'July'))} {rng.randint(1, 28)}",
        "plan": rng.choice(PLANS), "product": rng.choice(PRODUCTS), "n": str(rng.randint(2, 90)),
        "code": str(rng.choice((400, 401, 403, 404, 409, 429, 500, 502, 503))),
        "name": name, "name2": rng.choice(NAMES) + " " + rng.choice("ABCDEFGHKLMNPRSTW") + ".",
        "email": f"{name.lower()}{rng.randint(1, 999)}@example.com", "city": rng.choice(CITIES),
    }
    parts = [rng.choice(GREETINGS), rng.choice(TEMPLATES[category]).format(**fill)]
    if rng.random() < 0.5:
        parts.append(rng.choice(TEMPLATES[category]).format(**fill))
    urgency = rng.choice(URGENCY)
    parts.extend([urgency.format(**fill), rng.choice(CLOSINGS).format(**fill)])
    text = " ".join(p for p in parts if p)
    text = text[0].upper() + text[1:]
    if category == "security" or urgency.startswith(("This is urgent", "It blocks")):
        priority = rng.choice(("high", "urgent"))
    else:
        priority = rng.choice(PRIORITIES[:3])
    return text, {"category": category, "priority": priority}


def _record(ticket: str, label: dict[str, str]) -> str:
    return json.dumps({"messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": ticket},
        {"role": "assistant", "content": json.dumps(label)}]}, ensure_ascii=False) + "\n"


def _swap_one_word(rng: random.Random, text: str) -> str | None:
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if w.lower().strip(",.!?") in SWAPS]
    if not spots:
        return None
    i = rng.choice(spots)
    bare = words[i].strip(",.!?")
    words[i] = words[i].replace(bare, SWAPS[bare.lower()])
    return " ".join(words)


def _disguise(text: str) -> str:
    """The same prompt after normalisation: other case, full-width letters, more spaces."""
    shouted = text.upper().replace(" ", "  ")
    return "".join(chr(ord(c) + 0xFEE0) if "A" <= c <= "Z" and i % 7 == 0 else c
                   for i, c in enumerate(shouted))


def generate(n_train: int, n_eval: int, seed: int = 0) -> tuple[Path, Path, dict[str, Any]]:
    """Write train and eval JSONL; return their paths and what was injected (counts).

    About 1 % of the eval set are exact leaks and 1 % near leaks (one word
    swapped); 1 % of train are exact duplicates and 0.5 % near duplicates;
    0.5 % of train repeat a ticket with a different label (conflicts).
    """
    OUT.mkdir(exist_ok=True)
    train_path = OUT / f"audit-train-{n_train}-{seed}.jsonl"
    eval_path = OUT / f"audit-eval-{n_eval}-{seed}.jsonl"
    meta_path = OUT / f"audit-meta-{n_train}-{n_eval}-{seed}.json"
    if train_path.exists() and eval_path.exists() and meta_path.exists():
        return train_path, eval_path, json.loads(meta_path.read_text())
    rng = random.Random(seed)
    train = [_ticket(rng) for _ in range(n_train)]
    injected: dict[str, Any] = {"exact_leaks": 0, "near_leaks": 0, "train_duplicates": 0,
                "train_near_duplicates": 0, "train_conflicts": 0}
    for _ in range(n_train // 100):
        train[rng.randrange(n_train)] = train[rng.randrange(n_train)]
        injected["train_duplicates"] += 1
    for _ in range(n_train // 200):
        text, label = train[rng.randrange(n_train)]
        swapped = _swap_one_word(rng, text)
        if swapped:
            train[rng.randrange(n_train)] = (swapped, label)
            injected["train_near_duplicates"] += 1
    for _ in range(n_train // 200):
        text, label = train[rng.randrange(n_train)]
        other = dict(label, category=rng.choice([c for c in TEMPLATES if c != label["category"]]))
        train[rng.randrange(n_train)] = (text, other)
        injected["train_conflicts"] += 1
    evals = [_ticket(random.Random(f"{seed}-eval-{i}")) for i in range(n_eval)]
    exact_at = rng.sample(range(n_eval), max(1, n_eval // 100))
    for i in exact_at:
        text, label = train[rng.randrange(n_train)]
        evals[i] = (_disguise(text), label)
    free = sorted(set(range(n_eval)) - set(exact_at))
    near_at = rng.sample(free, max(1, n_eval // 100))
    for i in near_at:
        while True:
            text, label = train[rng.randrange(n_train)]
            swapped = _swap_one_word(rng, text)
            if swapped:
                break
        evals[i] = (swapped, label)
    injected["exact_leaks"] = len(exact_at)
    injected["near_leaks"] = len(near_at)
    injected["exact_leak_lines"] = sorted(i + 1 for i in exact_at)
    injected["near_leak_lines"] = sorted(i + 1 for i in near_at)
    with train_path.open("w", encoding="utf-8") as f:
        f.writelines(_record(t, lab) for t, lab in train)
    with eval_path.open("w", encoding="utf-8") as f:
        f.writelines(_record(t, lab) for t, lab in evals)
    meta_path.write_text(json.dumps(injected))
    return train_path, eval_path, injected


# -- workers: each measurement runs in a fresh process (its own peak RSS) ------------------

def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """CPU seconds of this process (all threads): steadier than wall time on a busy box."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_full(train: str, evals: str, threshold: float) -> dict[str, Any]:
    """``ftdecide.data.audit`` end to end, with the time of each stage."""
    import ftdecide.data as data

    stages: dict[str, float] = {}
    cpu = _cpu_s()
    start = time.perf_counter()
    last = [start, "reading train"]

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last[1]:
            now = time.perf_counter()
            stages[last[1]] = now - last[0]
            last[:] = [now, stage]

    report = data.audit(train, evals, near_threshold=threshold, progress=progress)
    end = time.perf_counter()
    stages[last[1]] = end - last[0]
    d = report.to_dict()
    return {"seconds": end - start, "cpu": _cpu_s() - cpu, "stages": stages,
            "rss_mb": _peak_rss_mb(),
            "counts": d["counts"], "leaked": [e["eval_line"] for e in d["leaked"]],
            "near_leaked": [e["eval_line"] for e in d["near_leaked"]],
            "majority_rate": d["labels"].get("majority_rate"),
            "min_detectable_diff": d["min_detectable_diff"]}


def _vectors(train: str, evals: str) -> tuple[Any, int]:
    """The audit's own vectors for the unique train prompts, then the unique eval prompts."""
    from ftdecide.data import load_examples
    from ftdecide.data._audit_text import prompt_text, split
    from ftdecide.data._audit_vectors import vectorize

    def texts(path: str) -> list[str]:
        return list(dict.fromkeys(prompt_text(split(e.messages)[0]) for e in load_examples(path)))

    train_texts = texts(train)
    eval_texts = [t for t in texts(evals) if t not in set(train_texts)]
    return vectorize(train_texts + eval_texts), len(train_texts)


def _worker_search(train: str, evals: str, threshold: float, out: str) -> dict[str, Any]:
    """The pruned, chunked search on the vectors; pairs saved for the comparison."""
    import numpy as np

    from ftdecide.data import _audit_search as search
    from ftdecide.data._audit_vectors import rows_view

    vectors, n = _vectors(train, evals)
    rss_before = _peak_rss_mb()
    y = rows_view(vectors.matrix, 0, n)
    x = rows_view(vectors.matrix, n, vectors.rows)
    cpu = _cpu_s()
    start = time.perf_counter()
    index = search.Index.build(y, threshold)
    q, t, s = search.best_matches(x, index)
    a, b, sims = search.self_pairs(index)
    seconds = time.perf_counter() - start
    np.savez(out, q=q, t=t, s=s, a=a, b=b, sims=sims)
    return {"seconds": seconds, "cpu": _cpu_s() - cpu, "rss_mb": _peak_rss_mb(),
            "rss_before_mb": rss_before}


def _worker_brute(train: str, evals: str, threshold: float, out: str) -> dict[str, Any]:
    """scikit-learn ``cosine_similarity`` on the same vectors: eval × train at once,
    train × train in blocks of 1,000 rows (dense), every pair thresholded."""
    import numpy as np
    from sklearn.metrics.pairwise import cosine_similarity

    from ftdecide.data._audit_vectors import rows_view

    vectors, n = _vectors(train, evals)
    rss_before = _peak_rss_mb()
    y = rows_view(vectors.matrix, 0, n)
    x = rows_view(vectors.matrix, n, vectors.rows)
    cpu = _cpu_s()
    start = time.perf_counter()
    dense = cosine_similarity(x, y)
    best = dense.max(axis=1)
    q = np.flatnonzero(best >= threshold)
    s = best[q]
    del dense
    found_a, found_b, found_s = [], [], []
    for lo in range(0, n, 1000):
        block = cosine_similarity(y[lo:lo + 1000], y)
        i, j = np.nonzero(block >= threshold)
        upper = j > i + lo
        found_a.append(i[upper] + lo)
        found_b.append(j[upper])
        found_s.append(block[i[upper], j[upper]])
    seconds = time.perf_counter() - start
    np.savez(out, q=q, s=s, a=np.concatenate(found_a), b=np.concatenate(found_b),
             sims=np.concatenate(found_s))
    return {"seconds": seconds, "cpu": _cpu_s() - cpu, "rss_mb": _peak_rss_mb(),
            "rss_before_mb": rss_before}


def _in_fresh_process(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _compare_pairs(ours_file: str, brute_file: str, threshold: float) -> dict[str, Any]:
    """Recall of the brute-force pairs, pairs found only by one side, similarity agreement."""
    import numpy as np

    ours, brute = np.load(ours_file), np.load(brute_file)
    out: dict[str, Any] = {}
    for name, o_keys, b_keys, o_sims, b_sims in (
            ("eval→train best match", ours["q"], brute["q"], ours["s"], brute["s"]),
            ("train×train pairs", ours["a"] * 10**7 + ours["b"], brute["a"] * 10**7 + brute["b"],
             ours["sims"], brute["sims"])):
        o = dict(zip(o_keys.tolist(), o_sims.tolist()))
        b = dict(zip(b_keys.tolist(), b_sims.tolist()))
        both = set(o) & set(b)
        # a pair on one side only within float32 rounding of the threshold is not a miss
        border = 1e-5
        missed = [k for k in set(b) - set(o) if b[k] >= threshold + border]
        extra = [k for k in set(o) - set(b) if o[k] >= threshold + border]
        out[name] = {"brute": len(b), "ours": len(o), "found": len(both),
                     "recall": len(both) / len(b) if b else 1.0, "missed": len(missed),
                     "extra": len(extra),
                     "max_similarity_diff": max((abs(o[k] - b[k]) for k in both), default=0.0)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--eval", type=int, default=10_000)
    parser.add_argument("--brute-train", type=int, default=20_000)
    parser.add_argument("--brute-eval", type=int, default=2_000)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--no-brute", action="store_true", help="skip the brute-force comparison")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        worker = {"full": _worker_full, "search": _worker_search, "brute": _worker_brute}[kind]
        result = worker(rest[0], rest[1], float(rest[2]), *rest[3:])
        print(json.dumps(result))
        return

    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    train, evals, injected = generate(args.train, args.eval)
    print(f"data: {args.train:,} train × {args.eval:,} eval generated tickets "
          f"({train.stat().st_size / 1e6:.0f} + {evals.stat().st_size / 1e6:.0f} MB), "
          f"{cores} cores, threshold {args.threshold}")
    full = _in_fresh_process("full", str(train), str(evals), str(args.threshold))
    counts = full["counts"]
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in full["stages"].items())
    print(f"\n1. audit() at {args.train:,} × {args.eval:,}: {full['seconds']:.1f} s wall "
          f"(goal: about 60 s), {full['cpu']:.1f} s CPU, peak RSS {full['rss_mb']:.0f} MB")
    print(f"   stages: {stages}")
    print(f"   found: {counts['leaked']:,} exact leaks, {counts['near_leaked']:,} near leaks, "
          f"{counts['conflicts_train']:,} conflicting train prompts, "
          f"{counts['conflicts_train_eval']:,} train/eval conflicts, "
          f"{counts['near_duplicate_pairs']:,} near-duplicate pairs "
          f"({counts['exact_duplicate_pairs']:,} exact)")
    leaked, near = set(full["leaked"]), set(full["near_leaked"])
    exact_found = sum(n in leaked for n in injected["exact_leak_lines"])
    near_found = sum(n in near or n in leaked for n in injected["near_leak_lines"])
    print(f"   injected exact leaks found: {exact_found}/{injected['exact_leaks']} "
          f"{'OK' if exact_found == injected['exact_leaks'] else 'MISSED SOME'}; injected "
          f"one-word near leaks found at ≥ {args.threshold}: {near_found}/{injected['near_leaks']}"
          " (a swap in a short ticket can fall below the threshold)")

    if args.no_brute:
        return
    small_train, small_eval, _ = generate(args.brute_train, args.brute_eval, seed=1)
    ours_file, brute_file = str(OUT / "audit-ours.npz"), str(OUT / "audit-brute.npz")
    ours = _in_fresh_process("search", str(small_train), str(small_eval), str(args.threshold),
                             ours_file)
    brute = _in_fresh_process("brute", str(small_train), str(small_eval), str(args.threshold),
                              brute_file)
    print(f"\n2. the same vectors at {args.brute_train:,} × {args.brute_eval:,}: pruned chunked "
          "search vs brute-force sklearn cosine_similarity")
    for name, c in _compare_pairs(ours_file, brute_file, args.threshold).items():
        ok = c["missed"] == 0 and c["extra"] == 0
        print(f"   {name:22s} brute force {c['brute']:,}, ours {c['ours']:,}, recall "
              f"{c['recall']:.4f}, missed {c['missed']}, extra {c['extra']}, largest "
              f"similarity difference {c['max_similarity_diff']:.1e}  "
              f"{'OK' if ok else 'MISMATCH'}")
    print(f"   search time: ours {ours['seconds']:.2f} s ({ours['cpu']:.2f} s CPU), brute force "
          f"{brute['seconds']:.2f} s ({brute['cpu']:.2f} s CPU) → "
          f"{brute['seconds'] / ours['seconds']:.1f}x faster "
          f"({brute['cpu'] / ours['cpu']:.1f}x less CPU)")
    print(f"   peak RSS: ours {ours['rss_mb']:.0f} MB ({ours['rss_before_mb']:.0f} before the "
          f"search), brute force {brute['rss_mb']:.0f} MB ({brute['rss_before_mb']:.0f} before) "
          f"→ search's own memory {max(ours['rss_mb'] - ours['rss_before_mb'], 1):.0f} vs "
          f"{max(brute['rss_mb'] - brute['rss_before_mb'], 1):.0f} MB")


if __name__ == "__main__":
    main()
