"""Self-hosted serving priced in hardware time on a local hf model (issue 14's acceptance).

A tiny Llama folder stands in for hf/smollm2-135m (same code path: the hf provider in
process, the parameter count from the folder), so the run takes seconds on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiny
from click.testing import CliRunner

from ftdecide.cli.main import cli


@pytest.fixture
def files(tmp_path):
    examples = tiny.examples()
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples[:-4]))
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples[-4:]))
    return tmp_path


def compare(files, model, text, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    cfg = files / "compare.yaml"
    cfg.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: hf/{model}\nmetric: exact\n"
                   "max_tokens: 4\nout: reports\nrequests_per_month: 1000\n" + text)
    result = CliRunner().invoke(cli, ["compare", "-c", str(cfg), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_serving_on_l4_is_the_hand_computation_and_never_below_an_instance_month(
        files, tiny_model_dir, monkeypatch):
    import ftdecide
    from ftdecide_hf_trl.specs import count_parameters

    data = compare(files, tiny_model_dir, "arms: [zeroshot]\n"
                   "serving: {hardware: L4, utilization: 0.5}\n", monkeypatch)
    arm = data["arms"]["zeroshot"]
    table = ftdecide.load_hardware_table()
    l4 = table["hardware"]["L4"]
    p = count_parameters(tiny_model_dir)
    prefill = l4["peak_tflops"] * 1e12 * table["serving_mfu"] / (2 * p)
    decode = min(table["decode_batch"] * l4["memory_bandwidth_gbps"] * 1e9
                 / (table["bytes_per_parameter"] * p), prefill)
    t = arm["tokens"]
    cpr = (t["input_mean"] / prefill + t["output_mean"] / decode) / 3600 * l4["usd_per_hour"] / 0.5
    assert arm["cost_per_1k_usd"] == pytest.approx(cpr * 1000)
    assert arm["monthly_cost_usd"] == pytest.approx(max(730 * l4["usd_per_hour"], 1000 * cpr))
    assert arm["monthly_cost_usd"] >= 730 * l4["usd_per_hour"]
    assert arm["serving"]["throughput_source"].startswith("estimate (table as_of ")
    assert arm["serving"]["hardware"] == "L4" and arm["serving"]["instances"] == 1


def test_an_hf_arm_without_serving_is_unpriced_not_free(files, tiny_model_dir, monkeypatch):
    data = compare(files, tiny_model_dir, "arms: [zeroshot]\n", monkeypatch)
    arm = data["arms"]["zeroshot"]
    assert arm["cost_per_1k_usd"] is None and arm["monthly_cost_usd"] is None
    assert arm["unpriced_reason"].startswith("unpriced: self-hosted; add serving:")
    html = Path(data["report"]).read_text()
    assert "unpriced: self-hosted" in html


def test_bench_serve_in_process_stores_the_row_compare_then_uses(files, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    result = CliRunner().invoke(cli, ["bench-serve", "--model", f"hf/{tiny_model_dir}",
                                      "--as", "cpu_local", "--usd-per-hour", "0.10",
                                      "--prompts", str(files / "eval.jsonl"), "--limit", "4",
                                      "--max-tokens", "8", "--concurrency", "1", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert row["hardware"] == "cpu_local" and row["prefill_tokens_per_s"] > 0
    assert row["decode_tokens_per_s"] > 0 and row["base_url"] is None
    data = compare(files, tiny_model_dir, "arms: [zeroshot]\n"
                   "serving: {hardware: cpu_local, utilization: 1.0}\n", monkeypatch)
    serving = data["arms"]["zeroshot"]["serving"]
    assert serving["throughput_source"].startswith("measured (bench-serve, ")
    assert serving["usd_per_hour"] == 0.10 and serving["fixed_monthly_usd"] == pytest.approx(73.0)
    t = data["arms"]["zeroshot"]["tokens"]
    busy = t["input_mean"] / row["prefill_tokens_per_s"] + t["output_mean"] / row["decode_tokens_per_s"]
    assert data["arms"]["zeroshot"]["cost_per_1k_usd"] == pytest.approx(busy / 3600 * 0.10 * 1000)


def test_a_self_hosted_hf_arm_beside_a_hosted_litellm_arm_each_priced_and_the_break_even(
        files, tiny_model_dir, monkeypatch):
    """Issues 14 and 17 together: the run's model is an open-weights model served on an L4;
    the few-shot arm names its own hosted model through LiteLLM (the local server as its
    api_base). Each arm is priced with its own model, and the run says from what volume the
    self-hosted arm is the cheaper one (its fixed instance-month is the floor)."""
    pytest.importorskip("ftdecide_litellm")
    from ftdecide.pricing._catalog import load_catalog
    from ftdecide.testing import OpenAICompatibleServer

    with OpenAICompatibleServer(models=("gpt-4.1-mini",)) as server:
        monkeypatch.setenv("FTDECIDE_LITELLM_API_BASE", server.base_url)
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf,litellm")
        cfg = files / "compare.yaml"
        cfg.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: hf/{tiny_model_dir}\n"
                       "metric: exact\nmax_tokens: 4\nout: reports\nrequests_per_month: 1000\n"
                       "arms: [{name: fewshot, model: litellm/openai/gpt-4.1-mini}, zeroshot]\n"
                       "baseline: fewshot\nshots: 2\n"
                       "serving: {hardware: L4, utilization: 0.5}\n")
        result = CliRunner().invoke(cli, ["compare", "-c", str(cfg), "--json"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        posts = server.calls("POST", "/v1/chat/completions")
    hosted, local = data["arms"]["fewshot"], data["arms"]["zeroshot"]
    assert hosted["model"] == "litellm/openai/gpt-4.1-mini" and hosted["cost_kind"] == "hosted price"
    assert len(posts) == hosted["calls"] == 4  # only the hosted arm went over HTTP
    info = load_catalog().resolve("litellm/openai/gpt-4.1-mini")
    usage = [(p.json["messages"], server.responder(p.json)) for p in posts]
    assert info.input_per_1m and info.output_per_1m
    assert hosted["cost_per_1k_usd"] > 0
    assert local["cost_kind"] == "self-hosted hardware time" and local["serving"]["hardware"] == "L4"
    floor = local["serving"]["fixed_monthly_usd"]
    assert local["monthly_cost_usd"] == pytest.approx(floor)  # 1,000 requests: the floor
    # a hosted few-shot call costs more than a self-hosted one, so above some volume the
    # instance-month pays for itself: that volume is floor / saving per request
    saving = (hosted["cost_per_1k_usd"] - local["cost_per_1k_usd"]) / 1000
    assert saving > 0 and len(usage) == 4
    assert local["break_even_requests_per_month"] == pytest.approx(floor / saving, rel=1e-3, abs=1)
    assert "floor" in local["break_even_reason"]
