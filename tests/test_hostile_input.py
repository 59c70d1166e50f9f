"""Hostile input: arbitrary questions, hostile document files, and properties of the paragraph splitter.

Questions (hypothesis, arbitrary unicode: empty, whitespace, 100k characters, NUL, lone surrogates,
bidi and tag characters, combining marks, emoji) go through Engine.search and Engine.ask: the only
exception allowed is BadInput, and only for a question that is empty once cleaned; every hit is a
real passage of the index, unique, at most min(k, passages) of them.

Documents: binary bytes named .txt, empty and whitespace-only files, cp1252 and UTF-16 text, a
200 MB sparse file and a 1 MB single line are each ingested correctly or skipped with a reason,
and the other documents still index.

The splitter (text.py + ingest.parse) is pure, so it gets hypothesis properties at >= 1000 examples
each. Figures are printed (run with -s) and recorded in docs/RELIABILITY_concurrency.md.
"""
from __future__ import annotations

import itertools
import os
import re
import string
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag import ingest
from rag import text as T

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

SPLITTER_EXAMPLES = int(os.environ.get("RAG_PROPERTY_EXAMPLES", "1000"))   # raise it for a longer hunt
FAST = settings(max_examples=SPLITTER_EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- the splitter ------------------------------------------------------------------------------------
def words(s: str) -> int:
    """A token count like a model's: words plus the two special tokens."""
    return len(s.split()) + 2


def chars(s: str) -> int:
    """A subword-like count: about four characters a token, so a single long word can exceed a window."""
    return len(s) // 4 + 2


# Pieces of text that exercise every rule of parse: metadata lines, headings, bylines, dated entries,
# page breaks (a paragraph continuing in lower case), emphasis and escapes, invisible characters,
# abbreviations and sentence ends, plus arbitrary unicode.
TOKENS = ["Japan", "Russia", "treaty", "the", "islands", "and", "visit", "Gen.", "U.S.", "Dr.", "Mr.", "(Itar-Tass,",
          "May", "29)", "“quoted", "it.”", "end.", "ok!", "why?", "so:", "etc.", "…", ",", ";", "1999", "$1.1",
          "**bold", "words**", "**", "__", "***", "\\$5", "\\*", "\\", "_x_", "a**b", "#", "##", "# Title",
          "window.__xss=1", "__init__", "(**", "**)", "“**", "**”", "*\u200b*",
          "\u200b", "\ufeff", "\u202e", "\U000e0041", "e\u0301", "👍🏽", "\x00", "\x0c", "\x1c", "\u2028", "\xa0",
          "Aug 16, 1999:", "Sept 2, 1999:", "1999-08-16:", "Title:", "Author:", "By", "Publication:",
          "Volume:", "Issue:", "Copyright", "©", "subscribe", "x" * 60, "\t"]
LINES = ["Publication: Monitor Volume: 3 Issue: 106", "Title: A Title", "Author: Ann Writer", "Date: 1999",
         "Peace Treaty Prospects Remain Dim", "## Notes", "By Janet Snyder", "Janet Snyder",
         "Aug 16, 1999: one thing happened.", "Sept 2, 1999: another thing.", "", "   "]
word = st.one_of(st.sampled_from(TOKENS), st.text(alphabet=string.ascii_letters, min_size=1, max_size=9),
                 st.text(max_size=4))
line = st.one_of(st.lists(word, max_size=14).map(" ".join), st.sampled_from(LINES))
document = st.one_of(
    st.lists(st.tuples(line, st.sampled_from(["\n", "\n", "\n\n", "\n \n", "\n\n\n"])), max_size=16)
    .map(lambda parts: "".join(a + b for a, b in parts)),
    st.text(max_size=300))
limit = st.integers(min_value=3, max_value=40)


def lf_only(doc: str) -> str:
    return T.normalize_newlines(doc)


def parsed(doc: str, count=words, lim: int = 12):
    return ingest.parse("doc.txt", doc, count=count, limit=lim)[1]


def kept_blocks(source: str) -> list[tuple[int, int]]:
    """The blocks parse must keep: all but the leading metadata blocks and the headings."""
    spans = T.blocks(source)
    _, rest = ingest._metadata(source, spans)
    assert rest == spans[len(spans) - len(rest):] and len(spans) - len(rest) <= 2, "metadata is a prefix"
    return [(a, b) for a, b in rest if not T.is_heading(source[a:b])]


@FAST
@given(document, limit)
def test_offsets_slice_the_source_exactly(doc, lim):
    source = T.normalize_newlines(doc)
    passages = parsed(doc, words, lim)
    for p in passages:
        assert T.clean(source[p.start:p.end]) == p.text, p
    for p, q in itertools.pairwise(passages):
        assert p.end <= q.start, (p, q)          # in source order, never overlapping


@FAST
@given(document, limit)
def test_no_empty_passage_and_sentences_inside(doc, lim):
    passages = parsed(doc, words, lim)
    assert len({p.id for p in passages}) == len(passages)
    for p in passages:
        assert p.text and p.text == p.text.strip() and "\ufffd" not in p.text or "\ufffd" in doc
        for a, b in p.sentences:
            assert p.text[a:b] and p.text[a:b].strip() == p.text[a:b]


@FAST
@given(document, limit)
def test_no_text_lost(doc, lim):
    """Every character that cleaning keeps, in every block that is not metadata or a heading, lies
    inside a passage, and each paragraph's pieces join back (by one space) into its cleaned text."""
    source = T.normalize_newlines(doc)
    passages = parsed(doc, words, lim)
    for a, b in kept_blocks(source):
        cleaned, where = T.clean_map(source[a:b])
        for j, ch in enumerate(cleaned):
            if ch != " ":
                pos = a + where[j]
                assert any(p.start <= pos < p.end for p in passages), (source[a:b], pos)
    for para in {p.para for p in passages}:
        parts = [p for p in passages if p.para == para]
        joined = " ".join(p.text for p in parts)
        assert joined == T.clean(source[parts[0].start:parts[-1].end])


@FAST
@given(document, limit, st.sampled_from([words, chars]))
def test_each_passage_within_the_token_limit(doc, lim, count):
    for p in parsed(doc, count, lim):
        assert count(p.text) <= lim or " " not in p.text, (lim, p.text)   # a lone over-long word stays whole


@FAST
@given(document, limit)
def test_deterministic_and_newline_style_invariant(doc, lim):
    lf = lf_only(doc)
    want = parsed(lf, words, lim)
    assert parsed(lf, words, lim) == want
    assert parsed(lf.replace("\n", "\r\n"), words, lim) == want
    assert parsed(lf.replace("\n", "\r"), words, lim) == want
    assert parsed("\ufeff" + lf, words, lim) == want


@pytest.mark.parametrize("source,cleaned", [
    ("Japan: **Moving Ahead**  on\nties", "Japan: Moving Ahead on ties"),
    ("(**note**) and **Japan**’s", "(note) and Japan’s"),
    ("<script>window.__xss=1</script>", "<script>window.__xss=1</script>"),    # not emphasis: kept
    ("2 ** 3 and a**b", "2 ** 3 and a**b"),
    ("\\**a**", "**a"),                     # used to make clean_map disagree with clean (AssertionError)
    ("*\u200b*a**", "**a"),
])
def test_clean_and_clean_map_agree_on_markup(source, cleaned):
    assert T.clean(source) == cleaned
    text, where = T.clean_map(source)
    assert text == cleaned and len(where) == len(text) + 1


def test_splitting_a_long_line_costs_few_token_counts():
    """A 1 MB line of words with no sentence end: the cuts cost O(log n) token counts per piece, not one
    per word (which took about 45 s of tokenizer calls with the real model)."""
    line = " ".join(f"word{i % 97}" for i in range(200_000))[:1_000_000]
    calls = [0]

    def count(s: str) -> int:
        calls[0] += 1
        return words(s)
    t0 = time.perf_counter()
    passages = ingest.parse("long.txt", line + "\n", count=count, limit=256)[1]
    took = time.perf_counter() - t0
    assert len(passages) > 500 and all(words(p.text) <= 256 for p in passages)
    assert " ".join(p.text for p in passages) == line
    assert calls[0] < 40 * len(passages), calls[0]
    print(f"\n1 MB single line: {len(passages)} passages, {calls[0]} token counts "
          f"({calls[0] / len(passages):.0f} per passage), {took:.1f} s")


# -- questions -----------------------------------------------------------------------------------------
HOSTILE = ["", " ", "\t\n\r \u3000", "\x00", "\x00" * 64, "\ud800", "\udfff abc \ud83d", "\u202eevil\u202c",
           "\u200f\u200e\u061c", "\u2066isolate\u2069", "\U000e0001\U000e0041\U000e007f", "e\u0301\u0301\u0301",
           "Z\u0335\u0336\u0337\u0338" * 20, "👨\u200d👩\u200d👧\u200d👦", "🇯🇵🇷🇺", "\ufeff", "\ufffd", "\uffff",
           "\U0010ffff", "?", "*", "**", "\\", "' OR 1=1 --", "<script>alert(1)</script>", "%s%n{0}", "../../etc",
           "Who fled Japan?", "Japan", "Kuril Islands", "How many?", "When", "Monitor, Vol. 5, Issue 107, ¶3"]
any_char = st.one_of(st.characters(), st.characters(categories=["Cs"]),
                     st.characters(categories=["Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp", "Co", "Cn"]),
                     st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),
                     st.characters(min_codepoint=0xE0000, max_codepoint=0xE007F))
question = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=any_char, max_size=8)), max_size=12).map("".join),
    st.text(alphabet=any_char, max_size=60),
    st.text(alphabet=any_char, min_size=1, max_size=12).map(lambda s: (s * (100_000 // len(s) + 1))[:100_000]))
MODES = ("hybrid", "dense", "keyword")


def check_question(engine, q: str, k: int, mode: str, call: str) -> str:
    """Run one question; 'bad' when refused (which must be exactly the empty-once-cleaned ones), else 'ok'."""
    from rag.schema import Answer, BadInput
    snap = engine._snapshot()
    empty = not T.clean(q.encode("utf-8", "ignore").decode("utf-8"))
    try:
        out = engine.search(q, k=k, mode=mode) if call == "search" else engine.ask(q, k=k, mode=mode)
    except BadInput as exc:
        assert empty, f"refused a usable question: {exc}"
        assert "empty question" in str(exc)
        return "bad"
    assert not empty, "an empty question was searched"
    hits = out.hits if isinstance(out, Answer) else out
    ids = [h.passage.id for h in hits]
    assert len(ids) <= min(k, len(snap.passages)) and len(set(ids)) == len(ids), ids
    for rank, h in enumerate(hits, start=1):
        row = snap.by_id[h.passage.id]                       # a real passage id of this index
        assert 0 <= row < len(snap.passages) and snap.passages[row] == h.passage
        assert h.rank == rank and h.score == h.score and abs(h.score) != float("inf")
    if isinstance(out, Answer):
        assert not any(h.passage.boilerplate for h in hits)
        assert {c for s in out.sentences for c in s.citations} <= set(ids)
        assert out.supported == bool(out.sentences) and isinstance(out.answer, str)
        cleaned = T.clean(q.encode("utf-8", "ignore").decode("utf-8"))
        assert ("truncated" in out.notice) == (len(cleaned) > engine.settings.max_question_chars)
    return "ok"


def run_questions(engine, examples: int, max_k: int = 200) -> dict:
    counts = {"examples": 0, "ok": 0, "bad": 0}

    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(question, st.integers(1, max_k), st.sampled_from(MODES), st.sampled_from(["search", "ask"]))
    def prop(q, k, mode, call):
        counts["examples"] += 1
        counts[check_question(engine, q, k, mode, call)] += 1
    prop()
    return counts


@pytest.fixture(scope="module")
def fake_hostile_engine(tmp_path_factory):
    import shutil

    from conftest import FakeEmbedder

    from rag.config import Settings
    from rag.engine import Engine
    where = tmp_path_factory.mktemp("hostile-fake")
    shutil.copytree(SEEDS, where / "docs")
    fake = FakeEmbedder()
    return Engine.open(Settings(docs_dir=where / "docs", index_dir=where / "index", model=fake.name), embedder=fake)


def real_engine_over(tmp, real_index, files: dict[str, str]):
    """The real model (its ONNX export copied from the session index) over a docs folder of `files`."""
    import shutil

    from rag.config import Settings
    from rag.engine import Engine
    (tmp / "docs").mkdir()
    for name, body in files.items():
        (tmp / "docs" / name).write_text(body, encoding="utf-8")
    shutil.copytree(real_index / "onnx", tmp / "index" / "onnx")
    return Engine.open(Settings(docs_dir=tmp / "docs", index_dir=tmp / "index"))


def test_hostile_questions_fake_model_1000(fake_hostile_engine):
    counts = run_questions(fake_hostile_engine, 1000)
    print(f"\nhostile questions, fake model: {counts['examples']} examples ({counts['bad']} refused as empty), "
          "0 failures")


def test_hostile_questions_real_model_300(real_engine):
    counts = run_questions(real_engine, 300)
    print(f"\nhostile questions, real model: {counts['examples']} examples ({counts['bad']} refused as empty), "
          "0 failures")


def test_hostile_questions_one_tiny_document(tmp_path, real_index):
    engine = real_engine_over(tmp_path, real_index, {"tiny.txt": "Tiny note.\n"})
    assert len(engine._snapshot().passages) == 1
    for k in (1, 5, 1000):
        for mode in MODES:
            hits = engine.search("tiny note", k=k, mode=mode)
            assert [h.passage.id for h in hits] == ["tiny:1"]
    counts = run_questions(engine, 200, max_k=5000)
    print(f"\nhostile questions, one tiny document: {counts['examples']} examples, k up to 5000, 0 failures")


def test_only_boilerplate_gives_no_answer_and_no_hits(tmp_path, fake):
    from rag.config import Settings
    from rag.engine import Engine
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "legal.txt").write_text("Copyright 2020 Example Co. All rights reserved.\n")
    engine = Engine.open(Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "ix", model=fake.name),
                         embedder=fake)
    assert engine._snapshot().passages[0].boilerplate
    ans = engine.ask("Who holds the copyright?", k=50)
    assert ans.hits == () and not ans.supported
    assert [h.passage.id for h in engine.search("copyright", k=50)] == ["legal:1"]


@pytest.mark.parametrize("setup,message", [
    (lambda d: d.mkdir(), "no documents to index"),
    (lambda d: None, "does not exist"),
    (lambda d: (d.mkdir(), (d / "x.txt").write_bytes(b"\x00\x01" * 100), (d / "e.md").write_bytes(b"")),
     "no documents to index.*skipped x.txt.*binary"),
])
def test_no_usable_documents_is_a_clear_bad_input(tmp_path, fake, setup, message):
    from rag.config import Settings
    from rag.engine import Engine
    from rag.schema import BadInput
    setup(tmp_path / "docs")
    with pytest.raises(BadInput, match=re.compile(message, re.S)):
        Engine.open(Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "ix", model=fake.name), embedder=fake)


# -- documents -----------------------------------------------------------------------------------------
CP1252 = "“Déjà vu,” said Zoë — the café’s naïve façade cost €5 in 1999."
UTF16 = "Ōsaka’s 東京 office said: ‘ünïcödé survives’ — 50 % of the time."
UTF8_BOM = "The crème brûlée committee met on the Kuril Islands."
LONG_FACT = "zanzibarquux"


def hostile_files(docs) -> dict[str, str]:
    """Write the hostile fixtures into docs/; returns file -> what must happen to it."""
    import codecs
    import random
    rnd = random.Random(5)
    (docs / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rnd.randrange(256) for _ in range(65536)))
    (docs / "ascii-binary.txt").write_bytes(bytes(rnd.randrange(1, 32) for _ in range(512)))
    (docs / "empty.txt").write_bytes(b"")
    (docs / "blank.md").write_bytes(" \n\t\r\n   \r\n\n \u3000\u200b\n".encode("utf-8"))
    (docs / "cp1252.txt").write_bytes(f"Windows Text\n\n{CP1252}\n".encode("cp1252"))
    (docs / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + f"Unicode Text\n\n{UTF16}\r\n".encode("utf-16-le"))
    (docs / "utf16-bad.txt").write_bytes(codecs.BOM_UTF16_LE + b"A\x00\x00\xd8B\x00")   # a lone surrogate
    (docs / "bom.txt").write_bytes(codecs.BOM_UTF8 + f"Dessert Notes\n\n{UTF8_BOM}\n".encode("utf-8"))
    with open(docs / "huge.txt", "wb") as f:
        f.truncate(200 * 1024 * 1024)                       # sparse: instant, takes no disk
    line = " ".join(f"filler{i % 89}" for i in range(150_000))
    line = line[:500_000] + f" {LONG_FACT} " + line[500_000:]
    (docs / "longline.txt").write_text(line[:1_000_000] + "\n", encoding="utf-8")
    return {"binary.txt": "binary", "ascii-binary.txt": "binary", "empty.txt": "no text",
            "blank.md": "no text", "utf16-bad.txt": "invalid UTF-16",
            "huge.txt": r"209,715,200 bytes is over the 20,000,000-byte limit \(RAG_MAX_FILE_BYTES\)",
            "cp1252.txt": CP1252, "utf16.txt": UTF16, "bom.txt": UTF8_BOM, "longline.txt": LONG_FACT}


def test_hostile_documents_are_ingested_or_skipped_with_a_reason(fake_engine, docs):
    expected = hostile_files(docs)
    t0 = time.perf_counter()
    report = fake_engine.build()
    took = time.perf_counter() - t0
    skipped = dict(report.skipped)
    snap = fake_engine._snapshot()
    texts = {d.file: " ".join(p.text for p in snap.passages if p.doc_id == d.doc_id) for d in snap.documents}
    for name, want in expected.items():
        if name in texts:                                   # ingested: the known sentence comes out exact
            assert want in texts[name], name
        else:
            assert re.search(want, skipped[name]), (name, skipped.get(name))
    assert set(skipped) == {n for n in expected if n not in texts}
    seeds = {p.name for p in SEEDS.glob("*.txt")}
    assert set(texts) == seeds | {"cp1252.txt", "utf16.txt", "bom.txt", "longline.txt"}   # the others still index
    assert not any("\ufffd" in p.text for p in snap.passages)              # no replacement characters
    assert max(fake_engine._embedder.count_tokens(p.text) for p in snap.passages) <= 256
    assert fake_engine.search(LONG_FACT, k=1, mode="keyword")[0].passage.doc_id == "longline"
    print(f"\nhostile documents: {len(texts) - 5} of 4 text fixtures ingested exact, {len(skipped)} of 6 refused "
          f"with reasons; seeds still indexed 5/5; U+FFFD 0; build {took:.1f} s; "
          + "; ".join(f"{k}: {v.split(': ', 1)[-1]}" for k, v in sorted(skipped.items())))


def test_real_tokenizer_keeps_long_line_pieces_in_the_window(real_engine):
    emb = real_engine.embedder()
    line = " ".join(f"filler{i % 89} Japan–Russia ties" for i in range(12_000))[:200_000]
    passages = ingest.parse("long.txt", line + "\n", count=emb.count_tokens, limit=emb.max_tokens)[1]
    assert len(passages) > 50
    assert max(emb.count_tokens(p.text) for p in passages) <= emb.max_tokens
    assert " ".join(p.text for p in passages) == line
