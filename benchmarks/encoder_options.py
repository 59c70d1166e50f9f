"""Faster encoders than the fp32 ONNX export, and what they cost in quality (issue 17, section 4).

    python benchmarks/encoder_options.py [--rounds 3] [--scifact NAME,NAME] [--dev NAME,NAME]

Every option is a graph made from the product's fp32 export (`rag index` writes it) and run by the
product's own OnnxEmbedder (tokenizers, length-sorted batches, the same session options), so only
the graph differs. Variants are made once into .cache/encoder-options/models/.

1. drift: cosine of each option's vectors with fp32's, on the seed passages (as indexed, with
   their titles), 500 SciFact passages and the seed dev questions.
2. speed: passages/s on the same 300 SciFact passages, options interleaved within a round and the
   order rotated (and reversed) each round; the ratio to fp32 is taken per round, then the median.
   Single-question latency: each dev question encoded by every option in turn, median ms.
3. batch size and threads, for fp32 and for the options named with --shapes.
4. --scifact: dense nDCG@10 on SciFact train (for choosing) and test, every passage of the corpus
   (the product's passages and indexed text, from its cached SciFact index) encoded by the option
   (cached under .cache/encoder-options/), a document scored by its best passage, metrics from
   rag.beir. Dense only: the encoder is all that differs, and hybrid fusion would hide part of a drift.
5. --product: SciFact train and test nDCG@10 through the product's own retrieval (rag.beir.evaluate:
   hybrid fusion, sentence share), the index built with the option (about 15 minutes on 2 cores).
6. --dev: the seed dev report (rag.evaluate.dev_report) of an index built with the option.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag import beir  # noqa: E402
from rag.config import DEFAULT_MODEL, Settings  # noqa: E402
from rag.embed import onnx as onnx_embed  # noqa: E402
from rag.embed.protocol import onnx_dir_for  # noqa: E402

CACHE = ROOT / ".cache" / "encoder-options"
SCIFACT = ROOT.parent / "shared" / "bench" / "scifact"
HEADS, HIDDEN = 12, 384       # all-MiniLM-L6-v2


# -- the variants ------------------------------------------------------------------------------
def _last_layer_nodes(path: Path, layers: tuple[str, ...]) -> list[str]:
    import onnx
    g = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in g.node if any(f"/layer.{i}/" in n.name for i in layers)]


class _Calibration:
    """CalibrationDataReader over tokenized corpus passages, batches of 8."""

    def __init__(self, emb: onnx_embed.OnnxEmbedder, texts: list[str]):
        encs = emb._tok.encode_batch(texts)
        self.feeds = []
        for b in range(0, len(encs), 8):
            rows = encs[b:b + 8]
            width = max(len(e) for e in rows)
            feed = {n: np.zeros((len(rows), width), dtype=np.int64) for n in emb._inputs}
            for r, e in enumerate(rows):
                feed["input_ids"][r, :len(e)] = e.ids
                feed["attention_mask"][r, :len(e)] = e.attention_mask
                if "token_type_ids" in feed:
                    feed["token_type_ids"][r, :len(e)] = e.type_ids
            self.feeds.append(feed)
        self.it = iter(self.feeds)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.feeds)


def make_variants(src: Path, out: Path, calib_texts: list[str], fp32: onnx_embed.OnnxEmbedder) -> dict[str, Path]:
    """{option name: graph path}; each is made once (the file name carries the source's hash)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    out.mkdir(parents=True, exist_ok=True)
    tag = hashlib.sha256(src.read_bytes()).hexdigest()[:10]
    paths: dict[str, Path] = {"fp32": src}

    def make(name: str, build) -> None:
        dst = out / f"{name}-{tag}.onnx"
        if not dst.exists():
            t = time.perf_counter()
            tmp = dst.with_suffix(".tmp.onnx")
            try:
                build(tmp)
            except Exception as exc:  # recorded, not fatal: the table says why
                print(f"  {name}: could not be made ({type(exc).__name__}: {str(exc)[:200]})", flush=True)
                return
            os.replace(tmp, dst)
            print(f"  made {name} in {time.perf_counter() - t:.0f} s", flush=True)
        paths[name] = dst

    def dyn(source: Path, per_channel: bool, ops=None, exclude=()):
        # DefaultTensorType: shape inference cannot type the fused (com.microsoft) ops' outputs
        return lambda p: quantize_dynamic(str(source), str(p), weight_type=QuantType.QInt8, per_channel=per_channel,
                                          op_types_to_quantize=ops, nodes_to_exclude=list(exclude),
                                          extra_options={"DefaultTensorType": 1})   # onnx.TensorProto.FLOAT

    make("int8-dyn", dyn(src, False))
    make("int8-dyn-channel", dyn(src, True))
    make("int8-matmul-channel", dyn(src, True, ["MatMul"]))          # embeddings Gather stays fp32
    make("int8-matmul-channel-fp32-last", dyn(src, True, ["MatMul"], _last_layer_nodes(src, ("5",))))
    make("int8-matmul-channel-fp32-first-last", dyn(src, True, ["MatMul"], _last_layer_nodes(src, ("0", "5"))))

    def static(p: Path) -> None:
        quantize_static(str(src), str(p), _Calibration(fp32, calib_texts), quant_format=QuantFormat.QDQ,
                        per_channel=True, op_types_to_quantize=["MatMul"], activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    make("int8-static-qdq", static)

    def optimized(p: Path, fp16: bool = False) -> None:
        from onnxruntime.transformers.optimizer import optimize_model
        m = optimize_model(str(src), model_type="bert", num_heads=HEADS, hidden_size=HIDDEN, opt_level=1)
        stats = m.get_fused_operator_statistics()
        print("    fused:", {k: v for k, v in stats.items() if v}, flush=True)
        if fp16:
            m.convert_float_to_float16(keep_io_types=True)
        m.save_model_to_file(str(p))
    make("opt-fp32", optimized)
    if "opt-fp32" in paths:
        make("opt-int8-channel", dyn(paths["opt-fp32"], True))
        make("opt-int8-matmul-channel", dyn(paths["opt-fp32"], True, ["MatMul", "Attention"]))
    make("opt-fp16", lambda p: optimized(p, fp16=True))
    return paths


# -- texts -------------------------------------------------------------------------------------
def generation_texts(index_dir: Path) -> tuple[list[str], list[str]]:
    """(indexed passage texts, their document ids) of an index's current generation, read from its
    plain files: the text the model saw at build time (context "lead": the title before paragraph 1)."""
    gen = index_dir / (index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    titles = {d["doc_id"]: d.get("title", "") for d in json.loads((gen / "documents.json").read_text())}
    texts, docs = [], []
    with open(gen / "passages.jsonl", encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            title = titles.get(p["doc_id"], "")
            lead = manifest.get("context") == "lead" and p.get("para") == 1 and title
            texts.append(f"{title}. {p['text']}" if lead else p["text"])
            docs.append(p["doc_id"])
    return texts, docs


def scifact_index() -> Path:
    key = hashlib.sha256(str(SCIFACT.resolve()).encode()).hexdigest()[:12]
    return ROOT / ".cache" / f"beir-scifact-{key}" / "index-sentence-transformers-all-MiniLM-L6-v2"


# -- measurements ------------------------------------------------------------------------------
def load(export_dir: Path, meta: dict, path: Path, batch: int = onnx_embed.BATCH_SIZE,
         threads: int = onnx_embed.INTRA_OP_THREADS) -> onnx_embed.OnnxEmbedder:
    return onnx_embed.OnnxEmbedder(export_dir, meta, batch_size=batch, threads=threads, model_file=str(path))


def cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(1)


def speed(embs: dict, texts: list[str], questions: list[str], rounds: int, block: int = 50) -> dict[str, dict]:
    """Passages/s and question latency of every option, side by side. The texts are cut into blocks;
    every option encodes each block in turn (order rotated per block, reversed per round), so all
    options see the same moments of a shared machine. Ratios to fp32 are per round, then the median.
    CPU time (process_time, both intra-op threads) per passage is given too: less sensitive to load."""
    names = list(embs)
    wall = {n: [0.0] * rounds for n in names}
    cpu = {n: [0.0] * rounds for n in names}
    for e in embs.values():          # warm-up: sessions allocate on first run
        e.encode_passages(texts[:32])
    blocks = [texts[i:i + block] for i in range(0, len(texts), block)]
    for r in range(rounds):
        for b, chunk in enumerate(blocks):
            k = (r * len(blocks) + b) % len(names)
            order = names[k:] + names[:k]
            for n in (order[::-1] if r % 2 else order):
                t, c = time.perf_counter(), time.process_time()
                embs[n].encode_passages(chunk)
                wall[n][r] += time.perf_counter() - t
                cpu[n][r] += time.process_time() - c
        print(f"  round {r + 1} (load {os.getloadavg()[0]:.2f}): "
              + ", ".join(f"{n} {len(texts) / wall[n][r]:.1f}" for n in names), flush=True)
    lat: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(questions):
        for n in (names if i % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            embs[n].encode_queries([q])
            lat[n].append((time.perf_counter() - t) * 1000)
    out = {}
    for n in names:
        out[n] = {"passages_per_s": statistics.median(len(texts) / w for w in wall[n]),
                  "x_fp32": statistics.median(b / a for a, b in zip(wall[n], wall["fp32"])),
                  "cpu_x_fp32": statistics.median(b / a for a, b in zip(cpu[n], cpu["fp32"])),
                  "question_ms": statistics.median(lat[n]),
                  "question_x_fp32": statistics.median(b / a for a, b in zip(lat[n], lat["fp32"]))}
    return out


def dense_ndcg(vectors: np.ndarray, docs: list[str], qvecs: np.ndarray, qids: list[str], qrels: dict) -> dict:
    scores = qvecs @ vectors.T
    run = {}
    for i, qid in enumerate(qids):
        order = np.argsort(-scores[i])[:400]
        seen: list[str] = []
        for j in order:
            if docs[j] not in seen:
                seen.append(docs[j])
            if len(seen) == 100:
                break
        run[qid] = seen
    return beir.metrics(run, qrels)


def index_vectors(index_dir: Path, fp32, texts: list[str]) -> np.ndarray:
    """fp32's SciFact vectors: the cached index's own (the product's build with this export), checked
    against a fresh fp32 encoding of 64 passages (same rows, same vectors)."""
    from rag import index as vindex
    gen = index_dir / (index_dir / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    vec = vindex.vectors(vindex.from_bytes((gen / "vectors.faiss").read_bytes(), manifest["dim"], manifest["passages"]))
    low = float(cos(vec[:64], fp32.encode_passages(texts[:64])).min())
    print(f"  fp32: the SciFact index's own vectors (min cosine {low:.6f} with a fresh fp32 encoding of 64)")
    assert low > 0.9999, "the index's vectors are not in passages.jsonl order, or not this export's"
    return vec


def cached_encode(emb, name: str, path: Path, texts: list[str]) -> np.ndarray:
    key = hashlib.sha256((Path(path).read_bytes()[:1 << 20].hex() + str(Path(path).stat().st_size)
                          + "\n".join(texts)).encode()).hexdigest()[:16]
    f = CACHE / f"scifact-{name}-{key}.npy"
    if f.exists():
        return np.load(f)
    t = time.perf_counter()
    v = emb.encode_passages(texts)
    np.save(f, v)
    print(f"  encoded {len(texts)} SciFact passages with {name} in {time.perf_counter() - t:.0f} s", flush=True)
    return v


def dev_figures(emb, seeds: Path) -> dict:
    from rag.engine import Engine
    from rag.evaluate import dev_report, load_qa
    with tempfile.TemporaryDirectory() as tmp:
        eng = Engine(Settings(docs_dir=seeds, index_dir=Path(tmp) / "index", backend="onnx"), emb)
        eng.build()
        r = dev_report(eng, load_qa())
    return {k: v for k, v in r.items() if not isinstance(v, (list, dict))}


def drift_table(fp32, embs: dict, seed_texts: list[str], sample: list[str], questions: list[str]) -> None:
    print("\n## drift against fp32 (cosine)", flush=True)
    ref = {"seed": fp32.encode_passages(seed_texts), "scifact": fp32.encode_passages(sample),
           "questions": fp32.encode_queries(questions)}
    print(f"{'option':38} {'seed mean':>9} {'seed min':>9} {'sf mean':>9} {'sf min':>9} {'q mean':>9} {'q min':>9}")
    for n, e in embs.items():
        c = {k: cos(e.encode_passages(t) if k != "questions" else e.encode_queries(t), ref[k])
             for k, t in (("seed", seed_texts), ("scifact", sample), ("questions", questions))}
        print(f"{n:38} " + " ".join(f"{c[k].mean():9.5f} {c[k].min():9.5f}" for k in ("seed", "scifact", "questions")),
              flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=ROOT / "index", help="seed index with an ONNX export")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated options to time (default: all made)")
    ap.add_argument("--shapes", default="", help="options whose batch size and threads are swept")
    ap.add_argument("--scifact", default="", help="options whose SciFact dense nDCG@10 is measured")
    ap.add_argument("--product", default="", help="options whose SciFact nDCG@10 through the product is measured")
    ap.add_argument("--dev", default="", help="options whose seed dev report is measured")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-drift", action="store_true")
    args = ap.parse_args(argv)
    CACHE.mkdir(parents=True, exist_ok=True)
    export_dir = onnx_dir_for(args.index, DEFAULT_MODEL)
    meta = json.loads((export_dir / "export.json").read_text())
    fp32 = load(export_dir, meta, export_dir / "model.onnx")
    print(f"load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; "
          f"{os.cpu_count()} cores; onnxruntime {onnx_embed.runtime_version()}", flush=True)
    flags = Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0].split()
    print("CPU flags: " + " ".join(f for f in ("avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16",
                                               "amx_int8", "amx_tile") if f in flags) + " (no amx: bf16 "
          "matmul on the CPU EP has no x86 kernel; MLAS's bf16 fast-math is arm64 only)", flush=True)

    seed_texts, _ = generation_texts(args.index)
    sf_texts, sf_docs = generation_texts(scifact_index())
    rng = random.Random(17)
    pick = rng.sample(range(len(sf_texts)), 1100)
    sample, timed, calib = ([sf_texts[i] for i in pick[:500]], [sf_texts[i] for i in pick[500:800]],
                            [sf_texts[i] for i in pick[800:1056]])
    from rag.evaluate import load_qa
    questions = [q["question"] for q in load_qa()]

    paths = make_variants(export_dir / "model.onnx", CACHE / "models", calib, fp32)
    only = [n for n in args.only.split(",") if n]
    names = ["fp32"] + [n for n in paths if n != "fp32" and (not only or n in only)]
    embs = {}
    for n in names:
        try:
            embs[n] = fp32 if n == "fp32" else load(export_dir, meta, paths[n])
            embs[n].encode_queries(["warm up"])
        except Exception as exc:
            print(f"  {n}: onnxruntime cannot run it ({type(exc).__name__}: {str(exc)[:200]})", flush=True)
            embs.pop(n, None)

    if not args.skip_drift:
        drift_table(fp32, embs, seed_texts, sample, questions)

    if not args.skip_speed:
        print(f"\n## speed: {len(timed)} SciFact passages x {args.rounds} rounds, {len(questions)} questions "
              f"(load average {os.getloadavg()[0]:.2f})", flush=True)
        s = speed(embs, timed, questions, args.rounds)
        print(f"{'option':38} {'passages/s':>10} {'x fp32':>7} {'cpu x':>6} {'question ms':>11} {'x fp32':>7}")
        for n, r in s.items():
            print(f"{n:38} {r['passages_per_s']:10.1f} {r['x_fp32']:7.2f} {r['cpu_x_fp32']:6.2f} "
                  f"{r['question_ms']:11.2f} {r['question_x_fp32']:7.2f}")
        print(f"(load average at end: {os.getloadavg()[0]:.2f})", flush=True)

    shapes = [n for n in args.shapes.split(",") if n]
    if shapes:
        shaped = {f"{n} b{b} t{t}": (fp32 if (n, b, t) == ("fp32", 16, 2) else load(export_dir, meta, paths[n], b, t))
                  for n in ["fp32"] + shapes for b in (8, 16, 32) for t in (1, 2)}
        shaped = {"fp32": shaped.pop("fp32 b16 t2"), **shaped}
        print(f"\n## batch size (b) and intra-op threads (t) (load average {os.getloadavg()[0]:.2f})", flush=True)
        s = speed(shaped, timed, questions[:40], args.rounds)
        print(f"{'option':44} {'passages/s':>10} {'x fp32':>7} {'cpu x':>6} {'question ms':>11}")
        for n, r in s.items():
            print(f"{n:44} {r['passages_per_s']:10.1f} {r['x_fp32']:7.2f} {r['cpu_x_fp32']:6.2f} {r['question_ms']:11.2f}")

    chosen = [n for n in args.scifact.split(",") if n]
    if chosen:
        print("\n## SciFact dense nDCG@10 (every passage, best passage per document)", flush=True)
        corpus, queries, train = beir.load(SCIFACT, "train")
        test = beir.load(SCIFACT, "test")[2]
        print(f"{'option':38} {'train':>7} {'test':>7} {'d test':>7} {'recall@100 test':>15}")
        base = None
        for n in ["fp32"] + chosen:
            e = fp32 if n == "fp32" else load(export_dir, meta, paths[n])
            vec = index_vectors(scifact_index(), fp32, sf_texts) if n == "fp32" else cached_encode(e, n, paths[n], sf_texts)
            row = {}
            for split, qrels in (("train", train), ("test", test)):
                qids = list(qrels)
                row[split] = dense_ndcg(vec, sf_docs, e.encode_queries([queries[q] for q in qids]), qids, qrels)
            base = base or row
            print(f"{n:38} {row['train']['ndcg@10']:7.4f} {row['test']['ndcg@10']:7.4f} "
                  f"{row['test']['ndcg@10'] - base['test']['ndcg@10']:+7.4f} {row['test']['recall@100']:15.4f}",
                  flush=True)

    product = [n for n in args.product.split(",") if n]
    if product:
        print("\n## SciFact nDCG@10 through the product (rag.beir.evaluate: hybrid, sentence share; the "
              "option's encoder builds the index and encodes the questions)", flush=True)
        print(f"{'option':38} {'train':>7} {'test':>7} {'d train':>8} {'d test':>7}")
        base = None
        for n in ["fp32"] + product:
            e = fp32 if n == "fp32" else load(export_dir, meta, paths[n])
            cache = None if n == "fp32" else CACHE / f"beir-{n}"    # fp32: the default cache (already built)
            if cache is not None:
                beir.materialize(beir.load(SCIFACT)[0], cache / "docs")
            r = {split: beir.evaluate(Settings(), SCIFACT, split=split, cache=cache, embedder=e)["ndcg@10"]
                 for split in ("train", "test")}
            base = base or r
            print(f"{n:38} {r['train']:7.4f} {r['test']:7.4f} {r['train'] - base['train']:+8.4f} "
                  f"{r['test'] - base['test']:+7.4f}", flush=True)

    dev = [n for n in args.dev.split(",") if n]
    if dev:
        print("\n## seed dev report of an index built with the option", flush=True)
        seeds = ROOT / "seeds"
        base = None
        for n in ["fp32"] + dev:
            e = fp32 if n == "fp32" else load(export_dir, meta, paths[n])
            r = dev_figures(e, seeds)
            base = base or r
            same = "same as fp32" if r == base else "differs: " + ", ".join(
                f"{k} {base[k]} -> {r[k]}" for k in r if r[k] != base.get(k))
            print(f"{n:38} {json.dumps(r)}\n{'':38} {same}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
