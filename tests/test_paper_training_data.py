"""The paper-level training set: densely labelled corpora are rebalanced before training."""
from __future__ import annotations

from tools.verifier.training.paper_data import PaperExample, cap_neither


def ex(claim_id, label, title, source="dense", claim="scaling laws predict loss from compute"):
    return PaperExample(claim=claim, title=title, sentences=["An abstract."], label=label, source=source,
                        claim_id=claim_id)


def test_cap_keeps_every_side_taken_and_the_hardest_negatives():
    rows = [ex("a", "supports", "Scaling laws hold"), ex("a", "contradicts", "Scaling laws break")]
    rows += [ex("a", "neither", f"Unrelated topic {i}") for i in range(10)]
    rows += [ex("a", "neither", "Scaling laws predict loss from compute for vision")]
    rows += [ex("b", "neither", f"Other {i}") for i in range(3)]
    kept = cap_neither(rows, 2)
    a = [e for e in kept if e.claim_id == "a"]
    assert sorted(e.label for e in a) == ["contradicts", "neither", "neither", "supports"]
    # the negative that shares the claim's words (same vocabulary, no side) is kept first
    assert "Scaling laws predict loss from compute for vision" in {e.title for e in a}
    assert len([e for e in kept if e.claim_id == "b"]) == 2


def test_cap_leaves_other_sources_alone():
    rows = [ex("s", "neither", f"SciFact {i}", source="scifact") for i in range(6)]
    rows += [ex("t", "neither", f"Teacher {i}", source="synthetic") for i in range(6)]
    assert len(cap_neither(rows, 1)) == 12
    case_rows = [ex("c", "neither", f"Case {i}", source="case:vision") for i in range(6)]
    assert len(cap_neither(case_rows, 1)) == 1
