"""The judge's phase of a run: its calls, their forecast, the scores and the ``judge`` results.

After every arm has answered, each answer becomes one grader call (and,
with ``pairwise: true``, each non-baseline answer two more against the
baseline's, one per order). They are ordinary runner calls under their own
arm names (``judge:ARM``, ``judge-pair:ARM:ab`` / ``:ba``), so they are
recorded the moment they complete, cached on (provider, model, prompt),
never repeated on ``--resume``, counted in ``--max-cost`` and sent through a
provider's Batch API like the arms' calls. Their cost is the *evaluation
cost*, kept apart from the arms' serving cost.

:func:`prepare` (preflight: the judge's model and the human labels, checked
before any call), :func:`forecast` (the calls and predicted cost, for the
dry run and the budget floor), :func:`run_phase` (the calls), and
:class:`JudgeMetric` (the scores for :func:`~ftdecide.compare._scoring.score_run`)
with :meth:`JudgeMetric.results` (the ``judge`` block of ``results.json``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ftdecide.compare._judge import (
    JudgeSpec,
    Judgment,
    pair_outcome,
    pairwise_messages,
    parse_judgment,
    parse_preference,
    pointwise_messages,
)
from ftdecide.compare._metrics import Score
from ftdecide.compare._runner import Call, Runner, RunOutcome, predicted_cost
from ftdecide.compare._runstore import RunStore, call_key, endpoint_of

POINT = "judge:"
PAIR = "judge-pair:"


@dataclass
class JudgePlan:
    """The judge of a run, checked in preflight: spec, model, provider, the human labels."""

    spec: JudgeSpec
    info: Any
    provider: Any
    labels: list[Any] = field(default_factory=list)
    labels_path: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {"temperature": 0, "max_tokens": self.spec.max_tokens}


def prepare(config: Any, catalog: Any) -> JudgePlan | None:
    """The run's judge (None without ``judge:``); raises before any call on a bad model or
    labels file."""
    if not config.judge:
        return None
    from ftdecide.compare._agreement import load_labels
    from ftdecide.errors import UnknownModelError, UsageError

    spec = JudgeSpec.from_config(config.judge)
    try:
        info = catalog.resolve(spec.model)
    except UnknownModelError as exc:
        raise UsageError(f"judge.model: {exc.message}", path=config.source, key="judge.model",
                         hint=exc.hint) from None
    labels = load_labels(config.human_labels, spec.scale, config.arms) if config.human_labels \
        else []
    return JudgePlan(spec=spec, info=info, provider=catalog.providers[info.provider],
                     labels=labels, labels_path=config.human_labels)


def _call(plan: JudgePlan, arm: str, item: str, messages: list[dict[str, str]],
          answer_tokens: int = 0) -> Call:
    """One grader call; ``answer_tokens`` adds tokens not yet in the prompt (a forecast)."""
    from ftdecide.data import _tokens as tokens
    from ftdecide.pricing import _costs as costs

    prices = costs.base_prices(plan.info)
    predicted = least = 0.0
    if prices.known:
        n = tokens.count_messages(messages, plan.info.encoding or tokens.DEFAULT_ENCODING)
        predicted = predicted_cost(n + answer_tokens, plan.spec.max_tokens, prices.input,
                                   prices.output)
        least = predicted_cost(n, 0, prices.input, prices.output)
    return Call(arm=arm, item=item, provider=plan.provider, model=plan.info.id, messages=messages,
                params=plan.params, key=call_key(plan.info.provider, plan.info.id, messages,
                                                 plan.params, endpoint_of(plan.provider)),
                predicted_cost_usd=predicted, info=plan.info, min_cost_usd=least)


def judge_calls(plan: JudgePlan, items: Sequence[Any], arms: Sequence[str], baseline: str,
                answers: Mapping[tuple[str, str], str], *,
                unknown_answer_tokens: int | None = None) -> list[Call]:
    """Every grader call of the run for the answers known in ``answers``.

    With ``unknown_answer_tokens`` (a forecast), an answer not known yet is
    planned as empty text plus that many tokens, the most an answer can have.
    """
    spec = plan.spec
    calls: list[Call] = []

    def answer(arm: str, item: str) -> tuple[str, int] | None:
        text = answers.get((arm, item))
        if text is not None:
            return text, 0
        return None if unknown_answer_tokens is None else ("", unknown_answer_tokens)

    for it in items:
        base = answer(baseline, it.id)
        for arm in arms:
            got = answer(arm, it.id)
            if got is None:
                continue
            calls.append(_call(plan, POINT + arm, it.id,
                               pointwise_messages(spec, it.input, it.expected, got[0]), got[1]))
            if spec.pairwise and arm != baseline and base is not None:
                extra = got[1] + base[1]
                calls.append(_call(plan, f"{PAIR}{arm}:ab", it.id,
                                   pairwise_messages(spec, it.input, it.expected, got[0], base[0]),
                                   extra))
                calls.append(_call(plan, f"{PAIR}{arm}:ba", it.id,
                                   pairwise_messages(spec, it.input, it.expected, base[0], got[0]),
                                   extra))
    return calls


@dataclass
class Forecast:
    """What the judge phase would do, known before the arms answer."""

    model: str
    calls: int = 0
    cached: int = 0
    recorded: int = 0
    predicted_cost_usd: float | None = 0.0
    floor_usd: float = 0.0


def forecast(plan: JudgePlan, items: Sequence[Any], arm_calls: Sequence[Call], *,
             arms: Sequence[str], baseline: str, max_tokens: int, store: RunStore | None,
             recorded: Mapping[tuple[str, str], Any]) -> Forecast:
    """The judge calls still to make and their cost (upper bound and floor).

    An arm answer already recorded or cached is known, so its grader call is
    planned exactly (and may itself be recorded or cached); one still to be
    made is planned at ``max_tokens`` of answer for the upper bound and at no
    answer for the floor.
    """
    from ftdecide.pricing import _costs as costs

    answers: dict[tuple[str, str], str] = {}
    for c in arm_calls:
        prior = recorded.get((c.arm, c.item))
        if prior is None and store is not None:
            prior = store.cached(c.key)
        if prior is not None:
            answers[(c.arm, c.item)] = prior.text
    out = Forecast(model=plan.info.key)
    for c in judge_calls(plan, items, arms, baseline, answers, unknown_answer_tokens=max_tokens):
        if (c.arm, c.item) in recorded:
            out.recorded += 1
        elif store is not None and store.cached(c.key) is not None:
            out.cached += 1
        else:
            out.calls += 1
            out.predicted_cost_usd = (out.predicted_cost_usd or 0.0) + c.predicted_cost_usd
            out.floor_usd += c.min_cost_usd
    if not costs.base_prices(plan.info).known and out.calls:
        out.predicted_cost_usd = None  # unknown, never $0
    return out


def run_phase(plan: JudgePlan, prep: Any, arms: Sequence[str], baseline: str, outcome: RunOutcome,
              *, store: RunStore, run_id: str, budget: float | None, use_cache: bool,
              batch: bool, concurrency: int, progress: Callable[[str, int, int], None] | None,
              cost_of: Callable[[Call, Any], float | None]) -> tuple[list[Call], RunOutcome]:
    """Send the grader calls for the answers the arms gave (a second runner, same run)."""
    answers = {key: r.text for key, r in outcome.results.items()}
    calls = judge_calls(plan, prep.items, arms, baseline, answers)
    runner = Runner(store, run_id, concurrency=concurrency, max_cost_usd=budget,
                    use_cache=use_cache, batch_api=batch, progress=progress, cost_of=cost_of)
    return calls, runner.run(calls)


class JudgeMetric:
    """The ``judge`` metric as :func:`~ftdecide.compare._scoring.score_run` uses it: scores by
    (arm, item), looked up in the grader's replies, not computed from two strings."""

    name = "judge"
    source = "built-in"

    def __init__(self, spec: JudgeSpec, calls: Sequence[Call] = (),
                 outcome: RunOutcome | None = None) -> None:
        self.spec = spec
        self.binary = spec.binary
        self.description = spec.describe()
        self.calls = {(c.arm, c.item): c for c in calls}
        self.outcome = outcome or RunOutcome()
        self.judgments: dict[tuple[str, str], Judgment] = {}
        for (arm, item), res in self.outcome.results.items():
            if arm.startswith(POINT):
                self.judgments[(arm[len(POINT):], item)] = parse_judgment(res.text, spec.scale)

    def score(self, expected: str, answer: str) -> Score:  # pragma: no cover - contract only
        raise TypeError("the judge scores by (arm, item): use score_item")

    def score_item(self, arm: str, item: str, expected: str, answer: str) -> Score | None:
        """The judge's score of ``arm``'s answer to ``item``; None when it was not judged.

        An unparseable reply is a Score with ``parsed`` False: it is counted and left out.
        """
        j = self.judgments.get((arm, item))
        if j is None:
            return None
        return Score(value=j.value if j.value is not None else 0.0, parsed=j.parsed)

    def details(self, arm: str, item: str) -> dict[str, Any] | None:
        """What the drill-down shows: the grader's prompt and its judgment (and the pair's)."""
        call = self.calls.get((POINT + arm, item))
        j = self.judgments.get((arm, item))
        if call is None and j is None:
            return None
        out: dict[str, Any] = {"prompt": call.messages if call else None,
                               "scale": self.spec.scale,
                               **(j.to_dict() if j else {"parsed": None})}
        pair = self._pair(arm, item)
        if pair is not None:
            out["pairwise"] = pair
        return out

    def _pair(self, arm: str, item: str) -> dict[str, Any] | None:
        ab = self.outcome.results.get((f"{PAIR}{arm}:ab", item))
        ba = self.outcome.results.get((f"{PAIR}{arm}:ba", item))
        if ab is None or ba is None:
            return None
        (w1, r1), (w2, r2) = parse_preference(ab.text), parse_preference(ba.text)
        prompts = [self.calls.get((f"{PAIR}{arm}:{order}", item)) for order in ("ab", "ba")]
        return {"outcome": pair_outcome(w1, w2),
                "arm_first": {"winner": w1, "reason": r1, "raw": ab.text,
                              "prompt": prompts[0].messages if prompts[0] else None},
                "baseline_first": {"winner": w2, "reason": r2, "raw": ba.text,
                                   "prompt": prompts[1].messages if prompts[1] else None}}

    # -- results -------------------------------------------------------------------------
    def results(self, plan: JudgePlan, prep: Any, arms: Sequence[str], baseline: str, *,
                seed: int) -> dict[str, Any]:
        """The ``judge`` block of ``results.json``."""
        from ftdecide.compare._agreement import KAPPA_CALIBRATED, agreement, calibrated

        results = [r for (a, _), r in self.outcome.results.items()
                   if a.startswith((POINT, PAIR))]
        costs = [r.cost_usd for r in results]
        unparseable = {arm: sum(1 for (a, _), j in self.judgments.items()
                                if a == arm and not j.parsed) for arm in arms}
        in_run = {it.id for it in prep.items}
        pairs, matched, unmatched, unjudged = [], 0, 0, 0
        for label in plan.labels:
            arm = label.arm or baseline
            if label.item not in in_run:
                unmatched += 1
                continue
            j = self.judgments.get((arm, label.item))
            if j is None or not j.parsed or j.score is None:
                unjudged += 1
                continue
            matched += 1
            pairs.append((label.value, j.score))
        agree = agreement(pairs, self.spec.scale, seed=seed) if plan.labels else None
        block: dict[str, Any] = {
            "model": plan.info.key, "scale": self.spec.scale, "rubric": self.spec.rubric,
            "pairwise": self.spec.pairwise, "max_tokens": self.spec.max_tokens,
            "prompt_example": pointwise_messages(self.spec, "{input}", "{reference}", "{answer}"),
            "agreement": agree,
            "human_labels": None if not plan.labels else {
                "path": plan.labels_path, "labels": len(plan.labels), "matched": matched,
                "not_in_run": unmatched, "not_judged": unjudged},
            "calibrated": calibrated(agree), "kappa_threshold": KAPPA_CALIBRATED,
            "unparseable": sum(unparseable.values()), "unparseable_by_arm": unparseable,
            "calls": len(results), "cached_calls": sum(1 for r in results if r.from_cache),
            "evaluation_cost_usd": (sum(c for c in costs if c is not None)
                                    if all(c is not None for c in costs) else None),
        }
        if self.spec.pairwise:
            block["pairwise_results"] = self._pairwise_results(prep, arms, baseline, seed)
        return block

    def _pairwise_results(self, prep: Any, arms: Sequence[str], baseline: str,
                          seed: int) -> dict[str, Any]:
        """Per arm against the baseline: wins, losses, ties and the win rate (a tie = ½)."""
        from ftdecide.compare import _stats as stats

        out: dict[str, Any] = {}
        for arm in arms:
            if arm == baseline:
                continue
            counts = {"win": 0, "loss": 0, "tie": 0}
            unparseable = 0
            for it in prep.items:
                pair = self._pair(arm, it.id)
                if pair is None:
                    continue
                if pair["outcome"] is None:
                    unparseable += 1
                else:
                    counts[pair["outcome"]] += 1
            values = [1.0] * counts["win"] + [0.0] * counts["loss"] + [0.5] * counts["tie"]
            iv = stats.bootstrap_mean(values, seed=seed)
            out[arm] = {"wins": counts["win"], "losses": counts["loss"], "ties": counts["tie"],
                        "unparseable": unparseable, "n": iv.n, "win_rate": iv.mean,
                        "ci_low": iv.ci_low, "ci_high": iv.ci_high}
        return out
