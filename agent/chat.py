"""The conversation: a face-neutral chat session over the one graph and the one store.

Both faces (``retest chat`` in the terminal, ``retest serve`` in the browser) hand each message to
``ChatSession.handle`` and render the structured ``Reply`` it returns. A claim is re-tested by
``agent.runner.run_claims`` — the same entry point as ``retest run`` and the sweep — with a ClaimSet
of that one claim; nothing here judges or searches on its own.

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
``OPENAI_BASE_URL``), goes to a bounded tool-calling loop over these same intents (``agent/chat_llm.py``).
The session (claims, results, messages) is kept as JSON in
``RETEST_HOME/chat/<thread>.json``; each re-test run is checkpointed by the graph under the thread
id ``chat-<thread>-<claim id>``, so an interrupted run resumes.
"""
from __future__ import annotations

import calendar
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.configuration import Settings
from claims.dates import parse_claim_date
from claims.models import Claim, ClaimResult, ClaimSet, Flag, Report, RunStats, split_arxiv_id
from claims.safety import json_text_safe, redact_obj
from tools.datafile import DataFileError, aside_hint

Event = dict[str, Any]

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

_THREAD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHAT_LOCK_WAIT = 2.0  # seconds a chat action waits for a store another process holds, then says "busy"
MAX_CLAIM_NUMBER = 10**6
# reply kinds whose structured data is kept with the message, so a reloaded page renders them as live
_KEEP_DATA = ("result", "why", "claims", "new", "report")
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


class ChatError(Exception):
    """A message that cannot be acted on, with what to type instead."""


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


# ---------------------------------------------------------------------------------------------
# Rendering a stored result as text (the terminal, the export and the tool loop share it)


def citation_lines(c) -> list[str]:
    pub = f", {c.published.isoformat()}" if c.published else ""
    score = f" p={c.score:.2f}" if c.score is not None else ""
    out = [f"  [{c.stance.value}{score}] arXiv:{c.arxiv_id} — {c.title}{pub}  {c.url}"]
    if c.quote:
        out.append(f'      "{c.quote}"')
    return out


def explain_text(r: ClaimResult, number: int) -> str:
    lines = [f"Claim {number} ({r.id}): {r.text} ({r.claim_date})",
             f"Verdict: {r.verdict.value} (confidence {r.confidence:.2f}, {r.judge})",
             f"Why: {r.rationale}"]
    if r.source:
        lines.append(f"Source paper: arXiv:{r.source.arxiv_id} — {r.source.title} "
                     f"({r.source.published or 'date unknown'}; {r.source.how})  https://arxiv.org/abs/{r.source.arxiv_id}")
    if r.date_rule:
        lines.append(f"Newer means: {r.date_rule}")
    for title, cites in evidence_groups(r):
        lines.append(f"{title}:")
        for c in cites:
            lines += citation_lines(c)
    if r.offline_verdict:
        o = r.offline_verdict
        lines.append(f"Offline judge on the same evidence: {o.label.value} (confidence {o.confidence:.2f}, {o.judge})")
    if r.rejected_citations:
        lines.append("Rejected citations (failed a check; not counted as evidence):")
        for x in r.rejected_citations:
            where = f"arXiv:{x.arxiv_id} — {x.title}  https://arxiv.org/abs/{x.arxiv_id}" if x.resolves else \
                f"{x.arxiv_id} (no such record)"
            lines.append(f"  [{x.stance.value}, rejected: {', '.join(x.reasons)}] {where}")
            lines.append(f'      "{x.quote}"')
    if r.flags:
        lines.append("Flags: " + "; ".join(f"{f.code} — {f.detail}" for f in r.flags))
    return "\n".join(lines)


def evidence_groups(r: ClaimResult) -> list[tuple[str, list]]:
    groups = [("Contradicting or superseding (recent window)", r.contradicting_recent),
              ("Contradicting or superseding (all newer work)", r.contradicting_newer),
              ("Supporting", r.supporting)]
    shown = {(c.arxiv_id, c.quote) for _, cs in groups for c in cs}
    rest = [c for c in r.citations if (c.arxiv_id, c.quote) not in shown]
    groups.append(("Other cited evidence", rest))
    return [(t, cs) for t, cs in groups if cs]


# ---------------------------------------------------------------------------------------------
# The session


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _stored_data(reply: Reply) -> dict[str, Any]:
    """What of a reply's data is kept with the message (abstracts are dropped: the page shows titles)."""
    data = dict(reply.data)
    if reply.kind == "new" and isinstance(data.get("papers"), list):
        data["papers"] = [{k: v for k, v in p.items() if k != "abstract"} for p in data["papers"]]
    return data


class ChatSession:
    """One conversation: its claims, their stored results, and its messages, kept in
    ``home/chat/<thread>.json``. Not thread-safe by itself; faces serialise calls (``lock``)."""

    def __init__(self, settings: Settings, thread: str | None = None, services_factory: Callable | None = None,
                 allow_export: bool = True, chat_model: Any = None):
        self.settings = settings
        self._chat_model = chat_model  # the LLM mode's model (agent/chat_llm.py), built on first use
        self.allow_export = allow_export
        if thread is None:
            thread = datetime.now().strftime("%Y%m%d-%H%M%S")
        if not _THREAD_RE.match(thread):
            raise ChatError(f"thread id {thread!r}: use letters, digits, '-', '_' or '.' (up to 64)")
        self.thread = thread
        self.lock = threading.Lock()
        self._services_factory = services_factory
        self.path = settings.ensure_home() / "chat" / f"{thread}.json"
        self.claims: list[Claim] = []
        self.results: dict[str, ClaimResult] = {}
        self.messages: list[dict[str, Any]] = []
        self.run_meta: dict[str, Any] = {}
        self.resumed = False
        self._load()

    # --- persistence -----------------------------------------------------------------------
    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object, found {type(data).__name__}")
            self.claims = [Claim.model_validate(c) for c in data.get("claims", [])]
            self.results = {k: ClaimResult.model_validate(v) for k, v in data.get("results", {}).items()}
            messages = data.get("messages", [])
            if not isinstance(messages, list) or not all(isinstance(m, dict) and isinstance(m.get("text", ""), str)
                                                          for m in messages):
                raise ValueError("'messages' is not a list of messages")
            self.messages = messages
            self.run_meta = data.get("run_meta", {}) if isinstance(data.get("run_meta", {}), dict) else {}
        except OSError as e:
            raise DataFileError(self.path, f"the chat history cannot be read ({e.strerror})",
                                "check its permissions, or start another conversation with --thread NAME") from None
        except (ValueError, TypeError, AttributeError) as e:  # JSONDecodeError, UnicodeDecodeError, ValidationError
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise DataFileError(self.path, f"the chat history is corrupt ({first})",
                                aside_hint(self.path, "or start another conversation with --thread NAME")) from None
        self.resumed = True

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"thread": self.thread, "saved_at": _now(),
                "claims": [c.model_dump(mode="json") for c in self.claims],
                "results": {k: v.model_dump(mode="json") for k, v in self.results.items()},
                "messages": self.messages[-500:], "run_meta": self.run_meta}
        tmp = self.path.with_suffix(".json.tmp")
        # secrets redacted, bidi controls written as \u escapes (claims/safety.py)
        tmp.write_text(json_text_safe(json.dumps(redact_obj(data), indent=1, ensure_ascii=False)), encoding="utf-8")
        tmp.replace(self.path)

    @staticmethod
    def threads(settings: Settings) -> list[str]:
        d = settings.home / "chat"
        return sorted(p.stem for p in d.glob("*.json")) if d.exists() else []

    # --- services: opened per action so the store's lock is held only while working ----------
    def _open_services(self):
        if self._services_factory is not None:
            return self._services_factory()
        from agent.runner import open_services

        # a chat action waits briefly for a store another process holds, then answers "busy" (handle)
        wait = min(self.settings.store_lock_timeout, CHAT_LOCK_WAIT)
        return open_services(self.settings.model_copy(update={"store_lock_timeout": wait}))

    # --- the entry point ---------------------------------------------------------------------
    def next_claim_id(self) -> str:
        return f"c{len(self.claims) + 1}"

    def parse(self, text: str) -> Intent:
        return parse_message(text, self.settings.today, self.next_claim_id())

    def handle(self, text: str, on_event: Callable[[Event], None] | None = None) -> Reply:
        """Answer one message. Errors in the message come back as a Reply of kind 'error'."""
        try:
            intent = self.parse(text)
        except ChatError as e:
            return self._record(text, Reply("error", str(e)))
        if intent.kind == "empty":
            return Reply("empty", "")
        try:
            if intent.kind == "unknown" and self.llm_mode():
                reply = self.ask_model(text, on_event)
            else:
                reply = self.dispatch(intent, on_event)
        except ChatError as e:
            reply = Reply("error", str(e))
        except DataFileError as e:
            reply = Reply("error", str(e))
        except Exception as e:
            if type(e).__name__ != "StoreLockedError":
                raise
            reply = Reply("error", "busy: another retest process is using the evidence store "
                                   f"({self.settings.home}); try again when it has finished", {"busy": True})
        return self._record(text, reply)

    def llm_mode(self) -> bool:
        """A model is configured (whatever the judge): unrecognised free text goes to the tool loop."""
        from agent.chat_llm import llm_mode

        return llm_mode(self.settings)

    def ask_model(self, text: str, on_event: Callable[[Event], None] | None = None) -> Reply:
        """Free text through the LLM tool-calling loop over this session's intents (agent/chat_llm.py)."""
        from agent import chat_llm

        if self._chat_model is None:
            try:
                self._chat_model = chat_llm.build_chat_model(self.settings)
            except Exception as e:
                return Reply("help", f"(the model is not usable — {e}; here is what the grammar understands)\n"
                             + HELP_TEXT, {"llm_error": str(e)})
        return chat_llm.answer(self, text, self._chat_model, on_event)

    def _record(self, text: str, reply: Reply) -> Reply:
        if reply.kind in ("quit", "history"):
            return reply
        self.messages.append({"role": "user", "text": text, "at": _now()})
        stored: dict[str, Any] = {"role": "assistant", "kind": reply.kind, "text": reply.text, "at": _now()}
        if reply.kind in _KEEP_DATA and reply.data:
            stored["data"] = _stored_data(reply)
        self.messages.append(stored)
        self.save()
        return reply

    def dispatch(self, intent: Intent, on_event: Callable[[Event], None] | None = None) -> Reply:
        k = intent.kind
        if k == "help":
            return Reply("help", HELP_TEXT)
        if k == "quit":
            return Reply("quit", "bye — resume this conversation with --thread " + self.thread)
        if k == "claims":
            return self.list_claims()
        if k == "history":
            return Reply("history", "\n".join(f"{m['role']}: {m['text']}" for m in self.messages),
                         {"messages": self.messages})
        if k == "why":
            return self.why(intent.arg)
        if k == "new":
            return self.new(intent.arg, intent.since)
        if k == "report":
            return self.report_reply()
        if k == "export":
            if not self.allow_export:
                raise ChatError("/export writes files on the server and is off here: use the report.md and "
                                "report.json download links instead")
            try:
                where = Path(intent.arg.strip()).expanduser()
            except (RuntimeError, ValueError) as e:  # ~nosuchuser, a NUL byte
                raise ChatError(f"/export {intent.arg.strip()[:80]!r}: not a usable path ({e})") from None
            return self.export(where)
        if k == "retest":
            assert intent.claim is not None
            return self.retest(intent.claim, on_event)
        return Reply("unknown", "I read that neither as a claim nor as a command. End a claim with its date, "
                                "e.g. 'LIMA: 1,000 curated examples suffice for alignment (2023)', or type /help.")

    # --- intents -----------------------------------------------------------------------------
    def retest(self, claim: Claim, on_event: Callable[[Event], None] | None = None) -> Reply:
        from agent.runner import run_claims

        same = next((c for c in self.claims if c.text == claim.text and c.claim_date == claim.claim_date), None)
        if same is not None:
            claim = same
        else:
            claim = claim.model_copy(update={"id": self.next_claim_id()})
            self.claims.append(claim)
            self.save()
        number = self.claims.index(claim) + 1
        if on_event:
            on_event({"claim": claim.id, "step": "start", "detail": f"re-testing claim {number}: {claim.text} ({claim.claim_date})"})
        claim_set = ClaimSet(source=f"chat:{self.thread}", claims=[claim])
        with self._open_services() as svc:
            report = run_claims(claim_set, self.settings, svc, on_event=on_event, resume=True,
                                thread_id=f"chat-{self.thread}-{claim.id}")
        result = report.claims[0]
        self.results[claim.id] = result
        self.run_meta = {"method": report.method, "stats": report.stats.model_dump(mode="json"),
                         "recent_window_months": report.recent_window_months,
                         "flags": [f.model_dump(mode="json") for f in report.flags],
                         "anchors": [a.model_dump(mode="json") for a in report.anchors]}
        self.save()
        return Reply("result", explain_text(result, number),
                     {"number": number, "result": result.model_dump(mode="json")})

    def _result_for(self, arg: str) -> tuple[int, ClaimResult]:
        if not self.claims:
            raise ChatError("no claims yet: type a claim ending with its date, e.g. '… (2023)'")
        if not arg:
            done = [i for i, c in enumerate(self.claims) if c.id in self.results]
            if not done:
                raise ChatError("no claim has a verdict yet")
            n = done[-1] + 1
        else:
            try:
                n = int(arg) if len(arg) <= 9 else MAX_CLAIM_NUMBER + 1
            except ValueError:
                raise ChatError("usage: /why N — N is the claim's number in /claims, e.g. /why 1") from None
        if n > MAX_CLAIM_NUMBER:
            raise ChatError(f"there is no such claim: this conversation has {len(self.claims)} (see /claims)")
        if not 1 <= n <= len(self.claims):
            raise ChatError(f"there is no claim {n}: this conversation has {len(self.claims)} (see /claims)")
        c = self.claims[n - 1]
        if c.id not in self.results:
            raise ChatError(f"claim {n} has no verdict yet (its run did not finish); type it again to resume")
        return n, self.results[c.id]

    def why(self, arg: str) -> Reply:
        n, r = self._result_for(arg)
        return Reply("why", explain_text(r, n), {"number": n, "result": r.model_dump(mode="json")})

    def list_claims(self) -> Reply:
        rows = []
        for i, c in enumerate(self.claims, start=1):
            r = self.results.get(c.id)
            rows.append({"number": i, "id": c.id, "text": c.text, "claim_date": c.claim_date,
                         "verdict": r.verdict.value if r else "pending",
                         "confidence": r.confidence if r else None,
                         "flags": sorted({f.code for f in r.flags}) if r else []})
        if not rows:
            return Reply("claims", "No claims yet. Type one ending with its date, e.g. '… (2023)'.", {"claims": []})
        text = "\n".join(f"{x['number']:>3}. [{x['verdict']}] {x['text']} ({x['claim_date']})" for x in rows)
        return Reply("claims", text, {"claims": rows})

    def new(self, topic: str, since: date | None) -> Reply:
        from tools.base import SearchQuery

        since = since or (self.settings.today - timedelta(days=30 * self.settings.recent_months))
        with self._open_services() as svc:
            res = svc.source.search(SearchQuery(text=topic, after=since, before=self.settings.today,
                                                max_results=min(self.settings.search_results, 15)))
        papers = sorted(res.papers, key=lambda p: p.effective_published() or date.min, reverse=True)
        rows = [{"arxiv_id": p.arxiv_id, "title": p.title, "url": p.url,
                 "published": (p.effective_published() or "").__str__(),
                 "abstract": p.abstract} for p in papers]
        head = f"{len(rows)} paper(s) on '{topic}' since {since.isoformat()} (source: {svc.source.name}):"
        if not rows:
            head = f"Nothing on '{topic}' since {since.isoformat()} in the {svc.source.name} source."
        lines = [head] + [f"  {r['published']}  arXiv:{r['arxiv_id']} — {r['title']}  {r['url']}" for r in rows]
        if not res.complete:
            lines.append("(the search was incomplete: " + "; ".join(f.detail for f in res.flags) + ")")
        return Reply("new", "\n".join(lines),
                     {"topic": topic, "since": since.isoformat(), "papers": rows, "complete": res.complete})

    def report(self) -> Report:
        meta = self.run_meta
        stats = RunStats.model_validate(meta.get("stats", {}))
        stats.claims = len(self.results)
        results = [self.results[c.id] for c in self.claims if c.id in self.results]
        flags = [Flag.model_validate(f) for f in meta.get("flags", [])]
        return Report(generated_at=datetime.now(UTC), input=f"chat thread {self.thread}", claims=results,
                      flags=flags, stats=stats, method=meta.get("method", ""),
                      recent_window_months=meta.get("recent_window_months", self.settings.recent_months),
                      as_of=self.settings.today)

    def report_markdown(self) -> str:
        from agent.report import render_markdown

        return render_markdown(self.report())

    def report_json(self) -> str:
        from agent.report import render_json

        return render_json(self.report())  # as report.json is written: secrets redacted, bidi escaped

    def report_reply(self) -> Reply:
        if not self.results:
            raise ChatError("no verdicts yet, so no report: re-test a claim first")
        return Reply("report", self.report_markdown(), {"claims": len(self.results)})

    def export(self, out_dir: Path) -> Reply:
        from agent.report import OutDirError, check_out_dir, write_reports

        if not self.results:
            raise ChatError("no verdicts yet, nothing to export")
        try:
            check_out_dir(out_dir, what="/export")
            md, js = write_reports(self.report(), out_dir)
        except OutDirError as e:
            raise ChatError(str(e)) from None
        except (OSError, ValueError) as e:  # ValueError: a path the OS cannot take (a NUL byte)
            why = getattr(e, "strerror", None) or str(e) or type(e).__name__
            raise ChatError(f"/export {str(out_dir)[:200]!r}: cannot write there ({why}) — "
                            "pass a directory you can write to") from None
        return Reply("export", f"wrote {md} and {js}", {"paths": [str(md), str(js)]})
