"""The Streamlit app (app.py) through streamlit.testing.v1.AppTest, on the real seeds and model.

The app reads RAG_DOCS / RAG_INDEX through Settings.from_env(), so each test points it at an index.
Markdown on the page is escaped text; plain() undoes the escaping before asserting on content.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from llm_server import llm_server  # noqa: F401  (the session fixture: a real llama.cpp server)

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
SEEDS = ROOT / "seeds"
ATTACHE = "003_8f2f016433a13dad:1"
SNYDER = "004_d94f3f66138700a1"


def plain(markdown: str) -> str:
    """The text a reader sees for markdown made by app.esc (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def page_texts(at: AppTest) -> list[str]:
    """Every piece of text on the page: element bodies, widget labels, options, exception traces."""
    out = []
    for node in at:
        for attr in ("value", "label", "body", "message", "placeholder", "help", "options", "stack_trace"):
            try:
                v = getattr(node, attr)
            except Exception:   # not every node type has every attribute, and some raise
                continue
            out += [v] if isinstance(v, str) else [x for x in v if isinstance(x, str)] if isinstance(v, list) else []
    return out


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    for text in page_texts(at):
        for bad in ("Traceback", "site-packages", "/tmp/", "/work/", str(ROOT)):
            assert bad not in text, (bad, text)


def start(monkeypatch, docs: Path, index: Path) -> AppTest:
    monkeypatch.setenv("RAG_DOCS", str(docs))
    monkeypatch.setenv("RAG_INDEX", str(index))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run(timeout=180)
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input(key="question").set_value(question).run()
    return at


def cards(at: AppTest) -> list[str]:
    return [plain(h.value) for h in at.subheader]


@pytest.fixture
def app(monkeypatch, real_index):
    at = start(monkeypatch, SEEDS, real_index)
    assert_clean(at)
    return at


@pytest.fixture
def fresh_cache():
    """Engines are cached per settings for the whole process; tests with their own index start clean."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


# -- pure helpers --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ui():
    from rag import markup
    return markup


@pytest.mark.parametrize("text", ["[x](javascript:alert(1))", "<script>x</script>", "*a* _b_ `c` $x$ :red[d]",
                                  "1998. # no heading", r"back\slash & &amp; | ~ !", "plain words"])
def test_esc_escapes_every_markdown_special(ui, text):
    out = ui.esc(text)
    assert plain(out) == text
    assert not re.search(r"(?<!\\)[\[\]()<>*_`$:#&|~!]", out)


def test_highlight_marks_spans_and_escapes_the_rest(ui):
    md = ui.highlight_md("a <b> c [d] e", [(4, 7), (10, 13)])
    assert md == r"a \<b:orange-background[**\> c**] \[d:orange-background[**\] e**]"


def test_errors_lose_paths_and_command_line_fixes(ui):
    assert ui.scrub("no index in /tmp/x/index/ — run: python -m rag index") == "no index in index/"
    assert ui.scrub("gen-000002/vectors.faiss failed its checksum; run: python -m rag index --rebuild") \
        == "gen-000002/vectors.faiss failed its checksum"
    assert "/srv" not in ui.scrub("cannot write to /srv/data/index/ (Permission denied)")


# -- the page ------------------------------------------------------------------------------------------
def test_first_page_has_title_tabs_examples_and_index_status(app):
    assert app.title[0].value == "Ask the documents"
    assert [t.label for t in app.tabs] == ["Ask", "Look up a citation", "Browse documents"]
    assert "Who fled Japan?" in [b.label for b in app.button]
    metrics = {m.label: m.value for m in app.sidebar.metric}
    assert metrics == {"Documents": "5", "Passages": "46"}
    assert app.chat_input(key="question")


def test_answerable_question_cites_the_attache_paragraph(app):
    ask(app, "Who fled Japan?")
    assert_clean(app)
    answer = app.chat_message[1].markdown[0].value
    assert "fled the country" in plain(answer)
    assert "[\\[1\\]](#src-1-1)" in answer                      # marker [1] links to card 1
    assert cards(app)[0] == "[1] Monitor, Vol. 6, Issue 223, ¶1"
    assert app.subheader[0].proto.anchor == "src-1-1"
    card_text = [plain(m.value) for m in app.markdown if "fled the country" in plain(m.value)]
    assert any(":orange-background[**" in t for t in card_text)   # the quoted sentence is highlighted
    assert f"Monitor, Vol. 6, Issue 223, ¶1 ({ATTACHE})" in [c.value for c in app.code]


def test_example_button_asks_it(app):
    app.button(key="example-3").click().run()
    assert_clean(app)
    assert plain(app.chat_message[0].markdown[0].value) == "Which Russian warship visited Yokosuka?"
    assert cards(app)[0].startswith("[1] Snyder")


def test_unanswerable_question_says_so_and_labels_passages_as_not_an_answer(app):
    ask(app, "What is photosynthesis?")
    assert_clean(app)
    assert [plain(i.value) for i in app.info] == ["The documents don't answer this."]
    assert any("these are not an answer" in m.value for m in app.markdown)
    assert cards(app) and not any("#src-" in m.value for m in app.markdown)


def test_empty_question_warns_without_crashing(app):
    ask(app, "")              # the browser does not send an empty box; nothing may break if it does
    assert_clean(app)
    ask(app, "   \n ")
    assert_clean(app)
    assert "empty question" in plain(app.warning[0].value).lower()
    assert not app.chat_message


def test_follow_up_question_keeps_history(app):
    # Speed is measured by benchmarks/, not asserted here.
    ask(app, "Who fled Japan?")
    ask(app, "How large was the Japanese loan to Russia?")
    assert_clean(app)
    history = app.session_state["history"]
    assert [t.question for t in history] == ["Who fled Japan?", "How large was the Japanese loan to Russia?"]
    assert len(app.chat_message) == 4
    assert app.expander[0].label == "Sources"                     # the older turn's sources fold away


def test_context_toggle_shows_paragraphs_before_and_after(app):
    ask(app, "Who fled Japan?")
    app.toggle(key="ctx-1-1").set_value(True).run()
    assert_clean(app)
    captions = [plain(c.value) for c in app.caption]
    assert any(c.startswith("Before: nothing") for c in captions)          # ¶1 has no paragraph before
    assert any(c.startswith("After — Monitor, Vol. 6, Issue 223, ¶2") for c in captions)


def test_sidebar_filter_k_and_mode(app):
    app.multiselect(key="docs").set_value([SNYDER]).run()
    app.slider(key="k").set_value(3).run()
    app.radio(key="mode").set_value("keyword").run()
    ask(app, "Who fled Japan?")
    assert_clean(app)
    assert len(cards(app)) == 3 and all(c.split("] ", 1)[1].startswith("Snyder") for c in cards(app))
    assert app.session_state["history"][-1].answer.mode == "keyword"


@pytest.mark.parametrize("ref, first, count", [
    ("Monitor, Vol. 5, Issue 107, ¶3", "Monitor, Vol. 5, Issue 107, ¶3", 1),
    ("Monitor 5/107", "Monitor, Vol. 5, Issue 107, ¶1", None),
    (ATTACHE, "Monitor, Vol. 6, Issue 223, ¶1", 1),
    ("Snyder", 'Snyder, "Japan-Russia Relations…", ¶1', None),
])
def test_citation_lookup(app, ref, first, count):
    app.session_state["tab"] = "Look up a citation"
    app.run()
    app.text_input(key="ref").set_value(ref).run()
    assert_clean(app)
    assert cards(app)[0] == first
    assert count is None or len(cards(app)) == count


def test_citation_lookup_miss_offers_closest_matches(app):
    app.session_state["tab"] = "Look up a citation"
    app.run()
    app.text_input(key="ref").set_value("Monitor, Vol. 5, Issue 107, ¶99").run()
    assert_clean(app)
    assert "has no ¶99" in plain(app.warning[0].value)
    app.button(key="suggest-001_352b1d4192656aa0:1").click().run()
    assert cards(app) == ["Monitor, Vol. 5, Issue 107, ¶1"]
    app.text_input(key="ref").set_value("zzzz qqqq").run()
    assert "Nothing matches" in plain(app.warning[0].value)


def test_documents_tab_lists_documents_and_paragraphs_in_order(app):
    app.session_state["tab"] = "Browse documents"
    app.run()
    assert_clean(app)
    table = app.dataframe[0].value
    assert len(table) == 5 and "Monitor, Vol. 6, Issue 223" in list(table["Cited as"])
    app.selectbox(key="read_doc").set_value("003_8f2f016433a13dad").run()
    paragraphs = [plain(m.value) for m in app.markdown if m.value.startswith("**Monitor")]
    assert paragraphs[0].startswith("**Monitor, Vol. 6, Issue 223, ¶1** Moscow and Tokyo")
    assert [int(p.split("¶", 1)[1].split("*")[0]) for p in paragraphs] == list(range(1, len(paragraphs) + 1))


def test_missing_index_is_built_with_progress(monkeypatch, tmp_path, fresh_cache):
    at = start(monkeypatch, SEEDS, tmp_path / "index")
    assert_clean(at)
    assert at.status[0].label.startswith("Index ready: 5 documents, 46 passages")
    assert at.status[0].state == "complete"
    assert ask(at, "Who fled Japan?") and cards(at)[0] == "[1] Monitor, Vol. 6, Issue 223, ¶1"


def test_corrupt_index_shows_a_friendly_error_and_rebuild_fixes_it(monkeypatch, tmp_path, real_index, fresh_cache):
    index = tmp_path / "index"
    shutil.copytree(real_index, index)
    vectors = index / (index / "CURRENT").read_text().strip() / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[100:108] = bytes(b ^ 0xFF for b in data[100:108])
    vectors.write_bytes(bytes(data))
    at = start(monkeypatch, SEEDS, index)
    assert_clean(at)
    assert at.error and "rebuild" in at.error[0].value.lower() and "checksum" in at.error[0].value
    assert not at.tabs and not at.chat_input
    at.sidebar.button[0].click().run(timeout=180)
    assert_clean(at)
    assert not at.error and at.status[0].state == "complete"
    assert cards(ask(at, "Who fled Japan?"))[0] == "[1] Monitor, Vol. 6, Issue 223, ¶1"


def test_app_stays_a_thin_safe_shell():
    import ast
    source = APP.read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"faiss", "sentence_transformers", "torch", "numpy"}
    for unsafe in ("unsafe_allow_html", "components.html", "st.html", "components.v1"):
        assert unsafe not in source
    cached = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
              and any("cache_resource" in ast.unparse(d) for d in n.decorator_list)]
    assert cached == ["get_engine"]


def test_missing_documents_folder_is_a_friendly_error_without_paths(monkeypatch, tmp_path, fresh_cache):
    at = start(monkeypatch, tmp_path / "no-such-folder", tmp_path / "index")
    assert_clean(at)
    assert at.status[0].state == "error"
    assert "no-such-folder/ does not exist" in plain(at.error[0].value)


# -- your own documents --------------------------------------------------------------------------------
@pytest.fixture
def own(monkeypatch, tmp_path, real_index, fresh_cache):
    """The app over a private copy of the seeds plus two added documents with author and date."""
    from pdfmaker import make_pdf

    from rag import library
    from rag.config import Settings
    docs, index = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(SEEDS, docs)
    shutil.copytree(real_index, index)
    s = Settings(docs_dir=docs, index_dir=index)
    library.store_bytes(s, "Report.pdf", make_pdf([["The Quokkavale protocol on kelp surveys was signed."]],
                                                  {"Title": "Kelp Report", "Author": "Omar Reyes",
                                                   "CreationDate": "D:19990304"}), server_name=True)
    library.store_bytes(s, "visit.html", b"<title>Harbour visit</title><meta name=author content='Lena Park'>"
                        b"<meta name=date content=1997-05-02><p>The Zebrafinch destroyer docked for a kelp festival.</p>",
                        server_name=True)
    from rag.engine import Engine
    assert Engine(s).build().new                    # what `rag add` does after storing the files
    at = start(monkeypatch, docs, index)
    assert_clean(at)
    return at, docs


def test_author_and_date_filters_limit_the_passages(own):
    at, _ = own
    assert at.sidebar.multiselect(key="authors").options == ["Janet Snyder", "Lena Park", "Omar Reyes"]
    at.sidebar.multiselect(key="authors").set_value(["Omar Reyes"]).run()
    assert cards(ask(at, "kelp"))[0].startswith('[1] Reyes, "Kelp Report", 1999-03-04, p. 1, ¶1')
    assert all("Reyes" in c for c in cards(at))
    at.sidebar.multiselect(key="authors").set_value([]).run()
    at.sidebar.select_slider(key="years").set_value(("1997", "1997")).run()
    before = len(cards(at))
    latest = cards(ask(at, "kelp"))[before:]
    assert latest and all("Harbour visit" in c for c in latest), latest
    at.sidebar.multiselect(key="authors").set_value(["Omar Reyes"]).run()
    assert "no document matches" in plain(at.sidebar.warning[0].value)
    ask(at, "kelp")
    assert "widen them" in plain(at.warning[0].value)
    assert_clean(at)


def test_documents_can_be_removed_from_the_app(own):
    at, docs = own
    at.session_state["tab"] = "Browse documents"
    at.run()
    table = at.dataframe[0].value
    assert len(table) == 7 and 'Reyes, "Kelp Report", 1999-03-04' in list(table["Cited as"])
    doc_id = next(p.stem for p in docs.glob("upload-*.pdf"))      # the server-chosen name
    at.selectbox(key="read_doc").set_value(doc_id).run()
    at.button(key=f"remove-{doc_id}").click().run(timeout=120)
    assert_clean(at)
    assert len(at.dataframe[0].value) == 6 and not any("Kelp" in o for o in at.selectbox(key="read_doc").options)
    assert not [p for p in docs.iterdir() if p.suffix == ".pdf"]
    at.session_state["tab"] = "Ask"
    at.run()
    assert not any("Kelp" in c for c in cards(ask(at, "Quokkavale protocol kelp")))


def test_the_app_listens_on_this_machine_only_and_refuses_big_uploads_early():
    import tomllib
    from rag.config import Settings
    server = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1"
    assert server["maxUploadSize"] * 2**20 >= Settings().max_file_bytes > (server["maxUploadSize"] - 1) * 2**20


def test_the_llm_reader_in_the_app_shows_verified_sentences_or_falls_back(monkeypatch, real_index, fresh_cache):
    """With the LLM reader chosen and its server unreachable, the extractive answer and a note."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]              # closed once the block ends: nothing listens there
    monkeypatch.setenv("RAG_LLM_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "5")
    at = start(monkeypatch, SEEDS, real_index)
    at.radio(key="reader").set_value("llm").run()
    ask(at, "Who fled Japan?")
    assert_clean(at)
    assert "fled the country" in plain(at.chat_message[1].markdown[0].value)
    assert any("this is the extractive answer" in plain(c.value) for c in at.caption)


def test_the_llm_reader_in_the_app_with_a_real_server(monkeypatch, real_index, fresh_cache, llm_server):
    monkeypatch.setenv("RAG_LLM_URL", llm_server.url)
    monkeypatch.setenv("RAG_LLM_TIMEOUT", "120")
    at = start(monkeypatch, SEEDS, real_index)
    at.radio(key="reader").set_value("llm").run(timeout=180)
    ask(at, "Which Russian warship visited Yokosuka?")
    assert_clean(at)
    captions = [plain(c.value) for c in at.caption]
    assert any("each sentence was verified" in c for c in captions) or \
        any("this is the extractive answer" in c for c in captions)
    struck = [m.value for m in at.markdown if m.value.startswith("~~")]
    assert all("not supported by the cited passage" in m for m in struck)   # rejected ones, apart and struck


def test_a_shared_app_changes_documents_only_with_the_token(monkeypatch, tmp_path, real_index, fresh_cache):
    """Shared on a network (server.address not local): no RAG_API_TOKEN, no changes; with one, the
    user must type it before Rebuild and Remove work. On localhost (the default) nothing is asked."""
    docs, index = tmp_path / "docs", tmp_path / "index"
    shutil.copytree(SEEDS, docs)
    shutil.copytree(real_index, index)
    local = start(monkeypatch, docs, index)
    assert not local.sidebar.button[0].disabled and not local.sidebar.text_input
    monkeypatch.setattr(st, "get_option", lambda key, _real=st.get_option:
                        "0.0.0.0" if key == "server.address" else _real(key))
    at = start(monkeypatch, docs, index)
    assert_clean(at)
    assert at.sidebar.button[0].disabled and not at.sidebar.text_input
    assert any("changing documents is off" in plain(c.value) for c in at.sidebar.caption)
    monkeypatch.setenv("RAG_API_TOKEN", "s3cret-token")
    st.cache_resource.clear()
    at = start(monkeypatch, docs, index)
    assert at.sidebar.button[0].disabled
    at.sidebar.text_input(key="token").set_value("wrong").run()
    assert at.sidebar.button[0].disabled and any("wrong token" in plain(c.value) for c in at.sidebar.caption)
    at.session_state["tab"] = "Browse documents"
    at.sidebar.text_input(key="token").set_value("s3cret-token").run()
    assert not at.sidebar.button[0].disabled
    doc_id = at.selectbox(key="read_doc").value
    assert not at.button(key=f"remove-{doc_id}").disabled
    assert_clean(at)
