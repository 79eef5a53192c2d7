"""Benchmark the offline snapshot index on a GENERATED corpus.

The records are synthetic: titles and abstracts are words sampled (Zipf-weighted) from the
vocabulary of the bundled real abstracts (tools/arxiv/data/papers.jsonl); ids, dates (2015-2026)
and categories are generated.  They are not arXiv papers; they only give the index realistic
vocabulary and size.

    python benchmarks/bench_snapshot.py [--records 100000] [--queries 200] [--seed 0]

Prints: generation time, index build time, index size, and search latency p50/p95 for the same
queries with and without a date window.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from tools.arxiv.snapshot import SnapshotSource, default_snapshot_path  # noqa: E402
from tools.base import SearchQuery  # noqa: E402

CATS = ["cs.CL", "cs.LG", "cs.AI", "stat.ML", "cs.CV", "cs.IR", "cs.HC", "cs.CY"]


def vocabulary() -> tuple[list[str], list[float]]:
    counts: Counter[str] = Counter()
    for line in default_snapshot_path().read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        counts.update(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z\-]+", rec["title"] + " " + rec["abstract"]))
    words = [w for w, _ in counts.most_common()]
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(words))]
    return words, weights


def generate(path: Path, n: int, rng: random.Random, words: list[str], weights: list[float]) -> None:
    cum = list(itertools.accumulate(weights))
    start = date(2015, 1, 1)
    span = (date(2026, 6, 30) - start).days
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            d = start + timedelta(days=rng.randrange(span))
            arxiv_id = f"{d:%y%m}.{i % 100000:05d}"
            cats = rng.sample(CATS, rng.randint(1, 3))
            rec = {
                "id": arxiv_id,
                "title": " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(6, 14))).capitalize(),
                "authors": [f"Author {rng.randrange(5000)}" for _ in range(rng.randint(1, 6))],
                "abstract": " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(90, 220))).capitalize() + ".",
                "published": d.isoformat(),
                "updated": None,
                "primary_category": cats[0],
                "categories": cats,
                "generated": True,
            }
            fh.write(json.dumps(rec) + "\n")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    words, weights = vocabulary()
    # queries: 3-6 words from the mid-frequency band, as a claim's key terms would be
    band = words[20:3000]
    queries = [" ".join(rng.sample(band, rng.randint(3, 6))) for _ in range(args.queries)]

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "generated.jsonl"
        t0 = time.perf_counter()
        generate(data, args.records, rng, words, weights)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        src = SnapshotSource(data, index_path=Path(tmp) / "index.sqlite")
        t_build = time.perf_counter() - t0
        size_mb = (Path(tmp) / "index.sqlite").stat().st_size / 1e6
        t0 = time.perf_counter()
        SnapshotSource(data, index_path=Path(tmp) / "index.sqlite")
        t_reopen = time.perf_counter() - t0

        def run(make) -> tuple[list[float], float]:
            lat, hits = [], 0
            for q in queries:
                t = time.perf_counter()
                r = src.search(make(q))
                lat.append((time.perf_counter() - t) * 1000)
                hits += len(r.papers)
            return lat, hits / len(queries)

        run(lambda q: SearchQuery(text=q, max_results=20))  # warm the page cache
        plain, h1 = run(lambda q: SearchQuery(text=q, max_results=20))
        dated, h2 = run(
            lambda q: SearchQuery(text=q, after=date(2024, 5, 31), before=date(2025, 5, 31), max_results=20)
        )
        catd, h3 = run(
            lambda q: SearchQuery(text=q, after=date(2024, 5, 31), categories=["cs.CL"], max_results=20)
        )

    print(f"corpus: {args.records} GENERATED records (vocabulary of the {len(words)} words in the bundled real abstracts)")
    print(f"generate: {t_gen:.1f} s   index build: {t_build:.1f} s   index size: {size_mb:.0f} MB   reopen (fingerprint check): {t_reopen:.2f} s")
    for label, lat, hits in (
        ("no filter", plain, h1),
        ("date window (1 year)", dated, h2),
        ("date + category", catd, h3),
    ):
        print(
            f"search {label:22s} n={len(lat)}  p50 {statistics.median(lat):6.1f} ms   "
            f"p95 {pct(lat, 95):6.1f} ms   max {max(lat):6.1f} ms   mean hits {hits:.1f}"
        )


if __name__ == "__main__":
    main()
