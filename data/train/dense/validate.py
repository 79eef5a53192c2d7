"""Check a dense training topic (data/train/dense/<topic>/) before it is trained on.

    python data/train/dense/validate.py data/train/dense/<topic> [more topics…]

Checks: every file parses; papers have the bundled record shape and no id from ``excluded_ids.txt``
(measured cases and the bundled example); every claim is labelled against every paper exactly once;
labels, degrees and confidences are from the guide (docs/labelling-guide.md); every supports /
contradicts row quotes one sentence verbatim from the stored abstract or the title. Prints a summary,
exits 1 on any error.
"""
from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAPER_KEYS = {"id", "title", "abstract"}
CLAIM_KEYS = {"n", "claim", "claim_date", "from_paper", "kind"}
PAIR_KEYS = {"n", "claim", "claim_date", "paper_id", "label", "degree", "rationale", "confidence", "note",
             "labeller"}
LABELS = {"supports", "contradicts", "neither"}
CONF = {"high", "medium", "low"}


def excluded() -> set[str]:
    f = HERE / "excluded_ids.txt"
    return {ln.strip() for ln in f.read_text().splitlines() if ln.strip() and not ln.startswith("#")}


def read(path: Path, errs: list[str]) -> list[dict]:
    out = []
    if not path.is_file():
        errs.append(f"{path}: missing")
        return out
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            errs.append(f"{path}:{i}: not JSON ({e.msg})")
    return out


def norm(s: str) -> str:
    return " ".join(s.split())


def check(folder: Path) -> list[str]:
    errs: list[str] = []
    papers = read(folder / "papers.jsonl", errs)
    claims = read(folder / "claims.jsonl", errs)
    pairs = read(folder / "pairs.jsonl", errs)
    bad_ids = excluded()
    by_id = {}
    for p in papers:
        if not PAPER_KEYS <= set(p):
            errs.append(f"papers.jsonl: {p.get('id')}: missing {sorted(PAPER_KEYS - set(p))}")
            continue
        if p["id"] in bad_ids:
            errs.append(f"papers.jsonl: {p['id']} is a measured or example paper (excluded_ids.txt)")
        if p["id"] in by_id:
            errs.append(f"papers.jsonl: {p['id']} twice")
        if len(p["abstract"].split()) < 40:
            errs.append(f"papers.jsonl: {p['id']}: abstract has under 40 words")
        by_id[p["id"]] = p
    ns = {}
    for c in claims:
        if set(c) != CLAIM_KEYS:
            errs.append(f"claims.jsonl: claim {c.get('n')}: keys {sorted(set(c) ^ CLAIM_KEYS)}")
        ns[c.get("n")] = c
    seen = collections.Counter()
    counts = collections.Counter()
    for i, r in enumerate(pairs, 1):
        where = f"pairs.jsonl:{i}"
        if set(r) != PAIR_KEYS:
            errs.append(f"{where}: keys {sorted(set(r) ^ PAIR_KEYS)}")
            continue
        if r["n"] not in ns:
            errs.append(f"{where}: claim n={r['n']} not in claims.jsonl")
            continue
        if norm(r["claim"]) != norm(ns[r["n"]]["claim"]):
            errs.append(f"{where}: claim text differs from claims.jsonl n={r['n']}")
        if r["paper_id"] not in by_id:
            errs.append(f"{where}: paper {r['paper_id']} not in papers.jsonl")
            continue
        seen[(r["n"], r["paper_id"])] += 1
        lab = r["label"]
        counts[lab] += 1
        if lab not in LABELS:
            errs.append(f"{where}: label {lab!r}")
        if r["confidence"] not in CONF:
            errs.append(f"{where}: confidence {r['confidence']!r}")
        if lab == "contradicts" and r["degree"] not in ("refutes", "weakens"):
            errs.append(f"{where}: contradicts needs degree refutes|weakens")
        if lab != "contradicts" and r["degree"] is not None:
            errs.append(f"{where}: degree only for contradicts")
        if lab in ("supports", "contradicts"):
            p = by_id[r["paper_id"]]
            rat = norm(r["rationale"] or "")
            if not rat or (rat not in norm(p["abstract"]) and rat not in norm(p["title"])):
                errs.append(f"{where}: rationale is not verbatim in {r['paper_id']}'s abstract or title")
        elif r["rationale"] is not None:
            errs.append(f"{where}: neither takes no rationale")
    for n in ns:
        for pid in by_id:
            if seen[(n, pid)] != 1:
                errs.append(f"claim {n} × {pid}: labelled {seen[(n, pid)]} times (want 1)")
    print(f"{folder.name}: {len(papers)} papers, {len(claims)} claims, {len(pairs)} pairs {dict(counts)}"
          f" — {len(errs)} problem(s)")
    return errs


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    errs = []
    for a in argv:
        errs += check(Path(a))
    for e in errs[:200]:
        print("  " + e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
