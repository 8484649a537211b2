"""Provider-specific settings: one schema per provider, one ``-o KEY VALUE`` on the CLI.

The core has no provider-specific flags. A provider declares what it accepts
as a tuple of :class:`Option` (``Provider.options``); ``ftdecide tune -o
lora_r 8``, ``ftdecide ask -o top_p 0.9`` and a compare config's ``tune:
{options: {...}}`` all go through :func:`parse_options`, which converts text
to the declared type, checks ranges and choices, and refuses an unknown key
naming the provider and the keys it accepts — before anything is uploaded,
trained or called. ``ftdecide plugins --json`` and ``tune --help`` list the
schemas, so a user never has to read a plugin's source to tune it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Mapping, Sequence

from ftdecide.errors import UsageError

Scope = Literal["tune", "complete"]

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}
_TYPE_NAMES = {str: "text", int: "integer", float: "number", bool: "true/false"}


@dataclass(frozen=True)
class Option:
    """One setting a provider accepts.

    ``type`` is ``str``, ``int``, ``float`` or ``bool`` (``int | str`` values
    such as ``lora_layers: all|top_half|N`` use ``str`` with ``choices`` that
    admit digits: see ``integer_or``). ``hyperparameter`` options are
    recorded with the job as its hyperparameters (they change what is
    learned: learning rate, LoRA rank); the others are run settings (tier,
    processes, backend). ``scope`` says where the option applies: ``tune``
    (fine-tuning) or ``complete`` (answering a prompt).
    """

    name: str
    type: type = str
    help: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    positive: bool = False
    """Numbers must be above 0 (a learning rate)."""
    hyperparameter: bool = False
    scope: Scope = "tune"
    aliases: tuple[str, ...] = ()
    integer_or: bool = False
    """With ``choices``: a whole number is accepted too (``lora_layers 8``)."""
    hidden: bool = False
    """Accepted but not listed (test-only or expert settings)."""
    affects_model: bool = True
    """False for settings that change how a tune runs but not what it learns (checkpoint
    cadence, which executable): they are left out of the tune key, so changing them reuses a
    finished tune."""

    def parse(self, value: Any) -> Any:
        """``value`` (text from the command line, or a typed value from YAML) as this option's type.

        Raises ValueError with what was expected; :func:`parse_options` turns it
        into a :class:`UsageError` naming the provider and the option.
        """
        if self.type is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError("expected true or false")
        if self.type is int:
            if isinstance(value, bool):
                raise ValueError("expected an integer")
            try:
                number = int(value) if not isinstance(value, float) or value.is_integer() else None
            except (TypeError, ValueError):
                number = None
            if number is None:
                raise ValueError("expected an integer")
            self._check_minimum(number)
            return number
        if self.type is float:
            if isinstance(value, bool):
                raise ValueError("expected a number")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError("expected a number") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError("expected a finite number")
            self._check_minimum(number)
            return number
        text = str(value)
        if self.choices and text not in self.choices:
            if self.integer_or and text.strip().isdigit() and int(text) >= 1:
                return int(text)
            allowed = ", ".join(self.choices) + (" or a whole number" if self.integer_or else "")
            raise ValueError(f"expected one of {allowed}")
        if not text:
            raise ValueError("expected a non-empty value")
        return text

    def _check_minimum(self, number: float) -> None:
        if self.positive and number <= 0:
            raise ValueError("expected a number above 0")
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"expected at least {self.minimum:g}")

    def describe_type(self) -> str:
        if self.choices:
            return "|".join(self.choices) + ("|N" if self.integer_or else "")
        return _TYPE_NAMES.get(self.type, self.type.__name__)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.describe_type(), "help": self.help,
                "default": self.default, "hyperparameter": self.hyperparameter,
                "scope": self.scope, "aliases": list(self.aliases)}


def visible(options: Iterable[Option], scope: Scope | None = None) -> list[Option]:
    """The options a user sees for ``scope`` (all scopes when None), hidden ones left out."""
    return [o for o in options if not o.hidden and (scope is None or o.scope == scope)]


def parse_options(provider: str, schema: Sequence[Option], given: Mapping[str, Any] | Iterable[
        tuple[str, Any]], *, scope: Scope = "tune") -> dict[str, Any]:
    """``given`` (``-o`` pairs, or a mapping from a config) checked against ``schema``.

    Returns ``{canonical name: typed value}``. Keys may use ``-`` or ``_`` and
    any declared alias. An unknown key, a key of another scope, a repeated key
    or a value of the wrong type raises :class:`UsageError` (exit 2) naming the
    provider, the key and the keys it accepts.
    """
    pairs = list(given.items()) if isinstance(given, Mapping) else list(given)
    by_name: dict[str, Option] = {}
    for opt in schema:
        for name in (opt.name, *opt.aliases):
            by_name[name] = opt
    accepted = [o.name for o in visible(schema, scope)]
    result: dict[str, Any] = {}
    for raw_key, raw_value in pairs:
        key = str(raw_key).strip().replace("-", "_")
        opt = by_name.get(key)
        if opt is None or opt.scope != scope:
            close = difflib.get_close_matches(key, accepted, n=1)
            what = "fine-tuning" if scope == "tune" else "completion"
            if accepted:
                hint = (f"did you mean {close[0]}? " if close else "") + \
                    f"{provider} accepts for {what}: {', '.join(accepted)}"
            else:
                hint = f"{provider} takes no -o options for {what}"
            raise UsageError(f"{provider} has no {what} option {raw_key!r}", hint=hint)
        if opt.name in result:
            raise UsageError(f"option {opt.name!r} for {provider} is given twice",
                             hint="give each -o KEY once")
        try:
            result[opt.name] = opt.parse(raw_value)
        except ValueError as exc:
            raise UsageError(f"{provider} option {opt.name} = {raw_value!r}: {exc}",
                             hint=f"{opt.name}: {opt.help or opt.describe_type()}") from None
    return result


def split_hyperparameters(schema: Sequence[Option],
                          values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``values`` as (hyperparameters, run options) by each option's ``hyperparameter`` flag."""
    hyper_names = {o.name for o in schema if o.hyperparameter}
    hyper = {k: v for k, v in values.items() if k in hyper_names}
    rest = {k: v for k, v in values.items() if k not in hyper_names}
    return hyper, rest


def help_rows(schema: Sequence[Option], scope: Scope = "tune") -> list[tuple[str, str]]:
    """(``-o KEY TYPE``, help) per visible option, for ``--help`` and ``ftdecide plugins``."""
    rows = []
    for opt in visible(schema, scope):
        default = f" (default {opt.default})" if opt.default not in (None, "") else ""
        metavar = opt.describe_type() if opt.choices else opt.describe_type().upper()
        rows.append((f"-o {opt.name} {metavar}", f"{opt.help}{default}"))
    return rows
