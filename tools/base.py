"""The protocols each outside service implements, offline and live alike."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from claims.models import EvidenceChunk, Flag, Paper


class SearchQuery(BaseModel):
    """One search. `text` is free text; `field` narrows it like arXiv's ti:/abs:/all: prefixes."""

    text: str
    field: str = Field(default="all", pattern="^(all|ti|abs)$")
    after: date | None = Field(default=None, description="v1 date strictly after this day")
    before: date | None = Field(default=None, description="v1 date on or before this day")
    categories: list[str] = Field(default_factory=list, description="any of these (e.g. cs.CL)")
    max_results: int = Field(default=20, ge=1, le=2000)


class SearchResult(BaseModel):
    papers: list[Paper] = Field(default_factory=list)
    complete: bool = True
    flags: list[Flag] = Field(default_factory=list, description="e.g. search_incomplete with a reason")


class LookupResult(BaseModel):
    """Papers by id, and the ids a fault kept from being looked up (not the same as "no such paper")."""

    papers: dict[str, Paper] = Field(default_factory=dict)
    failed: list[str] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)


def lookup_checked(source: SearchSource, ids: Sequence[str]) -> LookupResult:
    """`source.lookup_checked(ids)` where the source reports faults (the API), else a plain lookup that
    cannot fail part-way (the snapshot)."""
    fn = getattr(source, "lookup_checked", None)
    if callable(fn):
        return fn(ids)
    return LookupResult(papers=source.lookup(ids))


def search_many(source: SearchSource, queries: Sequence[SearchQuery],
                known: Sequence[SearchQuery] = ()) -> list[SearchResult]:
    """One result per query: `source.search_many(queries, known=known)` where the source sends several
    queries as one request (the API; `known`: queries this run already sent for the same purpose, whose
    response may answer these for free), else one `search` per query (the snapshot: local, free)."""
    fn = getattr(source, "search_many", None)
    if callable(fn):
        return fn(queries, known=known)
    return [source.search(q) for q in queries]


def combines_searches(source: SearchSource) -> bool:
    """Whether `source` answers several queries with one request (so asking more at once is free)."""
    return callable(getattr(source, "search_many", None))


@runtime_checkable
class SearchSource(Protocol):
    """arXiv, either the local snapshot or the live API."""

    name: str
    requests: int  # requests sent to a remote service so far (0 for the snapshot)

    def search(self, query: SearchQuery) -> SearchResult: ...

    def lookup(self, ids: Sequence[str]) -> dict[str, Paper]:
        """Papers by arXiv id (no version); ids not found are absent from the result."""
        ...


@runtime_checkable
class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class EvidenceStore(Protocol):
    """Sentence-level evidence from abstracts, keyed by (arXiv id, version, sentence index)."""

    def upsert(self, papers: Sequence[Paper]) -> int:
        """Store papers' sentences; returns how many chunks were newly embedded (0 on a rerun)."""
        ...

    def query(
        self,
        text: str,
        *,
        k: int = 10,
        after: date | None = None,
        before: date | None = None,
        arxiv_ids: Sequence[str] | None = None,
    ) -> list[EvidenceChunk]:
        """Closest sentences, optionally limited to v1 dates in (after, before] and to given papers."""
        ...

    def count(self) -> int: ...


class StanceProbs(BaseModel):
    supports: float
    contradicts: float
    neither: float

    def label(self) -> str:
        return max(("supports", "contradicts", "neither"), key=lambda k: getattr(self, k))


@runtime_checkable
class Verifier(Protocol):
    """A claim-verification model: P(supports), P(contradicts), P(neither) per evidence sentence."""

    name: str

    def stance(self, claim: str, sentences: Sequence[str]) -> list[StanceProbs]: ...


class PaperStance(BaseModel):
    """A paper's stance toward a claim, read from its title and whole abstract."""

    supports: float
    contradicts: float
    neither: float
    rationale: int | None = Field(default=None, description="index of the sentence (claims.text.split_sentences "
                                  "of the abstract) that carries the stance")
    sentence_scores: list[float] = Field(default_factory=list, description="per abstract sentence: how much it "
                                         "carries the paper's stance toward the claim (0..1)")

    def label(self) -> str:
        return max(("supports", "contradicts", "neither"), key=lambda k: getattr(self, k))


@runtime_checkable
class PaperVerifier(Protocol):
    """A paper-level stance model: one claim against each paper's title and whole abstract."""

    name: str

    def judge_papers(self, claim: str, papers: Sequence[Paper]) -> list[PaperStance]: ...
