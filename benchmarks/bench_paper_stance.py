"""Paper-level stance figures: macro-F1 and per-label precision of the paper-level model on
(claim, whole abstract) labels, on topics held out from training, and SciFact at abstract level.

Sets:
- dev  — the shared dated-claims cases (preference-and-rl, efficient-architectures): held out from
         training; the judge's thresholds are tuned on them;
- test — retest's own held-out cases (data/cases/*): never trained on, never tuned on;
- scifact-val — SciFact claims held out from training (tools/verifier/model/scifact_val_ids.json),
         each against its cited abstracts (SUPPORT / CONTRADICT / no evidence → neither).
Also throughput (claim–paper pairs per second) on this machine.

    python benchmarks/bench_paper_stance.py [--model PATH] [--threads 2] [--json] [--dense TOPIC,…]

``--dense`` scores dense training topics as one more set, for a model that has not been trained on them
(e.g. topics added after it was trained: the figures in the model card for the six topics of 2026-12-06).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.verifier.paper_model import DEFAULT_MODEL, OnnxPaperVerifier  # noqa: E402
from tools.verifier.training.paper_data import (  # noqa: E402
    OWN,
    SHARED,
    case_examples,
    dense_examples,
    load_scifact,
    scifact_examples,
)
from tools.verifier.training.paper_eval import evaluate, predict_examples  # noqa: E402

DEV = [SHARED / "dated-claims" / "preference-and-rl", SHARED / "dated-claims" / "efficient-architectures"]


def test_cases() -> list[Path]:
    return sorted(p for p in (OWN / "cases").iterdir() if (p / "paper_labels.jsonl").is_file())


def scifact_val(model_dir: Path):
    claims, corpus = load_scifact()
    ids = set(json.loads((model_dir / "scifact_val_ids.json").read_text())["claim_ids"])
    return scifact_examples(claims, corpus, ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--t", type=float, default=None, help="decision threshold (default: the judge's)")
    ap.add_argument("--margin", type=float, default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dense", default="", help="comma-separated dense training topics (data/train/dense/<topic>) "
                    "to score as one more set 'dense' — only meaningful for a model not trained on them")
    a = ap.parse_args()
    from agent.judges import paper as pj

    t = a.t if a.t is not None else pj.CONTRA_T
    margin = a.margin if a.margin is not None else pj.MARGIN
    m = OnnxPaperVerifier(a.model, intra_op_threads=a.threads)
    out: dict = {"model": str(a.model), "rule": f"P>={t} margin {margin}"}
    groups = {"dev": DEV, "test": test_cases()}
    sets: dict = {}
    preds: dict = {}
    t0 = time.perf_counter()
    n_pairs = 0
    for g, cases in groups.items():
        sets[g], preds[g] = [], []
        for c in cases:
            ex = case_examples(c)
            ps = predict_examples(m, ex)
            sets[c.name], preds[c.name] = ex, ps
            sets[g] += ex
            preds[g] += ps
            n_pairs += len(ex)
    if a.dense:
        sets["dense"], preds["dense"] = [], []
        for topic in [x.strip() for x in a.dense.split(",") if x.strip()]:
            ex = dense_examples(OWN / "train" / "dense" / topic)
            if not ex:
                sys.exit(f"--dense: no labelled pairs in {OWN / 'train' / 'dense' / topic}")
            ps = predict_examples(m, ex)
            sets[f"dense:{topic}"], preds[f"dense:{topic}"] = ex, ps
            sets["dense"] += ex
            preds["dense"] += ps
            n_pairs += len(ex)
    sets["scifact-val"] = scifact_val(a.model.parent)
    preds["scifact-val"] = predict_examples(m, sets["scifact-val"])
    n_pairs += len(sets["scifact-val"])
    elapsed = time.perf_counter() - t0
    for name, ex in sets.items():
        out[name] = {"argmax": evaluate(ex, preds[name]), "judge_rule": evaluate(ex, preds[name], t, margin)}
        if name != "scifact-val" and not name.startswith("dense"):  # the case that matters at run time: papers other than the finding's source
            out[name]["candidates_only"] = evaluate(ex, preds[name], t, margin, keep=_not_source)
    out["throughput_pairs_per_s"] = round(n_pairs / elapsed, 1)
    out["pairs"] = n_pairs
    if a.json:
        print(json.dumps(out, indent=1))
        return
    print(f"model {a.model} · {out['throughput_pairs_per_s']} claim–paper pairs/s ({a.threads} threads)")
    for name in sets:
        for rule in ("argmax", "judge_rule", "candidates_only"):
            r = out[name].get(rule)
            if not r:
                continue
            pl = r["per_label"]
            print(f"{name:42s} {rule:15s} n={r['n']:4d} macro-F1 {r['macro_f1']:.3f}  "
                  f"S P/R {pl['supports']['precision']:.2f}/{pl['supports']['recall']:.2f}  "
                  f"C P/R {pl['contradicts']['precision']:.2f}/{pl['contradicts']['recall']:.2f}  "
                  f"rationale {r['rationale_hit']}")


_SOURCES: dict[str, str] = {}


def _not_source(e) -> bool:
    """True unless the paper is the finding's own source (read from the case's labels.json)."""
    case, _, n = e.claim_id.partition("#")
    if not n:
        return True
    key = f"{case}#{n}"
    if key not in _SOURCES:
        for root in [*DEV, *test_cases()]:
            if root.name == case:
                lab = json.loads((root / "labels.json").read_text())
                for c in lab["claims"]:
                    _SOURCES[f"{case}#{c['n']}"] = c.get("source", "")
    return _SOURCES.get(key) != e.paper_id


if __name__ == "__main__":
    main()
