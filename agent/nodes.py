"""The graph's nodes. Each is idempotent given the same inputs, so a resumed run repeats nothing.

Run level:  load_claims -> resolve_anchors -> link_sources -> [Send per claim] -> assemble_report
Per claim:  plan -> search -> ingest -> retrieve -> judge -> verify
"""
from __future__ import annotations

import calendar
import hashlib
import json
import logging
import math
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, date, datetime

from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from agent.evidence import MAX_OLDER, Candidate, claim_names, distinctive_names, has_name, select_candidates
from agent.judges.base import JudgeInput
from agent.planning import STOPWORDS, keyword_queries, keywords
from agent.report import method_text
from agent.services import Services, default_services
from agent.state import ClaimState, RunState
from agent.verification import (
    anchor_unused,
    check_anchor,
    claim_after_as_of,
    ground_verdict,
    opposite_verdicts,
    partition_citations,
    source_date_mismatch,
    thin_evidence,
)
from claims.models import (
    AnchorCheck,
    AnchorPaper,
    Claim,
    ClaimResult,
    ClaimSet,
    EvidenceChunk,
    Flag,
    Paper,
    Report,
    RunStats,
    SourceRef,
    Stance,
    Verdict,
)
from claims.text import claim_clauses
from tools.base import LookupResult, SearchQuery, combines_searches, lookup_checked, search_many

logger = logging.getLogger(__name__)

LINK_MIN_SCORE = 0.5
ANCHOR_BONUS = 0.08
TITLE_WEIGHT = 0.3
TIE_MARGIN = 0.05
LINK_NAME_SHARE = 0.25  # a claim's name counts in a candidate's abstract if at most this share of them use it
NAME_WEIGHT = 0.15
# Claims run in parallel (Send); their ingests share papers, so one writes at a time and none embeds
# what another just stored.
_INGEST_LOCK = threading.Lock()


def _dump(m) -> dict:
    return m.model_dump(mode="json")


def emit(step: str, detail: str = "", claim_id: str | None = None) -> None:
    """Progress for whoever streams the graph (stream_mode="custom"); silent otherwise."""
    try:
        get_stream_writer()({"claim": claim_id, "step": step, "detail": detail})
    except Exception:
        pass


def _svc(runtime: Runtime[Services]) -> Services:
    if runtime.context is None:  # LangGraph Server or a bare invoke: build from the environment
        return default_services()
    return runtime.context


def months_before(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    m += 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def claim_cutoff(claim: Claim, source: Paper | None) -> tuple[date, str]:
    """The day after which evidence counts as newer than the claim, and the rule that decided."""
    start, end = claim.date_start, claim.date_end
    if start == end:
        return start, f"claim dated {claim.claim_date}: evidence newer than that day"
    if source is not None and (pub := source.effective_published()) is not None and pub <= end:
        return pub, (f"claim dated {claim.claim_date} with a known source paper (arXiv:{source.arxiv_id}, "
                     f"{pub.isoformat()}): evidence newer than the source")
    return start, f"claim dated {claim.claim_date}: evidence newer than {start.isoformat()} (the period's start)"


# ---------------------------------------------------------------------------------------------
# Run level

def load_claims(state: RunState) -> dict:
    if "claim_set" not in state and state.get("input_path"):
        from claims.readers import read_claims

        return {"claim_set": _dump(read_claims(state["input_path"]))}
    cs = ClaimSet.model_validate(state["claim_set"])
    return {"claim_set": _dump(cs)}


def resolve_anchors(state: RunState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    cs = ClaimSet.model_validate(state["claim_set"])
    ids = cs.anchor_ids()
    res = lookup_checked(svc.source, ids) if ids else LookupResult()
    found, failed = res.papers, set(res.failed)
    given = {a.arxiv_id: a for a in cs.anchors}
    checks: list[AnchorCheck] = []
    for i in ids:
        a = given.get(i) or AnchorPaper(arxiv_id=i)
        if i in failed:  # a fault is not a fact about the paper: it may well exist
            checks.append(AnchorCheck(arxiv_id=i, title_given=a.title, year_given=a.year, flags=[Flag(
                code="search_incomplete", detail=(f"The lookup of arXiv:{i} failed ({'; '.join(f.detail for f in res.flags)}); "
                                                  "the paper may exist — run again to retry what failed."))]))
        else:
            checks.append(check_anchor(a, found.get(i)))
    emit("anchors", f"{len(found)}/{len(ids)} resolved" + (f", {len(failed)} lookups failed" if failed else ""))
    return {"anchors": [_dump(c) for c in checks], "papers": {k: _dump(v) for k, v in found.items()},
            "flags": [_dump(f) for f in res.flags]}


def _cos(a: list[float], b: list[float]) -> float:
    num = sum(x * y for x, y in zip(a, b, strict=True))
    den = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return num / den if den else 0.0


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS and len(w) > 2}


def title_overlap(claim_text: str, title: str) -> float:
    """Share of the title's content words (5-letter stems) that the claim uses."""
    ts = _stems(title)
    return len(ts & _stems(claim_text)) / max(1, len(ts))


def _names_bonus(names: list[str], paper: Paper, distinctive: frozenset[str] = frozenset()) -> float:
    """NAME_WEIGHT when the paper's title carries a name the claim uses ("LIMA", "Chinchilla"), its first
    author is named in the claim ("Kaplan-style scaling laws"), or its abstract uses one of the claim's
    distinctive names (few candidates use it: "LTSF-Linear", "Frozen Pretrained Transformer" — the
    name of a method a paper introduces is often in its abstract only)."""
    title = paper.title
    if any(has_name(n, title) for n in names):
        return NAME_WEIGHT
    if any(has_name(n, paper.abstract) for n in distinctive):
        return NAME_WEIGHT
    if paper.authors:
        last = paper.authors[0].split()[-1] if paper.authors[0].split() else ""
        if len(last) >= 3 and last in names:
            return NAME_WEIGHT
    return 0.0


def link_sources(state: RunState, runtime: Runtime[Services]) -> dict:
    """Link each claim to the paper it relies on: an anchor the claim names, else the best match among
    the input's anchors and what a search (up to the claim's date) finds. Score: cosine similarity of
    the claim to title + abstract, plus TITLE_WEIGHT x the share of the title's words the claim uses,
    plus NAME_WEIGHT when the title carries a name the claim uses or its first author is named in the
    claim, plus ANCHOR_BONUS for the input's anchors; candidates within TIE_MARGIN of the best go to the
    earliest (the likely origin of the idea); below LINK_MIN_SCORE the claim has no source. A claim
    cannot rest on a paper written after it: a candidate published after the claim's date is linked
    only when nothing dated by then fits, and the link says so."""
    svc = _svc(runtime)
    cs = ClaimSet.model_validate(state["claim_set"])
    papers = {k: Paper.model_validate(v) for k, v in (state.get("papers") or {}).items()}
    anchor_ids = [a.arxiv_id for a in cs.anchors if a.arxiv_id in papers]
    sources: dict[str, dict] = {}
    new_papers: dict[str, dict] = {}
    flags: list[dict] = []
    known = state.get("known_sources") or {}  # a sweep: sources linked by an earlier sweep
    prefetched: dict[str, list[dict]] = {}
    to_search = [c for c in cs.claims if not any(a in papers for a in c.anchors) and c.id not in known]
    ahead_of: dict[str, Future] = {}
    guess_of: dict[str, str | None] = {}
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="link-search") if combines_searches(svc.source) \
        else None
    if pool is not None:
        # The API: one request per claim for the link search and, ahead, the claim's keyword plan (for the
        # anchor it will most likely be linked to), which the search step then answers from this response.
        # The requests go out one after another from a worker while this thread scores what came back, so
        # the 3 s between requests is spent computing, not waiting.
        for claim in to_search:
            planned, guess_of[claim.id] = _planned_ahead(svc, state, claim, papers, anchor_ids)
            ahead = [_link_query(claim)] + planned
            prefetched[claim.id] = [q.model_dump(mode="json") for q in ahead]
            ahead_of[claim.id] = pool.submit(search_many, svc.source, ahead)
        pool.shutdown(wait=False)
    # Meanwhile a second worker stores (embeds) what each claim's search step will find, so the claims'
    # ingest has little left to do once they fan out.
    warm = ThreadPoolExecutor(max_workers=1, thread_name_prefix="link-ingest") if ahead_of else None
    warming: list[Future] = []
    for claim in cs.claims:
        named = [a for a in claim.anchors if a in papers]
        if named:
            p = papers[named[0]]
            sources[claim.id] = _dump(SourceRef(arxiv_id=p.arxiv_id, title=p.title,
                                                published=p.effective_published(), how="anchor named by the claim"))
            continue
        if claim.id in known:
            k = known[claim.id]
            if k:  # None: an earlier sweep found no source, and a newer paper cannot become one
                sources[claim.id] = k["ref"]
                new_papers[k["paper"]["arxiv_id"]] = k["paper"]
            continue
        planned = []
        if claim.id in ahead_of:
            res, *planned = ahead_of[claim.id].result()
        else:
            res = svc.source.search(_link_query(claim))
        for f in res.flags:
            flags.append(_dump(f.model_copy(update={"claim_id": claim.id})))
        cands: dict[str, Paper] = {i: papers[i] for i in anchor_ids}
        for p in res.papers:
            cands.setdefault(p.arxiv_id, p)
        if not cands:
            continue
        scored = _link_scores(svc, claim, cands, anchor_ids)
        chosen, late = _link_pick(claim, cands, scored)
        if chosen and chosen[0] >= LINK_MIN_SCORE:
            best = chosen[1]
            best_score = next(sc for sc, i in scored if i == best)
            late = late and _after_claim(claim, cands[best])
            p = cands[best]
            new_papers[best] = _dump(p)
            how = "input anchor, matched" if best in anchor_ids else "found by search"
            if late:
                how += "; nothing dated by the claim fits, so a later paper stands in"
            sources[claim.id] = _dump(SourceRef(arxiv_id=p.arxiv_id, title=p.title,
                                                published=p.effective_published(),
                                                how=f"{how} (score {best_score:.2f})"))
        if planned:  # what the search step will get from this response: its whole plan if the guess held,
            # else the all-time query (the only one that depends on neither the source nor its date)
            held = guess_of.get(claim.id) == (sources.get(claim.id) or {}).get("arxiv_id")
            qs = [SearchQuery.model_validate(q) for q in prefetched[claim.id][1:]]
            warming.append(warm.submit(_warm_store, svc, [p for q, r in zip(qs, planned, strict=True)
                                                          if held or q.after is None for p in r.papers]))
    emit("link", f"{len(sources)}/{len(cs.claims)} claims linked to a source paper")
    out = {"sources": sources, "papers": new_papers, "flags": flags}
    if prefetched:
        out["prefetched"] = prefetched
    if warm is not None:
        out["counts"] = {"embedded_chunks": sum(f.result() for f in warming)}
        warm.shutdown()
    return out


def _warm_store(svc: Services, papers: list[Paper]) -> int:
    """Store papers' sentences ahead of the ingest step (the same upsert, so that step finds them stored);
    how many chunks were newly embedded. Optional work: a failure is logged and left to the ingest step."""
    try:
        with _INGEST_LOCK:
            return svc.store.upsert(list({p.arxiv_id: p for p in papers}.values()))
    except Exception:
        logger.warning("storing papers ahead of the ingest step failed; the ingest step will", exc_info=True)
        return 0


def _link_query(claim: Claim) -> SearchQuery:
    """The link search: the claim's keywords, up to its date."""
    return SearchQuery(text=" ".join(keywords(claim.text)), before=claim.date_end, max_results=10)


def _link_scores(svc: Services, claim: Claim, cands: dict[str, Paper], anchor_ids: list[str]) -> list[tuple[float, str]]:
    """link_sources' score of each candidate (see there)."""
    names = claim_names(claim)
    ids = list(cands)
    distinctive = frozenset(distinctive_names(names, list(cands.values()), LINK_NAME_SHARE)) if len(ids) >= 3 \
        else frozenset()
    vecs = svc.embedder.embed([claim.text] + [f"{cands[i].title}. {cands[i].abstract[:600]}" for i in ids])
    scored = []
    for i, v in zip(ids, vecs[1:], strict=True):
        s = _cos(vecs[0], v) + TITLE_WEIGHT * title_overlap(claim.text, cands[i].title)
        s += _names_bonus(names, cands[i], distinctive)
        if i in anchor_ids:
            s += ANCHOR_BONUS
        scored.append((s, i))
    return scored


def _after_claim(claim: Claim, paper: Paper) -> bool:
    pub = paper.effective_published()
    return pub is not None and pub > claim.date_end


def _link_pick(claim: Claim, cands: dict[str, Paper],
               scored: list[tuple[float, str]]) -> tuple[tuple[float, str] | None, bool]:
    """The best candidate (top score, id) — dated by the claim if one scores LINK_MIN_SCORE, else any
    (late=True) — near-ties going to the earliest."""

    def pick(pool: list[tuple[float, str]]) -> tuple[float, str] | None:
        if not pool:
            return None
        top = max(s for s, _ in pool)
        # Near-ties go to the earliest paper: the likely origin of the idea the claim names.
        close = [(cands[i].effective_published() or date.max, -s, i) for s, i in pool if s >= top - TIE_MARGIN]
        _, _, best = min(close)
        return top, best

    in_time = pick([(s, i) for s, i in scored if not _after_claim(claim, cands[i])])
    return (in_time, False) if in_time and in_time[0] >= LINK_MIN_SCORE else (pick(scored), True)


def _planned_ahead(svc: Services, state: RunState, claim: Claim, papers: dict[str, Paper],
                   anchor_ids: list[str]) -> tuple[list[SearchQuery], str | None]:
    """The keyword plan the claim's search step will send (agent.planning.keyword_queries), for the input
    anchor the claim would be linked to on the anchors alone (None if none scores LINK_MIN_SCORE), in the
    date window the fan-out will give the claim. Sent with the link search, it costs no request of its own;
    a guess that proves wrong (the search finds a better source) only means the search step asks arXiv for
    what this did not cover. Also returns the guessed anchor's id."""
    guess = None
    anchors = {i: papers[i] for i in anchor_ids}
    if anchors:
        chosen, _ = _link_pick(claim, anchors, _link_scores(svc, claim, anchors, anchor_ids))
        if chosen and chosen[0] >= LINK_MIN_SCORE:
            guess = anchors[chosen[1]]
    cutoff, _ = claim_cutoff(claim, guess)
    prior = state.get("prior")
    if prior is None:
        since = state.get("since")
    elif claim.id in prior:
        since = (state.get("claim_since") or {}).get(claim.id) or state.get("since")
    else:
        since = None
    queries = keyword_queries(claim, guess, cutoff, svc.settings.search_results)
    return ([w for q in queries if (w := _windowed(q, since, state.get("until"))) is not None],
            guess.arxiv_id if guess else None)


# ---------------------------------------------------------------------------------------------
# Per claim

def plan(state: ClaimState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    claim = Claim.model_validate(state["claim"])
    source = Paper.model_validate(state["source"]) if state.get("source") else None
    cutoff, _ = claim_cutoff(claim, source)
    queries = svc.planner.plan(claim, source, cutoff)
    emit("plan", f"{len(queries)} queries", claim.id)
    return {"queries": [q.model_dump(mode="json") for q in queries]}


def search(state: ClaimState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    claim = Claim.model_validate(state["claim"])
    found: list[str] = []
    papers: dict[str, dict] = {}
    flags: list[dict] = []
    queries = [sq for q in state.get("queries", [])
               if (sq := _windowed(SearchQuery.model_validate(q), state.get("since"), state.get("until"))) is not None]
    known = [SearchQuery.model_validate(q) for q in state.get("prefetched") or []]
    for res in search_many(svc.source, queries, known=known):  # the API: one request (or none), not one each
        for p in res.papers:
            if p.arxiv_id not in papers:
                found.append(p.arxiv_id)
                papers[p.arxiv_id] = _dump(p)
        for f in res.flags:
            flags.append(_dump(f.model_copy(update={"claim_id": claim.id})))
    n = len(found)
    found += [i for i in dict.fromkeys(state.get("prior") or []) if i not in papers]  # a sweep's known evidence
    emit("search", f"{n} papers" + (f" new, {len(found) - n} known" if state.get("prior") is not None else "")
         + (" (incomplete)" if flags else ""), claim.id)
    return {"found": found, "papers": papers, "claim_flags": flags,
            "counts": {"papers_searched": n}}


def _windowed(q: SearchQuery, since: str | None, until: str | None) -> SearchQuery | None:
    """A sweep's date window on one query: after = max(after, since), before = min(before, until);
    None when the window is empty (nothing to ask for)."""
    upd: dict = {}
    if since:
        s = date.fromisoformat(since)
        if q.after is None or q.after < s:
            upd["after"] = s
    if until:
        u = date.fromisoformat(until)
        if q.before is None or q.before > u:
            upd["before"] = u
    q = q.model_copy(update=upd) if upd else q
    if q.after is not None and q.before is not None and q.after >= q.before:
        return None
    return q


def ingest(state: ClaimState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    ps = [Paper.model_validate(v) for v in (state.get("papers") or {}).values()]
    if state.get("source"):
        ps.append(Paper.model_validate(state["source"]))
    with _INGEST_LOCK:
        n = svc.store.upsert(ps)
    emit("ingest", f"{n} new chunks embedded", state["claim"]["id"])
    return {"counts": {"embedded_chunks": n}}


def _query_clauses(svc: Services, claim: Claim, k: int, **filters) -> list[EvidenceChunk]:
    """Nearest sentences to the claim and to each of its clauses (a compound claim's parts are each
    evidence-worthy); merged by chunk, keeping the best score; the k best overall."""
    texts = [claim.text] + [c for c in claim_clauses(claim.text) if c != claim.text]
    best: dict[tuple[str, int, int], EvidenceChunk] = {}
    for t in texts:
        for ch in svc.store.query(t, k=k, **filters):
            key = (ch.arxiv_id, ch.version, ch.sentence_index)
            if key not in best or ch.score > best[key].score:
                best[key] = ch
    return sorted(best.values(), key=lambda c: -c.score)[:k]


def retrieve(state: ClaimState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    claim = Claim.model_validate(state["claim"])
    source = Paper.model_validate(state["source"]) if state.get("source") else None
    cutoff, _ = claim_cutoff(claim, source)
    ids = [i for i in state.get("found", []) if not source or i != source.arxiv_id]
    k = svc.settings.evidence_k
    newer = _query_clauses(svc, claim, k=k, after=cutoff, arxiv_ids=ids) if ids else []
    older = _query_clauses(svc, claim, k=8, before=cutoff, arxiv_ids=ids) if ids else []
    src = svc.store.get_paper_sentences(source.arxiv_id) if source else []
    # Paper-level relevance for every found paper (its best sentence), for choosing what to read whole.
    ranked = _query_clauses(svc, claim, k=max(k, 6 * len(ids)), arxiv_ids=ids) if ids else []
    papers = {i: Paper.model_validate(v) for i, v in (state.get("papers") or {}).items() if i in set(ids)}
    for i in ids:  # a sweep's known evidence was found by an earlier sweep: read it back from the store
        if i not in papers and (p := _stored_paper(svc, i)) is not None:
            papers[i] = p
    newer_ids = {i for i, p in papers.items() if (d := p.effective_published()) is not None and d > cutoff}
    cands = select_candidates(claim, source, papers, ranked, [], newer_ids,
                              max_newer=svc.settings.judge_papers, max_older=MAX_OLDER)
    emit("retrieve", f"{len(newer)} newer, {len(older)} older, {len(src)} source sentences; "
         f"{sum(c.newer for c in cands)} newer papers to read whole", claim.id)
    ev = {"newer": [_dump(c) for c in newer], "older": [_dump(c) for c in older], "source": [_dump(c) for c in src],
          "candidates": [{"arxiv_id": c.paper.arxiv_id, "newer": c.newer, "relevance": c.relevance,
                          "names": c.names, "paper": _dump(c.paper)} for c in cands]}
    return {"evidence": ev, "counts": {"evidence_chunks": len(newer) + len(older) + len(src)}}


def _stored_paper(svc: Services, arxiv_id: str) -> Paper | None:
    """A paper rebuilt from the evidence store's sentences (its latest stored version): the abstract is
    the sentences joined, which is the whitespace-normalised abstract, so quotes stay verbatim."""
    sents = svc.store.get_paper_sentences(arxiv_id)
    if not sents:
        return None
    v = max(c.version for c in sents)
    sents = [c for c in sents if c.version == v]
    return Paper(arxiv_id=arxiv_id, version=v, title=sents[0].title, abstract=" ".join(c.text for c in sents),
                 published=sents[0].published, categories=sents[0].categories)


def _candidates(ev: dict, papers: dict) -> list[Candidate]:
    out = []
    for c in ev.get("candidates", []):
        rec = c.get("paper") or papers.get(c["arxiv_id"])
        if rec is not None:
            out.append(Candidate(paper=Paper.model_validate(rec), newer=c["newer"], relevance=c["relevance"],
                                 names=c.get("names", [])))
    return out


def judge(state: ClaimState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    claim = Claim.model_validate(state["claim"])
    source = Paper.model_validate(state["source"]) if state.get("source") else None
    cutoff, _ = claim_cutoff(claim, source)
    ev = state.get("evidence") or {}
    today = svc.settings.today
    inp = JudgeInput(
        claim=claim, cutoff=cutoff, source=source,
        source_sentences=[EvidenceChunk.model_validate(c) for c in ev.get("source", [])],
        newer=[EvidenceChunk.model_validate(c) for c in ev.get("newer", [])],
        older=[EvidenceChunk.model_validate(c) for c in ev.get("older", [])],
        candidates=_candidates(ev, state.get("papers") or {}),
        as_of=today, recent_from=months_before(today, svc.settings.recent_months),
    )
    ids = evidence_ids(ev)
    key = verdict_key(claim, cutoff, ids, svc.judge.name)
    cached = state.get("cached")
    if cached and cached.get("key") == key and cached.get("verdict"):  # same claim, evidence and judge
        verdict = Verdict.model_validate(cached["verdict"])
        emit("judge", "cached verdict (evidence unchanged)", claim.id)
        counts = {"judge_cache_hits": 1}
    else:
        emit("judge", "…", claim.id)
        verdict = svc.judge.judge(inp)
        counts = {"judge_calls": 1}
    papers = state.get("papers") or {}
    # A fallback verdict (the LLM failed or its budget ran out) must not be reused as the LLM's.
    reusable = not any(f.code.startswith("llm_") for f in verdict.flags)
    judged = {"key": key if reusable else None, "evidence_ids": ids, "found": list(state.get("found", [])),
              "cached": "judge_cache_hits" in counts, "verdict": _dump(verdict),
              "papers": {i: {"title": p.get("title"), "published": p.get("published")} for i, p in papers.items()}}
    return {"verdict": _dump(verdict), "counts": counts, "judged": {claim.id: judged}}


def evidence_ids(ev: dict) -> list[str]:
    """The evidence a judge saw, as sorted ids: group:arxivid v version : sentence."""
    ids = {f"{grp}:{c['arxiv_id']}v{c.get('version', 1)}:{c['sentence_index']}"
           for grp in ("newer", "older", "source") for c in ev.get(grp, [])}
    ids |= {f"paper:{c['arxiv_id']}" for c in ev.get("candidates", [])}
    return sorted(ids)


def verdict_key(claim: Claim, cutoff: date, ids: list[str], judge_name: str) -> str:
    """The verdict cache key: claim text and date, the evidence ids, and the judge (with its version)."""
    raw = json.dumps([claim.text, claim.claim_date, cutoff.isoformat(), ids, judge_name])
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def verify(state: ClaimState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    claim = Claim.model_validate(state["claim"])
    source = Paper.model_validate(state["source"]) if state.get("source") else None
    cutoff, rule = claim_cutoff(claim, source)
    verdict = Verdict.model_validate(state["verdict"])
    papers = {k: Paper.model_validate(v) for k, v in (state.get("papers") or {}).items()}
    if source:
        papers[source.arxiv_id] = source
    missing = sorted({c.arxiv_id for c in verdict.citations} - set(papers))
    if missing:
        try:
            papers.update(svc.source.lookup(missing))
        except Exception:  # a failed lookup leaves them unresolved, which is flagged below
            pass
    src_id = source.arxiv_id if source else None
    cites, rejected, flags = partition_citations(claim, verdict.citations, papers, cutoff, source_id=src_id)
    label, confidence, cites, gate = ground_verdict(claim, verdict.label, verdict.confidence, verdict.judge, cites,
                                                    rejected, cutoff, src_id, verdict.second_opinion, papers)
    flags += gate
    flags += opposite_verdicts(claim, verdict)
    flags += verdict.flags
    flags += source_date_mismatch(claim, source)
    flags += thin_evidence(claim, cites, source.arxiv_id if source else None)
    flags += [Flag.model_validate(f) for f in state.get("claim_flags", [])]
    flags += claim_after_as_of(claim, svc.settings.today)
    if source is None and state.get("source_search_failed"):
        flags.append(Flag(code="search_incomplete", claim_id=claim.id, detail=(
            "The search for this claim's source paper failed, so no source was linked (not the same as none "
            "existing) — run again to retry what failed.")))
    elif source is None:
        flags.append(Flag(code="source_not_found", claim_id=claim.id, detail=(
            "No anchor or searched paper matched this claim closely enough to be its source.")))
    today = svc.settings.today
    recent_from = months_before(today, svc.settings.recent_months)
    newer_contra = [c for c in cites if c.stance is Stance.contradicts and c.published and c.published > cutoff]
    recent = [c for c in newer_contra if c.published >= recent_from]
    res = ClaimResult(
        id=claim.id, text=claim.text, claim_date=claim.claim_date, verdict=label,
        confidence=confidence, rationale=verdict.rationale, judge=verdict.judge,
        source=(SourceRef(arxiv_id=source.arxiv_id, title=source.title, published=source.effective_published(),
                          how=state.get("source_how") or "anchor", published_estimated=source.date_estimated)
                if source else None),
        citations=cites, contradicting_recent=recent, contradicting_newer=newer_contra,
        supporting=[c for c in cites if c.stance is Stance.supports],
        rejected_citations=rejected, offline_verdict=verdict.second_opinion,
        flags=_dedupe(flags), date_rule=rule,
        queries=[q["text"] + (f" (after {q['after']})" if q.get("after") else "") for q in state.get("queries", [])],
        durable_question=verdict.durable_question, perishable_limitation=verdict.perishable_limitation,
        follow_up_questions=verdict.follow_up_questions,
    )
    emit("verdict", f"{res.verdict.value} ({res.confidence:.2f})"
         + (f" · flags: {', '.join(sorted({f.code for f in res.flags}))}" if res.flags else ""), claim.id)
    return {"results": [_dump(res)]}


def _dedupe(flags: list[Flag]) -> list[Flag]:
    seen, out = set(), []
    for f in flags:
        key = (f.code, f.detail)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# ---------------------------------------------------------------------------------------------
# Report

def assemble_report(state: RunState, runtime: Runtime[Services]) -> dict:
    svc = _svc(runtime)
    cs = ClaimSet.model_validate(state["claim_set"])
    order = {c.id: i for i, c in enumerate(cs.claims)}
    by_id: dict[str, ClaimResult] = {}
    for r in state.get("results", []):
        by_id[r["id"]] = ClaimResult.model_validate(r)  # a resumed run may repeat one: keep the last
    results = sorted(by_id.values(), key=lambda r: order.get(r.id, 1 << 30))
    checks = [AnchorCheck.model_validate(a) for a in state.get("anchors", [])]
    sources = state.get("sources") or {}
    for chk in checks:
        chk.used_by = [c.id for c in cs.claims
                       if chk.arxiv_id in c.anchors or sources.get(c.id, {}).get("arxiv_id") == chk.arxiv_id]
    anchor_unused(checks)
    counts = state.get("counts") or {}
    stats = RunStats(
        arxiv_requests=int(getattr(svc.source, "requests", 0)),
        llm_calls=int(getattr(svc.judge, "calls", 0)),  # an LLM judge counts its planner's calls too
        llm_tokens=int(getattr(svc.judge, "tokens", 0)),
        judge=svc.judge.name,
        source=svc.source.name,
        elapsed_s=0.0,
        papers_searched=int(counts.get("papers_searched", 0)),
        evidence_chunks=int(counts.get("evidence_chunks", 0)),
        embedded_chunks=int(counts.get("embedded_chunks", 0)),
        claims=len(results),
    )
    run_flags = [Flag.model_validate(f) for f in state.get("flags", [])] + list(svc.run_flags)
    report = Report(
        generated_at=datetime.now(UTC), input=cs.source, question=cs.question, claims=results,
        anchors=checks, flags=_dedupe(run_flags), stats=stats,
        method=method_text(svc), recent_window_months=svc.settings.recent_months, as_of=svc.settings.today,
    )
    return {"report": _dump(report)}
