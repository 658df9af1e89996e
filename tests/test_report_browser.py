"""report.html in a real browser (headless Chromium, network off): every figure decodes, the
tables are there, a click on a column header sorts, and the console stays clean.

Needs Debian's `chromium` (which .ci/run installs) and Playwright for Python (the `test` extra),
pointed at that browser: no browser is downloaded.
"""

from __future__ import annotations

import shutil

import pytest

from cnnsweep.report import compare
from tests.runfolders import base_config, make_run

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# As root (CI) Chromium needs --no-sandbox; the rest keeps it off the closed network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]'")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def report(tmp_path):
    folder = tmp_path / "sweep"
    for opt, acc in (("sgd", 0.6), ("adam", 0.95), ("momentum", 0.9)):
        for fn in (16, 30):
            make_run(folder, [f"optimizer={opt}", f"conv.filter_num={fn}"],
                     base_config(optimizer={"name": opt}, conv={"filter_num": fn}),
                     test_acc=acc - fn / 1000, filters=(opt, fn) == ("adam", 16))
    return compare([folder])


def column(page, table: int, header: str) -> list[str]:
    return page.evaluate(
        """([t, h]) => {
             const table = document.querySelectorAll("table.sortable")[t];
             const i = [...table.tHead.rows[0].cells].findIndex(c => c.textContent.trim() === h);
             return [...table.tBodies[0].rows].map(r => r.cells[i].textContent.trim());
           }""", [table, header])


def test_report_html_renders_offline_with_figures_tables_and_sorting(browser, report):
    context = browser.new_context(offline=True)
    requests, problems = [], []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.abort())
                  if not route.request.url.startswith(("file:", "data:")) else route.continue_())
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning")
            else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")

    # A figure decodes whole when its last row is drawn: Chromium shows a truncated PNG's top
    # rows (naturalWidth and decode() succeed) and leaves the rest transparent.
    images = page.evaluate("""async () => Promise.all([...document.images].map(async e => {
        try { await e.decode(); } catch (err) { return [e.alt, 0, false]; }
        const canvas = document.createElement("canvas");
        canvas.width = e.naturalWidth; canvas.height = e.naturalHeight;
        const g = canvas.getContext("2d");
        g.drawImage(e, 0, 0);
        const last = g.getImageData(0, e.naturalHeight - 1, e.naturalWidth, 1).data;
        const opaque = last.filter((v, i) => i % 4 === 3 && v === 255).length;
        return [e.alt, e.naturalWidth, opaque === e.naturalWidth];
    }))""")
    assert [alt for alt, _, _ in images] == ["loss", "accuracy", "metric", "main_effects",
                                             "filters"]
    assert all(width > 0 and decoded for _, width, decoded in images), images
    assert page.locator("table.sortable").count() == 2
    assert page.locator("h2", has_text="Settings by test_acc").count() == 1

    runs = column(page, 1, "run")
    assert len(runs) == 6
    page.locator("table.sortable").nth(1).locator("th", has_text="test_acc").first.click()
    ascending = [float(v) for v in column(page, 1, "test_acc")]
    assert ascending == sorted(ascending) and ascending != sorted(ascending, reverse=True)
    page.locator("table.sortable").nth(1).locator("th", has_text="test_acc").first.click()
    assert [float(v) for v in column(page, 1, "test_acc")] == sorted(ascending, reverse=True)
    page.locator("table.sortable").nth(1).locator("th", has_text="run").first.click()
    assert column(page, 1, "run") == sorted(runs)

    assert problems == [] and requests == []
    context.close()
