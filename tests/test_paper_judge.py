"""The offline judge's rules over paper-level stances (a scripted stance model stands in for the
trained one here; tests/test_stance_model.py exercises the shipped model)."""
from __future__ import annotations

from datetime import date

from agent.evidence import Candidate
from agent.judges import paper as pj
from agent.judges.base import JudgeInput
from claims.models import Claim, Paper, Stance, VerdictLabel
from claims.text import is_verbatim
from tools.base import PaperStance

CLAIM = Claim(id="c1", text="A thousand curated examples suffice for alignment.", claim_date="2023")
SRC = Paper(arxiv_id="2305.11206", title="LIMA: Less Is More for Alignment", published=date(2023, 5, 18),
            abstract="We train LIMA on 1,000 curated examples. LIMA performs remarkably well.")


class Scripted:
    """Stance per paper id: (P(supports), P(contradicts), rationale sentence index)."""

    name = "scripted"

    def __init__(self, table):
        self.table = table

    def judge_papers(self, claim, papers):
        out = []
        for p in papers:
            s, c, r = self.table.get(p.arxiv_id, (0.05, 0.05, 0))
            out.append(PaperStance(supports=s, contradicts=c, neither=max(0.0, 1 - s - c), rationale=r))
        return out


def cand(i: str, rel: float = 0.6, newer: bool = True, names=()) -> Candidate:
    abstract = (f"Recent work claims a thousand curated examples suffice ({i}). "
                f"However, we find that alignment needs far more data ({i}).")
    return Candidate(paper=Paper(arxiv_id=i, title=f"Paper {i}", abstract=abstract, published=date(2024, 2, 1)),
                     newer=newer, relevance=rel, names=list(names))


def judge(table, cands):
    inp = JudgeInput(claim=CLAIM, cutoff=date(2023, 5, 18), source=SRC, candidates=cands,
                     as_of=date(2026, 11, 26), recent_from=date(2026, 5, 26))
    return pj.PaperJudge(Scripted(table)).judge(inp)


def test_contradicting_papers_weaken_and_the_quote_is_the_turn():
    v = judge({"a": (0.05, 0.9, 1), SRC.arxiv_id: (0.9, 0.02, 1)}, [cand("a"), cand("b")])
    assert v.label is VerdictLabel.weakened
    contra = [c for c in v.citations if c.stance is Stance.contradicts]
    assert [c.arxiv_id for c in contra] == ["a"]
    assert contra[0].quote.startswith("However, we find")  # the paper's finding, not its restated premise
    assert is_verbatim(contra[0].quote, cand("a").paper.abstract)
    assert "Strongest contradicting work: arXiv:a" in v.rationale


def test_superseded_needs_several_strong_contradictions_and_no_support():
    strong = {"a": (0.02, 0.95, 1), "b": (0.03, 0.9, 1)}
    assert judge(strong, [cand("a"), cand("b")]).label is VerdictLabel.superseded
    mixed = {**strong, "c": (0.9, 0.02, 1)}
    assert judge(mixed, [cand("a"), cand("b"), cand("c")]).label is VerdictLabel.weakened
    assert judge({"a": (0.02, 0.95, 1)}, [cand("a")]).label is VerdictLabel.weakened


def test_support_only_holds_and_nothing_is_unresolved():
    assert judge({"a": (0.9, 0.03, 1)}, [cand("a")]).label is VerdictLabel.holds
    v = judge({}, [cand("a"), cand("b")])
    assert v.label is VerdictLabel.unresolved and v.confidence == 0.0


def test_an_off_topic_paper_takes_no_side_unless_it_names_the_claim():
    far = cand("a", rel=pj.MIN_RELEVANCE - 0.1)
    assert judge({"a": (0.02, 0.95, 1)}, [far]).label is VerdictLabel.unresolved
    named = cand("a", rel=pj.MIN_RELEVANCE - 0.1, names=["LIMA"])
    assert judge({"a": (0.02, 0.95, 1)}, [named]).label is VerdictLabel.weakened


def test_older_papers_never_weaken_and_a_contradicting_source_is_flagged():
    old = cand("a", newer=False)
    assert judge({"a": (0.02, 0.95, 1)}, [old]).label is VerdictLabel.unresolved
    v = judge({SRC.arxiv_id: (0.02, 0.95, 1)}, [])
    assert "claim_misstates_source" in {f.code for f in v.flags}
