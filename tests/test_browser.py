"""End to end: `streamlit run app.py` in a subprocess, driven by a real headless Chromium.

The documents are the seeds plus xss.md, whose paragraphs carry script, img-onerror, svg-onload,
javascript: and data: payloads; the page must show them as literal text and run none of them.
Needs the Debian chromium package (/usr/bin/chromium); never `playwright install`.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from streamlit_server import serve

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update"]
PAYLOADS = ["<script>window.__xss=1</script>", '<img src=x onerror="window.__xss=1">',
            "[click](javascript:window.__xss=1)", "[x](data:text/html,<script>window.__xss=1</script>)",
            '<svg onload="window.__xss=1">']
XSS_DOC = "Zebra pancake security notes\n\nQuinn Tester\n\n" + "\n\n".join(
    f"The zebra pancake test number {i} shows {p} as plain text." for i, p in enumerate(PAYLOADS, 1)) + "\n"

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium); the browser test runs in CI",
                allow_module_level=True)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app on a free port, over the seeds plus xss.md, with a fresh index built on first load."""
    where = tmp_path_factory.mktemp("browser")
    docs = where / "docs"
    shutil.copytree(ROOT / "seeds", docs)
    (docs / "xss.md").write_text(XSS_DOC, encoding="utf-8")
    env = {**os.environ, "RAG_DOCS": str(docs), "RAG_INDEX": str(where / "index")}
    with serve(env, where / "streamlit.log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright
    assert CHROMIUM.exists(), "CI must install chromium: apt-get install -y chromium"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(app_url)
        # the first load builds the index (about 15 s with the real model), then shows the chat box
        pg.locator("[data-testid=stChatInput] textarea").wait_for(timeout=180_000)
        yield pg
        browser.close()


def ask(page, question: str, expect: str) -> None:
    box = page.locator("[data-testid=stChatInput] textarea")
    box.fill(question)
    box.press("Enter")
    page.locator("[data-testid=stChatMessage]").filter(has_text=expect).last.wait_for(timeout=60_000)
    page.wait_for_timeout(500)    # let the script run finish drawing the source cards


def assert_nothing_ran(page) -> None:
    found = page.evaluate("""() => ({
        xss: typeof window.__xss,
        scripts: [...document.querySelectorAll('script')].filter(s => s.textContent.includes('__xss')).length,
        onerror: document.querySelectorAll('img[onerror], [onerror]').length,
        onload: document.querySelectorAll('svg[onload], [onload]').length,
        badLinks: [...document.querySelectorAll('a[href], [src]')].filter(a =>
            /^\\s*(javascript|data|vbscript):/i.test(a.getAttribute('href') || a.getAttribute('src') || '')).length,
        jsLinks: document.querySelectorAll('a[href^="javascript:"]').length,
        dataLinks: document.querySelectorAll('a[href^="data:"]').length,
    })""")
    assert found == {"xss": "undefined", "scripts": 0, "onerror": 0, "onload": 0, "badLinks": 0,
                     "jsLinks": 0, "dataLinks": 0}


def screenshot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport to fit."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height + 200)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / name))
    page.set_viewport_size(size)


def test_question_shows_cited_answer_and_sources(page):
    ask(page, "Who fled Japan?", "fled the country")
    main = page.locator("[data-testid=stMainBlockContainer]")
    assert main.get_by_text("fled the country").count() >= 2          # the answer and its source card
    assert page.get_by_role("heading", name="[1] Monitor, Vol. 6, Issue 223, ¶1").is_visible()
    marker = page.locator("[data-testid=stChatMessage] a[href^='#src-']").first
    assert marker.inner_text() == "[1]"
    assert "Traceback" not in main.inner_text()
    screenshot(page, "ask.png")


def test_hostile_document_text_is_shown_literally_and_runs_nothing(page):
    ask(page, "What does the zebra pancake test show?", "zebra pancake")
    text = page.locator("[data-testid=stMainBlockContainer]").inner_text()
    for payload in PAYLOADS:
        assert payload in text, payload
    assert page.get_by_text("<script>window.__xss=1</script>").first.is_visible()
    assert_nothing_ran(page)
    screenshot(page, "xss.png")


def test_citation_lookup_shows_hostile_document_as_text(page):
    page.get_by_role("tab", name="Look up a citation").click()
    box = page.get_by_label("Citation, passage id or author")
    box.fill("xss")
    box.press("Enter")
    page.get_by_role("heading", name='Tester, "Zebra pancake security notes", ¶5').wait_for(timeout=30_000)
    text = page.locator("[data-testid=stMainBlockContainer]").inner_text()
    for payload in PAYLOADS:
        assert payload in text, payload
    assert_nothing_ran(page)
    screenshot(page, "lookup.png")


def test_documents_tab_shows_hostile_document_as_text(page):
    page.get_by_role("tab", name="Browse documents").click()
    select = page.locator("[data-testid=stSelectbox]")
    select.wait_for(timeout=30_000)
    select.click()
    page.keyboard.type("Zebra")
    page.keyboard.press("Enter")
    page.get_by_text("The zebra pancake test number 5").wait_for(timeout=30_000)
    text = page.locator("[data-testid=stMainBlockContainer]").inner_text()
    for payload in PAYLOADS:
        assert payload in text, payload
    assert_nothing_ran(page)
    screenshot(page, "documents.png")


def test_upload_indexes_documents_for_every_session_and_keeps_names_inert(page, app_url, tmp_path_factory):
    """Upload a two-page PDF and a text file with a hostile name through the real uploader: both are
    stored under server-chosen names, indexed with a progress bar, and answerable in a new session."""
    from pdfmaker import make_pdf
    docs = next(p for p in tmp_path_factory.getbasetemp().glob("browser*/docs"))
    report = make_pdf([["The commission opened its session in Sapporo."],
                       ["On the second day the Quokkavale protocol on kelp surveys was signed."]],
                      {"Title": "Kelp Commission Report", "Author": "Omar Reyes", "CreationDate": "D:19990304"})
    hostile = '<img src=x onerror="window.__xss=1">..%2f..%2fnote.txt'
    page.get_by_role("tab", name="Browse documents").click()
    page.locator("[data-testid=stFileUploaderDropzoneInput]").set_input_files([
        {"name": "Report.pdf", "mimeType": "application/pdf", "buffer": report},
        {"name": hostile, "mimeType": "text/plain", "buffer": b"The Trellisport harbour froze in 1998."}])
    page.get_by_role("button", name="Add and index").click()
    page.get_by_text("Report.pdf: added").wait_for(timeout=120_000)
    page.get_by_text("note.txt: added").wait_for(timeout=5_000)
    assert_nothing_ran(page)
    stored = sorted(p.name for p in docs.iterdir() if p.name.startswith("upload-"))
    assert len(stored) == 2 and all(n.endswith((".pdf", ".txt")) for n in stored), stored
    screenshot(page, "upload.png")
    other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    other.goto(app_url)
    other.locator("[data-testid=stChatInput] textarea").wait_for(timeout=60_000)
    ask(other, "What was signed on the second day?", "Quokkavale protocol")
    assert other.get_by_role("heading", name=re.compile(r'\[1\] Reyes, "Kelp Commission Report", 1999-03-04, '
                                                        r'p\. 2, ¶1')).is_visible()
    other.close()


def test_broken_index_shows_a_friendly_error_without_internals(page, app_url, tmp_path_factory):
    """Publish a corrupt generation under the running server: the page must say what to do and show
    no traceback, absolute path or library internals."""
    root = next(p for p in tmp_path_factory.getbasetemp().glob("browser*/index"))
    live = (root / "CURRENT").read_text().strip()
    broken = root / "gen-999999"
    shutil.copytree(root / live, broken)
    vectors = broken / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 0xFF
    vectors.write_bytes(bytes(data))
    (root / "CURRENT").write_text("gen-999999\n")
    try:
        pg = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(app_url)
        pg.locator("[data-testid=stAlertContentError]").first.wait_for(timeout=60_000)
        text = pg.locator("body").inner_text()
        assert "Rebuild index" in text
        for leak in ("Traceback", "site-packages", "/tmp/", "/work/", "/root/", '.py", line'):
            assert leak not in text, leak
        pg.close()
    finally:
        (root / "CURRENT").write_text(live + "\n")
        shutil.rmtree(broken, ignore_errors=True)
