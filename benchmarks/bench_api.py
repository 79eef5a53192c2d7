"""Benchmark: the live-API path against a loopback arXiv serving the bundled corpus.

    python benchmarks/bench_api.py                              # the example and the generated 50-claim set
    python benchmarks/bench_api.py --set example --interval 0.05 # quick: judged papers only, no 3 s spacing
    python benchmarks/bench_api.py --save-baseline benchmarks/api_baseline.json
    python benchmarks/bench_api.py --baseline benchmarks/api_baseline.json   # recall of judged papers
    python benchmarks/bench_api.py --snapshot    # and against the same claims run on the snapshot, query by query

The server (tests/arxiv_server.py) speaks the real API's Atom and its query language, the real `arxiv`
client talks to it, and the process-wide politeness limiter keeps its real 3 s spacing (unless
`--interval` says otherwise: then the wall time is the run's compute alone; requests and judged papers are
the same).

For each claim set it runs `retest run --source api` twice in a fresh RETEST_HOME and prints: requests
(total, per claim, id_list lookups, extra pages), the longest request URL, the run's wall time against
its floor of 3 s between consecutive requests, the span from the first request to the last, the second
run's requests (the response cache: 0 expected) and wall time, and for every claim the papers the judge
read (the `candidates` of its evidence, read back from the run's checkpoint). `--baseline FILE` compares
those with a saved run: the share of the baseline's judged papers each claim still has judged.

The generated set (`--set gen50`) is built from the bundled snapshot's records, so the loopback
server can answer it: each claim restates one paper's finding (a sentence of its abstract), dated by
the paper's year (a quarter of them a year later); about 60% of the papers are listed as the input's
anchors (31 of 50), about 16% also named by their claim (10), the rest must be found by the link search;
five more anchors are decoys no claim relies on.

`--snapshot` also runs each set with `--source snapshot` (every planned query answered alone, locally,
from the same corpus) and gives the share of those judged papers the API run judged too: what the
combined queries and the cache lose, whatever else has changed in the code since the baseline.

`benchmarks/api_baseline.json` is the code before issue 15 (one request per planned query) measured with
`--save-baseline`: its figures and every claim's judged and found papers.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.arxiv_server import serve_corpus  # noqa: E402

EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"
SNAPSHOT = ROOT / "tools" / "arxiv" / "data" / "papers.jsonl"
AS_OF = "2026-11-26"
_FINDING = re.compile(r"\b(we (?:show|find|found|demonstrate|observe|prove)|results? (?:show|suggest|indicate)|"
                      r"outperform|improves?|reduces?|achieves?|leads? to|reveals?)\b", re.I)


def generate_claims(n: int = 50, seed: int = 15) -> str:
    """A YAML claim set of `n` claims built from bundled snapshot records (deterministic)."""
    recs = [json.loads(line) for line in SNAPSHOT.read_text(encoding="utf-8").splitlines() if line.strip()]
    recs = [r for r in recs if r.get("published") and r.get("abstract") and r.get("title")]
    recs.sort(key=lambda r: r["id"])
    rng = random.Random(seed)
    picked = rng.sample(recs, n + 5)
    chosen, decoys = picked[:n], picked[n:]
    claims, anchors = [], []
    for i, r in enumerate(chosen):
        sents = re.split(r"(?<=[.!?])\s+", " ".join(r["abstract"].split()))
        finding = next((s for s in sents[1:] if _FINDING.search(s)), sents[1] if len(sents) > 1 else sents[0])
        words = finding.split()
        text = " ".join(words[:40]).rstrip(",;:") + ("" if len(words) <= 40 else " …")
        head = r["title"].split(":", 1)[0].strip()
        if ":" in r["title"] and len(head.split()) <= 3:
            text = f"{head}: {text}"
        year = int(r["published"][:4]) + (1 if i % 4 == 3 else 0)  # a quarter dated a year after the paper
        claim = {"id": f"g{i + 1:02d}", "text": text, "date": str(min(year, 2026))}
        role = rng.random()
        if role < 0.16:
            claim["anchors"] = [r["id"]]
        if role < 0.60:
            anchors.append({"id": r["id"], "year": int(r["published"][:4]), "title": r["title"]})
        claims.append(claim)
    for r in decoys:
        anchors.append({"id": r["id"], "year": int(r["published"][:4]), "title": r["title"]})
    doc = {"question": "Generated from the bundled snapshot (benchmarks/bench_api.py)", "claims": claims,
           "anchors": anchors}
    return json.dumps(doc, indent=1, ensure_ascii=False)


def judged_papers(home: Path) -> dict[str, dict[str, list[str]]]:
    """Per claim: the papers the judge read (`candidates`) and every paper the searches found, from the
    latest finished run in RETEST_HOME's checkpoints."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(str(home / "checkpoints.sqlite"), check_same_thread=False)
    try:
        for t in SqliteSaver(conn).list(None):
            cv = t.checkpoint["channel_values"]
            if "judged" in cv and "report" in cv:
                return {cid: {"judged": sorted(e.split(":", 1)[1] for e in j["evidence_ids"] if e.startswith("paper:")),
                              "found": sorted(j.get("found") or [])}
                        for cid, j in sorted(cv["judged"].items())}
    finally:
        conn.close()
    raise RuntimeError(f"no finished run in {home}")


def run_set(name: str, claims_path: Path, interval: float, work: Path) -> dict:
    with serve_corpus(index_path=work / "srv.sqlite") as server:
        env = {**os.environ, "RETEST_HOME": str(work / "home"), "RETEST_SOURCE": "api",
               "RETEST_ARXIV_API_URL": server.url, "RETEST_AS_OF": AS_OF,
               "RETEST_ARXIV_MIN_INTERVAL": str(interval), "RETEST_ARXIV_MAX_REQUESTS": "2000"}
        cmd = [sys.executable, "-m", "retest.cli", "run", str(claims_path), "-q"]
        t0 = time.monotonic()
        subprocess.run([*cmd, "--out", str(work / "out")], check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        first = list(server.requests)
        per_claim = judged_papers(work / "home")
        t1 = time.monotonic()
        subprocess.run([*cmd, "--out", str(work / "out2"), "--no-resume"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        wall2 = time.monotonic() - t1
        second = len(server.requests) - len(first)
    report = json.loads((work / "out" / "report.json").read_text())
    n = len(report["claims"])
    id_lists = [r for r in first if r.params.get("id_list")]
    pages = [r for r in first if r.params.get("search_query") and int(r.params.get("start") or 0) > 0]
    floor = interval * max(0, len(first) - 1)
    span = (first[-1].at - first[0].at) if first else 0.0
    served = sum(r.done - r.at for r in first[:-1])  # the server answering, up to the last request
    idle = [b.at - a.done for a, b in zip(first, first[1:], strict=False)]  # reply written -> next request
    return {
        "set": name, "claims": n, "interval_s": interval, "requests": len(first),
        "requests_per_claim": round(len(first) / n, 2), "id_list_requests": len(id_lists),
        "anchor_ids_per_id_list": [len(r.params["id_list"].split(",")) for r in id_lists],
        "extra_pages": len(pages), "max_url_chars": max((r.url_chars for r in first), default=0),
        "wall_s": round(wall, 1), "floor_s": round(floor, 1), "wall_over_floor": round(wall / floor, 2) if floor else None,
        "to_first_request_s": round(first[0].at - t0, 1) if first else None,
        "request_span_s": round(span, 1), "after_last_request_s": round(t0 + wall - first[-1].at, 1) if first else None,
        "serving_s": round(served, 1), "gap_beyond_interval_s": round(sum(max(0.0, g - interval) for g in idle), 1),
        "gaps_s": [round(g, 3) for g in idle],
        "request_kinds": ["id_list" if r.params.get("id_list") else
                          ("page" if int(r.params.get("start") or 0) else "search") for r in first],
        "second_run_requests": second, "second_run_wall_s": round(wall2, 1),
        "second_run_same_judged": judged_papers(work / "home") == per_claim,
        "per_claim": per_claim,
    }


def recall(base: dict, now: dict) -> dict:
    """Share of the baseline's judged papers still judged, per claim and pooled."""
    kept = total = 0
    per = {}
    for cid, b in base["per_claim"].items():
        bj = set(b["judged"])
        nj = set(now["per_claim"].get(cid, {}).get("judged", []))
        per[cid] = round(len(bj & nj) / len(bj), 3) if bj else 1.0
        kept += len(bj & nj)
        total += len(bj)
    return {"pooled": round(kept / total, 4) if total else 1.0, "min_claim": min(per.values(), default=1.0),
            "claims_below_95": sorted(c for c, v in per.items() if v < 0.95), "per_claim": per}


def snapshot_judged(claims_path: Path, work: Path) -> dict:
    """The claims run with `--source snapshot` (each query alone, locally): per claim, its judged papers."""
    home = work / "snap-home"
    env = {**os.environ, "RETEST_HOME": str(home), "RETEST_SOURCE": "snapshot", "RETEST_AS_OF": AS_OF}
    subprocess.run([sys.executable, "-m", "retest.cli", "run", str(claims_path), "-q", "--out", str(work / "snap-out")],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    return {"per_claim": judged_papers(home)}


def show(res: dict) -> None:
    print(f"[{res['set']}] claims: {res['claims']}")
    print(f"  requests: {res['requests']} total, {res['requests_per_claim']:.2f} per claim; "
          f"id_list: {res['id_list_requests']} (ids per request {res['anchor_ids_per_id_list']}); "
          f"extra pages: {res['extra_pages']}; longest URL {res['max_url_chars']} chars")
    if res["floor_s"]:
        print(f"  wall: {res['wall_s']} s; floor {res['interval_s']:g} s x ({res['requests']} - 1) gaps = "
              f"{res['floor_s']} s -> {res['wall_over_floor']}x; start to first request {res['to_first_request_s']} s, "
              f"first to last request {res['request_span_s']} s (of which the server answering {res['serving_s']} s, "
              f"waits beyond the interval {res['gap_beyond_interval_s']} s), after the last request "
              f"{res['after_last_request_s']} s")
    print(f"  second run (cache): {res['second_run_requests']} requests, wall {res['second_run_wall_s']} s, "
          f"same judged papers: {res.get('second_run_same_judged')}")
    for key, what in (("recall", "baseline"), ("recall_vs_snapshot", "the snapshot path")):
        if key in res:
            r = res[key]
            print(f"  judged papers kept vs {what}: {r['pooled']:.1%} pooled, worst claim {r['min_claim']:.1%}, "
                  f"claims below 95%: {r['claims_below_95'] or 'none'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=["example", "gen50", "both"], default="both")
    ap.add_argument("--interval", type=float, default=3.0, help="seconds between requests (3 = production)")
    ap.add_argument("--save-baseline", type=Path, help="write the results (with judged papers) to this JSON file")
    ap.add_argument("--baseline", type=Path, help="compare judged papers with this saved JSON file")
    ap.add_argument("--json", type=Path, help="write the results to this JSON file")
    ap.add_argument("--snapshot", action="store_true",
                    help="also run each set on the snapshot and compare judged papers with that run")
    args = ap.parse_args()
    sets = ["example", "gen50"] if args.set == "both" else [args.set]
    base = json.loads(args.baseline.read_text()) if args.baseline else {}
    results = {}
    for name in sets:
        with tempfile.TemporaryDirectory() as d:
            work = Path(d)
            path = EXAMPLE
            if name == "gen50":
                path = work / "gen50.json"
                path.write_text(generate_claims(), encoding="utf-8")
            res = run_set(name, path, args.interval, work)
            if args.snapshot:
                res["recall_vs_snapshot"] = recall(snapshot_judged(path, work), res)
        if name in base:
            res["recall"] = recall(base[name], res)
        results[name] = res
        show(res)
    for out in (args.save_baseline, args.json):
        if out:
            out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
