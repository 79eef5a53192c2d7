"""The conversation: a face-neutral chat session over the one graph and the one store.

Both faces (``retest chat`` in the terminal, ``retest serve`` in the browser) hand each message to
``ChatSession.handle`` and render the structured ``Reply`` it returns. A claim is re-tested by
``agent.runner.run_claims`` — the same entry point as ``retest run`` and the sweep — with a ClaimSet
of that one claim; nothing here judges or searches on its own. What a message means is the grammar's
(``retest/chat/grammar.py``); free text the grammar does not read goes, with a model configured, to the
tool loop (``retest/chat/llm.py``).

The session (claims, results, messages) is kept as JSON in ``RETEST_HOME/chat/<thread>.json``; each
re-test run is checkpointed by the graph under the thread id ``chat-<thread>-<claim id>``, so an
interrupted run resumes.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.configuration import Settings
from agent.report import check_out_dir, render_json, render_markdown, write_reports
from claims.errors import BusyError, DataFileError, OutDirError
from claims.models import Claim, ClaimResult, ClaimSet, Flag, Report, RunStats
from claims.safety import json_text_safe, redact_obj
from retest.chat import llm as chat_llm
from retest.chat.grammar import HELP_TEXT, ChatError, Intent, Reply, parse_message
from retest.chat.render import explain_text
from tools.base import SearchQuery
from tools.datafile import aside_hint, atomic_write

Event = dict[str, Any]

_THREAD_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CHAT_LOCK_WAIT = 2.0  # seconds a chat action waits for a store another process holds, then says "busy"
MAX_CLAIM_NUMBER = 10**6
# reply kinds whose structured data is kept with the message, so a reloaded page renders them as live
_KEEP_DATA = ("result", "why", "claims", "new", "report")


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
        self._chat_model = chat_model  # the LLM mode's model (retest/chat/llm.py), built on first use
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
        # secrets redacted, bidi controls written as \u escapes (claims/safety.py)
        atomic_write(self.path, json_text_safe(json.dumps(redact_obj(data), indent=1, ensure_ascii=False))
                     .encode("utf-8"))

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
        except BusyError:
            reply = Reply("error", "busy: another retest process is using the evidence store "
                                   f"({self.settings.home}); try again when it has finished", {"busy": True})
        return self._record(text, reply)

    def llm_mode(self) -> bool:
        """A model is configured (whatever the judge): unrecognised free text goes to the tool loop."""
        return chat_llm.llm_mode(self.settings)

    def ask_model(self, text: str, on_event: Callable[[Event], None] | None = None) -> Reply:
        """Free text through the LLM tool-calling loop over this session's intents (retest/chat/llm.py)."""
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
        return render_markdown(self.report())

    def report_json(self) -> str:
        return render_json(self.report())  # as report.json is written: secrets redacted, bidi escaped

    def report_reply(self) -> Reply:
        if not self.results:
            raise ChatError("no verdicts yet, so no report: re-test a claim first")
        return Reply("report", self.report_markdown(), {"claims": len(self.results)})

    def export(self, out_dir: Path) -> Reply:
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
