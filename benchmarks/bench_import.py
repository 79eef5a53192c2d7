"""Benchmark `retest snapshot import` and search at the scale of the whole arXiv metadata dump, on a
GENERATED corpus in the dump's shape (benchmarks/gen_dump.py: synthetic records, not arXiv papers).

    python benchmarks/bench_import.py [--records 1000000] [--file DUMP.jsonl] [--queries 200]
                                      [--exact 60] [--workdir DIR] [--keep] [--seed 0] [--search-only] [--shards N]

Prints: the machine (cores, load average before and after), generation time, the import (records/s
over the whole import and over the reading phase, the finishing phase, peak RSS of the importing
process, index size and bytes per record), then search latency p50/p95/max over --queries queries
(3-6 words from the mid-frequency band of the vocabulary, 25 results, as `retest run` asks) with no
filter, a one-year window, a window and a category, and only an upper date bound (what a claim's
search sends), and for --exact of them how many of the 25 results an unplanned BM25 search over every
word returns too (overlap@25) and how long that search takes.

The import runs in a child process (`import_snapshot`, what `retest snapshot import` calls) so its
peak RSS is its own. --file reuses a generated file (the import is still measured).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not
sys.path.insert(0, str(ROOT / "benchmarks"))

import gen_dump  # noqa: E402

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from tools.arxiv.snapshot_import import import_snapshot
marks = {{}}
t0 = time.perf_counter()
res = import_snapshot(Path({src!r}), Path({idx!r}), shards={shards!r},
                      on_phase=lambda p, d: marks.setdefault(p, time.perf_counter()))
t1 = time.perf_counter()
print(json.dumps({{"seconds": t1 - t0, "reading": marks["finishing"] - marks.get("reading", t0),
                   "finishing": t1 - marks["finishing"], "stats": res.stats, "cpu": res.cpu}}))
"""


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--file", type=Path, help="an already generated dump-shape file")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--exact", type=int, default=60, help="queries also run unplanned, for overlap@25")
    ap.add_argument("--workdir", type=Path, help="where the file and the index go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--search-only", action="store_true", help="search WORKDIR/index.sqlite from an earlier run")
    ap.add_argument("--shards", type=int, help="writer processes (default: what `retest snapshot import` picks)")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-import-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs (affinity {len(os.sched_getaffinity(0))}), load average {load()} "
          f"(1/5/15 min) before")
    if args.search_only:
        idx = work / "index.sqlite"
        print(f"index: {idx} ({index_bytes(idx) / 1e9:.2f} GB with its shards), from an earlier run")
        search(idx, args)
        return
    try:
        if args.file:
            data = args.file
            print(f"corpus: {data} (reused)")
        else:
            data = work / "generated-dump.jsonl"
            t0 = time.perf_counter()
            size = gen_dump.write(data, args.records, args.seed)
            print(f"corpus: {args.records:,} GENERATED dump-shape records, {size / 1e6:,.0f} MB, "
                  f"generated in {time.perf_counter() - t0:.0f} s")
        idx = work / "index.sqlite"
        for p in work.glob("index.sqlite*"):
            p.unlink()  # the index, its shards (index.sqlite.TAG.sN), what an earlier run left
        child = CHILD.format(root=str(ROOT), src=str(data), idx=str(idx), shards=args.shards)
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        r = json.loads(out.stdout.strip().splitlines()[-1])
        n = r["stats"]["records"]
        shards = r["stats"].get("shards", 1)
        if shards > 1:  # the largest process is not the whole: the sum of every process's peak (an upper bound)
            rss_mb = r["cpu"]["rss_mb"]
        size = index_bytes(idx)
        print(f"import: {n:,} records ({r['stats']['skipped']:,} malformed) in {r['seconds']:.1f} s = "
              f"{n / r['seconds']:,.0f} records/s (reading {r['reading']:.1f} s = {n / r['reading']:,.0f} records/s, "
              f"finishing {r['finishing']:.1f} s); {shards} shard(s); peak RSS {rss_mb:,.0f} MB"
              f"{' (all processes)' if shards > 1 else ''}; load average {load()} after")
        c = r["cpu"]
        if shards > 1:
            cpu = c["reader_s"] + c["writer_s"] + c["finish_s"]
            print(f"  CPU seconds (all {shards} shard processes): reading threads {c['reader_s']:.1f} (parse), writer "
                  f"threads {c['writer_s']:.1f} (SQLite, FTS5), finishing {c['finish_s']:.1f}; {cpu:.1f} in all = "
                  f"{cpu / n * 1e6:.0f} us a record: on {shards} otherwise idle cores the import needs >= "
                  f"{cpu / shards:.1f} s = <= {n * shards / cpu:,.0f} records/s")
        else:
            print(f"  CPU seconds: reading thread {c['reader_s']:.1f} (parse), writer thread {c['writer_s']:.1f} (SQLite, "
                  f"FTS5), finishing {c['finish_s']:.1f}; with a core each for the two threads the reading phase "
                  f"needs >= {max(c['reader_s'], c['writer_s']):.1f} s = <= {n / max(c['reader_s'], c['writer_s']):,.0f} "
                  f"records/s, the whole import >= {max(c['reader_s'], c['writer_s']) + c['finish_s']:.1f} s")
        print(f"index: {size / 1e9:.2f} GB = {size / n:,.0f} B/record (input {data.stat().st_size / n:,.0f} B/record)")
        search(idx, args)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            print(f"kept {work}")


def index_bytes(idx: Path) -> int:
    """The index file and its shard files (index.sqlite.TAG.sN)."""
    return idx.stat().st_size + sum(f.stat().st_size for f in idx.parent.glob(idx.name + ".*.s[0-9]*"))


def search(idx: Path, args: argparse.Namespace) -> None:
    from tools.arxiv import snapshot as snap
    from tools.base import SearchQuery

    src = snap.SnapshotSource(idx)
    rng = random.Random(args.seed)
    band = gen_dump.real_vocabulary()[20:3000]
    queries = [" ".join(rng.sample(band, rng.randint(3, 6))) for _ in range(args.queries)]
    window = {"after": date(2024, 5, 31), "before": date(2025, 5, 31)}
    modes = {
        "no filter": {},
        "1-year window": window,
        "window + category": {**window, "categories": ["cs.CL"]},
        "before 2023-01-01 only": {"before": date(2023, 1, 1)},
    }

    def run(kw: dict, qs: list[str]) -> tuple[list[float], list[list[str]]]:
        lat, ids = [], []
        for q in qs:
            t = time.perf_counter()
            res = src.search(SearchQuery(text=q, max_results=25, **kw))
            lat.append((time.perf_counter() - t) * 1000)
            ids.append([p.arxiv_id for p in res.papers])
        return lat, ids

    t = time.perf_counter()
    run({}, queries)  # warm the page cache
    print(f"search: {args.queries} queries, 25 results each (page cache warmed by one pass, {time.perf_counter() - t:.0f} s)")
    for label, kw in modes.items():
        lat, ids = run(kw, queries)
        line = (f"  {label:24s} p50 {statistics.median(lat):6.1f} ms  p95 {pct(lat, 95):6.1f} ms  "
                f"max {max(lat):6.1f} ms  mean hits {statistics.mean(len(i) for i in ids):.1f}")
        if args.exact and label != "window + category":
            saved = snap.MIN_PLANNED
            snap.MIN_PLANNED = 1 << 62  # every word, plain BM25
            try:
                elat, eids = run(kw, queries[: args.exact])
            finally:
                snap.MIN_PLANNED = saved
            ov = [len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(ids, eids, strict=False)]
            line += (f"   | unplanned: p95 {pct(elat, 95):6.0f} ms, overlap@25 mean {statistics.mean(ov):.3f} "
                     f"min {min(ov):.2f} (n={len(eids)})")
        print(line)
    print(f"load average {load()} after the searches")


if __name__ == "__main__":
    main()
