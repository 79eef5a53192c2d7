"""The shipped offline verifier (int8 ONNX cross-encoder), its metrics and its CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tools.base import StanceProbs, Verifier
from tools.verifier.data import DEFAULT_DATA_DIR, MODEL_DIR, PairsFormatError, read_user_pairs
from tools.verifier.evaluate import (
    aggregate_claim,
    classification_report,
    confusion_matrix,
    macro_f1,
    per_label_prf,
)

ML_PAIRS = DEFAULT_DATA_DIR / "ml-stance" / "pairs.jsonl"


@pytest.fixture(scope="module")
def verifier():
    from tools.verifier.onnx_verifier import load_default_verifier

    return load_default_verifier()


def _app() -> typer.Typer:
    from retest.cli import app

    return app


# ------------------------------------------------------------------------------------------- model files
def test_model_files_shipped():
    onnx = MODEL_DIR / "verifier-int8.onnx"
    assert onnx.is_file() and onnx.stat().st_size <= 30 * 1024 * 1024
    for f in (
        "tokenizer.json",
        "MODEL_CARD.md",
        "heldout_papers.json",
        "scifact_val_ids.json",
        "metrics.json",
    ):
        assert (MODEL_DIR / f).is_file(), f
    held = json.loads((MODEL_DIR / "heldout_papers.json").read_text())["paper_ids"]
    assert len(held) >= 20


def test_loads_and_returns_normalised_probabilities(verifier):
    assert isinstance(verifier, Verifier)
    assert "int8" in verifier.name
    out = verifier.stance(
        "RLHF reduces output diversity.",
        [
            "We find that RLHF significantly reduces the diversity of model outputs.",
            "The weather was pleasant.",
            "",
        ],
    )
    assert len(out) == 3
    for p in out:
        assert isinstance(p, StanceProbs)
        assert math.isclose(p.supports + p.contradicts + p.neither, 1.0, abs_tol=1e-4)
        assert all(0.0 <= x <= 1.0 for x in (p.supports, p.contradicts, p.neither))
    assert verifier.stance("anything", []) == []


def test_batching_does_not_change_results():
    from tools.verifier.onnx_verifier import OnnxVerifier

    sents = [
        "Alignment tuning lowers diversity.",
        "x",
        "A much longer sentence " * 20,
        "Model merging works.",
    ]
    a = OnnxVerifier(batch_size=1, intra_op_threads=1).stance("Merging aligned models helps.", sents)
    b = OnnxVerifier(batch_size=32, intra_op_threads=1).stance("Merging aligned models helps.", sents)
    # int8 dynamic quantization picks activation ranges per batch, so batch mates and padding move
    # results a little (seen: <= 0.03 on real sentences, 0.08 with this degenerate 100-word repeat)
    for x, y in zip(a, b, strict=True):
        assert abs(x.supports - y.supports) < 0.1 and abs(x.contradicts - y.contradicts) < 0.1
        assert x.label() == y.label()


def test_missing_model_is_a_clear_error(tmp_path):
    from tools.verifier.onnx_verifier import OnnxVerifier, VerifierModelMissing

    with pytest.raises(VerifierModelMissing, match="not found"):
        OnnxVerifier(tmp_path / "nope.onnx")


@pytest.mark.skipif(not ML_PAIRS.is_file(), reason="shared ml-stance data not present")
def test_heldout_in_domain_accuracy(verifier):
    from tools.verifier.data import heldout_ml_pairs
    from tools.verifier.evaluate import eval_pair_list

    held = heldout_ml_pairs(ML_PAIRS)
    # a fixed, label-mixed batch of 60 held-out pairs (papers never trained on)
    batch = held[:: max(1, len(held) // 60)][:60]
    rep = eval_pair_list(verifier, batch)
    assert rep["n"] == 60
    assert rep["accuracy"] > 0.55, rep


# ------------------------------------------------------------------------------------------------ metrics
def test_metrics_on_hand_built_confusion():
    labels = ["a", "b", "c"]
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "c"]
    assert confusion_matrix(gold, pred, labels) == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    prf = per_label_prf(confusion_matrix(gold, pred, labels), labels)
    assert prf["a"] == {"precision": 1.0, "recall": 2 / 3, "f1": pytest.approx(0.8), "support": 3}
    assert prf["b"]["precision"] == 0.5 and prf["b"]["recall"] == 0.5 and prf["b"]["f1"] == 0.5
    assert (
        prf["c"]["precision"] == 0.5 and prf["c"]["recall"] == 1.0 and prf["c"]["f1"] == pytest.approx(2 / 3)
    )
    assert macro_f1(gold, pred, labels) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    rep = classification_report(gold, pred, labels)
    assert rep["accuracy"] == pytest.approx(4 / 6) and rep["n"] == 6


def test_metrics_edge_cases():
    labels = ["x", "y"]
    # a label never predicted and never gold: F1 0, counted in the macro mean
    assert macro_f1(["x", "x"], ["x", "x"], labels) == pytest.approx(0.5)
    assert per_label_prf([[0, 0], [0, 0]], labels)["x"]["f1"] == 0.0
    with pytest.raises(ValueError):
        confusion_matrix(["x"], ["z"], labels)


def test_aggregate_claim_rule():
    sp = lambda s, c: StanceProbs(supports=s, contradicts=c, neither=1 - s - c)  # noqa: E731
    assert aggregate_claim([]) == ("neither", 1.0)
    assert aggregate_claim([sp(0.05, 0.05)])[0] == "neither"
    assert aggregate_claim([sp(0.97, 0.01), sp(0.1, 0.1)])[0] == "supports"
    assert aggregate_claim([sp(0.01, 0.97)])[0] == "contradicts"
    label, conf = aggregate_claim([sp(0.9, 0.0)], evidence_threshold=0.95)
    assert label == "neither" and conf == pytest.approx(0.1)


# ---------------------------------------------------------------------------------------------------- CLI
def _pairs_file(tmp_path: Path) -> Path:
    f = tmp_path / "pairs.jsonl"
    rows = [
        {
            "claim": "RLHF reduces output diversity.",
            "evidence_sentence": "We find RLHF substantially reduces the output diversity of language models.",
            "stance": "supports",
        },
        {
            "claim": "RLHF increases output diversity.",
            "evidence_sentence": "We find RLHF substantially reduces the output diversity of language models.",
            "stance": "contradicts",
        },
        {
            "claim": "Model merging needs no training.",
            "evidence_sentence": "We release our code and data.",
            "stance": "neither",
        },
    ]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return f


def test_cli_eval_pairs_json(tmp_path):
    res = CliRunner().invoke(_app(), ["eval", "pairs", str(_pairs_file(tmp_path)), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout.strip())
    assert {"accuracy", "macro_f1", "per_label", "n"} <= set(obj)
    assert obj["n"] == 3 and set(obj["per_label"]) == {"supports", "contradicts", "neither"}


def test_cli_eval_pairs_table(tmp_path):
    res = CliRunner().invoke(_app(), ["eval", "pairs", str(_pairs_file(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "macro-F1" in res.stdout and "confusion" in res.stdout


def test_cli_bad_input_exit_2(tmp_path):
    app = _app()
    r = CliRunner().invoke(app, ["eval", "pairs", str(tmp_path / "missing.jsonl"), "--json"])
    assert r.exit_code == 2 and "missing.jsonl" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"claim": "a", "evidence_sentence": "b", "stance": "supports"}\n{not json\n')
    r = CliRunner().invoke(app, ["eval", "pairs", str(bad)])
    assert r.exit_code == 2 and "bad.jsonl:2" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"claim": "a", "evidence_sentence": "b", "stance": "maybe"}\n')
    r = CliRunner().invoke(app, ["eval", "pairs", str(wrong)])
    assert r.exit_code == 2 and "wrong.jsonl:1" in r.output and "supports" in r.output
    r = CliRunner().invoke(
        app, ["eval", "scifact", "--claims", str(wrong), "--corpus", str(tmp_path / "no.jsonl")]
    )
    assert r.exit_code == 2 and "no.jsonl" in r.output
    r = CliRunner().invoke(app, ["train-verifier", "--pairs", str(bad)])
    assert r.exit_code == 2 and "bad.jsonl:2" in r.output


def test_user_pairs_reader(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"claim": "a", "evidence_sentence": "b", "stance": "REFUTES"}\n\n')
    assert read_user_pairs(f)[0].label == "contradicts"
    f.write_text('{"claim": "", "evidence_sentence": "b", "stance": "supports"}\n')
    with pytest.raises(PairsFormatError, match="p.jsonl:1"):
        read_user_pairs(f)
