"""`retest history [CLAIM]`: the sweeps so far, or one claim's verdict timeline (retest/sweep/history.py)."""
# No `from __future__ import annotations`: Typer reads these annotations when the command registers.
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from claims.errors import UsageError
from retest.cli.app import app
from retest.errors import err_console, guarded
from retest.options import HomeOpt, make_settings
from retest.sweep.history import History
from retest.terminal import safe_console

console = safe_console()


@app.command()
def history(
    claim: Annotated[str | None, typer.Argument(
        help="a claim: FILE#ID, a path suffix like alignment.md#c1, or just c1")] = None,
    home: HomeOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
) -> None:
    """Without CLAIM: the sweeps so far. With CLAIM: that claim's verdict timeline."""

    def go() -> None:
        settings = make_settings(home=home)
        path = settings.home / "history.sqlite"
        if not path.exists():
            err_console.print(f"no sweeps yet in {settings.home}")
            return
        with History(path) as hist:
            if claim is None:
                _sweeps(hist, settings.home, json_out)
            else:
                _timeline(hist, claim, settings.home, json_out)

    guarded(go)


def _sweeps(hist: History, home_dir: Path, json_out: bool) -> None:
    sweeps = hist.sweeps()
    if json_out:
        print(json.dumps([s.__dict__ for s in sweeps], indent=2))
        return
    t = Table(title=f"sweeps in {home_dir}")
    for col in ("sweep", "started", "status", "window", "claims", "judge calls", "embedded", "elapsed s"):
        t.add_column(col)
    for s in sweeps:
        st = s.stats or {}
        t.add_row(str(s.id), s.started, s.status, f"{s.window_from or '…'} → {s.window_to}",
                  str(st.get("claims", "")), str(st.get("judge_calls", "")),
                  str(st.get("embedded_chunks", "")), str(st.get("elapsed_s", "")))
    console.print(t)

def _timeline(hist: History, claim_ref: str, home_dir: Path, json_out: bool) -> None:
    rows = hist.timeline(claim_ref)
    if not rows:
        raise UsageError(f"no verdicts for claim {claim_ref!r} in {home_dir}")
    if json_out:
        print(json.dumps([{k: r[k] for k in ("sweep_id", "claim_id", "claim_text", "claim_date", "verdict",
                                             "confidence", "judge", "cached", "at", "window_from",
                                             "window_to")} for r in rows], indent=2))
        return
    last_key = prev = None
    for r in rows:
        if (r["claim_id"], r["claim_uid"]) != last_key:
            if last_key is not None:
                console.print()
            console.print(f"[bold]{escape(r['claim_id'])}[/] ({escape(r['claim_date'])}): "
                          f"{escape(r['claim_text'])}")
            last_key, prev = (r["claim_id"], r["claim_uid"]), None
        mark = "" if prev in (None, r["verdict"]) else f"  (was {prev})"
        ev = len(json.loads(r["evidence_ids"] or "[]"))
        console.print(f"  sweep {r['sweep_id']:>4} · {r['window_to']} · [bold]{r['verdict']}[/] "
                      f"{r['confidence']:.2f} · {ev} evidence chunks · "
                      f"{'cached' if r['cached'] else r['judge']}{mark}")
        prev = r["verdict"]
