"""Benchmark the shipped offline verifier (int8 ONNX MiniLM cross-encoder). Prints; writes nothing.

    python benchmarks/bench_verifier.py [--threads 2] [--data-dir ../shared/data] [--skip-open]

1. throughput: claim–sentence pairs per second, batch 32, 512 pairs (held-out ml-stance pairs, cycled);
2. held-out ml-stance papers: sentence-level accuracy / macro-F1;
3. SciFact validation claims (``scifact_val_ids.json``): claim-level macro-F1, oracle and open retrieval
   (open: top-3 abstracts of the 5,183-abstract corpus by MiniLM cosine, with recall@3).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.verifier.data import DEFAULT_DATA_DIR, MODEL_DIR, heldout_ml_pairs  # noqa: E402
from tools.verifier.evaluate import eval_pair_list, eval_scifact  # noqa: E402
from tools.verifier.onnx_verifier import OnnxVerifier  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    ap.add_argument("--skip-open", action="store_true")
    a = ap.parse_args()
    v = OnnxVerifier(intra_op_threads=a.threads, batch_size=32)
    size = (MODEL_DIR / "verifier-int8.onnx").stat().st_size
    print(f"model: {v.name}  ({size / 1e6:.1f} MB)  threads={a.threads}")

    held = heldout_ml_pairs(a.data_dir / "ml-stance" / "pairs.jsonl")
    pairs = [held[i % len(held)] for i in range(512)]
    claims, sents = [p.claim for p in pairs], [p.evidence for p in pairs]
    v.predict_pairs(claims[:32], sents[:32])  # warm-up
    t = time.perf_counter()
    v.predict_pairs(claims, sents)
    dt = time.perf_counter() - t
    print(f"throughput: {512 / dt:.1f} pairs/s  (512 pairs, batch 32, {dt:.2f} s)")

    rep = eval_pair_list(v, held)
    print(
        f"ml-stance held-out papers: n={rep['n']} accuracy={rep['accuracy']:.3f} macro_f1={rep['macro_f1']:.3f}"
    )
    print("  per label F1: " + json.dumps({k: round(x["f1"], 3) for k, x in rep["per_label"].items()}))

    sc = a.data_dir / "scifact" / "claims_train.jsonl"
    co = a.data_dir / "scifact" / "corpus.jsonl"
    val = json.loads((MODEL_DIR / "scifact_val_ids.json").read_text())["claim_ids"]
    rep = eval_scifact(v, sc, co, "oracle", ids=val)
    print(f"SciFact val oracle: n={rep['n']} accuracy={rep['accuracy']:.3f} macro_f1={rep['macro_f1']:.3f}")
    print("  per label F1: " + json.dumps({k: round(x["f1"], 3) for k, x in rep["per_label"].items()}))
    if not a.skip_open:
        t = time.perf_counter()
        rep = eval_scifact(v, sc, co, "open", ids=val, k=3)
        print(
            f"SciFact val open ({rep['retrieval']}): n={rep['n']} accuracy={rep['accuracy']:.3f} "
            f"macro_f1={rep['macro_f1']:.3f} recall@3={rep['recall_at_k']:.3f} "
            f"({time.perf_counter() - t:.0f} s incl. embedding the corpus)"
        )


if __name__ == "__main__":
    main()
