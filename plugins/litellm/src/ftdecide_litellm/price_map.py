"""LiteLLM's model price map as ftdecide catalog entries, read without importing LiteLLM.

LiteLLM ships its price and context-limit map as a JSON file inside the
package (``model_prices_and_context_window_backup.json``, what
``litellm.model_cost`` holds when ``LITELLM_LOCAL_MODEL_COST_MAP=True``).
``import litellm`` takes seconds, and every ftdecide command that builds the
price catalog asks every provider for its catalog, so the file is found with
:func:`importlib.util.find_spec` and read as plain JSON (about 20 ms), once
per process. LiteLLM itself is imported only when a completion is sent
(:mod:`ftdecide_litellm.calls`).

Each chat model of the map becomes a :class:`ftdecide.ModelInfo` whose id is
a model string ``litellm.completion`` accepts (``openai/gpt-4.1-mini``,
``anthropic/claude-sonnet-4-5``, ``gemini/gemini-2.5-flash``): keys that
already name their route keep it, bare keys get their provider's route in
front. Prices are per token in the map and per 1M tokens here; a price the
map leaves out stays unknown (``None``), never 0. ``as_of`` is the day this
LiteLLM release was built (from its SBOM) or, failing that, the day the map
file was written on this machine; ``source`` names LiteLLM's version and the
file. Nothing is claimed tunable: no ftdecide plugin fine-tunes through
LiteLLM.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import ftdecide

MAP_FILE = "model_prices_and_context_window_backup.json"
MAP_URL = ("https://github.com/BerriAI/litellm/blob/main/"
           "model_prices_and_context_window.json")
#: The provider names of the map that are not the route ``litellm.completion`` takes.
ROUTES = {"bedrock_converse": "bedrock", "bedrock_mantle": "bedrock", "cohere_chat": "cohere_chat"}
#: LiteLLM routes that serve any model without a map entry (self-hosted servers); their
#: models are accepted with unknown prices.
OPEN_ROUTES = frozenset({
    "hosted_vllm", "vllm", "llamafile", "lm_studio", "openai_like", "custom_openai",
    "ollama_chat", "huggingface", "text-completion-openai", "litellm_proxy", "xinference",
    "oobabooga", "openrouter",
})
_ROUTE_RE = re.compile(r"^[a-z0-9_\-]+$")


class PriceMap:
    """The chat models of one LiteLLM price map: catalog entries and the routes it knows."""

    def __init__(self, data: Mapping[str, Any], *, version: str | None, as_of: _dt.date | None,
                 path: str) -> None:
        self.version = version
        self.as_of = as_of
        self.path = path
        self.source = (f"LiteLLM {version or '(version unknown)'} model price map "
                       f"({MAP_FILE}; upstream {MAP_URL})")
        self.models: dict[str, ftdecide.ModelInfo] = {}
        #: map key as written (``gpt-4.1-mini``) → catalog id (``openai/gpt-4.1-mini``)
        self.by_key: dict[str, str] = {}
        self.routes: set[str] = set(OPEN_ROUTES)
        for key, entry in data.items():
            if not isinstance(entry, Mapping) or entry.get("mode") != "chat":
                continue
            model_id = catalog_id(key, entry)
            self.routes.add(model_id.split("/", 1)[0])
            if model_id in self.models and key != model_id:
                continue  # an entry keyed by its full route string wins over a bare one
            self.models[model_id] = self._info(model_id, entry)
            self.by_key[key] = model_id

    def _info(self, model_id: str, entry: Mapping[str, Any]) -> ftdecide.ModelInfo:
        notes = ["from LiteLLM's price map; prices per 1M tokens from its per-token prices"]
        if entry.get("source"):
            notes.append(f"LiteLLM cites {entry['source']}")
        return ftdecide.ModelInfo(
            id=model_id,
            provider="litellm",
            tunable=False,
            input_per_1m=per_1m(entry.get("input_cost_per_token")),
            cached_input_per_1m=per_1m(entry.get("cache_read_input_token_cost")),
            output_per_1m=per_1m(entry.get("output_cost_per_token")),
            context_window=positive_int(entry.get("max_input_tokens")
                                        or entry.get("max_tokens")),
            shutdown=iso_date(entry.get("deprecation_date")),
            as_of=self.as_of,
            source=self.source,
            notes="; ".join(notes),
        )

    def lookup(self, model: str) -> ftdecide.ModelInfo | None:
        """``model`` as a catalog id or as a key of the map (``gpt-4.1-mini``)."""
        info = self.models.get(model)
        if info is None and model in self.by_key:
            info = self.models.get(self.by_key[model])
        return info


def catalog_id(key: str, entry: Mapping[str, Any]) -> str:
    """The model string ``litellm.completion`` takes for the map entry ``key``."""
    if "/" in key:
        return key
    provider = str(entry.get("litellm_provider") or "")
    route = ROUTES.get(provider, provider.split("-", 1)[0])
    return f"{route}/{key}" if route and _ROUTE_RE.match(route) else key


def per_1m(value: Any) -> float | None:
    """A per-token price as USD per 1M tokens; ``None`` when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return round(float(value) * 1_000_000, 10)


def positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


def iso_date(value: Any) -> _dt.date | None:
    try:
        return _dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def litellm_dir() -> Path | None:
    """Where the ``litellm`` package is installed (found, not imported); None if it is not."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def litellm_version() -> str | None:
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return None


def build_date(map_path: Path, version: str | None) -> _dt.date | None:
    """The day this LiteLLM release was built (the timestamp of the SBOM in its
    ``.dist-info``), else the day the map file was written here: the prices are as of that
    day or earlier. The dist-info folder is looked up by name beside the package (reading
    the distribution's RECORD of thousands of files would cost 0.1 s at every start)."""
    if version:
        for sbom in sorted(map_path.parent.parent.glob(f"litellm-{version}.dist-info/sboms/*.json")):
            try:
                stamp = str(json.loads(sbom.read_text()).get("metadata", {}).get("timestamp", ""))
                return _dt.date.fromisoformat(stamp[:10])
            except (OSError, ValueError, AttributeError):
                continue
    try:
        return _dt.date.fromtimestamp(map_path.stat().st_mtime)
    except OSError:
        return None


@lru_cache(maxsize=1)
def load() -> PriceMap | None:
    """The installed LiteLLM's price map (read once per process); None without LiteLLM.

    A map that cannot be read raises :class:`ftdecide.PluginError` naming the file.
    """
    base = litellm_dir()
    if base is None:
        return None
    path = base / MAP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ftdecide.PluginError(
            f"LiteLLM {litellm_version() or ''} has no price map at {path}",
            hint="reinstall litellm (pip install --force-reinstall litellm)") from None
    except (OSError, ValueError) as exc:
        raise ftdecide.PluginError(f"cannot read LiteLLM's price map {path}: {exc}") from None
    if not isinstance(data, Mapping):
        raise ftdecide.PluginError(f"LiteLLM's price map {path} is not a JSON object")
    version = litellm_version()
    return PriceMap(data, version=version, as_of=build_date(path, version), path=str(path))
