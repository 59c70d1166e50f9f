"""Which store serves the index (Settings.store): "local", the generations in the index folder, or a
Qdrant collection ("qdrant://HOST:PORT/COLLECTION", "qdrant+https://…", "qdrant+local:PATH/COLLECTION").
With Qdrant the index folder is the builder's staging area: a build writes a local generation there
(re-embedding only what changed, as always) and then publishes it to Qdrant (rag.store.qdrant_write).
qdrant_client is imported only when a Qdrant store is chosen."""
from __future__ import annotations

from ..config import Settings
from . import layout
from .snapshot import Snapshot


def is_local(settings: Settings) -> bool:
    return settings.store == "local"


def pointer(settings: Settings):
    """What names the live generation, read before every query (.name(): "" when there is none)."""
    if is_local(settings):
        return layout.Pointer(settings.index_dir)
    from . import qdrant
    return qdrant.Pointer(settings)


def load(settings: Settings):
    """The live generation, loaded and checked (a rag.store.interface.Store)."""
    if is_local(settings):
        return Snapshot.load(settings.index_dir, settings.model)
    from . import qdrant_read
    return qdrant_read.QdrantSnapshot.load(settings)


def staged(settings: Settings, loaded) -> Snapshot:
    """The local generation a build reuses: the loaded one, or the builder's index folder."""
    return loaded() if is_local(settings) else Snapshot.load(settings.index_dir, settings.model)


def publish(settings: Settings, *, fresh: bool = False) -> str:
    """Make the index folder's live generation the store's (nothing to do for the local store);
    returns the name readers now see. `fresh`: rewrite it whole (a rebuild), not only what changed."""
    if is_local(settings):
        return layout.read_current(settings.index_dir)
    from . import qdrant_write
    return qdrant_write.publish(settings, Snapshot.load(settings.index_dir, settings.model), fresh=fresh)


def where(settings: Settings) -> str:
    """The store's location for people (a Qdrant URL never carries the API key)."""
    return str(settings.index_dir) if is_local(settings) else settings.store
