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


def test_every_dense_topic_is_complete_verbatim_and_free_of_measured_papers(capsys):
    """data/train/dense/validate.py over every topic: every claim × every paper labelled once, quotes
    verbatim, no paper of a measured case or of the bundled example."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "data" / "train" / "dense"
    spec = importlib.util.spec_from_file_location("dense_validate", root / "validate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    topics = sorted(p for p in root.iterdir() if (p / "pairs.jsonl").is_file() and (p / "papers.jsonl").is_file())
    assert len(topics) >= 9
    problems = [f"{t.name}: {e}" for t in topics for e in mod.check(t)]
    assert problems == []


def test_the_dense_validator_catches_a_paraphrased_quote_and_a_missing_pair(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "data" / "train" / "dense"
    spec = importlib.util.spec_from_file_location("dense_validate", root / "validate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    abstract = " ".join(["We study tabular learning."] * 5 + ["Trees still beat deep networks on medium data."])
    papers = [{"id": f"2301.0000{i}", "title": f"Paper {i}", "abstract": abstract} for i in (1, 2)]
    claim = {"n": 1, "claim": "Deep networks beat trees on tabular data.", "claim_date": "2021",
             "from_paper": None, "kind": "belief"}
    pair = {"n": 1, "claim": claim["claim"], "claim_date": "2021", "paper_id": "2301.00001",
            "label": "contradicts", "degree": "refutes", "rationale": "Trees beat deep networks.",
            "confidence": "high", "note": None, "labeller": "T"}
    for name, rows in (("papers", papers), ("claims", [claim]), ("pairs", [pair])):
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    errs = mod.check(tmp_path)
    assert any("not verbatim" in e for e in errs)
    assert any("2301.00002" in e and "labelled 0 times" in e for e in errs)
