"""Updates written over the current generation (rag.store.delta_write): after any sequence of adds,
changes and removes the index answers exactly as a build from scratch of the same folder does (exact
search and bm25s), or with the same recall (HNSW and tantivy); compaction folds the updates in."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.engine import Engine
from rag.schema import IndexMismatch

from conftest import SEEDS, FakeEmbedder

WORDS = [f"{a}{b}" for a in ("kur", "jap", "mos", "tok", "sak", "yel", "has", "tre", "fis", "gas", "oil", "sea")
         for b in ("il", "an", "ow", "yo", "ha", "tsin", "imoto", "aty", "hery", "field", "port", "wall")]


class Folder:
    """A documents folder that random steps add to, change and remove from."""

    def __init__(self, root: Path, rng: random.Random):
        self.root, self.rng, self.made = root, rng, 0
        root.mkdir(parents=True)

    def text(self) -> str:
        r = self.rng
        paras = [" ".join(" ".join(r.choices(WORDS, k=r.randint(6, 14))).capitalize() + "."
                          for _ in range(r.randint(1, 3))) for _ in range(r.randint(1, 6))]
        return "\n\n".join(paras) + "\n"

    def add(self) -> None:
        self.made += 1
        (self.root / f"d{self.made:03d}.txt").write_text(self.text(), encoding="utf-8")

    def docs(self) -> list[Path]:
        return sorted(self.root.glob("*.txt"))

    def step(self) -> str:
        """One random change: add documents, change one, remove one, or several of these."""
        ops = self.rng.choice([["add"], ["add", "add", "add"], ["change"], ["remove"], ["add", "change", "remove"]])
        for op in ops:
            docs = self.docs()
            if op == "add" or len(docs) < 4:
                self.add()
            elif op == "change":
                self.rng.choice(docs).write_text(self.text(), encoding="utf-8")
            else:
                self.rng.choice(docs).unlink()
        return "+".join(ops)


def engine(folder: Path, index: Path, **kw) -> Engine:
    s = Settings(docs_dir=folder, index_dir=index, model=FakeEmbedder.name, **kw)
    return Engine(s, embedder=FakeEmbedder())


def started(tmp_path: Path, seed: int, documents: int, **kw) -> tuple[Folder, Engine]:
    """A folder of random documents and an engine over it whose updates are always written as such
    (`kw` overrides), built once."""
    folder = Folder(tmp_path / "docs", random.Random(seed))
    for _ in range(documents):
        folder.add()
    live = engine(folder.root, tmp_path / "index", **{"update_min_rows": 1, "compact_share": 1.0, **kw})
    live.build()
    return folder, live


def results(e: Engine, queries: list[str], k: int = 10) -> dict:
    return {(q, mode): [(h.passage.id, h.score) for h in e.search(q, k=k, mode=mode)]
            for q in queries for mode in ("dense", "keyword", "hybrid")}


def same_ranking(got: list, want: list, tol: float = 1e-5) -> bool:
    """The same scores in order, and the same passages for each score above the last one (rows of
    equal score may come in either order, and a tie at the cut may be cut either way)."""
    if len(got) != len(want) or not np.allclose([s for _, s in got], [s for _, s in want], atol=tol, rtol=0):
        return False
    if not got:
        return True
    cut = min(s for _, s in want) + tol
    above = lambda hits: sorted((round(s / tol), i) for i, s in hits if s > cut)   # noqa: E731
    return above(got) == above(want)


def contents(e: Engine) -> dict:
    """What a user can see of the collection: documents, their passages, counts, vocabulary."""
    snap = e._snapshot()
    docs = {d.doc_id: (d.file, d.sha256, [p.to_json() for p in snap.passages.of_document(d.doc_id)])
            for d in snap.documents}
    return {"docs": docs, "listed": [(x.document.file, x.passages) for x in e.documents()],
            "status": e.status().passages, "vocabulary": sorted(snap.lexical.vocabulary()),
            "manifest docs": snap.manifest["documents"]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_updates_answer_exactly_as_a_build_from_scratch(tmp_path, seed):
    rng = random.Random(seed)
    folder = Folder(tmp_path / "docs", rng)
    for _ in range(12):
        folder.add()
    live = engine(folder.root, tmp_path / "index", update_min_rows=1, compact_share=1.0)
    assert live.build().written == "whole"
    queries = [" ".join(rng.choices(WORDS, k=n)) for n in (1, 2, 3, 5)] + ["Kuril islands"]
    written = []
    for step in range(8):
        what = folder.step()
        report = live.build()
        written.append(report.written)
        fresh = engine(folder.root, tmp_path / f"fresh-{step}")
        assert fresh.build().written == "whole"
        assert contents(live) == contents(fresh), f"step {step} ({what})"
        got, want = results(live, queries), results(fresh, queries)
        for key in want:
            assert same_ranking(got[key], want[key]), (step, what, key, got[key], want[key])
        a, b = live.ask(queries[2]).to_json(), fresh.ask(queries[2]).to_json()
        assert (a["answer"], a["sentences"]) == (b["answer"], b["sentences"])
    assert written.count("update") >= 6, written        # the steps went through the update path
    delta = json.loads((live.settings.index_dir / live.status().generation / "manifest.json").read_text())["delta"]
    assert delta["rows"] > 0 and delta["removed"] > 0


def test_an_update_shares_the_base_files_and_writes_only_what_changed(tmp_path):
    folder, live = started(tmp_path, 5, 20)
    first = live.status().generation
    gone = len(live.passages("d001"))
    folder.add()
    (folder.docs()[0]).unlink()
    report = live.build()
    assert report.written == "update" and report.embedded == len(live.passages("d021")) > 0
    old, new = tmp_path / "index" / first, tmp_path / "index" / report.generation
    for name in ("passages.jsonl", "sentences.npy", "vectors.faiss", "bm25/terms.npy", "bm25/df.npy"):
        assert (old / name).stat().st_ino == (new / name).stat().st_ino, name    # hard links, not copies
    m = json.loads((new / "manifest.json").read_text())
    assert m["delta"]["removed"] == gone > 0 and "d001" not in m["documents"]
    assert m["passages"] == m["delta"]["base"] + m["delta"]["rows"]
    assert live.status().passages == sum(d["passages"] for d in m["documents"].values())
    assert live.verify().files == len(m["files"]) + 1                 # `rag verify` hashes the shared files too


def test_compaction_folds_updates_in_and_answers_the_same(tmp_path):
    folder, live = started(tmp_path, 9, 15)
    for _ in range(3):
        folder.step()
        assert live.build().written == "update"
    queries = ["kuril japan", "tokport seafield", "moshery"]
    before = results(live, queries)
    report = live.build(compact=True)
    assert report.written == "whole" and report.embedded == 0 and report.rebuilt
    assert "delta" not in json.loads((tmp_path / "index" / report.generation / "manifest.json").read_text())
    after = results(live, queries)
    assert all(same_ranking(after[k], before[k]) for k in before)
    assert not live.build(compact=True).rebuilt       # nothing left to fold in


def test_past_the_compaction_share_the_update_is_written_whole(tmp_path):
    folder, live = started(tmp_path, 4, 20, compact_share=0.1)
    rows = live.status().passages
    folder.add()
    small = live.build()
    assert small.written == ("update" if small.embedded <= 0.1 * rows else "whole")
    for _ in range(8):
        folder.add()
    assert live.build().written == "whole"      # 8 more documents: past 10% of the base
    assert engine(folder.root, tmp_path / "small", update_min_rows=10_000).build().written == "whole"


def test_large_engines_keep_their_recall_after_updates(tmp_path):
    """HNSW and tantivy (thresholds lowered): after updates, recall@10 against exact search is within
    0.005 of a build from scratch's, and keyword hits score as the rebuild's do."""
    rng = random.Random(11)
    folder = Folder(tmp_path / "docs", rng)
    for _ in range(60):
        folder.add()
    big = dict(hnsw_min_rows=50, tantivy_min_rows=50)
    live = engine(folder.root, tmp_path / "index", update_min_rows=1, compact_share=1.0, **big)
    live.build()
    for _ in range(4):
        folder.step()
        assert live.build().written == "update"
    fresh = engine(folder.root, tmp_path / "fresh", **big)
    fresh.build()
    queries = [" ".join(rng.choices(WORDS, k=n)) for n in (1, 2, 3, 4) for _ in range(8)]

    def recall(e: Engine) -> float:
        snap = e._snapshot()
        vecs, live_rows = snap.all_vectors(), np.flatnonzero(~(snap.passages.removed if snap.passages.removed
                                                                is not None else np.zeros(len(snap.passages), bool)))
        hits = 0
        for q in queries:
            qv = e._embedder.encode_queries([q])[0]
            exact = set(live_rows[np.argsort(-(vecs[live_rows] @ qv), kind="stable")[:10]].tolist())
            hits += len(exact & set(snap.dense(qv, 10)[1].tolist()))
        return hits / (10 * len(queries))
    assert type(live._snapshot().lexical.engine).__name__ == "Added"
    assert recall(live) >= recall(fresh) - 0.005
    got, want = results(live, queries[:8]), results(fresh, queries[:8])
    for q in queries[:8]:
        assert same_ranking(got[(q, "keyword")], want[(q, "keyword")]), q


def test_an_update_checks_the_base_files_it_reads(tmp_path):
    """The forward keyword arrays are read by updates only, never by a query: a bit flip in them is
    caught when an update reads them, and the published index is left as it was."""
    folder, live = started(tmp_path, 6, 10)
    first = live.status().generation
    terms = tmp_path / "index" / first / "bm25" / "terms.npy"
    data = bytearray(terms.read_bytes())
    data[-3] ^= 0x20
    terms.write_bytes(bytes(data))
    folder.add()
    with pytest.raises(IndexMismatch, match="terms.npy failed its checksum.*--rebuild"):
        live.build()
    assert live.status().generation == first and sorted(p.name for p in (tmp_path / "index").glob("gen-*")) == [first]


def test_real_model_update_answers_as_a_rebuild(real_engine, tmp_path):
    """The real model and the seeds: add a document, change one, remove one, each written as an update
    over the last generation; hits, scores and the quoted answer equal a build from scratch's."""
    docs = tmp_path / "docs"
    shutil.copytree(SEEDS, docs)
    emb = real_engine.embedder(quiet=True)
    make = lambda where, **kw: Engine(Settings(docs_dir=docs, index_dir=tmp_path / where, **kw), embedder=emb)  # noqa: E731
    live = make("index", update_min_rows=1, compact_share=1.0)
    live.build()
    question = "Who attended the Krasnoyarsk summit as Japan's prime minister?"
    (docs / "extra.txt").write_text("The Krasnoyarsk summit of November 1997 was attended by Ryutaro Hashimoto, "
                                    "the Japanese prime minister, and Boris Yeltsin.\n\nFishing rights near the "
                                    "Kuril Islands were discussed too.\n", encoding="utf-8")
    first, second = sorted(docs.glob("0*.txt"))[:2]
    steps = [lambda: None, lambda: first.write_text(first.read_text(encoding="utf-8") + "\nA closing note.\n",
                                                    encoding="utf-8"), second.unlink]
    for i, change in enumerate(steps):
        change()
        assert live.build().written == "update"
        fresh = make(f"fresh-{i}")
        fresh.build()
        for mode in ("dense", "keyword", "hybrid"):
            got, want = ([(h.passage.id, h.score) for h in e.search(question, k=8, mode=mode)] for e in (live, fresh))
            assert same_ranking(got, want), (i, mode, got, want)
        a, b = live.ask(question).to_json(), fresh.ask(question).to_json()
        assert (a["answer"], a.get("short"), a["sentences"]) == (b["answer"], b.get("short"), b["sentences"])
    assert "Hashimoto" in live.ask(question).to_json()["answer"]


def test_a_qdrant_store_stages_whole_generations_and_answers_as_the_local_build(tmp_path):
    """Qdrant applies changes in place itself (rag.store.qdrant_write), from a staged generation that
    is always written whole: results after changes equal a local build from scratch."""
    folder = Folder(tmp_path / "docs", random.Random(3))
    for _ in range(15):
        folder.add()
    remote = engine(folder.root, tmp_path / "staged", store=f"qdrant+local:{tmp_path}/q/rag",
                    update_min_rows=1, compact_share=1.0)
    remote.build()
    queries = ["kuril japan", "tokport seafield", "moshery", "yelan fisil"]
    for step in range(3):
        folder.step()
        assert remote.build().written == "whole"
        fresh = engine(folder.root, tmp_path / f"fresh-{step}")
        fresh.build()
        got, want = results(remote, queries), results(fresh, queries)
        assert all(same_ranking(got[k], want[k]) for k in want), step
