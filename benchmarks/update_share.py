"""How warm `ask` latency grows with the share of an index written as updates, to choose when to compact
(Settings.compact_share). Over build_scale.py's index of N passages (built from scratch first), with the
folder restored first each time, documents are added (copies of others, 1,000 passages each) and as
many removed until the update's added + removed rows reach each share of the base; each state is
written as an update (compact_share 1.0), then asked 200 SciFact questions after 50 to warm up. The
compacted index is measured first and last. Each step in a fresh process.

    python benchmarks/build_scale.py --sizes 100k --steps scratch    # the base
    python benchmarks/update_share.py [--size 100k] [--shares 0.02 0.05 0.1 0.2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import build_scale as B  # noqa: E402
import scale_data as D  # noqa: E402
import scale_product_data as P  # noqa: E402
from scale import SIZES  # noqa: E402


def child(n: int, share: float) -> dict:
    from rag.config import Settings
    from rag.embed import onnx as onnx_embed
    from rag.engine import Engine
    docs = B.docs_folder(n)
    settings = Settings(docs_dir=docs, index_dir=D.CACHE / f"build-index-{n}", compact_share=1.0)
    emb = B.Replay(onnx_embed.try_load(next(P.ONNX.glob("*/export.json")).parent, settings.model),
                   np.load(D.CACHE / "vectors.npy", mmap_mode="r"))
    engine = Engine(settings, embedder=emb)
    B.restore(docs)                             # the folder as docs_folder wrote it, then this share's changes
    t = time.perf_counter()
    if share:
        docs_each = max(1, round(share * n / 2 / P.PER_DOC))        # half added, half removed
        for i in range(docs_each):
            (docs / f".doc{i + 10:05d}.txt.orig").write_bytes((docs / f"doc{i + 10:05d}.txt").read_bytes())
            (docs / f"doc{i + 10:05d}.txt").unlink()
            text = (docs / f"doc{i + 50:05d}.txt").read_text(encoding="utf-8")
            (docs / f"added-share-{i:03d}.txt").write_text(text.replace("\n\n", f"\n\nShare copy {i}: "),
                                                           encoding="utf-8")
        report = engine.build()
    else:
        report = engine.build(compact=True)
    built = time.perf_counter() - t
    out = B.asked(f"share {share}", n, engine)
    return {**out, "share": share, "written": report.written, "build_s": built}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="100k", choices=list(SIZES))
    ap.add_argument("--shares", nargs="+", type=float, default=[0.02, 0.05, 0.1, 0.2])
    ap.add_argument("--child", nargs=2)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(int(a.child[0]), float(a.child[1]))))
        return
    n = SIZES[a.size]
    print("| state | added + removed rows | written | ask p50 | ask p95 |\n|---|---|---|---|---|")
    for share in [0.0, *a.shares, 0.0]:     # 0: compacted, before and after
        got = subprocess.run([sys.executable, __file__, "--child", str(n), str(share)], capture_output=True, text=True)
        if got.returncode:
            sys.exit(got.stderr[-3000:])
        r = json.loads(got.stdout.strip().splitlines()[-1])
        d = r["delta"] or {"rows": 0, "removed": 0}
        print(f"| {'compacted' if not share else f'{share:.0%} changed'} | {d['rows'] + d['removed']:,} | "
              f"{r['written']} | {r['ask_p50_ms']:.1f} ms | {r['ask_p95_ms']:.1f} ms |", flush=True)


if __name__ == "__main__":
    main()
