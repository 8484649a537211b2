"""Fixtures for the hf plugin: a tiny model folder built once per session."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import tiny  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved tiny Llama + tokenizer folder (about 0.5 MB, built in ~1 s)."""
    return tiny.build(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def tiny_train_file(tmp_path) -> Path:
    """Chat JSONL of the tiny task (word → animal/color/fruit)."""
    path = tmp_path / "tiny-train.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in tiny.examples()))
    return path


# -- the real default model (SmolLM2-135M-Instruct), converted once per session ---------------
SMOLLM2_CACHE_ENV = "FTDECIDE_TEST_HF_CACHE"


@pytest.fixture(scope="session")
def smollm2_cache_root(tmp_path_factory) -> Path:
    """A cache root holding the converted default model: converted once per session (20-40 s).

    Set FTDECIDE_TEST_HF_CACHE to a folder to keep the conversion between
    sessions while developing (it is verified by checksum like any cache).
    """
    import os

    from ftdecide_hf_trl import default_model

    kept = os.environ.get(SMOLLM2_CACHE_ENV)
    root = Path(kept) if kept else tmp_path_factory.mktemp("hf-cache")
    default_model.ensure_default(default_model.default_folder(root))
    return root


@pytest.fixture
def smollm2_cache(smollm2_cache_root, monkeypatch) -> Path:
    """Point FTDECIDE_CACHE_DIR at the session's converted model; returns the model folder.

    (The root conftest gives every test its own empty cache dir.)
    """
    from ftdecide_hf_trl import default_model

    monkeypatch.setenv("FTDECIDE_CACHE_DIR", str(smollm2_cache_root))
    return default_model.default_folder(smollm2_cache_root)


@pytest.fixture
def one_torch_thread():
    """Generate with one torch thread: the results are the same, and on a machine
    other processes load, torch's default threads can make generation many times
    slower. (The library itself leaves torch's thread count alone.)"""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
