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
