"""The engine served from each store, the local generations and Qdrant (local mode, the CI twin of a
server): the same suite runs against both (search, ask, cite, filters, incremental add and remove,
refusal of a mismatched index, readers during rebuilds), and the two must rank and answer alike, on
the seeds with the real model and on a few thousand SciFact passages."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import traceback
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SEEDS

from rag import beir
from rag.cli import main
from rag.config import Settings
from rag.engine import Engine
from rag.schema import BadInput, DocFilter, IndexMismatch, IndexNotBuilt, RagError
from rag.store import choose as stores

STORES = ("local", "qdrant")
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
DEV = [json.loads(line) for line in (ROOT / "tests" / "data" / "dev_qa.jsonl").read_text().splitlines() if line]


def on(kind: str, settings: Settings, where: Path, *, memory: bool = False) -> Settings:
    """`settings` served from `kind`: the index folder stays the build's staging area. Qdrant local mode
    keeps its points in a folder (a commit per point: 12 ms each here), or in memory when `memory`
    (one store per process: each test then has its own collection)."""
    if kind == "local":
        return settings
    return settings.with_(store=f"qdrant+local::memory:/rag_{where.name}" if memory else
                          f"qdrant+local:{where}/qdrant/rag")


@pytest.fixture(scope="session")
def seeded(real_engine, tmp_path_factory):
    """The seeds with the real model in both stores (Qdrant published from a copy of the local index:
    nothing is embedded twice)."""
    where = tmp_path_factory.mktemp("qdrant-seeds")
    shutil.copytree(real_engine.settings.index_dir, where / "index")
    q = Engine(on("qdrant", real_engine.settings.with_(index_dir=where / "index"), where),
               embedder=real_engine.embedder())
    q.build()
    return {"local": real_engine, "qdrant": q}


@pytest.fixture(params=STORES)
def seed_engine(request, seeded):
    return seeded[request.param]


@pytest.fixture(params=STORES)
def kind(request):
    return request.param


def test_search_ask_and_cite(seed_engine):
    hits = seed_engine.search("Who fled Japan?", k=5)
    top = hits[0].passage
    assert "fled" in top.text and top.doc_id == "003_8f2f016433a13dad"
    ans = seed_engine.ask("Who fled Japan?")
    assert ans.supported and any("fled" in s.text for s in ans.sentences)
    assert ans.generation == seed_engine.status().generation
    found = seed_engine.cite(top.citation).found
    assert [c.passage.id for c in found] == [top.id] and found[0].after is not None


def test_documents_and_passages(seed_engine, seeded):
    listed, status = seed_engine.documents(), seed_engine.status()
    assert len(listed) == status.documents == 5 and sum(x.passages for x in listed) == status.passages == 46
    local = seeded["local"]
    for x in listed:
        assert seed_engine.passages(x.document.doc_id) == local.passages(x.document.doc_id)
        assert seed_engine.document(x.document.doc_id) == x.document
    assert seed_engine.passages("no-such-doc") == [] and seed_engine.document("no-such-doc") is None


def test_filters_and_boilerplate(seed_engine):
    doc = seed_engine.documents()[1].document
    hits = seed_engine.search("Japan Russia treaty", k=20, where=DocFilter(documents=(doc.doc_id,)))
    assert hits and {h.passage.doc_id for h in hits} == {doc.doc_id}
    r = seed_engine.retrieve("Jamestown Foundation subscribing e-mail", k=46, mode="keyword")
    assert r.hits and not any(h.passage.boilerplate for h in r.hits)       # answers never draw on boilerplate
    assert any(h.passage.boilerplate for h in seed_engine.search("Jamestown Foundation subscribing", k=46))
    with pytest.raises(BadInput, match="no document matches"):
        seed_engine.search("Japan", where=DocFilter(authors=("Nobody At All",)))


def test_a_reader_with_another_model_is_refused(seed_engine):
    other = seed_engine.settings.with_(model="other-model")
    with pytest.raises(IndexMismatch, match="other-model") as err:
        Engine(other)._snapshot()
    assert seed_engine.settings.model in str(err.value) and "--rebuild" in str(err.value)


def test_qdrant_ranks_and_answers_as_the_local_store(seeded):
    local, q = seeded["local"], seeded["qdrant"]
    for item in DEV:
        for mode in ("hybrid", "dense", "keyword"):
            a, b = local.search(item["question"], k=10, mode=mode), q.search(item["question"], k=10, mode=mode)
            assert [h.passage.id for h in a] == [h.passage.id for h in b], (item["id"], mode)
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5, atol=1e-6)
            if mode == "hybrid":
                lex = [h.lexical for h in a if h.lexical is not None]
                np.testing.assert_allclose(lex, [h.lexical for h in b if h.lexical is not None], rtol=1e-5)
        x, y = local.ask(item["question"]), q.ask(item["question"])
        assert (x.answer, x.supported) == (y.answer, y.supported), item["id"]
        assert [s.citations for s in x.sentences] == [s.citations for s in y.sentences], item["id"]


def test_rag_ask_cites_the_same_from_both_stores(seeded, tmp_path, capsys):
    questions = [d["question"] for d in DEV[:12]]
    (tmp_path / "q.txt").write_text("\n".join(questions) + "\n")
    out = {}
    for kind, engine in seeded.items():
        s = engine.settings
        assert main(["ask", "--batch", str(tmp_path / "q.txt"), "--json", "--docs", str(s.docs_dir),
                     "--index", str(s.index_dir), "--store", s.store]) == 0
        out[kind] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out["local"]) == len(questions) and sum(a["supported"] for a in out["local"]) >= 6
    for a, b in zip(out["local"], out["qdrant"]):
        assert (a["answer"], [s["citations"] for s in a["sentences"]]) == \
            (b["answer"], [s["citations"] for s in b["sentences"]])


def test_the_local_query_path_imports_no_qdrant(real_index):
    code = ("import sys; from pathlib import Path; from rag.config import Settings; from rag.engine import Engine\n"
            f"e = Engine.open(Settings(docs_dir=Path({str(SEEDS)!r}), index_dir=Path({str(real_index)!r})), "
            "build_if_missing=False)\n"
            "e.search('Who fled Japan?'); e.ask('Who fled Japan?'); e.cite('003_8f2f016433a13dad:2')\n"
            "print(sorted(m for m in sys.modules if m.startswith(('qdrant_client', 'rag.store.qdrant'))))")
    got = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert got.returncode == 0, got.stderr[-2000:]
    assert got.stdout.strip().splitlines()[-1] == "[]"


# -- with the fake embedder: changes to the collection ------------------------------------------------
def _engine(kind, docs, tmp_path, fake) -> Engine:
    s = on(kind, Settings(docs_dir=docs, index_dir=tmp_path / "index", model=fake.name), tmp_path)
    return Engine.open(s, embedder=fake)


def same_as_staged(engine: Engine, questions=("kelp accord Tromso", "Kuril Islands treaty", "Koptev space")):
    """A Qdrant-served engine ranks as the local generation it was published from (its staging folder)."""
    if stores.is_local(engine.settings):
        return
    local = Engine(engine.settings.with_(store="local"), embedder=engine.embedder())
    for q in questions:
        for mode in ("hybrid", "dense", "keyword"):
            a, b = local.search(q, k=10, mode=mode), engine.search(q, k=10, mode=mode)
            assert [h.passage.id for h in a] == [h.passage.id for h in b], (q, mode)
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=1e-5, atol=1e-6)


def test_incremental_add_and_remove(kind, docs, tmp_path, fake):
    engine = _engine(kind, docs, tmp_path, fake)
    first = engine.status().generation
    (docs / "kelp.txt").write_text("Author: Omar Reyes\nDate: 1999-03-04\n\nThe Quokkavale accord on kelp "
                                   "surveys was signed in Tromso.\n")
    fake.encoded.clear()
    report = engine.build()
    assert report.embedded == 1 and not [t for t in fake.encoded if "Koptev" in t]   # only the new document
    same_as_staged(engine)          # the old points' BM25 weights were written for another corpus length
    hits = engine.search("Quokkavale kelp accord", k=3)
    assert hits[0].passage.id == "kelp:1" and engine.status().generation != first
    assert engine.cite("kelp:1").found and engine.document("kelp").author == "Omar Reyes"
    assert [h.passage.doc_id for h in engine.search("kelp", k=5, where=DocFilter(authors=("reyes",)))] == ["kelp"]
    assert engine.search("kelp", k=5, where=DocFilter(since="1999-03", until="1999")) != []
    with pytest.raises(BadInput):
        engine.search("kelp", where=DocFilter(authors=("reyes",), since="2001"))
    (docs / "kelp.txt").unlink()
    (docs / "000_6114352f984fc0ab.txt").unlink()
    engine.build()
    assert all(h.passage.doc_id not in ("kelp", "000_6114352f984fc0ab") for h in engine.search("kelp Koptev", k=40))
    assert engine.status().documents == 4 and not engine.cite("kelp:1").found
    same_as_staged(engine)
    fresh = Engine(engine.settings, embedder=fake)            # another reader sees the same collection
    assert fresh.status() == engine.status()
    if kind == "qdrant":   # changes were made in place: one collection, holding two generations at most
        from qdrant_client import models as M

        from rag.store import qdrant as Q
        c, loc = Q.client(engine.settings)
        name, g = engine.status().generation.split("@")
        assert [x.name for x in c.get_collections().collections] == [name] == [first.split("@")[0]]
        assert g == "3" and Q.live(c, loc) == name
        older = M.Filter(must=[M.FieldCondition(key="dead", range=M.Range(lt=2))])
        assert c.count(name, count_filter=older).count == 0          # retired two generations ago: deleted
        assert c.count(name, count_filter=Q.visible(3)).count == engine.status().passages
        engine.rebuild()                                           # a rebuild writes a new collection
        assert engine.status().generation.endswith("@1") and not engine.status().generation.startswith(name)
        assert sorted(x.name for x in c.get_collections().collections) == sorted([name, engine.status().generation[:-2]])


def test_readers_during_rebuilds_see_one_generation(kind, docs, tmp_path, fake):
    engine = _engine(kind, docs, tmp_path, fake)
    reader = Engine(engine.settings, embedder=fake)
    seen, errors, stop = set(), [], threading.Event()

    def read():
        while not stop.is_set():
            try:
                r = reader.retrieve("Kuril Islands treaty Quokkavale", k=10)
                docs_then = {d.doc_id for d in r.snapshot.documents}
                for h in r.hits:       # every hit is the passage its own generation holds at that row
                    assert h.passage.doc_id in docs_then and r.snapshot.passages[h.row] == h.passage
                seen.add(r.snapshot.generation)
                stop.wait(0.002)       # let the builds have the interpreter too
            except Exception as exc:   # noqa: BLE001 - any failure of a reader is the finding
                errors.append(exc)
    t = threading.Thread(target=read)
    t.start()
    try:
        for i in range(5):
            extra = docs / "quokka.txt"
            if i % 2 == 0:
                extra.write_text(f"The Quokkavale accord, version {i}, names the Kuril Islands.\n")
            else:
                extra.unlink()
            engine.build(rebuild=i == 3)     # in place, and once a whole new collection (Qdrant)
    finally:
        stop.set()
        t.join(60)
    assert not errors, "".join(traceback.format_exception(errors[0]))
    assert len(seen) >= 2


def test_a_publish_that_dies_before_the_head_moves_is_invisible_then_cleaned_up(docs, tmp_path, fake, monkeypatch):
    from qdrant_client import models as M

    from rag.store import qdrant as Q
    engine = _engine("qdrant", docs, tmp_path, fake)
    before = [h.passage.id for h in engine.search("Koptev space station", k=10)]
    (docs / "kelp.txt").write_text("The Quokkavale accord on kelp surveys was signed in Tromso.\n")
    (docs / "000_6114352f984fc0ab.txt").unlink()
    real = Q.manifest_id

    def dies_at_2(g):     # after generation 2's points and retirements are written, before its manifest and head
        if g == 2:
            raise RuntimeError("killed")
        return real(g)
    monkeypatch.setattr(Q, "manifest_id", dies_at_2)
    with pytest.raises(RagError, match="killed"):
        engine.build()
    monkeypatch.undo()
    reader = Engine(engine.settings, embedder=fake)
    assert reader.status().generation.endswith("@1") and reader.status().documents == 5
    assert [h.passage.id for h in reader.search("Koptev space station", k=10)] == before
    assert not any(h.passage.doc_id == "kelp" for h in reader.search("Quokkavale kelp", k=10))
    (docs / "kelp.txt").unlink()                     # the next build brings back the first corpus
    shutil.copy(SEEDS / "000_6114352f984fc0ab.txt", docs)
    engine.build()                                   # generation 2 again, over what the dead one left
    assert engine.status().generation.endswith("@2") and engine.status().documents == 5
    assert [h.passage.id for h in engine.search("Koptev space station", k=10)] == before
    assert not any(h.passage.doc_id == "kelp" for h in engine.search("Quokkavale kelp", k=10))
    c, _ = Q.client(engine.settings)
    name = engine.status().generation.split("@")[0]
    later = M.Filter(must=[M.FieldCondition(key="born", range=M.Range(gt=2))])
    assert c.count(name, count_filter=later).count == 0
    assert c.count(name, count_filter=Q.visible(2)).count == engine.status().passages
    same_as_staged(engine)


def test_an_empty_store_says_how_to_build(tmp_path):
    s = Settings(docs_dir=tmp_path, index_dir=tmp_path / "index", store=f"qdrant+local:{tmp_path}/q/rag")
    with pytest.raises(IndexNotBuilt, match="rag index --store qdrant"):
        Engine(s)._snapshot()


# -- security ------------------------------------------------------------------------------------------
def test_store_urls():
    from rag.store.qdrant import parse
    assert parse("qdrant://db.example:6334/docs").url == "http://db.example:6334"
    assert parse("qdrant+https://db.example/docs").url == "https://db.example:6333"
    assert parse("qdrant://db.example/docs?https=1").url.startswith("https://")
    assert (parse("qdrant+local:/var/q/docs").path, parse("qdrant+local:/var/q/docs").collection) == ("/var/q", "docs")
    got = parse("qdrant://db.example/docs?shards=6&replicas=2")
    assert (got.shards, got.replicas, got.collection) == (6, 2, "docs") and parse("qdrant://h/d").replicas is None
    for bad in ("qdrant://user:key@db/docs", "qdrant://db.example/", "qdrant+local:docs", "qdrant://h/d?replicas=0",
                "qdrant://h/d?shards=two"):
        with pytest.raises(ValueError):
            parse(bad)
    with pytest.raises(ValueError, match="store must be"):
        Settings(store="postgres://db/x")
    env = Settings.from_env({"RAG_STORE": "qdrant+https://db.example/docs", "RAG_QDRANT_API_KEY": "k3y"})
    assert (env.store, env.qdrant_api_key) == ("qdrant+https://db.example/docs", "k3y") and "k3y" not in repr(env)


def test_the_api_key_is_never_shown(tmp_path, caplog):
    secret = "k3y-d0-not-print"
    s = Settings(docs_dir=tmp_path, index_dir=tmp_path / "index", store="qdrant://127.0.0.1:9/rag",
                 qdrant_api_key=secret)
    assert secret not in repr(s)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(RagError) as err, pytest.warns(UserWarning, match="insecure connection"):
        Engine(s)._snapshot()     # qdrant_client warns about a key sent without TLS
    assert "127.0.0.1:9" in str(err.value) and "RAG_QDRANT_API_KEY" in str(err.value)
    assert secret not in str(err.value) and secret not in caplog.text


# -- SciFact --------------------------------------------------------------------------------------------
@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason="no SciFact copy in ../shared/bench/scifact")
def test_scifact_rankings_agree(tmp_path, fake):
    """~3,000 passages: the judged abstracts of 60 test claims and the first others. The fake embedder
    keeps this fast; what is compared is the stores, which get the same vectors either way."""
    corpus, queries, qrels = beir.load(SCIFACT)
    qids = sorted(qrels)[:60]
    judged = sorted({d for q in qids for d in qrels[q]})
    chosen = judged + [d for d in corpus if d not in set(judged)][:2400 - len(judged)]
    back = beir.materialize({d: corpus[d] for d in chosen}, tmp_path / "docs")
    local = _engine("local", tmp_path / "docs", tmp_path, fake)
    q = Engine(on("qdrant", local.settings, tmp_path, memory=True), embedder=fake)
    q.build()
    assert q.status().passages == local.status().passages >= 2500
    runs, same = {}, 0
    for kind, engine in (("local", local), ("qdrant", q)):
        runs[kind] = {}
        for qid in qids:
            hits = engine.search(queries[qid], k=20)
            runs[kind][qid] = list(dict.fromkeys(back[h.passage.doc_id] for h in hits))
    same = sum(runs["local"][x] == runs["qdrant"][x] for x in qids)
    a, b = (beir.metrics(runs[k], {x: qrels[x] for x in qids})["ndcg@10"] for k in ("local", "qdrant"))
    assert a > 0.3 and abs(a - b) <= 0.002 and same >= 57, (a, b, same)
    doc = local.documents()[7].document          # answers, citations and a filter on this corpus too
    for x in qids[:8]:
        ans = [e.ask(queries[x]) for e in (local, q)]
        assert [(s.text, s.citations) for s in ans[0].sentences] == [(s.text, s.citations) for s in ans[1].sentences]
        hits = [[h.passage.id for h in e.search(queries[x], where=DocFilter(documents=(doc.doc_id,)))] for e in (local, q)]
        assert hits[0] == hits[1] and {h.split(":")[0] for h in hits[0]} == {doc.doc_id}
    cited = runs["qdrant"][qids[0]][0]
    first = local.passages(next(i for i, c in back.items() if c == cited))[0]
    assert q.cite(first.citation) == local.cite(first.citation) and q.cite(first.citation).found
