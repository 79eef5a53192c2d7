"""Writing a snapshot index: a streaming, resumable import of a JSON-lines arXiv metadata file.

One engine writes every index, whether `retest snapshot import` fills it from the whole metadata
dump (~2.7 million records) or `SnapshotSource` indexes a small file on first use:

* **Streaming, bounded memory.** Lines are read as bytes and parsed (orjson) in the calling thread
  while one writer thread inserts the previous batch (SQLite releases the GIL while it tokenises
  and writes), with at most two batches in flight. A shard process (below) writes each batch itself:
  with one process a core, a second busy thread only made the two share a core (+11% records/s).
* **Shards.** FTS5 indexing is the bottleneck and a database has one writer, so a big file (>=
  SHARD_MIN_BYTES, on a machine with SHARDS cores; RETEST_IMPORT_SHARDS=1|2 overrides) is written
  by SHARDS processes into as many databases: INDEX (shard 0, which also holds the statistics of
  all) and INDEX.TAG.sN beside it, named in meta['shards']. Each process reads the whole file and
  takes every SHARDS-th line, with its own resumable state; a search queries every shard.
* **Resumable.** Each batch is one transaction that also records the byte offset and line number
  after it, the counters and the per-month/per-category tallies. A killed import (even `kill -9`)
  loses at most the batch in flight; the next run seeks to the recorded offset and goes on, so
  nothing is lost or counted twice. An import is written to ``INDEX.partial`` and renamed to INDEX
  only once finished, so a search never sees half an index.
* **Date-ordered row ids.** A paper's row id is ``YYYYMMDD * 1_000_000 + n`` (its v1 date, or the
  date estimated from its id; 0 when neither is known): a date window is a row-id range that FTS5
  applies while it walks its posting lists, and "newest first" is the primary key backwards.
* **No final merge.** FTS5 leaves one segment per batch; an import does not merge them into one
  ('optimize': a fifth of a 1M-record import's wall time), as searches over the ~20 segments of a
  1M-record shard were measured no slower (docs/benchmarks.md). The small on-demand index is merged.
* **Search statistics.** Finishing an import stores the document frequency of every frequent term
  (``terms``), the number of papers per month and per category, and the totals, so a search can
  leave out terms whose posting lists are huge and estimate how much of the index a window covers.

Malformed records are skipped and counted (the first MAX_STORED_SKIPS kept as ``file:line: reason``),
or, with ``strict=True``, stop the import with `MalformedRecord` naming FILE:LINE (everything before
that line is kept, so a rerun resumes there).
"""
from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from claims.errors import BusyError, RetestError
from tools.arxiv.snapshot_parse import BadRecord, record_fields

try:  # orjson is ~3x faster than json on dump lines; chromadb already depends on it
    import orjson

    _loads = orjson.loads

    def _dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

except ImportError:  # pragma: no cover
    _loads = json.loads

    def _dumps(obj: Any) -> str:
        return json.dumps(obj, default=lambda d: d.isoformat(), separators=(",", ":"))


logger = logging.getLogger(__name__)

INDEX_SCHEMA = 6  # bump when the parser or the table layout changes: forces a rebuild / re-import
PK_SCALE = 1_000_000  # row id = YYYYMMDD * PK_SCALE + n
MAX_STORED_SKIPS = 1000
BATCH_RECORDS = 25_000
BATCH_LINES = 50_000  # a batch also closes after this many lines (mostly filtered or bad ones) ...
BATCH_BYTES = 64 << 20  # ... or this many bytes, so a resume never redoes much
HEAD_BYTES = 1 << 20
TOKENIZER = "porter unicode61 remove_diacritics 2"
SHARDS = 2  # writer processes (and index files) of a big import: FTS5 indexing is the bottleneck ...
SHARD_MIN_BYTES = 64 << 20  # ... and a file at least this big is imported in shards

SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS papers(pk INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
                                  abstract TEXT NOT NULL, json TEXT NOT NULL,
                                  line INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cats(cat TEXT NOT NULL, pid INTEGER NOT NULL, PRIMARY KEY(cat, pid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skipped(n INTEGER PRIMARY KEY, message TEXT, line INTEGER NOT NULL DEFAULT 0);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, abstract, content='papers', content_rowid='pk',
                                                  tokenize='{TOKENIZER}');
"""


class SnapshotImportError(RetestError):
    """An import that cannot go on; the message is one line meant for the user (exit status 1)."""


class MalformedRecord(SnapshotImportError):
    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path, self.line, self.reason = path, line, reason


class ImportLocked(SnapshotImportError, BusyError):
    """Another process is importing into the same index (exit status 3)."""


# --------------------------------------------------------------------------- small helpers


def pk_range(after: int | None, before: int | None) -> tuple[int | None, int | None]:
    """Row-id bounds for v1 dates (YYYYMMDD ints) strictly after `after` and on or before `before`."""
    lo = (after + 1) * PK_SCALE if after is not None else None
    hi = (before + 1) * PK_SCALE - 1 if before is not None else None
    return lo, hi


def default_import_path(source: Path, imports_dir: Path) -> Path:
    """Where `retest snapshot import SOURCE` writes by default: one index per absolute file path."""
    resolved = Path(source).expanduser().resolve()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", resolved.name.split(".")[0])[:48] or "snapshot"
    tag = hashlib.sha256(str(resolved).encode()).hexdigest()[:10]
    return Path(imports_dir) / f"{stem}-{tag}.sqlite"


def partial_path(index: Path) -> Path:
    return index.with_name(index.name + ".partial")


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(str(path) + suffix)
        if p.exists():
            p.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def is_sqlite_file(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def source_identity(path: Path) -> dict[str, Any]:
    """What decides whether an index still describes a file: its size and its first MiB's hash
    (the mtime is kept for information; a copy or a touch changes it, the content does not)."""
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(HEAD_BYTES))
    return {"path": str(path.expanduser().resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "head_sha256": h.hexdigest()}


def same_source(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    return bool(a and b) and all(a.get(k) == b.get(k) for k in ("size", "head_sha256"))


def read_meta(index: Path, *, recover: bool = False) -> dict[str, Any]:
    """The meta table of an index as {key: decoded value}; {} if it is not a readable index.
    `recover` opens it for writing, so that SQLite rolls back what a killed import left half-written
    (a read-only connection cannot); only the import, holding the lock, does that."""
    try:
        con = sqlite3.connect(index, timeout=30) if recover else sqlite3.connect(
            f"file:{index}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute("SELECT key, value FROM meta").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return {}
    out: dict[str, Any] = {}
    for k, v in rows:
        try:
            out[k] = json.loads(v)
        except (TypeError, json.JSONDecodeError):
            out[k] = v
    return out


@dataclass(frozen=True)
class Filters:
    """Which records an import keeps: v1 (or estimated) date on or after `since` (YYYY-MM), and any
    category equal to one given or inside an archive given without a dot (`cs` keeps `cs.CL`)."""

    since: str | None = None
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.since is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", self.since):
            raise ValueError(f"--since {self.since!r} is not a month: use YYYY-MM (e.g. 2020-01)")

    @property
    def since_int(self) -> int | None:
        return int(self.since.replace("-", "")) * 100 + 1 if self.since else None

    def to_json(self) -> dict[str, Any]:
        return {"since": self.since, "categories": sorted(self.categories)}

    def describe(self) -> str:
        parts = []
        if self.since:
            parts.append(f"since {self.since}")
        if self.categories:
            parts.append("categories " + ", ".join(sorted(self.categories)))
        return " · ".join(parts) or "none"


def _category_matcher(wanted: Iterable[str]) -> Callable[[list[str]], bool] | None:
    wanted = [w.strip() for w in wanted if w.strip()]
    if not wanted:
        return None
    exact = frozenset(wanted)
    prefixes = tuple(w + "." for w in wanted if "." not in w)

    def match(cats: list[str]) -> bool:
        return any(c in exact or (prefixes and c.startswith(prefixes)) for c in cats)

    return match


def _open_lines(path: Path, offset: int) -> tuple[Any, Any]:
    """(line reader positioned at `offset` bytes of the uncompressed stream, raw file for progress)."""
    raw = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed by the caller. A 1 MiB buffer: with
    # the default 8 KiB one, reading the 1.8 GB file took 1.6 s of CPU instead of 0.6 (each shard reads it all)
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        reader: Any = io.BufferedReader(gzip.GzipFile(fileobj=raw), 1 << 20)  # type: ignore[arg-type]
        if offset:
            reader.seek(offset)  # decompresses up to the offset
    else:
        reader = raw
        reader.seek(offset)
    return reader, raw


def _reason(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text


def _parse_line(line: bytes) -> dict[str, Any]:
    try:
        obj = _loads(line)
    except ValueError:
        # orjson is stricter than json (invalid UTF-8, NaN, huge ints): read what json reads, and
        # report json's message for what neither reads
        obj = json.loads(line.decode("utf-8", errors="replace"))
    return record_fields(obj, normalize=False)  # stored as given; a search normalises what it returns


# --------------------------------------------------------------------------- progress and state


@dataclass
class ImportState:
    """What an index has taken in so far: stored in meta['import'] with every batch."""

    source: dict[str, Any]
    filters: dict[str, Any]
    offset: int = 0
    line: int = 0
    imported: int = 0
    skipped: int = 0
    filtered: int = 0
    replaced: int = 0
    estimated: int = 0
    undated: int = 0
    d_min: int | None = None
    d_max: int | None = None
    months: dict[str, int] = field(default_factory=dict)
    cats: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    runs: int = 0
    started: str = ""
    done_reading: bool = False
    shard: int = 0  # this file's shard (row ids n * nshards + shard) ...
    nshards: int = 1  # ... of how many (see SHARDS)
    shard_done: bool = False  # a shard of several: read, merged, its terms counted

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Progress:
    bytes_done: int
    bytes_total: int
    lines: int
    imported: int
    skipped: int
    filtered: int
    records_this_run: int
    seconds_this_run: float

    @property
    def rate(self) -> float:
        return self.records_this_run / self.seconds_this_run if self.seconds_this_run > 0 else 0.0


@dataclass
class _Batch:
    rows: list[tuple] = field(default_factory=list)  # (d, id, title, abstract, json, cats, estimated, line)
    skips: list[tuple[int, str]] = field(default_factory=list)
    skipped: int = 0
    filtered: int = 0
    end_offset: int = 0
    end_line: int = 0
    nbytes: int = 0
    nlines: int = 0


# --------------------------------------------------------------------------- the writer

def _tally(s: ImportState, rows: Iterable[tuple[int, list[str], bool]], sign: int) -> None:
    """Count papers (v1 date as YYYYMMDD or 0, categories, date estimated) in (+1) or out (-1) of the
    state's totals and per-month / per-category tallies; the date range only grows."""
    months: Counter[int] = Counter()
    cat_counts: Counter[str] = Counter()
    n = undated = estimated = 0
    lo = hi = None
    for d, cats, est in rows:
        n += 1
        if d:
            months[d // 100] += 1
            lo = d if lo is None or d < lo else lo
            hi = d if hi is None or d > hi else hi
        else:
            undated += 1
        cat_counts.update(cats)
        estimated += est
    for ym, k in months.items():
        key = str(ym)
        s.months[key] = s.months.get(key, 0) + sign * k
    for c, k in cat_counts.items():
        s.cats[c] = s.cats.get(c, 0) + sign * k
    if sign > 0 and lo is not None:
        s.d_min = lo if s.d_min is None else min(s.d_min, lo)
        s.d_max = hi if s.d_max is None else max(s.d_max, hi)
    s.undated += sign * undated
    s.estimated += sign * estimated
    s.imported += sign * n


class IndexWriter:
    """The one connection that writes an index. `write` runs in the writer thread, one batch per
    transaction; `finalize` computes the search statistics and leaves the index ready to rename."""

    def __init__(self, db: Path, state: ImportState, *, resumed: bool) -> None:
        self.db = db
        self.state = state
        self.con = sqlite3.connect(db, check_same_thread=False, isolation_level=None, timeout=30)
        self.con.executescript(
            # A rollback journal: a killed import's last transaction is rolled back on the next open.
            # No fsync while importing (a power cut may spoil an unfinished import: --restart); the
            # finished index is synced before it is renamed into place.
            # 32 MB of page cache: an import appends (to the papers, the id index, the FTS5 segments), so
            # a bigger cache bought nothing and cost 100 MB a process.
            """PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=OFF; PRAGMA cache_size=-32768;
               PRAGMA temp_store=MEMORY;"""
        )
        self.con.executescript(SCHEMA_SQL)
        # FTS5: flush the in-memory index once per batch (not once per megabyte of it), and leave the
        # segments unmerged until `finalize` merges them all in one pass (rather than re-merging as
        # they accumulate: -18% writer CPU)
        for option, value in (("hashsize", 64 << 20), ("automerge", 0), ("crisismerge", 1999)):
            self.con.execute("INSERT INTO fts(fts, rank) VALUES(?, ?)", (option, value))
        self._seq: dict[int, int] = {}
        self._k = max(1, state.nshards)
        self._maybe_existing = resumed
        self.cpu_s = 0.0  # CPU seconds the writer thread spent (benchmarks/bench_import.py reports it)
        self.reader_cpu_s = 0.0
        self._stored_skips = self.con.execute("SELECT count(*) FROM skipped").fetchone()[0]

    @classmethod
    def open(cls, db: Path, source: dict[str, Any], filters: Filters, *, shard: int = 0, nshards: int = 1,
             shards_meta: dict[str, Any] | None = None) -> IndexWriter:
        """Open `db` to resume it if it holds an import of the same source with the same filters
        (and the same shard), else start it afresh. (Callers delete what they do not mean to resume.)"""
        meta = read_meta(db, recover=True) if db.exists() else {}
        st = meta.get("import")
        if (meta.get("schema") == INDEX_SCHEMA and isinstance(st, dict) and same_source(st.get("source"), source)
                and st.get("filters") == filters.to_json() and st.get("shard", 0) == shard
                and st.get("nshards", 1) == nshards):
            w = cls(db, ImportState.from_json(st), resumed=True)
            w.state.source = source
            return w
        remove_db(db)
        w = cls(db, ImportState(source=source, filters=filters.to_json(), shard=shard, nshards=nshards,
                                started=datetime.now(UTC).isoformat(timespec="seconds")), resumed=False)
        w.con.execute("BEGIN")
        w.con.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (json.dumps(INDEX_SCHEMA),))
        w.con.execute("INSERT OR REPLACE INTO meta VALUES ('source', ?)", (json.dumps(source["path"]),))
        if shards_meta is not None:
            w.con.execute("INSERT OR REPLACE INTO meta VALUES ('shards', ?)", (json.dumps(shards_meta),))
        w._save_state()
        w.con.execute("COMMIT")
        return w

    def _save_state(self) -> None:
        self.con.execute("INSERT OR REPLACE INTO meta VALUES ('import', ?)", (self.state.to_json(),))

    def _next_pk(self, d: int) -> int:
        n = self._seq.get(d)
        if n is None:
            n = 0
            if self._maybe_existing:  # a resumed import: continue after what earlier runs stored
                row = self.con.execute("SELECT max(pk) FROM papers WHERE pk BETWEEN ? AND ?",
                                       (d * PK_SCALE, d * PK_SCALE + PK_SCALE - 1)).fetchone()
                n = 0 if row[0] is None else (row[0] - d * PK_SCALE) // self._k + 1
        pk = n * self._k + self.state.shard
        if pk >= PK_SCALE:
            raise SnapshotImportError(f"more than {PK_SCALE // self._k:,} papers dated {d} in one shard: "
                                      "cannot index them")
        self._seq[d] = n + 1
        return d * PK_SCALE + pk

    def write(self, batch: _Batch) -> None:
        t_cpu = time.thread_time()
        try:
            self._write(batch)
        finally:
            self.cpu_s += time.thread_time() - t_cpu

    def _write(self, batch: _Batch) -> None:
        con, s = self.con, self.state
        saved = copy.deepcopy(s.__dict__)
        con.execute("BEGIN")
        try:
            rows = batch.rows
            by_id = {r[1]: r for r in rows}  # a later line with the same id wins, as before
            if len(by_id) < len(rows):
                s.replaced += len(rows) - len(by_id)
                rows = list(by_id.values())
            ids = list(by_id)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                old = con.execute(
                    f"SELECT pk, title, abstract, json FROM papers WHERE id IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
                for pk, title, abstract, js in old:
                    meta = json.loads(js)
                    con.execute("INSERT INTO fts(fts, rowid, title, abstract) VALUES('delete', ?, ?, ?)",
                                (pk, title, abstract))
                    con.executemany("DELETE FROM cats WHERE cat = ? AND pid = ?", [(c, pk) for c in meta["categories"]])
                    con.execute("DELETE FROM papers WHERE pk = ?", (pk,))
                    _tally(s, [(pk // PK_SCALE, meta["categories"], bool(meta.get("published_estimated")))], -1)
                    s.replaced += 1
            rows.sort(key=lambda r: r[0])  # stable: file order within a day; FTS5 wants ascending row ids
            papers, texts, cat_rows = [], [], []
            next_pk = self._next_pk
            for d, arxiv_id, title, abstract, js, cats, _estimated, line in rows:
                pk = next_pk(d)
                papers.append((pk, arxiv_id, title, abstract, js, line))
                texts.append((pk, title, abstract))
                for c in cats:
                    cat_rows.append((c, pk))
            _tally(s, ((r[0], r[5], r[6]) for r in rows), +1)
            con.executemany("INSERT INTO papers(pk, id, title, abstract, json, line) VALUES (?,?,?,?,?,?)", papers)
            con.executemany("INSERT INTO fts(rowid, title, abstract) VALUES (?,?,?)", texts)
            con.executemany("INSERT OR IGNORE INTO cats(cat, pid) VALUES (?,?)", cat_rows)
            room = MAX_STORED_SKIPS - self._stored_skips
            if room > 0 and batch.skips:
                con.executemany("INSERT INTO skipped(line, message) VALUES (?, ?)", batch.skips[:room])
                self._stored_skips += min(room, len(batch.skips))
            s.skipped += batch.skipped
            s.filtered += batch.filtered
            s.offset, s.line = batch.end_offset, batch.end_line
            self._save_state()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            s.__dict__.update(saved)  # the counters stay those of what is committed
            raise

    def save_elapsed(self, seconds: float, *, done_reading: bool = False) -> None:
        self.state.elapsed_s += seconds
        self.state.done_reading = self.state.done_reading or done_reading
        self.con.execute("BEGIN")
        self._save_state()
        self.con.execute("COMMIT")

    def finalize(self, *, optimize: bool = True, extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """Merge the full-text index, store the search statistics and the totals, and leave a plain
        rollback-journal database (readable with mode=ro, safe to rename). Idempotent."""
        con, s = self.con, self.state
        t0 = time.perf_counter()
        con.execute("BEGIN")
        _merge_fts(con, "main", optimize)
        n = s.imported
        threshold = terms_threshold(n)
        con.execute("DROP TABLE IF EXISTS terms")
        con.execute("CREATE TABLE terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
        con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_rows USING fts5vocab(main, 'fts', 'row')")
        con.execute("INSERT INTO terms SELECT term, doc FROM temp.fts_rows WHERE doc >= ?", (threshold,))
        con.execute("DROP TABLE temp.fts_rows")
        stats = _stats(s, threshold, time.perf_counter() - t0)
        con.execute("INSERT OR REPLACE INTO meta VALUES ('stats', ?)", (json.dumps(stats),))
        for k, v in (extra_meta or {}).items():
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, json.dumps(v)))
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=DELETE")
        return stats

    def finish_shard(self, *, optimize: bool = True) -> None:
        """One shard of several, once read: merge its full-text index and count every term's
        documents in it (`shard_terms`; `finalize_shards` adds them up). Idempotent."""
        con = self.con
        t0 = time.perf_counter()
        con.execute("BEGIN")
        _merge_fts(con, "main", optimize)
        _count_shard_terms(con, "main")
        self.state.shard_done = True
        self.state.elapsed_s += time.perf_counter() - t0
        self._save_state()
        con.execute("COMMIT")

    def close(self) -> None:
        self.con.close()


def terms_threshold(n: int) -> int:
    return max(64, n // 4000)


def _merge_fts(con: sqlite3.Connection, schema: str, optimize: bool) -> None:
    if optimize:
        con.execute(f"INSERT INTO {schema}.fts(fts) VALUES('optimize')")
    for option, value in (("automerge", 4), ("crisismerge", 16)):  # FTS5's defaults again
        con.execute(f"INSERT INTO {schema}.fts(fts, rank) VALUES(?, ?)", (option, value))


def _count_shard_terms(con: sqlite3.Connection, schema: str) -> None:
    con.execute(f"DROP TABLE IF EXISTS {schema}.shard_terms")
    con.execute(f"CREATE TABLE {schema}.shard_terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
    con.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_rows_{schema} USING fts5vocab({schema}, 'fts', 'row')")
    con.execute(f"INSERT INTO {schema}.shard_terms SELECT term, doc FROM temp.fts_rows_{schema}")
    con.execute(f"DROP TABLE temp.fts_rows_{schema}")


def _stats(s: ImportState, threshold: int, seconds: float) -> dict[str, Any]:
    return {
            "records": s.imported, "d_min": s.d_min, "d_max": s.d_max, "undated": s.undated, "estimated": s.estimated,
            "months": {k: v for k, v in sorted(s.months.items()) if v}, "cats": {k: v for k, v in s.cats.items() if v},
            "lines": s.line, "skipped": s.skipped, "filtered": s.filtered, "replaced": s.replaced,
            "terms_threshold": threshold, "elapsed_s": round(s.elapsed_s + seconds, 2),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"), "started": s.started, "runs": s.runs,
        }


# --------------------------------------------------------------------------- the reading loop


def ingest(
    path: Path,
    writer: IndexWriter,
    filters: Filters = Filters(),
    *,
    strict: bool = False,
    on_skip: Callable[[Path, int, str], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    batch_records: int = BATCH_RECORDS,
    stop_line: Callable[[], int] | None = None,
    writer_thread: bool = True,
) -> bool:
    """Read `path` from the writer's recorded offset to the end, into the index: every line, or for
    shard i of k (the writer's state) the lines numbered i, i + k, ... (counting from 0). Returns
    False if it stopped early because `stop_line()` (checked between batches) was reached.
    `writer_thread`: batches are written by a second thread while the next is parsed; else by this one."""
    state = writer.state
    shard, k = state.shard, max(1, state.nshards)
    finished = True
    state.runs += 1
    total = path.stat().st_size
    since = filters.since_int
    cat_ok = _category_matcher(filters.categories)
    t_start = time.perf_counter()
    cpu_start = time.thread_time()
    writer_cpu_before = writer.cpu_s
    records_run = 0
    offset, lineno = state.offset, state.line
    inflight: deque[Future] = deque()
    batch = _Batch()
    last_report = 0.0
    reader, raw = _open_lines(path, offset)

    def report(force: bool = False) -> None:
        nonlocal last_report
        now = time.perf_counter()
        if on_progress and (force or now - last_report >= 0.2):
            last_report = now
            on_progress(Progress(raw.tell(), total, lineno, state.imported + sum(len(b.rows) for b in [batch]),
                                 state.skipped, state.filtered, records_run, now - t_start))

    def submit() -> None:
        nonlocal batch
        batch.end_offset, batch.end_line = offset, lineno
        if pool is None:
            writer.write(batch)
        else:
            while len(inflight) >= 2:
                inflight.popleft().result()
            inflight.append(pool.submit(writer.write, batch))
        batch = _Batch()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-writer") if writer_thread else None
    try:
        rows = batch.rows
        for line in reader:
            n = len(line)
            if k > 1 and lineno % k != shard:  # another shard's line
                offset += n
                lineno += 1
                batch.nlines += 1
                continue
            if n <= 2 and not line.strip():
                offset += n
                lineno += 1
                continue
            try:
                f = _parse_line(line)
            except (BadRecord, ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                reason = _reason(e)
                if strict:
                    submit()  # keep everything before the bad line; a rerun resumes at it
                    while inflight:
                        inflight.popleft().result()
                    raise MalformedRecord(path, lineno + 1, reason) from None
                msg = f"{path}:{lineno + 1}: {reason}"
                batch.skips.append((lineno + 1, msg))
                batch.skipped += 1
                if on_skip:
                    on_skip(path, lineno + 1, reason)
            else:
                pub = f["published"]
                d = pub.year * 10000 + pub.month * 100 + pub.day if pub else 0
                cats = f["categories"]
                if (since is not None and d < since) or (cat_ok is not None and not cat_ok(cats)):
                    batch.filtered += 1
                else:
                    title, abstract = f.pop("title"), f.pop("abstract")
                    rows.append((d, f["arxiv_id"], title, abstract, _dumps(f), cats, f["published_estimated"], lineno + 1))
            offset += n
            lineno += 1
            batch.nbytes += n
            batch.nlines += 1
            if len(rows) >= batch_records or batch.nlines >= BATCH_LINES or batch.nbytes >= BATCH_BYTES:
                records_run += len(rows)
                submit()
                rows = batch.rows
                report()
                if stop_line is not None and lineno >= stop_line():
                    finished = False
                    break
        records_run += len(rows)
        submit()
        while inflight:
            inflight.popleft().result()
            report()
        report(force=True)
    finally:
        # on an error or Ctrl-C: let the batch being written finish (it is consistent), drop the rest
        for fut in inflight:
            fut.cancel()
        if pool is not None:
            pool.shutdown(wait=True)
        reader.close()
        raw.close()
        cpu = time.thread_time() - cpu_start
        writer.reader_cpu_s += cpu if pool is not None else max(0.0, cpu - (writer.cpu_s - writer_cpu_before))
        writer.save_elapsed(time.perf_counter() - t_start)
    return finished


# --------------------------------------------------------------------------- the command's engine


@dataclass
class ImportResult:
    index: Path
    stats: dict[str, Any]
    up_to_date: bool = False
    resumed_at_line: int | None = None
    restarted_because: str | None = None
    seconds: float = 0.0
    records_this_run: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # reader/writer thread CPU seconds, this run


def import_snapshot(
    source: Path,
    index: Path,
    filters: Filters = Filters(),
    *,
    strict: bool = False,
    restart: bool = False,
    optimize: bool = False,
    on_skip: Callable[[Path, int, str], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_phase: Callable[[str, dict[str, Any]], None] | None = None,
    batch_records: int = BATCH_RECORDS,
    shards: int | None = None,
) -> ImportResult:
    """Import `source` into `index` (written as INDEX.partial, renamed when complete); resumes an
    interrupted import of the same file with the same filters. `optimize`: merge the full-text index
    into one segment at the end (off by default: see "No final merge" above). Raises SnapshotImportError."""
    source = Path(source)
    index = Path(index)
    if not source.exists():
        raise SnapshotImportError(f"no such file: {source}")
    index.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index) + ".lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ImportLocked(f"another import into {index} is running (lock file {index}.lock)") from None
    try:
        return _import_locked(source, index, filters, strict=strict, restart=restart, optimize=optimize,
                              on_skip=on_skip, on_progress=on_progress, on_phase=on_phase,
                              batch_records=batch_records, shards=shards)
    finally:
        lock.release()


def shard_files(index: Path, meta: dict[str, Any]) -> list[Path]:
    """The files beside `index` that hold its other shards (meta['shards']['files']); [] for one."""
    sh = meta.get("shards")
    if not isinstance(sh, dict):
        return []
    return [index.with_name(name) for name in sh.get("files", [])]


def _shard_name(index: Path, tag: str, i: int) -> str:
    return f"{index.name}.{tag}.s{i}"


def remove_index(path: Path, *, recover: bool = False) -> None:
    """Delete an index (or INDEX.partial) and the shard files it names."""
    if path.exists():
        for f in shard_files(path, read_meta(path, recover=recover)):
            remove_db(f)
    remove_db(path)


def _remove_stray_shards(index: Path, keep: Iterable[Path]) -> None:
    """Shard files of INDEX that no index or unfinished import names any more (an earlier import's)."""
    keep = {p.name for p in keep}
    for f in index.parent.glob(f"{glob_escape(index.name)}.*.s[0-9]*"):
        base = f.name.removesuffix("-journal")
        if base not in keep and re.fullmatch(re.escape(index.name) + r"\.[0-9a-f]+\.s\d+", base):
            f.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def unfinished_state(partial: Path) -> dict[str, Any]:
    """An unfinished import's progress over all its shards: the counters added up, `line` the last
    line up to which every shard has read (a rerun redoes nothing before it). {} if unreadable."""
    meta = read_meta(partial, recover=True)
    st = meta.get("import")
    if not isinstance(st, dict):
        return {}
    out = dict(st)
    for f in shard_files(partial, meta):
        other = read_meta(f, recover=True).get("import") if f.exists() else None
        other = other if isinstance(other, dict) else {}
        for key in ("imported", "skipped", "filtered", "replaced"):
            out[key] = out.get(key, 0) + other.get(key, 0)
        out["line"] = min(out.get("line", 0), other.get("line", 0))
    return out


def choose_shards(source: Path) -> int:
    """How many shards (writer processes) an import uses: RETEST_IMPORT_SHARDS if set, else SHARDS
    for a file of at least SHARD_MIN_BYTES on a machine with that many cores, else one."""
    env = os.environ.get("RETEST_IMPORT_SHARDS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise SnapshotImportError(f"RETEST_IMPORT_SHARDS={env!r} is not a number (1 or 2)") from None
        if n not in (1, 2):
            raise SnapshotImportError(f"RETEST_IMPORT_SHARDS={env!r}: use 1 or 2")
        return n
    if not hasattr(os, "fork"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return SHARDS if cores >= SHARDS and source.stat().st_size >= SHARD_MIN_BYTES else 1


def _import_locked(source: Path, index: Path, filters: Filters, *, strict: bool, restart: bool, optimize: bool,
                   on_skip, on_progress, on_phase, batch_records: int, shards: int | None) -> ImportResult:
    t0 = time.perf_counter()
    ident = source_identity(source)
    partial = partial_path(index)
    why: str | None = None
    live_meta: dict[str, Any] = {}
    if index.exists():
        meta = live_meta = read_meta(index)
        if not meta:
            raise SnapshotImportError(f"{index} exists and is not a retest snapshot index: choose another --index")
        current = (meta.get("schema") == INDEX_SCHEMA and isinstance(meta.get("import"), dict)
                   and "stats" in meta and all(f.exists() for f in shard_files(index, meta)))
        if current and not restart and same_source(meta["import"].get("source"), ident) \
                and meta["import"].get("filters") == filters.to_json():
            return ImportResult(index, meta["stats"], up_to_date=True)
        if not current:
            why = "the index was written by another version of retest (or a shard file is missing)"
        elif restart:
            why = "--restart"
        elif not same_source(meta["import"].get("source"), ident):
            why = f"{source} changed since it was imported"
        else:
            why = "the filters differ from the last import's"
    resumed_at: int | None = None
    pmeta: dict[str, Any] = {}
    if partial.exists():
        pmeta = read_meta(partial, recover=True)
        st = pmeta.get("import") if isinstance(pmeta.get("import"), dict) else None
        if restart:
            remove_index(partial, recover=True)
        elif not (pmeta.get("schema") == INDEX_SCHEMA and st):
            why = why or ("the interrupted import was written by another version of retest" if pmeta
                          else "the interrupted import cannot be read")
            remove_index(partial, recover=True)
        elif not same_source(st.get("source"), ident):
            why = why or f"{source} changed since the interrupted import began"
            remove_index(partial, recover=True)
        elif st.get("filters") != filters.to_json():
            why = why or "the filters differ from the interrupted import's"
            remove_index(partial, recover=True)
        else:
            resumed_at = int(unfinished_state(partial).get("line", 0)) + 1
    if resumed_at is not None:
        nshards = int(pmeta["import"].get("nshards", 1))
        others = shard_files(partial, pmeta)
        if len(others) != nshards - 1:
            raise SnapshotImportError(f"the interrupted import in {partial} is damaged: rerun with --restart")
    else:
        nshards = shards or choose_shards(source)
        tag = os.urandom(4).hex()  # a new import's shard files never clash with the live index's
        others = [index.with_name(_shard_name(index, tag, i)) for i in range(1, nshards)]
    _remove_stray_shards(index, shard_files(index, live_meta) + (others if resumed_at is not None else []))
    shards_meta = {"n": nshards, "files": [f.name for f in others]} if nshards > 1 else None
    writer = IndexWriter.open(partial, ident, filters, nshards=nshards, shards_meta=shards_meta)
    before = writer.state.imported
    phase = on_phase or (lambda name, detail: None)
    if nshards > 1:
        writer.close()
        before = sum(read_meta(f, recover=True).get("import", {}).get("imported", 0) for f in others if f.exists()) + before
        phase("start", {"index": index, "resumed_at_line": resumed_at, "restarted_because": why, "imported": before})
        stats, cpu = _run_shards(source, partial, others, ident, filters, strict=strict, optimize=optimize,
                                 on_skip=on_skip, on_progress=on_progress, phase=phase, batch_records=batch_records)
        files = [partial, *others]
    else:
        phase("start", {"index": index, "resumed_at_line": resumed_at, "restarted_because": why, "imported": before})
        try:
            if not writer.state.done_reading:
                phase("reading", {})
                ingest(source, writer, filters, strict=strict, on_skip=on_skip, on_progress=on_progress,
                       batch_records=batch_records)
                writer.save_elapsed(0.0, done_reading=True)
            phase("finishing", {})
            t_fin = time.thread_time()
            stats = writer.finalize(optimize=optimize, extra_meta={"kind": "import", "filters": filters.to_json()})
            cpu = {"reader_s": writer.reader_cpu_s, "writer_s": writer.cpu_s, "finish_s": time.thread_time() - t_fin}
        finally:
            writer.close()
        files = [partial]
    for f in files:
        _fsync(f)
    os.replace(partial, index)
    remove_db(partial)
    _remove_stray_shards(index, others)
    return ImportResult(index, stats, resumed_at_line=resumed_at, restarted_because=why,
                        seconds=time.perf_counter() - t0, records_this_run=stats["records"] - before, cpu=cpu)


# --------------------------------------------------------------------------- shards: one writer process each
#
# FTS5 indexing is the import's bottleneck and one SQLite database has one writer, so a big import
# is written as SHARDS databases by as many processes, each reading the whole file and taking every
# SHARDS-th line (line i goes to shard i % SHARDS): INDEX itself (shard 0, which also holds the
# search statistics of all) and INDEX.TAG.s1... beside it, named in meta['shards']. Row ids stay
# unique across shards (n * SHARDS + shard within a day), so a row id names its shard. Each shard
# resumes from its own offset; a duplicate id in two shards is settled when they are combined (the
# later line wins, as within one). A search queries every shard (tools/arxiv/snapshot.py).


def _die_with_parent() -> None:
    """A shard process must not outlive the import (kill -9 of the command included): it would go
    on writing beside the rerun."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux: the ppid check below
        pass


def _shard_main(source: str, db: str, shard: int, nshards: int, ident: dict[str, Any], filters: dict[str, Any],
                strict: bool, optimize: bool, batch_records: int, q: Any, stop: Any, ppid: int) -> None:
    _die_with_parent()
    import resource

    path = Path(source)
    flt = Filters(since=filters.get("since"), categories=tuple(filters.get("categories") or ()))
    sent_skips = 0
    last = 0.0

    def on_skip(p: Path, line: int, reason: str) -> None:
        nonlocal sent_skips
        if sent_skips < MAX_STORED_SKIPS:
            sent_skips += 1
            q.put(("skip", shard, line, reason))

    def on_progress(pr: Progress) -> None:
        nonlocal last
        if os.getppid() != ppid:  # the import is gone
            os._exit(1)
        now = time.monotonic()
        if now - last >= 0.25:
            last = now
            q.put(("progress", shard, pr))

    try:
        writer = IndexWriter.open(Path(db), ident, flt, shard=shard, nshards=nshards)
        try:
            if not writer.state.done_reading:
                done = ingest(path, writer, flt, strict=strict, on_skip=on_skip, on_progress=on_progress,
                              batch_records=batch_records, stop_line=lambda: stop.value, writer_thread=False)
                if not done:
                    q.put(("stopped", shard))
                    return
                writer.save_elapsed(0.0, done_reading=True)
            q.put(("read", shard))
            t_fin = time.thread_time()
            if not writer.state.shard_done:
                writer.finish_shard(optimize=optimize)
            cpu = {"reader_s": writer.reader_cpu_s, "writer_s": writer.cpu_s, "finish_s": time.thread_time() - t_fin,
                   "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        finally:
            writer.close()
        q.put(("done", shard, cpu))
    except MalformedRecord as e:
        q.put(("malformed", shard, e.line, e.reason))
    except SnapshotImportError as e:
        q.put(("error", shard, str(e)))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
        q.put(("error", shard, f"{type(e).__name__}: {e}"))


def _run_shards(source: Path, main: Path, others: list[Path], ident: dict[str, Any], filters: Filters, *,
                strict: bool, optimize: bool, on_skip, on_progress, phase, batch_records: int
                ) -> tuple[dict[str, Any], dict[str, float]]:
    import multiprocessing as mp
    import queue as queue_mod
    import resource

    files = [main, *others]
    k = len(files)
    # fork, not spawn: spawn would run the caller's __main__ again in each child. The children run
    # only this module's code (no logging, no console), so threads elsewhere in the parent are harmless.
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    stop = ctx.RawValue("q", 1 << 62)
    procs = []
    need_reading = any(not (read_meta(f, recover=True).get("import") or {}).get("done_reading") for f in files)
    if need_reading:
        phase("reading", {})
    for i, f in enumerate(files):
        pr = ctx.Process(target=_shard_main, name=f"snapshot-shard{i}", daemon=True,
                         args=(str(source), str(f), i, k, ident, filters.to_json(), strict, optimize, batch_records,
                               q, stop, os.getpid()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Python >= 3.12: fork with threads
            pr.start()
        procs.append(pr)
    progress: dict[int, Progress] = {}
    results: dict[int, dict[str, float]] = {}
    malformed: list[tuple[int, str]] = []
    errors: list[str] = []
    read: set[int] = set()
    finished: set[int] = set()
    t_start = time.perf_counter()
    total = source.stat().st_size
    try:
        while len(finished) < k:
            try:
                msg = q.get(timeout=0.5)
            except queue_mod.Empty:
                for i, pr in enumerate(procs):
                    if i not in finished and not pr.is_alive() and q.empty():
                        finished.add(i)
                        errors.append(f"shard {i}'s process died (exit status {pr.exitcode})")
                continue
            kind, i = msg[0], msg[1]
            if kind == "progress":
                progress[i] = msg[2]
                if on_progress and len(progress) == k:
                    ps = list(progress.values())
                    now = time.perf_counter() - t_start
                    on_progress(Progress(min(p.bytes_done for p in ps), total, min(p.lines for p in ps),
                                         sum(p.imported for p in ps), sum(p.skipped for p in ps),
                                         sum(p.filtered for p in ps), sum(p.records_this_run for p in ps), now))
            elif kind == "skip":
                if on_skip:
                    on_skip(source, msg[2], msg[3])
            elif kind == "read":
                read.add(i)
                if len(read) == k:
                    phase("finishing", {})
            elif kind == "done":
                results[i] = msg[2]
                finished.add(i)
            elif kind == "malformed":
                malformed.append((msg[2], msg[3]))
                stop.value = min(stop.value, msg[2])  # the others stop once past it
                finished.add(i)
            elif kind == "stopped":
                finished.add(i)
            else:
                errors.append(msg[2])
                stop.value = 0
                finished.add(i)
        for pr in procs:
            pr.join()
    finally:
        for pr in procs:
            if pr.is_alive():
                pr.terminate()
                pr.join()
    if malformed:
        line, reason = min(malformed)
        raise MalformedRecord(source, line, reason)
    if errors:
        raise SnapshotImportError(f"the import stopped: {errors[0]}; rerun to resume")
    t_fin = time.thread_time()
    stats = finalize_shards(files, optimize=optimize, extra_meta={"kind": "import", "filters": filters.to_json()})
    cpu = {key: sum(r[key] for r in results.values()) for key in ("reader_s", "writer_s", "finish_s")}
    cpu["finish_s"] += time.thread_time() - t_fin
    cpu["rss_mb"] = sum(r["rss_mb"] for r in results.values()) + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return stats, cpu


def finalize_shards(files: list[Path], *, optimize: bool, extra_meta: dict[str, Any]) -> dict[str, Any]:
    """Combine finished shards into one index: settle ids found in two shards (the later line wins),
    add up the term counts and the tallies, gather the skipped lines; in one transaction over all the
    files, so an interrupted finish is done again by the rerun. Returns the stats."""
    t0 = time.perf_counter()
    con = sqlite3.connect(files[0], isolation_level=None, timeout=30)
    try:
        con.executescript("PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=OFF; PRAGMA temp_store=MEMORY;")
        names = ["main"]
        for i, f in enumerate(files[1:], 1):
            con.execute(f"ATTACH DATABASE ? AS s{i}", (str(f),))
            con.execute(f"PRAGMA s{i}.journal_mode=TRUNCATE")
            names.append(f"s{i}")
        states = [ImportState.from_json(json.loads(con.execute(
            f"SELECT value FROM {n}.meta WHERE key = 'import'").fetchone()[0])) for n in names]
        con.execute("BEGIN")
        touched: set[int] = set()
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                dups = con.execute(f"SELECT x.pk, x.line, y.pk, y.line FROM {names[a]}.papers x "
                                   f"JOIN {names[b]}.papers y ON x.id = y.id").fetchall()
                for pk_a, line_a, pk_b, line_b in dups:
                    loser, pk = (a, pk_a) if line_a < line_b else (b, pk_b)
                    n = names[loser]
                    title, abstract, js = con.execute(
                        f"SELECT title, abstract, json FROM {n}.papers WHERE pk = ?", (pk,)).fetchone()
                    meta = json.loads(js)
                    con.execute(f"INSERT INTO {n}.fts(fts, rowid, title, abstract) VALUES('delete', ?, ?, ?)",
                                (pk, title, abstract))
                    con.executemany(f"DELETE FROM {n}.cats WHERE cat = ? AND pid = ?",
                                    [(c, pk) for c in meta["categories"]])
                    con.execute(f"DELETE FROM {n}.papers WHERE pk = ?", (pk,))
                    _tally(states[loser], [(pk // PK_SCALE, meta["categories"], bool(meta.get("published_estimated")))], -1)
                    states[loser].replaced += 1
                    touched.add(loser)
        for t in sorted(touched):
            _merge_fts(con, names[t], optimize)
            _count_shard_terms(con, names[t])
        total = _combined_state(states)
        threshold = terms_threshold(total.imported)
        con.execute("DROP TABLE IF EXISTS main.terms")
        con.execute("CREATE TABLE main.terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
        union = " UNION ALL ".join(f"SELECT term, df FROM {n}.shard_terms" for n in names)
        con.execute(f"INSERT INTO main.terms SELECT term, sum(df) FROM ({union}) GROUP BY term HAVING sum(df) >= ?",
                    (threshold,))
        skips = []
        for n in names[1:]:
            skips += con.execute(f"SELECT line, message FROM {n}.skipped").fetchall()
            con.execute(f"DELETE FROM {n}.skipped")
        if skips:
            skips += con.execute("SELECT line, message FROM main.skipped").fetchall()
            con.execute("DELETE FROM main.skipped")
            con.executemany("INSERT INTO main.skipped(line, message) VALUES (?, ?)", sorted(skips)[:MAX_STORED_SKIPS])
        for i, (n, st) in enumerate(zip(names, states, strict=True)):
            con.execute(f"INSERT OR REPLACE INTO {n}.meta VALUES ('import', ?)", (st.to_json(),))
            if i:
                con.execute(f"INSERT OR REPLACE INTO {n}.meta VALUES ('shard_of', ?)", (json.dumps(files[0].name),))
        stats = _stats(total, threshold, time.perf_counter() - t0)
        stats["shards"] = len(files)
        con.execute("INSERT OR REPLACE INTO main.meta VALUES ('stats', ?)", (json.dumps(stats),))
        for key, v in extra_meta.items():
            con.execute("INSERT OR REPLACE INTO main.meta VALUES (?, ?)", (key, json.dumps(v)))
        con.execute("COMMIT")
        for n in names:
            con.execute(f"PRAGMA {n}.journal_mode=DELETE")
    finally:
        con.close()
    return stats


def _combined_state(states: list[ImportState]) -> ImportState:
    tot = ImportState(source=states[0].source, filters=states[0].filters, started=states[0].started,
                      runs=states[0].runs, done_reading=True)
    for st in states:
        for key in ("imported", "skipped", "filtered", "replaced", "estimated", "undated"):
            setattr(tot, key, getattr(tot, key) + getattr(st, key))
        tot.line = max(tot.line, st.line)
        tot.offset = max(tot.offset, st.offset)
        tot.elapsed_s = max(tot.elapsed_s, st.elapsed_s)
        for attr in ("months", "cats"):
            acc = getattr(tot, attr)
            for key, v in getattr(st, attr).items():
                acc[key] = acc.get(key, 0) + v
        for attr, pick in (("d_min", min), ("d_max", max)):
            v = getattr(st, attr)
            if v is not None:
                cur = getattr(tot, attr)
                setattr(tot, attr, v if cur is None else pick(cur, v))
    return tot


def build_index(source: Path, db: Path, *, on_skip: Callable[[Path, int, str], None] | None = None,
                extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Index a whole file into a new database at `db` in one go (SnapshotSource's on-demand index,
    one shard). Returns the stats."""
    remove_db(db)
    writer = IndexWriter.open(db, source_identity(source), Filters())
    try:
        ingest(source, writer, on_skip=on_skip)
        writer.save_elapsed(0.0, done_reading=True)
        return writer.finalize(optimize=True, extra_meta={"kind": "build", **(extra_meta or {})})
    finally:
        writer.close()
