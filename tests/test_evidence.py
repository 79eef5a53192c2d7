"""Choosing what the judge reads: the names a claim is about, and papers ranked by being about it."""
from __future__ import annotations

from datetime import date

from agent.evidence import NAME_BONUS, claim_names, mentions, select_candidates
from claims.models import Claim, EvidenceChunk, Paper


def claim(text: str, d: str = "2023") -> Claim:
    return Claim(id="c", text=text, claim_date=d)


def paper(i: str, title: str, abstract: str, pub: str = "2024-01-01") -> Paper:
    return Paper(arxiv_id=i, title=title, abstract=abstract, published=date.fromisoformat(pub))


def test_names_are_acronyms_runs_of_capitals_and_surnames_not_a_first_word():
    assert claim_names(claim("Kaplan-style scaling laws put compute into model size")) == ["Kaplan"]
    assert claim_names(claim("Batch normalization reduces internal covariate shift")) == []
    n = claim_names(claim("Direct Preference Optimization matches PPO-based RLHF"))
    assert n == ["Direct Preference Optimization", "DPO", "PPO", "RLHF"]
    src = paper("2305.11206", "LIMA: Less Is More for Alignment", "…")
    assert "LIMA" in claim_names(claim("A thousand curated examples suffice for alignment"), src)


def test_mentions_match_whole_words_only():
    p = paper("1", "On DPO", "We compare DPO with PPO; DPOP is different.")
    assert mentions(p, ["DPO", "PPO", "RLHF"]) == ["DPO", "PPO"]
    assert mentions(paper("2", "x", "DPOP only"), ["DPO"]) == []


def test_papers_that_name_the_claim_rank_first_and_old_papers_are_kept_apart():
    c = claim("LIMA shows 1,000 curated examples suffice for alignment")
    src = paper("2305.11206", "LIMA: Less Is More for Alignment", "…", "2023-05-18")
    papers = {
        "a": paper("a", "Long is more", "We revisit LIMA and find longer responses matter.", "2024-02-07"),
        "b": paper("b", "Alignment data", "Data quality for alignment matters.", "2024-03-01"),
        "c": paper("c", "Old", "Alignment with curated data.", "2022-01-01"),
        src.arxiv_id: src,
    }
    chunks = [EvidenceChunk(arxiv_id=i, sentence_index=0, text="t", title="t", score=s)
              for i, s in (("a", 0.30), ("b", 0.38), ("c", 0.5), (src.arxiv_id, 0.9))]
    cands = select_candidates(c, src, papers, chunks, [], newer_ids={"a", "b"})
    assert [x.paper.arxiv_id for x in cands] == ["a", "b", "c"]  # the source itself is never a candidate
    assert cands[0].names == ["LIMA"] and abs(cands[0].rank_score - (0.30 + NAME_BONUS)) < 1e-9
    assert [x.newer for x in cands] == [True, True, False]
