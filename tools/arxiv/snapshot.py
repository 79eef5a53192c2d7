"""The offline arXiv snapshot: JSON lines (optionally gzipped) indexed once into SQLite FTS5.

Two line shapes are read:

* retest's own records (``tools/arxiv/data/papers.jsonl``): ``id``, ``title``, ``authors`` (list),
  ``abstract``, ``published`` (v1 date ``YYYY-MM-DD`` or null), ``updated``, ``primary_category``,
  ``categories`` (list), optional ``versions`` ({"v1": "YYYY-MM-DD", ...}) and provenance fields;
* the public arXiv metadata dump: ``id``, ``authors`` (one string), ``title``, ``categories``
  (space-separated), ``abstract``, ``versions`` ([{"version": "v1", "created": RFC 2822}, ...]),
  ``update_date``, ``authors_parsed``.

Where no v1 date is known, the date is derived from the id's YYMM and the paper is marked
``published_estimated`` (parsing: tools/arxiv/snapshot_parse.py). The index (BM25, porter stemming;
written by tools/arxiv/snapshot_import.py) is either one `retest snapshot import` made — for the
whole metadata dump — or one made at ``index_path`` on first use and rebuilt when the file's
fingerprint (size, mtime, SHA-256) changes. See `SnapshotSource` for which, and "search planning"
below for how searches stay fast at millions of records.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from filelock import FileLock

from claims.dates import from_int, to_int
from claims.models import Flag, Paper, split_arxiv_id
from tools.arxiv.snapshot_import import (
    INDEX_SCHEMA,
    PK_SCALE,
    TOKENIZER,
    build_index,
    default_import_path,
    is_sqlite_file,
    partial_path,
    pk_range,
    read_meta,
    remove_db,
    same_source,
    shard_files,
    source_identity,
    unfinished_state,
)
from tools.arxiv.snapshot_parse import (  # noqa: F401 - re-exported: the names callers know
    MAX_LOGGED_SKIPS,
    BadRecord,
    is_dump_shape,
    iter_records,
    normalize_ws,
    paper_from_record,
    paper_to_dump_record,
    record_fields,
)
from tools.base import SearchQuery, SearchResult

logger = logging.getLogger(__name__)

MAX_QUERY_TERMS = 32
_DATA_DIR = Path(__file__).resolve().parent / "data"

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not of off on once only or other our ours ourselves out
    over own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves via using use used based towards
    toward we our can may might shall""".split()
)

_TERM_RE = re.compile(r"[^\W_]+", re.UNICODE)


def default_snapshot_path() -> Path:
    """The bundled snapshot of real arXiv records (see tools/arxiv/data/README.md)."""
    return _DATA_DIR / "papers.jsonl"


def query_terms(text: str) -> list[str]:
    """Free text to search terms: lower-cased word tokens, stopwords dropped (kept if that leaves
    nothing), de-duplicated in order, at most MAX_QUERY_TERMS. Shared by the snapshot and the API."""
    words = [w.lower() for w in _TERM_RE.findall(text or "")]
    seen: dict[str, None] = {}
    for w in words:
        seen.setdefault(w, None)
    terms = list(seen)
    content = [w for w in terms if w not in STOPWORDS]
    return (content or terms)[:MAX_QUERY_TERMS]


def fts_expression(text: str, field: str = "all") -> str | None:
    """A safe FTS5 MATCH expression: each term double-quoted (a phrase, so no operator or
    punctuation can reach the FTS5 parser), ORed, optionally limited to one column."""
    terms = query_terms(text)
    if not terms:
        return None
    expr = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
    column = {"ti": "title", "abs": "abstract"}.get(field)
    return f"{{{column}}} : ({expr})" if column else expr


# --------------------------------------------------------------------------- search planning

# Searching millions of records. FTS5's bm25() costs about 1 µs for every record that a query term
# matches inside the date window (it is scored and ranked) plus about 20 ns for every record in each
# term's whole posting list (counted once per query, for the IDF). A query of six ordinary words
# over the 2.7M-record dump matches a million records or more, so on a large index a query is
# planned from the document frequencies stored at import (`terms`) and the per-month counts:
#
# * words in more than half the records are left out (bm25 gives them an IDF of ~0) unless nothing
#   else is left;
# * the *core*: the rarest words, while the records they match inside the window stay within
#   SCORE_BUDGET and all counted postings within IDF_BUDGET (at least one word); a search over at
#   least half the index (no window, or only "before a claim's date") gets WIDE_FACTOR times both;
# * if words remain, the *boost*: the next rarest while IDF_BUDGET allows. The index is searched for
#   ``(core) AND (core OR boost)``: only records with a core word are scored, but the boost words
#   raise those that also have them (FTS5 seeks in their posting lists instead of walking them);
#   the best RERANK_POOL (at least 4x the results asked for) are then re-ranked in Python by exactly
#   FTS5's BM25 over every query word (term frequencies from re-tokenising just those records with
#   the same tokenizer, document frequencies from `terms`), and the cap applied.
#
# An index under MIN_PLANNED records (every test corpus, the bundled snapshot) searches every word
# as before, so its results are exactly those of a plain BM25 search.
MIN_PLANNED = 50_000
SCORE_BUDGET = 30_000  # records scored inside a date window (~0.5-1 µs each) ...
IDF_BUDGET = 400_000  # ... and postings counted for IDF (~20-45 ns each)
WIDE_FACTOR = 2  # a search over most of the index (no window, or "before a claim's date") gets twice that
RERANK_POOL = 200
_K1, _B = 1.2, 0.75  # FTS5's bm25 constants
_COLUMN_WEIGHTS = (2.0, 1.0)  # title, abstract: bm25(fts, 2.0, 1.0)


@dataclass
class QueryPlan:
    core: list[str]  # words whose posting lists are walked: a record needs one of them
    boost: list[str]  # words that raise the records found, without being walked
    scored: list[str]  # words the final ranking counts
    exact: bool  # a plain BM25 search over `core` (nothing left out that matters)


def _varints(blob: bytes) -> list[int]:
    """FTS5's varints (SQLite's big-endian 7-bit format), e.g. a fts_docsize row's column sizes."""
    out, v = [], 0
    for c in blob:
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            out.append(v)
            v = 0
    return out


class SnapshotIndexError(RuntimeError):
    """An imported index that cannot be used as it is (unfinished, or from another retest version)."""


def _window_months(months: dict[str, int]) -> tuple[list[int], list[int]]:
    keys = sorted(int(k) for k in months)
    cum, total = [], 0
    for k in keys:
        total += months[str(k)]
        cum.append(total)
    return keys, cum


# --------------------------------------------------------------------------- the source


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _row_paper(js: str, title: str, abstract: str) -> Paper:
    """A stored row as a Paper. The index keeps the title and abstract with the file's own whitespace
    (the import does not spend its time normalising millions of them): normalised here."""
    return Paper.model_validate({**json.loads(js), "title": normalize_ws(title), "abstract": normalize_ws(abstract)})


def default_index_path(snapshot_path: Path) -> Path:
    import platformdirs

    tag = hashlib.sha256(str(snapshot_path.resolve()).encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("retest")) / "arxiv" / f"snapshot-{tag}.sqlite"


class SnapshotSource:
    """Search over a local arXiv snapshot (SQLite FTS5, BM25). Implements tools.base.SearchSource.

    Which index is searched, in order:

    1. `path` is itself an index (a SQLite file written by `retest snapshot import --index PATH`):
       that index, as it is;
    2. `retest snapshot import` has imported `path` into `imports_dir` (default: ``snapshots/``
       beside `index_path`; for a run, RETEST_HOME/snapshots/): that index, even if the file has
       changed since (a warning says to import it again); an unfinished import is an error;
    3. otherwise the file is indexed at `index_path` on first use and re-indexed when it changes.
    """

    name = "snapshot"

    def __init__(self, path: Path | None = None, *, index_path: Path | None = None,
                 imports_dir: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_snapshot_path()
        self.index_path = Path(index_path) if index_path is not None else default_index_path(self.path)
        self.imports_dir = Path(imports_dir) if imports_dir is not None else self.index_path.parent / "snapshots"
        self.requests = 0
        self.rebuilt = False
        self.imported = False
        self.stale = False
        self.skipped: list[str] = []
        self._lock = threading.Lock()
        self.index_path = self._resolve_index()
        self._db = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True, check_same_thread=False)
        meta = {k: v for k, v in self._db.execute("SELECT key, value FROM meta")}
        self.meta: dict[str, Any] = {k: json.loads(v) for k, v in meta.items()}
        # an import written in shards (tools/arxiv/snapshot_import.py): row id % shards = the shard
        self.shard_paths = shard_files(self.index_path, self.meta)
        self._dbs = [self._db]
        for f in self.shard_paths:
            if not f.exists():
                self._db.close()
                src = (self.meta.get("import") or {}).get("source", {}).get("path") or "the file"
                raise SnapshotIndexError(f"{f}, a shard of the index {self.index_path}, is missing: "
                                         f"run `retest snapshot import {src}` again")
            self._dbs.append(sqlite3.connect(f"file:{f}?mode=ro", uri=True, check_same_thread=False))
        self._k = len(self._dbs)
        self._pool = ThreadPoolExecutor(max_workers=self._k - 1, thread_name_prefix="snapshot-shard") \
            if self._k > 1 else None
        self.stats: dict[str, Any] = self.meta["stats"]
        self.size: int = self.stats["records"]
        self.skipped_total: int = self.stats["skipped"]
        self.skipped = [r[0] for r in self._db.execute("SELECT message FROM skipped ORDER BY n")]
        self._months, self._months_cum = _window_months(self.stats.get("months", {}))
        self._df_floor = int(self.stats.get("terms_threshold", 1))
        # the index's tokenizer, on its own: query words to stems, candidates to term positions
        self._tok = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._tok.executescript(
            f"CREATE VIRTUAL TABLE t USING fts5(w, tokenize='{TOKENIZER}', content='');"
            "CREATE VIRTUAL TABLE tv USING fts5vocab(t, 'instance');"
            f"CREATE VIRTUAL TABLE c USING fts5(title, abstract, tokenize='{TOKENIZER}', content='');"
            "CREATE VIRTUAL TABLE cv USING fts5vocab(c, 'instance');"
        )
        self._avg = [0, 0, 0]  # rows, then tokens per column (over every shard)
        for db in self._dbs:
            avg = db.execute("SELECT block FROM fts_data WHERE id = 1").fetchone()
            if avg:
                self._avg = [a + b for a, b in zip(self._avg, _varints(avg[0]), strict=False)]
        self._stem_cache: dict[str, tuple[str, ...]] = {}
        self._df_cache: dict[str, int] = {}
        self._count_cache: dict[str, int] = {}

    # ---- which index

    def _resolve_index(self) -> Path:
        if not self.path.exists():
            raise FileNotFoundError(f"arXiv snapshot not found: {self.path}")
        if is_sqlite_file(self.path):
            self._check_imported(self.path, read_meta(self.path))
            self.imported = True
            return self.path
        imported = default_import_path(self.path, self.imports_dir)
        if imported.exists():
            meta = read_meta(imported)
            self._check_imported(imported, meta)
            self.imported = True
            if not same_source((meta.get("import") or {}).get("source"), source_identity(self.path)):
                self.stale = True
                logger.warning("%s changed since it was imported into %s; searching the index as imported "
                               "(run `retest snapshot import %s` to bring it up to date)", self.path, imported, self.path)
            return imported
        unfinished = partial_path(imported)
        if unfinished.exists():
            line = unfinished_state(unfinished).get("line", 0)
            raise SnapshotIndexError(
                f"the import of {self.path} into {imported} is unfinished (stopped after line {line:,}): "
                f"run `retest snapshot import {self.path}` to finish it")
        self._ensure_index()
        return self.index_path

    def _check_imported(self, index: Path, meta: dict[str, Any]) -> None:
        if meta.get("schema") != INDEX_SCHEMA or "stats" not in meta:
            src = (meta.get("import") or {}).get("source", {}).get("path") or "the file"
            raise SnapshotIndexError(
                f"{index} is not a finished snapshot index of this retest version: "
                f"run `retest snapshot import {src}` again")

    # ---- on-demand index lifecycle (a snapshot file nobody imported)

    def _fingerprint_stat(self) -> dict[str, Any]:
        st = self.path.stat()
        return {"schema": INDEX_SCHEMA, "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def _stored_fingerprint(self) -> dict[str, Any] | None:
        if not self.index_path.exists():
            return None
        try:
            con = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True)
            try:
                row = con.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
                done = con.execute("SELECT 1 FROM meta WHERE key='stats'").fetchone()
            finally:
                con.close()
            return json.loads(row[0]) if row and done else None
        except (sqlite3.Error, json.JSONDecodeError):
            return None

    def _ensure_index(self) -> None:
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.index_path) + ".lock"):
            stored = self._stored_fingerprint()
            current = self._fingerprint_stat()
            if stored and all(stored.get(k) == v for k, v in current.items()):
                return
            digest = _file_sha256(self.path)
            if stored and stored.get("schema") == INDEX_SCHEMA and stored.get("sha256") == digest:
                self._write_fingerprint({**current, "sha256": digest})  # touched, not changed
                return
            self._build({**current, "sha256": digest})

    def _write_fingerprint(self, fp: dict[str, Any]) -> None:
        con = sqlite3.connect(self.index_path)
        try:
            with con:
                con.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (json.dumps(fp),))
        finally:
            con.close()

    def _build(self, fp: dict[str, Any]) -> None:
        logger.info("indexing arXiv snapshot %s into %s", self.path, self.index_path)
        fd, tmp_name = tempfile.mkstemp(prefix=self.index_path.name + ".", dir=self.index_path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        first: list[str] = []

        def on_skip(path: Path, line: int, reason: str) -> None:
            if len(first) < MAX_LOGGED_SKIPS:
                first.append(f"{path}:{line}: {reason}")
                logger.warning("skipping bad snapshot line %s:%d: %s", path, line, reason)

        try:
            stats = build_index(self.path, tmp, on_skip=on_skip, extra_meta={"fingerprint": fp})
            os.replace(tmp, self.index_path)
        finally:
            remove_db(tmp)
        if stats["skipped"]:
            logger.warning("skipped %d bad line(s) in %s (first: %s)", stats["skipped"], self.path, first[0])
        self.rebuilt = True

    # ---- SearchSource

    def search(self, query: SearchQuery) -> SearchResult:
        try:
            return SearchResult(papers=self._search(query))
        except sqlite3.Error as e:  # defensive: a query must never crash a run
            logger.warning("snapshot search failed for %r: %s", query.text, e)
            return SearchResult(
                complete=False,
                flags=[Flag(code="search_incomplete", detail=f"snapshot search failed: {e}")],
            )

    def _search(self, query: SearchQuery) -> list[Paper]:
        lo, hi = pk_range(to_int(query.after) if query.after else None,
                          to_int(query.before) if query.before else None)
        if hi is not None and lo is None:
            lo = PK_SCALE  # a date bound excludes the undated (row ids below PK_SCALE)
        if lo is not None and hi is not None and lo > hi:
            return []
        words = query_terms(query.text)
        if not words:
            if lo is None and not query.categories:
                return []
            return self._newest(lo, hi, list(query.categories), query.max_results)
        plan = self.plan(words, lo, hi)
        column = {"ti": "title", "abs": "abstract"}.get(query.field)

        def match(ws: list[str]) -> str:
            expr = " OR ".join('"' + t.replace('"', '""') + '"' for t in ws)
            return f"{{{column}}} : ({expr})" if column else f"({expr})"

        expr = match(plan.core) if not plan.boost else f"{match(plan.core)} AND {match(plan.core + plan.boost)}"
        where, args = ["fts MATCH ?"], [expr]
        if lo is not None:
            where.append("fts.rowid >= ?")
            args.append(lo)
        if hi is not None:
            where.append("fts.rowid <= ?")
            args.append(hi)
        if query.categories:
            marks = ",".join("?" * len(query.categories))
            where.append(f"EXISTS (SELECT 1 FROM cats c WHERE c.cat IN ({marks}) AND c.pid = fts.rowid)")
            args.extend(query.categories)
        limit = query.max_results if plan.exact else max(RERANK_POOL, 4 * query.max_results)
        if self._k > 1:
            # each shard's best by its own BM25, then all re-ranked by the index-wide BM25: a shard
            # holds at most `limit` of the overall best, and its own ranking differs from the overall
            # one only by its slightly different IDFs and average length, hence the margin
            limit = limit + max(5, limit // 4) if plan.exact else -(-limit * 6 // (5 * self._k)) + 5
        # rank and cap inside the full-text index; only the capped rows are read from `papers`
        sql = (
            "SELECT p.json, p.title, p.abstract, t.r FROM (SELECT fts.rowid AS r, bm25(fts, 2.0, 1.0) AS s FROM fts "
            f"WHERE {' AND '.join(where)} ORDER BY s, r DESC LIMIT ?) t JOIN papers p ON p.pk = t.r "
            f"ORDER BY t.s, t.r / {PK_SCALE} DESC, p.id"
        )
        args.append(limit)
        with self._lock:
            rows = [r for part in self._each_shard(lambda db: db.execute(sql, args).fetchall()) for r in part]
        if not plan.exact or self._k > 1:
            rows = self._rerank(rows, plan.scored, query.field)[: query.max_results]
        return [_row_paper(js, title, abstract) for js, title, abstract, _ in rows]

    def _each_shard(self, fn: Callable[[sqlite3.Connection], Any]) -> list[Any]:
        """fn(connection) for every shard, in parallel (SQLite releases the GIL), in shard order."""
        if self._pool is None:
            return [fn(self._db)]
        futs = [self._pool.submit(fn, db) for db in self._dbs[1:]]
        first = fn(self._db)
        return [first] + [f.result() for f in futs]

    def _newest(self, lo: int | None, hi: int | None, cats: list[str], k: int) -> list[Paper]:
        """Papers in the window (and categories), newest first, those of the same day by id: the
        primary key backwards, plus the rest of the last day taken, to order that day by id."""
        lo = 0 if lo is None else lo
        hi = (1 << 62) if hi is None else hi

        def pks(a: int, b: int, limit: int | None) -> set[int]:
            tail = "ORDER BY pid DESC LIMIT ?" if limit else ""
            out: set[int] = set()
            for db in self._dbs:
                if not cats:
                    q = "SELECT pk FROM papers WHERE pk BETWEEN ? AND ? " + tail.replace("pid", "pk")
                    out.update(r[0] for r in db.execute(q, (a, b, limit) if limit else (a, b)))
                for c in dict.fromkeys(cats):
                    q = "SELECT pid FROM cats WHERE cat = ? AND pid BETWEEN ? AND ? " + tail
                    out.update(r[0] for r in db.execute(q, (c, a, b, limit) if limit else (c, a, b)))
            return out

        with self._lock:
            top = sorted(pks(lo, hi, k), reverse=True)[:k]
            if len(top) == k:  # the last day taken may hold more papers than fit: take it whole
                day = top[-1] // PK_SCALE
                top = sorted(set(top) | pks(max(lo, day * PK_SCALE), min(hi, day * PK_SCALE + PK_SCALE - 1), None))
            if not top:
                return []
            rows = []
            for i in range(0, len(top), 500):
                chunk = top[i : i + 500]
                for db, part in self._by_shard(chunk):
                    rows += db.execute(f"SELECT json, title, abstract, pk, id FROM papers WHERE pk IN "
                                       f"({','.join('?' * len(part))})", part).fetchall()
        rows.sort(key=lambda r: (-(r[3] // PK_SCALE), r[4]))
        return [_row_paper(js, title, abstract) for js, title, abstract, _, _ in rows[:k]]

    def _by_shard(self, pks: Sequence[int]) -> list[tuple[sqlite3.Connection, list[int]]]:
        """Row ids grouped by the shard that holds them (row id % shards)."""
        if self._k == 1:
            return [(self._db, list(pks))] if pks else []
        groups: dict[int, list[int]] = {}
        for pk in pks:
            groups.setdefault(pk % self._k, []).append(pk)
        return [(self._dbs[i], g) for i, g in sorted(groups.items())]

    # ---- term selection

    def _stems(self, words: list[str]) -> dict[str, tuple[str, ...]]:
        """Each word's tokens as the index stores them (the same tokenizer, porter stems)."""
        missing = [w for w in words if w not in self._stem_cache]
        if missing:
            if len(self._stem_cache) > 50_000:
                self._stem_cache.clear()
            with self._lock:
                self._tok.execute("BEGIN")
                self._tok.execute("INSERT INTO t(t) VALUES('delete-all')")
                self._tok.executemany("INSERT INTO t(rowid, w) VALUES (?, ?)", list(enumerate(missing)))
                self._tok.execute("COMMIT")
                found: dict[int, list[str]] = {}
                for term, doc in self._tok.execute("SELECT term, doc FROM tv ORDER BY doc, offset"):
                    found.setdefault(doc, []).append(term)
            for i, w in enumerate(missing):
                self._stem_cache[w] = tuple(found.get(i, ()))
        return {w: self._stem_cache[w] for w in words}

    def _df(self, stems: Sequence[str]) -> dict[str, int]:
        """Document frequencies from `terms`; a stem not there (rarer than its threshold) counts as
        the threshold, an upper bound."""
        missing = [s for s in dict.fromkeys(stems) if s not in self._df_cache]
        if missing:
            if len(self._df_cache) > 50_000:
                self._df_cache.clear()
            with self._lock:
                got = dict(self._db.execute(
                    f"SELECT term, df FROM terms WHERE term IN ({','.join('?' * len(missing))})", missing).fetchall())
            for s in missing:
                self._df_cache[s] = got.get(s, -1)
        return {s: self._df_cache[s] if self._df_cache[s] >= 0 else self._df_floor for s in stems}

    def window_share(self, lo: int | None, hi: int | None) -> float:
        """The share of the papers whose row id lies in [lo, hi] (from the per-month counts)."""
        if not self.size or (lo is None and hi is None):
            return 1.0
        lo_m = (lo // PK_SCALE) // 100 if lo is not None else 0
        hi_m = (hi // PK_SCALE) // 100 if hi is not None else 1 << 40
        keys, cum = self._months, self._months_cum
        a = bisect.bisect_left(keys, lo_m)
        b = bisect.bisect_right(keys, hi_m)
        n = (cum[b - 1] if b > 0 else 0) - (cum[a - 1] if a > 0 else 0)
        return min(1.0, n / self.size)  # whole months at both ends: an over-estimate, on purpose

    def plan(self, words: list[str], lo: int | None = None, hi: int | None = None) -> QueryPlan:
        """Which words to search, and how (see SCORE_BUDGET above)."""
        if len(words) < 2 or self.size < MIN_PLANNED:
            return QueryPlan(core=words, boost=[], scored=words, exact=True)
        stems = self._stems(words)
        df = self._df([s for w in words for s in stems[w]])
        rarity = {w: min((df[s] for s in stems[w]), default=0) for w in words}  # a phrase's df <= its rarest token's
        postings = {w: sum(df[s] for s in stems[w]) for w in words}
        share = self.window_share(lo, hi)
        factor = WIDE_FACTOR if share >= 0.5 else 1
        score_budget, idf_budget = SCORE_BUDGET * factor, IDF_BUDGET * factor
        order = sorted(words, key=lambda w: (rarity[w], words.index(w)))
        usable = [w for w in order if rarity[w] * 2 <= self.size] or order[:1]
        core: list[str] = []
        scored = counted = 0.0
        for w in usable:
            if core and (scored + rarity[w] * share > score_budget or counted + postings[w] > idf_budget):
                break
            core.append(w)
            scored += rarity[w] * share
            counted += postings[w]
        boost: list[str] = []
        counted *= 2  # with a boost, the core words appear twice in the expression: counted twice for IDF
        for w in usable[len(core):]:
            if counted + postings[w] > idf_budget:
                break
            boost.append(w)
            counted += postings[w]
        in_order = [w for w in words if w in usable]
        if len(core) == len(usable):  # every word that counts: a plain search
            return QueryPlan(core=in_order, boost=[], scored=in_order, exact=True)
        return QueryPlan(core=[w for w in words if w in core], boost=[w for w in words if w in boost],
                         scored=in_order, exact=False)

    def select_terms(self, words: list[str], lo: int | None = None, hi: int | None = None) -> list[str]:
        """The words whose posting lists a search walks (the plan's core), in their original order."""
        return self.plan(words, lo, hi).core

    def _exact_df(self, word: str, stems: tuple[str, ...]) -> int:
        """A word's document frequency: from `terms` when stored there, else counted (it is rare)."""
        if len(stems) == 1:
            self._df(stems)
            if self._df_cache[stems[0]] >= 0:
                return self._df_cache[stems[0]]
        key = "\x00".join(stems)
        if key not in self._count_cache:
            if len(self._count_cache) > 50_000:
                self._count_cache.clear()
            phrase = '"' + word.replace('"', '""') + '"'
            with self._lock:
                self._count_cache[key] = sum(self._each_shard(lambda db: db.execute(
                    "SELECT count(*) FROM fts WHERE fts MATCH ?", (phrase,)).fetchone()[0]))
        return self._count_cache[key]

    def bm25(self, rows: Sequence[tuple[str, str, int]], words: list[str], field: str = "all") -> list[float]:
        """FTS5's bm25(fts, 2.0, 1.0) score (higher is better here) of each (title, abstract, row id)
        for the query `words`: the same tokenizer, constants, column weights and document lengths;
        document frequencies over the whole record."""
        stems = self._stems(words)
        n_row = self._avg[0]
        avgdl = sum(self._avg[1:]) / n_row if n_row else 1.0
        words = [w for w in words if stems[w]]  # a word with no token matches nothing
        if not words:
            return [0.0] * len(rows)
        idf = {}
        for w in words:
            hits = self._exact_df(w, stems[w])
            v = math.log((n_row - hits + 0.5) / (hits + 0.5))
            idf[w] = v if v > 0 else 1e-6
        wt, wa = _COLUMN_WEIGHTS
        weights = {"all": (wt, wa), "ti": (wt, 0.0), "abs": (0.0, wa)}[field]
        pks = [r[2] for r in rows]
        with self._lock:
            sizes = {}
            for db, part in self._by_shard(pks):
                sizes.update(db.execute(
                    f"SELECT id, sz FROM fts_docsize WHERE id IN ({','.join('?' * len(part))})", part).fetchall())
            self._tok.execute("BEGIN")
            self._tok.execute("INSERT INTO c(c) VALUES('delete-all')")
            self._tok.executemany("INSERT INTO c(rowid, title, abstract) VALUES (?, ?, ?)",
                                  [(i, r[0], r[1]) for i, r in enumerate(rows)])
            self._tok.execute("COMMIT")
            wanted = sorted({s for w in words for s in stems[w]})
            places: dict[str, dict[tuple[int, int], set[int]]] = {s: {} for s in wanted}
            for term, doc, col, off in self._tok.execute(
                    f"SELECT term, doc, col, offset FROM cv WHERE term IN ({','.join('?' * len(wanted))})", wanted):
                places[term].setdefault((doc, 0 if col == "title" else 1), set()).add(off)
        scores = []
        for i, r in enumerate(rows):
            d = float(sum(_varints(sizes.get(r[2], b""))))
            norm = _K1 * (1 - _B + _B * d / avgdl)
            total = 0.0
            for w in words:
                f = 0.0
                st = stems[w]
                for col in (0, 1):
                    first = places[st[0]].get((i, col)) if st else None
                    if not first:
                        continue
                    if len(st) == 1:
                        tf = len(first)
                    else:
                        rest = [places[t].get((i, col), set()) for t in st[1:]]
                        tf = sum(1 for p in first if all(p + j + 1 in ps for j, ps in enumerate(rest)))
                    f += weights[col] * tf
                total += idf[w] * (f * (_K1 + 1.0)) / (f + norm)
            scores.append(total)
        return scores

    def _rerank(self, rows: list[tuple], words: list[str], field: str) -> list[tuple]:
        """Rows (json, title, abstract, row id) in order of FTS5's BM25 over every word of the query."""
        if not rows:
            return rows
        scores = self.bm25([(r[1], r[2], r[3]) for r in rows], words, field)
        keyed = sorted(zip(scores, rows, strict=True),
                       key=lambda t: (-t[0], -(t[1][3] // PK_SCALE), json.loads(t[1][0])["arxiv_id"]))
        return [r for _, r in keyed]

    # ---- the rest

    def lookup(self, ids: Sequence[str]) -> dict[str, Paper]:
        wanted: list[str] = []
        for raw in ids:
            try:
                wanted.append(split_arxiv_id(raw)[0])
            except ValueError:
                logger.warning("lookup: ignoring malformed arXiv id %r", raw)
        out: dict[str, Paper] = {}
        with self._lock:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i : i + 500]
                q = f"SELECT json, title, abstract FROM papers WHERE id IN ({','.join('?' * len(chunk))})"
                for db in self._dbs:
                    for row in db.execute(q, chunk):
                        p = _row_paper(*row)
                        out[p.arxiv_id] = p
        return out

    def all_papers(self) -> Iterator[Paper]:
        """Every paper in the snapshot (e.g. to serve it over loopback Atom)."""
        with self._lock:
            parts = [db.execute("SELECT json, title, abstract, id FROM papers ORDER BY id").fetchall() for db in self._dbs]
        rows = parts[0] if len(parts) == 1 else sorted((r for part in parts for r in part), key=lambda r: r[3])
        for js, title, abstract, _ in rows:
            yield _row_paper(js, title, abstract)

    def date_range(self) -> tuple[date | None, date | None]:
        lo, hi = self.stats.get("d_min"), self.stats.get("d_max")
        return (from_int(lo) if lo else None, from_int(hi) if hi else None)

    def close(self) -> None:
        for db in self._dbs:
            db.close()
        self._tok.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"SnapshotSource({str(self.path)!r}, papers={self.size}, skipped={self.skipped_total})"


# --------------------------------------------------------------------------- what an index holds

SMALL_FILE = 64 << 20  # `describe_snapshot` indexes a file this small itself; a bigger one must be imported


def _disk_size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(str(path) + "-wal")) if p.exists())


def describe_snapshot(path: Path | None = None, *, index_path: Path | None = None,
                      imports_dir: Path | None = None) -> dict[str, Any]:
    """What `retest snapshot info` prints: which index serves `path` (a snapshot file or an index)
    and what it holds. Indexes a small file that has no index yet; never starts a big import."""
    path = Path(path) if path is not None else default_snapshot_path()
    index_path = Path(index_path) if index_path is not None else default_index_path(path)
    imports_dir = Path(imports_dir) if imports_dir is not None else index_path.parent / "snapshots"
    out: dict[str, Any] = {"snapshot": str(path), "status": "ready"}
    if not path.exists():
        raise FileNotFoundError(f"arXiv snapshot not found: {path}")
    if is_sqlite_file(path):
        meta = read_meta(path, recover=True)
        if isinstance(meta.get("import"), dict) and "stats" not in meta:  # an INDEX.partial
            st = unfinished_state(path)
            return {**out, "status": "unfinished", "index": str(path), "kind": "import",
                    "source": st.get("source"), "state": st, "size_bytes": _disk_size(path)}
    else:
        imported = default_import_path(path, imports_dir)
        unfinished = partial_path(imported)
        if not imported.exists() and unfinished.exists():
            st = unfinished_state(unfinished)
            return {**out, "status": "unfinished", "index": str(unfinished), "kind": "import",
                    "source": st.get("source"), "state": st, "size_bytes": _disk_size(unfinished)}
        if not imported.exists() and path.stat().st_size > SMALL_FILE and not (
                index_path.exists() and (read_meta(index_path).get("fingerprint") or {}).get("size") == path.stat().st_size):
            return {**out, "status": "not indexed", "source": {"path": str(path), "size": path.stat().st_size}}
    src = SnapshotSource(path, index_path=index_path, imports_dir=imports_dir)
    try:
        meta = src.meta
        st = meta.get("import") or {}
        out.update({
            "status": "stale" if src.stale else "ready",
            "index": str(src.index_path),
            "kind": meta.get("kind", "build"),
            "source": st.get("source") or {"path": str(path)},
            "filters": meta.get("filters") or st.get("filters") or {"since": None, "categories": []},
            "stats": src.stats,
            "size_bytes": _disk_size(src.index_path) + sum(_disk_size(f) for f in src.shard_paths),
            "shards": [str(f) for f in src.shard_paths],  # the files beside `index` that belong to it
            "skipped_examples": src.skipped[:5],
        })
        return out
    finally:
        src.close()
