"""Agreement between the first labels of retest's own cases and an independent second labelling of a
sample of their (finding, paper) pairs (docs/labelling-guide.md §3): raw agreement and Cohen's κ, on
the uniformly drawn part of the sample and on the whole sample (topped up with first-labeller
positives), per case and pooled, and the confusion matrix.

    python benchmarks/bench_agreement.py [--json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AGREE = ROOT / "data" / "agreement"
LABELS = ("supports", "contradicts", "neither")


def kappa(a: list[str], b: list[str]) -> float | None:
    n = len(a)
    if not n:
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pe = sum((a.count(lab) / n) * (b.count(lab) / n) for lab in LABELS)
    return round((po - pe) / (1 - pe), 3) if pe < 1 else None


def first_labels() -> dict[tuple[str, int, str], str]:
    out = {}
    for f in sorted((ROOT / "data" / "train" / "dense").glob("*/pairs.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                out[(f.parent.name, int(d["n"]), d["paper_id"])] = d["label"]
    for root in (ROOT / "data" / "cases", ROOT / "data" / "train"):
        for case in root.iterdir():
            f = case / "paper_labels.jsonl"
            if f.is_file():
                for line in f.read_text().splitlines():
                    if line.strip():
                        d = json.loads(line)
                        out[(case.name, int(d["n"]), d["paper_id"])] = d["label"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--first", choices=["original", "adjudicated"], default="original",
                    help="compare the second labels with the first labeller's original labels (default) "
                         "or with the adjudicated labels now in the cases")
    a = ap.parse_args()
    first = first_labels()
    orig_file = AGREE / "first-original.jsonl"
    if a.first == "original" and orig_file.is_file():
        for line in orig_file.read_text().splitlines():
            if line.strip():
                d = json.loads(line)
                first[(d["case"], int(d["n"]), d["paper_id"])] = d["label"]
    report: dict = {}
    # cases: retest's own dated-claims cases (sample-*.jsonl); dense: the dense training topics
    # (dense-sample-*.jsonl, drawn 15 uniform + 8 first-labeller positives per topic)
    for name, pattern in (("cases", "sample-*.jsonl"), ("dense", "dense-sample-*.jsonl")):
        rows = []
        for sample in sorted(AGREE.glob(pattern)):
            second = AGREE / sample.name.replace("sample-", "second-")
            if not second.is_file():
                continue
            s_rows = [json.loads(x) for x in sample.read_text().splitlines() if x.strip()]
            r_rows = [json.loads(x) for x in second.read_text().splitlines() if x.strip()]
            for s, r in zip(s_rows, r_rows, strict=True):
                key = (s["case"], int(s["n"]), s["paper_id"])
                assert (r["case"], int(r["n"]), r["paper_id"]) == key, f"{second}: order differs at {key}"
                drawn = s.get("drawn") or s.get("part")
                rows.append({"case": s["case"], "drawn": drawn, "first": first[key], "second": r["label"]})
        if rows:
            report[name] = _agreement(rows)
    if a.json:
        print(json.dumps(report, indent=1))
        return
    for name, out in report.items():
        print(f"== {name}")
        for part in ("uniform", "all"):
            o = out[part]
            print(f"{part:8s} n={o['n']:4d} agreement {o['agreement']:.3f} kappa {o['kappa']}")
            print(f"         confusion (rows first labeller S/C/N, columns second): {o['confusion_first_rows']}")
            for case, v in o["per_case"].items():
                print(f"         {case:42s} n={v['n']:3d} agreement {v['agreement']:.3f} kappa {v['kappa']}")


def _agreement(rows: list[dict]) -> dict:
    out: dict = {}
    for part, keep in (("uniform", lambda r: r["drawn"] == "uniform"), ("all", lambda r: True)):
        sel = [r for r in rows if keep(r)]
        a1, a2 = [r["first"] for r in sel], [r["second"] for r in sel]
        out[part] = {"n": len(sel), "agreement": round(sum(x == y for x, y in zip(a1, a2, strict=True)) / max(1, len(sel)), 3),
                     "kappa": kappa(a1, a2),
                     "confusion_first_rows": [[sum(x == p and y == q for x, y in zip(a1, a2, strict=True)) for q in LABELS]
                                              for p in LABELS]}
        out[part]["per_case"] = {}
        for case in sorted({r["case"] for r in sel}):
            c1 = [r["first"] for r in sel if r["case"] == case]
            c2 = [r["second"] for r in sel if r["case"] == case]
            out[part]["per_case"][case] = {"n": len(c1), "agreement": round(sum(x == y for x, y in zip(c1, c2, strict=True)) / len(c1), 3),
                                           "kappa": kappa(c1, c2)}
    return out


if __name__ == "__main__":
    sys.exit(main())
