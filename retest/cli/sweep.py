"""`retest sweep [PATHS…]`: re-test a folder of claims against what is new since the last sweep, and write
a digest of what moved (retest/sweep/)."""
# No `from __future__ import annotations`: Typer reads these annotations when the command registers.
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from claims.errors import ExitCode
from retest.cli.app import app
from retest.errors import err_console, guarded
from retest.options import AsOfOpt, HomeOpt, JudgeOpt, ModelOpt, QuietOpt, SourceOpt, make_settings
from retest.progress import ProgressPrinter
from retest.terminal import safe_console

console = safe_console()


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
        "--fail-on-change", help=f"exit with status {ExitCode.CHANGED:d} when any verdict changed")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Re-test the claims against papers newer than the last sweep; write a digest of what moved."""

    def go() -> int:
        from agent.report import check_out_dir
        from retest.sweep.run import run_sweep  # the graph (langgraph): loaded when a sweep starts

        settings = make_settings(source=source, judge=judge, model=model, home=home, as_of=as_of)
        if out is not None:  # refused before any work, like `retest run --out`
            check_out_dir(out)
        res = run_sweep(paths or None, settings, on_event=ProgressPrinter(quiet=quiet), wait=wait, out=out)
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
            return ExitCode.UNEXPECTED
        if fail_on_change and res.changed:
            return ExitCode.CHANGED
        return ExitCode.DONE

    code = guarded(go)
    if code:
        raise typer.Exit(int(code))
