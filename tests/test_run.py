"""`retest run` end to end on the bundled example, resuming an interrupted run, and the report schema."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent.configuration import Settings
from agent.runner import run_claims
from agent.services import build_services
from claims.models import Report, VerdictLabel
from claims.readers import read_claims
from claims.text import is_verbatim
from tests.conftest import AS_OF, EXAMPLE, subprocess_env
from tools.arxiv.snapshot import SnapshotSource, default_snapshot_path


@pytest.fixture(scope="module")
def example_report(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("out")
    r = subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--out", str(out)],
                       capture_output=True, text=True, timeout=600, env=subprocess_env(home))
    assert r.returncode == 0, r.stderr[-3000:]
    return r, out, home


def test_run_writes_both_reports_with_a_verdict_per_claim(example_report):
    r, out, _ = example_report
    report = Report.model_validate_json((out / "report.json").read_text())
    claims = read_claims(EXAMPLE).claims
    assert [c.id for c in report.claims] == [c.id for c in claims]
    assert all(c.verdict in VerdictLabel for c in report.claims)
    md = (out / "report.md").read_text()
    assert "## Summary" in md and "## Anchor papers" in md and "## Method" in md
    for c in report.claims:
        assert f"## {c.id}." in md
    assert "Traceback" not in r.stderr
    assert "verdict" in r.stderr  # progress per claim on stderr


def test_every_citation_resolves_and_every_quote_is_verbatim(example_report):
    _, out, home = example_report
    report = Report.model_validate_json((out / "report.json").read_text())
    snap = SnapshotSource(default_snapshot_path(), index_path=home / "check-index.sqlite")
    cited = {c.arxiv_id for cl in report.claims for c in cl.citations}
    papers = snap.lookup(sorted(cited))
    assert cited <= set(papers)
    for cl in report.claims:
        for c in cl.citations:
            assert is_verbatim(c.quote, papers[c.arxiv_id].abstract), (c.arxiv_id, c.quote)
            assert f"https://arxiv.org/abs/{c.arxiv_id}" in (out / "report.md").read_text()
        codes = {f.code for f in cl.flags}
        assert "citation_not_found" not in codes and "quote_not_in_source" not in codes


NEWER_THAN_LIMA = {"2402.04833": "Long Is More for Alignment", "2410.03717": "Revisiting the Superficial Alignment Hypothesis"}


def test_against_lima_the_newer_work_is_found_or_the_report_says_why_not(example_report):
    """The snapshot holds newer work arguing alignment needs more than a thousand curated examples: the
    LIMA claim either cites it as contradicting or its rationale names it and says how it was read."""
    _, out, _ = example_report
    report = Report.model_validate_json((out / "report.json").read_text())
    lima = next(c for c in report.claims if c.text.startswith("LIMA"))
    against = {c.arxiv_id for c in lima.citations if c.stance.value == "contradicts"}
    assert against & set(NEWER_THAN_LIMA) or any(f"arXiv:{i}" in lima.rationale for i in NEWER_THAN_LIMA), (
        lima.verdict, lima.rationale)


def test_every_weakened_or_superseded_rests_on_newer_contradicting_work(example_report):
    _, out, _ = example_report
    report = Report.model_validate_json((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    for cl in report.claims:
        if cl.verdict.value not in ("weakened", "superseded"):
            continue
        against = cl.contradicting_newer  # contradicting citations dated after the claim
        assert against, (cl.id, cl.verdict, cl.rationale)
        assert f"arXiv:{against[0].arxiv_id}" in cl.rationale  # named as the strongest contradicting work
        assert against[0].arxiv_id in md


def test_example_anchor_checks(example_report):
    _, out, _ = example_report
    report = Report.model_validate_json((out / "report.json").read_text())
    anchors = {a.arxiv_id: a for a in report.anchors}
    assert set(anchors) == {"2505.22907", "2510.22954", "2410.11163", "2410.08020"}
    # The input dates the Hivemind paper 2026; its id says October 2025.
    hive = anchors["2510.22954"]
    assert "anchor_date_mismatch" in {f.code for f in hive.flags}
    # its v1 date is not in the record: derived from the id, and the report says so
    assert hive.published_estimated
    assert "estimated" in next(f.detail for f in hive.flags if f.code == "anchor_date_mismatch")
    # No claim is about active fine-tuning at test time.
    assert [f.code for f in anchors["2410.08020"].flags] == ["anchor_unused"]
    lima = next(c for c in report.claims if c.text.startswith("LIMA"))
    assert lima.source and lima.source.arxiv_id == "2305.11206"
    assert "source_date_mismatch" in {f.code for f in lima.flags}  # dated 2024, LIMA is from 2023


def test_report_json_keys_are_the_documented_contract(example_report):
    _, out, _ = example_report
    data = json.loads((out / "report.json").read_text())
    assert {"generated_at", "input", "claims", "anchors", "flags", "stats"} <= set(data)
    assert {"arxiv_requests", "llm_calls", "judge", "elapsed_s", "papers_searched", "evidence_chunks"} <= set(data["stats"])
    c = data["claims"][0]
    assert {"id", "text", "claim_date", "verdict", "confidence", "rationale", "source", "citations", "flags"} <= set(c)
    assert {"arxiv_id", "title", "published"} <= set(c["source"])
    cites = [x for cl in data["claims"] for x in cl["citations"]]
    assert cites and all({"arxiv_id", "title", "published", "quote", "stance"} <= set(x) for x in cites)
    a = data["anchors"][0]
    assert {"arxiv_id", "title_given", "year_given", "title_found", "published_found", "flags"} <= set(a)
    Report.model_validate(data)


def test_bad_judge_option_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--judge", "llm",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=120,
                       env=subprocess_env(tmp_path / "h"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "OPENAI" in r.stderr


class _FlakyJudge:
    """Counts calls; raises once for one claim, as a crash mid-run would."""

    def __init__(self, inner, fail_on: str | None):
        self.inner, self.fail_on, self.calls_by_claim = inner, fail_on, {}
        self.name = inner.name

    def judge(self, inp):
        self.calls_by_claim[inp.claim.id] = self.calls_by_claim.get(inp.claim.id, 0) + 1
        if inp.claim.id == self.fail_on:
            raise RuntimeError("simulated crash")
        return self.inner.judge(inp)


class _CountingSource:
    def __init__(self, inner):
        self.inner, self.searches = inner, 0
        self.name, self.requests = inner.name, 0

    def search(self, q):
        self.searches += 1
        return self.inner.search(q)

    def lookup(self, ids):
        return self.inner.lookup(ids)


def test_interrupted_run_resumes_without_repeating_finished_work(tmp_path):
    settings = Settings(home=tmp_path / "home", source="snapshot", judge="baseline",
                        as_of=__import__("datetime").date.fromisoformat(AS_OF))
    claim_set = read_claims(EXAMPLE)
    svc = build_services(settings)
    try:
        base_judge = svc.judge
        svc.judge = _FlakyJudge(base_judge, fail_on="c3")
        counting = _CountingSource(svc.source)
        svc.source = counting
        with pytest.raises(RuntimeError, match="simulated crash"):
            run_claims(claim_set, settings, svc)
        first_searches = counting.searches
        assert first_searches > 0

        flaky = svc.judge
        flaky.fail_on = None
        report = run_claims(claim_set, settings, svc, resume=True)
    finally:
        svc.close()
    assert [c.id for c in report.claims] == ["c1", "c2", "c3", "c4", "c5"]
    # Only the crashed claim was judged again; no claim searched again.
    assert flaky.calls_by_claim["c3"] == 2
    assert all(n == 1 for cid, n in flaky.calls_by_claim.items() if cid != "c3")
    assert counting.searches == first_searches
