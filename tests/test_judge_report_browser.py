"""A judged run's report in headless Chromium: the judge section and the judgments in the
drill-down show hostile model text as text, run nothing, and fit a phone's width."""

from __future__ import annotations

import pytest
from test_report import HOSTILE, hostile_results
from test_report_browser import CHROMIUM, Opened, browser  # noqa: F401  (the fixture)

from ftdecide.report._html import write_report

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary found")


def judged_results() -> dict:
    """The hostile fixture scored by a judge: every judge text is markup."""
    r = hostile_results()
    r["metric"] = {"name": "judge", "binary": False, "description": "LLM judge"}
    baseline = r["baseline"]
    arms = list(r["arms"])
    r["judge"] = {
        "model": HOSTILE["textarea"], "scale": "5", "rubric": HOSTILE["script"], "pairwise": True,
        "agreement": {"n": 12, "percent": 0.75, "percent_ci": [0.5, 0.92], "kappa": 0.41,
                      "kappa_ci": [0.1, 0.7], "kappa_weights": "quadratic",
                      "constant_baseline": 0.5, "constant_baseline_ci": [0.25, 0.75],
                      "constant_label": HOSTILE["img"]},
        "human_labels": {"path": HOSTILE["pre"], "labels": 12, "matched": 12, "not_in_run": 0,
                         "not_judged": 0},
        "calibrated": False, "kappa_threshold": 0.6, "unparseable": 1,
        "unparseable_by_arm": {baseline: 1}, "calls": 60, "cached_calls": 0,
        "evaluation_cost_usd": 0.0123,
        "pairwise_results": {a: {"wins": 3, "losses": 4, "ties": 5, "unparseable": 0, "n": 12,
                                 "win_rate": 0.458, "ci_low": 0.3, "ci_high": 0.6}
                             for a in arms if a != baseline},
    }
    for item in r["items"]:
        for arm, out in item["outputs"].items():
            out["judgment"] = {
                "scale": "5", "score": 4, "value": 0.75, "parsed": True,
                "reason": HOSTILE["svg"] + " " + "long-reason-" * 40, "raw": HOSTILE["style"],
                "prompt": [{"role": "system", "content": HOSTILE["title"]},
                           {"role": "user", "content": HOSTILE["pre"] + " " + "x" * 300}],
                **({"pairwise": {"outcome": "tie",
                                 "arm_first": {"winner": "A", "raw": HOSTILE["script"]},
                                 "baseline_first": {"winner": "A", "raw": HOSTILE["jinja"]}}}
                   if arm != baseline else {})}
    return r


@pytest.fixture(scope="module")
def judged(tmp_path_factory):
    results = judged_results()
    return results, write_report(results, tmp_path_factory.mktemp("judged")).html


def test_judge_section_and_judgments_are_text_and_fit_a_phone(browser, judged):  # noqa: F811
    results, html = judged
    for width in (1280, 390):
        opened = Opened(browser, html, width=width)
        page = opened.page
        try:
            opened.assert_clean()
            assert page.evaluate("typeof window.__pwned") == "undefined"
            assert page.evaluate("document.querySelectorAll('script').length") == 1
            assert page.evaluate("document.querySelectorAll('img, iframe, textarea').length") == 0
            section = page.locator("section#judge")
            assert section.is_visible()
            assert HOSTILE["script"] in section.inner_text()  # the rubric, as text
            assert "not calibrated" in section.inner_text()
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            first = page.locator("#item-1 details.judgment").first
            first.locator("summary").click()
            assert first.locator("pre.t").first.inner_text() == HOSTILE["style"]
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            opened.close()
