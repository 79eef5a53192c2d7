"""Reading arXiv metadata lines: retest's record shape and the public arXiv metadata dump's.

* retest's own records (``tools/arxiv/data/papers.jsonl``): ``id``, ``title``, ``authors`` (list),
  ``abstract``, ``published`` (v1 date ``YYYY-MM-DD`` or null), ``updated``, ``primary_category``,
  ``categories`` (list), optional ``versions`` ({"v1": "YYYY-MM-DD", ...}) and provenance fields;
* the public arXiv metadata dump: ``id``, ``authors`` (one string), ``title``, ``categories``
  (space-separated), ``abstract``, ``versions`` ([{"version": "v1", "created": RFC 2822}, ...]),
  ``update_date``, ``authors_parsed``.

Where no v1 date is known, the date is derived from the id's YYMM and the paper is marked
``published_estimated``. `record_fields` gives Paper's fields as plain values (what the importer
stores, millions of times); `paper_from_record` builds the Paper.
"""
from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Iterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from claims.dates import date_from_arxiv_id
from claims.models import ARXIV_ID_RE, Paper, split_arxiv_id
from claims.text import normalize_ws

logger = logging.getLogger("tools.arxiv.snapshot")

MAX_LOGGED_SKIPS = 20


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


_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


_DAYS: dict[str, date] = {}  # "Mon, 2 Apr 2007" -> its date: a few thousand days cover the dump


def _parse_version_date(value: Any) -> date | None:
    """A dump version's `created` ("Mon, 2 Apr 2007 19:18:42 GMT") to its date: the common form read
    directly (the dump holds millions; each day's once), anything else through the e-mail date parser."""
    if isinstance(value, str):
        day = value.rsplit(" ", 2)[0]
        known = _DAYS.get(day)
        if known is not None:
            return known
        parts = value.split()
        if len(parts) >= 4 and len(parts[3]) == 4 and parts[0].endswith(","):
            try:
                d = date(int(parts[3]), _MONTHS[parts[2]], int(parts[1]))
            except (KeyError, ValueError):
                pass
            else:
                if day.split() == parts[:4] and len(_DAYS) < 100_000:
                    _DAYS[day] = d
                return d
    return _parse_rfc2822_date(value)


def _version_number(label: Any) -> int:
    if type(label) is str and label[:1] == "v" and label[1:].isdecimal():  # "v2": the usual case
        return int(label[1:])
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
    return " ".join(f"{first} {last} {suffix}".split())


def _authors_from_parsed(parsed: list[Any]) -> list[str]:
    """`_author_from_parsed` of each entry, the empty left out; the dump's usual [last, first, suffix]
    of strings read inline (millions of them)."""
    out = []
    for parts in parsed:
        if type(parts) is list and len(parts) == 3:
            last, first, suffix = parts
            if type(last) is str and type(first) is str and type(suffix) is str:
                name = " ".join(f"{first} {last} {suffix}".split())
                if name:
                    out.append(name)
                continue
        name = _author_from_parsed(parts)
        if name:
            out.append(name)
    return out


def _split_id(raw_id: str) -> tuple[str, int | None]:
    """split_arxiv_id, with the dump's plain ids (no URL, prefix, .pdf or padding) matched directly."""
    if raw_id[:1].isdigit() and raw_id[-1:].isalnum() and not raw_id.endswith(".pdf") and raw_id[0] != " ":
        m = ARXIV_ID_RE.match(raw_id)
        if m and m.end() == len(raw_id):
            return (m["new"] or m["old"]), (int(m["v"]) if m["v"] else None)
    return split_arxiv_id(raw_id)


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


def _common(obj: dict[str, Any], normalize: bool = True) -> tuple[str, int | None, str, str]:
    raw_id = obj.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise BadRecord("missing id")
    try:
        arxiv_id, version = _split_id(raw_id)
    except ValueError as e:
        raise BadRecord(str(e)) from e
    title = obj.get("title")
    if type(title) is not str or not title or title.isspace():
        raise BadRecord(f"{arxiv_id}: missing title")
    abstract = obj.get("abstract")
    if abstract is None:
        abstract = ""
    elif type(abstract) is not str:
        raise BadRecord(f"{arxiv_id}: abstract is not a string")
    if normalize:
        return arxiv_id, version, normalize_ws(title), normalize_ws(abstract)
    return arxiv_id, version, title, abstract


def _v1_date(arxiv_id: str, published: date | None) -> tuple[date | None, bool]:
    """The v1 date, else the one the id's YYMM gives; and whether it is that estimate."""
    if published is not None:
        return published, False
    estimated = date_from_arxiv_id(arxiv_id)
    return estimated, estimated is not None


def _finish(arxiv_id: str, published: date | None, **kw: Any) -> dict[str, Any]:
    published, estimated = _v1_date(arxiv_id, published)
    return {"arxiv_id": arxiv_id, "published": published, "published_estimated": estimated, **kw}


def record_fields(obj: Any, *, normalize: bool = True) -> dict[str, Any]:
    """One JSON object of either shape to Paper's fields, as plain values already valid for Paper.
    Raises BadRecord. The importer stores these without building a Paper; `paper_from_record` builds
    one from them, so both read a line identically. `normalize=False` leaves the title's and the
    abstract's whitespace as the line has it (the importer stores them so, and a search normalises
    the few it returns: `normalize_ws` over every abstract was a tenth of an import's CPU)."""
    if not isinstance(obj, dict):
        raise BadRecord("line is not a JSON object")
    return _from_dump(obj, normalize) if is_dump_shape(obj) else _from_retest(obj, normalize)


def paper_from_record(obj: Any) -> Paper:
    """One JSON object of either shape to a Paper. Raises BadRecord."""
    return Paper(**record_fields(obj))


def _from_retest(obj: dict[str, Any], normalize: bool = True) -> dict[str, Any]:
    arxiv_id, id_version, title, abstract = _common(obj, normalize)
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


def _from_dump(obj: dict[str, Any], normalize: bool = True) -> dict[str, Any]:
    arxiv_id, id_version, title, abstract = _common(obj, normalize)
    versions = obj.get("versions") or []
    if type(versions) is not list:
        raise BadRecord(f"{arxiv_id}: versions is not a list")
    # v1's date (the first entry numbered 1), the highest number, and the date of the last entry with it
    published: date | None = None
    seen_v1 = False
    version = id_version or 1
    last_n, last_date = -1, None
    for v in versions:
        if type(v) is not dict:
            raise BadRecord(f"{arxiv_id}: version entry is not an object")
        n = _version_number(v.get("version", ""))
        d = _parse_version_date(v.get("created"))
        if n == 1 and not seen_v1:
            published, seen_v1 = d, True
        if n >= last_n:
            last_n, last_date = n, d
    if last_n > version:
        version = last_n
    updated = last_date if last_n > 1 and last_date != published else None
    parsed = obj.get("authors_parsed")
    if parsed:
        if type(parsed) is not list:
            raise BadRecord(f"{arxiv_id}: authors_parsed is not a list")
        authors = _authors_from_parsed(parsed)
    else:
        authors = _split_author_string(obj.get("authors") or "")
    cats_raw = obj.get("categories") or ""
    cats = cats_raw.split() if type(cats_raw) is str else [str(c) for c in cats_raw]
    published, estimated = _v1_date(arxiv_id, published)
    return {"arxiv_id": arxiv_id, "published": published, "published_estimated": estimated, "version": version,
            "title": title, "abstract": abstract, "authors": authors, "updated": updated, "categories": cats,
            "primary_category": cats[0] if cats else None}


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
