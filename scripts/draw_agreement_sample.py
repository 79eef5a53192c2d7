"""Draw the double-labelling sample: per case, pairs drawn uniformly, topped up with pairs the first
labeller marked supports/contradicts (so the rare labels are measured). Writes the pairs WITHOUT their
labels, for a second labeller who has not seen them.

    python scripts/draw_agreement_sample.py data/cases/* data/train/<case> ... --out data/agreement/sample.jsonl
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from claims.readers import read_claims  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--uniform", type=int, default=24)
    ap.add_argument("--positives", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = []
    for case in a.cases:
        claims = read_claims(case / "claims.md").claims
        papers = {json.loads(x)["id"]: json.loads(x) for x in open(case / "papers.jsonl") if x.strip()}
        labels = [json.loads(x) for x in open(case / "paper_labels.jsonl") if x.strip()]
        uni = rng.sample(labels, min(a.uniform, len(labels)))
        chosen = {(d["n"], d["paper_id"]) for d in uni}
        pos = [d for d in labels if d["label"] != "neither" and (d["n"], d["paper_id"]) not in chosen]
        extra = rng.sample(pos, min(a.positives, len(pos)))
        for how, part in (("uniform", uni), ("positive-topup", extra)):
            for d in part:
                p = papers[d["paper_id"]]
                rows.append({"case": case.name, "n": d["n"], "claim": claims[d["n"] - 1].text,
                             "claim_date": claims[d["n"] - 1].claim_date, "paper_id": p["id"],
                             "title": p["title"], "abstract": p["abstract"], "drawn": how})
    rng.shuffle(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} pairs -> {a.out}")


if __name__ == "__main__":
    main()
