"""`retest run FILE`: re-test every claim in FILE and write report.md and report.json."""
# No `from __future__ import annotations`: Typer reads these annotations when the command registers.
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from retest.cli.app import app
from retest.errors import guarded
from retest.options import AsOfOpt, HomeOpt, JudgeOpt, ModelOpt, QuietOpt, SourceOpt, make_settings
from retest.progress import ProgressPrinter
from retest.terminal import safe_console

console = safe_console()


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="claims file: research-prompt markdown, YAML or JSON")],
    out: Annotated[Path, typer.Option("--out", help="directory for report.md and report.json")] = Path("out"),
    source: SourceOpt = None,
    judge: JudgeOpt = None,
    model: ModelOpt = None,
    home: HomeOpt = None,
    as_of: AsOfOpt = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="bypass the arXiv response cache")] = False,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="continue an interrupted run of the same input")] = True,
    quiet: QuietOpt = False,
) -> None:
    """Re-test every claim in FILE and write report.md and report.json."""

    def go() -> None:
        from agent.report import check_out_dir, write_reports
        from agent.services import start_source
        from claims.readers import read_claims

        # everything that can be refused is refused before any work: settings, --out, the input
        settings = make_settings(source=source, judge=judge, model=model, home=home, as_of=as_of,
                                 refresh=refresh or None)
        check_out_dir(out)
        claim_set = read_claims(file, settings.input_limits())
        # the source first: on the live API the anchors' lookup goes out while the graph loads
        early = start_source(settings, claim_set)
        from agent.runner import open_services, run_claims  # the graph (langgraph)

        with open_services(settings, source=early) as svc:
            report = run_claims(claim_set, settings, svc, on_event=ProgressPrinter(quiet=quiet), resume=resume)
        md, js = write_reports(report, out)
        _summary(report)
        console.print(f"wrote [bold]{escape(str(md))}[/] and [bold]{escape(str(js))}[/]")

    guarded(go)


def _summary(report) -> None:
    t = Table(title=f"{len(report.claims)} claims · judge: {report.stats.judge}", show_lines=False)
    for col in ("#", "claim", "date", "verdict", "conf.", "flags"):
        t.add_column(col, overflow="fold")
    for c in report.claims:
        t.add_row(escape(c.id), escape(c.text[:70] + ("…" if len(c.text) > 70 else "")), escape(c.claim_date),
                  c.verdict.value, f"{c.confidence:.2f}", escape(", ".join(sorted({f.code for f in c.flags})) or "—"))
    console.print(t)
