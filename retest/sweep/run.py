"""Sweeps: re-test a folder of claims against what is new since the last sweep, cheaply and safely.

A sweep drives the same graph as `retest run`, once per claims file, with extra inputs:
- `prior` / `claim_since`: a claim an earlier sweep judged is searched only for papers newer than
  that sweep's window end (less WINDOW_OVERLAP_DAYS, for papers announced a day late); its known
  evidence ids are added to what the search finds. A claim never swept is searched in full.
- `verdict_cache`: the claim's last verdict and its cache key (claim text and date, the sorted
  evidence chunk ids, the judge's name); the judge node reuses it when the evidence is unchanged.
- `known_sources`: the source paper an earlier sweep linked, so the link search is not repeated.
- `until`: the window end (settings.today), so `--as-of` behaves like that day.

Crash safety: the sweep holds `HOME/sweep.lock` for its whole duration (a second sweep waits up to
`wait` seconds, then SweepLocked). Each file's graph run has a thread id derived from the sweep id
and the file, so a sweep killed at any point and started again resumes the `running` sweep and each
file from its last checkpoint; a file's verdicts and evidence are written to the history in one
transaction with the mark that the file is done. Evidence upserts are idempotent (arXiv id+version).
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from agent.configuration import Settings
from agent.services import Services
from claims.errors import BusyError, InputError
from claims.readers import read_claims
from retest.sweep.digest import build_digest, write_digest
from retest.sweep.history import History, claim_uid

WINDOW_OVERLAP_DAYS = 2
CLAIM_SUFFIXES = (".md", ".markdown", ".yaml", ".yml", ".json")
Event = dict[str, Any]


class SweepLocked(BusyError):
    """Another sweep holds the data directory's sweep lock (exit status 3)."""


@dataclass
class SweepResult:
    sweep_id: int
    digest: dict[str, Any]
    resumed: bool = False
    errors: list[dict[str, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.digest.get("changes"))


def default_paths(settings: Settings) -> list[Path]:
    return [settings.claims_dir or Path("claims")]


def collect_files(paths: list[Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """Claim files under the given files and folders (recursively), sorted; README files are skipped."""
    files: list[Path] = []
    errors: list[dict[str, str]] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += [f for f in sorted(p.rglob("*")) if f.is_file() and f.suffix.lower() in CLAIM_SUFFIXES
                      and not f.name.lower().startswith("readme") and not any(
                          part.startswith(".") for part in f.relative_to(p).parts)]
        elif p.is_file():
            files.append(p)
        else:
            errors.append({"file": str(p), "error": "no such file or folder"})
    seen: dict[Path, None] = {}
    for f in files:
        seen.setdefault(f.resolve(), None)
    return list(seen), errors


def file_key(path: Path) -> str:
    return str(path.resolve())


def thread_id_for_file(sweep_id: int, path: Path) -> str:
    return f"sweep-{sweep_id}-" + hashlib.sha256(file_key(path).encode()).hexdigest()[:12]


def _lock(home: Path, wait: float):
    lock = FileLock(str(home / "sweep.lock"), thread_local=False)
    try:
        lock.acquire(timeout=max(0.0, wait))
    except Timeout:
        raise SweepLocked(f"another sweep is running in {home} (it holds {home / 'sweep.lock'}); "
                          f"waited {wait:g}s — try again later or pass --wait SECONDS") from None
    return lock


def _minus_days(iso: str | None, days: int) -> str | None:
    return (date.fromisoformat(iso) - timedelta(days=days)).isoformat() if iso else None


def run_sweep(
    paths: list[Path] | None,
    settings: Settings,
    services: Services | None = None,
    on_event: Callable[[Event], None] | None = None,
    wait: float = 0.0,
    out: Path | None = None,
) -> SweepResult:
    """Run (or resume) one sweep over the claim files under `paths`; write its digest to `out`
    (default HOME/digests/sweep-NNNNN) and return it."""
    home = settings.ensure_home()
    lock = _lock(home, wait)
    try:
        return _sweep_locked(paths, settings, services, on_event, out, home)
    finally:
        lock.release()


def _emit(on_event, step: str, detail: str) -> None:
    if on_event:
        on_event({"claim": "sweep", "step": step, "detail": detail})


def _sweep_locked(paths, settings, services, on_event, out, home) -> SweepResult:
    from agent.runner import open_services  # the graph (langgraph) loads after the lock: a refusal is quick

    t0 = time.perf_counter()
    files, errors = collect_files(list(paths) if paths else default_paths(settings))
    with History(home / "history.sqlite") as hist:
        resumed = hist.running()
        if resumed is not None:
            sweep_id, wfrom, wto = resumed.id, resumed.window_from, resumed.window_to
            _emit(on_event, "resume", f"resuming interrupted sweep {sweep_id} (window {wfrom or '…'} → {wto})")
        else:
            last = hist.last_finished()
            wfrom, wto = (last.window_to if last else None), settings.today.isoformat()
        counts: dict[str, float] = {}
        if services is None:
            stack = ExitStack()
            services = stack.enter_context(open_services(settings))
        else:
            stack = None
        try:
            req0 = int(getattr(services.source, "requests", 0))
            if resumed is None:
                sweep_id = hist.start(wfrom, wto, settings.as_of.isoformat() if settings.as_of else None,
                                      services.judge.name, [file_key(f) for f in files])
                _emit(on_event, "start", f"sweep {sweep_id}: {len(files)} file(s), papers newer than "
                      f"{wfrom or '(no lower bound)'} up to {wto}")
            for f in files:
                if hist.file_done(sweep_id, file_key(f)):
                    _emit(on_event, "file", f"{f}: done before the interruption")
                    continue
                try:
                    c, _n = _sweep_file(f, sweep_id, wto, settings, services, hist, on_event)
                except Exception as e:  # one bad file must not stop the others
                    if not isinstance(e, InputError | OSError):
                        raise
                    msg = e.one_line() if isinstance(e, InputError) else f"{type(e).__name__}: {e}"
                    errors.append({"file": str(f), "error": msg})
                    _emit(on_event, "error", msg)
                    continue
                for k, v in c.items():
                    counts[k] = counts.get(k, 0) + v
            stats = {
                "claims": len(hist.verdicts(sweep_id)),  # a resumed sweep counts files done before, too
                "judge_calls": int(counts.get("judge_calls", 0)),
                "judge_cache_hits": int(counts.get("judge_cache_hits", 0)),
                "embedded_chunks": int(counts.get("embedded_chunks", 0)),
                "papers_searched": int(counts.get("papers_searched", 0)),
                "arxiv_requests": int(getattr(services.source, "requests", 0)) - req0,
                "elapsed_s": round(time.perf_counter() - t0, 2),
                "files": len(files),
                "resumed": resumed is not None,
                "judge": services.judge.name,
                "source": services.source.name,
            }
            hist.finish(sweep_id, stats, error="; ".join(f"{e['file']}: {e['error']}" for e in errors) or None)
        finally:
            if stack is not None:
                stack.close()
        digest = build_digest(hist, sweep_id, errors=errors)
        written = write_digest(digest, out or (home / "digests" / f"sweep-{sweep_id:05d}"))
        _emit(on_event, "digest", f"{len(digest['changes'])} verdict change(s), "
              f"{len(digest['new_papers'])} new relevant paper(s) → {written[0].parent}")
        return SweepResult(sweep_id=sweep_id, digest=digest, resumed=resumed is not None, errors=errors,
                           written=written)


def _final_state(settings: Settings, thread_id: str) -> tuple[bool, dict[str, Any]]:
    """(finished, values) of a sweep file's graph thread."""
    from agent.graph import RECURSION_LIMIT, build_graph
    from agent.runner import open_checkpoints

    saver = open_checkpoints(settings.ensure_home() / "checkpoints.sqlite")
    try:
        snap = build_graph(checkpointer=saver).get_state(
            {"configurable": {"thread_id": thread_id}, "recursion_limit": RECURSION_LIMIT})
        return (bool(snap.values) and not snap.next and "report" in snap.values), dict(snap.values or {})
    finally:
        saver.conn.close()


def _drop_thread(settings: Settings, thread_id: str) -> None:
    from agent.runner import open_checkpoints

    saver = open_checkpoints(settings.ensure_home() / "checkpoints.sqlite")
    try:
        saver.delete_thread(thread_id)
    finally:
        saver.conn.close()


def _sweep_file(path: Path, sweep_id: int, wto: str, settings: Settings, services: Services,
                hist: History, on_event) -> tuple[dict[str, float], int]:
    from agent.runner import run_claims

    cs = read_claims(path, settings.input_limits())
    fkey = file_key(path)
    tid = thread_id_for_file(sweep_id, path)
    uids = {c.id: claim_uid(f"{fkey}#{c.id}", c.text, c.claim_date) for c in cs.claims}
    done, values = _final_state(settings, tid)
    if not done:
        prior: dict[str, list[str]] = {}
        claim_since: dict[str, str] = {}
        cache: dict[str, dict[str, Any]] = {}
        known: dict[str, dict[str, Any] | None] = {}
        for c in cs.claims:
            uid = uids[c.id]
            last = hist.last_verdict(uid, sweep_id)
            if last is None:
                continue  # never swept (or its text changed): a full search
            prior[c.id] = hist.known_evidence(uid)
            claim_since[c.id] = _minus_days(last["window_to"], WINDOW_OVERLAP_DAYS)
            cache[c.id] = {"key": last["cache_key"], "verdict": json.loads(last["verdict_json"])}
            has, src = hist.known_source(uid)
            if has:
                known[c.id] = src
        extra = {"prior": prior, "claim_since": claim_since, "verdict_cache": cache, "known_sources": known,
                 "until": wto}
        _emit(on_event, "file", f"{path}: {len(cs.claims)} claims, {len(prior)} known")
        run_claims(cs, settings, services, on_event=on_event, resume=True, thread_id=tid, extra_state=extra)
        done, values = _final_state(settings, tid)
    rows = _rows(cs, values, uids, fkey)
    hist.record_file(sweep_id, fkey, tid, rows)
    _drop_thread(settings, tid)  # recorded: the checkpoint is no longer needed
    return dict(values.get("counts") or {}), len(rows)


def _rows(cs, values: dict[str, Any], uids: dict[str, str], fkey: str) -> list[dict[str, Any]]:
    report = values["report"]
    judged = values.get("judged") or {}
    sources = values.get("sources") or {}
    papers = values.get("papers") or {}
    known = values.get("known_sources") or {}
    rows = []
    for r in report["claims"]:
        cid = r["id"]
        j = judged.get(cid) or {}
        meta = j.get("papers") or {}
        found = [(a, (meta.get(a) or {}).get("title"), (meta.get(a) or {}).get("published"))
                 for a in dict.fromkeys(j.get("found") or [])]
        row = {
            "claim_id": f"{fkey}#{cid}", "uid": uids[cid], "text": r["text"], "date": r["claim_date"],
            "verdict": r["verdict"], "confidence": r["confidence"], "evidence_ids": j.get("evidence_ids") or [],
            "judge": r["judge"], "cache_key": j.get("key"), "cached": j.get("cached", False),
            "verdict_json": j.get("verdict"), "result_json": r, "found": found,
        }
        claim = next((c for c in cs.claims if c.id == cid), None)
        link_failed = any(f.get("claim_id") == cid for f in values.get("flags") or [])
        if cid not in known and claim is not None and not claim.anchors and not link_failed:
            ref = sources.get(cid)
            row["source"] = {"ref": ref, "paper": papers[ref["arxiv_id"]]} if ref and ref["arxiv_id"] in papers \
                else None
        rows.append(row)
    return rows
