"""Report rendering: the Report model to markdown (Jinja2) and JSON, and the method text."""
from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from claims.models import Report

_env = Environment(loader=PackageLoader("agent", "templates"), undefined=StrictUndefined,
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def _md_escape(text: object) -> str:
    """Paper and user text is untrusted: neutralise markdown/HTML that could inject links or markup."""
    s = "" if text is None else str(text)
    s = s.replace("\\", "\\\\").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "[]|`*_":
        s = s.replace(ch, "\\" + ch)
    return " ".join(s.split())


_env.filters["md"] = _md_escape


def _module_doc(obj) -> str:
    import sys

    mod = sys.modules.get(type(obj).__module__)
    return " ".join(((mod.__doc__ if mod else "") or "").split())


def method_text(svc) -> str:
    """How the run decided: sources, judge and planner, with their documented rules."""
    parts = [
        f"Search source: {svc.source.name}. Evidence store: sentence-level chunks of abstracts, embedded with "
        f"{svc.embedder.name}. Judge: {svc.judge.name}. Planner: {svc.planner.name}.",
        "Verification flags are computed by code after the judge: every cited id is resolved against the "
        "search source, every quote is checked to be a verbatim span of its abstract (whitespace-normalised), "
        "dates come from arXiv records, not from the judge.",
    ]
    if doc := _module_doc(svc.judge):
        parts.append("Judge rules — " + doc)
    if doc := _module_doc(svc.planner):
        parts.append("Query planning — " + doc)
    parts += svc.method_notes
    return "\n\n".join(parts)


def render_markdown(report: Report) -> str:
    return _env.get_template("report.md.j2").render(r=report)


def write_reports(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write report.md and report.json atomically (temp file, then rename)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "report.md", out_dir / "report.json"
    for path, text in ((md, render_markdown(report)),
                       (js, json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n")):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return md, js
