"""The Streamlit UI: ask the documents, read cited answers beside their sources, look up a citation,
browse the documents. A thin shell over rag.Engine: one engine shared by every session
(get_engine), each session's question history in st.session_state.

Safety: document text, questions and answers are always shown as text. Everything that reaches
st.markdown goes through esc(), no element allows raw HTML, and errors never show a path.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from rag import Answer, BadInput, DocFilter, Document, Engine, Hit, IndexNotBuilt, Passage, RagError, Settings, Upload
from rag import BuildReport
from rag.serve import auth
from rag.serve.auth import is_local
from rag.filters import iso_date
from rag.readers import SUFFIXES
from rag.markup import answer_md, anchor, doc_line, esc, friendly, highlight_md, scrub, spans_in, when

EXAMPLES = ("Who fled Japan?", "How large was the Japanese loan to Russia?",
            "What did Sergeev say about missile defense?", "Which Russian warship visited Yokosuka?")
MODES = {"hybrid": "Hybrid (meaning + keywords)", "dense": "Meaning only", "keyword": "Keywords only"}
READERS = {"extractive": "Quotes from the passages", "llm": "An LLM's words, verified"}
TABS = ("Ask", "Look up a citation", "Browse documents")
STAGES = {"read": "Reading documents", "embed": "Embedding passages",
          "embed sentences": "Embedding sentences", "reuse": "Re-using unchanged documents",
          "write": "Writing the index"}
MAX_HISTORY = 20      # turns kept per session
MAX_FOUND = 30        # passages shown for one citation lookup (an author names a whole document)


def remember(key: str, value) -> None:
    """A widget callback: store a value for the next run (an example question, a suggestion…)."""
    st.session_state[key] = value


@dataclass(frozen=True)
class Query:
    k: int
    mode: str
    docs: tuple[str, ...]    # document ids chosen by the filters (empty: all)
    problem: str = ""        # the filters match no document: say so instead of answering
    reader: str = "extractive"


@dataclass(frozen=True)
class Turn:
    id: int
    question: str
    answer: Answer | None = None
    error: str = ""          # markdown from friendly()


# -- the shared engine -------------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def get_engine(settings: Settings) -> Engine:
    """One engine per configuration, shared by every session (Engine is thread-safe and follows
    newly published index generations by itself). Loading happens in load_ui, with progress."""
    return Engine(settings)


def progress_tick(bar):
    """An Engine progress callback (stage, done, total) drawing on a st.progress bar."""
    def tick(stage: str, done: int, total: int) -> None:
        frac = min(done / total, 1.0) if total else 1.0
        bar.progress(frac, text=f"{STAGES.get(stage, stage.capitalize())}… {done}/{total}")
    return tick


def build_ui(engine: Engine, rebuild: bool) -> bool:
    """Build (or rebuild) the index with a visible progress bar. False when it failed."""
    label = "Rebuilding the index…" if rebuild else "Building the index of your documents (first start only)…"
    return change_ui(label, lambda tick: engine.build(rebuild=rebuild, progress=tick)) is not None


def change_ui(label: str, run):
    """Run a change to the collection (`run(progress)` returns a BuildReport or a Change) inside a
    status box with a progress bar; None when it failed (the reason is shown)."""
    with st.status(label, expanded=True) as box:
        tick = progress_tick(st.progress(0.0, text="Starting…"))
        try:
            out = run(tick)
        except RagError as exc:
            box.update(label="The index could not be updated", state="error")
            st.error(friendly(exc))
            return None
        report = out if isinstance(out, BuildReport) else out.index
        if report is None:
            box.update(label="Nothing new to index", state="complete", expanded=False)
            return out
        if report.notice:
            st.caption(esc(report.notice))
        for name, why in report.skipped:
            st.caption(esc(f"Skipped {name}: {scrub(why)}"))
        box.update(label=f"Index ready: {report.documents} documents, {report.passages} passages "
                         f"({report.seconds:.0f} s)", state="complete", expanded=bool(report.skipped))
    return out


def may_change(engine: Engine) -> bool:
    """Whether this session may add, remove or rebuild. On localhost (the default) it may. When the
    app is shared on a network (server.address not local), the user must give RAG_API_TOKEN."""
    if is_local(str(st.get_option("server.address") or "")):
        return True
    expected = engine.settings.api_token
    if not expected:
        st.caption("Shared on a network: changing documents is off (set RAG_API_TOKEN to allow it).")
        return False
    given = st.text_input("Token to change documents", type="password", key="token",
                          help="The server's RAG_API_TOKEN; needed because this app is shared on a network.")
    ok, _, why = auth.may_change(expected, given)
    if given and not ok:
        st.caption(esc(why))
    return ok


def load_ui(engine: Engine) -> bool:
    """Make the index and the model ready, building the index first when there is none."""
    try:
        engine.status()
    except IndexNotBuilt:
        if not build_ui(engine, rebuild=False):
            return False
    except RagError as exc:
        st.error(friendly(exc))
        return False
    if not st.session_state.get("model_ready"):
        try:
            with st.spinner("Loading the language model…"):
                engine.embedder()
        except RagError as exc:
            st.error(friendly(exc))
            return False
        st.session_state.model_ready = True
    return True


# -- sidebar -------------------------------------------------------------------------------------------
def sidebar_ui(engine: Engine, ready: bool, allowed: bool) -> Query:
    """Search settings, document filter, index status and the Rebuild button."""
    s = engine.settings
    with st.sidebar:
        st.header("Search settings")
        k = st.slider("Passages to show", 1, 20, value=min(s.k, 20), key="k")
        mode = st.radio("Retrieval", list(MODES), format_func=MODES.get, key="mode",
                        index=list(MODES).index(s.mode),
                        help="Hybrid mixes meaning (embeddings) and exact words (BM25); it is the best default.")
        reader = st.radio("Answer", list(READERS), format_func=READERS.get, key="reader",
                          index=list(READERS).index(s.reader),
                          help="Quotes are taken word for word from the passages. An LLM (the server in RAG_LLM_URL) "
                               "answers in its own words, and only sentences verified against the passage they cite "
                               "are shown; the passages are sent to that server.")
        docs, problem = [], ""
        if ready:
            docs, problem = filters_ui(engine)
        st.divider()
        st.header("Index")
        if ready:
            status_ui(engine.status())
        st.button("Rebuild index", icon=":material/refresh:", width="stretch", disabled=not allowed,
                  on_click=remember, args=("rebuild_requested", True),
                  help="Re-read every document and re-embed it. Takes about a minute for a few documents.")
    return Query(k, mode, tuple(docs), problem, reader)


def filters_ui(engine: Engine) -> tuple[list[str], str]:
    """Document, author and date filters -> (chosen document ids, a warning when none match)."""
    documents = [x.document for x in engine.documents()]
    names = {d.doc_id: d.label or d.file for d in documents}
    authors = sorted({d.author for d in documents if d.author})
    years = sorted({iso_date(d.date)[:4] for d in documents if iso_date(d.date)})
    for key, valid in (("docs", names), ("authors", authors)):     # drop choices a rebuild removed
        if key in st.session_state:
            st.session_state[key] = [x for x in st.session_state[key] if x in valid]
    chosen = st.multiselect("Only these documents", list(names), format_func=names.get, key="docs",
                            placeholder="All documents")
    by = st.multiselect("Only these authors", authors, key="authors", placeholder="All authors") if authors else []
    since = until = ""
    if len(years) > 1:
        since, until = st.select_slider("Dated between", years, value=(years[0], years[-1]), key="years")
        if (since, until) == (years[0], years[-1]):
            since = until = ""         # the full range: undated documents stay in
    try:
        return engine.matching(DocFilter(tuple(chosen), tuple(by), since, until)) or [], ""
    except BadInput as exc:
        st.warning(esc(str(exc)), icon=":material/filter_alt_off:")
        return [], "No document matches the filters in the sidebar; widen them to ask."


def status_ui(status) -> None:
    left, right = st.columns(2)
    left.metric("Documents", status.documents)
    right.metric("Passages", status.passages)
    st.caption(f"Model: {esc(status.model)}  \nBuilt: {when(status.built_at)}")


# -- Ask tab -------------------------------------------------------------------------------------------
def ask(engine: Engine, question: str, query: Query) -> str:
    """Answer a question into the session's history; returns a warning for unusable input."""
    if query.problem:
        return query.problem
    history: list[Turn] = st.session_state.setdefault("history", [])
    turn_id = st.session_state.get("turns", 0) + 1
    draft, said = st.empty(), []

    def show(piece: str) -> None:          # the LLM's words as they stream: a draft, not yet verified
        said.append(piece)
        draft.caption("LLM draft, not yet verified: " + esc("".join(said)))
    try:
        ans = engine.ask(question, k=query.k, mode=query.mode, where=DocFilter(query.docs),
                         reader=query.reader, on_text=show)
        turn = Turn(turn_id, ans.question, ans)
    except BadInput as exc:
        return friendly(exc)
    except RagError as exc:
        turn = Turn(turn_id, question, error=friendly(exc))
    draft.empty()
    st.session_state.turns = turn_id
    history.append(turn)
    del history[:-MAX_HISTORY]
    return ""


def ask_ui(engine: Engine, query: Query, typed: str | None) -> None:
    question = typed if typed is not None else st.session_state.pop("example", None)
    warning = ask(engine, question, query) if question is not None else ""
    history: list[Turn] = st.session_state.get("history", [])
    if not history:
        st.markdown("Ask anything about the documents. Each answer sentence is quoted from a paragraph "
                    "and followed by a marker like **\\[1\\]** that points to its source below.")
    examples_ui()
    for turn in history:
        turn_ui(engine, turn, latest=turn is history[-1])
    if warning:
        st.warning(warning, icon=":material/edit:")


def examples_ui() -> None:
    st.caption("Try an example:")
    with st.container(horizontal=True):
        for i, q in enumerate(EXAMPLES):
            st.button(q, key=f"example-{i}", on_click=remember, args=("example", q))


def turn_ui(engine: Engine, turn: Turn, latest: bool) -> None:
    with st.chat_message("user"):
        st.markdown(esc(turn.question))
    with st.chat_message("assistant"):
        if turn.error:
            st.error(turn.error)
            return
        ans = turn.answer
        if ans.supported:
            st.markdown(answer_md(ans, turn.id))
        else:
            st.info(esc(ans.answer), icon=":material/search_off:")
        if ans.reader == "llm":
            st.caption("An LLM's words: each sentence was verified against the passage it cites.")
        for r in ans.rejected:
            st.markdown(f"~~{esc(r.text)}~~ — *not supported by the cited passage* ({esc(r.reason)})")
        if ans.notice:
            st.caption(esc(ans.notice))
        st.caption(f"{MODES.get(ans.mode, ans.mode)} · {len(ans.hits)} passages · {ans.seconds:.2f} s")
        if not ans.hits:
            return
        if latest:
            sources_ui(engine, ans, turn.id)
        else:
            with st.expander("Sources" if ans.supported else "Nearest passages (not an answer)"):
                sources_ui(engine, ans, turn.id)


def sources_ui(engine: Engine, ans: Answer, turn: int) -> None:
    if ans.supported:
        st.markdown("**Sources**, best match first — highlighted text is what the answer quotes")
    else:
        st.markdown("**Nearest passages — these are not an answer**, only the closest paragraphs found")
    for hit in ans.hits:
        source_card_ui(engine, hit, spans_in(hit, ans), engine.document(hit.passage.doc_id), turn)


def source_card_ui(engine: Engine, hit: Hit, spans, doc: Document | None, turn: int) -> None:
    p = hit.passage
    with st.container(border=True):
        st.subheader(esc(f"[{hit.rank}] {p.citation}"), anchor=anchor(turn, hit.rank))
        st.caption(esc(doc_line(doc)) + f" · score {hit.score:.3f}")
        st.markdown(highlight_md(p.text, spans))
        left, right = st.columns([2, 3], vertical_alignment="center")
        show = left.toggle("Paragraphs before and after", key=f"ctx-{turn}-{hit.rank}")
        right.code(f"{p.citation} ({p.id})", language=None, wrap_lines=True)
        if show:
            context_ui(engine, p.id)


def context_ui(engine: Engine, passage_id: str) -> None:
    found = engine.cite(passage_id).found
    if found:
        neighbours_ui(found[0].before, "Before")
        neighbours_ui(found[0].after, "After")


def neighbours_ui(p: Passage | None, where: str) -> None:
    if p is None:
        st.caption(f"{where}: nothing (this is the {'first' if where == 'Before' else 'last'} paragraph)")
    else:
        st.caption(f"{where} — {esc(p.citation)}")
        st.markdown(f"> {esc(p.text)}")


# -- Citation lookup tab ---------------------------------------------------------------------------------
def lookup_ui(engine: Engine) -> None:
    listed = engine.documents()
    first = engine.passages(listed[0].document.doc_id)[0].citation if listed else ""
    st.markdown("Type a citation to read that paragraph in its context.")
    ref = st.text_input("Citation, passage id or author", key="ref", placeholder=first)
    st.caption("For example: " + " · ".join(esc(x) for x in reference_examples(engine, listed)))
    if not ref.strip():
        return
    res = engine.cite(ref)
    if not res.found:
        lookup_missed_ui(res, first)
        return
    shown = res.found[:MAX_FOUND]
    st.caption(f"{len(res.found)} passage{'s' * (len(res.found) != 1)} found"
               + (f"; showing the first {len(shown)}" if len(shown) < len(res.found) else ""))
    for ctx in shown:
        p = ctx.passage
        with st.container(border=True):
            st.subheader(esc(p.citation), anchor=False)
            st.caption(esc(doc_line(engine.document(p.doc_id))))
            if ctx.before:
                st.caption(f"**¶{ctx.before.para}, before:** {esc(ctx.before.text)}")
            st.markdown(highlight_md(p.text, [(0, len(p.text))]))
            if ctx.after:
                st.caption(f"**¶{ctx.after.para}, after:** {esc(ctx.after.text)}")
            st.code(f"{p.citation} ({p.id})", language=None, wrap_lines=True)


def reference_examples(engine: Engine, listed) -> list[str]:
    """The kinds of reference cite() understands, taken from the documents at hand."""
    docs = [x.document for x in listed]
    last = engine.passages(docs[-1].doc_id)[-1] if docs else None
    out = [last.citation, last.id] if last else []
    out += [f"{d.publication} {d.volume}/{d.issue}" for d in docs if d.volume and d.issue][:1]
    out += [d.author.split()[-1] for d in docs if d.author][:1]
    return out


def lookup_missed_ui(res, example: str) -> None:
    """The lookup's message, and its closest matches as buttons that look them up."""
    if not res.suggestions:
        st.warning(f"Nothing matches “{esc(res.ref)}”. Try a label as shown on the source cards, such as "
                   f"{esc(example)}, or see **Browse documents**.")
        return
    st.warning(esc(scrub(res.message)))
    st.caption("Closest matches — click one to look it up:")
    for p in res.suggestions:
        st.button(esc(f"{p.citation} ({p.id})"), key=f"suggest-{p.id}",
                  on_click=remember, args=("ref", p.id), type="tertiary", icon=":material/arrow_forward:")


# -- Documents tab ---------------------------------------------------------------------------------------
def documents_ui(engine: Engine, allowed: bool) -> None:
    add_documents_ui(engine, allowed)
    listed = engine.documents()
    counts = {x.document.doc_id: x.passages for x in listed}
    docs = [x.document for x in listed]
    rows = [{"Cited as": d.label, "Title": d.title, "Author": d.author, "Publication": d.publication,
             "Volume": d.volume, "Issue": d.issue, "Date": d.date, "Pages": d.pages or "",
             "Paragraphs": counts[d.doc_id], "Added as": d.original, "File": d.file} for d in docs]
    used = [c for c in rows[0] if any(r[c] for r in rows)]     # hide columns no document fills
    st.dataframe([{c: r[c] for c in used} for r in rows], hide_index=True, width="stretch")
    names = {d.doc_id: d.label or d.file for d in docs}
    doc_id = st.selectbox("Read a document", list(names), format_func=names.get, key="read_doc")
    if doc_id is None:
        return
    doc = engine.document(doc_id)
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(esc(doc_line(doc)) + (f" · added as {esc(doc.original)}" if doc.original else ""))
    with right.popover("Remove", icon=":material/delete:", width="stretch"):
        st.markdown(f"Remove **{esc(doc.label)}** and its {counts[doc_id]} passages? The file is deleted "
                    "from the documents folder and the index is updated.")
        st.button("Remove this document", type="primary", key=f"remove-{doc_id}", disabled=not allowed,
                  on_click=remember, args=("remove_requested", doc.file))
    section = ""
    for p in engine.passages(doc_id):
        if p.section and p.section != section:
            section = p.section
            st.markdown(f"#### {esc(section)}")
        st.markdown(f"**{esc(p.citation)}** {esc(p.text)}")


def add_documents_ui(engine: Engine, allowed: bool) -> None:
    """Upload files: checked and stored under server-chosen names, then indexed with a progress bar."""
    s = engine.settings
    with st.container(border=True):
        st.markdown("#### :material/upload_file: Add documents")
        st.caption(f"{', '.join(SUFFIXES)} files, up to {s.max_file_bytes / 1e6:g} MB and {s.max_pages} pages "
                   "each. A file with the same name as an earlier upload replaces it; identical files are "
                   "added once. New documents are searchable by everyone as soon as indexing finishes.")
        for line in st.session_state.pop("upload_report", []):
            st.markdown(line)
        n = st.session_state.get("uploads", 0)
        files = st.file_uploader("Files to add", type=[x.lstrip(".") for x in SUFFIXES], accept_multiple_files=True,
                                 key=f"upload-{n}", max_upload_size=max(1, round(s.max_file_bytes / 1e6)))
        if files and st.button("Add and index", type="primary", icon=":material/add:", disabled=not allowed):
            uploads = [Upload(f.name, f.getvalue()) for f in files]   # limits are checked again on the server
            change = change_ui("Adding and indexing…", lambda tick: engine.add(uploads=uploads, progress=tick))
            report = [f"{'✓' if got.file and got.status != 'duplicate' else '✗'} "
                      + esc(f"{got.original}: {got.status}" + (f" — {scrub(got.detail)}" if got.detail else ""))
                      for got in (change.files if change else ())]
            if change is None:
                report.append("✗ The documents could not be added; see the message above.")
            st.session_state.upload_report, st.session_state.uploads = report, n + 1
            st.rerun()


def remove_document(engine: Engine, file: str) -> None:
    change_ui("Removing and re-indexing…", lambda tick: engine.remove([file], progress=tick))


# -- page ------------------------------------------------------------------------------------------------
def main() -> None:
    st.set_page_config(page_title="Ask the documents", page_icon=":material/menu_book:", layout="wide")
    st.title("Ask the documents", anchor=False)
    st.caption("Answers quoted from a curated collection, every sentence cited to the paragraph it "
               "came from — or an honest “The documents don't answer this.”")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        st.error(f"A setting is invalid: {esc(str(exc))}. Fix the RAG_… environment variable and restart.")
        return
    engine = get_engine(settings)
    with st.sidebar:
        allowed = may_change(engine)
    if st.session_state.pop("rebuild_requested", False) and allowed:
        with st.sidebar:
            build_ui(engine, rebuild=True)
    if (removing := st.session_state.pop("remove_requested", None)) and allowed:
        with st.sidebar:
            remove_document(engine, removing)
    ready = load_ui(engine)
    query = sidebar_ui(engine, ready, allowed)
    if not ready:
        return
    ask_tab, cite_tab, docs_tab = st.tabs(TABS, key="tab", on_change="rerun")
    if ask_tab.open is not False:
        typed = st.chat_input("Ask a question about the documents…", key="question",
                              max_chars=settings.max_question_chars)
        with ask_tab:
            ask_ui(engine, query, typed)
    if cite_tab.open is not False:
        with cite_tab:
            lookup_ui(engine)
    if docs_tab.open is not False:
        with docs_tab:
            documents_ui(engine, allowed)


if __name__ == "__main__":
    main()
