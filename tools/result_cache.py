"""On-disk caches of model outputs under ``RETEST_HOME/cache/``, so a rerun with nothing new computes
nothing it already has (what a chat user pays on every follow-up question):

``cache/embeddings/``  query-side sentence vectors (claims, clauses, the link step's title + abstract
                       texts), one per text, keyed by the embedder (name, dimension, truncation length,
                       model and tokenizer files, its code) and the text. Sentence vectors of stored
                       evidence live in Chroma.
``cache/stance/``      the paper-level stance model's readings, one file per call: keyed by the model
                       (name, batch size, model and tokenizer files, the code that encodes its input)
                       and the claim text and every paper's id, title and abstract, in order.

Why per call and not per paper: the int8 stance model's output for a paper depends slightly on the
other papers in its batch (P moves by up to ~1e-3; tests/test_stance_model.py allows for it), so a
reading pieced together from per-paper entries could differ from what the model gives for the call.
Caching whole calls means a cached reading is exactly what the model gave for these very inputs; any changed input (claim, a paper's
title or abstract, the set of papers, the model file) is a different key and is computed afresh. The
embedder's vectors do not depend on their batch (checked bit for bit), so it is cached per text.

Every entry is written to a temporary file and renamed into place, so a crash never leaves half an
entry; an entry that cannot be read or does not check out (wrong key, size or checksum) is a miss.
A cache that cannot be written never fails a run. Entries are never evicted: they are small (1.6 KB a
vector, ~6 KB a claim's reading); delete ``cache/`` at any time to reclaim the space.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from claims.models import Paper
from tools.base import PaperStance
from tools.datafile import atomic_write

EMBEDDINGS_DIR = "embeddings"
STANCE_DIR = "stance"
_MEMO_MAX = 4096  # vectors kept in memory per cached embedder


def _entry(directory: Path, key: str, suffix: str) -> Path:
    return directory / key[:2] / f"{key}{suffix}"


@functools.cache
def _source_digest(module: str) -> str | None:
    try:
        mod = sys.modules.get(module) or importlib.import_module(module)
        return hashlib.sha256(Path(mod.__file__).read_bytes()).hexdigest()[:16]  # type: ignore[arg-type]
    except Exception:
        return None


def code_fingerprint(*modules: str) -> list[Any]:
    """A digest of each module's source: a change to the code that prepares a model's input (sentence
    splitting, encoding, pooling) is a new key too."""
    return [[m, _source_digest(m)] for m in modules]


def file_fingerprint(*paths: Path | str | None) -> list[Any]:
    """(name, size, mtime) of each file: a rewritten model file (retraining, reinstalling) is a new key
    (a stat, not a hash: hashing the 23 MB model would cost more than a cached rerun's judging)."""
    out: list[Any] = []
    for p in paths:
        if p is None:
            continue
        try:
            st = os.stat(p)
            out.append([Path(p).name, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([str(p), None, None])
    return out


# -- embeddings ------------------------------------------------------------------------------------

def _embedder_identity(inner: Any) -> str:
    ident: list[Any] = [str(inner.name), int(inner.dim), getattr(inner, "max_length", None)]
    from tools.embeddings import TOKENIZER_FILE, MiniLMEmbedder, model_path

    if isinstance(inner, MiniLMEmbedder):
        try:
            model_file = model_path()
        except Exception:  # the package is missing: the embedder itself will say so when it is needed
            model_file = None
        ident += [file_fingerprint(model_file, TOKENIZER_FILE), code_fingerprint("tools.embeddings")]
    else:
        ident.append(code_fingerprint(type(inner).__module__))
    return json.dumps(ident)


class CachedEmbedder:
    """An ``Embedder`` that keeps every vector it computes on disk (and the recent ones in memory).

    Meant for query-side texts, which recur on every rerun; the evidence store's own sentences are
    embedded once into Chroma and do not go through it. ``computed`` counts the texts the wrapped
    embedder was asked for, ``hits`` those served from the cache."""

    def __init__(self, inner: Any, directory: Path | str) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = int(inner.dim)
        self.directory = Path(directory)
        self._identity: str | None = None
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.computed = 0

    def _key(self, text: str) -> str:
        if self._identity is None:
            self._identity = _embedder_identity(self.inner)
        return hashlib.sha256(f"{self._identity}\0{text}".encode()).hexdigest()

    def _read(self, key: str) -> np.ndarray | None:
        try:
            raw = _entry(self.directory, key, ".vec").read_bytes()
        except OSError:
            return None
        n = self.dim * 4
        if len(raw) != n + 32 or hashlib.sha256(raw[:n]).digest() != raw[n:]:
            return None
        return np.frombuffer(raw[:n], dtype="<f4").astype(np.float32)

    def _write(self, key: str, vec: np.ndarray) -> None:
        data = np.ascontiguousarray(vec, dtype="<f4").tobytes()
        try:
            atomic_write(_entry(self.directory, key, ".vec"), data + hashlib.sha256(data).digest())
        except OSError:
            pass

    def _remember(self, key: str, vec: np.ndarray) -> None:
        with self._lock:
            self._memo[key] = vec
            self._memo.move_to_end(key)
            while len(self._memo) > _MEMO_MAX:
                self._memo.popitem(last=False)

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        todo: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            with self._lock:
                vec = self._memo.get(k)
            if vec is None and k not in todo:
                vec = self._read(k)
                if vec is not None:
                    self._remember(k, vec)
            if vec is None:
                todo.setdefault(k, []).append(i)
            else:
                out[i] = vec
                self.hits += 1
        if todo:
            first = [rows[0] for rows in todo.values()]
            inner = self.inner
            vecs = (inner.embed_array([texts[i] for i in first]) if hasattr(inner, "embed_array")
                    else np.asarray(inner.embed([texts[i] for i in first]), dtype=np.float32))
            self.computed += len(first)
            for (k, rows), vec in zip(todo.items(), vecs, strict=True):
                vec = np.asarray(vec, dtype=np.float32)
                self._write(k, vec)
                self._remember(k, vec)
                out[rows] = vec
        return out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, {str(self.directory)!r})"


# -- paper-level stance ----------------------------------------------------------------------------

def _verifier_identity(inner: Any) -> list[Any]:
    return [str(inner.name), type(inner).__name__, getattr(inner, "batch_size", None),
            file_fingerprint(getattr(inner, "model_path", None), getattr(inner, "tokenizer_path", None)),
            code_fingerprint(type(inner).__module__, "tools.verifier.paper_encoding", "claims.text")]


class CachedPaperVerifier:
    """A ``PaperVerifier`` whose readings are kept on disk, one entry per (model, claim, papers) call.

    ``name`` is the wrapped model's, so reports, judge names and thread ids are unchanged. ``calls``
    counts the calls the wrapped model answered, ``papers_read`` the papers it read, ``hits`` the calls
    served from the cache. Every other attribute is the wrapped model's."""

    def __init__(self, inner: Any, directory: Path | str) -> None:
        self.inner = inner
        self.name = inner.name
        self.directory = Path(directory)
        self.hits = 0
        self.calls = 0
        self.papers_read = 0

    def __getattr__(self, name: str) -> Any:  # only for what this class does not define
        return getattr(self.inner, name)

    def key(self, claim: str, papers: Sequence[Paper]) -> str:
        raw = json.dumps([_verifier_identity(self.inner), claim,
                          [[p.arxiv_id, p.title, p.abstract] for p in papers]], ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()

    def _read(self, key: str, n: int) -> list[PaperStance] | None:
        try:
            rec = json.loads(_entry(self.directory, key, ".json").read_text(encoding="utf-8"))
            if rec.get("key") != key or len(rec["stances"]) != n:
                return None
            return [PaperStance.model_validate(s) for s in rec["stances"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def judge_papers(self, claim: str, papers: Sequence[Paper]) -> list[PaperStance]:
        papers = list(papers)
        if not papers:
            return self.inner.judge_papers(claim, papers)
        key = self.key(claim, papers)
        cached = self._read(key, len(papers))
        if cached is not None:
            self.hits += 1
            return cached
        stances = self.inner.judge_papers(claim, papers)
        self.calls += 1
        self.papers_read += len(papers)
        rec = {"key": key, "model": self.name, "claim": claim, "papers": [p.arxiv_id for p in papers],
               "stances": [s.model_dump(mode="json") for s in stances]}
        try:
            atomic_write(_entry(self.directory, key, ".json"), json.dumps(rec, ensure_ascii=False).encode())
        except OSError:
            pass
        return stances

    def __repr__(self) -> str:
        return f"CachedPaperVerifier({self.inner!r}, {str(self.directory)!r})"
