"""The compare report opened from disk in a real headless Chromium.

Playwright drives Debian's ``chromium`` over the DevTools protocol
(``executable_path``; ``playwright install`` is never run, nothing is
downloaded). The tests check what only a browser can: the page renders with
its CSS and script under its own Content-Security-Policy, logs no error,
requests nothing but the file itself, runs no injected script, and the item
filters work (and are not needed without JavaScript).

Set ``FTDECIDE_REPORT_SCREENSHOTS=<folder>`` to keep the 1280×2000
screenshots the tests take.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_report import HOSTILE, hostile_results, realistic_results

from ftdecide.report._html import write_report


def _chromium() -> str | None:
    for name in (os.environ.get("FTDECIDE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary found (apt-get install -y chromium, or set FTDECIDE_CHROMIUM)")

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-extensions", "--disable-sync", "--metrics-recording-only",
         "--disable-default-apps"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # a persistent context gives the browser an explicit empty profile folder
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 2000}, service_workers="block")
        yield context
        context.close()


class Opened:
    """A report page plus everything the browser reported while it was open."""

    def __init__(self, context, path: Path, *, width: int = 1280, javascript: bool = True) -> None:
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.url = path.resolve().as_uri()
        self.page = context.new_page()
        self.page.set_viewport_size({"width": width, "height": 2000})
        if not javascript:
            cdp = context.new_cdp_session(self.page)
            cdp.send("Emulation.setScriptExecutionDisabled", {"value": True})
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(self.url, wait_until="load")
        self.page.wait_for_timeout(150)  # let late console messages (CSP reports) arrive

    def visible_items(self) -> list[str]:
        return self.page.eval_on_selector_all("#item-list .item", "els => els.filter(e => !e.hidden && "
                                              "e.offsetParent !== null).map(e => e.id)")

    def assert_clean(self) -> None:
        assert self.console_errors == []
        assert self.page_errors == []
        assert self.dialogs == []
        assert self.requests == [self.url]  # the file itself and nothing else

    def close(self) -> None:
        self.page.close()


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    results = realistic_results()
    return results, write_report(results, tmp_path_factory.mktemp("realistic")).html


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    results = hostile_results()
    return results, write_report(results, tmp_path_factory.mktemp("hostile")).html


def _screenshot(opened: Opened, name: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{name}.png"
    opened.page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": 1280, "height": 2000})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if keep := os.environ.get("FTDECIDE_REPORT_SCREENSHOTS"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def test_report_renders_with_its_css_script_and_charts(browser, realistic, tmp_path):
    results, html = realistic
    opened = Opened(browser, html)
    page = opened.page
    try:
        opened.assert_clean()
        for section in ("verdict", "arms", "charts", "items", "prompts", "provenance"):
            assert page.locator(f"section#{section}").is_visible()
        assert page.locator("#verdict .verdict").inner_text() == results["verdict"]
        charts = page.locator("svg.chart")
        assert charts.count() == 3
        for i in range(3):  # drawn at a readable size, not collapsed
            box = charts.nth(i).bounding_box()
            assert box["width"] >= 520 and box["height"] >= 280
        assert page.locator("#chart-loss polyline").count() == 2  # training and validation
        # the stylesheet applied under the CSP: the verdict is big, the baseline row tinted
        size = page.eval_on_selector("#verdict .verdict", "e => parseFloat(getComputedStyle(e).fontSize)")
        body = page.eval_on_selector("body", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 1.5 * body
        assert page.eval_on_selector("tr.baseline td", "e => getComputedStyle(e).backgroundColor") != \
            page.eval_on_selector("tr.arm:not(.baseline) td", "e => getComputedStyle(e).backgroundColor")
        # the script ran under the CSP: it revealed the controls and counted the items
        assert page.locator("#item-controls").is_visible()
        assert page.locator("#item-shown").inner_text() == "30 of 30 items shown"
        # nothing wider than the window at 1280 px (the wide table scrolls in its own box)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        _screenshot(opened, "report-realistic", tmp_path)
    finally:
        opened.close()


def test_filters_and_search(browser, realistic):
    results, html = realistic
    items = results["items"]
    wrong = {f"item-{i + 1}" for i, it in enumerate(items) if any(o["score"] < 1 for o in it["outputs"].values())}
    disagree = {f"item-{i + 1}" for i, it in enumerate(items)
                if len({o["score"] for o in it["outputs"].values()}) > 1}
    assert 0 < len(wrong) < len(items) and 0 < len(disagree) < len(items)
    opened = Opened(browser, html)
    page = opened.page
    try:
        assert len(opened.visible_items()) == len(items)
        page.click("button[data-filter=wrong]")
        assert set(opened.visible_items()) == wrong
        assert page.get_attribute("button[data-filter=wrong]", "aria-pressed") == "true"
        assert page.locator("#item-shown").inner_text() == f"{len(wrong)} of {len(items)} items shown"
        page.click("button[data-filter=disagree]")
        assert set(opened.visible_items()) == disagree
        # search narrows the current filter, case-insensitively, over inputs and answers
        word = "invoice"
        matches = {f"item-{i + 1}" for i, it in enumerate(items)
                   if word in (it["input"] + it["expected"] + "".join(o["text"] for o in it["outputs"].values())).lower()}
        assert matches
        page.fill("#item-search", word.upper())
        assert set(opened.visible_items()) == matches & disagree
        page.click("button[data-filter=all]")
        assert set(opened.visible_items()) == matches
        page.fill("#item-search", "")
        assert len(opened.visible_items()) == len(items)
        opened.assert_clean()
    finally:
        opened.close()


def test_hostile_strings_show_as_text_and_never_run(browser, hostile, tmp_path):
    results, html = hostile
    opened = Opened(browser, html)
    page = opened.page
    try:
        opened.assert_clean()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('script').length") == 1
        assert page.evaluate("document.querySelectorAll('img, iframe, textarea').length") == 0
        assert page.evaluate("document.querySelectorAll('svg').length") == 3
        # shown, literally, where they were put
        assert page.title().startswith(f"ftdecide compare: {HOSTILE['title']}")
        assert page.locator("#verdict .verdict").inner_text() == HOSTILE["script"]
        for i, item in enumerate(results["items"]):
            pres = page.locator(f"#item-{i + 1} pre.t")
            assert pres.nth(0).inner_text() == item["input"]
            assert pres.nth(1).inner_text() == item["expected"]
            assert [pres.nth(2 + k).inner_text() for k in range(5)] == [o["text"] for o in item["outputs"].values()]
        assert page.locator("#item-1 h3 .t").inner_text() == HOSTILE["img"]
        labels = page.eval_on_selector_all("#chart-quality-cost text", "els => els.map(e => e.textContent)")
        assert any(t.startswith("finetuned " + HOSTILE["img"][:10]) for t in labels)  # cut to fit
        assert HOSTILE["img"] in page.locator("#chart-quality-cost desc").text_content()
        config = page.locator("pre.config").inner_text()
        assert HOSTILE["textarea"] in config and "sk-test-SECRET" not in config
        # the filters still work on a page full of markup
        page.fill("#item-search", "</textarea>")
        expected = [f"item-{i + 1}" for i, it in enumerate(results["items"])
                    if "</textarea>" in it["input"] + it["expected"] + "".join(o["text"] for o in it["outputs"].values())
                    or "</textarea>" in it["id"]]
        assert opened.visible_items() == expected
        assert page.evaluate("typeof window.__pwned") == "undefined"
        _screenshot(opened, "report-hostile", tmp_path)
    finally:
        opened.close()


def test_without_javascript_every_item_is_visible(browser, realistic):
    results, html = realistic
    opened = Opened(browser, html, javascript=False)
    try:
        assert len(opened.visible_items()) == len(results["items"])
        assert not opened.page.locator("#item-controls").is_visible()
        assert opened.page.locator("svg.chart").count() == 3
        assert opened.console_errors == [] and opened.page_errors == []
    finally:
        opened.close()


def test_phone_width_and_print(browser, realistic):
    results, html = realistic
    opened = Opened(browser, html, width=390)
    page = opened.page
    try:
        opened.assert_clean()
        # the page itself never scrolls sideways; wide tables and charts scroll in their boxes
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        size = page.eval_on_selector("#verdict .verdict", "e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 18
        page.emulate_media(media="print")
        assert not page.locator("#item-controls").is_visible()
        assert not page.locator("nav.toc").is_visible()
        assert len(opened.visible_items()) == len(results["items"])
    finally:
        opened.close()
