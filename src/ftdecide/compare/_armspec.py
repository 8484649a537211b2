"""``arms:`` entries: a plain arm name, or a mapping that gives the arm its own model.

A team deciding whether to fine-tune usually compares a small tuned model
against a large prompted one, often from another vendor, so an arm may name
its own model and how it is served::

    arms: [{name: fewshot, model: openai/gpt-4.1-mini}, finetuned]
    arms: [{name: finetuned, serving: {hardware: L4}}, fewshot]

``name`` is an arm kind (zeroshot, fewshot, rag, finetuned, finetuned-rag);
``model`` replaces the run's ``model`` (or ``tuned`` for the fine-tuned
arms) for that arm only; ``serving`` prices it as self-hosted hardware time
(:mod:`ftdecide.pricing._serving`). Each arm is then priced with its own
model's prices. Every error names the entry and key (``arms[1].model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ftdecide.errors import UsageError

ARM_KEYS = ("name", "model", "serving")


@dataclass
class ArmSpecs:
    """The arm names of the entries, in the order written, and what each one set."""

    names: list[str] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    serving: dict[str, dict[str, Any]] = field(default_factory=dict)


def parse_arms(items: Sequence[Any], *, key: str, at: Mapping[str, Any],
               arm_name: Callable[..., str]) -> ArmSpecs:
    """Read the entries of ``arms:``; ``arm_name`` canonicalises a name (raising on an unknown)."""
    from ftdecide.pricing._serving import check_serving

    out = ArmSpecs()
    for i, entry in enumerate(items):
        where = f"{key}[{i}]"
        if isinstance(entry, Mapping):
            unknown = [k for k in entry if str(k) not in ARM_KEYS]
            if unknown:
                raise UsageError(f"{where}.{unknown[0]}: unknown key of an arm",
                                 **{**at, "key": f"{where}.{unknown[0]}"},
                                 hint=f"an arm entry takes {', '.join(ARM_KEYS)}")
            if not entry.get("name"):
                raise UsageError(f"{where}: an arm entry needs a name", **{**at, "key": where},
                                 hint="e.g. {name: fewshot, model: openai/gpt-4.1-mini}")
            name = arm_name(entry["name"], key=f"{where}.name", at={**at, "key": f"{where}.name"})
            model = entry.get("model")
            if model is not None:
                if not isinstance(model, str) or not model.strip():
                    raise UsageError(f"{where}.model: expected a model id such as "
                                     f"openai/gpt-4.1-mini, got {model!r}",
                                     **{**at, "key": f"{where}.model"})
                out.models[name] = model.strip()
            if entry.get("serving") is not None:
                out.serving[name] = check_serving(entry["serving"], key=f"{where}.serving",
                                                  at={**at, "key": f"{where}.serving"})
        elif isinstance(entry, str):
            if not entry.strip():
                continue
            name = arm_name(entry, key=key, at=at)
        else:
            raise UsageError(f"{where}: expected an arm name or a mapping {{name, model, serving}}, "
                             f"got {entry!r}", **{**at, "key": where})
        if name in out.names and (name in out.models or name in out.serving):
            raise UsageError(f"{where}: arm {name} is given twice", **{**at, "key": where},
                             hint="each arm kind appears once; give it one model")
        out.names.append(name)
    return out


def arms_for_dict(arms: Sequence[str], models: Mapping[str, str],
                  serving: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    """``arms`` as written back into the stored config: a name, or a mapping where an arm set more."""
    out: list[Any] = []
    for arm in arms:
        if arm in models or arm in serving:
            entry: dict[str, Any] = {"name": arm}
            if arm in models:
                entry["model"] = models[arm]
            if arm in serving:
                entry["serving"] = dict(serving[arm])
            out.append(entry)
        else:
            out.append(arm)
    return out
