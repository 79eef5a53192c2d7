"""The offline judge: the project's trained stance verifier, aggregated with dates.

Rules (named in every report that uses them):
1. The verifier scores every candidate sentence — the claim's source paper, the newer evidence the
   store retrieved (after the claim's cutoff) and a few older sentences for context — against each
   clause of the claim (a compound claim "X; Y, suggesting Z" has three: the verifier was trained on
   single propositions); a sentence's P(supports) and P(contradicts) are its highest over clauses.
2. A retrieved sentence counts only when it is relevant: cosine similarity to the claim of at
   least RELEVANCE_T (the verifier over-reads stance into off-topic sentences).
3. Per paper, the sentence with the highest P(contradicts) and the one with the highest
   P(supports) stand for it; a paper *contradicts* when its best P(contradicts) is at least
   PAPER_T and exceeds its best P(supports) by MARGIN; *supports* symmetrically; else neutral.
4. Per claim, over newer papers: at least SUPERSEDE_MIN contradicting papers and SUPERSEDE_RATIO
   times as many contradicting as supporting → `superseded`; any contradicting paper → `weakened`;
   supporting papers only → `holds`; none either way → `unresolved`.
5. The claim's own source paper contradicting it (P ≥ MISSTATE_T) raises `claim_misstates_source`.
Quotes are the sentences the verifier scored, verbatim.
"""
from __future__ import annotations

from collections.abc import Sequence

from agent.judges.base import JudgeInput
from claims.models import Citation, EvidenceChunk, Flag, Stance, Verdict, VerdictLabel
from claims.text import claim_clauses
from tools.base import StanceProbs, Verifier

PAPER_T = 0.6
MARGIN = 0.2
RELEVANCE_T = 0.4
SUPERSEDE_MIN = 3
SUPERSEDE_RATIO = 3
MISSTATE_T = 0.8
MAX_CITES_PER_SIDE = 4


class _PaperStance:
    def __init__(self, arxiv_id: str):
        self.arxiv_id = arxiv_id
        self.best_s: tuple[float, EvidenceChunk | None] = (0.0, None)
        self.best_c: tuple[float, EvidenceChunk | None] = (0.0, None)

    def add(self, ch: EvidenceChunk, p: StanceProbs) -> None:
        if p.supports > self.best_s[0]:
            self.best_s = (p.supports, ch)
        if p.contradicts > self.best_c[0]:
            self.best_c = (p.contradicts, ch)

    @property
    def stance(self) -> Stance:
        ps, pc = self.best_s[0], self.best_c[0]
        if pc >= PAPER_T and pc - ps >= MARGIN:
            return Stance.contradicts
        if ps >= PAPER_T and ps - pc >= MARGIN:
            return Stance.supports
        return Stance.neither

    @property
    def strength(self) -> float:
        return max(self.best_s[0], self.best_c[0])

    def citation(self) -> Citation:
        st = self.stance
        p, ch = self.best_c if st is Stance.contradicts else self.best_s
        assert ch is not None
        return Citation(arxiv_id=ch.arxiv_id, title=ch.title, published=ch.published, quote=ch.text,
                        stance=st, score=round(p, 3))


def _by_paper(chunks: Sequence[EvidenceChunk], probs: Sequence[StanceProbs]) -> dict[str, _PaperStance]:
    out: dict[str, _PaperStance] = {}
    for ch, p in zip(chunks, probs, strict=True):
        out.setdefault(ch.arxiv_id, _PaperStance(ch.arxiv_id)).add(ch, p)
    return out


class VerifierJudge:
    def __init__(self, verifier: Verifier):
        self.verifier = verifier
        self.name = f"offline verifier ({verifier.name})"

    def _stance(self, clauses: list[str], sentences: list[str]) -> list[StanceProbs]:
        """Per sentence, the strongest support and the strongest contradiction over the clauses."""
        per_clause = [self.verifier.stance(c, sentences) for c in clauses]
        out = []
        for i in range(len(sentences)):
            s = max(pc[i].supports for pc in per_clause)
            c = max(pc[i].contradicts for pc in per_clause)
            out.append(StanceProbs(supports=s, contradicts=c, neither=max(0.0, 1.0 - max(s, c))))
        return out

    def judge(self, inp: JudgeInput) -> Verdict:
        src_id = inp.source.arxiv_id if inp.source else None
        newer = [c for c in inp.newer if c.arxiv_id != src_id and c.score >= RELEVANCE_T]
        older = [c for c in inp.older if c.arxiv_id != src_id and c.score >= RELEVANCE_T][:8]
        chunks = list(inp.source_sentences) + newer + older
        clauses = claim_clauses(inp.claim.text)
        probs = self._stance(clauses, [c.text for c in chunks]) if chunks else []
        n_src = len(inp.source_sentences)
        src = _by_paper(chunks[:n_src], probs[:n_src]).get(src_id) if src_id else None
        newer_p = _by_paper(newer, probs[n_src:n_src + len(newer)])
        older_p = _by_paper(older, probs[n_src + len(newer):])

        contra = sorted((p for p in newer_p.values() if p.stance is Stance.contradicts), key=lambda p: -p.strength)
        support = sorted((p for p in newer_p.values() if p.stance is Stance.supports), key=lambda p: -p.strength)
        flags: list[Flag] = []
        if src is not None and src.best_c[0] >= MISSTATE_T and src.best_c[0] - src.best_s[0] >= MARGIN:
            flags.append(Flag(code="claim_misstates_source", claim_id=inp.claim.id, detail=(
                f"The claim's own source paper arXiv:{src_id} contradicts it (P={src.best_c[0]:.2f}): "
                f"\"{src.best_c[1].text}\"")))

        nc, ns = len(contra), len(support)
        if nc >= SUPERSEDE_MIN and nc >= SUPERSEDE_RATIO * ns:
            label = VerdictLabel.superseded
            deciding = contra
        elif nc >= 1:
            label = VerdictLabel.weakened
            deciding = contra
        elif ns >= 1:
            label = VerdictLabel.holds
            deciding = support
        else:
            label = VerdictLabel.unresolved
            deciding = []
        if deciding:
            top = [p.strength for p in deciding[:3]]
            confidence = round(min(0.95, (sum(top) / len(top)) * (1 - 0.5 ** (len(deciding) + 1))), 3)
        else:
            confidence = 0.0

        cites: list[Citation] = []
        if src is not None and src.stance is not Stance.neither:
            cites.append(src.citation())
        cites += [p.citation() for p in contra[:MAX_CITES_PER_SIDE]]
        cites += [p.citation() for p in support[:MAX_CITES_PER_SIDE]]
        # Older work that agrees is context, never evidence against the claim.
        cites += [p.citation() for p in sorted(older_p.values(), key=lambda p: -p.best_s[0])
                  if p.stance is Stance.supports][:2]

        parts = [f"Judged clause by clause ({len(clauses)} clauses)." if len(clauses) > 1 else "",
                 f"Of {len(newer_p)} relevant newer paper(s) retrieved after {inp.cutoff.isoformat()}, "
                 f"{nc} contradict the claim and {ns} support it (verifier; a paper takes a side at "
                 f"P ≥ {PAPER_T} with a margin of {MARGIN})."]
        if src is not None:
            parts.append(f"Its source paper arXiv:{src_id} reads as {src.stance.value}.")
        if label is VerdictLabel.unresolved:
            parts.append("Too little stance-bearing newer evidence to decide.")
        return Verdict(label=label, confidence=confidence, rationale=" ".join(p for p in parts if p), citations=cites,
                       judge=self.name, flags=flags)
