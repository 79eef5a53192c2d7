"""A rerun with nothing new recomputes nothing (issue 15, part 3): the paper-stance readings and the
query-side vectors are cached under RETEST_HOME/cache (tools/result_cache.py); a warm rerun's report
equals the cold one's, and a changed claim or a changed paper is computed afresh."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from agent.configuration import Settings
from agent.runner import run_claims
from agent.services import build_services
from claims.models import Paper, Report
from claims.readers import read_claims
from tests.conftest import AS_OF, EXAMPLE, subprocess_env
from tools import result_cache
from tools.base import PaperStance
from tools.embeddings import MiniLMEmbedder
from tools.result_cache import CachedEmbedder, CachedPaperVerifier, atomic_write
from tools.verifier.paper_model import OnnxPaperVerifier

# ---------------------------------------------------------------------------------------------
# The caches on their own


class FakeModel:
    """A stand-in stance model that counts what it reads; its 'model file' can be rewritten."""

    name = "fake-stance v1"
    batch_size = 8

    def __init__(self, model_path: Path):
        self.model_path = model_path
        self.tokenizer_path = None
        self.read: list[tuple[str, list[str]]] = []

    def judge_papers(self, claim, papers):
        self.read.append((claim, [p.arxiv_id for p in papers]))
        out = []
        for p in papers:
            h = (hash((claim, p.title, p.abstract)) % 1000) / 2000
            out.append(PaperStance(supports=h, contradicts=0.25, neither=0.75 - h, rationale=0,
                                   sentence_scores=[0.1234567891011]))
        return out


def paper(i: str, abstract: str = "We find that it holds. It does.") -> Paper:
    return Paper(arxiv_id=i, title=f"Paper {i}", abstract=abstract, published=date(2024, 1, 1))


@pytest.fixture
def fake(tmp_path):
    f = tmp_path / "model.onnx"
    f.write_bytes(b"weights v1")
    return FakeModel(f)


def test_a_reading_is_cached_and_any_changed_input_is_read_again(tmp_path, fake, monkeypatch):
    cache = CachedPaperVerifier(fake, tmp_path / "cache")
    papers = [paper("a"), paper("b")]
    first = cache.judge_papers("Claim one.", papers)
    again = CachedPaperVerifier(fake, tmp_path / "cache").judge_papers("Claim one.", papers)  # a new process
    assert again == first  # exactly: floats survive the round trip
    assert len(fake.read) == 1 and cache.name == fake.name

    cache.judge_papers("Claim one, reworded.", papers)  # a changed claim
    cache.judge_papers("Claim one.", [paper("a"), paper("b", "We find that it fails.")])  # a changed abstract
    cache.judge_papers("Claim one.", [paper("a"), paper("b"), paper("c")])  # another set of papers
    assert len(fake.read) == 4
    fake.model_path.write_bytes(b"weights v2, retrained")  # a retrained model
    cache.judge_papers("Claim one.", papers)
    assert len(fake.read) == 5
    monkeypatch.setattr(result_cache, "_source_digest", lambda module: "edited")  # the input encoding's code
    cache.judge_papers("Claim one.", papers)
    assert len(fake.read) == 6
    assert cache.judge_papers("Claim one.", []) == []


def test_a_damaged_entry_is_a_miss_and_is_written_again(tmp_path, fake):
    cache = CachedPaperVerifier(fake, tmp_path / "cache")
    papers = [paper("a")]
    first = cache.judge_papers("Claim.", papers)
    (entry,) = (tmp_path / "cache").rglob("*.json")
    entry.write_text(entry.read_text()[:40])  # what a torn write would leave
    assert cache.judge_papers("Claim.", papers) == first and len(fake.read) == 2
    assert json.loads(entry.read_text())["key"] == cache.key("Claim.", papers)  # rewritten whole
    assert cache.judge_papers("Claim.", papers) == first and len(fake.read) == 2


def test_a_crash_while_writing_leaves_the_old_entry_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "ab" / "entry.json"
    atomic_write(target, b"old")

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["entry.json"]


class CountingEmbedder:
    name, dim = "counting", 4

    def __init__(self):
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts += texts
        return [[float(len(t)), 1.0, 0.0, float(i)] for i, t in enumerate(texts)]


def test_query_vectors_are_cached_per_text(tmp_path):
    inner = CountingEmbedder()
    emb = CachedEmbedder(inner, tmp_path / "vec")
    a = emb.embed_array(["one", "two", "one"])
    assert inner.texts == ["one", "two"]
    b = CachedEmbedder(inner, tmp_path / "vec").embed_array(["two", "one"])  # a new process: from disk
    assert inner.texts == ["one", "two"]
    assert np.array_equal(b, a[[1, 0]])
    for f in (tmp_path / "vec").rglob("*.vec"):
        raw = f.read_bytes()
        f.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))  # damaged: the checksum no longer matches
    CachedEmbedder(inner, tmp_path / "vec").embed(["one"])
    assert inner.texts == ["one", "two", "one"]


def test_cached_vectors_are_the_models_own():
    """The embedder gives the same vector for a text whatever it is batched with, so a per-text cache
    cannot change a result (the stance model is not batch-independent: it is cached per call)."""
    model = MiniLMEmbedder()
    texts = ["LIMA: 1,000 curated examples suffice for alignment.", "A much longer sentence about scaling " * 8]
    together = model.embed_array(texts)
    assert np.array_equal(together[0], model.embed_array(texts[:1])[0])


# ---------------------------------------------------------------------------------------------
# End to end: the example, cold then warm, on one home


@pytest.fixture(scope="module")
def spied(tmp_path_factory):
    """Spies on the two models (every reading and every embedded text), for the whole module."""
    mp = pytest.MonkeyPatch()
    log = {"predict": [], "embedded": []}
    predict, embed_array = OnnxPaperVerifier.predict, MiniLMEmbedder.embed_array

    def spy_predict(self, claims, titles, sentences):
        log["predict"].append((claims[0] if claims else None, list(titles), [" ".join(s) for s in sentences]))
        return predict(self, claims, titles, sentences)

    def spy_embed(self, texts):
        log["embedded"].extend(texts)
        return embed_array(self, texts)

    mp.setattr(OnnxPaperVerifier, "predict", spy_predict)
    mp.setattr(MiniLMEmbedder, "embed_array", spy_embed)
    yield log
    mp.undo()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("rerun-home")


def settings_for(home: Path) -> Settings:
    return Settings(home=home, source="snapshot", judge="offline", as_of=date.fromisoformat(AS_OF))


def run(home: Path, claim_set, source_wrapper=None):
    settings = settings_for(home)
    svc = build_services(settings)
    try:
        if source_wrapper is not None:
            svc.source = source_wrapper(svc.source)
        return run_claims(claim_set, settings, svc, resume=False)
    finally:
        svc.close()


def comparable(report) -> dict:
    d = report.model_dump(mode="json")
    d.pop("generated_at")
    for k in ("elapsed_s", "embedded_chunks"):
        d["stats"].pop(k)
    return d


@pytest.fixture(scope="module")
def cold(spied, home):
    spied["predict"].clear()
    spied["embedded"].clear()
    report = run(home, read_claims(EXAMPLE))
    return report, list(spied["predict"]), list(spied["embedded"])


def test_a_warm_rerun_gives_the_same_report_and_recomputes_nothing(spied, home, cold):
    cold_report, cold_reads, cold_embedded = cold
    assert cold_reads and cold_embedded and cold_report.stats.embedded_chunks > 0
    spied["predict"].clear()
    spied["embedded"].clear()
    warm = run(home, read_claims(EXAMPLE))
    assert comparable(warm) == comparable(cold_report)
    assert warm.stats.embedded_chunks == 0
    assert spied["predict"] == []  # no paper read again
    assert spied["embedded"] == []  # no claim, clause, candidate or sentence embedded again


def test_a_changed_claim_is_read_again_and_only_it(spied, home, cold):
    cs = read_claims(EXAMPLE)
    old = cs.claims[0].text
    cs.claims[0].text = old.rstrip(".") + " in practice."
    spied["predict"].clear()
    spied["embedded"].clear()
    report = run(home, cs)
    assert {c for c, _, _ in spied["predict"]} == {cs.claims[0].text}
    assert cs.claims[0].text in spied["embedded"] and old not in spied["embedded"]
    assert comparable(report)["claims"][1:] == comparable(cold[0])["claims"][1:]


def test_a_changed_paper_is_read_again_by_the_claims_that_read_it(spied, home, cold):
    cold_report, cold_reads, _ = cold
    # a paper the judge read for some claims but not for all gets a revised abstract (a sentence added
    # after the first 600 characters, so the link step's text for it is unchanged)
    readers_of: dict[str, set[str]] = {}
    for claim, titles, abstracts in cold_reads:
        for t, a in zip(titles, abstracts, strict=True):
            if len(a) > 700:
                readers_of.setdefault(t, set()).add(claim)
    n_claims = len({c for c, _, _ in cold_reads})
    title = next(t for t, r in sorted(readers_of.items()) if len(r) < n_claims)
    added = " We revisit this result with new experiments."

    class Revised:
        def __init__(self, inner):
            self.inner, self.name, self.requests = inner, inner.name, 0

        def _fix(self, p):
            return p.model_copy(update={"abstract": p.abstract + added}) if p.title == title else p

        def search(self, q):
            res = self.inner.search(q)
            return res.model_copy(update={"papers": [self._fix(p) for p in res.papers]})

        def lookup(self, ids):
            return {k: self._fix(p) for k, p in self.inner.lookup(ids).items()}

        def close(self):
            self.inner.close()

    spied["predict"].clear()
    run(home, read_claims(EXAMPLE), source_wrapper=Revised)
    reads = spied["predict"]
    assert {c for c, _, _ in reads} == readers_of[title]  # exactly the claims that read it, and no other
    for _, titles, abstracts in reads:
        assert abstracts[titles.index(title)].endswith(added.strip())


def test_a_warm_rerun_loads_neither_model(home, cold, tmp_path):
    """Everything the models would compute is cached, so the rerun's process never imports onnxruntime
    (nor the tokenizers): the two ONNX sessions are loaded on first use only."""
    code = ("import sys\n"
            "from retest.cli import main\n"
            f"sys.argv = ['retest', 'run', {str(EXAMPLE)!r}, '--out', {str(tmp_path / 'out')!r}, '-q', '--no-resume',"
            " '--judge', 'offline']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('LOADED', sorted(m for m in ('onnxruntime', 'tokenizers') if m in sys.modules))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                       env=subprocess_env(home))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "LOADED []" in r.stdout
    warm = Report.model_validate_json((tmp_path / "out" / "report.json").read_text())
    assert comparable(warm) == comparable(cold[0])
