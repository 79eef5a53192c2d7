"""Score a paper-level stance model on labelled (claim, paper) examples.

Figures: accuracy, macro-F1, per-label precision / recall / F1 and the confusion matrix, for the
model's argmax and for the judge's decision rule (a side only at P ≥ ``t`` with a margin), and how
often the quoted rationale is a gold rationale sentence.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

from tools.base import PaperStance
from tools.verifier.training.paper_data import LABELS, PaperExample


def decide(p: PaperStance, t: float | None = None, margin: float = 0.0) -> str:
    """argmax when t is None; else a side only when its P ≥ t and beats the other side by margin."""
    if t is None:
        return p.label()
    if p.contradicts >= t and p.contradicts - p.supports >= margin:
        return "contradicts"
    if p.supports >= t and p.supports - p.contradicts >= margin:
        return "supports"
    return "neither"


def prf(gold: Sequence[str], pred: Sequence[str]) -> dict:
    per = {}
    for lab in LABELS:
        tp = sum(g == lab and p == lab for g, p in zip(gold, pred, strict=True))
        fp = sum(g != lab and p == lab for g, p in zip(gold, pred, strict=True))
        fn = sum(g == lab and p != lab for g, p in zip(gold, pred, strict=True))
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        per[lab] = {"precision": round(pr, 3), "recall": round(rc, 3), "f1": round(f1, 3), "support": tp + fn,
                    "predicted": tp + fp}
    acc = sum(g == p for g, p in zip(gold, pred, strict=True)) / max(1, len(gold))
    conf = [[sum(g == a and p == b for g, p in zip(gold, pred, strict=True)) for b in LABELS] for a in LABELS]
    return {"n": len(gold), "accuracy": round(acc, 3),
            "macro_f1": round(sum(v["f1"] for v in per.values()) / 3, 3), "per_label": per,
            "confusion": conf}


def predict_examples(model, examples: Sequence[PaperExample]) -> list[PaperStance]:
    return model.predict([e.claim for e in examples], [e.title for e in examples],
                         [e.sentences for e in examples])


def evaluate(examples: Sequence[PaperExample], stances: Sequence[PaperStance], t: float | None = None,
             margin: float = 0.0, keep: Callable[[PaperExample], bool] | None = None) -> dict:
    rows = [(e, s) for e, s in zip(examples, stances, strict=True) if keep is None or keep(e)]
    gold = [e.label for e, _ in rows]
    pred = [decide(s, t, margin) for _, s in rows]
    rep = prf(gold, pred)
    hits = [s.rationale in e.rationale for (e, s), p in zip(rows, pred, strict=True)
            if p == e.label and e.label != "neither" and e.rationale]
    rep["rationale_hit"] = round(sum(hits) / len(hits), 3) if hits else None
    rep["rule"] = "argmax" if t is None else f"P>={t} margin {margin}"
    return rep
