"""`retest export-pairs REPORT --out FILE`: a report's verified stance citations (e.g. an LLM judge's) as
paper-level training pairs for `retest train-verifier --paper --pairs FILE`."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from retest.cli.app import app
from retest.errors import fail, guarded, need_file
from retest.options import make_settings


@app.command("export-pairs")
def export_pairs_cmd(
    report: Path = typer.Argument(..., help="a report.json (e.g. from a run with --judge llm)"),
    out: Path = typer.Option(..., "--out", help="JSONL of paper-level pairs to write"),
    home: Path | None = typer.Option(None, "--home", help="data directory (env RETEST_HOME)"),
) -> None:
    """Turn a report's verified stance citations into paper-level training pairs (claim, title, abstract,
    label, rationale) for `retest train-verifier --paper --pairs FILE`: distil an LLM judge's reading."""

    def go() -> None:
        from agent.services import build_source
        from claims.models import Report

        need_file(report, "report")
        try:
            rep = Report.model_validate_json(report.read_text(encoding="utf-8"))
        except Exception as e:
            fail(f"{report}: not a retest report.json ({str(e).splitlines()[0]}) — pass a report written by retest run")
        ids = sorted({c.arxiv_id for r in rep.claims for c in r.citations if c.stance.value != "neither"})
        kind = "snapshot" if "snapshot" in (rep.stats.source or "") else None
        source, _ = build_source(make_settings(home=home, source=kind))
        papers = source.lookup(ids) if ids else {}
        n = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            for r in rep.claims:
                for c in r.citations:
                    p = papers.get(c.arxiv_id)
                    if p is None or c.stance.value == "neither":
                        continue
                    f.write(json.dumps({"claim": r.text, "paper_id": p.arxiv_id, "title": p.title,
                                        "abstract": p.abstract, "label": c.stance.value, "rationale": c.quote,
                                        "judge": r.judge}, ensure_ascii=False) + "\n")
                    n += 1
        typer.echo(f"wrote {n} pairs to {out}")

    guarded(go)
