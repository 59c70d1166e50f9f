"""Synthetic scale data built from real embeddings, for benchmarks/scale.py.

    python benchmarks/scale_data.py [--beir ../shared/bench/scifact] [--max 1000000]

Vectors: the real MiniLM embeddings of every SciFact passage (read from the cached BEIR index) and
of the seed passages, then samples from a model fitted to them: a mixture of Gaussians, one per
spherical k-means cluster of the real vectors (weight = cluster size), each with its cluster's empirical
covariance shrunk towards the global covariance (the real principal subspace), then normalised.
The shrinkage is chosen so that held-out real passages and synthetic vectors sit as close to the
fitting set as each other (nearest-neighbour cosine). Queries: every SciFact query, encoded with
the ONNX export; none is used in fitting, so recall is measured on held-out real queries.

Keyword documents: the real passage texts, then ~80-word documents whose words are drawn from the
SciFact word frequencies (stopwords included, before stemming), as users' text would be.

Everything is cached under .cache/scale/ (vectors.npy, real.npz, words.json).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / ".cache" / "scale"
CLUSTERS = (256, 1024)   # k-means sizes tried (~40 and ~10 real passages per cluster)
DOC_WORDS = 80


def real_index_dir(beir: Path) -> Path:
    found = sorted((ROOT / ".cache").glob(f"beir-{beir.name}-*/index-*all-MiniLM-L6-v2"))
    if not found:
        sys.exit(f"no cached {beir.name} index under .cache/; run: python -m rag eval --beir {beir}")
    return found[0]


def collect_real(beir: Path) -> None:
    """Real passage vectors + texts (SciFact, seeds) and encoded SciFact queries -> real.npz."""
    from rag import beir as B
    from rag.config import Settings
    from rag.engine import Engine
    from rag.store.generation import indexed_text
    settings = Settings(index_dir=real_index_dir(beir), docs_dir=CACHE / "unused")
    engine = Engine(settings)
    emb = engine.embedder()
    seeds = Engine(Settings(docs_dir=ROOT / "seeds", index_dir=CACHE / "seed-index"), embedder=emb)
    seeds.build()
    texts, vecs = [], []
    for e in (engine, seeds):
        texts += [indexed_text(p, e.settings.context, d.document)
                  for d in e.documents() for p in e.passages(d.document.doc_id)]
        vecs.append(e.passage_vectors())
    _, queries, _ = B.load(beir, "test")
    test = set(B.load(beir, "test")[2])
    qids = sorted(queries, key=lambda q: (q not in test, int(q) if q.isdigit() else q))
    qvecs = emb.encode_queries([queries[q] for q in qids])
    np.savez(CACHE / "real.npz", vectors=np.vstack(vecs), texts=np.array(texts),
             queries=qvecs, query_texts=np.array([queries[q] for q in qids]),
             query_test=np.array([q in test for q in qids]))


def kmeans(x: np.ndarray, k: int, rng, iters: int = 25) -> np.ndarray:
    centers = x[rng.choice(len(x), k, replace=False)]
    for _ in range(iters):
        assign = np.argmax(x @ centers.T, axis=1)      # spherical k-means: unit vectors, cosine
        for c in range(k):
            members = x[assign == c]
            if len(members):
                m = members.mean(0)
                centers[c] = m / np.linalg.norm(m)
    return np.argmax(x @ centers.T, axis=1)


class Model:
    """Per-cluster Gaussian: mean + sqrt(1-lam) * (cluster residuals) z + sqrt(lam * ratio) * global factor w."""

    def __init__(self, x: np.ndarray, clusters: int, lam: float, rng):
        self.clusters, self.lam, self.assign = clusters, lam, kmeans(x, clusters, rng)
        self.groups = [x[self.assign == c] for c in range(clusters)]
        self.groups = [g for g in self.groups if len(g) >= 2]
        self.weights = np.array([len(g) for g in self.groups], dtype=np.float64)
        self.weights /= self.weights.sum()
        centred = x - x.mean(0)
        _, sv, vt = np.linalg.svd(centred, full_matrices=False)
        self.global_factor = (vt.T * (sv / np.sqrt(len(x))))        # covariance = F F^T
        self.global_var = float((sv ** 2).sum() / len(x))

    def sample(self, n: int, rng) -> np.ndarray:
        out = np.empty((n, self.global_factor.shape[0]), dtype=np.float32)
        comp = rng.choice(len(self.groups), n, p=self.weights)
        for c in np.unique(comp):
            rows = np.flatnonzero(comp == c)
            g = self.groups[c]
            resid = (g - g.mean(0)) / np.sqrt(len(g))
            ratio = float((resid ** 2).sum()) / self.global_var
            z = rng.standard_normal((len(rows), len(g)))
            w = rng.standard_normal((len(rows), self.global_factor.shape[1]))
            out[rows] = (g.mean(0) + np.sqrt(1 - self.lam) * z @ resid
                         + np.sqrt(self.lam * ratio) * w @ self.global_factor.T)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def nn_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Median over rows of a of the best cosine to any row of b."""
    return float(np.median((a @ b.T).max(1)))


def fit(real: np.ndarray, rng) -> Model:
    """Choose the shrinkage that makes synthetic rows as near to the fitting set as held-out real rows."""
    order = rng.permutation(len(real))
    held, train = real[order[:1000]], real[order[1000:]]
    target = nn_cosine(held, train)
    best = None
    for clusters in CLUSTERS:
        for lam in (0.0, 0.25, 0.5):
            got = nn_cosine(Model(train, clusters, lam, np.random.default_rng(1)).sample(1000, rng), train)
            print(f"  {clusters} clusters, shrinkage {lam}: synthetic NN cosine {got:.3f} (held-out real {target:.3f})")
            if best is None or abs(got - target) < best[0]:
                best = (abs(got - target), clusters, lam)
    print(f"  chosen: {best[1]} clusters, shrinkage {best[2]}")
    return Model(real, best[1], best[2], np.random.default_rng(1))


def make_vectors(total: int) -> None:
    real = np.load(CACHE / "real.npz")["vectors"]
    rng = np.random.default_rng(0)
    model = fit(real, rng)
    out = np.lib.format.open_memmap(CACHE / "vectors.npy", mode="w+", dtype=np.float32,
                                    shape=(max(total, len(real)), real.shape[1]))
    out[:len(real)] = real
    for start in range(len(real), total, 100_000):
        end = min(total, start + 100_000)
        out[start:end] = model.sample(end - start, rng)
    out.flush()


def make_words() -> None:
    texts = np.load(CACHE / "real.npz")["texts"]
    counts = Counter(w for t in texts.tolist() for w in re.findall(r"\w+", t.lower()))
    (CACHE / "words.json").write_text(json.dumps(counts.most_common()), encoding="utf-8")


def documents(n: int, seed: int = 0) -> list[str]:
    """n keyword documents: the real passage texts first, then synthetic ~80-word ones."""
    real = np.load(CACHE / "real.npz")["texts"].tolist()[:n]
    pairs = json.loads((CACHE / "words.json").read_text(encoding="utf-8"))
    words = np.array([w for w, _ in pairs])
    p = np.array([c for _, c in pairs], dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = list(real)
    while len(out) < n:
        m = min(100_000, n - len(out))
        lengths = rng.poisson(DOC_WORDS, m).clip(5)
        flat = words[rng.choice(len(words), int(lengths.sum()), p=p / p.sum())]
        cuts = np.concatenate([[0], np.cumsum(lengths)])
        out += [" ".join(flat[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--beir", type=Path, default=ROOT.parent / "shared" / "bench" / "scifact")
    ap.add_argument("--max", type=int, default=1_000_000)
    a = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (CACHE / "real.npz").exists():
        collect_real(a.beir)
    make_words()
    make_vectors(a.max)
    print(f"wrote {CACHE}/vectors.npy, real.npz, words.json")


if __name__ == "__main__":
    main()
