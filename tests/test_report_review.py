"""The review bar and the judge section as rendered (the browser tests drive them)."""

from __future__ import annotations

import re

import pytest
from test_report import realistic_results

from ftdecide.report._html import render_html
from ftdecide.report._view import review_scale


def _with(**changes) -> dict:
    return {**realistic_results(n_items=4, training=False), **changes}


def _audit(categorical: bool) -> dict:
    return {"counts": {"train_examples": 10, "eval_examples": 4},
            "labels": {"categorical": categorical, "kind": "label" if categorical else "text", "metric": "exact"}}


def test_every_report_has_the_review_bar_with_the_run_and_its_file():
    r = _with(run_id="cmp-20261205-abc123")
    html = render_html(r)
    bar = re.search(r'<div class="review-bar" id="review"[^>]*>', html).group(0)
    assert 'data-run-id="cmp-20261205-abc123"' in bar and 'data-scale="pass-fail"' in bar
    assert 'data-file="human_labels-cmp-20261205-abc123.csv"' in bar and f'data-baseline="{r["baseline"]}"' in bar
    assert " hidden>" in bar  # the script reveals it; without JavaScript there is nothing to click
    assert "human_labels: human_labels-cmp-20261205-abc123.csv" in html
    # every item carries its id for the marks, and every arm is offered, the baseline first chosen
    assert len(re.findall(r'<article class="item" [^>]*data-id="[^"]+"', html)) == 4
    options = re.findall(r'<option value="([^"]+)" data-label="[^"]*"( selected)?>', html)
    assert [o for o, _ in options] == list(r["arms"]) and dict(options)[r["baseline"]] == " selected"


@pytest.mark.parametrize("audit, shown", [(None, False), (_audit(True), False), (_audit(False), True)])
def test_the_empty_judge_section_is_for_free_text_runs_only(audit, shown):
    html = render_html(_with(audit=audit, metric={"name": "rouge-l", "binary": False}))
    assert ('<section id="judge"' in html) is shown
    assert ('<a href="#judge">' in html) is shown
    if shown:
        assert "No judge configured." in html and "<strong>rouge-l</strong>" in html
        assert "metric: judge" in html and "scale: 5" in html


def test_a_judge_block_replaces_the_empty_state_and_sets_the_review_scale():
    judge = {"model": "openai/gpt-4.1-mini-2025-04-14", "scale": 5, "agreement": None, "unparseable": 2,
             "evaluation_cost_usd": 0.0123}
    html = render_html(_with(judge=judge, audit=_audit(False)))
    assert "No judge configured" not in html and "openai/gpt-4.1-mini-2025-04-14" in html
    assert 'data-scale="5"' in html and "not calibrated" in html


@pytest.mark.parametrize("results, scale", [
    ({}, "pass-fail"),
    ({"judge": {"scale": "5"}}, "5"),
    ({"judge": {"scale": "pass-fail"}}, "pass-fail"),
    ({"judge": {"scale": "weird"}}, "pass-fail"),
    ({"provenance": {"config": {"judge": {"scale": 5}}}}, "5"),
    ({"judge": {"scale": "pass_fail"}, "provenance": {"config": {"judge": {"scale": 5}}}}, "pass-fail"),
])
def test_review_scale_follows_the_judge(results, scale):
    assert review_scale(results) == scale


def test_a_hostile_run_id_and_arm_label_stay_attributes():
    r = _with(run_id='x" onmouseover="alert(1)')
    first = next(iter(r["arms"]))
    r["arms"][first] = {**r["arms"][first], "label": '"><script>alert(2)</script>'}
    html = render_html(r)
    assert 'onmouseover="alert(1)' not in html and "<script>alert(2)" not in html
    assert 'data-run-id="x&#34; onmouseover=&#34;alert(1)"' in html
