"""A stored claim result as plain text: what the terminal, the export and the LLM tool loop show, and the
evidence groups every renderer (text, Rich, the web page) lists citations under."""
from __future__ import annotations

from claims.models import ClaimResult


def citation_lines(c) -> list[str]:
    pub = f", {c.published.isoformat()}" if c.published else ""
    score = f" p={c.score:.2f}" if c.score is not None else ""
    out = [f"  [{c.stance.value}{score}] arXiv:{c.arxiv_id} — {c.title}{pub}  {c.url}"]
    if c.quote:
        out.append(f'      "{c.quote}"')
    return out


def explain_text(r: ClaimResult, number: int) -> str:
    lines = [f"Claim {number} ({r.id}): {r.text} ({r.claim_date})",
             f"Verdict: {r.verdict.value} (confidence {r.confidence:.2f}, {r.judge})",
             f"Why: {r.rationale}"]
    if r.source:
        lines.append(f"Source paper: arXiv:{r.source.arxiv_id} — {r.source.title} "
                     f"({r.source.published or 'date unknown'}; {r.source.how})  https://arxiv.org/abs/{r.source.arxiv_id}")
    if r.date_rule:
        lines.append(f"Newer means: {r.date_rule}")
    for title, cites in evidence_groups(r):
        lines.append(f"{title}:")
        for c in cites:
            lines += citation_lines(c)
    if r.offline_verdict:
        o = r.offline_verdict
        lines.append(f"Offline judge on the same evidence: {o.label.value} (confidence {o.confidence:.2f}, {o.judge})")
    if r.rejected_citations:
        lines.append("Rejected citations (failed a check; not counted as evidence):")
        for x in r.rejected_citations:
            where = f"arXiv:{x.arxiv_id} — {x.title}  https://arxiv.org/abs/{x.arxiv_id}" if x.resolves else \
                f"{x.arxiv_id} (no such record)"
            lines.append(f"  [{x.stance.value}, rejected: {', '.join(x.reasons)}] {where}")
            lines.append(f'      "{x.quote}"')
    if r.flags:
        lines.append("Flags: " + "; ".join(f"{f.code} — {f.detail}" for f in r.flags))
    return "\n".join(lines)


def evidence_groups(r: ClaimResult) -> list[tuple[str, list]]:
    groups = [("Contradicting or superseding (recent window)", r.contradicting_recent),
              ("Contradicting or superseding (all newer work)", r.contradicting_newer),
              ("Supporting", r.supporting)]
    shown = {(c.arxiv_id, c.quote) for _, cs in groups for c in cs}
    rest = [c for c in r.citations if (c.arxiv_id, c.quote) not in shown]
    groups.append(("Other cited evidence", rest))
    return [(t, cs) for t, cs in groups if cs]
