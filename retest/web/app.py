"""The web face: the same chat session as `retest chat`, in the browser.

Endpoints
---------
GET  /                 the chat page (history, a message box; progress and replies stream in)
POST /api/chat         {"message": "..."} → 202 {"job": ID, "events": "/api/events/ID"}; 409 while a run is going
GET  /api/events/{job} server-sent events: ``progress`` {claim, step, detail}, ``reply`` {kind, text, html},
                       ``failed`` {error}, then ``done``; ids let EventSource resume after a reconnect
GET  /api/jobs/{job}   the job's state as JSON (events so far, done or not)
GET  /claims           the claims and verdicts, with citations and quotes as arXiv links
GET  /api/claims       the same as JSON
GET  /report.md        the session's report (download); GET /report.json likewise
GET  /healthz

One message is handled at a time, in a background thread, through ``retest.chat.session.ChatSession`` and so
through ``agent.runner.run_claims``: the same graph and store as `retest run`. Everything rendered
comes from templates with autoescape on; the page's script inserts only server-rendered fragments and
sets text with ``textContent``. A Content-Security-Policy forbids inline script. ``/export`` (which
writes files on the server) is refused here; the download links replace it.

Limits (docs/limits.md): a request body is at most ``Settings.web_max_body_bytes`` (64 KiB;
RETEST_WEB_MAX_BODY_BYTES), else 413; a 422 names what is wrong and never echoes the body; a
``Last-Event-ID`` is clamped to the events the job has; the Host header must be a loopback name
(``testserver``, the test client's, only when a test passes it in ``allowed_hosts``). Bidirectional
controls in claim and paper text are shown as ``<U+202E>`` markers on every page, fragment and event.
"""
from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, Field

from agent.configuration import Settings
from claims.models import ClaimResult
from claims.safety import json_text_safe, neutralize, redact
from retest.chat.grammar import Reply
from retest.chat.render import evidence_groups
from retest.chat.session import ChatSession

_HERE = Path(__file__).parent
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
TEST_CLIENT_HOST = "testserver"  # Starlette's TestClient; accepted only when allowed_hosts names it


def _finalize(value: Any) -> Any:
    """Every {{ value }} on a page: bidi controls shown as markers, secrets redacted (before autoescape)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return neutralize(redact(value))
    return value


env = Environment(loader=PackageLoader("retest.web", "templates"), undefined=StrictUndefined,
                  autoescape=select_autoescape(default=True, default_for_string=True),
                  trim_blocks=True, lstrip_blocks=True, finalize=_finalize)
env.globals["evidence_groups"] = lambda r: evidence_groups(ClaimResult.model_validate(r))

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class ChatIn(BaseModel):
    message: str = Field(min_length=1, max_length=4000)


class Job:
    def __init__(self, message: str):
        self.id = uuid.uuid4().hex[:12]
        self.message = message
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.done = False
        self._cv = threading.Condition()

    def push(self, event: str, data: dict[str, Any]) -> None:
        with self._cv:
            self.events.append((event, data))
            if event == "done":
                self.done = True
            self._cv.notify_all()

    def snapshot(self, start: int) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
        with self._cv:
            return self.events[start:], self.done


def render_reply(reply: Reply) -> str:
    return env.get_template("reply.html").render(reply=reply, kind=reply.kind, d=reply.data)


def stored_reply_html(msg: dict[str, Any]) -> str | None:
    """A stored assistant message rendered as it was live (verdict badge, arXiv links), when the message
    kept its data; None for a plain-text one."""
    if msg.get("role") != "assistant" or not isinstance(msg.get("data"), dict):
        return None
    try:
        return render_reply(Reply(str(msg.get("kind") or "text"), str(msg.get("text") or ""), msg["data"]))
    except Exception:  # an old or odd message: its text is still shown
        return None


def _text(value: Any) -> str:
    """Text for an event that the page sets with textContent: secrets redacted, bidi controls shown."""
    return neutralize(redact("" if value is None else str(value)))


class BodyLimit:
    """ASGI middleware: a request body over LIMIT bytes is answered 413 without being read further
    (a Content-Length over it is refused before any byte is read)."""

    def __init__(self, app: Any, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = False
            if too_big:
                await self._refuse(send)
                return
        chunks: list[bytes] = []
        size = 0
        more = scope.get("method") in ("POST", "PUT", "PATCH")
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            size += len(body)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(body)
            more = msg.get("more_body", False)
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        body = json.dumps({"error": f"request body larger than {self.limit} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None, thread: str = "web", services_factory=None,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app over one conversation (``thread``) kept in settings.home/chat/. ``allowed_hosts``
    (default: loopback names) guards against DNS rebinding; pass ["*"] to serve other hosts, and add
    ``TEST_CLIENT_HOST`` in tests that use Starlette's TestClient."""
    settings = settings or Settings()
    session = ChatSession(settings, thread, services_factory=services_factory, allow_export=False)
    jobs: dict[str, Job] = {}
    state: dict[str, Any] = {"current": None}
    state_lock = threading.Lock()

    app = FastAPI(title="retest", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.session = session
    app.state.jobs = jobs
    hosts = allowed_hosts or LOOPBACK_HOSTS
    if "*" not in hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    app.add_middleware(BodyLimit, limit=settings.web_max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One line saying what is wrong — never the body that was sent."""
        errs = exc.errors()
        first = errs[0] if errs else {}
        loc = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "body"
        msg = " ".join(str(first.get("msg", "invalid request")).split())[:200]
        return JSONResponse({"error": f"{loc}: {msg}",
                             "detail": [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:200],
                                         "type": e.get("type", "")} for e in errs[:10]]},
                            status_code=422)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        resp = await call_next(request)
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        return resp

    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    def page(name: str, **ctx) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(session=session, settings=settings, **ctx))

    def work(job: Job) -> None:
        try:
            def on_event(ev: dict) -> None:
                claim = ev.get("claim")
                job.push("progress", {"claim": None if claim is None else _text(claim),
                                      "step": _text(ev.get("step", "")), "detail": _text(ev.get("detail", ""))})

            with session.lock:
                reply = session.handle(job.message, on_event=on_event)
            if reply.kind == "quit":
                reply = Reply("text", "This conversation is kept; close the tab whenever you like.")
            job.push("reply", {"kind": reply.kind, "text": _text(reply.text), "html": render_reply(reply)})
        except Exception as e:  # one line for the page, never a traceback
            job.push("failed", {"error": _text(" ".join(redact(f"{type(e).__name__}: {e}", shapes=True).split())[:300])})
        finally:
            job.push("done", {})
            with state_lock:
                if state["current"] is job:
                    state["current"] = None

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page("index.html", messages=[(m, stored_reply_html(m)) for m in session.messages[-60:]])

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True, "thread": session.thread, "busy": state["current"] is not None}

    @app.post("/api/chat", status_code=202)
    def chat(body: ChatIn) -> JSONResponse:
        with state_lock:
            cur = state["current"]
            if cur is not None and not cur.done:
                return JSONResponse({"error": "a run is in progress; wait for it to finish", "job": cur.id},
                                    status_code=409)
            job = Job(body.message)
            jobs[job.id] = job
            if len(jobs) > 200:  # keep the newest
                for old in list(jobs)[:-200]:
                    jobs.pop(old, None)
            state["current"] = job
        threading.Thread(target=work, args=(job,), name=f"retest-chat-{job.id}", daemon=True).start()
        return JSONResponse({"job": job.id, "events": f"/api/events/{job.id}"}, status_code=202)

    def get_job(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return job

    @app.get("/api/jobs/{job_id}")
    def job_state(job_id: str) -> dict:
        job = get_job(job_id)
        events, done = job.snapshot(0)
        return {"job": job.id, "done": done, "events": [{"event": e, "data": d} for e, d in events]}

    @app.get("/api/events/{job_id}")
    async def events(job_id: str, request: Request) -> StreamingResponse:
        job = get_job(job_id)
        # resume after the id the browser last saw, clamped to the job's events: never before the first
        # (a negative id), never past the last (a huge one), from the start when it is not a number
        raw = request.headers.get("last-event-id", "").strip()
        have = len(job.snapshot(0)[0])
        start = 0
        if raw.isdigit():
            start = have if len(raw) > 9 else min(int(raw) + 1, have)

        async def stream():
            i = start
            yield "retry: 1000\n\n"
            while True:
                evs, done = job.snapshot(i)
                for name, data in evs:
                    yield f"id: {i}\nevent: {name}\ndata: {json_text_safe(json.dumps(data, ensure_ascii=False))}\n\n"
                    i += 1
                if done and not evs:
                    return
                if await request.is_disconnected():
                    return
                if not evs:
                    await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/claims", response_class=HTMLResponse)
    def claims_page() -> HTMLResponse:
        rows = [(i, c, session.results.get(c.id)) for i, c in enumerate(session.claims, start=1)]
        return page("claims.html", rows=[(i, c, r.model_dump(mode="json") if r else None) for i, c, r in rows])

    @app.get("/api/claims")
    def claims_json() -> dict:
        return {"thread": session.thread,
                "claims": [{"number": i, **c.model_dump(mode="json"),
                            "result": session.results[c.id].model_dump(mode="json") if c.id in session.results else None}
                           for i, c in enumerate(session.claims, start=1)]}

    def _need_results() -> None:
        if not session.results:
            raise HTTPException(404, "no verdicts yet: re-test a claim first")

    @app.get("/report.md")
    def report_md() -> Response:
        _need_results()
        return PlainTextResponse(session.report_markdown(), media_type="text/markdown; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="report.md"'})

    @app.get("/report.json")
    def report_json() -> Response:
        _need_results()
        return Response(session.report_json(), media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="report.json"'})

    return app
