"""Qdrant as the index store: its URL, one client per location and process, and the names the
reader (rag.store.qdrant_read) and the writer (rag.store.qdrant_write) share. With qdrant_read and
qdrant_write, the only modules that import qdrant_client.

    qdrant://HOST[:PORT]/COLLECTION          a server over HTTP (port 6333 unless given)
    qdrant+https://HOST[:PORT]/COLLECTION    the same over TLS (also: qdrant://…/COLLECTION?https=1)
    qdrant+local:PATH/COLLECTION             Qdrant's local mode in folder PATH (":memory:" for none)

COLLECTION is an alias. A full publish writes a collection COLLECTION-<generation>-<random> and then
moves the alias to it; an incremental one adds and retires points in place, each point tagged with the
generation that added it (`born`) and the one that removed it (`dead`), and moves the collection's head
point last. A reader filters every query on its own generation, so it sees one generation or the next,
never a mix (docs/RELIABILITY.md, "Serving from Qdrant"). The API key comes from
RAG_QDRANT_API_KEY (Settings.qdrant_api_key) only: never from the URL, never in a message or a repr."""
from __future__ import annotations

import atexit
import contextlib
import re
import threading
import uuid
import zlib
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from qdrant_client import QdrantClient
from qdrant_client import models as M

from ..schema import IndexNotBuilt, RagError

DENSE, SENTENCES, BM25 = "dense", "sentences", "bm25"   # the named vectors of a passage point
STORE_FORMAT = 1        # what a reader understands; a collection with a higher one is refused
_NS = uuid.UUID("6f0c3a52-4a55-4c1e-9d7e-2b0f5e1d7a10")
HEAD_ID = str(uuid.uuid5(_NS, "head"))   # {generation, collection}: written last by every publish
ALIVE = 2 ** 52     # the `dead` of a point no generation has removed (exact as a float: Range uses floats)


def manifest_id(generation: int) -> str:
    """The point holding a generation's manifest, documents and boilerplate rows (no vectors)."""
    return str(uuid.uuid5(_NS, f"manifest:{generation}"))


def point_id(sha256: str, doc_id: str, ordinal: int) -> str:
    """A passage's point: the same while its document's content is (so unchanged documents keep
    their points), another for a changed document, so readers of the old generation keep theirs."""
    return str(uuid.uuid5(_NS, f"{sha256}:{doc_id}:{ordinal}"))


def visible(generation: int) -> M.Filter:
    """The passages of one generation: added at or before it, not removed by then."""
    return M.Filter(must=[M.FieldCondition(key="born", range=M.Range(lte=generation)),
                          M.FieldCondition(key="dead", range=M.Range(gt=generation))])
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}")


TERMS_PER_SHARD = 2048   # BM25 terms per vocabulary point: a query reads one point per distinct term at most


def shard_of(term: str, shards: int) -> int:
    """Which vocabulary point holds a term (crc32: the same in every process, unlike hash())."""
    return zlib.crc32(term.encode("utf-8")) % shards


def shard_id(generation: int, shard: int) -> str:
    """A generation's vocabulary point: {term: [sparse index, document frequency]}, no vectors."""
    return str(uuid.uuid5(_NS, f"terms:{generation}:{shard}"))


@dataclass(frozen=True)
class Location:
    collection: str          # the alias readers follow
    url: str = ""            # a server: http(s)://host:port
    path: str = ""           # local mode: a folder, or ":memory:"
    shards: int | None = None      # ?shards=N: a new collection's shard_number (server default: 1)
    replicas: int | None = None    # ?replicas=N: its replication_factor (server default: 1, no copy)

    def __str__(self) -> str:
        return f"{self.url}/{self.collection}" if self.url else f"qdrant+local:{self.path}/{self.collection}"


def parse(store: str) -> Location:
    """The Location a store URL names; ValueError naming the accepted forms otherwise."""
    forms = "qdrant://HOST:PORT/COLLECTION, qdrant+https://HOST:PORT/COLLECTION or qdrant+local:PATH/COLLECTION"
    scheme, _, rest = store.partition(":")
    if scheme == "qdrant+local":
        path, _, name = rest.rpartition("/")
        loc = Location(name, path=path)
    elif scheme in ("qdrant", "qdrant+https"):
        u = urlsplit(store)
        if u.username or u.password:
            raise ValueError("put the Qdrant API key in RAG_QDRANT_API_KEY, not in the store URL")
        tls = scheme == "qdrant+https" or parse_qs(u.query).get("https", [""])[0] in ("1", "true")
        if not u.hostname:
            raise ValueError(f"the store URL has no host; write it as {forms}")
        query = parse_qs(u.query)
        counts = {k: query[k][0] for k in ("shards", "replicas") if k in query}
        if any(not v.isdigit() or int(v) < 1 for v in counts.values()):
            raise ValueError(f"shards and replicas in the store URL must be whole numbers >= 1; got {counts}")
        loc = Location(u.path.strip("/"), url=f"{'https' if tls else 'http'}://{u.hostname}:{u.port or 6333}",
                       **{k: int(v) for k, v in counts.items()})
    else:
        raise ValueError(f"not a Qdrant store URL; write it as {forms}")
    if not _NAME.fullmatch(loc.collection) or scheme == "qdrant+local" and not loc.path:
        raise ValueError(f"the store URL needs a path and a collection name (letters, digits, _ . -); write it as {forms}")
    return loc


_clients: dict[tuple, QdrantClient | _OneAtATime] = {}
_lock = threading.Lock()


@atexit.register
def _close_all() -> None:
    """Close local-mode clients before the interpreter tears down what their finalisers need."""
    for c in list(_clients.values()):
        with contextlib.suppress(Exception):
            c.close()


def client(settings) -> tuple[QdrantClient, Location]:
    """The process's client for the store of `settings` (local mode allows one per folder and process,
    so every Engine of a process shares it; a server client reuses its connections)."""
    loc = parse(settings.store)
    key = (loc.url, loc.path, settings.qdrant_api_key)
    with _lock:
        c = _clients.get(key)
        if c is None:
            with calling(loc, settings.qdrant_api_key):
                if loc.path:
                    c = _OneAtATime(QdrantClient(location=":memory:") if loc.path == ":memory:" else
                                    QdrantClient(path=loc.path))
                else:
                    c = QdrantClient(url=loc.url, api_key=settings.qdrant_api_key or None, timeout=30,
                                     check_compatibility=False)   # no version probe (and warning) at start
            _clients[key] = c
    return c, loc


class _OneAtATime:
    """Local mode is not thread-safe: a query that runs while another thread upserts into the same
    collection can meet arrays of two lengths ("operands could not be broadcast", found by the
    readers-during-rebuilds test). Its calls are taken one at a time; a server needs no such lock."""

    def __init__(self, client: QdrantClient):
        self._client, self._lock = client, threading.RLock()

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)
        return call


@contextlib.contextmanager
def calling(loc: Location, api_key: str = ""):
    """Qdrant's own errors as a RagError that says where and what to check, without the API key."""
    try:
        yield
    except RagError:
        raise
    except Exception as exc:   # noqa: BLE001 - whatever the client raised (HTTP, gRPC, local mode) is reported
        said = str(exc).replace(api_key, "***") if api_key else str(exc)
        if "already accessed" in said:
            hint = "another process has this local-mode folder open (local mode allows one); stop it, or serve from a Qdrant server"
        elif loc.path:
            hint = "qdrant-client's local mode failed: check the folder, or serve from a Qdrant server"
        else:
            hint = "check that the server runs and that the host, port, TLS (qdrant+https://) and RAG_QDRANT_API_KEY are right"
        raise RagError(f"Qdrant at {loc} failed ({type(exc).__name__}: {said[:300]}); {hint}") from None


def live(c: QdrantClient, loc: Location) -> str:
    """The collection the alias names now ("" when there is none)."""
    for a in c.get_aliases().aliases:
        if a.alias_name == loc.collection:
            return a.collection_name
    return ""


def require_live(c: QdrantClient, loc: Location) -> str:
    name = live(c, loc)
    if not name:
        raise IndexNotBuilt(f"no index in Qdrant at {loc} — run: python -m rag index --store {_shown(loc)}")
    return name


def _shown(loc: Location) -> str:
    return str(loc) if not loc.url else f"qdrant{'+https' if loc.url.startswith('https') else ''}://" \
        f"{loc.url.split('://', 1)[1]}/{loc.collection}"


def head(c: QdrantClient, collection: str) -> dict | None:
    """{generation, collection} of the head point, read through the alias or from a collection."""
    got = c.retrieve(collection, [HEAD_ID], with_payload=True)
    return got[0].payload if got else None


class Pointer:
    """The live generation's name, "<collection>@<generation>", asked of Qdrant before each query
    (one read of the head point through the alias; the local store stats CURRENT)."""

    def __init__(self, settings):
        self.settings = settings

    def name(self) -> str:
        try:
            c, loc = client(self.settings)
            with calling(loc, self.settings.qdrant_api_key):
                h = head(c, loc.collection)      # through the alias: one read
            return f"{h['collection']}@{h['generation']}" if h else ""
        except (RagError, ValueError):
            return ""     # loading then says what is wrong
