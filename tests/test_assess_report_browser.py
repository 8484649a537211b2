"""The assessment page opened from disk in a real headless Chromium (the system's, as in
``test_report_browser.py``): alone, and on top of a comparison with markup in every string.

The page must render with its CSS under its own Content-Security-Policy, request nothing but
itself, run no injected script, show every user-written string as text, and, with a run, carry
the comparison's sections whose item filters still work. ``FTDECIDE_REPORT_SCREENSHOTS=<folder>``
keeps the screenshots.
"""

from __future__ import annotations

import datetime as _dt
import json

import pytest
from test_report import HOSTILE, hostile_results, realistic_results
from test_report_browser import CHROMIUM, Opened, _screenshot, browser  # noqa: F401 - the fixture

from ftdecide.assess._assessment import assess
from ftdecide.assess._questionnaire import validate
from ftdecide.pricing._catalog import load_catalog
from ftdecide.report._assessment import write_assessment

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary found (apt-get install -y chromium, "
                                "or set FTDECIDE_CHROMIUM)")

TODAY = _dt.date(2026, 11, 28)
ANSWERS = {
    "use_case": {"goal": "format", "description": HOSTILE["script"]},
    "alternatives": {"few_shot": {"tried": True, "quality": 0.70}, "rag": {"tried": False}, "target_quality": 0.90},
    "costs": {"model": "gpt-4o-mini", "examples_available": 800, "examples_reviewed": 800},
    "benefits": {"requests_per_month": 100_000, "prompt_tokens_now": 612, "prompt_tokens_after": 118,
                 "output_tokens": 14},
}
SECTIONS = ("recommendation", "why", "costs", "risks", "next-steps", "evidence", "answers")


def _assessment(tmp_path, run=None, name="assessment.html"):
    answers = validate(ANSWERS, origin=str(tmp_path / HOSTILE["img"]))
    result = assess(answers, catalog=load_catalog(), run_results=run, run_id=run and run["run_id"], today=TODAY,
                    answers_path=str(tmp_path / "answers.yaml"))
    return result, write_assessment(result, tmp_path / name)


def test_assessment_alone(first_party, browser, tmp_path):  # noqa: F811
    result, html = _assessment(tmp_path)
    opened = Opened(browser, html)
    page = opened.page
    try:
        opened.assert_clean()
        for section in SECTIONS:
            assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator("#recommendation .label").inner_text() == "measure-first"
        # the stylesheet applied under the CSP: the recommendation is big, the deciding rule tinted
        size = page.eval_on_selector("#recommendation .verdict", "e => parseFloat(getComputedStyle(e).fontSize)")
        body = page.eval_on_selector("body", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 1.6 * body
        assert page.eval_on_selector("li.effect-decides", "e => getComputedStyle(e).backgroundColor") != \
            page.eval_on_selector("li.effect-supports", "e => getComputedStyle(e).backgroundColor")
        # every fired rule is in the trace, in order, with its values and source
        rules = page.eval_on_selector_all("ol.trace li.reason", "els => els.map(e => e.dataset.rule)")
        assert rules == [r.rule for r in result.decision.reasons]
        assert "training_cost_usd" in page.locator("li[data-rule=pays-back] dl.values").inner_text()
        assert page.locator("li[data-rule=pays-back] .source").inner_text().startswith("source: catalog prices")
        # the payback chart, drawn at a readable size
        chart = page.locator("svg#chart-payback")
        box = chart.bounding_box()
        assert box["width"] >= 520 and box["height"] >= 280
        assert page.locator("#chart-payback circle.payback").count() == 1
        # the next steps are the exact commands
        cmds = page.eval_on_selector_all("pre.cmd", "els => els.map(e => e.textContent)")
        assert cmds == ["$ " + s["command"] for s in result.next_steps]
        # a user's text is text: shown literally, never run; this page has no script at all
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('script, img, iframe').length") == 0
        assert page.locator("#recommendation .description").inner_text() == HOSTILE["script"]
        assert HOSTILE["img"] in page.locator("#recommendation .facts").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        # the written JSON is the --json result
        assert json.loads(html.with_name("assessment.json").read_text())["recommendation"] == "measure-first"
        _screenshot(opened, "assessment-alone", tmp_path)
    finally:
        opened.close()


def test_assessment_with_its_comparison(first_party, browser, tmp_path):  # noqa: F811
    run = realistic_results()
    result, html = _assessment(tmp_path, run)
    assert result.decision.recommendation == "fine-tune"
    opened = Opened(browser, html)
    page = opened.page
    try:
        opened.assert_clean()
        for section in SECTIONS + ("verdict", "arms", "charts", "items", "prompts", "provenance"):
            assert page.locator(f"section#{section}").is_visible(), section
        # one page: the assessment first, then the comparison's own sections
        order = page.eval_on_selector_all("main > section", "els => els.map(e => e.id)")
        assert order[: len(SECTIONS)] == list(SECTIONS)
        assert order[len(SECTIONS):] == ["verdict", "arms", "charts", "items", "prompts", "provenance"]
        assert page.locator("#verdict .verdict").inner_text() == run["verdict"]
        assert page.locator("svg.chart").count() == 4  # the payback chart + the comparison's three
        overridden = page.locator("tr.overridden")
        assert overridden.count() == len(result.evidence["overridden"]) >= 3
        assert page.locator("tr[data-key='alternatives.few_shot.quality'] del").inner_text() == "0.7"
        # the comparison's script runs under the page's CSP: the item filters work
        assert page.locator("#item-controls").is_visible()
        assert page.locator("#item-shown").inner_text() == f"{len(run['items'])} of {len(run['items'])} items shown"
        page.click("button[data-filter=wrong]")
        shown = page.locator("#item-shown").inner_text()
        assert shown.endswith(f"of {len(run['items'])} items shown") and not shown.startswith(str(len(run["items"])))
        assert "sk-test-SECRET" not in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        _screenshot(opened, "assessment-with-run", tmp_path)
    finally:
        opened.close()


def test_hostile_run_under_the_assessment(first_party, browser, tmp_path):  # noqa: F811
    run = hostile_results()
    result, html = _assessment(tmp_path, run)
    opened = Opened(browser, html)
    page = opened.page
    try:
        opened.assert_clean()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('script').length") == 1  # the page's own
        assert page.evaluate("document.querySelectorAll('img, iframe, textarea').length") == 0
        assert page.title() == f"ftdecide assess: {result.decision.recommendation} · run {run['run_id']}"
        # markup from the run (its training set's path, its tuned model) is shown as text
        evidence = page.locator("#evidence").inner_text()
        assert HOSTILE["pre"] in evidence
        assert f"“{HOSTILE['script']}”" in evidence  # the run's verdict, quoted
        assert page.locator("#verdict .verdict").inner_text() == HOSTILE["script"]
    finally:
        opened.close()


def test_phone_width(first_party, browser, tmp_path):  # noqa: F811
    _, html = _assessment(tmp_path)
    opened = Opened(browser, html, width=390)
    try:
        opened.assert_clean()
        assert opened.page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        opened.close()
