"""Score a judge on a dated-claims case: run the whole graph on the case's claims over its corpus, then
compare with the expected verdicts and the (finding, paper) labels.

Figures (per case and pooled):
- verdict agreement: the verdict is the expected one (first in ``verdicts``) / one of the acceptable ones;
- stance-citation precision: of the citations that take a side (supports / contradicts) on papers other
  than the claim's own source, the share whose paper carries that label for that finding;
- contradicting-work recall: of the findings that have newer contradicting papers (``against``), the
  share for which the report cites at least one of them as contradicting;
- anchor flags: expected anchor flag codes found, and claim flags that must not appear.
"""
from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from claims.models import Report


class CaseLabels(BaseModel):
    claims: list[dict[str, Any]]
    anchors: dict[str, list[str]] = Field(default_factory=dict)
    no_claim_flags: list[str] = Field(default_factory=list)


class EvalInputError(ValueError):
    """A labels file that cannot be read: names the file, the line and what to do."""


def read_labels(path: Path) -> CaseLabels:
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise EvalInputError(f"{path}: cannot read ({e.strerror}) — check the path") from e
    except json.JSONDecodeError as e:
        raise EvalInputError(f"{path}:{e.lineno}: not valid JSON ({e.msg}) — fix the file") from e
    try:
        return CaseLabels.model_validate(obj)
    except Exception as e:
        raise EvalInputError(f"{path}: not a labels file ({str(e).splitlines()[0]}) — expected "
                             "{\"claims\": [{\"n\", \"source\", \"verdicts\", \"against\", \"supporting\"}], "
                             "\"anchors\": {...}}") from e


def read_paper_labels(path: Path) -> dict[tuple[int, str], str]:
    out: dict[tuple[int, str], str] = {}
    if not Path(path).is_file():
        return out
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            out[(int(d["n"]), str(d["paper_id"]))] = str(d["label"])
        except (json.JSONDecodeError, KeyError, ValueError) as e:
            raise EvalInputError(f"{path}:{i}: not a paper label ({e}) — each line needs n, paper_id, label") from e
    return out


def score_report(report: Report, labels: CaseLabels, paper_labels: dict[tuple[int, str], str]) -> dict[str, Any]:
    rows = []
    cites_total = cites_right = 0
    with_against = found_against = 0
    for n, res in enumerate(report.claims, 1):
        lab = next((c for c in labels.claims if int(c.get("n", -1)) == n), None)
        if lab is None:
            continue
        verdicts = list(lab.get("verdicts") or [])
        src = lab.get("source")
        against = set(lab.get("against") or [])
        stance_cites = [c for c in res.citations if c.stance.value != "neither" and c.arxiv_id != src]
        right = [c for c in stance_cites if paper_labels.get((n, c.arxiv_id)) == c.stance.value]
        cites_total += len(stance_cites)
        cites_right += len(right)
        hit = None
        if against:
            with_against += 1
            hit = any(c.stance.value == "contradicts" and c.arxiv_id in against for c in res.citations)
            found_against += int(hit)
        rows.append({
            "n": n, "claim": res.id, "verdict": res.verdict.value, "expected": verdicts[:1],
            "acceptable": verdicts, "agrees": bool(verdicts) and res.verdict.value == verdicts[0],
            "acceptable_ok": res.verdict.value in verdicts, "source_found": (res.source.arxiv_id if res.source else None),
            "source_expected": src, "stance_citations": len(stance_cites), "stance_citations_right": len(right),
            "wrong_citations": [f"{c.arxiv_id}:{c.stance.value} (label {paper_labels.get((n, c.arxiv_id), 'none')})"
                                for c in stance_cites if c not in right],
            "contradicting_found": hit,
        })
    anchor_expected = anchor_ok = 0
    for chk in report.anchors:
        want = set(labels.anchors.get(chk.arxiv_id, []))
        got = {f.code for f in chk.flags}
        anchor_expected += 1
        anchor_ok += int(want == got & {"anchor_date_mismatch", "anchor_unused", "anchor_not_found",
                                        "anchor_title_mismatch"})
    banned = [f"{c.id}:{f.code}" for c in report.claims for f in c.flags if f.code in labels.no_claim_flags]
    n = len(rows)
    return {
        "claims": n,
        "verdict_agreement": round(sum(r["agrees"] for r in rows) / n, 3) if n else None,
        "verdict_acceptable": round(sum(r["acceptable_ok"] for r in rows) / n, 3) if n else None,
        "stance_citation_precision": round(cites_right / cites_total, 3) if cites_total else None,
        "stance_citations": cites_total,
        "contradicting_recall": round(found_against / with_against, 3) if with_against else None,
        "claims_with_contradicting_work": with_against,
        "source_linked_right": sum(r["source_found"] == r["source_expected"] for r in rows),
        "anchors_right": f"{anchor_ok}/{anchor_expected}",
        "forbidden_claim_flags": banned,
        "per_claim": rows,
        "counts": {"agree": sum(r["agrees"] for r in rows), "acceptable": sum(r["acceptable_ok"] for r in rows),
                   "cites_right": cites_right, "against_found": found_against},
    }


def run_case(claims_file: Path, labels_file: Path, paper_labels_file: Path | None = None,
             snapshot: Path | None = None, judge: str = "offline", as_of: date | None = None,
             home: Path | None = None, settings_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the graph on one case over its own corpus (the snapshot) and score it."""
    from agent.configuration import Settings
    from agent.runner import open_services, run_claims
    from claims.readers import read_claims

    claims_file = Path(claims_file)
    labels = read_labels(labels_file)
    pl_file = paper_labels_file or Path(labels_file).with_name("paper_labels.jsonl")
    paper_labels = read_paper_labels(pl_file)
    snap = snapshot or Path(claims_file).with_name("papers.jsonl")
    cs = read_claims(claims_file)
    with tempfile.TemporaryDirectory(prefix="retest-eval-") as tmp:
        settings = Settings(home=home or Path(tmp), source="snapshot", snapshot=snap, judge=judge,
                            as_of=as_of, **(settings_overrides or {}))
        with open_services(settings) as svc:
            report = run_claims(cs, settings, svc, resume=False)
    out = score_report(report, labels, paper_labels)
    out["case"] = str(claims_file.parent.name)
    out["judge"] = report.stats.judge
    out["elapsed_s"] = report.stats.elapsed_s
    return out


def pool(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled figures over several cases (micro-averaged over claims / citations)."""
    n = sum(r["claims"] for r in results)
    cites = sum(r["stance_citations"] for r in results)
    wa = sum(r["claims_with_contradicting_work"] for r in results)
    c = {k: sum(r["counts"][k] for r in results) for k in ("agree", "acceptable", "cites_right", "against_found")}
    return {
        "cases": len(results), "claims": n,
        "verdict_agreement": round(c["agree"] / n, 3) if n else None,
        "verdict_acceptable": round(c["acceptable"] / n, 3) if n else None,
        "stance_citation_precision": round(c["cites_right"] / cites, 3) if cites else None,
        "stance_citations": cites,
        "contradicting_recall": round(c["against_found"] / wa, 3) if wa else None,
        "claims_with_contradicting_work": wa,
    }
