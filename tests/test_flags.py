"""Each verification flag: a case that raises it and one that must not."""
from __future__ import annotations

from datetime import date

from agent.verification import (
    anchor_unused,
    check_anchor,
    check_citations,
    source_date_mismatch,
    thin_evidence,
    titles_match,
)
from claims.models import AnchorCheck, AnchorPaper, Citation, Claim, Paper, Stance

ABS = ("We present LIMA, a 65B parameter LLaMa language model fine-tuned with the standard supervised loss "
       "on only 1,000 carefully curated prompts and responses. It shows strong performance.")
LIMA = Paper(arxiv_id="2305.11206", title="LIMA: Less Is More for Alignment", abstract=ABS,
             published=date(2023, 5, 18))
NEWER = Paper(arxiv_id="2502.00001", title="More Is More", abstract="Curation alone does not suffice at scale.",
              published=date(2025, 2, 3))
CLAIM = Claim(id="c1", text="1,000 curated examples suffice for alignment", claim_date="2024")


def codes(flags):
    return [f.code for f in flags]


def cite(paper, quote, stance=Stance.contradicts, arxiv_id=None):
    return Citation(arxiv_id=arxiv_id or paper.arxiv_id, title=paper.title, published=None, quote=quote, stance=stance)


def test_citation_not_found():
    _, flags = check_citations(CLAIM, [cite(NEWER, "x", arxiv_id="2501.99999")], {}, date(2024, 1, 1))
    assert codes(flags) == ["citation_not_found"]
    _, flags = check_citations(CLAIM, [cite(NEWER, "Curation alone does not suffice at scale.")],
                               {NEWER.arxiv_id: NEWER}, date(2024, 1, 1))
    assert flags == []


def test_quote_not_in_source_is_whitespace_normalised_but_verbatim():
    papers = {LIMA.arxiv_id: LIMA}
    ok = "fine-tuned with the standard   supervised loss\n on only 1,000 carefully curated prompts"
    _, flags = check_citations(CLAIM, [cite(LIMA, ok, Stance.supports)], papers, date(2023, 1, 1))
    assert flags == []
    para = "fine-tuned with a standard supervised loss on only 1,000 curated prompts"
    _, flags = check_citations(CLAIM, [cite(LIMA, para, Stance.supports)], papers, date(2023, 1, 1))
    assert codes(flags) == ["quote_not_in_source"]


def test_evidence_predates_claim_only_for_evidence_used_against():
    papers = {LIMA.arxiv_id: LIMA, NEWER.arxiv_id: NEWER}
    q = "It shows strong performance."
    _, flags = check_citations(CLAIM, [cite(LIMA, q, Stance.contradicts)], papers, date(2024, 1, 1))
    assert codes(flags) == ["evidence_predates_claim"]
    _, flags = check_citations(CLAIM, [cite(LIMA, q, Stance.supports)], papers, date(2024, 1, 1))
    assert flags == []
    _, flags = check_citations(CLAIM, [cite(NEWER, "Curation alone does not suffice at scale.")], papers,
                               date(2024, 1, 1))
    assert flags == []
    # the claim's own source disagreeing is claim_misstates_source's business, not this flag's
    _, flags = check_citations(CLAIM, [cite(LIMA, q, Stance.contradicts)], papers, date(2024, 1, 1),
                               source_id=LIMA.arxiv_id)
    assert flags == []


def test_citation_title_and_date_come_from_the_record_not_the_judge():
    c = Citation(arxiv_id=NEWER.arxiv_id, title="Made-up title", published=date(1999, 1, 1),
                 quote="Curation alone does not suffice at scale.", stance=Stance.contradicts)
    out, _ = check_citations(CLAIM, [c], {NEWER.arxiv_id: NEWER}, date(2024, 1, 1))
    assert out[0].title == "More Is More" and out[0].published == date(2025, 2, 3)


def test_anchor_not_found_and_found():
    assert codes(check_anchor(AnchorPaper(arxiv_id="2501.00001", year=2025, title="X"), None).flags) == ["anchor_not_found"]
    assert check_anchor(AnchorPaper(arxiv_id="2305.11206", year=2023, title="LIMA: Less Is More for Alignment"), LIMA).flags == []


def test_anchor_date_mismatch_including_estimated_dates():
    chk = check_anchor(AnchorPaper(arxiv_id="2305.11206", year=2024, title="LIMA: Less Is More for Alignment"), LIMA)
    assert codes(chk.flags) == ["anchor_date_mismatch"] and "2023-05-18" in chk.flags[0].detail
    hive = Paper(arxiv_id="2510.22954", title="Artificial Hivemind: The Open-Ended Homogeneity of Language Models (and Beyond)",
                 abstract="a", published=None)
    chk = check_anchor(AnchorPaper(arxiv_id="2510.22954", year=2026,
                                   title="Artificial Hivemind: The Open-Ended Homogeneity of Language Models"), hive)
    assert codes(chk.flags) == ["anchor_date_mismatch"] and "estimated" in chk.flags[0].detail
    assert chk.published_estimated


def test_anchor_title_mismatch():
    chk = check_anchor(AnchorPaper(arxiv_id="2305.11206", year=2023, title="Scaling Laws for Reward Models"), LIMA)
    assert codes(chk.flags) == ["anchor_title_mismatch"]
    assert titles_match("Artificial Hivemind: The Open-Ended Homogeneity of Language Models",
                        "Artificial Hivemind: The Open-Ended Homogeneity of Language Models (and Beyond)")
    assert titles_match("LIMA: less is more for alignment", "LIMA: Less Is More for Alignment")


def test_anchor_unused():
    used = AnchorCheck(arxiv_id="2305.11206", used_by=["c1"])
    unused = AnchorCheck(arxiv_id="2410.08020")
    missing = AnchorCheck(arxiv_id="2501.00001", flags=check_anchor(AnchorPaper(arxiv_id="2501.00001"), None).flags)
    anchor_unused([used, unused, missing])
    assert codes(used.flags) == [] and codes(unused.flags) == ["anchor_unused"]
    assert codes(missing.flags) == ["anchor_not_found"]


def test_source_date_mismatch():
    assert codes(source_date_mismatch(CLAIM, LIMA)) == ["source_date_mismatch"]
    assert source_date_mismatch(CLAIM.model_copy(update={"claim_date": "2023"}), LIMA) == []
    assert source_date_mismatch(CLAIM, None) == []


def test_thin_evidence_counts_independent_stance_taking_papers():
    one = [cite(NEWER, "q"), cite(LIMA, "q", Stance.supports)]
    assert codes(thin_evidence(CLAIM, one, source_id=LIMA.arxiv_id)) == ["thin_evidence"]
    other = NEWER.model_copy(update={"arxiv_id": "2503.00002"})
    two = [cite(NEWER, "q"), cite(other, "q", Stance.supports), cite(LIMA, "q", Stance.supports)]
    assert thin_evidence(CLAIM, two, source_id=LIMA.arxiv_id) == []
    neutral = [cite(NEWER, "q", Stance.neither), cite(other, "q", Stance.neither)]
    assert codes(thin_evidence(CLAIM, neutral, source_id=None)) == ["thin_evidence"]


def test_a_claim_dated_after_the_as_of_date_is_flagged():
    from datetime import date

    from agent.verification import claim_after_as_of

    late = Claim(id="c9", text="Models will converge.", claim_date="2027-03")
    (f,) = claim_after_as_of(late, date(2026, 11, 26))
    assert f.code == "claim_after_as_of" and "2027-03" in f.detail and f.claim_id == "c9"
    assert claim_after_as_of(late, date(2027, 3, 1)) == []
