"""``compare``: run every arm on the eval set and turn the answers into evidence.

The order of a run: load and check the data → build every arm's prompts (one
module, :mod:`ftdecide.strategies`) → train the tuned model if the config
asks for it (the job id goes into the run state first, so a resumed run
resumes the job rather than paying again) → send the calls through the
:mod:`ftdecide.runner` (recorded one by one, cached) → score, with intervals
and paired tests against the baseline → price each arm per request, per
month, and against the baseline → ``results.json`` and the report.

Everything that goes into the report is in the results mapping, and the
results are stored with the run, so ``ftdecide report RUN`` re-renders
without calling anything.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import platform
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ftdecide.pricing import _costs as costs
from ftdecide.data import _prompts as strategies
from ftdecide.compare._config import ARM_LABELS, TUNED_ARMS, CompareConfig
from ftdecide._formatting import money_sentence
from ftdecide.errors import DataError, UsageError
from ftdecide.pricing._catalog import Catalog
from ftdecide.providers import ModelInfo
from ftdecide.compare._runner import Call, Runner, RunOutcome, predicted_cost
from ftdecide.compare._runstore import RunStore, call_key

RESAMPLES = 2000
SCHEMA = 1


@dataclass
class Item:
    """One eval example: its prompt, the expected answer, and the text shown as its input."""

    id: str
    prompt: list[dict[str, Any]]
    expected: str
    input: str


@dataclass
class ArmPlan:
    """How one arm calls which model, with the messages of every item."""

    name: str
    info: ModelInfo
    provider: Any
    description: str
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(str(f.relative_to(p)).encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def load_items(path: str, limit: int | None = None) -> list[Item]:
    """The eval set: each example's last assistant message is the expected answer."""
    from ftdecide.data import _files as data

    if not Path(path).exists():
        raise DataError(f"{path}: no such eval file", hint="pass the eval set with --eval")
    items = []
    for ex in data.load_examples(path, limit=limit):
        prompt, expected = strategies.split_example(ex.messages)
        if expected is None or not prompt:
            raise DataError(f"{path}:{ex.line}: the example has no assistant answer to compare against",
                            hint="end every eval example with the expected assistant message")
        users = [m for m in prompt if m.get("role") == "user"]
        text = users[-1].get("content", "") if users else prompt[-1].get("content", "")
        items.append(Item(id=str(ex.line), prompt=prompt, expected=expected,
                          input=text if isinstance(text, str) else str(text)))
    if not items:
        raise DataError(f"{path}: the eval set is empty", hint="add examples (chat JSONL, one per line)")
    return items


def _user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    return content if isinstance(content, str) else str(content)


class Prepared:
    """The data of a run, loaded and checked once."""

    def __init__(self, config: CompareConfig) -> None:
        from ftdecide.data import _files as data

        self.config = config
        if not Path(config.train).exists():
            raise DataError(f"{config.train}: no such training file", hint="pass it with --train")
        self.train_examples = data.load_examples(config.train)
        self.train = [ex.messages for ex in self.train_examples]
        if not self.train:
            raise DataError(f"{config.train}: the training set is empty")
        self.items = load_items(config.eval, config.eval_limit)
        self.passages: list[Any] | None = None
        self.corpus_documents = 0

    def retrieval_passages(self) -> list[Any]:
        from ftdecide.compare import _retrieval as retrieval

        if self.passages is None:
            if self.config.corpus:
                self.passages = retrieval.load_corpus(self.config.corpus)
                self.corpus_documents = len({p.source for p in self.passages})
            else:
                self.passages = retrieval.passages_from_examples(self.train_examples)
        return self.passages


def build_prompts(prep: Prepared, arms: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every arm's messages per item, and a one-line description of how they are built."""
    from ftdecide.compare import _retrieval as retrieval

    config = prep.config
    out: dict[str, dict[str, Any]] = {}
    items = prep.items
    queries = [it.input for it in items]
    shots_per_item: list[list[list[dict[str, Any]]]] | None = None
    if "fewshot" in arms:
        k = min(config.shots, len(prep.train))
        if config.shot_selection == "random":
            rng = random.Random(config.seed)
            chosen = rng.sample(prep.train, k)
            shots_per_item = [chosen for _ in items]
        else:
            pool = retrieval.passages_from_examples(prep.train_examples, include_answer=False)
            hits = retrieval.Retriever(pool, method="tfidf").top_k_batch(queries, k + 1, fill=True)
            shots_per_item = []
            for it, item_hits in zip(items, hits):
                picked = [prep.train[h.passage.index] for h in item_hits
                          if _user_text(prep.train[h.passage.index]) != it.input][:k]
                shots_per_item.append(picked)
    contexts: list[list[str]] | None = None
    if any(a in ("rag", "finetuned-rag") for a in arms):
        passages = prep.retrieval_passages()
        hits = retrieval.Retriever(passages, method=config.retrieval).top_k_batch(queries, config.top_k)
        contexts = [[h.passage.text for h in item_hits] for item_hits in hits]
    where = "the corpus" if config.corpus else "the training examples"
    for arm in arms:
        msgs: dict[str, list[dict[str, Any]]] = {}
        for i, it in enumerate(items):
            if arm in ("zeroshot", "finetuned"):
                msgs[it.id] = strategies.zero_shot(it.prompt)
            elif arm == "fewshot":
                assert shots_per_item is not None
                msgs[it.id] = strategies.few_shot(it.prompt, shots_per_item[i])
            else:
                assert contexts is not None
                msgs[it.id] = strategies.with_context(it.prompt, contexts[i])
        if arm == "zeroshot":
            desc = "the eval item's own prompt (system + input), base model"
        elif arm == "finetuned":
            desc = "the eval item's own prompt (system + input), fine-tuned model"
        elif arm == "fewshot":
            how = "seeded random" if config.shot_selection == "random" else "most similar (TF-IDF)"
            desc = f"system + {config.shots} {how} training examples as prior turns + input, base model"
        else:
            model = "fine-tuned model" if arm == "finetuned-rag" else "base model"
            desc = (f"system + top {config.top_k} passages from {where} ({config.retrieval.upper()}) "
                    f"+ input, {model}")
        out[arm] = {"messages": msgs, "description": desc}
    return out


def _amortisation_months(info: ModelInfo, today: _dt.date) -> float:
    left = costs.months_until(info.shutdown, today)
    return left if left is not None and left > 0 else costs.DEFAULT_HORIZON_MONTHS


def _percent(a: float, b: float) -> float | None:
    return None if not b else (a - b) / b * 100


def arm_economics(cost_per_request: float | None, *, requests_per_month: int,
                  training_cost_usd: float, hosting_per_hour: float | None,
                  amortisation_months: float) -> dict[str, Any]:
    """Monthly cost of an arm: inference + hosting + its training spread over the horizon."""
    hosting = (hosting_per_hour or 0.0) * costs.HOURS_PER_MONTH
    inference = None if cost_per_request is None else cost_per_request * requests_per_month
    total = None if inference is None else inference + hosting + training_cost_usd / amortisation_months
    return {"training_cost_usd": training_cost_usd, "hosting_per_month_usd": hosting,
            "amortisation_months": amortisation_months, "monthly_inference_usd": inference,
            "monthly_total_usd": total}


def break_even(arm: Mapping[str, Any], base: Mapping[str, Any], arm_cpr: float | None,
               base_cpr: float | None) -> tuple[int | None, str]:
    """Requests/month above which ``arm`` costs less than the baseline, and why when there is none."""
    if arm_cpr is None or base_cpr is None:
        return None, "unpriced: a model has no price in the catalog"
    fixed = (arm["hosting_per_month_usd"] + arm["training_cost_usd"] / arm["amortisation_months"]
             - base["hosting_per_month_usd"] - base["training_cost_usd"] / base["amortisation_months"])
    saving = base_cpr - arm_cpr
    if saving > 0:
        if fixed <= 0:
            return 0, "cheaper from the first request"
        return math.ceil(fixed / saving), "saving per request covers its fixed costs above this volume"
    if saving == 0 and fixed <= 0:
        return 0, "costs the same per request, no extra fixed cost"
    return None, "never: it costs more per request than the baseline"


def verdict(results: Mapping[str, Any]) -> str:
    """One sentence a team can act on: which arm wins, by how much, at what cost."""
    arms = results["arms"]
    baseline = results["baseline"]
    base = arms[baseline]
    base_label = base["label"]
    candidates = [(name, a) for name, a in arms.items()
                  if name != baseline and a.get("vs_baseline") and a["vs_baseline"].get("ci_low") is not None]
    if base["quality"]["mean"] is None:
        return f"{base_label} has no answers yet: the run stopped before it"
    if not candidates:
        return f"only {base_label} was measured"
    better = [(n, a) for n, a in candidates if a["vs_baseline"]["ci_low"] > 0]
    if better:
        # among the arms that beat the baseline with confidence: the largest gain,
        # then the cheaper per request
        def rank(na: tuple[str, Any]) -> tuple[float, float]:
            cost = na[1].get("cost_per_1k_usd")
            return (round(na[1]["vs_baseline"]["diff"], 9), -(cost if cost is not None else math.inf))

        name, best = max(better, key=rank)
    else:
        name, best = max(candidates, key=lambda na: na[1]["vs_baseline"]["ci_low"])
    vs = best["vs_baseline"]
    pts = f"{vs['diff'] * 100:+.1f} points [{vs['ci_low'] * 100:.1f}, {vs['ci_high'] * 100:.1f}]"
    if vs["ci_low"] <= 0:
        top_name, top = max(candidates, key=lambda na: na[1]["vs_baseline"]["diff"])
        tv = top["vs_baseline"]
        return (f"keep {base_label}: no arm beats it with confidence "
                f"(best: {top['label']} {tv['diff'] * 100:+.1f} points "
                f"[{tv['ci_low'] * 100:.1f}, {tv['ci_high'] * 100:.1f}])")
    parts = [f"{best['label']}: {pts} over {base_label}"]
    pct = _percent(best["tokens"]["input_mean"], base["tokens"]["input_mean"])
    if pct is not None and abs(pct) >= 1:
        parts.append(f"{abs(pct):.0f} % {'fewer' if pct < 0 else 'more'} prompt tokens")
    cost_clause = _cost_clause(best, base)
    if cost_clause:
        parts.append(cost_clause)
    sentence = ", ".join(parts)
    if cost_clause and cost_clause.startswith("never"):
        # the best gain does not pay; say so of a confident arm that does
        payers = [(n, a) for n, a in better if n != name
                  and (_cost_clause(a, base) or "").startswith(("pays", "its", "cheaper"))]
        if payers:
            alt_name, alt = max(payers, key=lambda na: na[1]["vs_baseline"]["diff"])
            av = alt["vs_baseline"]
            sentence += (f"; {alt['label']}: {av['diff'] * 100:+.1f} points "
                         f"[{av['ci_low'] * 100:.1f}, {av['ci_high'] * 100:.1f}] and "
                         f"{_cost_clause(alt, base)}")
    return sentence


def _cost_clause(arm: Mapping[str, Any], base: Mapping[str, Any]) -> str | None:
    """How an arm's costs compare with the baseline's, in a few words (None: nothing to say)."""
    econ = arm.get("economics") or {}
    training = econ.get("training_cost_usd") or 0.0
    be = econ.get("break_even_requests_per_month")
    if training > 0 and be:
        return f"pays back its {money_sentence(training)} training at {be:,} requests/month"
    if training > 0 and be == 0:
        return f"its {money_sentence(training)} training pays back from the first request"
    if training > 0:
        return f"never pays back its {money_sentence(training)} training on cost alone"
    if arm.get("cost_per_1k_usd") is not None and base.get("cost_per_1k_usd"):
        cp = _percent(arm["cost_per_1k_usd"], base["cost_per_1k_usd"])
        if cp is not None and abs(cp) >= 1:
            return f"{abs(cp):.0f} % {'cheaper' if cp < 0 else 'dearer'} per request"
    return None


def score_run(prep: Prepared, plans: Mapping[str, ArmPlan], outcome: RunOutcome,
              metric: Any, *, baseline: str, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Per-arm quality with intervals and paired tests, and the per-item table.

    Each answer is scored once. The paired comparison with the baseline uses
    the items both arms answered (all of them, unless a budget stop cut the
    run short).
    """
    from ftdecide.compare import _stats as stats

    by_item: dict[tuple[str, str], float] = {}
    unparseable: dict[str, int] = {}
    items_out: list[dict[str, Any]] = []
    for it in prep.items:
        row: dict[str, Any] = {"id": it.id, "input": it.input, "expected": it.expected, "outputs": {}}
        for arm in plans:
            res = outcome.results.get((arm, it.id))
            if res is None:
                row["outputs"][arm] = {"text": None, "score": None, "cached": False,
                                       "error": "not run"}
                continue
            try:
                s = metric.score(it.expected, res.text)
            except DataError as exc:
                raise DataError(f"{prep.config.eval}:{it.id}: {exc.message}", hint=exc.hint) from None
            by_item[(arm, it.id)] = float(s.value)
            if not getattr(s, "parsed", True):
                unparseable[arm] = unparseable.get(arm, 0) + 1
            row["outputs"][arm] = {"text": res.text, "score": float(s.value),
                                   "cached": res.from_cache, "error": None}
        items_out.append(row)
    binary = bool(getattr(metric, "binary", False))
    quality: dict[str, Any] = {}
    for arm in plans:
        values = [by_item[(arm, it.id)] for it in prep.items if (arm, it.id) in by_item]
        iv = stats.bootstrap_mean(values, resamples=RESAMPLES, seed=seed)
        quality[arm] = {"metric": metric.name, "mean": iv.mean, "ci_low": iv.ci_low,
                        "ci_high": iv.ci_high, "n": iv.n, "unparseable": unparseable.get(arm, 0)}
    vs: dict[str, Any] = {}
    for arm in plans:
        if arm == baseline:
            vs[arm] = None
            continue
        both = [it.id for it in prep.items if (arm, it.id) in by_item and (baseline, it.id) in by_item]
        d = stats.paired_difference([by_item[(arm, i)] for i in both],
                                    [by_item[(baseline, i)] for i in both],
                                    resamples=RESAMPLES, seed=seed, binary=binary or None)
        vs[arm] = {"diff": d.diff, "ci_low": d.ci_low, "ci_high": d.ci_high,
                   "p_value": d.p_value, "test": d.test, "n": len(both)}
    return {"quality": quality, "vs_baseline": vs}, items_out


@dataclass
class CompareResult:
    run_id: str
    results: dict[str, Any]
    outcome: RunOutcome
    report_dir: Path | None = None


def _price_entry(info: ModelInfo) -> dict[str, Any]:
    return {"model": info.key, "input_per_1m": info.input_per_1m,
            "cached_input_per_1m": info.cached_input_per_1m, "output_per_1m": info.output_per_1m,
            "training_per_1m": info.training_per_1m, "hosting_per_hour": info.hosting_per_hour,
            "shutdown": info.shutdown.isoformat() if info.shutdown else None,
            "as_of": info.as_of.isoformat() if info.as_of else None, "source": info.source}


def _versions() -> dict[str, str]:
    """ftdecide's version and each loaded plugin's distribution and version."""
    from importlib import metadata

    from ftdecide.plugins import get_registry

    try:
        out = {"ftdecide": metadata.version("ftdecide")}
    except metadata.PackageNotFoundError:
        out = {"ftdecide": "unknown"}
    for rec in get_registry().plugin_records():
        name = rec.distribution or rec.name
        if name and rec.version:
            out[str(name)] = str(rec.version)
    return out


def assemble(prep: Prepared, plans: Mapping[str, ArmPlan], outcome: RunOutcome, metric: Any, *,
             run_id: str, created: str, command: str, catalog: Catalog,
             training: dict[str, Any] | None, complete: bool) -> dict[str, Any]:
    """The results mapping (``results.json``; the schema the report renders)."""
    config = prep.config
    scored, items_out = score_run(prep, plans, outcome, metric, baseline=config.baseline,
                                  seed=config.seed)
    today = _dt.date.fromisoformat(created[:10])
    from ftdecide.compare import _stats as stats

    arms: dict[str, Any] = {}
    cpr: dict[str, float | None] = {}
    price_info = catalog.resolve(config.price_as) if config.price_as else None
    for arm, plan in plans.items():
        done = [it.id for it in prep.items if (arm, it.id) in outcome.results]
        res = [outcome.results[(arm, i)] for i in done]
        n = len(res)
        if price_info is not None:
            cost_per_request = _priced_as(price_info, arm in TUNED_ARMS,
                                          [(plan.messages[i], outcome.results[(arm, i)].text) for i in done])
        else:
            costs_known = [r.cost_usd for r in res if r.cost_usd is not None]
            cost_per_request = (sum(costs_known) / n) if n and len(costs_known) == n else None
        cpr[arm] = cost_per_request
        training_cost = 0.0
        training_kind = None
        cost_info = price_info or plan.info
        if arm in TUNED_ARMS and price_info is not None:
            training_cost = _training_cost_as(price_info, config.train)
            training_kind = "estimated"
        elif arm in TUNED_ARMS and training:
            actual = training.get("actual_cost_usd")
            training_cost = float(actual if actual is not None else training.get("estimated_cost_usd") or 0.0)
            training_kind = "actual" if actual is not None else "estimated"
        econ = arm_economics(cost_per_request, requests_per_month=config.requests_per_month,
                             training_cost_usd=training_cost,
                             hosting_per_hour=cost_info.hosting_per_hour if arm in TUNED_ARMS else None,
                             amortisation_months=_amortisation_months(cost_info, today))
        econ["training_cost_kind"] = training_kind
        if price_info is not None:
            econ["priced_as"] = price_info.key
        first = prep.items[0].id
        example = plan.messages[first]
        from ftdecide.data import _tokens as tokens

        arms[arm] = {
            "label": ARM_LABELS[arm],
            "model": plan.info.key,
            "quality": scored["quality"][arm],
            "vs_baseline": scored["vs_baseline"][arm],
            "tokens": {"input_mean": (sum(r.input_tokens for r in res) / n) if n else None,
                       "output_mean": (sum(r.output_tokens for r in res) / n) if n else None},
            "cost_per_1k_usd": None if cost_per_request is None else cost_per_request * 1000,
            "monthly_cost_usd": econ["monthly_inference_usd"],
            "economics": econ,
            "latency_p50_s": stats.percentile([r.latency_s for r in res], 50),
            "latency_p95_s": stats.percentile([r.latency_s for r in res], 95),
            "calls": n,
            "cached_calls": sum(1 for r in res if r.from_cache),
            "errors": len(prep.items) - n,
            "prompt": {"description": plan.description, "example": example,
                       "input_tokens_example": tokens.count_messages(example)},
        }
    base_econ = arms[config.baseline]["economics"]
    for arm in arms:
        econ = arms[arm]["economics"]
        if arm == config.baseline:
            econ["break_even_requests_per_month"] = None
            econ["break_even_reason"] = "baseline"
            continue
        be, reason = break_even(econ, base_econ, cpr[arm], cpr[config.baseline])
        econ["break_even_requests_per_month"] = be
        econ["break_even_reason"] = reason
    infos = {plan.info.key: plan.info for plan in plans.values()}
    if price_info is not None:
        infos[price_info.key] = price_info
    data_prov: dict[str, Any] = {
        "train": {"path": config.train, "sha256": _sha256(config.train), "examples": len(prep.train)},
        "eval": {"path": config.eval, "sha256": _sha256(config.eval), "examples": len(prep.items)},
    }
    if config.corpus:
        data_prov["corpus"] = {"path": config.corpus, "sha256": _sha256(config.corpus),
                               "documents": prep.corpus_documents}
    versions = _versions()
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "run_id": run_id,
        "created": created,
        "status": "complete" if complete else "partial",
        "task": {"name": config.task or Path(config.eval).parent.name or "task",
                 **({"description": _price_as_note(price_info)} if price_info else {})},
        "metric": {"name": metric.name, "binary": bool(getattr(metric, "binary", False)),
                   "description": getattr(metric, "description", "")},
        "baseline": config.baseline,
        "requests_per_month": config.requests_per_month,
        "arms": arms,
        "training": training,
        "items": items_out,
        "prices": [_price_entry(i) for i in infos.values()],
        "provenance": {
            "ftdecide_version": versions["ftdecide"],
            "python": platform.python_version(),
            "platform": f"{platform.system()}-{platform.machine()}",
            "plugins": {k: v for k, v in versions.items() if k != "ftdecide"},
            "command": command,
            "config": config.to_dict(),
            "data": data_prov,
        },
    }
    results["verdict"] = verdict(results)
    return results


def _priced_as(info: ModelInfo, tuned: bool,
               answers: Sequence[tuple[Sequence[Mapping[str, Any]], str]]) -> float | None:
    """Mean cost per request of these prompts and answers if ``info`` served them.

    Tokens are counted with ``info``'s encoding (offline tiktoken), not the
    measured model's tokenizer: the question is what this traffic would cost
    there. Fine-tuned arms pay ``info``'s fine-tuned rates.
    """
    from ftdecide.data import _tokens as tokens

    if not answers:
        return None
    prices = costs.fine_tuned_prices(info) if tuned else costs.base_prices(info)
    if not prices.known:
        return None
    encoding = info.encoding or tokens.DEFAULT_ENCODING
    outs = tokens.count_texts([text for _, text in answers], encoding)
    total = 0.0
    for (messages, _), out in zip(answers, outs):
        total += costs.request_cost(prices, tokens.count_messages(messages, encoding), out) or 0.0
    return total / len(answers)


def _training_cost_as(info: ModelInfo, train_path: str) -> float:
    """The cookbook estimate of fine-tuning ``info`` on the training set (0 when unpriced)."""
    from ftdecide.pricing import _estimate as est

    report = est.validated(train_path, info)
    return float(est.training_estimate(report, info).get("training_cost_usd") or 0.0)


def _price_as_note(info: ModelInfo) -> str:
    return (f"Quality measured on the models shown; costs are the measured prompts and answers "
            f"priced as {info.key} (tokens counted with its encoding; fine-tuned arms at its "
            f"fine-tuned rates plus the cookbook estimate of fine-tuning it on this training set"
            + (f", hosting ${info.hosting_per_hour:.2f}/h" if info.hosting_per_hour else "")
            + ").")


def plan_calls(plans: Mapping[str, ArmPlan], config: CompareConfig) -> list[Call]:
    """One call per (arm, item), with its cache key and predicted cost."""
    from ftdecide.data import _tokens as tokens

    params = {"temperature": 0, "max_tokens": config.max_tokens}
    calls: list[Call] = []
    for arm, plan in plans.items():
        info = plan.info
        encoding = info.encoding or tokens.DEFAULT_ENCODING
        prices = costs.base_prices(info)
        for item_id, messages in plan.messages.items():
            predicted = 0.0
            if prices.known:
                predicted = predicted_cost(tokens.count_messages(messages, encoding), config.max_tokens,
                                           prices.input, prices.output)
            calls.append(Call(arm=arm, item=item_id, provider=plan.provider, model=info.id,
                              messages=messages, params=params,
                              key=call_key(info.provider, info.id, messages, params),
                              predicted_cost_usd=predicted, info=info))
    return calls


def cost_of(call: Call, usage: Any) -> float | None:
    """A call's cost from its usage when the provider did not price it."""
    return costs.usage_cost(call.info, usage) if call.info is not None else None


def make_plans(catalog: Catalog, config: CompareConfig, prompts: Mapping[str, Mapping[str, Any]],
               tuned_model: str | None) -> dict[str, ArmPlan]:
    base = catalog.resolve(config.model)
    tuned = catalog.resolve(tuned_model) if tuned_model else None
    plans: dict[str, ArmPlan] = {}
    for arm in config.arms:
        info = tuned if arm in TUNED_ARMS else base
        if info is None:
            raise UsageError(f"arm {arm} needs a tuned model", hint="set tuned: or tune: in the config")
        plans[arm] = ArmPlan(name=arm, info=info, provider=catalog.providers[info.provider],
                             description=prompts[arm]["description"],
                             messages=dict(prompts[arm]["messages"]))
    return plans


TrainFn = Callable[[CompareConfig, dict[str, Any]], dict[str, Any]]


def run(config: CompareConfig, *, catalog: Catalog, store: RunStore, command: str = "",
        resume: str | None = None, use_cache: bool = True,
        progress: Callable[[str, int, int], None] | None = None,
        train: TrainFn | None = None,
        on_run_id: Callable[[str], None] | None = None) -> CompareResult:
    """Run (or resume) a comparison; returns the results (also stored with the run).

    ``train(config, state)`` trains the tuned model when the config has
    ``tune:``; it must record its job id in ``state['job_id']`` (persisted by
    the caller through ``store``) before training, and return the training
    summary (``tune.summary``).
    """
    from ftdecide.compare import _metrics as metrics_mod

    metric = metrics_mod.get_metric(config.metric)
    if config.price_as:
        catalog.resolve(config.price_as)  # an unknown model fails before anything runs
    prep = Prepared(config)
    if resume:
        record = store.get_run(resume)
        run_id = record.id
        state = dict(record.state)
        created = record.created_at
        store.update_run(run_id, status="running")
    else:
        record = store.create_run(config=config.to_dict(), command=command)
        run_id, state, created = record.id, {}, record.created_at
    if on_run_id is not None:
        on_run_id(run_id)
    training: dict[str, Any] | None = state.get("training")
    tuned_model = config.tuned
    try:
        if config.tune is not None and (training is None or training.get("status") != "succeeded"):
            if train is None:
                raise UsageError("this run needs a fine-tune (tune:) but no trainer was given")

            def save_state(**changes: Any) -> None:
                state.update(changes)
                store.update_run(run_id, state=state)

            training = train(config, {"state": state, "save": save_state})
            state["training"] = training
            store.update_run(run_id, state=state)
        if training is not None and config.tune is not None:
            tuned_model = training.get("model")
        prompts = build_prompts(prep, config.arms)
        plans = make_plans(catalog, config, prompts, tuned_model)
        calls = plan_calls(plans, config)
        budget = config.max_cost_usd
        if budget is not None and training is not None and config.tune is not None:
            # the run's budget covers the fine-tune it paid for, then the calls
            paid = training.get("actual_cost_usd")
            if paid is None:
                paid = training.get("estimated_cost_usd")
            budget = max(0.0, budget - float(paid or 0.0))
        runner = Runner(store, run_id, concurrency=config.concurrency,
                        max_cost_usd=budget, use_cache=use_cache,
                        batch_api=config.batch, progress=progress, cost_of=cost_of)
        outcome = runner.run(calls)
    except KeyboardInterrupt:
        store.update_run(run_id, status="interrupted", state=state)
        raise
    except BaseException:
        store.update_run(run_id, status="failed", state=state)
        raise
    complete = not outcome.budget_stopped and outcome.skipped == 0
    results = assemble(prep, plans, outcome, metric, run_id=run_id, created=created,
                       command=command or record.command, catalog=catalog,
                       training=_training_block(training) if training else None,
                       complete=complete)
    store.update_run(run_id, status="complete" if complete else "stopped", state=state,
                     results=results)
    return CompareResult(run_id=run_id, results=results, outcome=outcome)


def _training_block(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The report's view of a tune job (schema: ``training``)."""
    curve = []
    for row in summary.get("loss_curve") or []:
        step = row.get("step")
        if step is None:
            continue
        curve.append({"step": step, "train_loss": row.get("train_loss", row.get("loss")),
                      "valid_loss": row.get("valid_loss", row.get("eval_loss"))})
    return {"job_id": summary.get("job_id"), "provider": summary.get("provider"),
            "base_model": summary.get("base_model"), "model": summary.get("model"),
            "status": summary.get("status"),
            "estimated_cost_usd": summary.get("estimated_cost_usd"),
            "actual_cost_usd": summary.get("actual_cost_usd"),
            "wall_s": summary.get("wall_s"), "tokens_per_s": summary.get("tokens_per_s"),
            "loss_curve": curve}


def dry_run(config: CompareConfig, *, catalog: Catalog, store: RunStore | None = None,
            resume: str | None = None) -> dict[str, Any]:
    """The calls a run would make and their predicted cost; calls nothing, trains nothing."""
    prep = Prepared(config)
    prompts = build_prompts(prep, config.arms)
    tuned = config.tuned
    plans_arms = config.arms
    if config.tune is not None and not tuned:
        # the tuned model does not exist yet: plan the base-model arms, count the tuned ones
        plans_arms = tuple(a for a in config.arms if a not in TUNED_ARMS)
    cfg = CompareConfig(**{**config.__dict__, "arms": plans_arms}) if plans_arms != config.arms else config
    plans = make_plans(catalog, cfg, prompts, tuned)
    calls = plan_calls(plans, config)
    recorded = store.calls(resume) if (store is not None and resume) else {}
    by_arm: dict[str, dict[str, Any]] = {}
    for c in calls:
        a = by_arm.setdefault(c.arm, {"model": c.info.key, "calls": 0, "cached": 0, "recorded": 0,
                                      "predicted_cost_usd": 0.0})
        if (c.arm, c.item) in recorded:
            a["recorded"] += 1
        elif store is not None and store.cached(c.key) is not None:
            a["cached"] += 1
        else:
            a["calls"] += 1
            a["predicted_cost_usd"] += c.predicted_cost_usd
    for arm in config.arms:
        if arm not in by_arm:
            by_arm[arm] = {"model": "(tuned inside the run)", "calls": len(prep.items), "cached": 0,
                           "recorded": 0, "predicted_cost_usd": None}
    total = sum(a["predicted_cost_usd"] or 0.0 for a in by_arm.values())
    return {"arms": {a: by_arm[a] for a in config.arms}, "items": len(prep.items),
            "predicted_cost_usd": total, "tune": config.tune is not None and not tuned,
            "calls": sum(a["calls"] for a in by_arm.values())}


def fail_under(results: Mapping[str, Any], gates: Sequence[tuple[str, float]]) -> list[str]:
    """The gates that fail: an arm's lower interval bound of its gain must reach DELTA."""
    failures = []
    for arm, delta in gates:
        a = results["arms"].get(arm)
        if a is None:
            failures.append(f"{arm}: not an arm of this run")
            continue
        vs = a.get("vs_baseline")
        if vs is None or vs.get("ci_low") is None:
            failures.append(f"{arm}: no comparison with the baseline (is it the baseline?)")
            continue
        if vs["ci_low"] < delta:
            failures.append(f"{arm}: gain over {results['baseline']} is {vs['diff']:+.3f} "
                            f"[{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}]; the lower bound must be "
                            f"at least {delta:+.3f}")
    return failures


def result_json(result: CompareResult, report_path: str | None) -> dict[str, Any]:
    """The ``--json`` contract of ``compare``."""
    r = result.results
    arms = {}
    for name, a in r["arms"].items():
        q = a["quality"]
        arms[name] = {
            "quality": {k: q[k] for k in ("metric", "mean", "ci_low", "ci_high", "n")},
            "vs_baseline": None if a["vs_baseline"] is None else
            {k: a["vs_baseline"][k] for k in ("diff", "ci_low", "ci_high", "p_value")},
            "tokens": a["tokens"],
            "cost_per_1k_usd": a["cost_per_1k_usd"],
            "monthly_cost_usd": a["monthly_cost_usd"],
            "latency_p50_s": a["latency_p50_s"],
            "latency_p95_s": a["latency_p95_s"],
            "calls": a["calls"],
            "cached_calls": a["cached_calls"],
        }
    return {"run_id": r["run_id"], "report": report_path, "status": r["status"],
            "baseline": r["baseline"], "arms": arms, "training": r.get("training"),
            "verdict": r["verdict"]}
