"""The offline arXiv snapshot: both line shapes, filters, lookup, estimated dates, rebuilds."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims.models import Paper
from tools.arxiv.snapshot import (
    SnapshotSource,
    default_snapshot_path,
    fts_expression,
    paper_from_record,
    paper_to_dump_record,
    query_terms,
)
from tools.base import SearchQuery, SearchSource

# Three real records in the public arXiv metadata dump shape, written by hand from the recorded
# API responses in tests/fixtures/atom/ (titles and abstracts wrapped as the dump wraps them;
# abstracts and author lists abridged).
DUMP_LINES = [
    {
        "id": "1111.2011",
        "submitter": "James Murray",
        "authors": "James M. Murray, Adrian Del Maestro, Zlatko Tesanovic",
        "title": "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large\n  Connectivity Limit",
        "comments": "8 pages, 3 figures. Published version",
        "journal-ref": "Phys. Rev. B 85, 115117 (2012)",
        "doi": "10.1103/PhysRevB.85.115117",
        "categories": "cond-mat.str-el cond-mat.stat-mech",
        "license": None,
        "abstract": "  Theoretical description of anisotropic systems, such as layered\nsuperconductors and "
        "coupled spin chains, is often a challenge due to the\ndifferent natures of interactions along "
        "different directions.\n",
        "versions": [
            {"version": "v1", "created": "Tue, 8 Nov 2011 18:48:36 GMT"},
            {"version": "v2", "created": "Mon, 2 Apr 2012 12:38:54 GMT"},
        ],
        "update_date": "2012-04-03",
        "authors_parsed": [["Murray", "James M.", ""], ["Del Maestro", "Adrian", ""], ["Tesanovic", "Zlatko", ""]],
    },
    {
        "id": "1605.08386",
        "submitter": "Caprice Stanley",
        "authors": "Caprice Stanley and Tobias Windisch",
        "title": "Heat-bath random walks with Markov bases",
        "comments": None,
        "journal-ref": None,
        "doi": None,
        "categories": "math.CO math.ST",
        "license": None,
        "abstract": "  Graphs on lattice points are studied whose edges come from a finite set of\nallowed moves "
        "of arbitrary length. We show that the diameter of these graphs on\nfibers of a fixed integer matrix "
        "can be bounded from above by a constant.\n",
        "versions": [{"version": "v1", "created": "Thu, 26 May 2016 17:59:46 GMT"}],
        "update_date": "2016-05-27",
        "authors_parsed": [["Stanley", "Caprice", ""], ["Windisch", "Tobias", ""]],
    },
    {
        "id": "1707.08567",
        "submitter": "Yanling Chen",
        "authors": "Kees A. Schouhamer Immink, Stan Baggen, Yanling Chen",
        "title": "Proceedings of Workshop AEW10: Concepts in Information Theory and\n  Communications",
        "comments": "44 pages",
        "journal-ref": None,
        "doi": None,
        "categories": "cs.IT math.IT",
        "license": None,
        "abstract": "The 10th Asia-Europe workshop in \"Concepts in Information Theory and\nCommunications\" "
        "AEW10 was held in Boppard, Germany on June 21-23, 2017.",
        "versions": [{"version": "v1", "created": "Thu, 27 Jul 2017 08:18:33 GMT"}],
        "update_date": "2017-07-28",
        "authors_parsed": None,
    },
]


def write_jsonl(path: Path, rows: list, gz: bool = False) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> SnapshotSource:
    return SnapshotSource(index_path=tmp_path_factory.mktemp("idx") / "bundled.sqlite")


def test_bundled_snapshot_is_complete_and_a_search_source(bundled):
    assert default_snapshot_path().exists()
    assert isinstance(bundled, SearchSource)
    assert bundled.name == "snapshot" and bundled.requests == 0
    assert bundled.size == 154 and bundled.skipped == []
    attribution = (default_snapshot_path().parent / "README.md").read_text()
    assert "arxiv.org/abs/" in attribution


def test_estimated_dates_from_id(bundled):
    got = bundled.lookup(["2406.18853", "2105.03023v3", "arXiv:2212.04089", "not-an-id", "9999.99999"])
    assert set(got) == {"2406.18853", "2105.03023", "2212.04089"}
    est = got["2406.18853"]
    assert est.published == date(2024, 6, 1) and est.published_estimated
    assert got["2105.03023"].published == date(2021, 5, 7) and not got["2105.03023"].published_estimated


def test_search_ranks_title_matches(bundled):
    r = bundled.search(SearchQuery(text="TIES-Merging: resolving interference", max_results=3))
    assert r.complete and r.papers[0].arxiv_id == "2306.01708"


def test_date_window_after_exclusive_before_inclusive(bundled):
    p = bundled.lookup(["2212.04089"])["2212.04089"]  # published 2022-12-08
    q = SearchQuery(text="task arithmetic editing models", max_results=200)
    ids = lambda **kw: {x.arxiv_id for x in bundled.search(q.model_copy(update=kw)).papers}  # noqa: E731
    assert p.arxiv_id in ids(before=p.published)
    assert p.arxiv_id not in ids(after=p.published)
    assert p.arxiv_id in ids(after=date(2022, 12, 7), before=date(2022, 12, 8))
    for x in bundled.search(q.model_copy(update={"after": date(2025, 1, 1)})).papers:
        assert x.effective_published() > date(2025, 1, 1)


def test_category_filter_and_fields(bundled):
    r = bundled.search(SearchQuery(text="alignment", categories=["cs.AI"], max_results=200))
    assert r.papers and all("cs.AI" in p.categories for p in r.papers)
    ti = bundled.search(SearchQuery(text="merging", field="ti", max_results=200)).papers
    assert ti and all("merg" in p.title.lower() for p in ti)
    assert len(bundled.search(SearchQuery(text="merging", field="abs", max_results=200)).papers) >= len(ti) - 5


def test_filter_only_and_empty_queries(bundled):
    r = bundled.search(SearchQuery(text="", categories=["cs.CL"], after=date(2026, 1, 1), max_results=5))
    assert 0 < len(r.papers) <= 5
    dates = [p.effective_published() for p in r.papers]
    assert dates == sorted(dates, reverse=True) and all(d > date(2026, 1, 1) for d in dates)
    assert bundled.search(SearchQuery(text="!!! ???")).papers == []


def test_dump_shape_parsed(tmp_path):
    src = SnapshotSource(write_jsonl(tmp_path / "dump.jsonl", DUMP_LINES), index_path=tmp_path / "i.sqlite")
    got = src.lookup(["1111.2011", "1605.08386", "1707.08567"])
    q = got["1111.2011"]
    assert q.title == "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    assert "\n" not in q.abstract and q.abstract.startswith("Theoretical description")
    assert q.version == 2 and q.published == date(2011, 11, 8) and q.updated == date(2012, 4, 2)
    assert q.authors == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]
    assert q.categories == ["cond-mat.str-el", "cond-mat.stat-mech"] and q.primary_category == "cond-mat.str-el"
    assert got["1605.08386"].authors == ["Caprice Stanley", "Tobias Windisch"]  # from authors_parsed
    assert got["1707.08567"].authors == ["Kees A. Schouhamer Immink", "Stan Baggen", "Yanling Chen"]
    assert not any(p.published_estimated for p in got.values())
    hits = src.search(SearchQuery(text="bethe lattice quantum", categories=["cond-mat.str-el"]))
    assert [p.arxiv_id for p in hits.papers] == ["1111.2011"]


def test_gzip_and_mixed_shapes(tmp_path):
    retest_line = default_snapshot_path().read_text().splitlines()[0]
    path = write_jsonl(tmp_path / "mixed.jsonl.gz", [retest_line, *DUMP_LINES], gz=True)
    src = SnapshotSource(path, index_path=tmp_path / "i.sqlite")
    assert src.size == 4 and set(src.lookup(["2105.03023", "1605.08386"])) == {"2105.03023", "1605.08386"}


def test_bad_lines_are_skipped_with_file_and_line(tmp_path, caplog):
    rows = [DUMP_LINES[0], "{not json", {"id": "1605.08386"}, {"id": "nonsense!", "title": "x"}, "[1, 2]", DUMP_LINES[1]]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    src = SnapshotSource(path, index_path=tmp_path / "i.sqlite")
    assert src.size == 2
    assert len(src.skipped) == 4
    assert [s.split(":")[1] for s in src.skipped] == ["2", "3", "4", "5"]
    assert all(s.startswith(str(path)) for s in src.skipped)
    assert "skipped 4 bad line(s)" in caplog.text
    # the skipped list survives a reopen without rebuild
    again = SnapshotSource(path, index_path=tmp_path / "i.sqlite")
    assert not again.rebuilt and again.skipped == src.skipped


def test_rebuild_only_when_the_file_changes(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", DUMP_LINES[:2])
    idx = tmp_path / "i.sqlite"
    assert SnapshotSource(path, index_path=idx).rebuilt
    assert not SnapshotSource(path, index_path=idx).rebuilt
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 10_000_000_000))  # touched, same bytes
    s = SnapshotSource(path, index_path=idx)
    assert not s.rebuilt and s.size == 2
    write_jsonl(path, DUMP_LINES)  # changed
    s = SnapshotSource(path, index_path=idx)
    assert s.rebuilt and s.size == 3 and "1707.08567" in s.lookup(["1707.08567"])
    # same size and mtime but different bytes is not caught without hashing; a corrupt index is
    with sqlite3.connect(idx) as con:
        con.execute("UPDATE meta SET value='{}' WHERE key='fingerprint'")
    assert SnapshotSource(path, index_path=idx).rebuilt


def test_missing_snapshot_file_raises_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="snapshot not found"):
        SnapshotSource(tmp_path / "absent.jsonl", index_path=tmp_path / "i.sqlite")


def test_query_sanitising():
    assert query_terms("The effect of RLHF on the diversity!") == ["effect", "rlhf", "diversity"]
    assert query_terms("the of and") == ["the", "of", "and"]  # only stopwords: keep them
    assert fts_expression("NEAR(a b) OR \"x*\"", "ti") == '{title} : ("near" OR "b" OR "x")'
    assert fts_expression("...", "all") is None


# --------------------------------------------------------------------------- properties

_SHARED: dict[str, SnapshotSource] = {}


def _shared_source(tmp: Path) -> SnapshotSource:
    if "s" not in _SHARED:
        _SHARED["s"] = SnapshotSource(index_path=tmp / "prop.sqlite")
    return _SHARED["s"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(max_size=200),
    field=st.sampled_from(["all", "ti", "abs"]),
    cats=st.lists(st.text(max_size=12), max_size=3),
)
def test_arbitrary_queries_never_raise(tmp_path_factory, text, field, cats):
    src = _shared_source(tmp_path_factory.getbasetemp())
    r = src.search(SearchQuery(text=text, field=field, categories=cats, max_results=5))
    assert r.complete and r.flags == []


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéü", min_size=1, max_size=10)
_words = st.lists(_word, min_size=1, max_size=12).map(" ".join)


@st.composite
def papers(draw) -> Paper:
    yymm = draw(st.sampled_from(["0704", "1001", "1512", "2005", "2312", "2601"]))
    num = draw(st.integers(min_value=1, max_value=99999))
    published = draw(st.none() | st.dates(min_value=date(2007, 4, 1), max_value=date(2030, 12, 31)))
    version = draw(st.integers(min_value=1, max_value=4))
    updated = None
    if version > 1 and published is not None:
        updated = draw(st.dates(min_value=published, max_value=date(2031, 12, 31)))
        updated = None if updated == published else updated
    if published is None:
        version = 1
    cats = draw(st.lists(st.sampled_from(["cs.CL", "cs.LG", "stat.ML", "math.PR", "hep-th"]), max_size=3, unique=True))
    arxiv_id = f"{yymm}.{num:05d}" if yymm >= "1501" else f"{yymm}.{num % 10000:04d}"
    estimated = published is None
    return Paper(
        arxiv_id=arxiv_id,
        version=version,
        title=draw(_words),
        abstract=draw(_words),
        authors=draw(st.lists(st.tuples(_word, _word).map(" ".join), max_size=5)),
        published=published or date(2000 + int(yymm[:2]), int(yymm[2:]), 1),
        updated=updated,
        categories=cats,
        primary_category=cats[0] if cats else None,
        published_estimated=estimated,
    )


@settings(max_examples=200, deadline=None)
@given(paper=papers())
def test_dump_shape_round_trips(paper):
    record = paper_to_dump_record(paper if not paper.published_estimated else paper.model_copy(update={"published": None}))
    again = paper_from_record(json.loads(json.dumps(record)))
    assert again == paper


def test_copy_of_bundled_file_indexes_identically(tmp_path, bundled):
    copy = tmp_path / "copy.jsonl"
    shutil.copy(default_snapshot_path(), copy)
    other = SnapshotSource(copy, index_path=tmp_path / "i.sqlite")
    q = SearchQuery(text="output diversity of aligned language models", max_results=20)
    assert [p.arxiv_id for p in other.search(q).papers] == [p.arxiv_id for p in bundled.search(q).papers]
