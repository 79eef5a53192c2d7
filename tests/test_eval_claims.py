"""`retest eval claims` and `retest eval papers`: scoring a judge on dated claims with known fates."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "data" / "cases" / "context-and-reasoning"


def retest(*args: str, home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "retest.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=subprocess_env(home))


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    home = tmp_path_factory.mktemp("eval-home")
    r = retest("eval", "claims", str(CASE / "claims.md"), "--labels", str(CASE / "labels.json"), "--json", home=home)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_eval_claims_scores_every_finding_against_its_labels(scored):
    labels = json.loads((CASE / "labels.json").read_text())
    assert scored["claims"] == len(labels["claims"])
    for key in ("verdict_agreement", "verdict_acceptable", "stance_citation_precision", "contradicting_recall"):
        assert scored[key] is None or 0.0 <= scored[key] <= 1.0
    assert scored["verdict_agreement"] <= scored["verdict_acceptable"]
    assert scored["claims_with_contradicting_work"] == sum(1 for c in labels["claims"] if c["against"])
    row = scored["per_claim"][0]
    assert row["expected"] == labels["claims"][0]["verdicts"][:1] and row["verdict"] in (
        "holds", "weakened", "superseded", "unresolved")
    # every stance citation counted is checked against the (finding, paper) labels
    assert scored["counts"]["cites_right"] <= scored["stance_citations"]
    assert scored["judge"].startswith("offline paper-level judge")


def test_eval_claims_table_and_bad_labels_file(tmp_path):
    bad = tmp_path / "labels.json"
    bad.write_text("{not json")
    r = retest("eval", "claims", str(CASE / "claims.md"), "--labels", str(bad), home=tmp_path / "h")
    assert r.returncode == 2 and "labels.json:1" in r.stderr and "Traceback" not in r.stderr
    r = retest("eval", "claims", str(tmp_path / "missing.md"), "--labels", str(CASE / "labels.json"),
               home=tmp_path / "h")
    assert r.returncode == 2 and "missing.md" in r.stderr


def test_eval_papers_reports_precision_per_label(tmp_path):
    r = retest("eval", "papers", str(CASE), "--json", home=tmp_path / "h")
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout)
    n_labels = sum(1 for line in (CASE / "paper_labels.jsonl").read_text().splitlines() if line.strip())
    assert rep["n"] == n_labels
    assert set(rep["per_label"]) == {"supports", "contradicts", "neither"}
    assert sum(sum(row) for row in rep["confusion"]) == n_labels
