"""Run many model calls: concurrency, retries, budget, cache, resume.

The runner knows nothing about arms or metrics: it takes :class:`Call`s and
returns one :class:`~ftdecide.runstore.CallResult` per call, writing each to
the run store the moment it completes (from the main thread only, so SQLite
never sees two writers from one process). What it guarantees:

- a call already recorded for the run (``--resume``) is never repeated;
- a call whose cache key was answered before is served from the cache;
- a provider that runs locally gets its ``complete_batch`` (batched
  generation) in chunks; a hosted one gets a thread pool, at most
  ``concurrency`` calls in flight; with ``batch_api`` and a provider that
  supports it, one provider batch per (provider, model), recorded before
  polling so a resume polls it instead of paying twice;
- ``max_cost_usd`` stops before a call whose predicted cost (its prompt
  tokens at the input price plus ``max_tokens`` at the output price) would
  take the spend past it;
- transient provider errors are retried with exponential backoff (the
  ``openai`` SDK already honours ``Retry-After`` below this); an
  authentication error stops at once.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from ftdecide.compare._runstore import CallResult, RunStore
from ftdecide.errors import AuthenticationError, FtdecideError, ProviderError

RETRIES = 3
BACKOFF_S = 0.5
LOCAL_CHUNK = 16
BATCH_POLL_S = 10.0  # between polls of a provider batch (answered within minutes to hours)


@dataclass
class Call:
    """One model call of a run: which arm and item, which model, which messages."""

    arm: str
    item: str
    provider: Any
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    key: str
    predicted_cost_usd: float = 0.0
    info: Any = None
    min_cost_usd: float = 0.0
    """What the call costs at the least: its prompt tokens alone (the preflight's budget check)."""

    @property
    def provider_name(self) -> str:
        return str(getattr(self.provider, "name", ""))


@dataclass
class RunOutcome:
    """What happened: results by (arm, item), and whether the budget stopped the run."""

    results: dict[tuple[str, str], CallResult] = field(default_factory=dict)
    new_calls: int = 0
    cached_calls: int = 0
    resumed_calls: int = 0
    spent_usd: float = 0.0
    budget_stopped: bool = False
    skipped: int = 0


class BudgetExceeded(Exception):
    pass


Progress = Callable[[str, int, int], None]


class Runner:
    """Executes calls for one run id against a :class:`RunStore`."""

    def __init__(self, store: RunStore, run_id: str, *, concurrency: int = 8,
                 max_cost_usd: float | None = None, use_cache: bool = True,
                 batch_api: bool = False, progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 cost_of: Callable[[Call, Any], float | None] | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.concurrency = max(1, concurrency)
        self.max_cost_usd = max_cost_usd
        self.use_cache = use_cache
        self.batch_api = batch_api
        self.progress = progress
        self.sleep = sleep
        self.cost_of = cost_of
        self._done_by_arm: dict[str, int] = {}
        self._total_by_arm: dict[str, int] = {}

    # -- public --------------------------------------------------------------------------
    def run(self, calls: Sequence[Call]) -> RunOutcome:
        out = RunOutcome()
        recorded = self.store.calls(self.run_id)
        for c in calls:
            self._total_by_arm[c.arm] = self._total_by_arm.get(c.arm, 0) + 1
        pending: list[Call] = []
        fresh = [c for c in calls if (c.arm, c.item) not in recorded]
        hits = self.store.cached_many([c.key for c in fresh]) if self.use_cache else {}
        from_cache = []
        for c in calls:
            prior = recorded.get((c.arm, c.item))
            if prior is not None:
                out.results[(c.arm, c.item)] = prior
                out.resumed_calls += 1
                self._tick(c.arm)
                continue
            hit = hits.get(c.key)
            if hit is not None:
                from_cache.append((c.arm, c.item, c.key, c.provider_name, c.model, hit))
                out.results[(c.arm, c.item)] = hit
                out.cached_calls += 1
                self._tick(c.arm)
                continue
            pending.append(c)
        self.store.record_calls(self.run_id, from_cache)
        groups: dict[tuple[str, str, str], list[Call]] = {}
        for c in pending:
            gkey = (c.provider_name, c.model, repr(sorted(c.params.items())))
            groups.setdefault(gkey, []).append(c)
        try:
            self._collect_open_batches(calls, out)
            hosted: list[Call] = []
            for group in groups.values():
                group = [c for c in group if (c.arm, c.item) not in out.results]
                if not group:
                    continue
                provider = group[0].provider
                if getattr(provider, "runs_locally", False):
                    self._run_local(group, out)
                elif self.batch_api and getattr(provider, "supports_batch_api", False):
                    self._run_provider_batch(group, out)
                else:
                    hosted.extend(group)
            if hosted:
                self._run_pool(hosted, out)
        except BudgetExceeded:
            out.budget_stopped = True
        out.skipped = sum(1 for c in calls if (c.arm, c.item) not in out.results)
        return out

    # -- helpers -------------------------------------------------------------------------
    def _tick(self, arm: str) -> None:
        self._done_by_arm[arm] = self._done_by_arm.get(arm, 0) + 1
        if self.progress is not None:
            self.progress(arm, self._done_by_arm[arm], self._total_by_arm.get(arm, 0))

    def _check_budget(self, out: RunOutcome, predicted: float) -> None:
        if self.max_cost_usd is not None and out.spent_usd + predicted > self.max_cost_usd + 1e-12:
            raise BudgetExceeded()

    def _record(self, call: Call, completion: Any, out: RunOutcome) -> None:
        usage = completion.usage
        cost = completion.cost_usd
        if cost is None and self.cost_of is not None:
            cost = self.cost_of(call, usage)
        result = CallResult(text=completion.text or "", input_tokens=int(usage.input_tokens),
                            output_tokens=int(usage.output_tokens),
                            cached_input_tokens=int(usage.cached_input_tokens or 0),
                            latency_s=float(completion.latency_s or 0.0), cost_usd=cost)
        self.store.record_call(self.run_id, call.arm, call.item, call.key, call.provider_name,
                               call.model, result)
        out.results[(call.arm, call.item)] = result
        out.new_calls += 1
        out.spent_usd += cost or 0.0
        self._tick(call.arm)

    def _with_retries(self, fn: Callable[[], Any]) -> Any:
        for attempt in range(RETRIES):
            try:
                return fn()
            except AuthenticationError:
                raise
            except ProviderError:
                if attempt == RETRIES - 1:
                    raise
                self.sleep(BACKOFF_S * 2 ** attempt)
        raise AssertionError("unreachable")

    def _run_local(self, group: list[Call], out: RunOutcome) -> None:
        """Batched generation in the main thread: a local model uses every core already."""
        provider, model = group[0].provider, group[0].model
        params = group[0].params
        # similar lengths together: less padding per batch
        order = sorted(group, key=lambda c: sum(len(str(m.get("content", ""))) for m in c.messages))
        for i in range(0, len(order), LOCAL_CHUNK):
            chunk = order[i:i + LOCAL_CHUNK]
            self._check_budget(out, sum(c.predicted_cost_usd for c in chunk))
            completions = self._with_retries(
                lambda: provider.complete_batch([c.messages for c in chunk], model=model, **params))
            if len(completions) != len(chunk):
                raise ProviderError(f"provider {group[0].provider_name!r} returned "
                                    f"{len(completions)} completions for {len(chunk)} prompts")
            for call, completion in zip(chunk, completions):
                self._record(call, completion, out)

    def _run_pool(self, calls: list[Call], out: RunOutcome) -> None:
        """A thread pool; results are recorded here, in the main thread, as they complete."""
        queue = list(reversed(calls))
        in_flight: dict[Future[Any], Call] = {}
        predicted_in_flight = 0.0
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="ftdecide-call")
        stop_submitting = False
        try:
            while queue or in_flight:
                while queue and len(in_flight) < self.concurrency and not stop_submitting:
                    call = queue[-1]
                    try:
                        self._check_budget(out, predicted_in_flight + call.predicted_cost_usd)
                    except BudgetExceeded:
                        stop_submitting = True
                        break
                    queue.pop()
                    fut = pool.submit(self._with_retries, lambda c=call: c.provider.complete(
                        c.messages, model=c.model, **c.params))
                    in_flight[fut] = call
                    predicted_in_flight += call.predicted_cost_usd
                if not in_flight:
                    break
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                failure: BaseException | None = None
                for fut in done:
                    call = in_flight.pop(fut)
                    predicted_in_flight -= call.predicted_cost_usd
                    if fut.exception() is not None:
                        failure = failure or fut.exception()
                        continue
                    self._record(call, fut.result(), out)
                if failure is not None:
                    raise failure
            if stop_submitting:
                raise BudgetExceeded()
        finally:
            # Calls already sent are paid for: wait for them and keep every answer,
            # whatever stopped the run (a failed call, the budget, Ctrl-C).
            pool.shutdown(wait=True, cancel_futures=True)
            for fut, call in in_flight.items():
                if not fut.cancelled() and fut.exception() is None:
                    self._record(call, fut.result(), out)

    def _run_provider_batch(self, group: list[Call], out: RunOutcome) -> None:
        """One provider batch (e.g. OpenAI's Batch API at half price) for the group."""
        provider, model = group[0].provider, group[0].model
        self._check_budget(out, sum(c.predicted_cost_usd for c in group))
        requests = [(f"{c.arm}|{c.item}", c.messages) for c in group]
        batch_id = self._with_retries(
            lambda: provider.batch_submit(requests, model=model, **group[0].params))
        self.store.record_batch(self.run_id, batch_id, group[0].provider_name, model,
                                [{"arm": c.arm, "item": c.item} for c in group])
        self._poll_batch(provider, batch_id, model, {f"{c.arm}|{c.item}": c for c in group}, out)

    def _collect_open_batches(self, calls: Sequence[Call], out: RunOutcome) -> None:
        """On resume: poll the batches submitted before the interruption."""
        by_id = {f"{c.arm}|{c.item}": c for c in calls}
        for batch in list(self.store.open_batches(self.run_id)):
            ids = [f"{m['arm']}|{m['item']}" for m in batch["calls"]]
            if not any(cid in by_id for cid in ids):
                # another phase's batch (a run labels, then tunes, then calls its arms with
                # one runner each): that phase's runner polls it, never this one
                continue
            members = {cid: by_id[cid] for cid in ids
                       if cid in by_id and (by_id[cid].arm, by_id[cid].item) not in out.results}
            if not members:
                self.store.finish_batch(self.run_id, batch["batch_id"])
                continue
            provider = next(iter(members.values())).provider
            self._poll_batch(provider, batch["batch_id"], batch["model"], members, out)

    def _poll_batch(self, provider: Any, batch_id: str, model: str, members: Mapping[str, Call],
                    out: RunOutcome) -> None:
        while True:
            result = self._with_retries(lambda: provider.batch_poll(batch_id, model=model))
            if self.progress is not None:
                self.progress(f"batch {batch_id} ({result.status})", result.done, result.total)
            if getattr(result, "finished", False):
                break
            self.sleep(BATCH_POLL_S)
        errors = dict(getattr(result, "errors", {}) or {})
        for cid, completion in (getattr(result, "completions", {}) or {}).items():
            call = members.get(cid)
            if call is not None and (call.arm, call.item) not in out.results:
                self._record(call, completion, out)
        self.store.finish_batch(self.run_id, batch_id)
        missing = [cid for cid in members if (members[cid].arm, members[cid].item) not in out.results]
        if missing:
            first = errors.get(missing[0], "no answer in the batch output")
            raise ProviderError(f"batch {batch_id}: {len(missing)} request(s) failed; first: {first}",
                                hint="re-run with --resume to retry them one by one without --batch")


def describe_failure(exc: BaseException) -> str:
    """One line for a failed call, for the CLI."""
    if isinstance(exc, FtdecideError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def predicted_cost(prompt_tokens: int, max_tokens: int, input_per_1m: float | None,
                   output_per_1m: float | None) -> float:
    """Upper bound of one call's cost: all its prompt tokens and ``max_tokens`` of output."""
    return (prompt_tokens * (input_per_1m or 0.0) + max_tokens * (output_per_1m or 0.0)) / 1e6


def iter_pending(calls: Iterable[Call], recorded: Mapping[tuple[str, str], Any]) -> list[Call]:
    """The calls of ``calls`` with no recorded answer (what a dry run would send)."""
    return [c for c in calls if (c.arm, c.item) not in recorded]
