"""Review mode in the compare report, driven in a real headless Chromium, offline.

A small real run (the openai SDK over HTTP to the local test server, a real
run store) writes ``report.html``; the test opens it from disk, marks items
on both scales, reloads (the marks come back from localStorage), downloads the
``human_labels`` file, reads it back with the loader a run uses, and feeds it to a
judged re-run. Chromium
is launched as in ``test_report_browser.py`` and the tests skip without it.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from test_report_browser import CHROMIUM, FLAGS, Opened

from ftdecide.cli.main import cli
from ftdecide.compare._agreement import load_labels
from ftdecide.plugins import Registry, set_registry
from ftdecide.report._html import write_report
from ftdecide.testing import OpenAICompatibleServer

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary found (apt-get install -y chromium, or set FTDECIDE_CHROMIUM)")

N_EVAL = 6
# A comment a person might type: quotes, a comma, a line break in the middle, markup.
COMMENT = 'Too stiff, says "per our policy";\nnot our voice <b>at all</b>'


TOPICS = ["invoice", "password", "export", "refund", "webhook", "seat", "timesheet", "calendar", "report",
          "quote", "receipt", "backup", "domain", "upgrade"]


def _example(i: int) -> dict:
    topic, other = TOPICS[i % len(TOPICS)], TOPICS[(i * 5 + 3) % len(TOPICS)]
    return {"messages": [
        {"role": "system", "content": "Rewrite the reply in the Northwind voice."},
        {"role": "user", "content": f"Draft {i}: Your {topic} request concerning the {other} has been "
                                    "processed. <i>Regards</i>."},
        {"role": "assistant", "content": f"Good news: we have sorted out your {topic} for you."}]}


def _reply(request: dict) -> str:
    user = [m["content"] for m in request["messages"] if m["role"] == "user"][-1]
    return "We have sorted that out: " + user.split(":", 1)[0].lower() + " is done."


@pytest.fixture(scope="module")
def run_report(tmp_path_factory):
    """A finished compare run's report folder and results, from the local server."""
    folder = tmp_path_factory.mktemp("review-run")
    (folder / "train.jsonl").write_text("".join(json.dumps(_example(i)) + "\n" for i in range(7)))
    (folder / "eval.jsonl").write_text("".join(json.dumps(_example(i)) + "\n" for i in range(7, 7 + N_EVAL)))
    mp = pytest.MonkeyPatch()
    previous = set_registry(None)
    try:
        with OpenAICompatibleServer(responder=_reply) as server:
            mp.setenv("OPENAI_BASE_URL", server.base_url)
            mp.setenv("OPENAI_API_KEY", "sk-test-review")
            mp.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
            for var in ("FTDECIDE_CONFIG_DIR", "FTDECIDE_DATA_DIR", "FTDECIDE_CACHE_DIR"):
                mp.setenv(var, str(folder / var.lower()))
            set_registry(Registry())
            result = CliRunner().invoke(cli, [
                "compare", "--train", str(folder / "train.jsonl"), "--eval", str(folder / "eval.jsonl"),
                "--model", "openai/gpt-4o-mini-2024-07-18", "--arms", "zeroshot,fewshot", "--shots", "2",
                "--metric", "f1", "--out", str(folder / "reports"), "--json"], catch_exceptions=False)
            assert result.exit_code == 0, result.output
    finally:
        set_registry(previous)
        mp.undo()
    data = json.loads(result.stdout)
    reports = [p for p in (folder / "reports").rglob("report.html")]
    assert len(reports) == 1
    html = reports[0]
    results = json.loads((html.parent / "results.json").read_text(encoding="utf-8"))
    assert results["run_id"] == data["run_id"]
    return html, results


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=FLAGS, viewport={"width": 1280, "height": 2000}, service_workers="block",
            accept_downloads=True)
        yield context
        context.close()


def _ids(html) -> list[str]:
    rows = list(csv.DictReader(io.StringIO((html.parent / "items.csv").read_text(encoding="utf-8"))))
    return [r["id"] for r in rows]


def load_human_labels(path, scale: str = "pass-fail") -> dict:
    """(item id, arm or None) -> label, read by the loader a run reads ``human_labels`` with."""
    return {(label.item, label.arm): label.value for label in load_labels(str(path), scale)}


def _form(page, n: int):
    return page.locator(f"#item-{n} .review")


def test_mark_reload_download_and_read_back(browser, run_report, tmp_path):
    html, results = run_report
    run_id = results["run_id"]
    ids = _ids(html)
    assert len(ids) == N_EVAL
    opened = Opened(browser, html)
    page = opened.page
    try:
        opened.assert_clean()
        # the run has no judge: the report says so, with the lines that add one
        judge = page.locator("#judge").inner_text()
        assert "No judge configured" in judge and "human_labels: human_labels-" + run_id + ".csv" in judge
        assert "judge:" in judge and "scale: 5" in judge
        # the bar is there, review mode is off, nothing is marked yet, and no run judge: pass/fail
        assert page.locator("#review").is_visible()
        assert page.get_attribute("#review-toggle", "aria-pressed") == "false"
        assert page.locator(".review").count() == 0
        assert page.locator("#review-count").inner_text() == f"0 of {N_EVAL} items marked"
        assert page.is_disabled("#review-download")
        assert page.input_value("#review-scale") == "pass-fail"
        assert f"human_labels: human_labels-{run_id}.csv" in page.locator(".review-note").inner_text()

        page.click("#review-toggle")
        assert _form(page, 1).is_visible() and page.locator(".review").count() == N_EVAL
        # the marks are on the baseline's answers, and the page says so
        assert page.input_value("#review-arm") == "fewshot"
        assert _form(page, 1).locator(".rv-title").inner_text().lower() == "your mark for the few-shot answer"
        assert page.locator("#item-1 li.out.rv-target").get_attribute("data-arm") == "fewshot"
        _form(page, 1).locator("button[data-label=pass]").click()
        _form(page, 2).locator("button[data-label=fail]").click()
        _form(page, 2).locator("input").fill(COMMENT.replace("\n", " "))  # a text input has one line
        _form(page, 4).locator("button[data-label=fail]").click()
        _form(page, 4).locator("button[data-label=pass]").click()  # changed mind
        _form(page, 5).locator("button[data-label=fail]").click()
        _form(page, 5).locator("button[data-label=fail]").click()  # a second click takes it back
        _form(page, 6).locator("input").fill("comment only")
        assert page.locator("#review-count").inner_text() == (
            f"3 of {N_EVAL} items marked · 1 comments without a mark (not downloaded)")
        assert page.is_disabled("#review-scale")  # marks exist: no switching scales under them

        page.reload(wait_until="load")
        # the marks and review mode came back from localStorage
        assert page.get_attribute("#review-toggle", "aria-pressed") == "true"
        assert page.locator("#review-count").inner_text().startswith(f"3 of {N_EVAL} items marked")
        assert _form(page, 1).locator("button[data-label=pass]").get_attribute("aria-pressed") == "true"
        assert _form(page, 2).locator("button[data-label=fail]").get_attribute("aria-pressed") == "true"
        assert _form(page, 2).locator("input").input_value() == COMMENT.replace("\n", " ")
        assert _form(page, 4).locator("button[data-label=pass]").get_attribute("aria-pressed") == "true"
        assert _form(page, 5).locator("button[aria-pressed=true]").count() == 0
        assert _form(page, 6).locator("input").input_value() == "comment only"
        stored = json.loads(page.evaluate(f"localStorage.getItem({json.dumps('ftdecide-review:' + run_id)})"))
        assert stored["scale"] == "pass-fail" and len(stored["marks"]) == 4

        # a comment with a line break (a one-line input cannot take one, an older page or another
        # tool writing the same storage can): put it in the store, reload, and the CSV must quote it
        key = json.dumps("ftdecide-review:" + run_id)
        page.evaluate(f"""text => {{ const s = JSON.parse(localStorage.getItem({key}));
                          s.marks.find(m => m.id === {json.dumps(ids[1])}).comment = text;
                          localStorage.setItem({key}, JSON.stringify(s)); }}""", COMMENT)
        page.reload(wait_until="load")

        with page.expect_download() as info:
            page.click("#review-download")
        download = info.value
        assert download.suggested_filename == f"human_labels-{run_id}.csv"
        path = tmp_path / download.suggested_filename
        download.save_as(str(path))
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        assert text.startswith("id,label,comment\r\n")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows == [["id", "label", "comment"], [ids[0], "pass", ""], [ids[1], "fail", COMMENT],
                        [ids[3], "pass", ""]]
        assert '"Too stiff, says ""per our policy"";\nnot our voice <b>at all</b>"' in text
        # ... and it is a human_labels file a run reads, keyed by the ids in items.csv
        # (a row without an arm is a mark on the baseline's answer)
        assert load_human_labels(path) == {(ids[0], None): 1, (ids[1], None): 0, (ids[3], None): 1}
        assert page.locator("#review-status").inner_text() == f"Downloaded human_labels-{run_id}.csv with 3 marks."
        assert opened.console_errors == [] and opened.page_errors == [] and opened.dialogs == []
        assert all(u == opened.url or u.startswith("blob:") for u in opened.requests)  # offline

        # marks on another arm's answers: the file gets an arm column on every row
        page.select_option("#review-arm", "zeroshot")
        assert _form(page, 1).locator("button[aria-pressed=true]").count() == 0  # not the baseline's marks
        assert page.locator("#item-1 li.out.rv-target").get_attribute("data-arm") == "zeroshot"
        _form(page, 1).locator("button[data-label=fail]").click()
        assert page.locator("#review-count").inner_text().startswith(f"1 of {N_EVAL} items marked · 4 marks on all arms")
        with page.expect_download() as info:
            page.click("#review-download")
        info.value.save_as(str(tmp_path / "arms.csv"))
        rows = list(csv.reader(io.StringIO((tmp_path / "arms.csv").read_text(encoding="utf-8"), newline="")))
        assert rows[0] == ["id", "arm", "label", "comment"]
        assert rows[1:3] == [[ids[0], "zeroshot", "fail", ""], [ids[0], "fewshot", "pass", ""]]
        assert load_human_labels(tmp_path / "arms.csv") == {
            (ids[0], "zeroshot"): 0, (ids[0], "fewshot"): 1, (ids[1], "fewshot"): 0, (ids[3], "fewshot"): 1}
        page.reload(wait_until="load")
        assert page.input_value("#review-arm") == "zeroshot"  # the choice survives a reload too
        page.select_option("#review-arm", "fewshot")

        # clearing takes two clicks, then the scale can change to 1-5
        page.click("#review-clear")
        assert page.locator("#review-count").inner_text().startswith("3 of")
        assert page.inner_text("#review-clear") == "Click again to clear 5 marks"
        page.click("#review-clear")
        assert page.locator("#review-count").inner_text() == f"0 of {N_EVAL} items marked"
        page.select_option("#review-scale", "5")
        assert _form(page, 1).locator("button[data-label]").all_inner_texts() == ["1", "2", "3", "4", "5"]
        _form(page, 3).locator("button[data-label='4']").click()
        page.reload(wait_until="load")
        assert page.input_value("#review-scale") == "5"
        assert _form(page, 3).locator("button[data-label='4']").get_attribute("aria-pressed") == "true"
        with page.expect_download() as info:
            page.click("#review-download")
        info.value.save_as(str(tmp_path / "five.csv"))
        assert load_human_labels(tmp_path / "five.csv", "5") == {(ids[2], None): 4}
    finally:
        opened.close()


def test_judge_scale_is_the_default_and_marks_are_kept_per_run(browser, run_report, tmp_path):
    _, results = run_report
    judged = dict(results, run_id="cmp-20261205-judged",
                  judge={"model": "openai/gpt-4.1-mini-2025-04-14", "scale": 5,
                         "agreement": {"n": 0}, "unparseable": 0, "evaluation_cost_usd": 0.0123})
    html = write_report(judged, tmp_path / "judged").html
    opened = Opened(browser, html)
    page = opened.page
    try:
        opened.assert_clean()
        assert page.input_value("#review-scale") == "5"
        assert page.locator("#review-count").inner_text().startswith("0 of")  # not the other run's marks
        judge = page.locator("#judge").inner_text()
        assert "No judge configured" not in judge and "openai/gpt-4.1-mini-2025-04-14" in judge
        assert "not calibrated" in judge
    finally:
        opened.close()


def test_hostile_ids_and_comments_stay_text(browser, run_report, tmp_path):
    _, results = run_report
    evil = '"><img src=x onerror="window.__pwned=1">'
    items = [dict(it, id=evil + str(i)) for i, it in enumerate(results["items"])]
    arms = {k: dict(a, label=evil + " a very long arm label " * 4) for k, a in results["arms"].items()}
    html = write_report(dict(results, run_id="cmp-20261205-hostile", items=items, arms=arms),
                        tmp_path / "hostile").html
    opened = Opened(browser, html, width=390)
    page = opened.page
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # long labels fit a phone
        page.click("#review-toggle")
        _form(page, 1).locator("button[data-label=pass]").click()
        _form(page, 1).locator("input").fill("<script>window.__pwned=2</script>")
        page.reload(wait_until="load")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('img, #item-list script').length") == 0
        assert _form(page, 1).get_attribute("aria-label") == "your mark for item " + evil + "0"
        assert _form(page, 1).locator(".rv-title").inner_text().lower().startswith("your mark for the " + evil.lower())
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        with page.expect_download() as info:
            page.click("#review-download")
        info.value.save_as(str(tmp_path / "h.csv"))
        assert load_human_labels(tmp_path / "h.csv") == {(evil + "0", None): 1}
        assert opened.page_errors == [] and opened.console_errors == []
    finally:
        opened.close()


def _judge_or_task(request: dict) -> str:
    """The task's rewrite, or, for a grading prompt, PASS on even drafts and FAIL on odd ones."""
    system = request["messages"][0]["content"] if request["messages"] else ""
    if system.startswith("You grade one answer"):
        number = int(re.search(r"Draft (\d+):", request["messages"][-1]["content"]).group(1))
        return "PASS" if number % 2 == 0 else "FAIL"
    return _reply(request)


def test_the_downloaded_file_calibrates_the_next_runs_judge(browser, run_report, tmp_path):
    """Mark in the browser, download, re-run with ``human_labels:``: the judge's agreement is counted
    on exactly the marked answers."""
    html, results = run_report
    ids = _ids(html)
    opened = Opened(browser, html)
    page = opened.page
    try:
        page.evaluate("localStorage.clear()")
        page.reload(wait_until="load")
        if page.get_attribute("#review-toggle", "aria-pressed") == "false":
            page.click("#review-toggle")
        for n in range(1, N_EVAL + 1):  # the person passes every baseline answer
            _form(page, n).locator("button[data-label=pass]").click()
        with page.expect_download() as info:
            page.click("#review-download")
        labels = tmp_path / info.value.suggested_filename
        info.value.save_as(str(labels))
    finally:
        opened.close()
    folder = html.parents[2]  # the run's task folder: train.jsonl, eval.jsonl, reports/RUN/report.html
    config = tmp_path / "compare.yaml"
    config.write_text("\n".join([
        f"train: {folder / 'train.jsonl'}", f"eval: {folder / 'eval.jsonl'}",
        "model: openai/gpt-4o-mini-2024-07-18", "arms: [zeroshot, fewshot]", "shots: 2",
        f"out: {tmp_path / 'reports'}", "metric: judge",
        "judge: {model: openai/gpt-4o-mini-2024-07-18, scale: pass-fail, rubric: \"in the voice\"}",
        f"human_labels: {labels.name}"]) + "\n")
    mp = pytest.MonkeyPatch()
    previous = set_registry(None)
    try:
        with OpenAICompatibleServer(responder=_judge_or_task) as server:
            mp.setenv("OPENAI_BASE_URL", server.base_url)
            mp.setenv("OPENAI_API_KEY", "sk-test-review")
            mp.setenv("FTDECIDE_LOAD_PLUGINS", "openai")
            set_registry(Registry())
            result = CliRunner().invoke(cli, ["compare", "-c", str(config), "--json"], catch_exceptions=False)
    finally:
        set_registry(previous)
        mp.undo()
    assert result.exit_code == 0, result.output
    judge = json.loads(result.stdout)["judge"]
    drafts = [int(re.search(r"Draft (\d+):", it["input"]).group(1)) for it in results["items"]]
    assert [it["id"] for it in results["items"]] == ids
    assert judge["agreement"]["n"] == N_EVAL  # every marked answer matched an item of the run
    assert judge["agreement"]["percent"] == pytest.approx(sum(d % 2 == 0 for d in drafts) / N_EVAL)
