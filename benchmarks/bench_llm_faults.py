"""How long a `--judge llm` run takes when the model never answers usefully: a closed port, a server
that always answers HTTP 500, and one that always answers invalid JSON. Each must finish with the
offline verdicts and a flag on every claim, in bounded time.

    python benchmarks/bench_llm_faults.py [--timeout 5]
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fake_openai import FakeOpenAI, Reply  # noqa: E402

EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"


def run(url: str, timeout: float) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": "/usr/bin:/bin", "RETEST_HOME": f"{tmp}/home", "RETEST_SOURCE": "snapshot",
               "RETEST_AS_OF": "2026-11-26", "OPENAI_BASE_URL": url, "RETEST_MODEL": "fake",
               "RETEST_LLM_TIMEOUT": str(timeout), "ANONYMIZED_TELEMETRY": "False"}
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--judge", "llm", "--out",
                            f"{tmp}/out", "-q"], capture_output=True, text=True, env=env, timeout=1800)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"run failed ({r.returncode}): {r.stderr[-1500:]}")
        rep = json.loads(Path(f"{tmp}/out/report.json").read_text())
    codes = sorted({f["code"] for c in rep["claims"] for f in c["flags"] if f["code"].startswith("llm_")})
    return wall, {"claims": len(rep["claims"]), "llm_flags": codes,
                  "fallback_verdicts": sum("fallback" in c["judge"] for c in rep["claims"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=5.0, help="RETEST_LLM_TIMEOUT for the runs")
    a = ap.parse_args()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    wall, info = run(f"http://127.0.0.1:{port}/v1", a.timeout)
    print(f"closed port            {wall:6.1f} s  {info}")
    with FakeOpenAI() as srv:
        srv.handler = lambda body: Reply.error(500, "internal error")
        wall, info = run(srv.url, a.timeout)
        print(f"always HTTP 500        {wall:6.1f} s  {info}  ({len(srv.requests)} requests)")
        srv.reset()
        srv.handler = lambda body: Reply.text("this is not JSON")
        wall, info = run(srv.url, a.timeout)
        print(f"always invalid JSON    {wall:6.1f} s  {info}  ({len(srv.requests)} requests)")


if __name__ == "__main__":
    main()
