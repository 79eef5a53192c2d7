"""Benchmark: `retest run` on the bundled example, cold (empty data directory) and warm (store filled).

    python benchmarks/bench_run.py [--judge offline|baseline] [--repeats 1]

Prints wall time and the run's own stats for each; runs offline on the bundled snapshot.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"


def run_once(home: Path, out: Path, judge: str) -> dict:
    env = {**os.environ, "RETEST_HOME": str(home), "RETEST_SOURCE": "snapshot", "RETEST_AS_OF": "2026-11-26"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--out", str(out), "--judge", judge,
                    "-q", "--no-resume"], check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    stats = json.loads((out / "report.json").read_text())["stats"]
    return {"wall_s": round(wall, 2), **stats}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judge", default="offline")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    for i in range(a.repeats):
        with tempfile.TemporaryDirectory() as d:
            home, out = Path(d) / "home", Path(d) / "out"
            cold = run_once(home, out, a.judge)
            warm = run_once(home, out, a.judge)
        for name, s in (("cold", cold), ("warm", warm)):
            print(f"[{i}] {name}: wall {s['wall_s']:.2f} s (in-graph {s['elapsed_s']:.2f} s), "
                  f"embedded {s['embedded_chunks']} chunks, papers searched {s['papers_searched']}, "
                  f"judge {s['judge']}")


if __name__ == "__main__":
    main()
