"""Tune the offline judge's thresholds on the development cases only, and show the grid.

Runs the graph once per development case (the shared dated-claims cases; never the held-out cases in
data/cases, never the bundled example), records what the judge read and the stance model's output,
then replays the judge's rules (agent/judges/paper.py) over a grid of thresholds and scores each
setting with the `retest eval claims` figures. Prints the best settings by a combined score
(verdict agreement + stance-citation precision + contradicting-work recall); it changes no file.

    python benchmarks/tune_judge.py [--cases DIR ...] [--top 15]
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.configuration import Settings  # noqa: E402
from agent.judges import paper as pj  # noqa: E402
from agent.runner import open_services, run_claims  # noqa: E402
from claims.models import ClaimResult, Report, Stance  # noqa: E402
from claims.readers import read_claims  # noqa: E402
from retest.eval_claims import pool, read_labels, read_paper_labels, score_report  # noqa: E402

DEV = sorted(p for p in (ROOT.parent / "shared" / "data" / "dated-claims").iterdir() if (p / "labels.json").is_file())


class Recorder:
    """Wraps the run's judge: keeps every JudgeInput and the stance model's outputs."""

    def __init__(self, judge):
        self.inner = judge
        self.name = judge.name
        self.inputs = []
        self.cache: dict[tuple[str, str], object] = {}
        real = judge.verifier

        class Caching:
            name = real.name

            def judge_papers(_self, claim, papers):
                out = real.judge_papers(claim, papers)
                for p, s in zip(papers, out, strict=True):
                    self.cache[(claim, p.arxiv_id)] = s
                return out

        judge.verifier = Caching()

    def judge(self, inp):
        self.inputs.append(inp)
        return self.inner.judge(inp)


class Replay:
    name = "replay"

    def __init__(self, cache):
        self.cache = cache

    def judge_papers(self, claim, papers):
        return [self.cache[(claim, p.arxiv_id)] for p in papers]


def record(case: Path):
    with tempfile.TemporaryDirectory() as tmp:
        s = Settings(home=Path(tmp), source="snapshot", snapshot=case / "papers.jsonl", judge="offline")
        with open_services(s) as svc:
            rec = Recorder(svc.judge)
            svc.judge = rec
            report = run_claims(read_claims(case / "claims.md"), s, svc, resume=False)
    return rec, report


def replay(rec: Recorder, report: Report, params: dict) -> Report:
    for k, v in params.items():
        setattr(pj, k, v)
    judge = pj.PaperJudge(Replay(rec.cache))
    by_id = {inp.claim.id: inp for inp in rec.inputs}
    claims = []
    for r in report.claims:
        inp = by_id[r.id]
        v = judge.judge(inp)
        claims.append(ClaimResult(id=r.id, text=r.text, claim_date=r.claim_date, verdict=v.label,
                                  confidence=v.confidence, rationale="", judge="replay", citations=v.citations,
                                  source=r.source,
                                  supporting=[c for c in v.citations if c.stance is Stance.supports]))
    return Report(generated_at=datetime.now(UTC), input="", claims=claims, anchors=report.anchors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=Path, nargs="*", default=DEV)
    ap.add_argument("--top", type=int, default=15)
    a = ap.parse_args()
    runs = []
    for case in a.cases:
        rec, report = record(case)
        runs.append((case, rec, report, read_labels(case / "labels.json"),
                     read_paper_labels(case / "paper_labels.jsonl")))
        print(f"recorded {case.name}: {len(rec.inputs)} claims, {len(rec.cache)} (claim, paper) stances")
    grid = {
        "CONTRA_T": [0.4, 0.5, 0.6, 0.7],
        "SUPPORT_T": [0.4, 0.5, 0.6, 0.7],
        "MARGIN": [0.0, 0.15, 0.3],
        "MIN_RELEVANCE": [0.2, 0.3, 0.4],
        "SUPERSEDE_MIN": [2, 3],
        "SUPERSEDE_P": [0.7, 0.8, 0.9],
    }
    defaults = {k: getattr(pj, k) for k in grid}
    rows = []
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        results = [score_report(replay(rec, rep, params), lab, pl) for _, rec, rep, lab, pl in runs]
        p = pool(results)
        score = sum(x or 0.0 for x in (p["verdict_agreement"], p["stance_citation_precision"],
                                       p["contradicting_recall"]))
        rows.append((score, params, p))
    for k, v in defaults.items():
        setattr(pj, k, v)
    rows.sort(key=lambda r: -r[0])
    cur = next(r for r in rows if r[1] == defaults)
    print(f"current {defaults}: {cur[2]}")
    for score, params, p in rows[: a.top]:
        print(f"{score:.3f} {params} verdicts {p['verdict_agreement']} precision {p['stance_citation_precision']} "
              f"({p['stance_citations']}) recall {p['contradicting_recall']}")


if __name__ == "__main__":
    main()
