from pathlib import Path

import pytest

from rag import cite, ingest

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


@pytest.fixture(scope="module")
def corpus():
    """(documents, doc_id -> its passages in order): what cite.lookup reads."""
    docs, by_doc = [], {}
    for f in sorted(SEEDS.glob("*.txt")):
        d, ps = ingest.parse(f.name, f.read_text(encoding="utf-8"))
        docs.append(d)
        by_doc[d.doc_id] = ps
    return docs, lambda doc_id: by_doc.get(doc_id, [])


@pytest.mark.parametrize("ref, first", [
    ("Monitor, Vol. 5, Issue 107, ¶3", "001_352b1d4192656aa0:3"),
    ("Monitor 5/107 ¶3", "001_352b1d4192656aa0:3"),
    ("monitor vol 5 issue 107 para 3", "001_352b1d4192656aa0:3"),
    ("001_352b1d4192656aa0:3", "001_352b1d4192656aa0:3"),
    ('Snyder, "Japan-Russia Relations…", ¶5', "004_d94f3f66138700a1:5"),
    ("Volume 6 Issue 223", "003_8f2f016433a13dad:1"),
    ("003_8f2f016433a13dad.txt", "003_8f2f016433a13dad:1"),
    ("003_8f2f016433a13dad.txt ¶2", "003_8f2f016433a13dad:2"),
    ("Janet Snyder", "004_d94f3f66138700a1:1"),
    ("Snyder ¶2", "004_d94f3f66138700a1:2"),
])
def test_references_resolve(corpus, ref, first):
    res = cite.lookup(ref, *corpus)
    assert res.found and res.found[0].passage.id == first


def test_context_has_neighbours(corpus):
    res = cite.lookup("Monitor 5/107, ¶3", *corpus)
    c = res.found[0]
    assert c.before.id == "001_352b1d4192656aa0:2" and c.after.id == "001_352b1d4192656aa0:4"
    first = cite.lookup("Monitor 5/107, ¶1", *corpus).found[0]
    assert first.before is None


def test_document_reference_lists_all_its_paragraphs(corpus):
    res = cite.lookup("Monitor 4/134", *corpus)
    assert [c.passage.para for c in res.found] == [1, 2, 3]


def test_unknown_reference_gives_closest_matches(corpus):
    res = cite.lookup("Monitor, Vol. 5, Issue 170, ¶3", *corpus)
    assert not res.found and res.suggestions and "closest" in res.message
    res = cite.lookup("Monitor 5/107 ¶42", *corpus)
    assert not res.found and "no ¶42" in res.message


def test_empty_reference(corpus):
    assert not cite.lookup("   ", *corpus).found
