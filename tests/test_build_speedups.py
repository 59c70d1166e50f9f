"""The build's faster paths give the same index as the plain ones: batched token counts and cuts planned
from sentence counts (rag.text.pieces) against the one-count-at-a-time splitter, sorted encoding
chunks against one text at a time, and the manifest's per-document counts and progress."""
from __future__ import annotations

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rag import ingest
from rag import text as T


def reference_pieces(text: str, count, limit: int) -> list[tuple[int, int]]:
    """The splitter as it was before cuts were planned from batched counts: every cut found by
    galloping with single counts."""
    if count(text) <= limit:
        return [(0, len(text))]
    units: list[tuple[int, int]] = []
    for a, b in T.split_sentences(text):
        if count(text[a:b]) > limit:
            units.extend(T._pack(text, [(m.start() + a, m.end() + a) for m in re.finditer(r"\S+", text[a:b])],
                                 count, limit=limit))
        else:
            units.append((a, b))
    return T._pack(text, units, count, limit=limit)


def words(s: str) -> int:
    """Adds up over cuts at spaces, like a WordPiece tokenizer's count: the planned cuts are exact."""
    return len(s.split()) + 2


def chars(s: str) -> int:
    """Does not add up (a sum of pieces' counts under- or overestimates): the check must catch it."""
    return len(s) // 4 + 2


def ceil_chars(s: str) -> int:
    """Joined text counts less than the sum of its parts (sums overestimate): the check must catch it too."""
    return -(-len(s.replace(" ", "")) // 4) + 2


class Recorder:
    """A count and its batched form that remember how many texts and characters they were given."""

    def __init__(self, count):
        self.count, self.texts, self.chars, self.calls = count, 0, 0, 0

    def one(self, s: str) -> int:
        return self.many([s])[0]

    def many(self, texts: list[str]) -> list[int]:
        self.calls += 1
        self.texts += len(texts)
        self.chars += sum(map(len, texts))
        return [self.count(t) for t in texts]


SENTENCE = st.lists(st.sampled_from(["alpha", "beta", "Gen.", "U.S.", "x" * 30, "(Tass)", "end.", "Why?", "ok"]),
                    min_size=1, max_size=12).map(" ".join)
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=12).map(lambda ss: " ".join(s[:1].upper() + s[1:] for s in ss))


@settings(max_examples=300, deadline=None)
@given(PARAGRAPH, st.integers(min_value=3, max_value=60), st.sampled_from([words, chars, ceil_chars]))
def test_planned_cuts_are_the_gallop_cuts(text, limit, count):
    rec = Recorder(count)
    want = reference_pieces(text, count, limit)
    assert T.pieces(text, rec.one, limit, counts=rec.many) == want
    assert T.pieces(text, count, limit) == want       # no batched count given
    if count is words:                                # a count that adds up: the plan needs no check
        assert T.pieces(text, count, limit, counts=rec.many, adds_up=True) == want


def test_planning_counts_less_text_in_fewer_calls():
    """For a count that adds up, a long paragraph's cuts cost two counts per piece in one call, not a gallop."""
    text = " ".join(f"Finding number {i} was observed in the cohort again." for i in range(200))
    new, old = Recorder(words), Recorder(words)
    assert T.pieces(text, new.one, 64, counts=new.many) == reference_pieces(text, old.one, 64)
    assert new.calls == 3 and old.calls > 100       # the whole text, its sentences, the check of the cuts
    assert new.chars < 0.7 * old.chars, (new.chars, old.chars)


def test_parse_counts_a_document_in_a_few_calls_with_the_same_passages():
    title = "A Fairly Long Title About Bone Density"
    body = "\n\n".join(" ".join(f"Paragraph {p} states fact {i} plainly." for i in range(3 + 9 * (p % 3)))
                       for p in range(12))
    source = f"Title: {title}\n\n{body}\n"
    rec = Recorder(words)
    for room in ("none", "lead", "all"):
        _, plain = ingest.parse("a.txt", source, count=words, limit=40, title_room=room)
        calls = rec.calls
        _, batched = ingest.parse("a.txt", source, count=rec.one, limit=40, title_room=room, counts=rec.many)
        assert [p.to_json() for p in batched] == [p.to_json() for p in plain]
        split = len({p.para for p in plain if p.part})
        assert split and rec.calls - calls == 1 + 2 * split     # the paragraphs; each split one's sentences, check
        calls, counted = rec.calls, rec.chars
        _, summed = ingest.parse("a.txt", source, count=rec.one, limit=40, title_room=room, counts=rec.many, adds_up=True)
        assert [p.to_json() for p in summed] == [p.to_json() for p in plain]
        assert rec.calls - calls == 1 and rec.chars - counted < len(source)   # each sentence, once


def test_real_tokenizer_plans_the_gallop_cuts(real_engine):
    emb = real_engine.embedder()
    snap = real_engine._snapshot()
    paragraphs = [p.text for p in snap.passages]
    assert emb.counts_add_up
    for limit in (24, 48, 96):
        for text in paragraphs:
            want = reference_pieces(text, emb.count_tokens, limit)
            assert T.pieces(text, emb.count_tokens, limit, counts=emb.count_tokens_batch) == want
            assert T.pieces(text, emb.count_tokens, limit, counts=emb.count_tokens_batch, adds_up=True) == want
    assert emb.count_tokens_batch(paragraphs + [""]) == [emb.count_tokens(t) for t in paragraphs + [""]]


def test_sorted_chunks_keep_each_text_in_its_row(real_engine, monkeypatch):
    """Texts over one chunk are sorted by length before tokenizing: rows still come back in input order."""
    from rag.embed import onnx as onnx_embed
    emb = real_engine.embedder()
    assert emb.backend == "onnx"
    texts = [p.text[:n] for p, n in zip(real_engine._snapshot().passages, [300, 20, 900, 60, 5, 200] * 10)]
    one_by_one = np.vstack([emb.encode_queries([t]) for t in texts])
    monkeypatch.setattr(onnx_embed, "CHUNK", 7)
    calls: list[int] = []
    chunked = emb.encode_passages(texts, calls.append)
    assert chunked.shape == one_by_one.shape and sum(calls) == len(texts)
    assert float((chunked * one_by_one).sum(1).min()) >= 0.99999


def test_manifest_counts_and_progress_per_document(fake_engine, docs):
    (docs / "extra.txt").write_text("Title: Extra\n\nOne more paragraph here. It has two sentences.\n")
    ticks: list[tuple[str, int, int]] = []
    report = fake_engine.build(progress=lambda *t: ticks.append(t))
    snap = fake_engine._snapshot()
    assert report.new == ("extra.txt",) and len(report.unchanged) == 5
    for doc_id, entry in snap.manifest["documents"].items():
        assert entry["passages"] == sum(p.doc_id == doc_id for p in snap.passages) > 0
    last = {stage: (done, total) for stage, done, total in ticks}
    new = [p for p in snap.passages if p.doc_id == "extra"]
    assert last["embed"] == (len(new), len(new))
    assert last["embed sentences"] == (2, 2) == (sum(len(p.sentences) for p in new),) * 2
    assert ticks[0] == ("read", 0, 6) and last["read"] == (6, 6) and last["reuse"] == (5, 5) and ticks[-1] == ("write", 5, 5)
    writes = [done for stage, done, _ in ticks if stage == "write"]
    assert writes == sorted(writes) == list(range(6))   # passages, vectors, sentences, keyword index, publish


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab \n\t\u00a0\u2028\u3000.*_\\\u200b"), max_size=40))
def test_clean_map_a_word_at_a_time_agrees_with_the_character_loop(s):
    text, where = T.clean_map(s)
    assert (text, where) == T._clean_map_chars(s) and text == T.clean(s)


UNITS = st.lists(st.sampled_from(list("aZé\u0301ß.,;!?-'\"()[]#*_$1 \t\n\u00a0\u200b\x00\x1c\u3000中文한ΣσςİI🙂👍🏽\ufb01")
                                 + ["[CLS]", "[MASK]", "##ing", "un", "http://x.org"]),
                 min_size=1, max_size=30).map(lambda cs: T.clean("".join(cs))).filter(bool)


@settings(max_examples=400, deadline=None)
@given(st.lists(UNITS, min_size=2, max_size=5))
def test_real_tokenizer_counts_add_up_at_spaces(real_engine, units):
    """What `counts_add_up` promises for the default model (WordPiece): cut at a space, counts add up."""
    emb = real_engine.embedder()
    whole, *parts = emb.count_tokens_batch([" ".join(units), ""] + units)
    special, parts = parts[0], parts[1:]
    assert whole == sum(parts) - special * (len(units) - 1)


def test_only_known_pipelines_are_trusted_to_add_up(real_engine):
    import json

    from rag.embed.protocol import adds_up
    spec = json.loads(real_engine.embedder()._counter.to_str())
    assert adds_up(spec)
    for key, other in (("pre_tokenizer", {"type": "Metaspace"}), ("model", {"type": "BPE"}),
                       ("normalizer", {"type": "NFKC"}), ("post_processor", None)):
        assert not adds_up({**spec, key: other}), key
    assert not adds_up({**spec, "added_tokens": spec["added_tokens"] + [{"content": "new york"}]})
