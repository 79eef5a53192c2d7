"""A sweep's digest, built from the history database: digest.json (keys below) and digest.md.

JSON keys (extend, never rename): sweep_id, window {from, to}, changes[] {claim_id, old, new, papers[]},
new_papers[], flags[], stats {claims, judge_calls, embedded_chunks, arxiv_requests, elapsed_s, ...};
extensions: generated_at, as_of, status, errors[], new_claims[], claims[].

- changes: claims whose verdict differs from their last verdict in an earlier finished sweep; `papers`
  are the papers first seen for the claim in this sweep that the new verdict cites (or, when it cites
  none of them, that are in its evidence set).
- new_papers: per claim with an earlier verdict, the papers first seen this sweep that made it into
  the evidence the judge read (relevant); `cited` says whether the verdict cites them.
- new_claims: claims swept for the first time (or whose text changed).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import PackageLoader

from agent.report import json_text, template_env, write_pair
from claims.safety import redact
from retest.sweep.history import History, now_iso

_env = template_env(PackageLoader("retest.sweep", "templates"))


def _short(claim_id: str) -> str:
    path, _, cid = claim_id.rpartition("#")
    return f"{Path(path).name}#{cid}"


def _evidence_papers(evidence_ids: list[str]) -> set[str]:
    out = set()
    for e in evidence_ids:
        _grp, _, rest = e.partition(":")
        aid = rest.rsplit(":", 1)[0]
        out.add(aid.rsplit("v", 1)[0] if "v" in aid else aid)
    return out


def build_digest(hist: History, sweep_id: int, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    sw = hist.sweep(sweep_id)
    if sw is None:
        raise KeyError(f"no sweep {sweep_id}")
    changes: list[dict[str, Any]] = []
    new_papers: list[dict[str, Any]] = []
    new_claims: list[dict[str, Any]] = []
    flags: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    for v in hist.verdicts(sweep_id):
        result = json.loads(v["result_json"] or "{}")
        prev = hist.last_verdict(v["claim_uid"], sweep_id)
        cites = {c["arxiv_id"]: c for c in result.get("citations", [])}
        in_evidence = _evidence_papers(json.loads(v["evidence_ids"] or "[]"))
        fresh = hist.new_evidence(v["claim_uid"], sweep_id)
        short = _short(v["claim_id"])
        entry = {"claim_id": v["claim_id"], "short_id": short, "text": v["claim_text"], "date": v["claim_date"],
                 "verdict": v["verdict"], "confidence": v["confidence"],
                 "previous": prev["verdict"] if prev else None, "judged_again": not v["cached"],
                 "new_papers_found": len(fresh) if prev else 0}
        claims.append(entry)
        for f in result.get("flags", []):
            flags.append({"claim_id": v["claim_id"], "short_id": short, "code": f["code"], "detail": f["detail"]})
        if prev is None:
            new_claims.append({"claim_id": v["claim_id"], "short_id": short, "text": v["claim_text"],
                               "verdict": v["verdict"], "papers_found": len(fresh)})
            continue
        relevant = []
        for e in fresh:
            if e["arxiv_id"] in in_evidence or e["arxiv_id"] in cites:
                c = cites.get(e["arxiv_id"])
                relevant.append({"claim_id": v["claim_id"], "short_id": short, "arxiv_id": e["arxiv_id"],
                                 "title": e["title"] or (c or {}).get("title"), "published": e["published"],
                                 "url": f"https://arxiv.org/abs/{e['arxiv_id']}", "cited": c is not None,
                                 "stance": c["stance"] if c else None, "quote": c["quote"] if c else None})
        new_papers += relevant
        if prev["verdict"] != v["verdict"]:
            cited = [p for p in relevant if p["cited"]]
            changes.append({"claim_id": v["claim_id"], "short_id": short, "text": v["claim_text"],
                            "old": prev["verdict"], "new": v["verdict"],
                            "old_confidence": prev["confidence"], "new_confidence": v["confidence"],
                            "since_sweep": prev["sweep_id"], "papers": cited or relevant,
                            "rationale": result.get("rationale", "")})
    stats = {"claims": 0, "judge_calls": 0, "embedded_chunks": 0, "arxiv_requests": 0, "elapsed_s": 0.0}
    stats.update(sw.stats or {})
    errs = list(errors or [])
    if not errs and sw.error:
        errs = [{"file": "", "error": sw.error}]
    return {
        "sweep_id": sweep_id,
        "window": {"from": sw.window_from, "to": sw.window_to},
        "changes": changes,
        "new_papers": new_papers,
        "flags": flags,
        "stats": stats,
        "errors": errs,
        "new_claims": new_claims,
        "claims": claims,
        "status": sw.status,
        "as_of": sw.as_of,
        "started": sw.started,
        "finished": sw.finished,
        "generated_at": now_iso(),
    }


def render_markdown(digest: dict[str, Any]) -> str:
    by_code = Counter(f["code"] for f in digest["flags"])
    return redact(_env.get_template("digest.md.j2").render(d=digest, flag_counts=sorted(by_code.items())))


def write_digest(digest: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write digest.md and digest.json as one pair (agent.report.write_pair: a reader never sees one
    sweep's digest.md beside another's digest.json)."""
    return write_pair(Path(out_dir), {"digest.md": render_markdown(digest), "digest.json": json_text(digest)},
                      stem="digest")
