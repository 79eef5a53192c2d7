"""The Judge and Planner protocols, and the input a judge sees."""
from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agent.evidence import Candidate
from claims.models import Claim, EvidenceChunk, Paper, Verdict
from tools.base import SearchQuery


class JudgeInput(BaseModel):
    claim: Claim
    cutoff: date = Field(description="evidence published after this day counts as newer")
    source: Paper | None = None
    source_sentences: list[EvidenceChunk] = Field(default_factory=list)
    newer: list[EvidenceChunk] = Field(default_factory=list)
    older: list[EvidenceChunk] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list, description="papers to read whole (agent/evidence.py)")
    as_of: date
    recent_from: date


@runtime_checkable
class Judge(Protocol):
    name: str

    def judge(self, inp: JudgeInput) -> Verdict: ...


@runtime_checkable
class Planner(Protocol):
    name: str

    def plan(self, claim: Claim, source: Paper | None, cutoff: date) -> list[SearchQuery]: ...
