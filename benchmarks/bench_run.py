"""Benchmark: `retest run` on the bundled example, cold (empty data directory) and warm (the same
command again on the same home: nothing new to fetch, embed or judge).

    python benchmarks/bench_run.py [--judge offline|baseline] [--repeats 3]

Each repeat runs cold then warm on a fresh home, so on a loaded machine the two alternate and see
the same load; it prints both wall times (the whole `retest run` process, start-up included), the
run's own stats and the process's CPU time (user + system, all threads), warm / cold, and whether the warm report equals the cold one (all but the
timestamp and the per-run counters). Runs offline on the bundled snapshot.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"
# what legitimately differs between two runs of the same input (docs/report-schema.md)
VOLATILE = ("generated_at",)
VOLATILE_STATS = ("elapsed_s", "embedded_chunks")


def run_once(home: Path, out: Path, judge: str) -> tuple[dict, dict]:
    env = {**os.environ, "RETEST_HOME": str(home), "RETEST_SOURCE": "snapshot", "RETEST_AS_OF": "2026-11-26"}
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--out", str(out), "--judge", judge,
                    "-q", "--no-resume"], check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    report = json.loads((out / "report.json").read_text())
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), **report["stats"]}, report


def comparable(report: dict) -> dict:
    r = {k: v for k, v in report.items() if k not in VOLATILE}
    r["stats"] = {k: v for k, v in report["stats"].items() if k not in VOLATILE_STATS}
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judge", default="offline")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    ratios: list[float] = []
    colds: list[float] = []
    warms: list[float] = []
    for i in range(a.repeats):
        with tempfile.TemporaryDirectory() as d:
            home = Path(d) / "home"
            cold, cold_report = run_once(home, Path(d) / "out-cold", a.judge)
            warm, warm_report = run_once(home, Path(d) / "out-warm", a.judge)
        same = comparable(cold_report) == comparable(warm_report)
        for name, s in (("cold", cold), ("warm", warm)):
            print(f"[{i}] {name}: wall {s['wall_s']:.2f} s (in-graph {s['elapsed_s']:.2f} s, CPU {s['cpu_s']:.2f} s), "
                  f"embedded {s['embedded_chunks']} chunks, papers searched {s['papers_searched']}, "
                  f"judge {s['judge']}")
        ratio = warm["wall_s"] / cold["wall_s"]
        ratios.append(ratio)
        colds.append(cold["wall_s"])
        warms.append(warm["wall_s"])
        print(f"[{i}] warm / cold: {ratio:.3f} (in-graph {warm['elapsed_s'] / cold['elapsed_s']:.3f}, "
              f"CPU {warm['cpu_s'] / cold['cpu_s']:.3f}); "
              f"warm report {'identical to' if same else 'DIFFERS from'} cold")
    print(f"cold wall median {statistics.median(colds):.2f} s, warm wall median {statistics.median(warms):.2f} s, "
          f"warm / cold median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) "
          f"over {len(ratios)} repeat(s)")


if __name__ == "__main__":
    main()
