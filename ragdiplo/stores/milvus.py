"""The Milvus vector store: passage vectors and their metadata in a Milvus collection.

The same pymilvus code talks to Milvus Lite (a local ``.db`` file), a standalone
server and a cluster, so an archive too large for one machine's FAISS file can
live on an existing distributed engine. pymilvus is imported only here and only
when a Milvus store is used (``pip install 'ragdiplo[milvus]'``).

Each collection row is one passage: a primary key derived from its content
(document id, offsets, SHA-256 of the text), the vector, and the document id,
offsets and text, so another machine can read what a row stands for from the
collection alone. Row ``i`` of the store is passage ``i`` of the index: the
store keeps the keys in index order and maps search hits back to rows.

Updates are exact and incremental: ``sync`` inserts only the keys the
collection lacks, the manifest then switches to the new generation, and
``prune`` deletes the keys no longer used. The index uses a ``FLAT`` index
with inner product, so search is exact like ``FaissStore``; the lexical side
stays ragdiplo's own BM25 (see the README).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ragdiplo.errors import ConfigError, IndexMismatchError, StoreUnreachableError
from ragdiplo.stores.faiss_store import SERVER_SCHEMES, StoreConfig, Subset
from ragdiplo.stores.rowfile import Vectors
from ragdiplo.types import Passage

BATCH = 1000  # rows per insert request; well under Milvus's message size limit
MAX_TEXT_BYTES = 65535  # Milvus VARCHAR limit
MAX_DOC_ID_BYTES = 4096
MAX_SEARCH_LIMIT = 16384  # Milvus's largest top-k


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        install = "pymilvus and milvus-lite: pip install 'ragdiplo[milvus]'"
        raise ConfigError(f"a Milvus store (StoreKind.MILVUS) needs {install}",
                          cli_message=f"--store milvus needs {install}") from None
    return pymilvus


def passage_key(passage: Passage) -> str:
    """Stable primary key: the same passage of the same document always has the same key."""
    text_sha = hashlib.sha256(passage.text.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{passage.doc_id}\0{passage.start}\0{passage.end}\0{text_sha}".encode()).hexdigest()


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes without splitting a character;
    the offsets, not this copy, are what citations use."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", errors="ignore")


_clients: dict[str, Any] = {}


def subset_filter(subset: Subset | None) -> str:
    """The Milvus boolean expression keeping ``subset``'s documents ("" keeps all):
    ``doc_id in [...]``, or ``not in`` the others when that list is shorter."""
    if subset is None:
        return ""
    inside = len(subset.doc_ids) <= len(subset.other_doc_ids)
    ids = subset.doc_ids if inside else subset.other_doc_ids
    if not ids:
        return "" if not inside else 'doc_id in [""]'  # an empty id never exists: nothing matches
    quoted = ", ".join(json.dumps(i, ensure_ascii=False) for i in ids)
    return f"doc_id {'in' if inside else 'not in'} [{quoted}]"


def is_lite(uri: str) -> bool:
    return not uri.startswith(SERVER_SCHEMES)


class _Kept(logging.Handler):
    """Keeps what Milvus Lite logs while it starts (a traceback when it cannot)
    for the one-line error, instead of letting it reach stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        cause = record.exc_info[1] if record.exc_info else None
        self.messages.append(f"{type(cause).__name__}: {cause}" if cause else record.getMessage())


_NOISE = ("pymilvus", "grpc")  # a warning each query_iterator, a traceback for a call Lite does not implement


@contextmanager
def _quiet() -> Iterator[_Kept]:
    """While pymilvus runs: Milvus Lite's messages kept for the error, and
    pymilvus's and gRPC's own log lines off, so only ragdiplo's one line is shown."""
    lite, kept = logging.getLogger("milvus_lite"), _Kept()
    names = [n for n in logging.Logger.manager.loggerDict if n.split(".")[0] in _NOISE]
    noise = [logging.getLogger(name) for name in {*_NOISE, *names}]  # ``disabled`` does not pass to children
    saved = lite.propagate, [n.disabled for n in noise]
    lite.addHandler(kept)
    lite.propagate = False
    for n in noise:
        n.disabled = True
    try:
        yield kept
    finally:
        lite.removeHandler(kept)
        lite.propagate = saved[0]
        for n, disabled in zip(noise, saved[1]):
            n.disabled = disabled


def _client(uri: str) -> Any:
    """One client per URI in a process: Milvus Lite runs one local server per file."""
    if uri not in _clients:
        with _quiet() as kept:
            try:
                _clients[uri] = _pymilvus().MilvusClient(uri)
            except Exception as err:  # pymilvus raises its own types, or OSError/RuntimeError from Lite
                why = "; ".join([f"{type(err).__name__}: {err}", *kept.messages])
                raise StoreUnreachableError(
                    f"cannot connect to Milvus at {uri!r} ({why}); nothing was changed; check the address, "
                    "and for a Milvus Lite file that no other process has it open (Lite serves one process)"
                ) from None
    return _clients[uri]


def close_clients() -> None:
    """Close every client this process opened; Milvus Lite also stops its local
    server and releases its file lock, so another process may open the file."""
    while _clients:
        uri, client = _clients.popitem()
        client.close()
        if is_lite(uri):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)


@contextmanager
def _errors(config: StoreConfig) -> Iterator[None]:
    """pymilvus failures (server down, collection dropped mid-way...) as one-line errors."""
    try:
        with _quiet():
            yield
    except _pymilvus().MilvusException as err:
        what = f"Milvus at {config.uri!r}: {err}; nothing was changed; check the server is up and"
        raise StoreUnreachableError(f"{what} StoreConfig(uri=...)", cli_message=f"{what} --milvus-uri") from None


class MilvusStore:
    """Row-ordered view of a Milvus collection (see the module docstring)."""

    kind = "milvus"

    def __init__(self, config: StoreConfig, dim: int, keys: Sequence[str]) -> None:
        self.config = config
        self._dim = dim
        self._keys = list(keys)
        self._rows = {k: i for i, k in enumerate(self._keys)}
        self._stale: list[str] = []
        self._client = _client(str(config.uri))

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def _name(self) -> str:
        return self.config.collection_name

    def count(self) -> int:
        return len(self._keys)

    def __len__(self) -> int:
        return self.count()

    def collection_count(self) -> int:
        """Rows in the collection (exact, unlike the statistics, which count deleted rows until compaction)."""
        return int(self._client.query(self._name, filter="", output_fields=["count(*)"])[0]["count(*)"])

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def connect(cls, config: StoreConfig, dim: int, passages: Sequence[Passage], verify: bool = True) -> MilvusStore:
        """Reconnect to the collection an index manifest names and check it holds the
        index's passages (with ``verify`` key by key, else by count). Extra rows, left
        by an update still running or killed before ``prune``, are ignored."""
        if is_lite(str(config.uri)) and not Path(str(config.uri)).exists():
            missing_file = f"the Milvus Lite store {config.uri!r} is missing"  # reading creates nothing
            raise StoreUnreachableError(
                f"{missing_file}; pass where it is now as store=StoreConfig(StoreKind.MILVUS, uri=...), "
                "or rebuild the index with that store",
                cli_message=f"{missing_file}; pass --milvus-uri with where it is now, or re-index with --store milvus",
            )
        store = cls(config, dim, [passage_key(p) for p in passages])
        remedy = (f"rebuild the index with save_index(..., store=StoreConfig(StoreKind.MILVUS, {config.uri!r}))",
                  f"re-index with `ragdiplo index CORPUS --index DIR --store milvus --milvus-uri {config.uri}`")
        with _errors(config):
            if not store._client.has_collection(store._name):
                what = f"Milvus at {config.uri} has no collection {store._name!r}"
                raise IndexMismatchError(f"{what}; {remedy[0]}", cli_message=f"{what}; {remedy[1]}")
            store._check_dim(*remedy)
            store._client.load_collection(store._name)
            missing = max(0, len(passages) - store.collection_count())
            if verify and not missing:
                missing = len(store._keys) - store._present(store._keys)
        if missing > 0:
            what = (f"Milvus collection {store._name!r} at {config.uri} lacks {missing} of the index's "
                    f"{len(passages)} passages: it was changed outside this index")
            raise IndexMismatchError(f"{what}; {remedy[0]}", cli_message=f"{what}; {remedy[1]}")
        return store

    @classmethod
    def sync(
        cls, config: StoreConfig, vectors: Vectors, passages: Sequence[Passage], *, show_progress: bool = False
    ) -> MilvusStore:
        """Make the collection hold every passage (inserting only missing keys), creating
        it when absent; keys no longer used stay until ``prune``, so readers of the
        previous manifest keep working until it is replaced."""
        if not config.uri:
            where = "(a .db file for Milvus Lite, or http://host:19530)"
            raise ConfigError(f"a Milvus store needs its address: StoreConfig(StoreKind.MILVUS, uri=...) {where}",
                              cli_message=f"--store milvus needs --milvus-uri {where}")
        store = cls(config, int(vectors.shape[1]), [])
        wanted = [passage_key(p) for p in passages]
        with _errors(config):
            store._ensure_collection()
            existing = set(store._all_keys())
            todo = [i for i, k in enumerate(wanted) if k not in existing]
            store._insert([wanted[i] for i in todo], vectors[todo], [passages[i] for i in todo], show_progress)
        store._keys, store._rows = wanted, {k: i for i, k in enumerate(wanted)}
        store._stale = sorted(existing - set(wanted))
        return store

    def prune(self) -> int:
        """Delete the rows ``sync`` left for older readers; returns how many."""
        stale, self._stale = self._stale, []
        for i in range(0, len(stale), BATCH):
            self._client.delete(self._name, ids=stale[i : i + BATCH])
        return len(stale)

    def _ensure_collection(self) -> None:
        if self._client.has_collection(self._name):
            self._check_dim(f"use another StoreConfig(collection=...), or drop {self._name!r}",
                            f"use another --milvus-collection, or drop {self._name!r}")
            self._client.load_collection(self._name)
            return
        DataType = _pymilvus().DataType
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._dim)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        params = self._client.prepare_index_params()
        params.add_index("vector", index_type="FLAT", metric_type="IP")  # exact, like faiss.IndexFlatIP
        self._client.create_collection(self._name, schema=schema, index_params=params, consistency_level="Strong")

    def _check_dim(self, remedy: str, cli_remedy: str) -> None:
        fields = self._client.describe_collection(self._name)["fields"]
        dims = [int(f["params"]["dim"]) for f in fields if f["name"] == "vector"]
        if dims != [self._dim]:
            what = (f"Milvus collection {self._name!r} at {self.config.uri} has vector dimension "
                    f"{dims[0] if dims else 'none'}, not {self._dim}")
            raise IndexMismatchError(f"{what}; {remedy}", cli_message=f"{what}; {cli_remedy}")

    def _all_keys(self) -> Iterable[str]:
        iterator = self._client.query_iterator(self._name, batch_size=BATCH, filter="", output_fields=["pk"])
        try:
            while batch := iterator.next():
                yield from (row["pk"] for row in batch)
        finally:
            iterator.close()

    def _present(self, keys: Sequence[str]) -> int:
        """How many of ``keys`` the collection holds."""
        found = 0
        for lo in range(0, len(keys), BATCH):
            found += len(self._client.get(self._name, ids=list(keys[lo : lo + BATCH]), output_fields=["pk"]))
        return found

    def _insert(self, keys: list[str], vectors: np.ndarray, passages: Sequence[Passage], show_progress: bool) -> None:
        from tqdm import tqdm

        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self._dim)
        with tqdm(total=len(keys), desc="milvus insert", unit="passage", disable=not show_progress) as bar:
            for lo in range(0, len(keys), BATCH):
                rows = [
                    {"pk": k, "vector": v.tolist(), "doc_id": p.doc_id, "start": p.start, "end": p.end,
                     "text": _clip(p.text, MAX_TEXT_BYTES)}
                    for k, v, p in zip(keys[lo : lo + BATCH], vectors[lo : lo + BATCH], passages[lo : lo + BATCH])
                ]  # fmt: skip
                self._client.insert(self._name, rows)
                bar.update(len(rows))

    # -- the VectorStore interface ------------------------------------------------------------

    def add(self, vectors: np.ndarray, passages: Sequence[Passage] | None = None) -> None:
        if passages is None or len(passages) != len(vectors):
            raise ValueError("a Milvus store needs the passage of every vector it adds")
        keys = [passage_key(p) for p in passages]
        if any(k in self._rows for k in keys) or len(set(keys)) != len(keys):
            raise ValueError("a passage is already in the store")
        self._insert(keys, vectors, passages, show_progress=False)
        self._rows.update({k: len(self._keys) + i for i, k in enumerate(keys)})
        self._keys.extend(keys)

    def delete(self, rows: Sequence[int]) -> None:
        ids = sorted({int(r) for r in rows})
        if ids and (ids[0] < 0 or ids[-1] >= self.count()):
            raise IndexError(f"rows must lie in [0, {self.count()})")
        self._stale = [self._keys[i] for i in ids]
        self.prune()
        gone = set(ids)
        self._keys = [k for i, k in enumerate(self._keys) if i not in gone]
        self._rows = {k: i for i, k in enumerate(self._keys)}

    def search(self, queries: np.ndarray, k: int, subset: Subset | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows of keys this index does not know (another generation's: a writer
        mid-update, or one killed before ``prune``) are skipped, and the search asked
        again for more hits until ``k`` known rows are found, so they never take a
        known row's place; missing places are row -1, as with FAISS. A ``subset``
        becomes a Milvus filter expression on ``doc_id``, applied inside the search."""
        k = max(1, min(k, self.count()))
        expr = subset_filter(subset)
        queries = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, self._dim)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), k), -1, dtype=np.int64)
        limit, todo = k, list(range(len(queries)))
        while todo:
            results = self._client.search(self._name, data=queries[todo].tolist(), limit=limit, output_fields=["pk"],
                                          search_params={"metric_type": "IP"}, filter=expr)  # fmt: skip
            short = []
            for q, hits in zip(todo, results):
                found = sorted((-float(h["distance"]), self._rows[h["pk"]]) for h in hits if h["pk"] in self._rows)
                for j, (neg, row) in enumerate(found[:k]):
                    scores[q, j], rows[q, j] = -neg, row
                if len(found) < k and len(hits) == limit:  # unknown rows took places: more exist
                    short.append(q)
            if not short or limit >= MAX_SEARCH_LIMIT:
                break
            todo, limit = short, min(limit * 4, MAX_SEARCH_LIMIT)
        return scores, rows

    def save(self, path: Path) -> None:
        """The collection is the stored form; nothing is written to ``path``."""
        self._client.flush(self._name)
