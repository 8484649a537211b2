"""Fixtures for the autotrain plugin: a model folder, the autotrain provider loaded, and a
test double of the ``autotrain`` executable (``fake_autotrain.py``)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from ftdecide.plugins import Registry, set_registry

HERE = Path(__file__).parent
DATA = HERE / "data"


def write_model_folder(folder: Path, *, hidden: int = 8, layers: int = 1,
                       positions: int = 128) -> Path:
    """A model folder as far as ftdecide reads it without loading: config.json and one
    safetensors file whose header names the tensors (parameters are counted from it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": hidden,
        "num_hidden_layers": layers, "max_position_embeddings": positions, "vocab_size": 64}))
    header = {"model.embed_tokens.weight": {"dtype": "F32", "shape": [64, hidden],
                                            "data_offsets": [0, 64 * hidden * 4]},
              "lm_head.weight": {"dtype": "F32", "shape": [64, hidden],
                                 "data_offsets": [64 * hidden * 4, 2 * 64 * hidden * 4]}}
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw
                                               + bytes(2 * 64 * hidden * 4))
    return folder


@pytest.fixture
def model_dir(tmp_path) -> Path:
    return write_model_folder(tmp_path / "base-model")


@pytest.fixture
def autotrain_loaded(monkeypatch):
    """The autotrain plugin (and hf when installed) loaded through their entry points."""
    try:
        import ftdecide_hf_trl  # noqa: F401
        names = "autotrain,hf"
    except ImportError:
        names = "autotrain"
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", names)
    registry = Registry()
    set_registry(registry)
    return registry


@pytest.fixture
def fake_autotrain(tmp_path, monkeypatch):
    """Install the test double as ``<tmp>/fake-env/bin/autotrain``; set FTDECIDE_AUTOTRAIN_BIN.

    Returns a function ``configure(mode="success", log="real-success.log")`` that
    selects what the next run does, and gives the path of the call record.
    """
    bin_dir = tmp_path / "fake-env" / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "autotrain"
    script.write_text(f"#!{sys.executable}\n" + (HERE / "fake_autotrain.py").read_text())
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("FTDECIDE_AUTOTRAIN_BIN", str(script))
    record = tmp_path / "fake-call.json"

    def configure(mode: str = "success", log: str = "real-success.log", delay: float = 0.0) -> Path:
        monkeypatch.setenv("FAKE_AUTOTRAIN_MODE", mode)
        monkeypatch.setenv("FAKE_AUTOTRAIN_LOG", str(DATA / log))
        monkeypatch.setenv("FAKE_AUTOTRAIN_RECORD", str(record))
        monkeypatch.setenv("FAKE_AUTOTRAIN_DELAY", str(delay))
        return record

    configure.script = script  # type: ignore[attr-defined]
    configure()
    return configure


def train_file(tmp_path: Path, n: int = 12) -> Path:
    """A small valid chat training set."""
    path = tmp_path / "train.jsonl"
    rows = [{"messages": [{"role": "system", "content": "Answer with the label."},
                          {"role": "user", "content": f"item {i}"},
                          {"role": "assistant", "content": ["even", "odd"][i % 2]}]}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def small_train(tmp_path) -> Path:
    return train_file(tmp_path)


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}
