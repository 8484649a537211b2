"""The price catalog: every provider's models merged with the user's overrides.

Providers ship their catalog (``Provider.catalog()``, usually read from a
YAML file in the plugin with :func:`load_price_file`). Users override or
extend it with the same file format, never by editing code: the user config
file (``<user config dir>/ftdecide/prices.yaml``) and ``--prices FILE``, in
that order, the later winning field by field.

File format (YAML or JSON)::

    as_of: 2026-11-01            # default for every entry below
    source: https://example.com/pricing
    models:
      openai/gpt-4o-mini-2024-07-18:   # provider/id (a plugin's own file may omit "provider/")
        training_per_1m: 3.0
        as_of: 2026-12-01              # per entry, overrides the default

Field names are those of :class:`ftdecide.ModelInfo`. An unknown field, a
wrong type or a negative price is an error naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from ftdecide.errors import DataError, FtdecideError, UnknownModelError, UsageError
from ftdecide.providers import ModelInfo, Provider

STALE_AFTER_DAYS = 90
USER_PRICES_ENV = "FTDECIDE_PRICES"

_FLOAT_FIELDS = {
    "training_per_1m", "input_per_1m", "cached_input_per_1m", "output_per_1m",
    "ft_input_per_1m", "ft_cached_input_per_1m", "ft_output_per_1m", "hosting_per_hour",
}
_INT_FIELDS = {"training_token_limit", "context_window", "parameters"}
_DATE_FIELDS = {"shutdown", "as_of"}
_STR_FIELDS = {"encoding", "source", "notes", "id", "provider"}


def user_price_file() -> Path:
    """The user's own price file, applied before ``--prices`` files."""
    from ftdecide.paths import config_dir

    return config_dir() / "prices.yaml"


def _read_structured(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError("file not found", path=str(path),
                        hint="check the path given to --prices") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", path=str(path)) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", path=str(path), line=exc.lineno) from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataError(f"invalid YAML: {problem}", path=str(path), line=line) from None


def _coerce(field: str, value: Any, where: str, path: str) -> Any:
    def bad(expected: str) -> DataError:
        return DataError(f"{where}.{field}: expected {expected}, got {value!r}", path=path,
                         hint="fix the value or remove the key")

    if value is None:
        return None
    if field in _FLOAT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise bad("a non-negative number")
        return float(value)
    if field in _INT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise bad("a positive integer")
        return value
    if field in _DATE_FIELDS:
        if isinstance(value, _dt.datetime):
            return value.date()
        if isinstance(value, _dt.date):
            return value
        if isinstance(value, str):
            try:
                return _dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise bad("a date YYYY-MM-DD")
    if field == "tunable":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if field == "aliases":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    if field == "training_tiers":
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            and v >= 0 for k, v in value.items()
        ):
            raise bad("a mapping of tier name to a non-negative price")
        return {k: float(v) for k, v in value.items()}
    if field in _STR_FIELDS:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise DataError(f"{where}: unknown field {field!r}", path=path,
                    hint="known fields: " + ", ".join(sorted(ModelInfo.FIELDS)))


@dataclass(frozen=True)
class PriceEntry:
    """One entry of a price file: the model it names and the fields it sets."""

    provider: str | None
    id: str
    fields: Mapping[str, Any]


def parse_price_data(data: Any, path: str, *, default_provider: str | None = None) -> list[PriceEntry]:
    """Validate the structure of a price file; every problem names ``path`` and the key."""
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise DataError("expected a mapping with a 'models' key at the top level", path=path)
    unknown = set(data) - {"as_of", "source", "models"}
    if unknown:
        raise DataError(f"unknown top-level key {sorted(unknown)[0]!r}", path=path,
                        hint="the top level holds 'as_of', 'source' and 'models'")
    defaults: dict[str, Any] = {}
    for key in ("as_of", "source"):
        if key in data:
            defaults[key] = _coerce(key, data[key], "(top level)", path)
    models = data.get("models") or {}
    if not isinstance(models, Mapping):
        raise DataError("'models' must be a mapping of model id to fields", path=path)
    entries = []
    for key, fields in models.items():
        if not isinstance(key, str) or not key:
            raise DataError(f"models: invalid model key {key!r}", path=path)
        if fields is None:
            fields = {}
        if not isinstance(fields, Mapping):
            raise DataError(f"models.{key}: expected a mapping of fields", path=path)
        provider, _, model_id = key.partition("/") if "/" in key else (default_provider, "", key)
        if provider is None:
            raise DataError(f"models.{key}: name the provider as 'provider/{key}'", path=path,
                            hint="e.g. openai/" + key)
        values = dict(defaults)
        for fname, fvalue in fields.items():
            if fname in ("id", "provider"):
                raise DataError(f"models.{key}: {fname!r} comes from the key, not a field",
                                path=path)
            values[fname] = _coerce(str(fname), fvalue, f"models.{key}", path)
        entries.append(PriceEntry(provider=provider, id=model_id, fields=values))
    return entries


def load_price_file(path: str | os.PathLike[str], *, provider: str | None = None) -> list[PriceEntry]:
    """Read and validate one price file."""
    p = Path(path)
    return parse_price_data(_read_structured(p), str(p), default_provider=provider)


def models_from_file(path: str | os.PathLike[str], provider: str) -> list[ModelInfo]:
    """A plugin's catalog from its own YAML file (entries become ModelInfo)."""
    return [ModelInfo(id=e.id, provider=provider, **dict(e.fields))
            for e in load_price_file(path, provider=provider)]


class Catalog:
    """All models of all loaded providers, with the user's overrides applied."""

    def __init__(self, providers: Mapping[str, Provider],
                 overrides: Iterable[PriceEntry] = ()) -> None:
        self.providers = dict(providers)
        self._models: dict[str, ModelInfo] = {}
        self._overrides: dict[str, dict[str, Any]] = {}
        for name, provider in self.providers.items():
            for info in provider.catalog():
                info = info.replace(provider=name)
                self._models[info.key] = info
        for entry in overrides:
            if entry.provider not in self.providers:
                raise UsageError(
                    f"price override for {entry.provider}/{entry.id}: no provider named "
                    f"{entry.provider!r} is installed",
                    hint="installed providers: " + (", ".join(sorted(self.providers)) or "none"),
                )
            key = f"{entry.provider}/{entry.id}"
            self._overrides.setdefault(key, {}).update(entry.fields)
            base = (self._models.get(key) or self._described(entry.provider, entry.id)
                    or ModelInfo(id=entry.id, provider=entry.provider))
            self._models[key] = base.replace(**dict(entry.fields))

    def _described(self, pname: str, model: str) -> ModelInfo | None:
        """What provider ``pname`` says of a model outside its catalog (a model of a
        self-hosted server, with unknown prices), so an override changes only the fields
        it names."""
        try:
            info = self.providers[pname].model_info(model)
        except FtdecideError:
            return None
        return None if info is None else info.replace(provider=pname)

    def models(self, provider: str | None = None) -> list[ModelInfo]:
        return sorted((m for m in self._models.values()
                       if provider is None or m.provider == provider), key=lambda m: m.key)

    def resolve(self, spec: str) -> ModelInfo:
        """``provider/model`` (split at the first ``/``) or a bare id or alias."""
        spec = spec.strip()
        if not spec:
            raise UsageError("empty model name", hint="pass --model provider/model")
        if "/" in spec:
            pname, _, model = spec.partition("/")
            if pname.lower() in self.providers:  # provider names are lower-case: OPENAI/ works
                pname = pname.lower()
                spec = f"{pname}/{model}"
            if not model.strip():
                today = _dt.date.today()
                models = [m.id for m in self.models(pname) if m.shutdown is None
                          or m.shutdown > today] if pname in self.providers else []
                raise UsageError(f"model {spec!r} names no model after '{pname}/'",
                                 hint=f"e.g. --model {pname}/{models[0]}" if models
                                 else "pass --model provider/model (`ftdecide prices` lists them)")
            if pname in self.providers:
                info = self._models.get(spec)
                if info is None:
                    for m in self.models(pname):
                        if model in m.aliases:
                            info = m
                            break
                if info is None:
                    info = self.providers[pname].model_info(model)
                    if info is not None:
                        info = info.replace(provider=pname)
                        extra = self._overrides.get(f"{pname}/{info.id}")
                        if extra:
                            info = info.replace(**extra)
                if info is not None:
                    return info
                raise UnknownModelError(spec, self.closest(spec))
        matches = [m for m in self._models.values() if spec == m.id or spec in m.aliases]
        if not matches and "/" in spec:
            from ftdecide.plugins import missing_plugin_error

            missing = missing_plugin_error(spec.partition("/")[0].lower())
            if missing is not None:
                raise missing
        if len(matches) > 1:
            matches = self._prefer(matches, spec)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(
                f"model {spec!r} is offered by several providers",
                hint="name one: " + ", ".join(sorted(m.key for m in matches)),
            )
        raise UnknownModelError(spec, self.closest(spec))

    def _prefer(self, matches: list[ModelInfo], spec: str) -> list[ModelInfo]:
        """Narrow an ambiguous bare id: the model's maker over resellers, then id over alias."""
        makers = [m for m in matches if getattr(self.providers[m.provider], "bare_ids", True)]
        matches = makers or matches
        exact = [m for m in matches if m.id == spec]
        return exact or matches

    def closest(self, spec: str, n: int = 3) -> list[str]:
        names: dict[str, str] = {}
        for m in self._models.values():
            for name in (m.key, m.id, *m.aliases):
                names.setdefault(name, m.key)
        hits = difflib.get_close_matches(spec, list(names), n=n * 2, cutoff=0.5)
        out: list[str] = []
        for h in hits:
            if names[h] not in out:
                out.append(names[h])
        return out[:n]


def load_catalog(registry: Any = None, price_files: Iterable[str | os.PathLike[str]] = ()) -> Catalog:
    """The catalog of the loaded providers, with the user file and ``price_files`` applied."""
    from ftdecide.plugins import get_registry

    registry = registry or get_registry()
    entries: list[PriceEntry] = []
    user_file = user_price_file()
    if user_file.exists():
        entries.extend(load_price_file(user_file))
    for path in price_files:
        entries.extend(load_price_file(path))
    return Catalog(registry.providers(), entries)


def freshness(info: ModelInfo, today: _dt.date | None = None) -> list[str]:
    """Flags for a catalog entry: ``stale`` (as_of > 90 days), ``shut-down``, ``no-date``."""
    today = today or _dt.date.today()
    flags = []
    if info.as_of is None:
        flags.append("no-date")
    elif (today - info.as_of).days > STALE_AFTER_DAYS:
        flags.append("stale")
    if info.shutdown is not None and info.shutdown <= today:
        flags.append("shut-down")
    return flags


def model_fields() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(ModelInfo))
