"""The Chroma evidence store, embedded (PersistentClient) and against a real `chroma run` server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from chroma_server import PAPERS_JSONL, chroma_server, load_papers  # noqa: F401  (also: project root on sys.path)

from claims.models import Paper
from claims.text import is_verbatim, split_sentences
from tools.base import EvidenceStore
from tools.embeddings import MiniLMEmbedder
from tools.store import (
    ChromaEvidenceStore,
    StoreIdentityError,
    chunk_id,
)

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not PAPERS_JSONL.exists(), reason=f"{PAPERS_JSONL} is missing")


@pytest.fixture(scope="module")
def papers() -> list[Paper]:
    return load_papers()


@pytest.fixture(scope="module")
def some(papers: list[Paper]) -> list[Paper]:
    """A small, date-spread subset (every 6th paper) to keep embedding time down."""
    return papers[::6]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


StoreFactory = Callable[..., ChromaEvidenceStore]


@pytest.fixture(params=["embedded", "server"])
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch
) -> Iterator[StoreFactory]:
    """Opens stores on one place: a tmp RETEST_HOME, or a fresh collection on the session server."""
    monkeypatch.delenv("RETEST_CHROMA_URL", raising=False)
    opened: list[ChromaEvidenceStore] = []
    if mode == "server":
        server = request.getfixturevalue("chroma_server")
        collection = f"t-{uuid.uuid4().hex[:12]}"

        def factory(**kw) -> ChromaEvidenceStore:
            kw.setdefault("embedder", embedder)
            kw.setdefault("collection", collection)
            s = ChromaEvidenceStore(home=tmp_path / "unused", url=server.url, **kw)
            opened.append(s)
            return s
    else:

        def factory(**kw) -> ChromaEvidenceStore:
            kw.setdefault("embedder", embedder)
            s = ChromaEvidenceStore(home=tmp_path / "home", **kw)
            opened.append(s)
            return s

    yield factory
    for s in opened:
        s.close()


def test_protocol_and_layout(make_store: StoreFactory, mode: str, tmp_path: Path) -> None:
    store = make_store()
    assert isinstance(store, EvidenceStore)
    assert store.count() == 0 and store.papers() == set()
    if mode == "embedded":
        assert (tmp_path / "home" / "chroma").is_dir()
        assert (tmp_path / "home" / "chroma.lock").exists()
    else:
        assert not (tmp_path / "unused").exists()  # server mode writes nothing locally


def test_upsert_then_rerun_embeds_nothing(make_store: StoreFactory, some: list[Paper]) -> None:
    store = make_store()
    expected = sum(len(split_sentences(p.abstract)) for p in some)
    assert store.upsert(some) == expected
    assert store.count() == expected
    assert store.upsert(some) == 0
    assert store.count() == expected
    assert store.papers() == {p.arxiv_id for p in some}
    store.close()
    # a fresh store object on the same data embeds nothing either
    again = make_store()
    assert again.upsert(some) == 0
    assert again.count() == expected
    # partial overlap: only the new papers are embedded
    extra = Paper(arxiv_id="2401.00001", title="T", abstract="One sentence here. And a second one.")
    assert again.upsert([*some[:3], extra]) == 2


def test_sentences_and_metadata(make_store: StoreFactory, some: list[Paper]) -> None:
    store = make_store()
    store.upsert(some)
    p = some[0]
    chunks = store.get_paper_sentences(p.arxiv_id)
    assert [c.text for c in chunks] == split_sentences(p.abstract)
    assert [c.sentence_index for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert is_verbatim(c.text, p.abstract)
        assert c.title == p.title and c.categories == p.categories and c.version == p.version
        assert c.published == p.effective_published()
    assert store.get_paper_sentences("9999.99999") == []
    # the exact sentence comes back first, with cosine similarity ~1
    top = store.query(chunks[1].text, k=1)[0]
    assert (top.arxiv_id, top.sentence_index) == (p.arxiv_id, 1)
    assert top.score == pytest.approx(1.0, abs=1e-3)
    hits = store.query(chunks[1].text, k=5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_date_filters(make_store: StoreFactory, some: list[Paper]) -> None:
    store = make_store()
    store.upsert(some)
    dates = sorted({p.effective_published() for p in some})
    mid = dates[len(dates) // 2]
    q = "language model alignment"
    after = store.query(q, k=200, after=mid)
    before = store.query(q, k=200, before=mid)
    assert after and before
    assert all(c.published and c.published > mid for c in after)
    assert all(c.published and c.published <= mid for c in before)
    assert len(after) + len(before) == store.count()  # (after, before] is a partition
    # boundaries: `before` includes the day, `after` excludes it
    on_mid = {c.arxiv_id for c in before if c.published == mid}
    assert on_mid and not on_mid & {c.arxiv_id for c in after}
    window = store.query(q, k=200, after=mid - timedelta(days=1), before=mid)
    assert {c.arxiv_id for c in window} == on_mid
    assert store.query(q, k=10, after=date(2100, 1, 1)) == []


def test_arxiv_id_filter(make_store: StoreFactory, some: list[Paper]) -> None:
    store = make_store()
    store.upsert(some)
    wanted = [some[1].arxiv_id, "arXiv:" + some[4].arxiv_id + "v1"]  # normalised before filtering
    hits = store.query("results", k=100, arxiv_ids=wanted)
    assert {h.arxiv_id for h in hits} == {some[1].arxiv_id, some[4].arxiv_id}
    assert len(hits) == len(split_sentences(some[1].abstract)) + len(split_sentences(some[4].abstract))
    assert store.query("results", arxiv_ids=[]) == []
    late = max(some[1].effective_published(), some[4].effective_published())
    both = store.query("results", k=100, arxiv_ids=wanted, before=late - timedelta(days=1))
    assert all(h.published <= late - timedelta(days=1) for h in both)
    assert {h.arxiv_id for h in both} < {some[1].arxiv_id, some[4].arxiv_id}


def test_new_version_replaces_old(make_store: StoreFactory) -> None:
    store = make_store()
    v1 = Paper(arxiv_id="2402.00002", version=1, title="T", abstract="First claim. Second claim.")
    v2 = v1.model_copy(update={"version": 2, "abstract": "Revised claim. Second claim. Third claim."})
    assert store.upsert([v1]) == 2
    assert store.upsert([v2]) == 3
    chunks = store.get_paper_sentences("2402.00002")
    assert [c.version for c in chunks] == [2, 2, 2] and store.count() == 3
    assert store.upsert([v1]) == 0  # an older version never replaces a newer one
    assert store.upsert([v1, v2]) == 0
    assert chunks[0].published == date(2024, 2, 1)  # from the id: no published date given


class _OtherEmbedder:
    name = "some-other-model"
    dim = 384

    def embed(self, texts):
        return [[1.0] + [0.0] * 383 for _ in texts]


def test_identity_mismatch_refused(make_store: StoreFactory, some: list[Paper]) -> None:
    store = make_store()
    store.upsert(some[:2])
    store.close()
    with pytest.raises(StoreIdentityError, match="different embedder"):
        make_store(embedder=_OtherEmbedder())
    # reset() is the way out: it empties the collection under the new identity
    store = make_store()
    store.reset()
    assert store.count() == 0


def test_server_url_from_environment(chroma_server, monkeypatch, tmp_path: Path, embedder) -> None:  # noqa: F811
    monkeypatch.setenv("RETEST_CHROMA_URL", chroma_server.url)
    with ChromaEvidenceStore(home=tmp_path, collection=f"env-{uuid.uuid4().hex[:8]}", embedder=embedder) as s:
        assert s.url == chroma_server.url and s.location.startswith("Chroma server")
        assert s.upsert([Paper(arxiv_id="2403.00003", title="T", abstract="Only one sentence.")]) == 1
    assert not (tmp_path / "chroma.lock").exists()


# -- processes ---------------------------------------------------------------------------------------


def _python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code), *args]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(TESTS), env.get("PYTHONPATH", "")])
    env.pop("RETEST_CHROMA_URL", None)
    return env


_OPEN = """
import sys, time
from pathlib import Path
from tools.store import ChromaEvidenceStore, StoreLockedError
t = time.monotonic()
try:
    s = ChromaEvidenceStore(Path(sys.argv[1]), lock_timeout=float(sys.argv[2]))
except StoreLockedError as e:
    print("LOCKED", round(time.monotonic() - t, 2), e)
    sys.exit(3)
print("OPENED", round(time.monotonic() - t, 2), s.count())
s.close()
"""


def test_lock_contention_fails_clearly(tmp_path: Path, embedder, some: list[Paper]) -> None:
    home = tmp_path / "home"
    with ChromaEvidenceStore(home, embedder=embedder) as store:
        store.upsert(some[:2])
        r = subprocess.run(
            _python(_OPEN, str(home), "1"), env=_env(), capture_output=True, text=True, timeout=120
        )
        assert r.returncode == 3, r.stdout + r.stderr
        assert "another retest process is writing to" in r.stdout and str(home) in r.stdout
        assert "RETEST_CHROMA_URL" in r.stdout
        assert float(r.stdout.split()[1]) >= 0.9  # it waited before giving up
    # once released, another process opens it and sees the data
    r = subprocess.run(
        _python(_OPEN, str(home), "5"), env=_env(), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and r.stdout.startswith("OPENED"), r.stdout + r.stderr


def test_lock_contention_waits(tmp_path: Path, embedder) -> None:
    home = tmp_path / "home"
    store = ChromaEvidenceStore(home, embedder=embedder)
    proc = subprocess.Popen(_python(_OPEN, str(home), "60"), env=_env(), stdout=subprocess.PIPE, text=True)
    time.sleep(2.0)
    assert proc.poll() is None  # still waiting for the lock
    store.close()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.startswith("OPENED"), out
    assert float(out.split()[1]) >= 1.5


def test_two_stores_in_one_process_share_the_lock(tmp_path: Path, embedder) -> None:
    a = ChromaEvidenceStore(tmp_path, embedder=embedder, lock_timeout=1)
    b = ChromaEvidenceStore(tmp_path, embedder=embedder, lock_timeout=1)  # no self-deadlock
    b.close()
    assert a.upsert([Paper(arxiv_id="2404.00004", title="T", abstract="A sentence.")]) == 1
    a.close()


N_PAPERS = 60  # papers both writers share out

_WRITER = """
import sys, json
from tools.embeddings import MiniLMEmbedder
from tools.store import ChromaEvidenceStore
from chroma_server import load_papers
url, collection, start, step = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
papers = load_papers()[:%d]
mine = papers[start::step] + papers[::3]          # overlapping halves: both write papers[::3]
s = ChromaEvidenceStore(url=url, collection=collection, embedder=MiniLMEmbedder(threads=1))
n = 0
for i in range(0, len(mine), 4):                  # many small upserts, interleaving with the other writer
    n += s.upsert(mine[i:i + 4])
print(json.dumps({"embedded": n}))
s.close()
"""


def test_two_writer_processes_on_one_server(chroma_server, papers: list[Paper], embedder) -> None:  # noqa: F811
    collection = f"conc-{uuid.uuid4().hex[:8]}"
    procs = [
        subprocess.Popen(
            _python(_WRITER % N_PAPERS, chroma_server.url, collection, str(start), "2"),
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for start in (0, 1)
    ]
    outs = [p.communicate(timeout=280) for p in procs]
    embedded = 0
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
        embedded += json.loads(out.strip().splitlines()[-1])["embedded"]
    papers = papers[:N_PAPERS]
    with ChromaEvidenceStore(url=chroma_server.url, collection=collection, embedder=embedder) as s:
        expected_ids = {
            chunk_id(p.arxiv_id, p.version, i)
            for p in papers
            for i in range(len(split_sentences(p.abstract)))
        }
        assert embedded >= len(expected_ids)  # (both may embed a shared paper; upsert ids dedupe)
        assert s.count() == len(expected_ids)  # no duplicates, nothing missing
        assert s.papers() == {p.arxiv_id for p in papers}
        got = s._col.get(include=[])["ids"]
        assert len(got) == len(set(got)) and set(got) == expected_ids
        assert s.upsert(papers) == 0
        for p in papers[:5]:
            assert [c.text for c in s.get_paper_sentences(p.arxiv_id)] == split_sentences(p.abstract)
