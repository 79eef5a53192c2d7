"""The offline judge: the project's paper-level stance model reads whole abstracts; code aggregates.

Rules (named in every report that uses them):
1. Candidates: the papers a search found, ranked by how much they are about the claim (their best
   sentence's similarity to the claim or a clause, plus a bonus when they name the claim's method,
   model or source — agent/evidence.py). The judge reads the best newer ones and a few older ones.
2. The stance model reads the claim against each paper's title and whole abstract, and gives
   P(supports), P(contradicts), P(neither) for the paper, with the sentence that carries its stance
   (the quote). A restated premise ("Recent work claims X…") is not the paper's stance; its findings are.
3. A paper *contradicts* when P(contradicts) ≥ CONTRA_T and exceeds P(supports) by MARGIN; it
   *supports* when P(supports) ≥ SUPPORT_T and exceeds P(contradicts) by MARGIN; else it takes no side.
   A paper that takes a side must also be about the claim: relevance ≥ MIN_RELEVANCE, or it names the
   claim's subject.
4. Per claim, over the newer papers that take a side: `superseded` when at least SUPERSEDE_MIN papers
   contradict it, no newer paper supports it, and the strongest contradiction has P ≥ SUPERSEDE_P;
   `weakened` when any contradicts; `holds` when only supporting papers are found; `unresolved` when
   none takes a side.
5. The claim's own source paper contradicting it (P ≥ MISSTATE_T) raises `claim_misstates_source`.
Quotes are sentences of the abstracts, verbatim. Thresholds were tuned on the development topics
(docs/judge.md), never on the bundled example or the held-out cases.
"""
from __future__ import annotations

from dataclasses import dataclass

from agent.evidence import Candidate
from agent.judges.base import JudgeInput
from claims.models import Citation, Flag, Paper, Stance, Verdict, VerdictLabel
from claims.text import split_sentences
from tools.base import PaperStance, PaperVerifier

CONTRA_T = 0.5
SUPPORT_T = 0.5
MARGIN = 0.15
MIN_RELEVANCE = 0.3
SUPERSEDE_MIN = 2
SUPERSEDE_P = 0.8
MISSTATE_T = 0.7
MAX_CITES_PER_SIDE = 4


@dataclass
class Judged:
    paper: Paper
    stance: PaperStance
    candidate: Candidate | None = None

    @property
    def side(self) -> Stance:
        s = self.stance
        if s.contradicts >= CONTRA_T and s.contradicts - s.supports >= MARGIN:
            side = Stance.contradicts
        elif s.supports >= SUPPORT_T and s.supports - s.contradicts >= MARGIN:
            side = Stance.supports
        else:
            return Stance.neither
        c = self.candidate
        if c is not None and c.relevance < MIN_RELEVANCE and not c.names:
            return Stance.neither
        return side

    @property
    def p(self) -> float:
        side = self.side
        if side is Stance.contradicts:
            return self.stance.contradicts
        if side is Stance.supports:
            return self.stance.supports
        return self.stance.neither

    def quote(self) -> str:
        sents = split_sentences(self.paper.abstract)
        i = self.stance.rationale
        if i is not None and 0 <= i < len(sents):
            return sents[i]
        return sents[0] if sents else self.paper.title

    def citation(self, stance: Stance | None = None) -> Citation:
        st = stance or self.side
        return Citation(arxiv_id=self.paper.arxiv_id, title=self.paper.title,
                        published=self.paper.effective_published(), quote=self.quote(), stance=st,
                        score=round(self.p if stance is None else max(self.stance.supports, self.stance.contradicts), 3))


class PaperJudge:
    def __init__(self, verifier: PaperVerifier):
        self.verifier = verifier
        self.name = f"offline paper-level judge ({verifier.name})"

    def judge(self, inp: JudgeInput) -> Verdict:
        claim = inp.claim
        cands = list(inp.candidates)
        papers = [c.paper for c in cands]
        if inp.source is not None:
            papers.append(inp.source)
        stances = self.verifier.judge_papers(claim.text, papers) if papers else []
        judged = [Judged(c.paper, s, c) for c, s in zip(cands, stances, strict=False)]
        src = Judged(inp.source, stances[-1]) if inp.source is not None and stances else None
        newer = [j for j in judged if j.candidate and j.candidate.newer]
        older = [j for j in judged if j.candidate and not j.candidate.newer]
        contra = sorted((j for j in newer if j.side is Stance.contradicts), key=lambda j: -j.p)
        support = sorted((j for j in newer if j.side is Stance.supports), key=lambda j: -j.p)
        nc, ns = len(contra), len(support)
        if nc >= SUPERSEDE_MIN and ns == 0 and contra[0].p >= SUPERSEDE_P:
            label, deciding = VerdictLabel.superseded, contra
        elif nc:
            label, deciding = VerdictLabel.weakened, contra
        elif ns:
            label, deciding = VerdictLabel.holds, support
        else:
            label, deciding = VerdictLabel.unresolved, []
        if deciding:
            top = [j.p for j in deciding[:3]]
            confidence = round(min(0.95, (sum(top) / len(top)) * (1 - 0.5 ** (len(deciding) + 1))), 3)
        else:
            confidence = 0.0
        flags: list[Flag] = []
        if src is not None and src.stance.contradicts >= MISSTATE_T and \
                src.stance.contradicts - src.stance.supports >= MARGIN:
            flags.append(Flag(code="claim_misstates_source", claim_id=claim.id, detail=(
                f"The claim's own source paper arXiv:{src.paper.arxiv_id} contradicts it "
                f"(P={src.stance.contradicts:.2f}): \"{src.quote()}\"")))
        cites: list[Citation] = []
        if src is not None and src.side is not Stance.neither:
            cites.append(src.citation())
        cites += [j.citation() for j in contra[:MAX_CITES_PER_SIDE]]
        cites += [j.citation() for j in support[:MAX_CITES_PER_SIDE]]
        # Older work that agrees is context, never evidence against the claim.
        cites += [j.citation() for j in sorted(older, key=lambda j: -j.stance.supports)
                  if j.side is Stance.supports][:2]
        parts = [f"Read {len(newer)} newer paper(s) whole (title and abstract) after {inp.cutoff.isoformat()}: "
                 f"{nc} contradict the claim and {ns} support it (paper-level stance model; a paper takes a "
                 f"side at P ≥ {CONTRA_T} with a margin of {MARGIN})."]
        if contra:
            j = contra[0]
            parts.append(f"Strongest contradicting work: arXiv:{j.paper.arxiv_id} \"{j.paper.title}\" "
                         f"(P={j.p:.2f}), where it turns: \"{j.quote()}\"")
        named = [j for j in newer if j.candidate and j.candidate.names and j.side is Stance.neither][:3]
        if named:  # the papers most about the claim that took no side: say how they were read
            parts.append("Newer papers that name the claim's subject, which the stance model read but could not "
                         "place on either side (so they are not counted; read them before trusting this verdict): "
                         + "; ".join(
                f"arXiv:{j.paper.arxiv_id} \"{j.paper.title}\" (names {', '.join(j.candidate.names[:2])}; "
                f"P(contradicts)={j.stance.contradicts:.2f}, P(supports)={j.stance.supports:.2f})" for j in named)
                + ".")
        if src is not None:
            parts.append(f"Its source paper arXiv:{src.paper.arxiv_id} reads as {src.side.value}.")
        if label is VerdictLabel.unresolved:
            parts.append("No newer paper read takes a side on the claim: too little evidence to decide.")
        return Verdict(label=label, confidence=confidence, rationale=" ".join(parts), citations=cites,
                       judge=self.name, flags=flags)
