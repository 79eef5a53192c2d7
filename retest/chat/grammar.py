"""The chat's grammar: one message → one ``Intent`` (``parse_message``), and the ``Reply`` a session
answers with. Pure functions over text: no session, no graph, no store (``retest/chat/session.py`` acts
on the intents; ``retest/chat/llm.py`` maps its tools onto the same intents).

Grammar (also in docs/chat.md)
-----------------------------
Commands (a leading ``/``)::

    /help                          this list
    /claims                        the session's claims and their verdicts
    /why N                         why claim N got its verdict: rationale, flags, citations + quotes
    /new TOPIC [--since DATE]      papers on TOPIC newer than DATE (default: the recent window)
    /retest TEXT (DATE)            re-test a claim (the same as typing it)
    /report                        the session's report (markdown)
    /export PATH                   write PATH/report.md and PATH/report.json
    /history                       the conversation so far
    /quit                          leave (the conversation is kept; resume with --thread ID)

Free text:

* a claim — text that ends with its date: ``(2023)``, ``(2023-05)``, ``(2023-05-18)`` or a dash and a
  year, ``— 2023`` / ``- 2023``. Example: ``LIMA's 1,000 examples are enough — 2023``. An inline
  ``arXiv:2305.11206`` in the text makes that paper the claim's anchor.
* "why was claim 3 weakened?", "explain claim 3", "what supports claim 2?" → ``/why 3`` (``/why 2``);
  a bare "why?" asks about the last claim.
* "what is new on TOPIC since June" (or ``since 2026-06``, ``since 2026-06-01``, ``since June 2025``)
  → ``/new TOPIC --since …``; a month name means its most recent occurrence on or before the as-of date.
* "show the report" → ``/report``; "list claims" → ``/claims``; "help" → ``/help``.

Anything else gets a short hint — or, with a model configured (``RETEST_MODEL`` and ``OPENAI_API_KEY`` or
``OPENAI_BASE_URL``), goes to a bounded tool-calling loop over these same intents (``retest/chat/llm.py``).
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from claims.dates import parse_claim_date
from claims.errors import UsageError
from claims.models import Claim, split_arxiv_id

HELP_TEXT = """\
Type a claim that ends with its date to re-test it, e.g.
  LIMA: 1,000 curated examples suffice for alignment (2023)
  LIMA's 1,000 examples are enough — 2023
Commands:
  /claims                     the claims so far and their verdicts
  /why N                      why claim N got its verdict (rationale, citations, quotes)
  /new TOPIC --since DATE     papers on TOPIC newer than DATE (YYYY, YYYY-MM, YYYY-MM-DD or a month)
  /retest TEXT (DATE)         re-test a claim
  /report                     the session's report
  /export PATH                write PATH/report.md and PATH/report.json
  /history                    the conversation so far
  /help, /quit
Questions work too: "why was claim 1 weakened?", "what is new on preference data since June?"
"""

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})

# "… (2023)", "… (2023-05)", "… — 2023", "… - 2023-05-18", optionally followed by . ; or ,
_CLAIM_DATE = re.compile(
    r"(?:\(\s*(?P<p>\d{4}(?:-\d{2}(?:-\d{2})?)?)\s*\)|(?:\s[—–-]{1,2}|,)\s*(?P<d>\d{4}(?:-\d{2}(?:-\d{2})?)?))"
    r"\s*[.;,]?\s*$"
)
_INLINE_ID = re.compile(r"arxiv\s*:\s*(\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})", re.I)
_WHY = re.compile(
    r"\b(?:why|explain|evidence|cite|citations?|support|supports|contradicts?|weaken|weakened|"
    r"supersed\w*|hold|holds|verdict|sources?)\b.*?\bclaim\s*#?\s*(?:c)?(?P<n>\d+)\b"
    r"|\bclaim\s*#?\s*(?:c)?(?P<n2>\d+)\b.*?\b(?:why|weakened|superseded|holds?|unresolved|verdict|evidence)\b",
    re.I,
)
_NEW = re.compile(
    r"^(?:what(?:'s|\s+is|\s+has\s+been)?\s+)?(?:new|newer|published|recent)\s+(?:work\s+|papers?\s+)?"
    r"(?:on|in|about|for|regarding)\s+(?P<topic>.+?)"
    r"(?:\s+(?:since|after)\s+(?P<since>.+?))?\s*\??\s*$",
    re.I,
)


class ChatError(UsageError):
    """A message that cannot be acted on, with what to type instead (a face that cannot start, e.g. a bad
    --thread, exits with status 2)."""


@dataclass
class Intent:
    kind: str  # help|claims|why|new|retest|report|export|history|quit|unknown|empty
    arg: str = ""
    since: date | None = None
    claim: Claim | None = None


@dataclass
class Reply:
    """What the session answers; faces render ``kind`` + ``data``, or fall back to ``text``."""

    kind: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_since(value: str, today: date) -> date:
    """'2026-06-01', '2026-06', '2026', 'June', 'june 2025', '3 months ago' → a date (the day before
    which nothing counts). Raises ChatError."""
    v = value.strip().rstrip("?.!").strip().lower()
    try:
        return parse_claim_date(v)[0]
    except ValueError:
        pass
    m = re.fullmatch(r"(?P<mon>[a-z]+)\.?(?:\s+(?P<y>\d{4}))?", v)
    if m and m["mon"] in _MONTHS:
        mon = _MONTHS[m["mon"]]
        if m["y"]:
            return date(int(m["y"]), mon, 1)
        y = today.year if mon <= today.month else today.year - 1
        return date(y, mon, 1)
    m = re.fullmatch(r"(?P<n>\d+)\s+(?P<u>day|week|month|year)s?\s+ago", v)
    if m:
        n, u = int(m["n"]), m["u"]
        days = {"day": 1, "week": 7, "month": 30, "year": 365}[u] * n
        return today - timedelta(days=days)
    raise ChatError(f"cannot read the date {value!r}: use YYYY-MM-DD, YYYY-MM, YYYY or a month name")


def parse_claim_text(text: str, claim_id: str) -> Claim | None:
    """A Claim when TEXT ends with a date (see the grammar), else None. Raises ChatError on a bad date."""
    s = " ".join(text.split())
    m = _CLAIM_DATE.search(s)
    if not m:
        return None
    body = s[: m.start()].rstrip(" .;,:—–-")
    if len(body.split()) < 3:
        return None
    when = m["p"] or m["d"]
    try:
        parse_claim_date(when)
    except ValueError as e:
        raise ChatError(f"{e}; write the date as (YYYY), (YYYY-MM) or (YYYY-MM-DD)") from None
    anchors = []
    for mid in _INLINE_ID.finditer(body):
        try:
            anchors.append(split_arxiv_id(mid[1])[0])
        except ValueError:
            pass
    return Claim(id=claim_id, text=body, claim_date=when, anchors=anchors)


def parse_message(text: str, today: date, next_id: str = "c1") -> Intent:
    """One message → one Intent, per the grammar in this module's docstring."""
    s = text.strip()
    if not s:
        return Intent("empty")
    if s.startswith("/"):
        cmd, _, rest = s[1:].partition(" ")
        cmd, rest = cmd.lower(), rest.strip()
        if cmd in ("quit", "exit", "q", "bye"):
            return Intent("quit")
        if cmd in ("help", "h", "?"):
            return Intent("help")
        if cmd in ("claims", "list"):
            return Intent("claims")
        if cmd == "history":
            return Intent("history")
        if cmd == "report":
            return Intent("report")
        if cmd == "why":
            m = re.fullmatch(r"#?\s*c?(\d+)", rest, re.I)
            if not rest:
                return Intent("why", "")
            if not m:
                raise ChatError("usage: /why N — N is the claim's number in /claims, e.g. /why 1")
            return Intent("why", m[1])
        if cmd == "new":
            topic, since = rest, None
            m = re.search(r"\s*--since(?:=|\s+)(?P<d>.+)$", rest)
            if m:
                topic, since = rest[: m.start()].strip(), parse_since(m["d"], today)
            if not topic:
                raise ChatError("usage: /new TOPIC --since YYYY-MM-DD, e.g. /new preference data --since 2026-06")
            return Intent("new", topic, since=since)
        if cmd == "export":
            if not rest:
                raise ChatError("usage: /export PATH — a directory for report.md and report.json")
            return Intent("export", rest)
        if cmd in ("retest", "claim", "test"):
            claim = parse_claim_text(rest, next_id)
            if claim is None:
                raise ChatError("usage: /retest CLAIM TEXT (YYYY) — end the claim with its date")
            return Intent("retest", claim=claim)
        raise ChatError(f"unknown command /{cmd}; type /help")
    low = s.lower().rstrip("?!. ")
    if low in ("help", "commands", "what can you do", "what can i do", "how does this work"):
        return Intent("help")
    if low in ("quit", "exit", "bye"):
        return Intent("quit")
    if re.fullmatch(r"(?:list|show)(?: me)?(?: the| my| all)? claims|claims|what claims.*", low):
        return Intent("claims")
    if re.fullmatch(r"(?:(?:show|give|get|print|open|can i have|can you show)(?: me)?\s+)?(?:the\s+|my\s+)?"
                    r"(?:full\s+)?report(?: please)?", low):
        return Intent("report")
    if m := _WHY.search(s):
        return Intent("why", m["n"] or m["n2"])
    if re.fullmatch(r"why( is that| so| that verdict)?", low):
        return Intent("why", "")
    if m := _NEW.match(s):
        topic = m["topic"].strip().rstrip("?.!")
        since = parse_since(m["since"], today) if m["since"] else None
        return Intent("new", topic, since=since)
    if not s.endswith("?"):
        claim = parse_claim_text(s, next_id)
        if claim is not None:
            return Intent("retest", claim=claim)
    return Intent("unknown", s)
