"""A transparent baseline judge over retrieval scores and dates — no stance model at all.

Rules: newer sentences are grouped by paper; a paper is *related* when its best sentence has a
similarity of at least RELATED. The baseline cannot tell support from contradiction, so its verdict
is always `unresolved`; it cites up to four related newer papers with stance `neither` so a reader
can look. It exists as a fallback when the trained verifier is missing, and as a floor to compare.
"""
from __future__ import annotations

from agent.judges.base import JudgeInput
from claims.models import Citation, Stance, Verdict, VerdictLabel

RELATED = 0.45


class BaselineJudge:
    name = "baseline-retrieval v1"

    def judge(self, inp: JudgeInput) -> Verdict:
        best: dict[str, tuple[float, object]] = {}
        for ch in inp.newer:
            if ch.arxiv_id not in best or ch.score > best[ch.arxiv_id][0]:
                best[ch.arxiv_id] = (ch.score, ch)
        related = sorted((v for v in best.values() if v[0] >= RELATED), key=lambda v: -v[0])[:4]
        cites = [
            Citation(arxiv_id=ch.arxiv_id, title=ch.title, published=ch.published, quote=ch.text,
                     stance=Stance.neither, score=round(s, 3))
            for s, ch in related
        ]
        return Verdict(
            label=VerdictLabel.unresolved,
            confidence=0.0,
            rationale=(f"The baseline judge reads similarity only: {len(related)} newer paper(s) are related "
                       f"(similarity ≥ {RELATED}), but it cannot tell whether they support or contradict "
                       "the claim."),
            citations=cites,
            judge=self.name,
        )
