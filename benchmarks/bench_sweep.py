"""Benchmark sweeps: a first sweep, then a second with nothing new (and optionally a third after new
papers appear), on the bundled example and on a generated set of 100+ claims.

    python benchmarks/bench_sweep.py                  # both sets, baseline judge, bundled snapshot
    python benchmarks/bench_sweep.py --set example --judge offline

The claims of the large set are generated from the bundled snapshot: for each paper, the first
sentence of its abstract (at most 30 words), dated by the paper's v1 month, split over files of 26.
Each sweep builds its own services, as `retest sweep` does, so elapsed_s includes loading the models.
Prints one JSON line per sweep and a markdown table at the end.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.configuration import Settings  # noqa: E402
from retest.sweep.run import run_sweep  # noqa: E402

EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"


def generate_claims(out_dir: Path, n: int, per_file: int = 26) -> list[Path]:
    from tools.arxiv.snapshot import SnapshotSource, default_snapshot_path

    src = SnapshotSource(default_snapshot_path(), index_path=out_dir / "gen-index.sqlite")
    try:
        papers = sorted(src.all_papers(), key=lambda p: p.arxiv_id)
    finally:
        src.close()
    claims = []
    for p in papers:
        d = p.effective_published()
        if d is None or not p.abstract:
            continue
        first = re.split(r"(?<=[.!?])\s+", p.abstract.strip())[0]
        words = first.split()[:30]
        claims.append({"text": " ".join(words).rstrip(".,;:") + ".", "date": f"{d.year}-{d.month:02d}"})
        if len(claims) >= n:
            break
    files = []
    for i in range(0, len(claims), per_file):
        f = out_dir / f"claims-{i // per_file + 1:02d}.yaml"
        f.write_text(json.dumps({"claims": [{"id": f"g{j + 1}", **c} for j, c in
                                            enumerate(claims[i:i + per_file])]}, indent=1), encoding="utf-8")
        files.append(f)  # JSON is valid YAML
    return files


def sweep_once(paths, home: Path, judge: str, as_of: date, label: str) -> dict:
    s = Settings(home=home, source="snapshot", judge=judge, as_of=as_of)
    t0 = time.perf_counter()
    res = run_sweep(paths, s, out=home / "digests" / label)
    wall = round(time.perf_counter() - t0, 2)
    st = res.digest["stats"]
    row = {"sweep": label, "claims": st["claims"], "judge_calls": st["judge_calls"],
           "embedded_chunks": st["embedded_chunks"], "arxiv_requests": st["arxiv_requests"],
           "elapsed_s": st["elapsed_s"], "wall_s": wall, "changes": len(res.digest["changes"])}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=["example", "large", "both"], default="both")
    ap.add_argument("--claims", type=int, default=104)
    ap.add_argument("--judge", default="baseline")
    ap.add_argument("--as-of", default="2026-11-26")
    args = ap.parse_args()
    as_of = date.fromisoformat(args.as_of)
    table = []
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        tmp = Path(tmp)
        sets = []
        if args.set in ("example", "both"):
            sets.append(("example (5 claims)", [EXAMPLE]))
        if args.set in ("large", "both"):
            gen = tmp / "gen"
            gen.mkdir()
            files = generate_claims(gen, args.claims)
            sets.append((f"generated ({args.claims} claims, {len(files)} files)", files))
        for name, paths in sets:
            home = tmp / re.sub(r"\W+", "-", name)
            first = sweep_once(paths, home, args.judge, as_of, "first")
            second = sweep_once(paths, home, args.judge, as_of, "second")
            ratio = second["elapsed_s"] / first["elapsed_s"] if first["elapsed_s"] else float("nan")
            table.append((name, first, second, ratio))
    print()
    print(f"judge: {args.judge}; source: bundled snapshot; as of {args.as_of}")
    print("| set | sweep | claims | judge calls | embedded chunks | arXiv requests | elapsed_s | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, a, b, ratio in table:
        for r in (a, b):
            print(f"| {name} | {r['sweep']} | {r['claims']} | {r['judge_calls']} | {r['embedded_chunks']} | "
                  f"{r['arxiv_requests']} | {r['elapsed_s']} | {r['wall_s']} |")
        print(f"| {name} | second / first | | | | | {ratio:.3f} | |")


if __name__ == "__main__":
    main()
