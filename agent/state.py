"""Graph state. Values are JSON-ready dicts (model_dump(mode="json")) so checkpoints stay portable."""
from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict


def merge_counts(a: dict[str, float] | None, b: dict[str, float] | None) -> dict[str, float]:
    out = dict(a or {})
    for k, v in (b or {}).items():
        out[k] = out.get(k, 0) + v
    return out


def merge_dicts(a: dict | None, b: dict | None) -> dict:
    return {**(a or {}), **(b or {})}


class RunState(TypedDict, total=False):
    claim_set: dict[str, Any]  # claims.ClaimSet
    anchors: list[dict[str, Any]]  # claims.AnchorCheck
    papers: Annotated[dict[str, dict[str, Any]], merge_dicts]  # arxiv id -> claims.Paper
    sources: dict[str, dict[str, Any]]  # claim id -> claims.SourceRef
    results: Annotated[list[dict[str, Any]], operator.add]  # claims.ClaimResult, one per claim
    flags: Annotated[list[dict[str, Any]], operator.add]  # run-level claims.Flag
    counts: Annotated[dict[str, float], merge_counts]
    report: dict[str, Any]  # claims.Report
    # Optional sweep inputs (retest/sweep/run.py); a plain run sets none of them and behaves as before.
    since: str | None  # ISO date: search only for papers newer than this (claims listed in `prior`)
    until: str | None  # ISO date: search only for papers on or before this
    prior: dict[str, list[str]]  # claim id -> arXiv ids already known as its evidence
    claim_since: dict[str, str]  # claim id -> its own `since` (overrides the run's)
    verdict_cache: dict[str, dict[str, Any]]  # claim id -> {"key": ..., "verdict": claims.Verdict}
    known_sources: dict[str, dict[str, Any] | None]  # claim id -> {"ref", "paper"} or None (none found)
    judged: Annotated[dict[str, dict[str, Any]], merge_dicts]  # claim id -> cache key, evidence ids, found
    # claim id -> the queries its link search sent (the API: its keyword plan, ahead), which the search step
    # answers from that response (tools.base.search_many `known`)
    prefetched: dict[str, list[dict[str, Any]]]


class ClaimState(TypedDict, total=False):
    """One claim's pass through plan -> search -> ingest -> retrieve -> judge -> verify."""

    claim: dict[str, Any]
    source: dict[str, Any] | None  # claims.Paper of the claim's source paper
    source_how: str | None
    source_search_failed: bool  # the search for its source hit a fault (search_incomplete, not source_not_found)
    queries: list[dict[str, Any]]  # tools.base.SearchQuery
    prefetched: list[dict[str, Any]]  # tools.base.SearchQuery: what the link step already asked arXiv for
    found: list[str]  # arXiv ids the searches returned
    papers: Annotated[dict[str, dict[str, Any]], merge_dicts]
    claim_flags: Annotated[list[dict[str, Any]], operator.add]
    evidence: dict[str, list[dict[str, Any]]]  # newer / older / source -> claims.EvidenceChunk
    verdict: dict[str, Any]  # claims.Verdict
    results: Annotated[list[dict[str, Any]], operator.add]
    counts: Annotated[dict[str, float], merge_counts]
    since: str | None  # sweep: search window start for this claim
    until: str | None  # sweep: search window end
    prior: list[str]  # sweep: arXiv ids already known as this claim's evidence
    cached: dict[str, Any] | None  # sweep: {"key", "verdict"} from the last judged run of this claim
    judged: Annotated[dict[str, dict[str, Any]], merge_dicts]


class ClaimOutput(TypedDict, total=False):
    """What one claim's subgraph hands back to the run."""

    results: Annotated[list[dict[str, Any]], operator.add]
    counts: Annotated[dict[str, float], merge_counts]
    judged: Annotated[dict[str, dict[str, Any]], merge_dicts]
