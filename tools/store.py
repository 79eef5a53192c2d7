"""The evidence store: sentence-level chunks of arXiv abstracts in Chroma.

Layout (embedded mode)::

    $RETEST_HOME/              (default: platformdirs.user_data_dir("retest"))
      chroma/                  Chroma PersistentClient directory
      chroma.lock              file lock: one writing process at a time

Server mode: with ``url`` (or ``RETEST_CHROMA_URL``, e.g. http://127.0.0.1:8000) the store talks to
a Chroma server through ``chromadb.HttpClient``; there is no file lock (the server serialises
writes) and nothing is written under ``RETEST_HOME``.

Chunks: one per sentence of the abstract (``claims.text.split_sentences``), id
``{arxiv_id}v{version}#s{index}``, metadata ``arxiv_id``, ``version``, ``published`` (int YYYYMMDD
of ``Paper.effective_published()``, 0 if unknown), ``categories`` (comma-joined), ``sentence_index``,
``title``. The store keeps one version per paper, the highest seen: upserting a paper whose
(id, version) is present embeds nothing; a newer version replaces the older one's chunks; an older
version than the one stored is skipped.

Identity: the collection's metadata records the embedder's name and dimension and the chunking
version. Opening a collection built with another embedder or chunking raises
``StoreIdentityError`` (it never mixes vectors and never silently rebuilds); delete the collection
(``reset()``), point ``RETEST_HOME`` elsewhere or use another collection name.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from claims.dates import from_int, to_int
from claims.errors import BusyError
from claims.models import EvidenceChunk, Paper, normalize_arxiv_id
from claims.text import split_sentences
from tools.datafile import DataFileError, aside_hint

CHUNKING_VERSION = "sentences-v1"
DEFAULT_COLLECTION = "evidence"
ENV_HOME = "RETEST_HOME"
ENV_URL = "RETEST_CHROMA_URL"
_GET_BATCH = 200  # ids / papers per Chroma get
_WRITE_BATCH = 1000  # chunks per Chroma upsert


class StoreError(RuntimeError):
    """Base class for evidence-store errors."""


class StoreLockedError(StoreError, BusyError):
    """Another process holds the embedded store's write lock."""


class StoreIdentityError(StoreError):
    """The collection was built with another embedder or chunking."""


class StoreCorruptError(StoreError, DataFileError):
    """The embedded store's files cannot be read (a corrupt chroma.sqlite3 or index segment)."""


def _corrupt(location: str, exc: BaseException) -> StoreCorruptError:
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    return StoreCorruptError(location, f"the evidence store cannot be read ({type(exc).__name__}: {first}); it may be "
                             "corrupt", aside_hint(location, "the evidence is fetched and embedded again as needed"))


class _GuardedCollection:
    """A Chroma collection whose failures to read its own files name the store and what to do."""

    def __init__(self, col: Any, location: str):
        self._c = col
        self._location = location

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._c, name)
        if not callable(attr):
            return attr

        def call(*a: Any, **kw: Any) -> Any:
            from chromadb.errors import InternalError

            try:
                return attr(*a, **kw)
            except InternalError as e:
                raise _corrupt(self._location, e) from None

        return call


def default_home() -> Path:
    """``$RETEST_HOME``, else the user's data dir for retest."""
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("retest", appauthor=False))


def chunk_id(arxiv_id: str, version: int, index: int) -> str:
    return f"{arxiv_id}v{version}#s{index}"


def paper_chunks(paper: Paper) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, sentence, metadata) for each sentence of a paper's abstract."""
    pub = paper.effective_published()
    meta_base: dict[str, Any] = {
        "arxiv_id": paper.arxiv_id,
        "version": int(paper.version),
        "published": to_int(pub) if pub else 0,
        "categories": ",".join(paper.categories),
        "title": paper.title,
    }
    return [
        (chunk_id(paper.arxiv_id, paper.version, i), s, {**meta_base, "sentence_index": i})
        for i, s in enumerate(split_sentences(paper.abstract))
    ]


def _batches(seq: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _chunk_from(doc: str, meta: dict[str, Any], score: float = 0.0) -> EvidenceChunk:
    pub = int(meta.get("published") or 0)
    cats = str(meta.get("categories") or "")
    return EvidenceChunk(
        arxiv_id=str(meta["arxiv_id"]),
        version=int(meta.get("version", 1)),
        sentence_index=int(meta["sentence_index"]),
        text=doc,
        title=str(meta.get("title") or ""),
        published=from_int(pub) if pub else None,
        categories=[c for c in cats.split(",") if c],
        score=score,
    )


# One FileLock object per lock path in this process: two stores on one home in one process share it
# (the lock counts re-entries) instead of blocking each other.
_LOCKS: dict[str, Any] = {}
_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> Any:
    from filelock import FileLock

    key = str(path.resolve())
    with _LOCKS_GUARD:
        lock = _LOCKS.get(key)
        if lock is None:
            lock = FileLock(key, thread_local=False)
            _LOCKS[key] = lock
        return lock


class ChromaEvidenceStore:
    """``tools.base.EvidenceStore`` on Chroma, embedded (PersistentClient) or server (HttpClient).

    ``home``: data dir (default ``$RETEST_HOME`` or the user data dir); ``url``: a Chroma server
    (default ``$RETEST_CHROMA_URL``; when set, ``home`` is unused). In embedded mode the store holds
    ``home/chroma.lock`` from open to ``close()``; if another process holds it, opening waits up to
    ``lock_timeout`` seconds and then raises ``StoreLockedError``.
    """

    def __init__(
        self,
        home: Path | None = None,
        url: str | None = None,
        collection: str = DEFAULT_COLLECTION,
        embedder: Any = None,
        lock_timeout: float = 30.0,
        query_embedder: Any = None,
    ) -> None:
        import chromadb
        from chromadb.config import Settings

        from tools.embeddings import MiniLMEmbedder, RetestEmbeddingFunction

        self.embedder = embedder if embedder is not None else MiniLMEmbedder()
        # what query texts are embedded with (e.g. a tools.result_cache.CachedEmbedder around the same
        # model); it must give the stored vectors' model and dimension
        self.query_embedder = query_embedder if query_embedder is not None else self.embedder
        if (query_embedder is not None and (getattr(query_embedder, "name", None), getattr(query_embedder, "dim", None))
                != (self.embedder.name, self.embedder.dim)):
            raise StoreError(f"the query embedder ({query_embedder.name}, {query_embedder.dim}) is not the store's "
                             f"({self.embedder.name}, {self.embedder.dim})")
        self.collection_name = collection
        self.url = url if url is not None else (os.environ.get(ENV_URL) or None)
        self.home: Path | None = None
        self._lock: Any = None
        self._closed = False
        settings = Settings(anonymized_telemetry=False)

        if self.url:
            parsed = urlparse(self.url if "://" in self.url else f"http://{self.url}")
            if not parsed.hostname:
                raise StoreError(f"{ENV_URL}={self.url!r} is not a URL like http://127.0.0.1:8000")
            ssl = parsed.scheme == "https"
            port = parsed.port or (443 if ssl else 8000)
            self.location = f"Chroma server {parsed.scheme}://{parsed.hostname}:{port}"
            try:
                self._client = chromadb.HttpClient(
                    host=parsed.hostname, port=port, ssl=ssl, settings=settings
                )
            except Exception as exc:  # connection refused, wrong version...
                raise StoreError(f"cannot reach the {self.location}: {exc}") from exc
        else:
            self.home = Path(home).expanduser() if home is not None else default_home()
            self.home.mkdir(parents=True, exist_ok=True)
            self.location = str(self.home / "chroma")
            lock = _file_lock(self.home / "chroma.lock")
            from filelock import Timeout

            try:
                lock.acquire(timeout=lock_timeout)
            except Timeout:
                raise StoreLockedError(
                    f"another retest process is writing to {self.home}; wait for it or use a "
                    f"Chroma server via {ENV_URL} (waited {lock_timeout:g}s for {lock.lock_file})"
                ) from None
            self._lock = lock
            try:
                self._client = chromadb.PersistentClient(path=self.location, settings=settings)
            except (KeyboardInterrupt, SystemExit):
                self._release_lock()
                raise
            except BaseException as e:  # a corrupt chroma.sqlite3 (Chroma's Rust core may even panic)
                self._release_lock()
                raise _corrupt(self.location, e) from None

        try:
            self._ef = RetestEmbeddingFunction(
                embedder=self.embedder if isinstance(self.embedder, MiniLMEmbedder) else None
            )
            self._identity = {
                "retest_embedder": str(self.embedder.name),
                "retest_dim": int(self.embedder.dim),
                "retest_chunking": CHUNKING_VERSION,
            }
            self._col = self._open_collection()
            if self.home is not None:
                self._col = _GuardedCollection(self._col, self.location)
        except StoreError:
            self.close()
            raise
        except (KeyboardInterrupt, SystemExit):
            self.close()
            raise
        except BaseException as e:
            self.close()
            if self.home is None:  # server mode: the server's problem, said as it is
                raise
            raise _corrupt(self.location, e) from None

    # -- lifecycle ---------------------------------------------------------------------------------
    def _open_collection(self) -> Any:
        col = self._client.get_or_create_collection(
            name=self.collection_name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=dict(self._identity),
            embedding_function=self._ef,
        )
        have = col.metadata or {}
        diff = {k: (have.get(k), v) for k, v in self._identity.items() if have.get(k) != v}
        if diff:
            desc = "; ".join(f"{k}: stored {a!r}, this process {b!r}" for k, (a, b) in diff.items())
            raise StoreIdentityError(
                f"the evidence collection {self.collection_name!r} in {self.location} was built with a "
                f"different embedder or chunking ({desc}); its vectors cannot be mixed with new ones. "
                f"Delete it (ChromaEvidenceStore.reset()), use another RETEST_HOME or another collection name."
            )
        return col

    def _release_lock(self) -> None:
        if self._lock is not None:
            try:
                self._lock.release()
            finally:
                self._lock = None

    def close(self) -> None:
        """Release the client and (embedded mode) the write lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            client = getattr(self, "_client", None)
            if client is not None and hasattr(client, "close"):
                client.close()
        finally:
            self._release_lock()

    def __enter__(self) -> ChromaEvidenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def reset(self) -> None:
        """Delete this store's collection and create it afresh (empty) with this store's identity."""
        self._check_open()
        try:
            self._client.delete_collection(self.collection_name)
        except Exception:
            pass
        self._col = self._open_collection()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the evidence store is closed")

    # -- writing -----------------------------------------------------------------------------------
    def _stored_versions(self, arxiv_ids: Sequence[str]) -> dict[str, set[int]]:
        """arXiv id -> versions that have chunks in the store (read from each version's sentence 0)."""
        found: dict[str, set[int]] = {}
        for batch in _batches(list(arxiv_ids), _GET_BATCH):
            res = self._col.get(
                where={"$and": [{"arxiv_id": {"$in": list(batch)}}, {"sentence_index": 0}]},
                include=["metadatas"],
            )
            for meta in res.get("metadatas") or []:
                found.setdefault(str(meta["arxiv_id"]), set()).add(int(meta["version"]))
        return found

    def upsert(self, papers: Sequence[Paper]) -> int:
        """Embed and store papers' sentences; returns the number of chunks embedded (0 on a rerun)."""
        self._check_open()
        latest: dict[str, Paper] = {}
        for p in papers:
            cur = latest.get(p.arxiv_id)
            if cur is None or p.version >= cur.version:
                latest[p.arxiv_id] = p
        if not latest:
            return 0
        stored = self._stored_versions(list(latest))
        todo: list[Paper] = []
        stale: list[tuple[str, int]] = []
        for aid, p in latest.items():
            have = stored.get(aid, set())
            if have and max(have) >= p.version:
                continue  # this version (or a newer one) is already embedded
            todo.append(p)
            stale.extend((aid, v) for v in have)
        ids: list[str] = []
        docs: list[str] = []
        metas: list[dict[str, Any]] = []
        for p in todo:
            for cid, sent, meta in paper_chunks(p):
                ids.append(cid)
                docs.append(sent)
                metas.append(meta)
        if ids:
            vectors = self._embed(docs)
            for i in range(0, len(ids), _WRITE_BATCH):
                j = i + _WRITE_BATCH
                self._col.upsert(
                    ids=ids[i:j], embeddings=vectors[i:j], documents=docs[i:j], metadatas=metas[i:j]
                )
        for aid, v in stale:
            self._col.delete(where={"$and": [{"arxiv_id": aid}, {"version": v}]})
        return len(ids)

    def _embed(self, texts: Sequence[str], embedder: Any = None) -> Any:
        embedder = embedder if embedder is not None else self.embedder
        if hasattr(embedder, "embed_array"):
            return embedder.embed_array(texts)
        import numpy as np

        return np.asarray(embedder.embed(texts), dtype=np.float32)

    # -- reading -----------------------------------------------------------------------------------
    def query(
        self,
        text: str,
        *,
        k: int = 10,
        after: date | None = None,
        before: date | None = None,
        arxiv_ids: Sequence[str] | None = None,
    ) -> list[EvidenceChunk]:
        """Closest sentences, limited to v1 dates in (after, before] and to ``arxiv_ids`` if given.

        Chunks with an unknown date (published 0) never pass a date filter. Score = 1 - cosine distance.
        """
        self._check_open()
        clauses: list[dict[str, Any]] = []
        if after is not None:
            clauses.append({"published": {"$gt": to_int(after)}})
        if before is not None:
            clauses.append({"published": {"$lte": to_int(before)}})
            if after is None:
                clauses.append({"published": {"$gt": 0}})
        if arxiv_ids is not None:
            ids = sorted({normalize_arxiv_id(a) for a in arxiv_ids})
            if not ids:
                return []
            clauses.append({"arxiv_id": {"$in": ids}})
        where: dict[str, Any] | None
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        vector = self._embed([text], self.query_embedder)
        res = self._col.query(
            query_embeddings=vector,
            n_results=max(1, int(k)),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        docs = (res.get("documents") or [[]])[0]
        metas = (res.get("metadatas") or [[]])[0]
        dists = (res.get("distances") or [[]])[0]
        return [_chunk_from(d, m, 1.0 - float(dist)) for d, m, dist in zip(docs, metas, dists, strict=True)]

    def get_paper_sentences(self, arxiv_id: str) -> list[EvidenceChunk]:
        """All stored sentences of one paper, in order (empty if the paper is not stored)."""
        self._check_open()
        res = self._col.get(
            where={"arxiv_id": normalize_arxiv_id(arxiv_id)}, include=["documents", "metadatas"]
        )
        chunks = [
            _chunk_from(d, m) for d, m in zip(res["documents"] or [], res["metadatas"] or [], strict=True)
        ]
        return sorted(chunks, key=lambda c: (c.version, c.sentence_index))

    def papers(self) -> set[str]:
        """arXiv ids of the papers stored."""
        self._check_open()
        out: set[str] = set()
        n = self._col.count()
        for offset in range(0, n, 5000):
            res = self._col.get(where={"sentence_index": 0}, include=["metadatas"], limit=5000, offset=offset)
            out.update(str(m["arxiv_id"]) for m in res["metadatas"] or [])
            if not res["ids"]:
                break
        return out

    def count(self) -> int:
        """Number of chunks (sentences) stored."""
        self._check_open()
        return int(self._col.count())

    def __repr__(self) -> str:
        return f"ChromaEvidenceStore({self.location!r}, collection={self.collection_name!r})"
