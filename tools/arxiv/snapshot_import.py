"""Writing a snapshot index: a streaming, resumable import of a JSON-lines arXiv metadata file.

One engine writes every index, whether `retest snapshot import` fills it from the whole metadata
dump (~2.7 million records) or `SnapshotSource` indexes a small file on first use:

* **Streaming, bounded memory.** Lines are read as bytes and parsed (orjson when present) in the
  calling thread while one writer thread inserts the previous batch (SQLite releases the GIL while
  it tokenises and writes), with at most two batches in flight.
* **Resumable.** Each batch is one transaction that also records the byte offset and line number
  after it, the counters and the per-month/per-category tallies. A killed import (even `kill -9`)
  loses at most the batch in flight; the next run seeks to the recorded offset and goes on, so
  nothing is lost or counted twice. An import is written to ``INDEX.partial`` and renamed to INDEX
  only once finished, so a search never sees half an index.
* **Date-ordered row ids.** A paper's row id is ``YYYYMMDD * 1_000_000 + n`` (its v1 date, or the
  date estimated from its id; 0 when neither is known): a date window is a row-id range that FTS5
  applies while it walks its posting lists, and "newest first" is the primary key backwards.
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
from collections import deque
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

INDEX_SCHEMA = 5  # bump when the parser or the table layout changes: forces a rebuild / re-import
PK_SCALE = 1_000_000  # row id = YYYYMMDD * PK_SCALE + n
MAX_STORED_SKIPS = 1000
BATCH_RECORDS = 10_000
BATCH_LINES = 50_000  # a batch also closes after this many lines (mostly filtered or bad ones) ...
BATCH_BYTES = 32 << 20  # ... or this many bytes, so a resume never redoes much
HEAD_BYTES = 1 << 20
TOKENIZER = "porter unicode61 remove_diacritics 2"

SCHEMA_SQL = f"""
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS papers(pk INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
                                  abstract TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cats(cat TEXT NOT NULL, pid INTEGER NOT NULL, PRIMARY KEY(cat, pid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skipped(n INTEGER PRIMARY KEY, message TEXT);
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
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
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
    return record_fields(obj)


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
    rows: list[tuple] = field(default_factory=list)  # (d, id, title, abstract, json, cats, estimated)
    skips: list[str] = field(default_factory=list)
    skipped: int = 0
    filtered: int = 0
    end_offset: int = 0
    end_line: int = 0
    nbytes: int = 0
    nlines: int = 0


# --------------------------------------------------------------------------- the writer


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
            """PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=OFF; PRAGMA cache_size=-131072;
               PRAGMA temp_store=MEMORY;"""
        )
        self.con.executescript(SCHEMA_SQL)
        # FTS5: flush the in-memory index once per batch (not once per megabyte of it), and leave the
        # segments unmerged until `finalize` merges them all in one pass (rather than re-merging as
        # they accumulate: -18% writer CPU)
        for option, value in (("hashsize", 64 << 20), ("automerge", 0), ("crisismerge", 1999)):
            self.con.execute("INSERT INTO fts(fts, rank) VALUES(?, ?)", (option, value))
        self._seq: dict[int, int] = {}
        self._maybe_existing = resumed
        self.cpu_s = 0.0  # CPU seconds the writer thread spent (benchmarks/bench_import.py reports it)
        self.reader_cpu_s = 0.0
        self._stored_skips = self.con.execute("SELECT count(*) FROM skipped").fetchone()[0]

    @classmethod
    def open(cls, db: Path, source: dict[str, Any], filters: Filters) -> IndexWriter:
        """Open `db` to resume it if it holds an import of the same source with the same filters,
        else start it afresh. (Callers delete what they do not mean to resume.)"""
        meta = read_meta(db, recover=True) if db.exists() else {}
        st = meta.get("import")
        if (meta.get("schema") == INDEX_SCHEMA and isinstance(st, dict) and same_source(st.get("source"), source)
                and st.get("filters") == filters.to_json()):
            w = cls(db, ImportState.from_json(st), resumed=True)
            w.state.source = source
            return w
        remove_db(db)
        w = cls(db, ImportState(source=source, filters=filters.to_json(),
                                started=datetime.now(UTC).isoformat(timespec="seconds")), resumed=False)
        w.con.execute("BEGIN")
        w.con.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (json.dumps(INDEX_SCHEMA),))
        w.con.execute("INSERT OR REPLACE INTO meta VALUES ('source', ?)", (json.dumps(source["path"]),))
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
                n = 0 if row[0] is None else row[0] - d * PK_SCALE + 1
        if n >= PK_SCALE:
            raise SnapshotImportError(f"more than {PK_SCALE:,} papers dated {d}: cannot index them")
        self._seq[d] = n + 1
        return d * PK_SCALE + n

    def _tally(self, d: int, cats: list[str], estimated: bool, sign: int) -> None:
        s = self.state
        if d:
            ym = str(d // 100)
            s.months[ym] = s.months.get(ym, 0) + sign
            if sign > 0:
                s.d_min = d if s.d_min is None else min(s.d_min, d)
                s.d_max = d if s.d_max is None else max(s.d_max, d)
        else:
            s.undated += sign
        for c in cats:
            s.cats[c] = s.cats.get(c, 0) + sign
        s.estimated += sign * estimated
        s.imported += sign

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
                    self._tally(pk // PK_SCALE, meta["categories"], bool(meta.get("published_estimated")), -1)
                    s.replaced += 1
            rows.sort(key=lambda r: r[0])  # stable: file order within a day; FTS5 wants ascending row ids
            papers, texts, cat_rows = [], [], []
            for d, arxiv_id, title, abstract, js, cats, estimated in rows:
                pk = self._next_pk(d)
                papers.append((pk, arxiv_id, title, abstract, js))
                texts.append((pk, title, abstract))
                cat_rows.extend((c, pk) for c in cats)
                self._tally(d, cats, estimated, +1)
            con.executemany("INSERT INTO papers(pk, id, title, abstract, json) VALUES (?,?,?,?,?)", papers)
            con.executemany("INSERT INTO fts(rowid, title, abstract) VALUES (?,?,?)", texts)
            con.executemany("INSERT OR IGNORE INTO cats(cat, pid) VALUES (?,?)", cat_rows)
            room = MAX_STORED_SKIPS - self._stored_skips
            if room > 0 and batch.skips:
                con.executemany("INSERT INTO skipped(message) VALUES (?)", [(m,) for m in batch.skips[:room]])
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
        if optimize:
            con.execute("INSERT INTO fts(fts) VALUES('optimize')")
        for option, value in (("automerge", 4), ("crisismerge", 16)):  # FTS5's defaults again
            con.execute("INSERT INTO fts(fts, rank) VALUES(?, ?)", (option, value))
        n = s.imported
        threshold = max(64, n // 4000)
        con.execute("DROP TABLE IF EXISTS terms")
        con.execute("CREATE TABLE terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID")
        con.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_rows USING fts5vocab(main, 'fts', 'row')")
        con.execute("INSERT INTO terms SELECT term, doc FROM temp.fts_rows WHERE doc >= ?", (threshold,))
        con.execute("DROP TABLE temp.fts_rows")
        stats = {
            "records": n, "d_min": s.d_min, "d_max": s.d_max, "undated": s.undated, "estimated": s.estimated,
            "months": {k: v for k, v in sorted(s.months.items()) if v}, "cats": {k: v for k, v in s.cats.items() if v},
            "lines": s.line, "skipped": s.skipped, "filtered": s.filtered, "replaced": s.replaced,
            "terms_threshold": threshold, "elapsed_s": round(s.elapsed_s + time.perf_counter() - t0, 2),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"), "started": s.started, "runs": s.runs,
        }
        con.execute("INSERT OR REPLACE INTO meta VALUES ('stats', ?)", (json.dumps(stats),))
        for k, v in (extra_meta or {}).items():
            con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (k, json.dumps(v)))
        con.execute("COMMIT")
        con.execute("PRAGMA journal_mode=DELETE")
        return stats

    def close(self) -> None:
        self.con.close()


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
) -> None:
    """Read `path` from the writer's recorded offset to the end, into the index."""
    state = writer.state
    state.runs += 1
    total = path.stat().st_size
    since = filters.since_int
    cat_ok = _category_matcher(filters.categories)
    t_start = time.perf_counter()
    cpu_start = time.thread_time()
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
        while len(inflight) >= 2:
            inflight.popleft().result()
        inflight.append(pool.submit(writer.write, batch))
        batch = _Batch()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot-writer")
    try:
        rows = batch.rows
        for line in reader:
            n = len(line)
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
                batch.skips.append(msg)
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
                    rows.append((d, f["arxiv_id"], title, abstract, _dumps(f), cats, f["published_estimated"]))
            offset += n
            lineno += 1
            batch.nbytes += n
            batch.nlines += 1
            if len(rows) >= batch_records or batch.nlines >= BATCH_LINES or batch.nbytes >= BATCH_BYTES:
                records_run += len(rows)
                submit()
                rows = batch.rows
                report()
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
        pool.shutdown(wait=True)
        reader.close()
        raw.close()
        writer.reader_cpu_s += time.thread_time() - cpu_start
        writer.save_elapsed(time.perf_counter() - t_start)


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
    optimize: bool = True,
    on_skip: Callable[[Path, int, str], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_phase: Callable[[str, dict[str, Any]], None] | None = None,
    batch_records: int = BATCH_RECORDS,
) -> ImportResult:
    """Import `source` into `index` (written as INDEX.partial, renamed when complete); resumes an
    interrupted import of the same file with the same filters. Raises SnapshotImportError."""
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
                              batch_records=batch_records)
    finally:
        lock.release()


def _import_locked(source: Path, index: Path, filters: Filters, *, strict: bool, restart: bool, optimize: bool,
                   on_skip, on_progress, on_phase, batch_records: int) -> ImportResult:
    t0 = time.perf_counter()
    ident = source_identity(source)
    partial = partial_path(index)
    why: str | None = None
    if index.exists():
        meta = read_meta(index)
        if not meta:
            raise SnapshotImportError(f"{index} exists and is not a retest snapshot index: choose another --index")
        current = (meta.get("schema") == INDEX_SCHEMA and isinstance(meta.get("import"), dict)
                   and "stats" in meta)
        if current and not restart and same_source(meta["import"].get("source"), ident) \
                and meta["import"].get("filters") == filters.to_json():
            return ImportResult(index, meta["stats"], up_to_date=True)
        if not current:
            why = "the index was written by another version of retest"
        elif restart:
            why = "--restart"
        elif not same_source(meta["import"].get("source"), ident):
            why = f"{source} changed since it was imported"
        else:
            why = "the filters differ from the last import's"
    resumed_at: int | None = None
    if partial.exists():
        pmeta = read_meta(partial, recover=True)
        st = pmeta.get("import") if isinstance(pmeta.get("import"), dict) else None
        if restart:
            remove_db(partial)
        elif not (pmeta.get("schema") == INDEX_SCHEMA and st):
            why = why or ("the interrupted import was written by another version of retest" if pmeta
                          else "the interrupted import cannot be read")
            remove_db(partial)
        elif not same_source(st.get("source"), ident):
            why = why or f"{source} changed since the interrupted import began"
            remove_db(partial)
        elif st.get("filters") != filters.to_json():
            why = why or "the filters differ from the interrupted import's"
            remove_db(partial)
        else:
            resumed_at = int(st.get("line", 0)) + 1
    writer = IndexWriter.open(partial, ident, filters)
    before = writer.state.imported
    phase = on_phase or (lambda name, detail: None)
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
    _fsync(partial)
    os.replace(partial, index)
    remove_db(partial)
    return ImportResult(index, stats, resumed_at_line=resumed_at, restarted_because=why,
                        seconds=time.perf_counter() - t0, records_this_run=stats["records"] - before, cpu=cpu)


def build_index(source: Path, db: Path, *, on_skip: Callable[[Path, int, str], None] | None = None,
                extra_meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Index a whole file into a new database at `db` in one go (SnapshotSource's on-demand index).
    Returns the stats."""
    remove_db(db)
    writer = IndexWriter.open(db, source_identity(source), Filters())
    try:
        ingest(source, writer, on_skip=on_skip)
        writer.save_elapsed(0.0, done_reading=True)
        return writer.finalize(optimize=True, extra_meta={"kind": "build", **(extra_meta or {})})
    finally:
        writer.close()
