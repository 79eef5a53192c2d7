"""Running the graph: one entry point for every face (CLI, chat, sweep, web, notebook).

A run's thread id is derived from its input and the settings that change its answer, so the same
command after a crash resumes from the last checkpoint instead of starting over.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from agent.configuration import Settings
from agent.graph import RECURSION_LIMIT, build_graph, sqlite_checkpointer
from agent.services import Services, build_services
from claims.models import ClaimSet, Report
from tools.datafile import DataFileError, aside_hint

Event = dict[str, Any]


def thread_id_for(claim_set: ClaimSet, settings: Settings, services: Services) -> str:
    key = json.dumps({
        "claims": claim_set.model_dump(mode="json", exclude={"source"}),
        "judge": services.judge.name, "source": services.source.name,
        "as_of": settings.today.isoformat(), "recent": settings.recent_months,
    }, sort_keys=True)
    return "run-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def checkpoints_error(path, exc: BaseException) -> DataFileError:
    return DataFileError(path, f"the checkpoint database cannot be read ({exc})",
                         aside_hint(path, "interrupted runs then start afresh; finished reports are not affected"))


def open_checkpoints(path):
    """The run checkpointer on PATH; a file that is not a readable SQLite database raises DataFileError."""
    saver = None
    try:
        saver = sqlite_checkpointer(path)
        saver.conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()  # reads the header
        return saver
    except sqlite3.DatabaseError as e:
        if saver is not None:
            saver.conn.close()
        raise checkpoints_error(path, e) from None
    except OSError as e:
        raise DataFileError(path, f"the checkpoint database cannot be opened ({e.strerror})",
                            "check the permissions of RETEST_HOME") from None


@contextmanager
def open_services(settings: Settings, source: tuple[Any, list[Any]] | None = None):
    """The services for a run, closed afterwards; `source`: what `agent.services.start_source` built
    (closed too if the other services cannot be built)."""
    try:
        svc = build_services(settings, source=source)
    except BaseException:
        close = getattr(source[0], "close", None) if source is not None else None
        if callable(close):
            close()
        raise
    try:
        yield svc
    finally:
        svc.close()


def run_claims(
    claim_set: ClaimSet,
    settings: Settings,
    services: Services,
    on_event: Callable[[Event], None] | None = None,
    resume: bool = True,
    thread_id: str | None = None,
    extra_state: dict[str, Any] | None = None,
) -> Report:
    """Run the graph over a claim set and return the validated Report.

    With `resume`, an interrupted run of the same input continues from its checkpoint; a finished one
    is started afresh. `extra_state` adds optional initial RunState keys (a sweep's `since`, `prior`,
    `verdict_cache`, ...); it is used only when the run starts afresh."""
    t0 = time.perf_counter()
    path = settings.ensure_home() / "checkpoints.sqlite"
    saver = open_checkpoints(path)
    try:
        graph = build_graph(checkpointer=saver)
        tid = thread_id or thread_id_for(claim_set, settings, services)
        config = {"configurable": {"thread_id": tid}, "recursion_limit": RECURSION_LIMIT}
        try:
            snap = graph.get_state(config)
        except sqlite3.DatabaseError as e:
            raise checkpoints_error(path, e) from None
        if snap.next and resume:
            inp = None
            if on_event:
                on_event({"claim": None, "step": "resume", "detail": f"resuming interrupted run {tid}"})
        else:
            if snap.values:
                saver.delete_thread(tid)
            inp = {**(extra_state or {}), "claim_set": claim_set.model_dump(mode="json")}
        for _ns, mode, chunk in graph.stream(inp, config, context=services, stream_mode=["custom", "updates"],
                                            subgraphs=True):
            if mode == "custom" and on_event:
                on_event(chunk)
        final = graph.get_state(config).values
        report = Report.model_validate(final["report"])
        report.stats.elapsed_s = round(time.perf_counter() - t0, 2)
        return report
    finally:
        saver.conn.close()
