"""The shipped paper-level stance model: loads offline, reads whole abstracts, quotes a real sentence."""
from __future__ import annotations

from datetime import date

import pytest

from claims.models import Paper
from claims.text import is_verbatim, split_sentences
from tools.verifier.paper_model import DEFAULT_MODEL, OnnxPaperVerifier, PaperModelMissing, load_default_paper_verifier

TURN = Paper(arxiv_id="2304.15004", title="Are Emergent Abilities of Large Language Models a Mirage?",
             published=date(2023, 4, 28),
             abstract=("Recent work claims that large language models display emergent abilities, abilities not "
                       "present in smaller-scale models that are present in larger-scale models. What makes "
                       "emergent abilities intriguing is two-fold: their sharpness, transitioning seemingly "
                       "instantaneously from not present to present, and their unpredictability, appearing at "
                       "seemingly unforeseeable model scales. Here, we present an alternative explanation for "
                       "emergent abilities: that for a particular task and model family, when analyzing fixed "
                       "model outputs, emergent abilities appear due to the researcher's choice of metric rather "
                       "than due to fundamental changes in model behavior with scale. Specifically, nonlinear or "
                       "discontinuous metrics produce apparent emergent abilities, whereas linear or continuous "
                       "metrics produce smooth, continuous predictable changes in model performance."))
OFF_TOPIC = Paper(arxiv_id="2101.00004", title="Switch Transformers", published=date(2021, 1, 11),
                  abstract="We simplify mixture-of-experts routing to a single expert per token. Training is "
                           "stable and fast.")


@pytest.fixture(scope="module")
def model():
    return load_default_paper_verifier()


def test_probabilities_rationale_and_quote(model):
    (s,) = model.judge_papers("Large language models display emergent abilities that appear abruptly at scale.",
                              [TURN])
    assert abs(s.supports + s.contradicts + s.neither - 1.0) < 1e-4
    sents = split_sentences(TURN.abstract)
    assert s.rationale is not None and 0 <= s.rationale < len(sents)
    assert len(s.sentence_scores) == len(sents) and all(0.0 <= x <= 1.0 for x in s.sentence_scores)
    assert is_verbatim(sents[s.rationale], TURN.abstract)


def test_results_do_not_depend_on_batch_or_order(model):
    claim = "Large language models display emergent abilities that appear abruptly at scale."
    one = [OnnxPaperVerifier(batch_size=1, intra_op_threads=1).judge_papers(claim, [p])[0] for p in (TURN, OFF_TOPIC)]
    both = OnnxPaperVerifier(batch_size=8, intra_op_threads=1).judge_papers(claim, [OFF_TOPIC, TURN])[::-1]
    for a, b in zip(one, both, strict=True):
        assert abs(a.contradicts - b.contradicts) < 0.05 and a.label() == b.label()


def test_an_unrelated_paper_takes_no_side(model):
    (s,) = model.judge_papers("Large language models display emergent abilities that appear abruptly at scale.",
                              [OFF_TOPIC])
    assert s.label() == "neither"


def test_a_missing_model_file_says_how_to_get_it_back(tmp_path):
    with pytest.raises(PaperModelMissing, match="train-verifier --paper"):
        OnnxPaperVerifier(tmp_path / "nope.onnx", DEFAULT_MODEL.parent / "tokenizer.json")
