"""What retest reasons about: claims, anchors, papers, evidence, verdicts, flags and reports.

This package imports nothing else of retest's: it is the bottom layer.
"""
from claims.models import (
    AnchorCheck,
    AnchorPaper,
    Citation,
    Claim,
    ClaimResult,
    ClaimSet,
    EvidenceChunk,
    Flag,
    Paper,
    RejectedCitation,
    Report,
    RunStats,
    SecondOpinion,
    SourceRef,
    Stance,
    Verdict,
    VerdictLabel,
)

__all__ = [
    "AnchorCheck", "AnchorPaper", "Citation", "Claim", "ClaimResult", "ClaimSet", "EvidenceChunk",
    "Flag", "Paper", "RejectedCitation", "Report", "RunStats", "SecondOpinion", "SourceRef", "Stance", "Verdict",
    "VerdictLabel",
]
