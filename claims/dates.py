"""Dates as claims give them: a year ("2024"), a month ("2024-05") or a full date ("2024-05-18")."""
from __future__ import annotations

import calendar
import re
from datetime import date

CLAIM_DATE_RE = re.compile(r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?$")


def parse_claim_date(value: str) -> tuple[date, date]:
    """Return the first and last day that a claim date covers. Raises ValueError on bad input."""
    m = CLAIM_DATE_RE.match(value.strip())
    if not m:
        raise ValueError(f"not a date: {value!r} (use YYYY, YYYY-MM or YYYY-MM-DD)")
    y = int(m["y"])
    if not 1900 <= y <= 2100:
        raise ValueError(f"year out of range: {y}")
    if m["m"] is None:
        return date(y, 1, 1), date(y, 12, 31)
    mo = int(m["m"])
    if m["d"] is None:
        last = calendar.monthrange(y, mo)[1]
        return date(y, mo, 1), date(y, mo, last)
    d = date(y, mo, int(m["d"]))
    return d, d


def to_int(d: date) -> int:
    """A date as the int YYYYMMDD (the evidence store's metadata form)."""
    return d.year * 10000 + d.month * 100 + d.day


def from_int(v: int) -> date:
    return date(v // 10000, (v // 100) % 100, v % 100)


def date_from_arxiv_id(arxiv_id: str) -> date | None:
    """The first day of the month a new-style arXiv id (YYMM.NNNNN) was assigned in, else None."""
    m = re.match(r"^(\d{2})(\d{2})\.\d{4,5}", arxiv_id)
    if not m:
        return None
    yy, mm = int(m[1]), int(m[2])
    if not 1 <= mm <= 12:
        return None
    return date(2000 + yy, mm, 1)
