"""Hardware-hour estimates: the table, the arithmetic, monotonicity, user overrides, actual cost."""

from __future__ import annotations

import math

import pytest

from ftdecide import UsageError, paths
from ftdecide_hf_trl import hardware

SMOL = 134_515_008
STATS = {"records": 400, "invalid_records": 0, "tokens_total": 60_000,
         "tokens_per_example": {"mean": 150.0}}
ROW_KEYS = {"hardware", "epochs", "steps", "examples_seen", "training_tokens", "tokens_per_s", "hours", "usd_per_hour",
            "usd_per_hour_low", "usd_per_hour_high", "cost_usd", "cost_usd_low", "cost_usd_high",
            "as_of", "source", "throughput_source"}


def _row(result: dict, name: str) -> dict:
    return next(r for r in result["hardware"] if r["hardware"] == name)


def test_bundled_table_has_the_classes_rates_and_sources():
    table = hardware.load_table(user=False)
    assert str(table["as_of"]) == "2026-11-01" and "providers.md" in table["source"]
    classes = table["hardware"]
    assert list(classes) == ["T4", "L4", "A10G", "A100-80GB", "H100", "H200"]
    assert classes["T4"]["usd_per_hour_low"] == 0.40 and classes["T4"]["usd_per_hour_high"] == 0.60
    assert classes["L4"]["usd_per_hour"] == 0.80 and classes["A100-80GB"]["usd_per_hour"] == 2.50
    assert 3.0 <= classes["H100"]["usd_per_hour"] <= 4.0 and classes["H200"]["usd_per_hour"] == 5.00
    assert 1.0 <= classes["A10G"]["usd_per_hour"] <= 1.5
    assert table["cpu_local"]["usd_per_hour"] == 0
    assert table["cpu_local"]["throughput_source"].startswith("measured")
    for name, entry in classes.items():
        tps, source = hardware.throughput(entry, parameters=SMOL, table=table)
        assert tps > table["cpu_local"]["tokens_per_s"], name
        assert source.startswith(("estimate:", "measured")), (name, source)


def test_estimate_shape_and_arithmetic():
    result = hardware.estimate_training(parameters=SMOL, stats=STATS, hyperparameters={"epochs": 2})
    assert set(result) == {"parameters", "examples", "tokens_per_epoch", "tokens_source", "as_of",
                           "source", "schedule", "hardware", "cpu_local", "warnings"}
    assert result["warnings"] == [] and result["schedule"]["steps"] == 100   # 2 epochs × 50 batches
    assert result["examples"] == 400 and result["tokens_per_epoch"] == 60_000
    assert "approximation" in result["tokens_source"]
    assert result["as_of"] == "2026-11-01"
    for row in result["hardware"] + [result["cpu_local"]]:
        assert set(row) == ROW_KEYS
        assert row["epochs"] == 2 and row["training_tokens"] == 120_000
        assert row["steps"] == 100 and row["examples_seen"] == 800
        assert math.isclose(row["hours"], row["training_tokens"] / row["tokens_per_s"] / 3600)
        assert math.isclose(row["cost_usd"], row["hours"] * row["usd_per_hour"])
        assert row["cost_usd_low"] <= row["cost_usd"] <= row["cost_usd_high"]
    cpu = result["cpu_local"]
    assert cpu["hardware"] == "cpu_local" and cpu["cost_usd"] == 0 and cpu["usd_per_hour"] == 0
    assert cpu["throughput_source"].startswith("measured")
    h100 = _row(result, "H100")
    assert h100["throughput_source"].startswith("estimate:") and "MFU" in h100["throughput_source"]
    assert h100["source"] == result["source"] and h100["as_of"] == "2026-11-01"
    # the estimate rule itself: peak × MFU / (6 × parameters)
    assert math.isclose(h100["tokens_per_s"], 989e12 * 0.05 / (6 * SMOL))


def test_one_schedule_on_every_row_and_model_tokens_win():
    result = hardware.estimate_training(parameters=SMOL, stats={**STATS, "model_tokens_total": 70_000},
                                        hyperparameters={})
    assert result["tokens_source"] == "model tokenizer" and result["tokens_per_epoch"] == 70_000
    rows = result["hardware"] + [result["cpu_local"]]
    # the cookbook's 3 epochs for 400 examples, on the CPU as on every GPU: only time and cost differ
    assert {(r["epochs"], r["steps"], r["examples_seen"], r["training_tokens"]) for r in rows} == \
        {(3, 150, 1200, 210_000)}
    assert all(result["cpu_local"]["hours"] > r["hours"] for r in result["hardware"])
    plan = result["schedule"]
    assert plan["source"] == "data" and plan["learning_rate"] == 1e-3 and plan["lora_layers"] == "all"
    only_mean = hardware.estimate_training(parameters=SMOL, stats={"records": 10, "tokens_per_example":
                                                                   {"mean": 12.5}}, hyperparameters={})
    assert only_mean["tokens_per_epoch"] == 125
    # 10 examples: 2 batches an epoch; the cookbook's 10 epochs are 20 steps, raised to the floor
    assert only_mean["schedule"]["steps"] == 30 and only_mean["schedule"]["source"] == "floor"
    assert only_mean["cpu_local"]["training_tokens"] == 125 * 15
    with pytest.raises(UsageError):
        hardware.estimate_training(parameters=SMOL, stats={}, hyperparameters={})
    with pytest.raises(UsageError):
        hardware.estimate_training(parameters=0, stats=STATS, hyperparameters={})


def test_user_settings_win_in_the_estimate():
    def plan(hyper: dict, **options) -> dict:
        r = hardware.estimate_training(parameters=SMOL, stats=STATS, hyperparameters=hyper,
                                       options=options)
        assert len({(row["steps"], row["examples_seen"]) for row in r["hardware"] + [r["cpu_local"]]}) == 1
        return r["schedule"]

    assert plan({}, max_steps=12)["steps"] == 12 and plan({}, max_steps=12)["examples_seen"] == 96
    assert plan({"epochs": 1})["steps"] == 50 and plan({"batch_size": 16})["steps"] == 75
    assert plan({"learning_rate": 3e-4})["learning_rate"] == 3e-4
    assert plan({"lora_layers": "top_half"})["lora_layers"] == "top_half"
    # LoRA on the top half trains faster, the same schedule
    top = hardware.estimate_training(parameters=SMOL, stats=STATS, hyperparameters={"lora_layers": "top_half"})
    full = hardware.estimate_training(parameters=SMOL, stats=STATS, hyperparameters={})
    assert math.isclose(full["cpu_local"]["hours"] / top["cpu_local"]["hours"], 1.44)


def test_monotone_in_tokens_epochs_and_parameters():
    def hours(tokens: int, epochs: float, params: int = SMOL) -> dict[str, float]:
        r = hardware.estimate_training(parameters=params, stats={**STATS, "tokens_total": tokens},
                                       hyperparameters={"epochs": epochs})
        return {row["hardware"]: row["hours"] for row in r["hardware"] + [r["cpu_local"]]}

    base = hours(10_000, 1)
    for more in (hours(20_000, 1), hours(10_000, 2), hours(10_000, 1, params=10 * SMOL)):
        assert all(more[k] > base[k] for k in base)
    assert math.isclose(hours(10_000, 1, params=2 * SMOL)["H100"], 2 * base["H100"])   # ∝ parameters
    big = hardware.estimate_training(parameters=7 * 10**9, stats=STATS, hyperparameters={})
    assert "scaled" in _row(big, "H100")["throughput_source"]


def test_user_override_file(tmp_path):
    user = paths.config_dir() / "hardware.yaml"
    assert hardware.user_file() == user
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(
        "as_of: 2026-12-01\n"
        "hardware:\n"
        "  H100:\n"
        "    usd_per_hour: 2.0\n"
        "    tokens_per_s: 50000\n"
        "    throughput_source: 'measured: our H100, bench/sft.py'\n"
        "  MI300X:\n"
        "    match: MI300\n"
        "    usd_per_hour: 4.0\n"
        "    peak_tflops: 1307\n"
        "cpu_local:\n"
        "  tokens_per_s: 280\n")
    result = hardware.estimate_training(parameters=SMOL, stats=STATS, hyperparameters={"epochs": 1})
    h100 = _row(result, "H100")
    assert h100["usd_per_hour"] == 2.0 and h100["usd_per_hour_low"] == h100["usd_per_hour_high"] == 2.0
    assert h100["tokens_per_s"] == 50000 and h100["throughput_source"] == "measured: our H100, bench/sft.py"
    assert math.isclose(h100["hours"], 60_000 / 50000 / 3600)
    assert result["as_of"] == "2026-12-01"
    assert [r["hardware"] for r in result["hardware"]][-1] == "MI300X"
    assert _row(result, "T4")["usd_per_hour"] == 0.50                 # untouched classes stay
    cpu = result["cpu_local"]
    assert cpu["tokens_per_s"] == 280 and "user override" in cpu["throughput_source"]
    assert hardware.classify("cuda: AMD Instinct MI300X") == "MI300X"

    user.write_text("hardware:\n  H100:\n    usd_per_hour: -1\n")
    with pytest.raises(UsageError, match="usd_per_hour"):
        hardware.load_table()
    user.write_text("hardware: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        hardware.load_table()


@pytest.mark.parametrize("name, expected", [
    ("cuda: NVIDIA H100 80GB HBM3", "H100"), ("cuda: NVIDIA H200", "H200"),
    ("cuda: NVIDIA A100-SXM4-80GB", "A100-80GB"), ("cuda: NVIDIA A100-SXM4-40GB", None),
    ("cuda: Tesla T4", "T4"), ("cuda: NVIDIA L4", "L4"), ("cuda: NVIDIA L40S", None),
    ("cuda: NVIDIA A10G", "A10G"), ("cpu: 2 cores", "cpu_local")])
def test_classify(name, expected):
    assert hardware.classify(name) == expected


def test_actual_cost():
    h100 = hardware.actual_cost("cuda: NVIDIA H100 80GB HBM3", wall_s=1800, gpus=2)
    rate = hardware.load_table()["hardware"]["H100"]["usd_per_hour"]
    assert h100 == {"hardware": "H100", "usd_per_hour": 2 * rate, "actual_cost_usd": 0.5 * 2 * rate}
    assert hardware.actual_cost("cpu: 2 cores", wall_s=600) == \
        {"hardware": "cpu_local", "usd_per_hour": 0.0, "actual_cost_usd": 0.0}
    unknown = hardware.actual_cost("cuda: Some Future GPU", wall_s=60)
    assert unknown["actual_cost_usd"] is None and unknown["hardware"] == "cuda: Some Future GPU"
