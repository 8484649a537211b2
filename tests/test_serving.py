"""Arms that name their own model, self-hosted serving priced in hardware time, ``bench-serve``.

The real openai SDK talks HTTP to the local test server; a real run store and a real
bench-serve store (``FTDECIDE_DATA_DIR`` of the test). The server's responder sleeps in
proportion to the tokens it reads and writes, so bench-serve measures a known throughput.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftdecide.cli.main import cli
from ftdecide.data._tokens import count_messages
from ftdecide.plugins import Registry, set_registry
from ftdecide.testing import OpenAICompatibleServer

BASE = "gpt-4o-mini-2024-07-18"
CATS = ("billing", "account", "technical")
N_EVAL = 8
PREFILL_S_PER_TOKEN = 1 / 40_000   # what the simulated server spends per prompt token
DECODE_S_PER_TOKEN = 1 / 400       # ... and per answer token


def _example(i: int) -> dict:
    cat = CATS[i % 3]
    return {"messages": [
        {"role": "system", "content": "Classify the ticket as JSON."},
        {"role": "user", "content": f"ticket {i} about {cat}"},
        {"role": "assistant", "content": json.dumps({"category": cat})}]}


def responder(request: dict) -> str:
    """A server that answers tickets right and takes time like a real one."""
    max_tokens = request.get("max_tokens") or 256
    users = [m["content"] for m in request["messages"] if m["role"] == "user"]
    if max_tokens < 100:  # bench-serve's passes: as many tokens as asked
        text = " ".join(["word"] * max_tokens)
        out = max_tokens
    else:
        cat = re.search(r"about (\w+)", users[-1]).group(1)
        text = json.dumps({"category": cat})
        out = 6
    time.sleep(count_messages(request["messages"]) * PREFILL_S_PER_TOKEN + out * DECODE_S_PER_TOKEN)
    return text


@pytest.fixture
def task(tmp_path):
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(_example(i)) + "\n" for i in range(20)))
    (tmp_path / "eval.jsonl").write_text(
        "".join(json.dumps(_example(i)) + "\n" for i in range(100, 100 + N_EVAL)))
    return tmp_path


@pytest.fixture
def server(monkeypatch):
    with OpenAICompatibleServer(responder=responder) as s:
        monkeypatch.setenv("OPENAI_BASE_URL", s.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-serving")
        monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
        set_registry(Registry())
        yield s


def run(*args, expect=0):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def config(task, text: str) -> Path:
    path = task / "compare.yaml"
    path.write_text(f"train: train.jsonl\neval: eval.jsonl\nmodel: openai/{BASE}\n"
                    f"metric: json-fields\nshots: 2\nout: reports\nrequests_per_month: 200000\n"
                    + text)
    return path


def catalog_prices(model: str) -> tuple[float, float]:
    from ftdecide.pricing import load_catalog

    info = load_catalog().resolve(model)
    return info.input_per_1m, info.output_per_1m


def test_an_arm_names_its_own_model_and_is_priced_with_it(task, server):
    cfg = config(task, "arms: [zeroshot, {name: fewshot, model: openai/gpt-4.1-mini}]\n")
    data = json.loads(run("compare", "-c", cfg, "--json").stdout)
    arms = data["arms"]
    assert arms["zeroshot"]["model"] == f"openai/{BASE}"
    assert arms["fewshot"]["model"] == "openai/gpt-4.1-mini-2025-04-14"
    models = {p.json["model"] for p in server.calls("POST", "/v1/chat/completions")}
    assert models == {BASE, "gpt-4.1-mini-2025-04-14"}
    for arm, model in (("zeroshot", BASE), ("fewshot", "gpt-4.1-mini")):
        p_in, p_out = catalog_prices(f"openai/{model}")
        t = arms[arm]["tokens"]
        expected = (t["input_mean"] * p_in + t["output_mean"] * p_out) / 1e6 * 1000
        assert arms[arm]["cost_per_1k_usd"] == pytest.approx(expected)
        assert arms[arm]["cost_kind"] == "hosted price"
    stored = json.loads((Path(data["report"]).parent / "results.json").read_text())
    assert stored["provenance"]["config"]["arms"] == [
        "zeroshot", {"name": "fewshot", "model": "openai/gpt-4.1-mini"}]


@pytest.mark.parametrize("arms, key", [
    ("[{name: fewshot, modle: openai/gpt-4.1-mini}]", "arms[0].modle"),
    ("[{model: openai/gpt-4.1-mini}]", "arms[0]"),
    ("[{name: fewshot, model: 3}]", "arms[0].model"),
    ("[{name: fewshot, serving: {hardware: L4, utilization: 2}}]", "arms[0].serving.utilization"),
    ("[{name: fewshot, serving: {hardware: Z80}}]", "arms[0].serving.hardware"),
])
def test_arm_entry_errors_name_the_key(task, server, arms, key, capsys):
    from ftdecide.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["compare", "-c", str(config(task, f"arms: {arms}\n")), "--dry-run"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert key in err and "compare.yaml" in err and "Traceback" not in err


def test_bench_serve_stores_a_measured_row_that_compare_then_uses(task, server, tmp_path):
    out = json.loads(run("bench-serve", "--model", "openai/llama-local", "--as", "L4",
                         "--prompts", task / "eval.jsonl", "--concurrency", "2",
                         "--max-tokens", "20", "--json").stdout)
    assert out["hardware"] == "L4" and out["model"] == "openai/llama-local"
    # the simulated server decodes 400 tokens/s per request, two requests at a time
    assert 300 < out["decode_tokens_per_s"] < 2 * 400 * 1.2
    assert out["prefill_tokens_per_s"] > 0
    assert "SECRET" not in Path(out["stored_in"]).read_text()

    cfg = config(task, "arms:\n"
                       "  - {name: zeroshot, model: openai/llama-local,\n"
                       "     serving: {hardware: L4, utilization: 0.5}}\n"
                       "  - fewshot\n")
    data = json.loads(run("compare", "-c", cfg, "--json").stdout)
    zs = data["arms"]["zeroshot"]
    serving = zs["serving"]
    assert serving["throughput_source"].startswith("measured (bench-serve, ")
    assert zs["cost_kind"] == "self-hosted hardware time"
    t = zs["tokens"]
    busy = t["input_mean"] / out["prefill_tokens_per_s"] + t["output_mean"] / out["decode_tokens_per_s"]
    assert zs["cost_per_1k_usd"] == pytest.approx(busy / 3600 * 0.80 / 0.5 * 1000)
    assert zs["monthly_cost_usd"] >= 730 * 0.80
    assert serving["fixed_monthly_usd"] == pytest.approx(730 * 0.80)
    # the hosted few-shot arm against the self-hosted one: where self-hosting pays
    pair = data["self_hosting"][0]
    assert (pair["self_hosted"], pair["hosted"]) == ("zeroshot", "fewshot")
    fs_cpr = data["arms"]["fewshot"]["cost_per_1k_usd"] / 1000
    cpr = zs["cost_per_1k_usd"] / 1000
    if cpr < fs_cpr:
        assert pair["break_even_requests_per_month"] == pytest.approx(730 * 0.8 / fs_cpr, rel=1e-6,
                                                                        abs=1)
    html = Path(data["report"]).read_text()
    assert "measured (bench-serve, " in html
    assert "self-hosting floor" in html and "serving-floor" in html  # the volume chart marks it
    text = run("compare", "-c", cfg).stdout  # from the cache: the terminal says the same
    assert "Zero-shot (openai/llama-local) self-hosted on L4: $0.80/h".lower() in text.lower()
    assert "throughput measured (bench-serve, " in text


def test_self_hosted_arm_without_serving_is_unpriced_not_free(task, server):
    cfg = config(task, "arms: [{name: zeroshot, model: openai/llama-local, "
                       "serving: {hardware: L4}}, fewshot]\n")
    # no bench row, and an OpenAI-compatible model's size is unknown: unpriced, with the fix
    data = json.loads(run("compare", "-c", cfg, "--json").stdout)
    zs = data["arms"]["zeroshot"]
    assert zs["cost_per_1k_usd"] is None and zs["monthly_cost_usd"] is None
    assert "bench-serve" in zs["unpriced_reason"]


def test_serving_cost_model_by_hand():
    from ftdecide.pricing._serving import check_serving, serving_costs

    spec = check_serving({"hardware": "L4", "utilization": 0.5, "max_instances": 1})
    got = serving_costs(spec, model="hf/x", parameters=134_515_008, tokens_in=200, tokens_out=10,
                        requests_per_month=10**9)
    prefill = 121e12 * 0.3 / (2 * 134_515_008)
    decode = min(16 * 300e9 / (2 * 134_515_008), prefill)
    cpr = (200 / prefill + 10 / decode) / 3600 * 0.80 / 0.5
    assert got["cost_per_request_usd"] == pytest.approx(cpr)
    assert got["throughput_source"].startswith("estimate (table as_of 2026-11-01)")
    assert got["monthly_usd"] == pytest.approx(max(730 * 0.8, 1e9 * cpr))
    assert got["over_capacity"] and got["instances"] == 1 and got["instances_needed"] > 1


def test_verdict_names_the_hardware_and_both_monthly_bills():
    from ftdecide.compare._verdict import verdict

    def arm(label, model, monthly, diff=None, serving=None):
        return {"label": label, "model": model, "quality": {"mean": 0.8},
                "vs_baseline": None if diff is None else {"diff": diff, "ci_low": diff - 0.05,
                                                          "ci_high": diff + 0.05},
                "tokens": {"input_mean": 50, "output_mean": 5}, "cost_per_1k_usd": 0.1,
                "economics": {"monthly_total_usd": monthly, "training_cost_usd": 0.0},
                "serving": serving}

    results = {"baseline": "fewshot", "arms": {
        "fewshot": arm("few-shot", "openai/gpt-4.1-mini-2025-04-14", 120.0),
        "finetuned": arm("fine-tuned", "hf/run-1", 584.0, diff=0.12,
                         serving={"hardware": "L4", "over_capacity": False})}}
    assert verdict(results).startswith(
        "fine-tuned on L4: +12.0 points [7.0, 17.0] over few-shot, ")
    assert "$584/month at your volume vs $120 for few-shot on gpt-4.1-mini-2025-04-14" in verdict(results)


def test_estimate_prices_serving_an_open_model_per_month(tmp_path, monkeypatch):
    from ftdecide.examples import example_path

    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf")
    set_registry(Registry())
    out = json.loads(run("estimate", example_path("triage", "train"), "--model", "hf/smollm2-135m",
                         "--requests-per-month", "100000", "--serving-hardware", "L4",
                         "--json").stdout)
    s = out["serving"]
    assert s["hardware"] == "L4" and s["fixed_monthly_usd"] == pytest.approx(730 * 0.80)
    assert s["monthly_usd"] == pytest.approx(max(730 * 0.8, 100000 * s["cost_per_request_usd"]))
    assert s["throughput_source"].startswith("estimate (table as_of 2026-11-01)")


def test_assess_prices_the_open_weights_alternative_per_month(monkeypatch):
    from ftdecide.assess._facts import _open_weights_monthly
    from ftdecide.pricing import load_catalog

    monkeypatch.setenv("FTDECIDE_LOAD_PLUGINS", "hf,openai")
    set_registry(Registry())
    facts = {"requests_per_month": 100_000, "prompt_tokens_after": 120, "output_tokens": 10}
    text = _open_weights_monthly(facts, load_catalog(), ["openai/gpt-4.1-mini", "hf/smollm2-135m"])
    assert text.startswith(" (serving hf/smollm2-135m yourself on an L4 at utilization 0.5: about $")
    assert "never below the $584/month of one instance; throughput estimated" in text


def test_user_hardware_file_overrides_rate_and_serving_throughput():
    from ftdecide import paths
    from ftdecide.pricing._serving import check_serving, serving_costs

    user = paths.config_dir() / "hardware.yaml"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("hardware:\n  L4:\n    usd_per_hour: 0.60\n"
                    "    prefill_tokens_per_s: 50000\n    decode_tokens_per_s: 2000\n"
                    "    serving_source: 'measured: vLLM on our L4, 2026-12-01'\n")
    got = serving_costs(check_serving({"hardware": "L4"}), model="hf/x", parameters=134_515_008,
                        tokens_in=500, tokens_out=50, requests_per_month=0)
    assert got["usd_per_hour"] == 0.60 and got["throughput_kind"] == "measured"
    assert got["cost_per_request_usd"] == pytest.approx((500 / 50000 + 50 / 2000) / 3600 * 0.6 / 0.5)
    assert got["monthly_usd"] == pytest.approx(730 * 0.60)  # nothing sent: the floor alone


@pytest.mark.parametrize("floor_a, cpr_a, floor_b, cpr_b, above, below", [
    (584.0, 1e-6, 0.0, 1e-4, 5_840_000, None),     # self-hosted vs hosted: cheaper above the floor
    (0.0, 1e-4, 584.0, 1e-6, None, 5_840_000),     # hosted vs self-hosted: cheaper below it
    (584.0, 3e-4, 0.0, 2e-4, None, None),          # dearer per request and a floor: never
    (0.0, 0.0, 0.0, 1e-4, 0, None),                # straight lines, no fixed cost
    # both self-hosted on the same floor (a tuned arm beside few-shot on one L4): the same
    # until the baseline outgrows its floor at 584 / 2e-6 = 292M requests, never "from the first"
    (584.0, 1e-6, 584.0, 2e-6, 292_000_000, None),
])
def test_break_even_with_a_self_hosting_floor(floor_a, cpr_a, floor_b, cpr_b, above, below):
    from ftdecide.compare._economics import compare_costs

    def econ(floor):
        return {"hosting_per_month_usd": 0.0, "training_cost_usd": 0.0, "amortisation_months": 12,
                "serving_floor_usd": floor}

    found = compare_costs(econ(floor_a), econ(floor_b), cpr_a, cpr_b)
    assert found["above"] == (pytest.approx(above, abs=1) if above else above)
    assert found["below"] == (pytest.approx(below, abs=1) if below else below)
