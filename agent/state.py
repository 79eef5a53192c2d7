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


class ClaimState(TypedDict, total=False):
    """One claim's pass through plan -> search -> ingest -> retrieve -> judge -> verify."""

    claim: dict[str, Any]
    source: dict[str, Any] | None  # claims.Paper of the claim's source paper
    source_how: str | None
    queries: list[dict[str, Any]]  # tools.base.SearchQuery
    found: list[str]  # arXiv ids the searches returned
    papers: Annotated[dict[str, dict[str, Any]], merge_dicts]
    claim_flags: Annotated[list[dict[str, Any]], operator.add]
    evidence: dict[str, list[dict[str, Any]]]  # newer / older / source -> claims.EvidenceChunk
    verdict: dict[str, Any]  # claims.Verdict
    results: Annotated[list[dict[str, Any]], operator.add]
    counts: Annotated[dict[str, float], merge_counts]


class ClaimOutput(TypedDict, total=False):
    """What one claim's subgraph hands back to the run."""

    results: Annotated[list[dict[str, Any]], operator.add]
    counts: Annotated[dict[str, float], merge_counts]
