"""The offline arXiv snapshot: JSON lines (optionally gzipped) indexed once into SQLite FTS5.

Two line shapes are read:

* retest's own records (``tools/arxiv/data/papers.jsonl``): ``id``, ``title``, ``authors`` (list),
  ``abstract``, ``published`` (v1 date ``YYYY-MM-DD`` or null), ``updated``, ``primary_category``,
  ``categories`` (list), optional ``versions`` ({"v1": "YYYY-MM-DD", ...}) and provenance fields;
* the public arXiv metadata dump: ``id``, ``authors`` (one string), ``title``, ``categories``
  (space-separated), ``abstract``, ``versions`` ([{"version": "v1", "created": RFC 2822}, ...]),
  ``update_date``, ``authors_parsed``.

Where no v1 date is known, the date is derived from the id's YYMM and the paper is marked
``published_estimated``.  The index (BM25, porter stemming) lives at ``index_path`` and is rebuilt
when the source file's fingerprint (size, mtime, SHA-256) changes.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from claims.dates import date_from_arxiv_id, from_int, to_int
from claims.models import Flag, Paper, split_arxiv_id
from tools.base import SearchQuery, SearchResult

logger = logging.getLogger(__name__)

INDEX_SCHEMA = 4  # bump when the parser or the table layout changes: forces a rebuild
MAX_QUERY_TERMS = 32
MAX_LOGGED_SKIPS = 20
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
_WS_RE = re.compile(r"\s+")


def default_snapshot_path() -> Path:
    """The bundled snapshot of real arXiv records (see tools/arxiv/data/README.md)."""
    return _DATA_DIR / "papers.jsonl"


def normalize_ws(text: str | None) -> str:
    return _WS_RE.sub(" ", text or "").strip()


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


# --------------------------------------------------------------------------- parsing


class BadRecord(ValueError):
    pass


def _parse_iso_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRecord(f"date is not a string: {value!r}")
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError as e:
        raise BadRecord(f"bad date {value!r}") from e


def _parse_rfc2822_date(value: Any) -> date | None:
    if not value:
        return None
    try:
        dt: datetime = parsedate_to_datetime(str(value))
    except (TypeError, ValueError) as e:
        raise BadRecord(f"bad version date {value!r}") from e
    return dt.date()


def _version_number(label: Any) -> int:
    m = re.fullmatch(r"v?(\d+)", str(label).strip())
    if not m:
        raise BadRecord(f"bad version label {label!r}")
    return int(m[1])


def _author_from_parsed(parts: Any) -> str:
    if not isinstance(parts, list | tuple):
        raise BadRecord("authors_parsed entry is not a list")
    last = str(parts[0]) if len(parts) > 0 else ""
    first = str(parts[1]) if len(parts) > 1 else ""
    suffix = str(parts[2]) if len(parts) > 2 else ""
    return normalize_ws(" ".join(p for p in (first, last, suffix) if p))


def _split_author_string(authors: str) -> list[str]:
    flat = normalize_ws(authors)
    if not flat:
        return []
    parts = re.split(r",\s*|\s+and\s+", flat)
    return [p.strip() for p in parts if p.strip()]


def is_dump_shape(obj: dict[str, Any]) -> bool:
    versions = obj.get("versions")
    return (
        isinstance(obj.get("authors"), str)
        or "authors_parsed" in obj
        or "update_date" in obj
        or (isinstance(versions, list) and bool(versions) and isinstance(versions[0], dict))
    )


def _common(obj: dict[str, Any]) -> tuple[str, int | None, str, str]:
    raw_id = obj.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise BadRecord("missing id")
    try:
        arxiv_id, version = split_arxiv_id(raw_id)
    except ValueError as e:
        raise BadRecord(str(e)) from e
    title = normalize_ws(obj.get("title") if isinstance(obj.get("title"), str) else "")
    if not title:
        raise BadRecord(f"{arxiv_id}: missing title")
    abstract = obj.get("abstract")
    if abstract is not None and not isinstance(abstract, str):
        raise BadRecord(f"{arxiv_id}: abstract is not a string")
    return arxiv_id, version, title, normalize_ws(abstract)


def _finish(arxiv_id: str, published: date | None, **kw: Any) -> Paper:
    estimated = False
    if published is None:
        published = date_from_arxiv_id(arxiv_id)
        estimated = published is not None
    return Paper(arxiv_id=arxiv_id, published=published, published_estimated=estimated, **kw)


def paper_from_record(obj: Any) -> Paper:
    """One JSON object of either shape to a Paper. Raises BadRecord."""
    if not isinstance(obj, dict):
        raise BadRecord("line is not a JSON object")
    return _from_dump(obj) if is_dump_shape(obj) else _from_retest(obj)


def _from_retest(obj: dict[str, Any]) -> Paper:
    arxiv_id, id_version, title, abstract = _common(obj)
    authors = obj.get("authors") or []
    if not isinstance(authors, list):
        raise BadRecord(f"{arxiv_id}: authors is not a list")
    cats = obj.get("categories") or []
    if isinstance(cats, str):
        cats = cats.split()
    if not isinstance(cats, list):
        raise BadRecord(f"{arxiv_id}: categories is not a list")
    version = id_version or 1
    versions = obj.get("versions")
    last_version_date = None
    if isinstance(versions, dict) and versions:
        numbered = sorted((_version_number(k), v) for k, v in versions.items())
        version = max(version, numbered[-1][0])
        last_version_date = _parse_iso_date(numbered[-1][1]) if numbered[-1][0] > 1 else None
    primary = obj.get("primary_category") or (cats[0] if cats else None)
    return _finish(
        arxiv_id,
        _parse_iso_date(obj.get("published")),
        version=version,
        title=title,
        abstract=abstract,
        authors=[normalize_ws(str(a)) for a in authors if normalize_ws(str(a))],
        updated=_parse_iso_date(obj.get("updated")) or last_version_date,
        categories=[str(c) for c in cats],
        primary_category=str(primary) if primary else None,
    )


def _from_dump(obj: dict[str, Any]) -> Paper:
    arxiv_id, id_version, title, abstract = _common(obj)
    versions = obj.get("versions") or []
    if not isinstance(versions, list):
        raise BadRecord(f"{arxiv_id}: versions is not a list")
    dated: list[tuple[int, date | None]] = []
    for v in versions:
        if not isinstance(v, dict):
            raise BadRecord(f"{arxiv_id}: version entry is not an object")
        dated.append((_version_number(v.get("version", "")), _parse_rfc2822_date(v.get("created"))))
    dated.sort(key=lambda t: t[0])
    published = next((d for n, d in dated if n == 1), None)
    version = max([n for n, _ in dated] + [id_version or 1])
    updated = dated[-1][1] if dated and dated[-1][0] > 1 else None
    if updated == published:
        updated = None
    if obj.get("authors_parsed"):
        parsed = obj["authors_parsed"]
        if not isinstance(parsed, list):
            raise BadRecord(f"{arxiv_id}: authors_parsed is not a list")
        authors = [a for a in (_author_from_parsed(p) for p in parsed) if a]
    else:
        authors = _split_author_string(obj.get("authors") or "")
    cats_raw = obj.get("categories") or ""
    cats = cats_raw.split() if isinstance(cats_raw, str) else [str(c) for c in cats_raw]
    return _finish(
        arxiv_id,
        published,
        version=version,
        title=title,
        abstract=abstract,
        authors=authors,
        updated=updated,
        categories=cats,
        primary_category=cats[0] if cats else None,
    )


def _fmt_rfc2822(d: date) -> str:
    return datetime(d.year, d.month, d.day, 12, 0, 0).strftime("%a, %d %b %Y %H:%M:%S GMT")


def paper_to_dump_record(paper: Paper) -> dict[str, Any]:
    """A Paper in the public arXiv metadata dump shape (the inverse of the dump parser)."""
    versions = [{"version": "v1", "created": _fmt_rfc2822(paper.published)}] if paper.published else []
    for n in range(2, paper.version + 1):
        d = paper.updated or paper.published
        versions.append({"version": f"v{n}", "created": _fmt_rfc2822(d) if d else ""})
    parsed = []
    for name in paper.authors:
        first, _, last = name.rpartition(" ")
        parsed.append([last, first, ""])
    return {
        "id": paper.arxiv_id,
        "submitter": None,
        "authors": ", ".join(paper.authors),
        "title": paper.title,
        "comments": None,
        "journal-ref": None,
        "doi": None,
        "categories": " ".join(paper.categories),
        "license": None,
        "abstract": paper.abstract,
        "versions": versions,
        "update_date": (paper.updated or paper.published or date(1991, 8, 14)).isoformat(),
        "authors_parsed": parsed,
    }


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def iter_records(path: Path, skipped: list[str]) -> Iterator[Paper]:
    """Papers from a snapshot file; bad lines are appended to `skipped` as 'file:line: reason'."""
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield paper_from_record(json.loads(line))
            except (json.JSONDecodeError, BadRecord, ValueError, TypeError, KeyError, IndexError) as e:
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                skipped.append(f"{path}:{lineno}: {reason}")
                if len(skipped) <= MAX_LOGGED_SKIPS:
                    logger.warning("skipping bad snapshot line %s:%d: %s", path, lineno, reason)


# --------------------------------------------------------------------------- the source


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _row_paper(js: str, title: str, abstract: str) -> Paper:
    return Paper.model_validate({**json.loads(js), "title": title, "abstract": abstract})


def default_index_path(snapshot_path: Path) -> Path:
    import platformdirs

    tag = hashlib.sha256(str(snapshot_path.resolve()).encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("retest")) / "arxiv" / f"snapshot-{tag}.sqlite"


class SnapshotSource:
    """Search over a local arXiv snapshot (SQLite FTS5, BM25). Implements tools.base.SearchSource."""

    name = "snapshot"

    def __init__(self, path: Path | None = None, *, index_path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_snapshot_path()
        self.index_path = Path(index_path) if index_path is not None else default_index_path(self.path)
        self.requests = 0
        self.rebuilt = False
        self.skipped: list[str] = []
        self._lock = threading.Lock()
        self._ensure_index()
        self._db = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True, check_same_thread=False)
        self.skipped = [r[0] for r in self._db.execute("SELECT message FROM skipped ORDER BY n")]
        self.size = self._db.execute("SELECT count(*) FROM papers").fetchone()[0]

    # ---- index lifecycle

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
            finally:
                con.close()
            return json.loads(row[0]) if row else None
        except (sqlite3.Error, json.JSONDecodeError):
            return None

    def _ensure_index(self) -> None:
        if not self.path.exists():
            raise FileNotFoundError(f"arXiv snapshot not found: {self.path}")
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
        skipped: list[str] = []
        try:
            con = sqlite3.connect(tmp)
            con.executescript(
                """
                PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
                CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
                CREATE TABLE papers(pk INTEGER PRIMARY KEY, id TEXT UNIQUE, d INTEGER, title TEXT,
                                    abstract TEXT, cats TEXT, json TEXT);
                CREATE TABLE skipped(n INTEGER PRIMARY KEY, message TEXT);
                """
            )
            batch: list[tuple] = []
            sql = "INSERT OR REPLACE INTO papers(id, d, title, abstract, cats, json) VALUES (?,?,?,?,?,?)"
            for p in iter_records(self.path, skipped):
                eff = p.effective_published()
                batch.append(
                    (p.arxiv_id, to_int(eff) if eff else None, p.title, p.abstract,
                     json.dumps(p.categories), p.model_dump_json(exclude={"title", "abstract"}))
                )
                if len(batch) >= 5000:
                    con.executemany(sql, batch)
                    batch.clear()
            con.executemany(sql, batch)
            con.executescript(
                """
                CREATE VIRTUAL TABLE fts USING fts5(title, abstract, content='papers',
                    content_rowid='pk', tokenize='porter unicode61 remove_diacritics 2');
                INSERT INTO fts(rowid, title, abstract) SELECT pk, title, abstract FROM papers;
                CREATE TABLE cats(pid INTEGER, cat TEXT);
                INSERT INTO cats SELECT p.pk, j.value FROM papers p, json_each(p.cats) j;
                CREATE INDEX cats_cat ON cats(cat, pid);
                CREATE INDEX papers_d ON papers(d);
                """
            )
            con.executemany("INSERT INTO skipped(message) VALUES (?)", [(s,) for s in skipped])
            con.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (json.dumps(fp),))
            con.execute("INSERT INTO meta VALUES ('source', ?)", (str(self.path),))
            con.commit()
            con.close()
            os.replace(tmp, self.index_path)
        finally:
            if tmp.exists():
                tmp.unlink()
        if skipped:
            logger.warning("skipped %d bad line(s) in %s (first: %s)", len(skipped), self.path, skipped[0])
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
        where: list[str] = []
        args: list[Any] = []
        if query.after is not None:
            where.append("p.d > ?")
            args.append(to_int(query.after))
        if query.before is not None:
            where.append("p.d <= ?")
            args.append(to_int(query.before))
        if query.categories:
            where.append(f"p.pk IN (SELECT pid FROM cats WHERE cat IN ({','.join('?' * len(query.categories))}))")
            args.extend(query.categories)
        expr = fts_expression(query.text, query.field)
        if expr is None:
            if not where:
                return []
            sql = (
                "SELECT p.json, p.title, p.abstract FROM papers p WHERE " + " AND ".join(where)
                + " ORDER BY p.d DESC, p.id LIMIT ?"
            )
        else:
            sql = (
                "SELECT p.json, p.title, p.abstract FROM fts JOIN papers p ON p.pk = fts.rowid WHERE fts MATCH ?"
                + "".join(" AND " + w for w in where)
                + " ORDER BY bm25(fts, 2.0, 1.0), p.d DESC, p.id LIMIT ?"
            )
            args.insert(0, expr)
        args.append(query.max_results)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [_row_paper(*r) for r in rows]

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
                for row in self._db.execute(q, chunk):
                    p = _row_paper(*row)
                    out[p.arxiv_id] = p
        return out

    def all_papers(self) -> Iterator[Paper]:
        """Every paper in the snapshot (e.g. to serve it over loopback Atom)."""
        with self._lock:
            rows = self._db.execute("SELECT json, title, abstract FROM papers ORDER BY id").fetchall()
        for row in rows:
            yield _row_paper(*row)

    def date_range(self) -> tuple[date | None, date | None]:
        lo, hi = self._db.execute("SELECT min(d), max(d) FROM papers").fetchone()
        return (from_int(lo) if lo else None, from_int(hi) if hi else None)

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"SnapshotSource({str(self.path)!r}, papers={self.size}, skipped={len(self.skipped)})"
