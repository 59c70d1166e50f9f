"""Encoding on a Ray cluster (`rag index --ray ADDRESS`): the only module that imports ray, and it is
imported only when a build is given a cluster.

RayEmbedder meets the Embedder protocol. Token counts and the batch plan stay on this machine, in the
local ONNX encoder; the forward passes go to a pool of ray.data actors, one per CPU of the cluster.
Each actor loads the ONNX export once, from bytes put in the object store (the workers need the
project installed, not the index folder) and checked against the graph's sha256. Workers run exactly
the batches the local encoder would (OnnxEmbedder.batches), so the vectors are the same bytes as a
local build's, and every row goes back to its own position whatever order the batches finish in.
Through Ray Client (ray://HOST:PORT), where ray.data cannot run in this process, the same job runs as
a task on the cluster.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray

from ..config import Settings
from ..schema import RagError
from . import onnx
from .protocol import onnx_dir_for
from .ray_errors import check_address, explain, transient

# Texts per map_batches call (32 batches of 16). Ray costs about 24 ms per call (21 in the issue's
# pre-study; docs/BENCHMARKS.md, "Encoding on a Ray cluster") and 512 texts take about 10 s on one CPU,
# so that is 0.2%, while a block of 65,536 answer sentences still makes 128 calls to spread over the workers.
TEXTS_PER_CALL = 512
RETRIES = 3           # restarts of a worker that dies, and retries of its calls; then the build fails
START_SECONDS = 600   # for the first worker to start (a busy cluster); then the build fails
log = logging.getLogger("rag")


@dataclass(frozen=True)
class RayRun:
    """What one encode_passages call did on the cluster (for tests and the benchmark)."""
    texts: int
    calls: int
    workers: int
    nodes: tuple[str, ...]   # the nodes whose workers sent vectors back
    seconds: float


class RayEmbedder:
    """The local ONNX encoder's Embedder, with encode_passages fanned out to a Ray cluster. `workers`
    fixes the pool size (default: one actor per CPU of the cluster, starting as soon as one is up)."""

    backend = "onnx"   # the same export runs on the workers; the manifest records it as for a local build

    def __init__(self, local: onnx.OnnxEmbedder, address: str, onnx_dir: Path, *,
                 texts_per_call: int = TEXTS_PER_CALL, workers: int | None = None):
        if not isinstance(local, onnx.OnnxEmbedder) or local.backend != "onnx":
            raise RagError("--ray encodes with the ONNX export, and this build would use sentence-transformers: "
                           "run `rag index` once without --ray (it exports the model), or drop --backend torch")
        self.local, self.address, self.onnx_dir = local, address, Path(onnx_dir)
        self.name, self.dim, self.max_tokens = local.name, local.dim, local.max_tokens
        self.counts_add_up, self.fingerprint, self.encoder = local.counts_add_up, local.fingerprint, local.encoder
        self.texts_per_call, self.workers = texts_per_call, workers
        self.runs: list[RayRun] = []
        self._export = None      # the export's files in the object store, put once
        self._connected = False

    def count_tokens(self, text: str) -> int:
        return self.local.count_tokens(text)

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        return self.local.count_tokens_batch(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.local.encode_queries(texts)

    def encode_passages(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), dim) unit float32 rows, equal to the local encoder's; `progress(n)` as batches return."""
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        t0 = time.perf_counter()
        plan = [{"rows": rows, "texts": [texts[i] for i in rows]} for rows, _ in self.local.batches(texts)]
        try:
            self._connect()
            job = {"plan": plan, "n": len(texts), "dim": self.dim, "per_call": self._per_call(len(plan)),
                   "workers": self._size(), "fixed": bool(self.workers),
                   "worker": {"export": self._export, "model": self.name, "encoder": self.encoder,
                              "fingerprint": self.fingerprint}}
            if self.address.startswith("ray://"):   # Ray Client: ray.data runs only in a driver on the cluster
                out, done, nodes = ray.get(ray.remote(num_cpus=0)(_encode_plan).remote(**job))
                if progress:
                    progress(len(texts))
            else:
                out, done, nodes = _encode_plan(**job, progress=progress)
        except RagError:
            raise
        except Exception as exc:   # ray's errors have no common base short of Exception
            raise explain(exc, self.address, ray.__version__) from exc
        if not done.all():
            raise RagError(f"the Ray cluster at {self.address} returned {int(done.sum())} of {len(texts)} vectors; "
                           "the published index is unchanged. Run the build again")
        run = RayRun(len(texts), -(-len(plan) // job["per_call"]), job["workers"], nodes, time.perf_counter() - t0)
        self.runs.append(run)
        log.info("encoded %d texts in %d calls on Ray (%d workers, %d nodes) in %.1f s",
                 run.texts, run.calls, run.workers, len(run.nodes), run.seconds)
        return out

    def _per_call(self, batches: int) -> int:
        """Batches per map_batches call: TEXTS_PER_CALL's worth, fewer when that would leave a worker
        without two calls (a small encode still spreads over the cluster)."""
        most = max(1, self.texts_per_call // self.local.batch_size)
        return max(1, min(most, -(-batches // (2 * self._size()))))

    def close(self) -> None:
        """Disconnect from the cluster (its workers end with this driver's job)."""
        if self._connected:
            ray.shutdown()
        self._connected, self._export = False, None

    def _connect(self) -> None:
        if self._export is not None:
            return
        if not ray.is_initialized():   # else this process is already a driver of a cluster: use it
            for attempt in (1, 2, 3):
                try:
                    ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False)
                    break
                except (ConnectionError, RuntimeError, ValueError, AssertionError) as exc:
                    with contextlib.suppress(Exception):   # a failed init leaves state that breaks the next one
                        ray.shutdown()
                    if attempt < 3 and transient(exc):
                        time.sleep(attempt)
                        continue
                    raise explain(exc, self.address, ray.__version__) from None
            self._connected = True
        self._export = ray.put(_export_files(self.onnx_dir, self.encoder, self.fingerprint))

    def _size(self) -> int:
        return self.workers or max(1, int(ray.cluster_resources().get("CPU", 0)))


def _encode_plan(plan: list[dict], n: int, dim: int, per_call: int, workers: int, fixed: bool, worker: dict,
                 progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The ray.data job, run by a driver on the cluster: the plan's batches, `per_call` to a map_batches
    call, encoded by a pool of `workers` _Worker actors. Returns the (n, dim) vectors in place, which
    rows came back, and the nodes that sent them."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = ctx.print_on_execution_start = False
    ctx.max_consecutive_actor_init_deaths = RETRIES   # a worker killed while loading is replaced
    ctx.wait_for_min_actors_s = START_SECONDS
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)   # "Progress bars disabled"
    # Two calls in flight per worker (ray.data's default is 4): the worker that starts first does not
    # queue up the others' share of a small encode. The pool starts as soon as one worker is up.
    pool = (ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=2) if fixed else
            ray.data.ActorPoolStrategy(min_size=1, max_size=workers, initial_size=workers, max_tasks_in_flight_per_actor=2))
    with warnings.catch_warnings():   # ray_remote_args_fn: deprecated in 2.60, with no named successor yet
        warnings.simplefilter("ignore", DeprecationWarning)
        ds = ray.data.from_items(plan).map_batches(_Worker, batch_size=per_call, batch_format="numpy", compute=pool,
                                                   num_cpus=1, fn_constructor_kwargs=worker, ray_remote_args_fn=_retries)
    out, done, nodes = np.empty((n, dim), dtype=np.float32), np.zeros(n, dtype=bool), set()
    for got in ds.iter_batches(batch_size=None, batch_format="numpy"):
        out[got["pos"]], done[got["pos"]] = got["vec"], True
        nodes.update(str(x) for x in got["node"])
        if progress:
            progress(len(got["pos"]))
    return out, done, tuple(sorted(nodes))


class Encoders:
    """A build's embedder maker for a cluster, as a context (Engine.build): the address is checked on
    entry; the local encoder (which `get_local` exports first when needed) is wrapped once, on first
    use, so an unchanged corpus never connects; leaving disconnects."""

    def __init__(self, address: str, get_local: Callable, settings: Settings):
        check_address(address)
        self.address, self.get_local, self.settings = address, get_local, settings
        self.embedder: RayEmbedder | None = None

    def __enter__(self) -> Callable[[], RayEmbedder]:
        return self.get

    def __exit__(self, *exc) -> None:
        if self.embedder is not None:
            self.embedder.close()

    def get(self) -> RayEmbedder:
        if self.embedder is None:
            self.embedder = RayEmbedder(self.get_local(), self.address,
                                        onnx_dir_for(self.settings.index_dir, self.settings.model))
        return self.embedder


def _retries() -> dict:
    """The workers' fault tolerance: ray.data's default retries a crashing call for ever, which would
    hang a build on a batch that always kills its worker (out of memory, say)."""
    return {"max_restarts": RETRIES, "max_task_retries": RETRIES}


def _export_files(onnx_dir: Path, encoder: str, fingerprint: str) -> dict[str, bytes]:
    """export.json and the encoder's files, as bytes; refused when the graph is not the local encoder's."""
    from ..files import file_sha256
    graph = onnx.ENCODER_FILES[encoder]
    if not onnx.verify_files(onnx_dir, encoder) or file_sha256(onnx_dir / graph) != fingerprint:
        raise RagError(f"the ONNX export in {onnx_dir} changed during the build; run the build again")
    return {f: (onnx_dir / f).read_bytes() for f in ("export.json", *onnx.encoder_files(encoder))}


def _private_dir() -> Path:
    """A new temporary folder named by this process, for the export's files while they load. Folders
    left by workers that died while loading (their pid is gone) are removed first: 90 MB each."""
    for old in Path(tempfile.gettempdir()).glob("rag-export-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"rag-export-{os.getpid()}-"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process: alive
        pass
    return True


class _Worker:
    """A ray.data actor: loads the export once (written to a private temporary folder, verified against
    its hashes and the build's fingerprint, then deleted), then encodes whole batches of the plan."""

    def __init__(self, export, model: str, encoder: str, fingerprint: str):
        files = ray.get(export)
        where = _private_dir()
        try:
            for name, data in files.items():
                (where / name).write_bytes(data)
            self.emb = onnx.try_load(where, model, encoder, threads=1)   # one CPU per actor; same bytes as 2 threads
        finally:
            shutil.rmtree(where, ignore_errors=True)
        if self.emb is None or self.emb.fingerprint != fingerprint:
            raise RuntimeError(f"the ONNX export sent to worker pid {os.getpid()} does not verify")
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict) -> dict:
        pos = [np.asarray(rows, dtype=np.int64) for rows in batch["rows"]]
        vecs = [self.emb.encode_batch([str(t) for t in texts]) for texts in batch["texts"]]
        n = sum(len(p) for p in pos)
        return {"pos": np.concatenate(pos), "vec": np.concatenate(vecs), "node": np.array([self.node] * n)}
