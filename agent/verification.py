"""Verification flags, computed by code — never by a model.

Each function takes plain models and returns `Flag`s; `verify_claim` runs them all on one verdict.
Codes (a public contract): citation_not_found, quote_not_in_source, evidence_predates_claim,
anchor_not_found, anchor_date_mismatch, anchor_title_mismatch, anchor_unused, source_date_mismatch,
thin_evidence, search_incomplete, claim_misstates_source, llm_output_invalid, llm_budget_exhausted,
llm_unavailable, judge_disagreement, source_not_found, offline_snapshot, verdict_ungrounded,
claim_after_as_of.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

from claims.models import (
    AnchorCheck,
    AnchorPaper,
    Citation,
    Claim,
    Flag,
    Paper,
    RejectedCitation,
    SecondOpinion,
    Stance,
    Verdict,
    VerdictLabel,
)
from claims.text import is_verbatim, normalize_ws

TITLE_TOKEN_OVERLAP = 0.8


def _title_tokens(t: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", normalize_ws(t).lower())


def titles_match(given: str, found: str) -> bool:
    """A given title matches when, token for token, it is the found title or a prefix/suffix-free
    subset of it (e.g. "Artificial Hivemind: … Models" vs "… Models (and Beyond)")."""
    g, f = _title_tokens(given), _title_tokens(found)
    if not g or not f:
        return False
    if g == f or " ".join(f).startswith(" ".join(g)) or " ".join(g).startswith(" ".join(f)):
        return True
    overlap = len(set(g) & set(f)) / max(len(set(g)), len(set(f)))
    return overlap >= TITLE_TOKEN_OVERLAP


def check_anchor(anchor: AnchorPaper, paper: Paper | None) -> AnchorCheck:
    chk = AnchorCheck(arxiv_id=anchor.arxiv_id, title_given=anchor.title, year_given=anchor.year)
    if paper is None:
        chk.flags.append(Flag(code="anchor_not_found", detail=(
            f"arXiv:{anchor.arxiv_id} was not found in the search source; it may not exist, or the "
            "snapshot may not hold it.")))
        return chk
    chk.title_found = paper.title
    pub = paper.effective_published()
    chk.published_found = pub
    chk.published_estimated = paper.date_estimated
    if anchor.year is not None and pub is not None and pub.year != anchor.year:
        how = " (estimated from the id's YYMM; the v1 date was not in the record)" if chk.published_estimated else ""
        chk.flags.append(Flag(code="anchor_date_mismatch", detail=(
            f"The input dates arXiv:{anchor.arxiv_id} to {anchor.year}; its v1 is {pub.isoformat()}{how}.")))
    if anchor.title and not titles_match(anchor.title, paper.title):
        chk.flags.append(Flag(code="anchor_title_mismatch", detail=(
            f"The input titles arXiv:{anchor.arxiv_id} \"{anchor.title}\"; arXiv says \"{paper.title}\".")))
    return chk


def anchor_unused(checks: Iterable[AnchorCheck]) -> None:
    for chk in checks:
        if not chk.used_by and not any(f.code in ("anchor_not_found", "search_incomplete") for f in chk.flags):
            chk.flags.append(Flag(code="anchor_unused", detail=(
                f"No claim relies on anchor arXiv:{chk.arxiv_id}"
                + (f" (\"{chk.title_found}\")" if chk.title_found else "") + ".")))


def source_date_mismatch(claim: Claim, source: Paper | None) -> list[Flag]:
    if source is None:
        return []
    pub = source.effective_published()
    if pub is None or claim.date_start.year == pub.year:
        return []
    est = " (estimated from the id)" if source.date_estimated else ""
    return [Flag(code="source_date_mismatch", claim_id=claim.id, detail=(
        f"The claim is dated {claim.claim_date} but its source paper arXiv:{source.arxiv_id} "
        f"(\"{source.title}\") has v1 {pub.isoformat()}{est}."))]


def check_citations(claim: Claim, citations: list[Citation], papers: Mapping[str, Paper],
                    cutoff: date, source_id: str | None = None) -> tuple[list[Citation], list[Flag]]:
    """Check every citation against the real records; correct titles/dates from the record.
    Returns the citations (dates and titles taken from arXiv, not from the judge) and the flags.
    The claim's own source paper is exempt from `evidence_predates_claim`: it is the claim's origin,
    and its disagreeing with the claim is `claim_misstates_source`, not newer evidence."""
    flags: list[Flag] = []
    out: list[Citation] = []
    for c in citations:
        paper = papers.get(c.arxiv_id)
        if paper is None:
            flags.append(Flag(code="citation_not_found", claim_id=claim.id, detail=(
                f"Cited arXiv:{c.arxiv_id} (\"{c.title}\") does not resolve to a real record.")))
            out.append(c)
            continue
        pub = paper.effective_published()
        c = c.model_copy(update={"title": paper.title, "published": pub})
        if not (is_verbatim(c.quote, paper.abstract) or is_verbatim(c.quote, paper.title)):
            flags.append(Flag(code="quote_not_in_source", claim_id=claim.id, detail=(
                f"The quote attributed to arXiv:{c.arxiv_id} is not verbatim in its abstract: "
                f"\"{c.quote[:160]}\"")))
        if c.stance is Stance.contradicts and pub is not None and pub <= cutoff and c.arxiv_id != source_id:
            flags.append(Flag(code="evidence_predates_claim", claim_id=claim.id, detail=(
                f"arXiv:{c.arxiv_id} ({pub.isoformat()}) is used against the claim but is not newer than "
                f"its cutoff {cutoff.isoformat()}.")))
        out.append(c)
    return out, flags


def thin_evidence(claim: Claim, citations: list[Citation], source_id: str | None) -> list[Flag]:
    independent = {c.arxiv_id for c in citations if c.arxiv_id != source_id and c.stance is not Stance.neither}
    if len(independent) >= 2:
        return []
    return [Flag(code="thin_evidence", claim_id=claim.id, detail=(
        f"Only {len(independent)} independent paper(s) other than the source take a stance on this claim; "
        "treat the verdict as provisional."))]


_CHECKS = ("citation_not_found", "quote_not_in_source", "evidence_predates_claim")


def partition_citations(claim: Claim, citations: list[Citation], papers: Mapping[str, Paper], cutoff: date,
                        source_id: str | None = None) -> tuple[list[Citation], list[RejectedCitation], list[Flag]]:
    """Run every check on every citation; split them into those that passed all (evidence) and those
    that failed one (listed apart, with the reasons). Returns (verified, rejected, flags)."""
    verified: list[Citation] = []
    rejected: list[RejectedCitation] = []
    flags: list[Flag] = []
    for c in citations:
        checked, fl = check_citations(claim, [c], papers, cutoff, source_id=source_id)
        flags += fl
        reasons = [f.code for f in fl if f.code in _CHECKS]
        if not reasons:
            verified += checked
            continue
        c2 = checked[0]
        rejected.append(RejectedCitation(arxiv_id=c2.arxiv_id, title=c2.title, quote=c2.quote, stance=c2.stance,
                                         key=c2.key, resolves=c2.arxiv_id in papers, reasons=reasons,
                                         detail="; ".join(f.detail for f in fl)))
    return verified, rejected, flags


def grounded(label: VerdictLabel, verified: list[Citation], cutoff: date, source_id: str | None) -> bool:
    """A verdict stands on verified evidence: `unresolved` always; `weakened`/`superseded` need a verified
    contradicting citation of a paper newer than the claim (not the claim's own source); `holds` needs a
    verified citation that takes a side."""
    if label is VerdictLabel.unresolved:
        return True
    if label in (VerdictLabel.weakened, VerdictLabel.superseded):
        return any(c.stance is Stance.contradicts and c.arxiv_id != source_id and c.published is not None
                   and c.published > cutoff for c in verified)
    return any(c.stance is not Stance.neither for c in verified)


def ground_verdict(claim: Claim, label: VerdictLabel, confidence: float, judge: str, verified: list[Citation],
                   rejected: list[RejectedCitation], cutoff: date, source_id: str | None,
                   fallback: SecondOpinion | None, papers: Mapping[str, Paper]
                   ) -> tuple[VerdictLabel, float, list[Citation], list[Flag]]:
    """The grounding gate. A verdict that no verified citation carries falls back to the offline judge's
    (when that one is grounded) or to `unresolved`, with `verdict_ungrounded` naming what was claimed."""
    if grounded(label, verified, cutoff, source_id):
        return label, confidence, verified, []
    why = (f"{len(rejected)} citation(s) failed a check ("
           + ", ".join(sorted({r for x in rejected for r in x.reasons})) + ")") if rejected else "it cited no evidence"
    if label in (VerdictLabel.weakened, VerdictLabel.superseded) and not rejected:
        why = "none of its verified citations is newer work that contradicts the claim"
    cites = list(verified)
    new_label, new_conf, how = VerdictLabel.unresolved, 0.0, "the verdict is unresolved"
    if fallback is not None:
        fb, _, _ = partition_citations(claim, fallback.citations, papers, cutoff, source_id)
        if grounded(fallback.label, fb, cutoff, source_id):
            new_label, new_conf = fallback.label, min(confidence, fallback.confidence)
            how = f"the offline judge's verdict stands instead: {fallback.label.value} ({fallback.confidence:.2f})"
            seen = {(c.arxiv_id, c.quote) for c in cites}
            cites += [c for c in fb if (c.arxiv_id, c.quote) not in seen]
    flag = Flag(code="verdict_ungrounded", claim_id=claim.id, detail=(
        f"{judge} said {label.value} (confidence {confidence:.2f}), but {why}; {how}."))
    return new_label, new_conf, cites, [flag]


_SIDE = {VerdictLabel.holds: "holds", VerdictLabel.weakened: "against", VerdictLabel.superseded: "against"}


def opposite_verdicts(claim: Claim, verdict: Verdict) -> list[Flag]:
    """`judge_disagreement` when the offline judge, reading the same evidence, lands on the other side
    (holds vs weakened/superseded) from the judge whose verdict is reported."""
    other = verdict.second_opinion
    if other is None:
        return []
    a, b = _SIDE.get(verdict.label), _SIDE.get(other.label)
    if a is None or b is None or a == b:
        return []
    return [Flag(code="judge_disagreement", claim_id=claim.id, detail=(
        f"{verdict.judge} says {verdict.label.value} ({verdict.confidence:.2f}); {other.judge} says "
        f"{other.label.value} ({other.confidence:.2f}) on the same evidence."))]


def claim_after_as_of(claim: Claim, today: date) -> list[Flag]:
    """A claim dated after the run's "today" cannot have newer evidence yet (a typo in its date, or a
    wrong --as-of)."""
    if claim.date_start <= today:
        return []
    return [Flag(code="claim_after_as_of", claim_id=claim.id, detail=(
        f"The claim is dated {claim.claim_date}, after the run's as-of date {today.isoformat()}: no evidence "
        "can be newer than it yet — check its date or --as-of."))]
