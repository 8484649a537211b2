"""``estimate`` for Python: the cookbook's training cost and the inference economics.

``ftdecide estimate`` parses its flags, calls :func:`estimate` and renders the
:class:`Estimate` it returns; the figures are the same in a notebook.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

from ftdecide.api._result import Result

__all__ = ["ECONOMICS_ARGS", "Estimate", "check_economics_args", "estimate"]

#: The arguments that mean something only with ``requests_per_month`` (keyword → CLI flag).
ECONOMICS_ARGS = {"prompt_tokens": "--prompt-tokens", "few_shot_from": "--few-shot-from",
                  "shots": "--shots", "tuned_prompt_tokens": "--tuned-prompt-tokens",
                  "output_tokens": "--output-tokens", "horizon_months": "--horizon-months"}


def check_economics_args(given: Mapping[str, bool], requests_per_month: int | None, *,
                         names: Mapping[str, str] | None = None) -> None:
    """The inference arguments need ``requests_per_month``, and today's prompt comes from
    one place: say so rather than ignore an argument. ``given[name]`` is whether the
    caller set it; ``names`` shows each as the caller knows it (the CLI: its flags)."""
    from ftdecide.errors import UsageError

    show = dict(names) if names is not None else {k: f"{k}=" for k in ECONOMICS_ARGS}
    rpm = show.get("requests_per_month", "--requests-per-month" if names else "requests_per_month=")
    if requests_per_month is None:
        used = [show[k] for k in ECONOMICS_ARGS if given.get(k)]
        if used:
            raise UsageError(f"{', '.join(used)} {'is' if len(used) == 1 else 'are'} used only "
                             f"for the inference economics, which need {rpm}",
                             key=used[0], hint=f"add {rpm.rstrip('=')} N (e.g. 100000), or "
                             f"drop {', '.join(used)}")
    if given.get("prompt_tokens"):
        other = [show[n] for n in ("few_shot_from", "shots") if given.get(n)]
        if other:
            p = show["prompt_tokens"]
            raise UsageError(f"{p} gives today's prompt size; {' and '.join(other)} "
                             "would build one to measure it", key=p,
                             hint=f"give {p}, or {show['few_shot_from']}/{show['shots']}, "
                                  "not both")


class Estimate(Result):
    """The ``ftdecide estimate --json`` mapping: tokens, epochs, billed tokens, training
    cost with the price's date and source, the hardware estimate for open-weight
    models, and ``economics`` when a monthly volume was given."""

    @property
    def training_cost_usd(self) -> float | None:
        return self._data.get("training_cost_usd")

    def _summary(self) -> str:
        if self._data.get("hardware"):
            return (f"{self._data.get('model')} on {self._data.get('file')}: priced in "
                    "hardware time (see ['hardware'])")
        cost = self._data.get("training_cost_usd")
        return (f"{self._data.get('model')} on {self._data.get('file')}: training "
                + ("cost unknown" if cost is None else f"${cost:.4f}"))

    def _repr_html_(self) -> str:
        from ftdecide.report import estimate_fragment

        return estimate_fragment(self._data)


def estimate(path: str | os.PathLike[str], model: str, *, epochs: int | None = None,
             tier: str | None = None, requests_per_month: int | None = None,
             prompt_tokens: float | None = None, few_shot_from: str | os.PathLike[str] | None = None,
             shots: int | None = None, tuned_prompt_tokens: float | None = None,
             output_tokens: float | None = None, horizon_months: float | None = None,
             serving_hardware: str | None = None, utilization: float = 0.5,
             min_instances: int = 1, price_files: Sequence[str] = (),
             progress: Callable[[int], None] | None = None) -> Estimate:
    """Price fine-tuning ``model`` on the training set at ``path``, offline (``ftdecide estimate``).

    Tokens are counted with the model's encoding, each example billed up to
    the model's per-example limit, epochs by the cookbook's rule unless
    given. With ``requests_per_month`` it also prices inference before and
    after tuning (today's prompt: ``prompt_tokens``, or a ``shots``-shot
    prompt built from ``few_shot_from``, default ``path``), hosting, payback
    and break-even. ``serving_hardware`` (``L4``, ``A10G``, ``H100`` …, with
    ``requests_per_month``) prices serving the model yourself in hardware
    time at ``utilization``, keeping ``min_instances`` up all month (the
    ``serving`` block). Raises :class:`ftdecide.DataError` for an invalid file
    and :class:`ftdecide.UsageError` for an untunable model or arguments
    that do not go together.
    """
    from ftdecide.pricing import _estimate as est
    from ftdecide.pricing import load_catalog

    given = {"prompt_tokens": prompt_tokens is not None, "few_shot_from": few_shot_from is not None,
             "shots": shots is not None, "tuned_prompt_tokens": tuned_prompt_tokens is not None,
             "output_tokens": output_tokens is not None, "horizon_months": horizon_months is not None}
    check_economics_args(given, requests_per_month)
    path = os.fspath(path)
    catalog = load_catalog(price_files=tuple(price_files))
    info = catalog.resolve(model)
    est.check_tunable(info, catalog)
    report = est.validated(path, info, progress)
    result = est.training_estimate(report, info, epochs=epochs, tier=tier)
    hardware = est.hardware_estimate(catalog.providers[info.provider], info, report,
                                     {"epochs": epochs})
    if hardware is not None:
        result["hardware"] = hardware
    result["notices"] = est.notices(catalog.providers[info.provider], info)
    if requests_per_month is not None:
        result["economics"] = est.economics(
            info, train_path=path, requests_per_month=requests_per_month,
            training_cost_usd=result["training_cost_usd"], prompt_tokens=prompt_tokens,
            few_shot_from=os.fspath(few_shot_from) if few_shot_from is not None else None,
            shots=4 if shots is None else shots, tuned_prompt_tokens=tuned_prompt_tokens,
            output_tokens=output_tokens, horizon_months=horizon_months,
        )
    if serving_hardware:
        result["serving"] = _serving_estimate(path, info, serving_hardware, utilization,
                                              min_instances, requests_per_month,
                                              tuned_prompt_tokens, output_tokens)
    return Estimate(result)


def _serving_estimate(file: str, info: Any, hardware: str, utilization: float,
                      min_instances: int, requests_per_month: int | None,
                      prompt_tokens: float | None, output_tokens: float | None) -> dict[str, Any]:
    """Serving the model on ``hardware``: cost per request from the training examples' own
    prompt and answer tokens (tiktoken counts: an approximation of the model's), the month."""
    from ftdecide.errors import UsageError
    from ftdecide.pricing import _estimate as est
    from ftdecide.pricing._serving import check_serving, serving_costs

    if requests_per_month is None:
        raise UsageError("--serving-hardware needs --requests-per-month",
                         key="--serving-hardware", hint="add --requests-per-month N")
    spec = check_serving({"hardware": hardware, "utilization": utilization,
                          "min_instances": min_instances}, key="--serving-hardware",
                         at={"key": "--serving-hardware"})
    profile = est.prompt_profile(file, info.encoding or "o200k_base")
    tin = prompt_tokens if prompt_tokens is not None else profile.prompt_tokens_mean
    tout = output_tokens if output_tokens is not None else profile.output_tokens_mean
    out = serving_costs(spec, model=info.key, parameters=info.parameters, tokens_in=tin,
                        tokens_out=tout, requests_per_month=requests_per_month)
    out.update(tokens_in=tin, tokens_out=tout, requests_per_month=requests_per_month,
               tokens_source="the training examples' prompts and answers (tiktoken count)")
    return out
