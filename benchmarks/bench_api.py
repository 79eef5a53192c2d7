"""Benchmark: the live-API path on the example, against a loopback arXiv serving the bundled corpus.

    python benchmarks/bench_api.py

The server speaks the real API's Atom, the real `arxiv` client talks to it, and the process-wide
politeness limiter keeps its real 3 s spacing. Prints requests (total, per claim, for anchors), the
run's wall time and its floor of 3 s between consecutive requests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.arxiv_server import serve_corpus  # noqa: E402

EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        with serve_corpus(index_path=d / "srv.sqlite") as server:
            env = {**os.environ, "RETEST_HOME": str(d / "home"), "RETEST_SOURCE": "api",
                   "RETEST_ARXIV_API_URL": server.url, "RETEST_AS_OF": "2026-11-26"}
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--out", str(d / "out"), "-q"],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - t0
            reqs = list(server.requests)
            t1 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--out", str(d / "out2"), "-q",
                            "--no-resume"], check=True, env=env, stdout=subprocess.DEVNULL)
            wall2 = time.perf_counter() - t1
            second = len(server.requests) - len(reqs)
        report = json.loads((d / "out" / "report.json").read_text())
    n_claims = len(report["claims"])
    id_lists = [r for r in reqs if "id_list" in r.params and r.params.get("id_list")]
    anchors = [r for r in id_lists if len(parse_qs(f"x={r.params['id_list']}")["x"][0].split(",")) >= 4]
    print(f"claims: {n_claims}")
    print(f"requests: {len(reqs)} total, {len(reqs) / n_claims:.1f} per claim; "
          f"id_list requests: {len(id_lists)} (anchors resolved in {len(anchors)} batched request(s))")
    floor = 3 * (len(reqs) - 1)  # the limiter spaces consecutive requests; the first goes at once
    print(f"wall: {wall:.1f} s; floor 3 s x ({len(reqs)} - 1) gaps = {floor} s; overhead {wall - floor:.1f} s "
          f"({(wall - floor) / max(1, n_claims):.1f} s per claim)")
    print(f"second run (cache): {second} requests, wall {wall2:.1f} s")


if __name__ == "__main__":
    main()
