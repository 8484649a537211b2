"""The plugin manager with real plugins: registered by hand, and through real entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ftdecide
from ftdecide import hookimpl
from ftdecide.errors import PluginError
from ftdecide.plugins import Registry

ECHO_DIR = Path(__file__).parent / "plugins" / "ftdecide-echo"


class Echo(ftdecide.Provider):
    name = "echo"

    def catalog(self):
        return [ftdecide.ModelInfo(id="echo-1")]

    def complete(self, messages, *, model, **params):
        text = messages[-1]["content"]
        return ftdecide.Completion(text, ftdecide.Usage(1, 1), 0.0)


class EchoPlugin:
    @hookimpl
    def register_providers(self, register):
        register(Echo())

    @hookimpl
    def register_metrics(self, register):
        register("length-match", lambda expected, answer: float(len(expected) == len(answer)))


def test_registered_plugin_records_what_it_registered():
    reg = Registry(load_entry_points=False)
    reg.add_plugin(EchoPlugin(), name="echo-plugin")
    assert set(reg.providers()) == {"echo"}
    assert reg.provider_owner("echo") == "echo-plugin"
    assert reg.metrics()["length-match"]("ab", "cd") == 1.0
    (record,) = reg.plugin_records()
    assert record.to_dict() == {
        "name": "echo-plugin", "distribution": None, "version": None,
        "hooks": ["register_metrics", "register_providers"],
        "providers": ["echo"], "metrics": ["length-match"], "commands": [],
    }


def test_misspelled_hook_fails_loudly_naming_the_plugin():
    class Typo:
        @hookimpl
        def register_provider(self, register):  # missing "s"
            pass

    reg = Registry(load_entry_points=False)
    reg.add_plugin(Typo(), name="typo-plugin")
    with pytest.raises(PluginError, match="typo-plugin.*register_provider"):
        reg.ensure_loaded()


@pytest.mark.parametrize("bad,match", [
    (object(), "not an ftdecide.Provider"),
    (type("NoName", (ftdecide.Provider,), {"name": ""})(), "invalid name"),
    (type("Upper", (ftdecide.Provider,), {"name": "Bad Name"})(), "invalid name"),
])
def test_register_validates_the_object(bad, match):
    class Bad:
        @hookimpl
        def register_providers(self, register):
            register(bad)

    reg = Registry(load_entry_points=False)
    reg.add_plugin(Bad(), name="bad-plugin")
    with pytest.raises(PluginError, match=f"bad-plugin.*{match}"):
        reg.ensure_loaded()


def test_duplicate_provider_name_names_both_plugins():
    reg = Registry(load_entry_points=False)
    reg.add_plugin(EchoPlugin(), name="first")

    class Second:
        @hookimpl
        def register_providers(self, register):
            register(Echo())

    reg.add_plugin(Second(), name="second")
    with pytest.raises(PluginError, match="second.*'echo'.*first"):
        reg.ensure_loaded()


def test_unknown_provider_is_a_usage_error():
    reg = Registry(load_entry_points=False)
    with pytest.raises(ftdecide.UsageError, match="no provider named 'nope'"):
        reg.provider("nope")


def test_first_party_plugins_load_through_entry_points(first_party):
    providers = first_party.providers()
    assert {"openai", "azure"} <= set(providers)
    records = {r.name: r for r in first_party.plugin_records()}
    assert records["openai"].distribution == "ftdecide-openai"
    assert records["azure"].distribution == "ftdecide-azure"
    assert records["openai"].hooks == ["register_providers"]


def test_load_plugins_env_empty_means_none(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "")
    assert Registry().providers() == {}


def test_load_plugins_env_limits(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "azure")
    assert set(Registry().providers()) == {"azure"}


def test_entry_points_load_once(monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
    reg = Registry()
    a = reg.providers()["openai"]
    assert reg.providers()["openai"] is a


# -- real installs: a site folder made by pip, used by a subprocess ------------------------

def _pip_install(target: Path, project: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(project)],
        check=True, capture_output=True, text=True,
    )


def _run_cli(args, *, site: Path, home: Path, env_extra=None):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TIKTOKEN_CACHE_DIR", "FTDECIDE_LOAD_PLUGINS", "FTDECIDE_CONFIG_DIR")}
    env.update({"HOME": str(home), "PYTHONPATH": str(site), "XDG_CONFIG_HOME": str(home / ".config")})
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "ftdecide", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def echo_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    _pip_install(site, ECHO_DIR)
    return site


def test_pip_installed_third_party_plugin_is_listed_and_answers(echo_site, tmp_path):
    out = _run_cli(["plugins", "--json"], site=echo_site, home=tmp_path)
    assert out.returncode == 0, out.stderr
    plugins = {p["name"]: p for p in json.loads(out.stdout)}
    assert plugins["echo"] == {
        "name": "echo", "distribution": "ftdecide-echo", "version": "0.1.0",
        "hooks": ["register_commands", "register_providers"], "providers": ["echo"],
        "metrics": [], "commands": ["echo-hello"],
        "options": {"echo": [{"name": "repeat", "type": "integer", "help": "say it N times",
                              "default": None, "hyperparameter": False, "scope": "complete",
                              "aliases": []}]}}
    out = _run_cli(["ask", "--model", "echo/echo-1", "hi", "--json"], site=echo_site, home=tmp_path)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["text"] == "hi"
    assert result["model"] == "echo/echo-1"
    assert result["usage"] == {"input_tokens": 1, "output_tokens": 1, "cached_input_tokens": 0}
    assert result["cost_usd"] is None  # the echo catalog has no prices: unknown, not 0
    out = _run_cli(["ask", "--model", "echo-1", "hello there"], site=echo_site, home=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "hello there"


def test_broken_plugin_warns_and_others_still_load(tmp_path):
    site = tmp_path / "site"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "ftdecide-broken"
        version = "0.0.1"
        [project.entry-points.ftdecide]
        broken = "ftdecide_broken"
        [tool.setuptools]
        py-modules = ["ftdecide_broken"]
    """))
    (broken / "ftdecide_broken.py").write_text("raise RuntimeError('boom at import')\n")
    _pip_install(site, broken)
    _pip_install(site, ECHO_DIR)
    out = _run_cli(["plugins", "--json"], site=site, home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Warning: plugin 'broken'" in out.stderr and "boom at import" in out.stderr
    assert "warnings.warn" not in out.stderr  # one line for a person, no source dump
    names = [p["name"] for p in json.loads(out.stdout)]
    assert "echo" in names and "broken" not in names



def test_third_party_command_shows_in_help_and_runs(echo_site, tmp_path):
    out = _run_cli(["--help"], site=echo_site, home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "echo-hello" in out.stdout and "Say hello" in out.stdout
    out = _run_cli(["echo-hello", "world"], site=echo_site, home=tmp_path)
    assert out.returncode == 0 and out.stdout == "hello world\n"


def test_third_party_provider_options_are_validated(echo_site, tmp_path):
    out = _run_cli(["ask", "--model", "echo/echo-1", "hi", "-o", "repeat", "3"],
                   site=echo_site, home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hi hi hi"
    out = _run_cli(["ask", "--model", "echo/echo-1", "hi", "-o", "repeats", "3"],
                   site=echo_site, home=tmp_path)
    assert out.returncode == 2
    assert "echo has no completion option 'repeats'" in out.stderr
    assert "did you mean repeat? echo accepts for completion: repeat" in out.stderr
    out = _run_cli(["ask", "--model", "echo/echo-1", "hi", "-o", "repeat", "many"],
                   site=echo_site, home=tmp_path)
    assert out.returncode == 2 and "repeat = 'many': expected an integer" in out.stderr
    assert "Traceback" not in out.stderr
    out = _run_cli(["ask", "--help"], site=echo_site, home=tmp_path)
    assert "Options of echo (-o KEY VALUE)" in out.stdout and "-o repeat INTEGER" in out.stdout
