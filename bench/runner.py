"""Runner throughput and the cached re-run, against a local server with a fixed latency.

Two ratios (issue 6, item 10):

1. 400 calls at concurrency 8 to a server that takes 50 ms per answer. The
   ideal is 400 × 50 ms / 8 = 2.5 s; the ratio is ideal / measured (goal
   ≥ 0.85: the runner, the SDK and the run store add little). A bare thread
   pool making the same calls through the provider (nothing recorded) is
   measured too: on a small machine the ``openai`` SDK's CPU per call, not
   the runner, sets the floor.
2. The same 400 calls again as a new run: every answer comes from the cache
   (goal: zero requests, and ≥ 50× faster than the first run).

Run: ``python bench/runner.py [--calls 400] [--concurrency 8] [--latency 0.05]``.
Real components throughout: the ``openai`` provider plugin, the real SDK over
HTTP to ``ftdecide.testing.OpenAICompatibleServer`` on 127.0.0.1 (in its own
process), a real SQLite run store in a temporary folder. "0 requests" is the
server's own count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.05, help="server seconds per answer")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ftdecide-bench-runner-")
    os.environ["FTDECIDE_DATA_DIR"] = tmp
    os.environ["FTDECIDE_LOAD_PLUGINS"] = "openai"
    os.environ["OPENAI_API_KEY"] = "sk-bench"

    from ftdecide.compare._runner import Call, Runner
    from ftdecide.compare._runstore import RunStore, call_key
    from ftdecide.pricing._catalog import load_catalog

    # The server runs in its own process, as a real one would: in this process its
    # request handling would compete with the runner for the GIL.
    server_code = (
        "import sys, time\n"
        "from ftdecide.testing import OpenAICompatibleServer\n"
        f"def answer(request):\n    time.sleep({args.latency!r})\n    return 'ok'\n"
        "s = OpenAICompatibleServer(responder=answer).start()\n"
        "print(s.base_url, flush=True)\n"
        "sys.stdin.read()\n"
        "print(len(s.calls('POST', '/v1/chat/completions')), flush=True)\n")
    server = subprocess.Popen([sys.executable, "-c", server_code], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdin is not None
    base_url = server.stdout.readline().strip()
    try:
        os.environ["OPENAI_BASE_URL"] = base_url
        catalog = load_catalog()
        info = catalog.resolve("openai/gpt-4o-mini-2024-07-18")
        provider = catalog.providers["openai"]
        params = {"temperature": 0, "max_tokens": 16}

        def calls() -> list[Call]:
            out = []
            for i in range(args.calls):
                messages = [{"role": "user", "content": f"question {i}"}]
                out.append(Call(arm="zeroshot", item=str(i), provider=provider, model=info.id,
                                messages=messages, params=params, info=info,
                                key=call_key("openai", info.id, messages, params)))
            return out

        # warm-up: the SDK's first client and import cost are not the runner's
        provider.complete([{"role": "user", "content": "warm-up"}], model=info.id, **params)
        store = RunStore()

        # the floor on this machine: a bare thread pool calling the provider, nothing recorded
        from concurrent.futures import ThreadPoolExecutor

        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(lambda c: provider.complete(c.messages, model=c.model, **c.params),
                          calls()))
        t_bare = time.perf_counter() - started

        run1 = store.create_run(config={"bench": 1})
        started = time.perf_counter()
        first = Runner(store, run1.id, concurrency=args.concurrency).run(calls())
        t_first = time.perf_counter() - started

        run2 = store.create_run(config={"bench": 2})
        started = time.perf_counter()
        second = Runner(store, run2.id, concurrency=args.concurrency).run(calls())
        t_cached = time.perf_counter() - started
    finally:
        out, _ = server.communicate("", timeout=30)
    served = int(out.strip().splitlines()[-1]) - 1 - args.calls  # less warm-up and bare pool
    requests_first = first.new_calls
    requests_cached = served - requests_first

    ideal = args.calls * args.latency / args.concurrency
    print(f"calls: {args.calls}, concurrency {args.concurrency}, server latency "
          f"{args.latency * 1000:.0f} ms")
    print(f"first run:  {t_first:.2f} s, {requests_first} requests, {first.new_calls} recorded; "
          f"ideal {ideal:.2f} s -> throughput ratio {ideal / t_first:.2f}x of ideal (goal >= 0.85)")
    print(f"bare thread pool (no store, no cache): {t_bare:.2f} s -> the runner takes "
          f"{t_first / t_bare:.2f}x its time (the SDK's own CPU per call is the floor here)")
    print(f"cached run: {t_cached:.3f} s, {requests_cached} requests, {second.cached_calls} from "
          f"the cache -> {t_first / t_cached:.0f}x faster (goal: 0 requests, >= 50x)")


if __name__ == "__main__":
    main()
