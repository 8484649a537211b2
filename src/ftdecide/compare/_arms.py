"""The eval set and every arm of a run: items, prompts, plans and calls.

:func:`load_items` reads the eval set; :class:`Prepared` holds a run's data,
loaded and checked once; :func:`build_prompts` builds every arm's messages
per item (zero-shot, few-shot, RAG, fine-tuned); :func:`make_plans` binds
each arm to its model and provider; :func:`plan_calls` turns the plans into
one runner call per (arm, item), with its cache key and predicted cost.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ftdecide.compare._config import CompareConfig
from ftdecide.compare._runner import Call, predicted_cost
from ftdecide.compare._runstore import call_key, endpoint_of
from ftdecide.data import _prompts as strategies
from ftdecide.errors import DataError, UsageError
from ftdecide.pricing import _costs as costs
from ftdecide.pricing._catalog import Catalog
from ftdecide.providers import ModelInfo


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


def load_items(path: str, limit: int | None = None) -> list[Item]:
    """The eval set: each example's last assistant message is the expected answer."""
    import ftdecide.data as data

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
        import ftdecide.data as data

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


def make_plans(catalog: Catalog, config: CompareConfig, prompts: Mapping[str, Mapping[str, Any]],
               tuned_model: str | None) -> dict[str, ArmPlan]:
    """Bind each arm to its model and provider: the arm's own model where it names one,
    else the tuned model (fine-tuned arms) or the run's ``model``."""
    resolved: dict[str, ModelInfo] = {}
    plans: dict[str, ArmPlan] = {}
    for arm in config.arms:
        spec = config.model_of(arm, tuned_model)
        if spec is None:
            raise UsageError(f"arm {arm} needs a tuned model", hint="set tuned: or tune: in the config")
        info = resolved.get(spec) or catalog.resolve(spec)
        resolved[spec] = info
        plans[arm] = ArmPlan(name=arm, info=info, provider=catalog.providers[info.provider],
                             description=prompts[arm]["description"],
                             messages=dict(prompts[arm]["messages"]))
        if arm in config.arm_models:
            plans[arm].description += f" ({info.key}, this arm's own model)"
    return plans


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
            predicted = least = 0.0
            if prices.known:
                prompt_tokens = tokens.count_messages(messages, encoding)
                predicted = predicted_cost(prompt_tokens, config.max_tokens, prices.input,
                                           prices.output)
                least = predicted_cost(prompt_tokens, 0, prices.input, prices.output)
            calls.append(Call(arm=arm, item=item_id, provider=plan.provider, model=info.id,
                              messages=messages, params=params,
                              key=call_key(info.provider, info.id, messages, params,
                                           endpoint_of(plan.provider)),
                              predicted_cost_usd=predicted, info=info, min_cost_usd=least))
    return calls
