"""`retest sweep` and `retest history`: re-test a folder of claims against what is new since the last
sweep, with a digest per sweep and a verdict timeline per claim (agent/sweep.py, agent/history.py)."""
# No `from __future__ import annotations`: Typer reads these annotations at registration time.
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from retest.options import AsOfOpt, HomeOpt, JudgeOpt, ModelOpt, SourceOpt, make_settings
from retest.terminal import safe_console

EXIT_CHANGED = 4

console = safe_console()


def register(app: typer.Typer) -> None:
    from retest.errors import EXIT_LOCKED, err_console, guarded

    @app.command()
    def sweep(
        paths: Annotated[list[Path] | None, typer.Argument(
            help="claim files or folders (default: the claims/ folder, or RETEST_CLAIMS)")] = None,
        out: Annotated[Path | None, typer.Option(
            "--out", help="directory for digest.md and digest.json (default HOME/digests/sweep-NNNNN)")] = None,
        source: SourceOpt = None,
        judge: JudgeOpt = None,
        model: ModelOpt = None,
        home: HomeOpt = None,
        as_of: AsOfOpt = None,
        wait: Annotated[float, typer.Option(
            "--wait", help="seconds to wait for another sweep on the same data directory")] = 0.0,
        fail_on_change: Annotated[bool, typer.Option(
            "--fail-on-change", help=f"exit with status {EXIT_CHANGED} when any verdict changed")] = False,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress on stderr")] = False,
    ) -> None:
        """Re-test the claims against papers newer than the last sweep; write a digest of what moved."""

        def go() -> int:
            from agent.sweep import SweepLocked, run_sweep
            from retest.progress import ProgressPrinter

            settings = make_settings(source=source, judge=judge, model=model, home=home, as_of=as_of)
            if out is not None:  # refused before any work, like `retest run --out`
                from agent.report import check_out_dir

                check_out_dir(out)
            try:
                res = run_sweep(paths or None, settings, on_event=ProgressPrinter(quiet=quiet), wait=wait, out=out)
            except SweepLocked as e:
                err_console.print(f"[bold red]error:[/] {e}")
                sys.exit(EXIT_LOCKED)
            d = res.digest
            s = d["stats"]
            console.print(
                f"sweep {d['sweep_id']}{' (resumed)' if res.resumed else ''}: window "
                f"{d['window']['from'] or '…'} → {d['window']['to']} · {s['claims']} claims · "
                f"{len(d['changes'])} verdict change(s) · {len(d['new_papers'])} new relevant paper(s) · "
                f"{s['judge_calls']} judge call(s) · {s['embedded_chunks']} chunks embedded · {s['elapsed_s']} s")
            for c in d["changes"]:
                ps = ", ".join(f"arXiv:{p['arxiv_id']}" for p in c["papers"]) or "no new paper cited"
                console.print(f"  {escape(c['short_id'])}: {escape(c['old'])} → [bold]{escape(c['new'])}[/] "
                              f"({escape(ps)})")
            for e in res.errors:
                err_console.print(f"[yellow]skipped[/] {escape(str(e['file']))}: {escape(str(e['error']))}")
            console.print(f"wrote [bold]{escape(str(res.written[0]))}[/] and [bold]{escape(str(res.written[1]))}[/]")
            if res.errors:
                return 1
            if fail_on_change and res.changed:
                return EXIT_CHANGED
            return 0

        code = guarded(go)
        if code:
            raise typer.Exit(code)

    @app.command()
    def history(
        claim: Annotated[str | None, typer.Argument(
            help="a claim: FILE#ID, a path suffix like alignment.md#c1, or just c1")] = None,
        home: HomeOpt = None,
        json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    ) -> None:
        """Without CLAIM: the sweeps so far. With CLAIM: that claim's verdict timeline."""

        def go() -> None:
            import json

            from rich.table import Table

            from agent.history import History

            settings = make_settings(home=home)
            path = settings.home / "history.sqlite"
            if not path.exists():
                err_console.print(f"no sweeps yet in {settings.home}")
                return
            with History(path) as hist:
                if claim is None:
                    sweeps = hist.sweeps()
                    if json_out:
                        print(json.dumps([s.__dict__ for s in sweeps], indent=2))
                        return
                    t = Table(title=f"sweeps in {settings.home}")
                    for col in ("sweep", "started", "status", "window", "claims", "judge calls", "embedded",
                                "elapsed s"):
                        t.add_column(col)
                    for s in sweeps:
                        st = s.stats or {}
                        t.add_row(str(s.id), s.started, s.status, f"{s.window_from or '…'} → {s.window_to}",
                                  str(st.get("claims", "")), str(st.get("judge_calls", "")),
                                  str(st.get("embedded_chunks", "")), str(st.get("elapsed_s", "")))
                    console.print(t)
                    return
                rows = hist.timeline(claim)
                if not rows:
                    err_console.print(f"[bold red]error:[/] no verdicts for claim {claim!r} in {settings.home}")
                    sys.exit(2)
                if json_out:
                    print(json.dumps([{k: r[k] for k in ("sweep_id", "claim_id", "claim_text", "claim_date",
                                                         "verdict", "confidence", "judge", "cached", "at",
                                                         "window_from", "window_to")} for r in rows], indent=2))
                    return
                last_key = None
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

        guarded(go)
