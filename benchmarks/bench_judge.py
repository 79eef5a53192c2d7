"""Dated-claims figures for a judge: run the whole graph on each case over its own corpus and score it
(`retest eval claims`, retest/eval_claims.py): verdict agreement, stance-citation precision,
contradicting-work recall, per case and pooled.

Sets: dev — the shared dated-claims cases (thresholds are tuned on these); test — retest's own held-out
cases in data/cases (never trained or tuned on); seen — the training cases (data/train), for reference
only: the model was trained on their labels. The bundled example is scored separately by the
example's own checks (tests), never here.

    python benchmarks/bench_judge.py [--sets dev,test] [--judge offline] [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retest.eval_claims import pool, run_case  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "dated-claims"
SETS = {
    "dev": lambda: sorted(p for p in SHARED.iterdir() if (p / "labels.json").is_file()),
    "test": lambda: sorted(p for p in (ROOT / "data" / "cases").iterdir() if (p / "labels.json").is_file()),
    "seen": lambda: sorted(p for p in (ROOT / "data" / "train").iterdir() if (p / "labels.json").is_file()),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="dev,test")
    ap.add_argument("--judge", default="offline")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verbose", "-v", action="store_true")
    a = ap.parse_args()
    out: dict = {}
    for name in a.sets.split(","):
        results = []
        for case in SETS[name]():
            t0 = time.perf_counter()
            r = run_case(case / "claims.md", case / "labels.json", judge=a.judge)
            r["wall_s"] = round(time.perf_counter() - t0, 1)
            results.append(r)
            if not a.json:
                print(f"{name:5s} {case.name:40s} verdicts {r['counts']['agree']}/{r['claims']} "
                      f"(acceptable {r['counts']['acceptable']}) · stance cites {r['counts']['cites_right']}/"
                      f"{r['stance_citations']} · contradicting found {r['counts']['against_found']}/"
                      f"{r['claims_with_contradicting_work']} · anchors {r['anchors_right']} · {r['wall_s']} s")
                if a.verbose:
                    for c in r["per_claim"]:
                        print(f"      #{c['n']} {c['verdict']:10s} expected {'/'.join(c['acceptable']):22s} "
                              f"src {c['source_found']} (want {c['source_expected']}) wrong: {c['wrong_citations']}")
        out[name] = {"pooled": pool(results), "cases": results}
        if not a.json:
            p = out[name]["pooled"]
            print(f"{name:5s} POOLED {p['claims']} claims: verdicts as expected {p['verdict_agreement']} "
                  f"(acceptable {p['verdict_acceptable']}) · stance-citation precision "
                  f"{p['stance_citation_precision']} ({p['stance_citations']}) · contradicting recall "
                  f"{p['contradicting_recall']} ({p['claims_with_contradicting_work']})")
    if a.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
