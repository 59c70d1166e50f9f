"""Memory maps at 1M passages (#17 part 2): what mapping the two large query-path files would cost
and save, beside today's reads. Each variant runs in a fresh process on the index build_scale.py
left (.cache/scale/build-index-1000000), opens it, then asks N SciFact questions (search + answer):

- today: vectors.faiss parsed into memory (through the block checks), sentence rows read with preadv;
- faiss-mmap: vectors.faiss opened by faiss with IO_FLAG_MMAP_IFC (the HNSW's fp16 codes mapped, not
  read), after hashing the whole file (faiss reads a mapped page without the block checks, so this is
  the only way to keep "verified before used");
- sentences-mmap: sentences.npy mapped (np.load mmap_mode="r"), candidate rows read from the map.

    python benchmarks/mmap_measure.py [--questions 600]

Prints load time, RSS (anonymous and file-backed) after the load and after the questions, VmHWM,
and ask p50 per variant.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_data as D  # noqa: E402

VARIANTS = ("today", "faiss-mmap", "sentences-mmap")


def status() -> dict:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024)
    return out


def patch(variant: str) -> None:
    """Swap the one reader the variant maps (in this benchmark process only)."""
    from rag import index as vindex
    from rag.store import sentences
    if variant == "faiss-mmap":
        import faiss

        def from_file(file, dim, count):
            path = os.readlink(f"/proc/self/fd/{file.fileno()}")
            h = hashlib.sha256()            # the whole file, as a stand-in for checking every block
            with open(path, "rb") as f:
                while chunk := f.read(1 << 24):
                    h.update(chunk)
            return vindex._shape_checked(faiss.read_index(path, faiss.IO_FLAG_MMAP_IFC), dim, count)
        vindex.from_file = from_file
    if variant == "sentences-mmap":
        init = sentences.SentenceVectors.__init__

        def mapped_init(self, file, in_memory_bytes=None):
            init(self, file, in_memory_bytes)
            if self.array is None:
                path = os.readlink(f"/proc/self/fd/{file.fileno()}")
                self.array = np.load(path, mmap_mode="r")
        sentences.SentenceVectors.__init__ = mapped_init


def child(variant: str, n: int) -> dict:
    import build_scale as B
    from rag.config import Settings
    from rag.embed import onnx as onnx_embed
    from rag.engine import Engine
    import scale_product_data as P
    patch(variant)
    settings = Settings(docs_dir=D.CACHE / "build-docs-1000000", index_dir=D.CACHE / "build-index-1000000")
    emb = B.Replay(onnx_embed.try_load(next(P.ONNX.glob("*/export.json")).parent, settings.model),
                   D.CACHE / "vectors.npy")
    emb.encode_queries(["warm the encoder"])
    before = status()
    t = time.perf_counter()
    engine = Engine(settings, embedder=emb)
    engine.status()
    load = time.perf_counter() - t
    loaded = status()
    questions = np.load(D.CACHE / "real.npz")["query_texts"].tolist()
    asks = []
    for i in range(n):
        q = questions[i % len(questions)]
        engine.search(q)
        t = time.perf_counter()
        engine.ask(q)
        asks.append((time.perf_counter() - t) * 1000)
    return {"variant": variant, "load_s": round(load, 2), "before": before, "loaded": loaded, "after": status(),
            "ask_p50_ms": round(statistics.median(asks), 2), "ask_p50_ms_last_half": round(statistics.median(asks[n // 2:]), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=600)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--child", choices=VARIANTS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.questions)))
        return
    rows = []
    for v in a.variants:
        out = subprocess.run([sys.executable, __file__, "--child", v, "--questions", str(a.questions)],
                             capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| variant | load | RSS loaded (anon + file) | RSS after questions (anon + file) | VmHWM | ask p50 (last half) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        lo, af = r["loaded"], r["after"]
        print(f"| {r['variant']} | {r['load_s']} s | {lo['VmRSS']:,} MB ({lo['RssAnon']:,} + {lo['RssFile']:,}) | "
              f"{af['VmRSS']:,} MB ({af['RssAnon']:,} + {af['RssFile']:,}) | {af['VmHWM']:,} MB | "
              f"{r['ask_p50_ms']} ms ({r['ask_p50_ms_last_half']} ms) |")


if __name__ == "__main__":
    main()
