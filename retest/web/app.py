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

One message is handled at a time, in a background thread, through ``agent.chat.ChatSession`` and so
through ``agent.runner.run_claims``: the same graph and store as `retest run`. Everything rendered
comes from templates with autoescape on; the page's script inserts only server-rendered fragments and
sets text with ``textContent``. A Content-Security-Policy forbids inline script. ``/export`` (which
writes files on the server) is refused here; the download links replace it.
"""
from __future__ import annotations

import asyncio
import json
import threading
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, Field

from agent.chat import ChatSession, Reply, evidence_groups
from agent.configuration import Settings
from claims.models import ClaimResult

_HERE = Path(__file__).parent
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]", "testserver"]

env = Environment(loader=PackageLoader("retest.web", "templates"), undefined=StrictUndefined,
                  autoescape=select_autoescape(default=True, default_for_string=True),
                  trim_blocks=True, lstrip_blocks=True)
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


def create_app(settings: Settings | None = None, thread: str = "web", services_factory=None,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app over one conversation (``thread``) kept in settings.home/chat/. ``allowed_hosts``
    (default: loopback names) guards against DNS rebinding; pass ["*"] to serve other hosts."""
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
                job.push("progress", {"claim": ev.get("claim"), "step": str(ev.get("step", "")),
                                      "detail": str(ev.get("detail", ""))})

            with session.lock:
                reply = session.handle(job.message, on_event=on_event)
            if reply.kind == "quit":
                reply = Reply("text", "This conversation is kept; close the tab whenever you like.")
            job.push("reply", {"kind": reply.kind, "text": reply.text, "html": render_reply(reply)})
        except Exception as e:  # one line for the page, never a traceback
            job.push("failed", {"error": f"{type(e).__name__}: {e}"})
        finally:
            job.push("done", {})
            with state_lock:
                if state["current"] is job:
                    state["current"] = None

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page("index.html", messages=session.messages[-60:])

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
        try:
            start = int(request.headers.get("last-event-id", "-1")) + 1
        except ValueError:
            start = 0

        async def stream():
            i = start
            yield "retry: 1000\n\n"
            while True:
                evs, done = job.snapshot(i)
                for name, data in evs:
                    yield f"id: {i}\nevent: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
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
