"""`retest run` through the live-API path, against loopback servers only."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.arxiv_server import ArxivServer, Reply, corpus_handler, scripted, serve_corpus
from tests.conftest import EXAMPLE, subprocess_env
from tools.arxiv.api import MAX_URL_CHARS
from tools.arxiv.snapshot import SnapshotSource

ONE_CLAIM = """\
claims:
  - id: lima
    text: "LIMA: 1,000 carefully curated examples suffice to align a strong pretrained model"
    date: 2023
    anchors: [2305.11206]
"""


def _run(args, env, timeout=600):
    return subprocess.run([sys.executable, "-m", "retest.cli", "run", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _verdicts(path):
    data = json.loads(path.read_text())
    return [(c["id"], c["verdict"], (c["source"] or {}).get("arxiv_id"), sorted({x["arxiv_id"] for x in c["citations"]}))
            for c in data["claims"]]


def test_api_source_gives_the_same_verdicts_as_the_snapshot(tmp_path):
    """Over the loopback corpus the API path judges as the snapshot path does, for at most two requests a
    claim (21 before issue 15): the anchors in one id_list request, each claim's link search and keyword
    plan in one combined query, every URL under the limit; a rerun asks arXiv nothing."""
    with serve_corpus(index_path=tmp_path / "srv.sqlite") as server:
        api_env = subprocess_env(tmp_path / "h-api", RETEST_SOURCE="api", RETEST_ARXIV_API_URL=server.url,
                                 RETEST_ARXIV_MIN_INTERVAL="0.05")
        a = _run([str(EXAMPLE), "--out", str(tmp_path / "api"), "-q"], api_env)
        assert a.returncode == 0, a.stderr[-2000:]
        first = list(server.requests)
        again = _run([str(EXAMPLE), "--out", str(tmp_path / "api2"), "-q", "--no-resume"], api_env)
        assert again.returncode == 0, again.stderr[-2000:]
        second = server.requests[len(first):]
        host = len(server.url) - len("/api/query")
    s = _run([str(EXAMPLE), "--out", str(tmp_path / "snap"), "-q"], subprocess_env(tmp_path / "h-snap"))
    assert s.returncode == 0, s.stderr[-2000:]
    assert _verdicts(tmp_path / "api" / "report.json") == _verdicts(tmp_path / "snap" / "report.json")
    report = json.loads((tmp_path / "api" / "report.json").read_text())
    assert report["stats"]["source"] == "api" and report["stats"]["arxiv_requests"] == len(first)
    n_claims = len(report["claims"])
    assert 0 < len(first) <= 2 * n_claims, [r.params for r in first]
    id_lists = [r for r in first if r.params.get("id_list")]
    assert len(id_lists) == 1
    assert sorted(id_lists[0].params["id_list"].split(",")) == ["2410.08020", "2410.11163", "2505.22907", "2510.22954"]
    assert all(host + r.url_chars <= MAX_URL_CHARS for r in first)
    assert second == []
    assert json.loads((tmp_path / "api2" / "report.json").read_text())["stats"]["arxiv_requests"] == 0
    assert _verdicts(tmp_path / "api2" / "report.json") == _verdicts(tmp_path / "api" / "report.json")


def test_faulty_api_run_completes_with_flags_politely(tmp_path):
    claims = tmp_path / "one.yaml"
    claims.write_text(ONE_CLAIM)
    source = SnapshotSource(index_path=tmp_path / "srv.sqlite")
    bad = [Reply(status=503), Reply(status=429, headers={"Retry-After": "1"}), Reply(body=b"Rate exceeded."),
           Reply(body=b"<feed><entry>broken"), Reply(hang=True)]
    with ArxivServer(scripted(bad, then=Reply(status=503))) as server:
        env = subprocess_env(tmp_path / "h", RETEST_SOURCE="api", RETEST_ARXIV_API_URL=server.url,
                             RETEST_ARXIV_TIMEOUT="2", RETEST_ARXIV_MAX_REQUESTS="7")
        r = _run([str(claims), "--out", str(tmp_path / "o"), "-q"], env)
        gaps = server.gaps()
    source.close()
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    data = json.loads((tmp_path / "o" / "report.json").read_text())
    codes = {f["code"] for c in data["claims"] for f in c["flags"]} | {f["code"] for f in data["flags"]}
    assert "search_incomplete" in codes
    assert data["claims"][0]["verdict"] == "unresolved"
    assert gaps and min(gaps) >= 2.99, gaps


def test_second_api_run_is_served_from_the_cache(tmp_path):
    claims = tmp_path / "one.yaml"
    claims.write_text(ONE_CLAIM)
    source = SnapshotSource(index_path=tmp_path / "srv.sqlite")
    with ArxivServer(corpus_handler(source)) as server:
        env = subprocess_env(tmp_path / "h", RETEST_SOURCE="api", RETEST_ARXIV_API_URL=server.url)
        first = _run([str(claims), "--out", str(tmp_path / "o1"), "-q"], env)
        assert first.returncode == 0, first.stderr[-2000:]
        n_first = len(server.requests)
        gaps = server.gaps()
        second = _run([str(claims), "--out", str(tmp_path / "o2"), "-q", "--no-resume"], env)
        assert second.returncode == 0, second.stderr[-2000:]
        n_second = len(server.requests) - n_first
    source.close()
    assert n_first > 0 and n_second == 0
    assert min(gaps, default=3.0) >= 2.99
    assert json.loads((tmp_path / "o2" / "report.json").read_text())["stats"]["arxiv_requests"] == 0


def test_api_faults_are_faults_not_missing_papers_and_a_rerun_retries_them(tmp_path):
    claims = tmp_path / "one.yaml"
    claims.write_text(ONE_CLAIM + "anchors:\n  - id: 2305.11206\n    year: 2023\n  - id: 2402.04833\n    year: 2024\n")
    bad = [Reply(status=503), Reply(status=429, headers={"Retry-After": "1"}), Reply(body=b"Rate exceeded."),
           Reply(body=b"<feed><entry>broken"), Reply(hang=True)]
    home = tmp_path / "h"
    with ArxivServer(scripted(bad, then=Reply(status=503))) as server:
        env = subprocess_env(home, RETEST_SOURCE="api", RETEST_ARXIV_API_URL=server.url, RETEST_ARXIV_TIMEOUT="2",
                             RETEST_ARXIV_MAX_REQUESTS="7", RETEST_ARXIV_MIN_INTERVAL="0.05")
        r = _run([str(claims), "--out", str(tmp_path / "o"), "-q"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    data = json.loads((tmp_path / "o" / "report.json").read_text())
    anchor_codes = {f["code"] for a in data["anchors"] for f in a["flags"]}
    claim_codes = {f["code"] for c in data["claims"] for f in c["flags"]}
    # the papers exist; the API failed: never "it may not exist"
    assert "anchor_not_found" not in anchor_codes and "anchor_unused" not in anchor_codes
    assert anchor_codes == {"search_incomplete"}
    assert "source_not_found" not in claim_codes and "search_incomplete" in claim_codes
    assert "search_incomplete" in {f["code"] for f in data["flags"]}
    # a rerun against an API that answers retries what failed and finds the papers
    source = SnapshotSource(index_path=tmp_path / "srv.sqlite")
    with ArxivServer(corpus_handler(source)) as server:
        env = subprocess_env(home, RETEST_SOURCE="api", RETEST_ARXIV_API_URL=server.url,
                             RETEST_ARXIV_MIN_INTERVAL="0.05")
        r2 = _run([str(claims), "--out", str(tmp_path / "o2"), "-q", "--no-resume"], env)
    source.close()
    assert r2.returncode == 0, r2.stderr[-2000:]
    data2 = json.loads((tmp_path / "o2" / "report.json").read_text())
    assert {a["arxiv_id"]: a["title_found"] is not None for a in data2["anchors"]} == {
        "2305.11206": True, "2402.04833": True}
    assert "search_incomplete" not in {f["code"] for a in data2["anchors"] for f in a["flags"]}
