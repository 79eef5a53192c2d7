"""Sweeps (retest/sweep/): window, verdict cache, digest, history, kill-and-resume, concurrency.

Everything runs offline: `--source snapshot` over a small snapshot written here (RETEST_SNAPSHOT),
a temporary RETEST_HOME, and the baseline judge (or a fake judge) so the verifier model is not needed.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from agent.configuration import Settings
from agent.services import build_services
from claims.models import Citation, Stance, Verdict, VerdictLabel
from retest.sweep.run import SweepLocked, run_sweep

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "claims" / "examples" / "multi-dimensional-alignment.md"

TOPIC = [
    ("2301.01001", "2023-01-10", "Cryogenic cooling for quantum widget calibration",
     "We study quantum widget calibration. Cryogenic cooling is required for stable calibration accuracy. "
     "Warm widgets drift within minutes."),
    ("2302.02002", "2023-02-14", "Stable accuracy of quantum widgets under cryogenic cooling",
     "Quantum widget calibration reaches stable accuracy only at millikelvin temperatures. "
     "We report drift measurements for widget arrays."),
    ("2305.03003", "2023-05-02", "Benchmarks for widget calibration",
     "A benchmark of quantum widget calibration methods. Calibration accuracy depends on temperature."),
    ("2401.04004", "2024-01-20", "Scaling quantum widget arrays",
     "Scaling quantum widget arrays makes calibration harder. Cryogenic cooling keeps accuracy stable."),
    ("2403.05005", "2024-03-11", "Noise models for widget calibration",
     "We model calibration noise in quantum widgets. Thermal noise dominates calibration error."),
    ("2402.06006", "2024-02-02", "Photonic lattice routing",
     "Photonic lattice routing improves throughput. Lattice routers use adaptive wavelength assignment."),
    ("2404.07007", "2024-04-09", "Wavelength assignment for photonic lattices",
     "Adaptive wavelength assignment in photonic lattice routing reduces blocking. Lattice throughput rises."),
    ("2405.08008", "2024-05-21", "Graph sparsifiers for dense routing",
     "Graph sparsifiers speed up dense routing problems. Sparsified graphs keep cut values."),
]
NEW = [
    ("2606.09009", "2026-06-15", "Room-temperature quantum widget calibration",
     "Quantum widget calibration reaches stable accuracy at room temperature without cryogenic cooling. "
     "Our widget arrays show no drift over a week."),
]
CLAIMS_A = """claims:
  - id: c1
    text: Quantum widget calibration requires cryogenic cooling to reach stable accuracy.
    date: 2024
  - id: c2
    text: Thermal noise dominates the calibration error of quantum widgets.
    date: 2024
  - id: c3
    text: Scaling quantum widget arrays makes calibration harder.
    date: 2024
"""
CLAIMS_B = """claims:
  - id: c1
    text: Adaptive wavelength assignment improves photonic lattice routing throughput.
    date: 2024-06
  - id: c2
    text: Graph sparsifiers speed up dense routing while keeping cut values.
    date: 2024-06
  - id: c3
    text: Photonic lattice routers reduce blocking with adaptive wavelengths.
    date: 2024-06
"""


def rec(aid: str, published: str, title: str, abstract: str) -> dict:
    return {"id": aid, "title": title, "abstract": abstract, "authors": ["A. Author"], "published": published,
            "categories": ["quant-ph"], "primary_category": "quant-ph"}


def write_snapshot(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(rec(*r)) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path):
    home = tmp_path / "home"
    snap = write_snapshot(tmp_path / "papers.jsonl", TOPIC)
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "a.yaml").write_text(CLAIMS_A, encoding="utf-8")
    (claims / "b.yaml").write_text(CLAIMS_B, encoding="utf-8")
    env = {**os.environ, "RETEST_HOME": str(home), "RETEST_SNAPSHOT": str(snap), "RETEST_SOURCE": "snapshot",
           "RETEST_JUDGE": "baseline", "PYTHONPATH": str(ROOT)}
    env.pop("RETEST_CLAIMS", None)
    return {"home": home, "snap": snap, "claims": claims, "env": env, "tmp": tmp_path}


class FlipJudge:
    """Deterministic fake: `superseded` when newer evidence says "without cryogenic", else `holds`."""

    name = "fake-flip v1"

    def __init__(self):
        self.calls = 0

    def judge(self, inp) -> Verdict:
        self.calls += 1
        hit = next((c for c in inp.newer if "without cryogenic" in c.text), None)
        if hit is None:  # a verdict stands only on a cited, verifiable sentence (the grounding gate)
            ev = next(iter(list(inp.newer) + list(inp.older) + list(inp.source_sentences)), None)
            cites = [Citation(arxiv_id=ev.arxiv_id, title=ev.title, published=ev.published, quote=ev.text,
                              stance=Stance.supports, score=0.6)] if ev else []
            return Verdict(label=VerdictLabel.holds, confidence=0.6, rationale="No newer evidence against it.",
                           citations=cites, judge=self.name)
        cite = Citation(arxiv_id=hit.arxiv_id, title=hit.title, published=hit.published, quote=hit.text,
                        stance=Stance.contradicts, score=0.9)
        return Verdict(label=VerdictLabel.superseded, confidence=0.9, rationale="A newer paper contradicts it.",
                       citations=[cite], judge=self.name)


def settings_for(world, as_of: str) -> Settings:
    return Settings(home=world["home"], source="snapshot", snapshot=world["snap"], judge="baseline",
                    as_of=date.fromisoformat(as_of))


def fake_services(world, as_of: str):
    svc = build_services(settings_for(world, as_of))
    svc.judge = FlipJudge()
    return svc


def history_rows(home: Path, sql: str, *args):
    con = sqlite3.connect(home / "history.sqlite")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_new_records_flip_a_verdict_and_the_digest_names_the_paper(world):
    a = world["claims"] / "a.yaml"
    svc = fake_services(world, "2026-06-01")
    try:
        first = run_sweep([a], settings_for(world, "2026-06-01"), services=svc, out=world["tmp"] / "d1")
    finally:
        svc.close()
    d1 = first.digest
    assert d1["window"] == {"from": None, "to": "2026-06-01"}
    assert d1["stats"]["claims"] == 3 and d1["stats"]["judge_calls"] == 3
    assert {c["verdict"] for c in d1["claims"]} == {"holds"}
    assert d1["changes"] == [] and len(d1["new_claims"]) == 3

    write_snapshot(world["snap"], TOPIC + NEW)  # a new paper appears, contradicting c1
    svc = fake_services(world, "2026-07-01")
    try:
        second = run_sweep([a], settings_for(world, "2026-07-01"), services=svc, out=world["tmp"] / "d2")
    finally:
        svc.close()
    d2 = second.digest
    assert d2["window"] == {"from": "2026-06-01", "to": "2026-07-01"}
    flips = [c for c in d2["changes"] if c["claim_id"].endswith("#c1")]
    assert len(flips) == 1, d2["changes"]
    assert (flips[0]["old"], flips[0]["new"]) == ("holds", "superseded")
    assert [p["arxiv_id"] for p in flips[0]["papers"]] == ["2606.09009"]
    assert any(p["arxiv_id"] == "2606.09009" for p in d2["new_papers"])
    # only claims whose evidence set changed were judged again
    assert d2["stats"]["judge_calls"] == sum(1 for c in d2["claims"] if c["judged_again"]) < 3 + 1
    md = (world["tmp"] / "d2" / "digest.md").read_text()
    assert "holds → **superseded**" in md and "arXiv:2606.09009" in md
    js = json.loads((world["tmp"] / "d2" / "digest.json").read_text())
    for k in ("sweep_id", "window", "changes", "new_papers", "flags", "stats"):
        assert k in js
    for k in ("claims", "judge_calls", "embedded_chunks", "arxiv_requests", "elapsed_s"):
        assert k in js["stats"]
    # the history keeps both verdicts; the CLI prints the timeline
    rows = history_rows(world["home"], "SELECT sweep_id, verdict FROM verdicts WHERE claim_id LIKE '%a.yaml#c1' "
                        "ORDER BY sweep_id")
    assert rows == [(1, "holds"), (2, "superseded")]
    out = subprocess.run([sys.executable, "-m", "retest.cli", "history", "a.yaml#c1"], env=world["env"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "superseded" in out.stdout and "(was holds)" in out.stdout


def test_changed_claim_text_is_a_new_claim(world):
    a = world["claims"] / "a.yaml"
    svc = fake_services(world, "2026-06-01")
    try:
        run_sweep([a], settings_for(world, "2026-06-01"), services=svc, out=world["tmp"] / "d1")
        a.write_text(CLAIMS_A.replace("makes calibration harder", "makes calibration much harder"))
        d = run_sweep([a], settings_for(world, "2026-06-02"), services=svc, out=world["tmp"] / "d2").digest
    finally:
        svc.close()
    assert [c["claim_id"].rsplit("#", 1)[1] for c in d["new_claims"]] == ["c3"]
    assert d["stats"]["judge_calls"] == 1  # c1 and c2: cached


def test_back_to_back_sweeps_cost_almost_nothing(tmp_path):
    """On the bundled example: the second sweep (nothing new) makes no judge call, embeds nothing and
    takes under a fifth of the first's time."""
    s = Settings(home=tmp_path / "home", source="snapshot", judge="baseline", as_of=date(2026, 11, 26))
    svc = build_services(s)
    try:
        d1 = run_sweep([EXAMPLE], s, services=svc, out=tmp_path / "d1").digest
        d2 = run_sweep([EXAMPLE], s, services=svc, out=tmp_path / "d2").digest
    finally:
        svc.close()
    assert d1["stats"]["judge_calls"] == 5 and d1["stats"]["embedded_chunks"] > 0
    assert d2["stats"]["judge_calls"] == 0
    assert d2["stats"]["embedded_chunks"] == 0
    assert d2["stats"]["claims"] == 5
    assert d2["changes"] == [] and d2["new_papers"] == []
    assert d2["stats"]["elapsed_s"] < d1["stats"]["elapsed_s"] / 5, (d1["stats"], d2["stats"])


def _sweep_cmd(world, *extra):
    return [sys.executable, "-m", "retest.cli", "sweep", str(world["claims"]), "--as-of", "2026-06-01",
            "--out", str(world["tmp"] / "digest"), *extra]


def test_kill_mid_sweep_then_resume(world):
    proc = subprocess.Popen(_sweep_cmd(world), env=world["env"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seen = []
    killed = False
    deadline = time.monotonic() + 300
    for line in proc.stderr:
        seen.append(line)
        if "verdict" in line.split()[:2]:  # "    c1 verdict   holds (0.60)": one claim is done
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        assert time.monotonic() < deadline, "".join(seen)
    proc.wait(timeout=60)
    assert killed, "".join(seen)
    assert proc.returncode == -signal.SIGKILL
    assert history_rows(world["home"], "SELECT status FROM sweeps") == [("running",)]

    again = subprocess.run(_sweep_cmd(world), env=world["env"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming interrupted sweep 1" in again.stderr
    assert history_rows(world["home"], "SELECT id, status FROM sweeps") == [(1, "finished")]
    rows = history_rows(world["home"], "SELECT claim_id FROM verdicts")
    assert len(rows) == 6 and len(set(rows)) == 6
    digest = json.loads((world["tmp"] / "digest" / "digest.json").read_text())
    assert digest["sweep_id"] == 1 and digest["stats"]["claims"] == 6 and digest["stats"]["resumed"]

    from tools.arxiv.snapshot import SnapshotSource
    from tools.store import ChromaEvidenceStore, paper_chunks

    store = ChromaEvidenceStore(home=world["home"])
    try:
        ids = store._col.get(include=[])["ids"]
        stored = store.papers()
        assert store.count() == len(ids) == len(set(ids))
    finally:
        store.close()
    src = SnapshotSource(world["snap"], index_path=world["tmp"] / "idx.sqlite")
    try:
        expected = sum(len(paper_chunks(p)) for p in src.lookup(sorted(stored)).values())
    finally:
        src.close()
    assert len(ids) == expected  # no chunk stored twice, under any id


def test_concurrent_sweeps_second_refuses_clearly(world):
    first = subprocess.Popen(_sweep_cmd(world), env=world["env"], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    lines = []
    for line in first.stderr:  # wait until the first holds the lock (it says so when it starts)
        lines.append(line)
        if "sweep 1:" in line:
            break
    second = subprocess.run(_sweep_cmd(world, "--wait", "0"), env=world["env"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    rest = first.stderr.read()
    first.wait(timeout=600)
    assert first.returncode == 0, "".join(lines) + rest
    assert second.returncode == 3, second.stderr
    err = [ln for ln in second.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "another sweep is running" in err[0]
    assert history_rows(world["home"], "SELECT id, status FROM sweeps") == [(1, "finished")]


def test_second_sweep_waits_for_the_lock(world):
    from filelock import FileLock

    world["home"].mkdir(parents=True)
    lock = FileLock(str(world["home"] / "sweep.lock"), thread_local=False)
    lock.acquire()
    s = settings_for(world, "2026-06-01")
    with pytest.raises(SweepLocked):
        run_sweep([world["claims"] / "a.yaml"], s, wait=0)
    threading.Timer(1.0, lock.release).start()
    res = run_sweep([world["claims"] / "a.yaml"], s, wait=60, out=world["tmp"] / "d")
    assert res.digest["stats"]["claims"] == 3


def test_fail_on_change_and_bad_file(world):
    (world["claims"] / "broken.yaml").write_text("claims: [\n", encoding="utf-8")
    r = subprocess.run(_sweep_cmd(world, "--quiet"), env=world["env"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 1, r.stderr  # the other files were swept; the broken one is reported
    d = json.loads((world["tmp"] / "digest" / "digest.json").read_text())
    assert d["stats"]["claims"] == 6 and any("broken.yaml" in e["file"] for e in d["errors"])
    (world["claims"] / "broken.yaml").unlink()
    r = subprocess.run(_sweep_cmd(world, "--quiet", "--fail-on-change"), env=world["env"], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr  # nothing changed
