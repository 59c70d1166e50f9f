"""Settings: every tunable of the pipeline, and the one place that reads the environment."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_DOCS = Path("documents")   # created on first use as a copy of seeds/, which stays untouched
MODES = ("hybrid", "dense", "keyword")
FUSIONS = ("rrf", "convex", "bounded", "adaptive")
BACKENDS = ("auto", "onnx", "torch")
CONTEXTS = ("none", "lead", "title", "section")
READERS = ("extractive", "llm")
# Where the index is served from (Settings.store): "local", or a URL with one of these schemes
# (rag.store.qdrant: qdrant://HOST:PORT/COLLECTION, qdrant+https://…, qdrant+local:PATH/COLLECTION).
STORE_SCHEMES = ("qdrant", "qdrant+https", "qdrant+local")


@dataclass(frozen=True)
class Settings:
    docs_dir: Path = DEFAULT_DOCS      # the documents folder: the source of truth for the index
    seed_dir: Path = Path("seeds")     # the default corpus, copied into DEFAULT_DOCS when it is missing
    index_dir: Path = Path("index")
    # "local" (the index folder) or a Qdrant URL (RAG_STORE, --store); with Qdrant the index folder
    # is the builder's staging area. The key comes from RAG_QDRANT_API_KEY only and is never shown.
    store: str = "local"
    qdrant_api_key: str = field(default="", repr=False)
    model: str = DEFAULT_MODEL
    backend: str = "auto"          # auto: ONNX export when present and verified, else sentence-transformers
    encoder: str = "fp32"          # "int8": quantised ONNX graph, 1.6x faster, opt-in (rag/embed/onnx.py ENCODER_FILES)
    k: int = 5
    mode: str = "hybrid"
    # Fusion of dense and BM25 rankings; chosen by measurement, see docs/BENCHMARKS.md. "adaptive" is
    # "bounded" with less keyword weight for a question whose terms say little (rag.retrieve.adaptive):
    # not the default, since it gave 0.7276 on SciFact test against bounded's 0.7311 (target 0.73).
    fusion: str = "bounded"
    rrf_k: int = 60
    keyword_floor: float = 3.0     # adaptive fusion: rare-term units below which keyword weight shrinks
    dense_weight: float = 0.6      # adaptive/bounded/convex fusion: weight of the dense score
    candidates: int = 100          # hits taken from each retriever before fusion (1000: +0.003 on SciFact train, noise)
    # Share of a passage's dense score taken by its best sentence's cosine (the answer vectors): a
    # claim or question often matches one sentence of a long passage. Chosen on SciFact train and
    # the seed dev set (docs/BENCHMARKS.md); 0 turns it off.
    sentence_share: float = 0.2
    # BM25 (bm25s) and what the dense model sees; both are recorded in the manifest
    stopwords: str = "en"
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    # What is indexed besides a passage's own text (dense and BM25 alike): "lead" puts the document
    # title before its first passage, "title" before every passage, "section" puts the heading.
    context: str = "lead"
    answer_vectors: bool = True    # embed every sentence at build time, for answers and sentence_share
    # From how many passages the large-index engines take over (docs/BENCHMARKS.md, "Scale"): an HNSW
    # graph instead of exact search, tantivy instead of bm25s. Lower them to run those engines on a
    # small corpus (tests, benchmarks).
    hnsw_min_rows: int = 50_000
    tantivy_min_rows: int = 500_000    # rag.lexical.TANTIVY_MIN_ROWS: updates stay within seconds
    # An update (a re-index after documents were added, changed or removed) is written over the
    # current generation (rag.store.delta_write: new rows beside it, removed ones masked) while the
    # rows it added and removed stay within this share of the base's rows; past it, or with
    # `rag index --compact`, the index is written anew (docs/BENCHMARKS.md, "Incremental updates").
    compact_share: float = 0.1
    update_min_rows: int = 10_000   # below this a whole write takes ~2 s or less, and is always made
    # Answers
    answer_sentences: int = 3
    min_sentence_score: float = 0.65   # abstain below this sentence score (answer.py); see BENCHMARKS.md
    max_question_chars: int = 2000
    # Documents
    max_file_bytes: int = 20_000_000   # per file, also the app's upload limit
    max_pages: int = 2000              # per PDF
    parse_seconds: float = 60.0        # per PDF parse (a child process, stopped when over)
    batch_size: int = 64
    # LLM reader (rag/llm/): off unless reader="llm". The question and the top
    # passages are sent to llm_url, any OpenAI-compatible server; the key comes from RAG_LLM_API_KEY
    # only and is never shown (repr=False), logged or stored.
    reader: str = "extractive"
    llm_url: str = "http://127.0.0.1:8080/v1"
    llm_model: str = ""                # "" lets a one-model server (llama.cpp) use its model
    llm_timeout: float = 30.0          # seconds for the whole generated answer
    llm_api_key: str = field(default="", repr=False)
    # Serving (rag serve, rag mcp, the app when shared): localhost unless host says otherwise. Changing
    # documents over a network needs api_token (RAG_API_TOKEN): without one those endpoints are off.
    api_token: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    max_request_bytes: int = 64_000    # a JSON request body (question, filters); uploads: max_file_bytes

    def __post_init__(self) -> None:
        _check_choice("mode", self.mode, MODES)
        _check_choice("fusion", self.fusion, FUSIONS)
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("encoder", self.encoder, ("fp32", "int8"))
        _check_choice("context", self.context, CONTEXTS)
        _check_choice("stopwords", self.stopwords, ("en", "en_plus", "none"))
        if self.store != "local" and self.store.split(":", 1)[0] not in STORE_SCHEMES:
            raise ValueError(f"store must be local or a URL starting {', '.join(s + ':' for s in STORE_SCHEMES)} "
                             f"(e.g. qdrant://localhost:6333/rag); got {self.store.split('@')[-1]!r} (RAG_STORE)")
        if not 0.0 <= self.sentence_share <= 1.0:
            raise ValueError(f"sentence_share must be between 0 and 1, got {self.sentence_share}")
        if self.hnsw_min_rows < 1 or self.tantivy_min_rows < 1:
            raise ValueError("hnsw_min_rows and tantivy_min_rows must be at least 1 "
                             "(RAG_HNSW_MIN_ROWS, RAG_TANTIVY_MIN_ROWS)")
        if not 0.0 <= self.compact_share <= 1.0:
            raise ValueError(f"compact_share must be between 0 and 1, got {self.compact_share} (RAG_COMPACT_SHARE)")
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        _check_choice("reader", self.reader, READERS)
        if not self.llm_url.startswith(("http://", "https://")):
            raise ValueError(f"llm_url must start with http:// or https://, got {self.llm_url!r} (RAG_LLM_URL)")
        if not self.llm_timeout > 0:
            raise ValueError(f"llm_timeout must be a positive number of seconds, got {self.llm_timeout}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        """Settings from RAG_* variables (e.g. RAG_DOCS, RAG_INDEX, RAG_MODEL), then overrides."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get(_ENV_NAMES.get(f.name, "RAG_" + f.name.upper()))
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**{k: _coerce(k, v) if isinstance(v, str) else v for k, v in values.items()})

    def with_(self, **changes) -> "Settings":
        """A copy with the given fields replaced (None means: keep)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV_NAMES = {"docs_dir": "RAG_DOCS", "index_dir": "RAG_INDEX"}
_TYPES = {f.name: f.type for f in fields(Settings)}


def _coerce(name: str, raw):
    kind = _TYPES[name]
    if not isinstance(raw, str):
        return raw
    try:
        if kind == "Path":
            return Path(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError
            return raw.lower() in ("1", "true", "yes")
    except ValueError:
        raise ValueError(f"setting {name} must be a {kind}, got {raw!r}") from None
    return raw


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
