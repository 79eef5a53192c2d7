"""`retest run` against a real Chroma server: two runs at once share one store without damage."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.chroma_server import chroma_server  # noqa: F401  (fixture)
from tests.conftest import EXAMPLE, subprocess_env
from tools.arxiv.snapshot import SnapshotSource
from tools.store import ChromaEvidenceStore, paper_chunks


def test_two_runs_at_once_against_one_server(chroma_server, tmp_path):  # noqa: F811
    procs = []
    for i in range(2):
        env = subprocess_env(tmp_path / f"home{i}", RETEST_CHROMA_URL=chroma_server.url)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "retest.cli", "run", str(EXAMPLE), "--out", str(tmp_path / f"out{i}"), "-q"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=900) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    reports = [json.loads((tmp_path / f"out{i}" / "report.json").read_text()) for i in range(2)]
    assert [c["verdict"] for c in reports[0]["claims"]] == [c["verdict"] for c in reports[1]["claims"]]

    store = ChromaEvidenceStore(url=chroma_server.url)
    try:
        ids = store.papers()
        snap = SnapshotSource(index_path=tmp_path / "idx.sqlite")
        papers = snap.lookup(sorted(ids))
        expected = sum(len(paper_chunks(p)) for p in papers.values())
        # every paper's sentences are there exactly once: no duplicates, nothing half-written
        assert store.count() >= expected > 0
        for p in papers.values():
            assert len(store.get_paper_sentences(p.arxiv_id)) == len(paper_chunks(p))
    finally:
        store.close()
