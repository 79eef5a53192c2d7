"""Typed models at every boundary of retest (pydantic v2)."""
from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from claims.dates import date_from_arxiv_id, parse_claim_date

# New-style ids (YYMM.NNNN[N]) with optional version, and old-style (archive/YYMMNNN).
ARXIV_ID_RE = re.compile(
    r"^(?:(?P<new>\d{4}\.\d{4,5})|(?P<old>[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}))(?:v(?P<v>\d+))?$"
)


def split_arxiv_id(value: str) -> tuple[str, int | None]:
    """('2305.11206', 2) from '2305.11206v2'; strips 'arXiv:' and abs URLs. Raises ValueError."""
    v = value.strip()
    v = re.sub(r"^(?:https?://(?:export\.)?arxiv\.org/(?:abs|pdf)/)", "", v)
    v = re.sub(r"^arxiv:", "", v, flags=re.I).removesuffix(".pdf")
    m = ARXIV_ID_RE.match(v)
    if not m:
        raise ValueError(f"malformed arXiv id: {value!r} (expected e.g. 2305.11206 or hep-th/9901001)")
    return (m["new"] or m["old"]), (int(m["v"]) if m["v"] else None)


def normalize_arxiv_id(value: str) -> str:
    return split_arxiv_id(value)[0]


class Stance(StrEnum):
    supports = "supports"
    contradicts = "contradicts"
    neither = "neither"


class VerdictLabel(StrEnum):
    holds = "holds"
    weakened = "weakened"
    superseded = "superseded"
    unresolved = "unresolved"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AnchorPaper(_Model):
    """An anchor paper as the input names it: an id, and the title and year the input gives."""

    arxiv_id: str
    title: str | None = None
    year: int | None = None
    line: int | None = Field(default=None, description="line of the input file it was read from")

    @field_validator("arxiv_id")
    @classmethod
    def _id(cls, v: str) -> str:
        return normalize_arxiv_id(v)


class Claim(_Model):
    id: str
    text: str
    claim_date: str = Field(description="YYYY, YYYY-MM or YYYY-MM-DD")
    anchors: list[str] = Field(default_factory=list, description="arXiv ids this claim relies on")
    line: int | None = None

    @field_validator("claim_date")
    @classmethod
    def _date(cls, v: str) -> str:
        parse_claim_date(v)
        return v.strip()

    @field_validator("anchors")
    @classmethod
    def _anchors(cls, v: list[str]) -> list[str]:
        return [normalize_arxiv_id(a) for a in v]

    @property
    def date_start(self) -> date:
        return parse_claim_date(self.claim_date)[0]

    @property
    def date_end(self) -> date:
        return parse_claim_date(self.claim_date)[1]


class ClaimSet(_Model):
    """What an input file holds: the claims, the anchors, and the question they serve."""

    source: str = Field(description="the input file's path")
    question: str | None = None
    claims: list[Claim]
    anchors: list[AnchorPaper] = Field(default_factory=list)
    asks: list[str] = Field(default_factory=list, description="the input's own task lines, if any")

    def anchor_ids(self) -> list[str]:
        """Every arXiv id the input names as an anchor, the set's and the claims' own, sorted."""
        return sorted({a.arxiv_id for a in self.anchors} | {a for c in self.claims for a in c.anchors})


class Paper(_Model):
    """One arXiv record (metadata only)."""

    arxiv_id: str
    version: int = 1
    title: str
    abstract: str
    authors: list[str] = Field(default_factory=list)
    published: date | None = Field(default=None, description="v1 date")
    updated: date | None = None
    categories: list[str] = Field(default_factory=list)
    primary_category: str | None = None
    published_estimated: bool = Field(
        default=False, description="published was derived from the id's YYMM, not read from arXiv"
    )

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    def effective_published(self) -> date | None:
        return self.published or date_from_arxiv_id(self.arxiv_id)

    @property
    def date_estimated(self) -> bool:
        """True when the v1 date is not from arXiv but from the id's YYMM (or unknown)."""
        return self.published is None or self.published_estimated


class EvidenceChunk(_Model):
    """One sentence of one abstract, as the evidence store holds and returns it."""

    arxiv_id: str
    version: int = 1
    sentence_index: int
    text: str
    title: str
    published: date | None = None
    categories: list[str] = Field(default_factory=list)
    score: float = Field(default=0.0, description="similarity to the query, higher is closer")


class Flag(_Model):
    code: str
    detail: str
    claim_id: str | None = None


class Citation(_Model):
    arxiv_id: str
    title: str
    published: date | None = None
    quote: str = Field(description="one verbatim sentence of the cited abstract")
    stance: Stance
    score: float | None = Field(default=None, description="the judge's confidence in the stance")
    key: str | None = Field(default=None, description="the evidence key the judge cited, if any")

    @property
    def url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"


class SecondOpinion(_Model):
    """Another judge's verdict on the same evidence, kept beside the one reported (e.g. the offline
    judge's when an LLM judged)."""

    label: VerdictLabel
    confidence: float = Field(ge=0.0, le=1.0)
    judge: str
    citations: list[Citation] = Field(default_factory=list)


class RejectedCitation(_Model):
    """A citation the judge gave that failed a check: never counted as evidence, listed apart."""

    arxiv_id: str
    title: str
    quote: str
    stance: Stance
    key: str | None = None
    resolves: bool = Field(description="the arXiv id names a real record (a link is shown only then)")
    reasons: list[str] = Field(description="the failed checks, as flag codes")
    detail: str = ""


class Verdict(_Model):
    label: VerdictLabel
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str
    citations: list[Citation] = Field(default_factory=list)
    judge: str = Field(description="which judge gave it, with its version")
    durable_question: str | None = None
    perishable_limitation: str | None = None
    follow_up_questions: list[str] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list, description="flags the judge itself raised")
    second_opinion: SecondOpinion | None = Field(default=None, description="the offline judge's verdict, when "
                                                 "another judge gave this one")


class SourceRef(_Model):
    arxiv_id: str
    title: str
    published: date | None = None
    how: str = Field(default="anchor", description="anchor | search: how the claim was linked to it")
    published_estimated: bool = Field(default=False, description="the date was derived from the id's YYMM")


class ClaimResult(_Model):
    id: str
    text: str
    claim_date: str
    verdict: VerdictLabel
    confidence: float
    rationale: str
    judge: str
    source: SourceRef | None = None
    citations: list[Citation] = Field(default_factory=list)
    contradicting_recent: list[Citation] = Field(
        default_factory=list, description="newer contradicting or superseding work in the recent window"
    )
    contradicting_newer: list[Citation] = Field(default_factory=list)
    supporting: list[Citation] = Field(default_factory=list)
    rejected_citations: list[RejectedCitation] = Field(
        default_factory=list, description="citations that failed a check; never counted as evidence")
    offline_verdict: SecondOpinion | None = Field(
        default=None, description="the offline judge's verdict on the same evidence, when an LLM judged")
    flags: list[Flag] = Field(default_factory=list)
    date_rule: str = ""
    queries: list[str] = Field(default_factory=list)
    durable_question: str | None = None
    perishable_limitation: str | None = None
    follow_up_questions: list[str] = Field(default_factory=list)


class AnchorCheck(_Model):
    arxiv_id: str
    title_given: str | None = None
    year_given: int | None = None
    title_found: str | None = None
    published_found: date | None = None
    published_estimated: bool = False
    used_by: list[str] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)


class RunStats(_Model):
    arxiv_requests: int = 0
    llm_calls: int = 0
    llm_tokens: int = 0
    judge: str = ""
    source: str = ""
    elapsed_s: float = 0.0
    papers_searched: int = 0
    evidence_chunks: int = 0
    embedded_chunks: int = 0
    claims: int = 0


class Report(_Model):
    schema_version: Literal[1] = 1
    generated_at: datetime
    input: str
    question: str | None = None
    claims: list[ClaimResult]
    anchors: list[AnchorCheck] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    stats: RunStats = Field(default_factory=RunStats)
    method: str = ""
    recent_window_months: int = 6
    as_of: date | None = None
