"""Embedding throughput and store upsert times.

    . .venv/bin/activate && python benchmarks/bench_embeddings.py [--n 500] [--threads N]

1. texts/s on ~500 real abstract sentences (papers.jsonl), three ways, same model and tokenizer:
   - MiniLMEmbedder (sorted by length, batches of 32 padded to their longest);
   - plain onnxruntime, texts in input order, every text padded to 256 (Chroma's stock ONNX function);
   - plain onnxruntime, texts in input order, batches of 32 padded to their longest.
2. ChromaEvidenceStore.upsert of all papers into a fresh embedded store (cold), then again (warm).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from claims.models import Paper  # noqa: E402
from claims.text import split_sentences  # noqa: E402
from tools.arxiv.snapshot import default_snapshot_path, iter_records  # noqa: E402
from tools.embeddings import MiniLMEmbedder  # noqa: E402
from tools.store import ChromaEvidenceStore  # noqa: E402


def load_papers() -> list[Paper]:
    """The bundled snapshot's real records."""
    return list(iter_records(default_snapshot_path(), skipped=[]))


def plain(emb: MiniLMEmbedder, texts: list[str], pad_to: int | None, batch: int = 32) -> np.ndarray:
    """No sorting: batches in input order, padded to `pad_to` (or the batch's longest)."""
    ids = emb.tokenize(texts)
    return np.concatenate([emb._run(ids[i : i + batch], pad_to=pad_to) for i in range(0, len(ids), batch)])


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    papers = load_papers()
    sentences = [s for p in papers for s in split_sentences(p.abstract)][: args.n]
    emb = MiniLMEmbedder(threads=args.threads)
    emb.embed_array(sentences[:8])  # load the session, warm up
    lens = [len(i) for i in emb.tokenize(sentences)]
    print(
        f"{len(sentences)} sentences, tokens: mean {np.mean(lens):.1f}, max {max(lens)}; threads={args.threads}"
    )

    t_ours, v_ours = timed(lambda: emb.embed_array(sentences), args.repeat)
    t_longest, v_longest = timed(lambda: plain(emb, sentences, None), args.repeat)
    t_256, v_256 = timed(lambda: plain(emb, sentences, 256), 1)
    n = len(sentences)
    rows = [
        ("MiniLMEmbedder (sorted, pad to batch longest)", t_ours),
        ("onnxruntime, pad to batch longest (unsorted)", t_longest),
        ("onnxruntime, pad to 256 (Chroma stock)", t_256),
    ]
    for name, t in rows:
        print(f"  {name:48s} {n / t:8.1f} texts/s  ({t:.2f} s)")
    print(f"  ratio MiniLMEmbedder / pad-256:          {t_256 / t_ours:.1f}x")
    print(f"  ratio MiniLMEmbedder / pad-batch-longest: {t_longest / t_ours:.2f}x")
    print(
        "  max |diff| vs pad-256: "
        f"{np.abs(v_ours - v_256).max():.2e}, vs pad-longest: {np.abs(v_ours - v_longest).max():.2e}"
    )

    with tempfile.TemporaryDirectory() as d:
        with ChromaEvidenceStore(Path(d), embedder=emb) as store:
            t = time.perf_counter()
            cold = store.upsert(papers)
            t_cold = time.perf_counter() - t
            t = time.perf_counter()
            warm = store.upsert(papers)
            t_warm = time.perf_counter() - t
        print(
            f"store upsert, {len(papers)} papers: cold {t_cold:.2f} s ({cold} chunks embedded), "
            f"warm {t_warm * 1000:.0f} ms ({warm} embedded)"
        )


if __name__ == "__main__":
    main()
