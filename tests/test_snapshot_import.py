"""`retest snapshot import` / `info`: the dump's shape, filters, malformed records, resume after kill -9,
which index a run searches, and term selection on a large index."""
from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from filelock import FileLock
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from retest.cli import app as cli_app
from tests.conftest import ROOT, subprocess_env
from tools.arxiv import snapshot as snap
from tools.arxiv.select import make_source
from tools.arxiv.snapshot import SnapshotIndexError, SnapshotSource, paper_from_record, paper_to_dump_record
from tools.arxiv.snapshot_import import (
    Filters,
    IndexWriter,
    MalformedRecord,
    default_import_path,
    import_snapshot,
    partial_path,
    read_meta,
)
from tools.base import SearchQuery

WORDS = ("alignment preference model language reward policy diffusion graph quantum lattice spectral "
         "sparse kernel tensor manifold retrieval benchmark curriculum tokenizer attention").split()
CATS = ["cs.CL", "cs.LG", "math.PR", "hep-th", "quant-ph", "math.CO"]


def dump_record(i: int, *, day: date | None = None, words: int = 60) -> dict:
    """A dump-shape record (the public arXiv metadata dump's fields), deterministic in i."""
    d = day or date(2012, 1, 1) + timedelta(days=(i * 37) % 5000)
    yymm = f"{d.year % 100:02d}{d.month:02d}"
    arxiv_id = f"{yymm}.{i:05d}" if d.year >= 2015 else f"{yymm}.{i % 10000:04d}"
    text = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(words))
    cats = [CATS[i % len(CATS)], CATS[(i // 3) % len(CATS)]]
    versions = [{"version": "v1", "created": f"{d:%a}, {d.day} {d:%b} {d.year} 10:00:00 GMT"}]
    if i % 4 == 0:
        v2 = d + timedelta(days=40)
        versions.append({"version": "v2", "created": f"{v2:%a}, {v2.day} {v2:%b} {v2.year} 09:00:00 GMT"})
    return {
        "id": arxiv_id, "submitter": "A. Author", "authors": f"Ann Author{i}, Bo Writer and Cy Third",
        "title": f"Record {i} on\n  {WORDS[i % len(WORDS)]} uniqword{i}", "comments": None, "journal-ref": None,
        "doi": None, "report-no": None, "categories": " ".join(dict.fromkeys(cats)), "license": None,
        "abstract": f"  {text} marker{i}.\n", "versions": versions, "update_date": versions[-1]["created"][5:16],
        "authors_parsed": [[f"Author{i}", "Ann", ""], ["Writer", "Bo", ""], ["Third", "Cy", "Jr"]] if i % 2 else None,
    }


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


APP = cli_app


def cli(*args: str):
    return CliRunner().invoke(APP, list(args))


def index_rows(index: Path) -> tuple[int, int, list[str]]:
    con = sqlite3.connect(index)
    try:
        n, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM papers").fetchone()
        con.execute("INSERT INTO fts(fts, rank) VALUES('integrity-check', 1)")  # FTS index == papers
        ids = [r[0] for r in con.execute("SELECT id FROM papers ORDER BY id")]
    finally:
        con.close()
    return n, distinct, ids


# --------------------------------------------------------------------------- the dump's shape


def test_dump_shape_is_stored_as_the_parser_reads_it(tmp_path):
    rows = [dump_record(i) for i in range(40)]
    src_file = write_lines(tmp_path / "dump.jsonl", rows)
    res = import_snapshot(src_file, tmp_path / "idx.sqlite")
    assert res.stats["records"] == 40 and res.stats["skipped"] == 0
    src = SnapshotSource(tmp_path / "idx.sqlite")
    got = src.lookup([r["id"] for r in rows])
    for r in rows:  # the importer's fast path stores exactly what paper_from_record builds
        assert got[r["id"]] == paper_from_record(r)
    p0, p1 = got[rows[0]["id"]], got[rows[1]["id"]]
    assert p0.version == 2 and p0.published == date(2012, 1, 1) and p0.updated == date(2012, 2, 10)
    assert not p0.published_estimated and p0.title == "Record 0 on alignment uniqword0"
    assert p0.authors == ["Ann Author0", "Bo Writer", "Cy Third"]  # the authors string
    assert p1.authors == ["Ann Author1", "Bo Writer", "Cy Third Jr"]  # authors_parsed
    assert p1.categories == ["cs.LG", "cs.CL"] and p1.primary_category == "cs.LG"
    assert "\n" not in p0.abstract and p0.abstract.startswith("alignment")
    hits = src.search(SearchQuery(text="uniqword7 benchmark", max_results=5)).papers
    assert hits[0].arxiv_id == rows[7]["id"]
    assert hits[0] == got[rows[7]["id"]]  # stored with the line's whitespace, read back normalised either way


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(1991, 1, 1), max_value=date(2030, 12, 31)), st.integers(0, 23),
       st.sampled_from(["GMT", "+0000", "-0500", "+1100"]))
def test_version_dates_read_as_the_email_date_parser_reads_them(d, hour, tz):
    """The dump's `created` read directly, each day's date kept after its first reading: the same date
    as Python's e-mail date parser gives, whatever the time and zone, first time or again."""
    from email.utils import parsedate_to_datetime

    from tools.arxiv.snapshot_parse import _parse_version_date

    text = f"{d:%a}, {d.day} {d:%b} {d.year} {hour:02d}:17:05 {tz}"
    assert _parse_version_date(text) == parsedate_to_datetime(text).date() == d
    assert _parse_version_date(text) == d
    assert _parse_version_date(f"{d:%a}, {d.day} {d:%b} {d.year} 23:59:59 GMT") == d


_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=9)


@settings(max_examples=20, deadline=None)
@given(papers=st.lists(st.tuples(st.integers(0, 99_999), st.dates(date(2007, 4, 1), date(2026, 12, 31)),
                                 st.lists(_word, min_size=1, max_size=8), st.integers(1, 3),
                                 st.lists(st.sampled_from(CATS), max_size=3, unique=True)),
                       min_size=1, max_size=12, unique_by=lambda t: t[0]))
def test_papers_round_trip_through_the_dump_shape_and_the_import(tmp_path_factory, papers):
    from claims.models import Paper

    made = []
    for num, d, words, version, cats in papers:
        made.append(Paper(arxiv_id=f"{d.year % 100:02d}{d.month:02d}.{num:05d}", version=version, title=" ".join(words),
                          abstract=" ".join(reversed(words)), authors=[f"{w.title()} {w.title()}" for w in words[:3]],
                          published=d, updated=d + timedelta(days=3) if version > 1 else None, categories=cats,
                          primary_category=cats[0] if cats else None))
    tmp = tmp_path_factory.mktemp("rt")
    write_lines(tmp / "d.jsonl", [paper_to_dump_record(p) for p in made])
    import_snapshot(tmp / "d.jsonl", tmp / "i.sqlite")
    got = SnapshotSource(tmp / "i.sqlite").lookup([p.arxiv_id for p in made])
    assert {p.arxiv_id: p for p in made} == got


# --------------------------------------------------------------------------- filters and info


def test_since_and_category_filters(tmp_path):
    rows = [dump_record(i) for i in range(120)]
    f = write_lines(tmp_path / "dump.jsonl", rows)
    since = import_snapshot(f, tmp_path / "since.sqlite", Filters(since="2020-01"))
    kept = [r for r in rows if paper_from_record(r).published >= date(2020, 1, 1)]
    assert 0 < since.stats["records"] == len(kept) and since.stats["filtered"] == 120 - len(kept)
    assert SnapshotSource(tmp_path / "since.sqlite").date_range()[0] >= date(2020, 1, 1)
    cat = import_snapshot(f, tmp_path / "cat.sqlite", Filters(categories=("cs.CL", "math")))
    src = SnapshotSource(tmp_path / "cat.sqlite")
    expect = {r["id"] for r in rows if any(c == "cs.CL" or c.startswith("math.") for c in r["categories"].split())}
    assert {p.arxiv_id for p in src.all_papers()} == expect and cat.stats["records"] == len(expect)
    assert set(cat.stats["cats"]) >= {"cs.CL", "math.PR", "math.CO"}
    with pytest.raises(ValueError, match="YYYY-MM"):
        Filters(since="2020")
    r = cli("snapshot", "import", str(f), "--since", "2020-13")
    assert r.exit_code == 2 and "YYYY-MM" in r.stderr


def test_import_and_info_commands(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("RETEST_HOME", str(home))
    f = write_lines(tmp_path / "arxiv-metadata.json", [dump_record(i) for i in range(50)])
    r = cli("snapshot", "import", str(f), "--category", "cs.CL,cs.LG", "--category", "hep-th")
    assert r.exit_code == 0, r.output
    index = default_import_path(f, home / "snapshots")
    assert index.exists() and not partial_path(index).exists()
    assert "imported" in r.stdout and str(index) in r.stdout and f"RETEST_SNAPSHOT={f}" in r.stdout
    n = read_meta(index)["stats"]["records"]
    info = cli("snapshot", "info", str(f))
    assert info.exit_code == 0, info.output
    out = info.stdout
    assert f"{n:,}" in out and str(index) in out and str(f) in out and "unchanged" in out
    assert "2012-01-01 …" in out and "cs.CL" in out and "on disk" in out and "a record" in out
    assert "categories cs.CL, cs.LG, hep-th" in out
    js = json.loads(cli("snapshot", "info", str(f), "--json").stdout)
    assert js["stats"]["records"] == n and js["kind"] == "import" and js["size_bytes"] > 0
    again = cli("snapshot", "import", str(f), "--category", "cs.CL,cs.LG", "--category", "hep-th")
    assert again.exit_code == 0 and "already imported" in again.stdout
    # different filters: starts over and says why
    other = cli("snapshot", "import", str(f))
    assert other.exit_code == 0 and "filters differ" in other.stderr
    assert read_meta(index)["stats"]["records"] == 50
    # the default target: what a run searches (the bundled snapshot, indexed on first use)
    bundled = cli("snapshot", "info")
    assert bundled.exit_code == 0 and "154 (from 154 lines" in bundled.stdout


def test_a_big_file_is_not_indexed_by_info(tmp_path, monkeypatch):
    monkeypatch.setattr(snap, "SMALL_FILE", 100)
    f = write_lines(tmp_path / "big.jsonl", [dump_record(i) for i in range(5)])
    r = cli("snapshot", "info", str(f))
    assert r.exit_code == 1 and "retest snapshot import" in r.stdout


# --------------------------------------------------------------------------- malformed records


BAD_ROWS = [dump_record(1), "{not json", {"id": "1605.08386"}, dump_record(2), "[1, 2]",
            {**dump_record(3), "versions": "v1"}, {"id": "nonsense!", "title": "x"}, dump_record(4)]


def test_malformed_records_are_skipped_counted_and_named(tmp_path):
    f = write_lines(tmp_path / "bad.jsonl", BAD_ROWS)
    r = cli("snapshot", "import", str(f), "--index", str(tmp_path / "i.sqlite"))
    assert r.exit_code == 0, r.output
    warned = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert [w.split(":")[2] for w in warned] == ["2", "3", "5", "6", "7"]
    assert all(w.startswith(f"warning: {f}:") and w.endswith("skipped") for w in warned)
    assert "5 malformed skipped" in r.stdout
    src = SnapshotSource(tmp_path / "i.sqlite")
    assert src.size == 3 and src.skipped_total == 5 and [s.split(":")[1] for s in src.skipped] == ["2", "3", "5", "6", "7"]
    info = cli("snapshot", "info", str(tmp_path / "i.sqlite"))
    assert "5 malformed" in info.stdout and f"{f}:2:" in info.stdout


def test_strict_stops_at_the_first_malformed_record_and_a_rerun_resumes_there(tmp_path):
    f = write_lines(tmp_path / "bad.jsonl", BAD_ROWS)
    idx = tmp_path / "i.sqlite"
    r = cli("snapshot", "import", str(f), "--index", str(idx), "--strict")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"error: {f}:2: ") and len(r.stderr.strip().splitlines()) == 1
    assert not idx.exists() and read_meta(partial_path(idx))["import"]["imported"] == 1  # line 1 kept
    info = cli("snapshot", "info", str(partial_path(idx)))
    assert info.exit_code == 1 and "(unfinished import)" in info.stdout and "1 records, up to line 1" in info.stdout
    r2 = cli("snapshot", "import", str(f), "--index", str(idx))
    assert r2.exit_code == 0 and "resuming the interrupted import at line 2" in r2.stderr
    assert index_rows(idx)[:2] == (3, 3)


# --------------------------------------------------------------------------- resume after kill -9


def _kill_mid_import(cmd: list[str], env: dict, partial: Path, at_least: int) -> None:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"the import finished before it could be killed: {proc.stderr.read().decode()[-500:]}")
            st = read_meta(partial).get("import") if partial.exists() else None  # {} while it commits
            if st and st.get("imported", 0) >= at_least:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return
            time.sleep(0.005)
        pytest.fail("the import never got going")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_an_import_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path):
    rows = [dump_record(i, words=120) for i in range(6000)]
    rows[777] = dict(rows[100])  # a duplicate id: the later line wins, counted once
    f = write_lines(tmp_path / "dump.jsonl", rows)
    idx = tmp_path / "killed.sqlite"
    env = subprocess_env(tmp_path / "home")
    cmd = [sys.executable, "-m", "retest.cli", "snapshot", "import", str(f), "--index", str(idx), "--batch", "250",
           "--quiet"]
    _kill_mid_import(cmd, env, partial_path(idx), at_least=1000)
    assert not idx.exists() and partial_path(idx).exists()
    done_before = read_meta(partial_path(idx), recover=True)["import"]  # rolls back the killed transaction
    assert 1000 <= done_before["imported"] < 5999
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resuming the interrupted import at line {done_before['line'] + 1:,}" in r.stderr
    assert not partial_path(idx).exists()
    n, distinct, ids = index_rows(idx)
    assert n == distinct == 5999 and ids == sorted({r["id"] for r in rows})
    # the same as an import that was never interrupted
    clean = import_snapshot(f, tmp_path / "clean.sqlite")
    killed = read_meta(idx)["stats"]
    for key in ("records", "lines", "skipped", "filtered", "replaced", "months", "cats", "d_min", "d_max", "estimated"):
        assert killed[key] == clean.stats[key], key
    assert killed["runs"] == 2
    q = SearchQuery(text="uniqword4321 spectral", max_results=10)
    assert SnapshotSource(idx).search(q).papers == SnapshotSource(tmp_path / "clean.sqlite").search(q).papers


def test_an_interrupted_finish_is_completed_by_the_rerun(tmp_path, monkeypatch):
    f = write_lines(tmp_path / "d.jsonl", [dump_record(i) for i in range(300)])
    idx = tmp_path / "i.sqlite"
    real = IndexWriter.finalize

    def interrupted(self, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(IndexWriter, "finalize", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_snapshot(f, idx, batch_records=50)
    assert read_meta(partial_path(idx))["import"]["done_reading"] is True and not idx.exists()
    monkeypatch.setattr(IndexWriter, "finalize", real)
    phases = []
    res = import_snapshot(f, idx, on_phase=lambda p, d: phases.append(p))
    assert phases == ["start", "finishing"] and res.stats["records"] == 300 and index_rows(idx)[:2] == (300, 300)


def test_a_gzipped_dump_imports_and_resumes(tmp_path):
    rows = [dump_record(i) for i in range(60)]
    rows[40] = "{broken"
    f = tmp_path / "dump.jsonl.gz"
    with gzip.open(f, "wt", encoding="utf-8") as fh:
        fh.write("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    idx = tmp_path / "i.sqlite"
    with pytest.raises(MalformedRecord, match=r"dump.jsonl.gz:41: "):
        import_snapshot(f, idx, strict=True, batch_records=7)
    assert read_meta(partial_path(idx))["import"]["imported"] == 40
    res = import_snapshot(f, idx, batch_records=7)  # seeks into the decompressed stream
    assert res.resumed_at_line == 41 and res.stats["records"] == 59 and res.stats["skipped"] == 1
    assert index_rows(idx)[2] == sorted(r["id"] for r in rows if isinstance(r, dict))


def test_an_index_path_that_is_not_an_index_is_not_overwritten(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [dump_record(1)])
    precious = tmp_path / "notes.db"
    precious.write_text("my notes")
    r = cli("snapshot", "import", str(f), "--index", str(precious))
    assert r.exit_code == 1 and "not a retest snapshot index" in r.stderr and precious.read_text() == "my notes"


def test_a_second_import_of_the_same_index_is_refused(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [dump_record(1)])
    idx = tmp_path / "i.sqlite"
    with FileLock(str(idx) + ".lock"):
        r = cli("snapshot", "import", str(f), "--index", str(idx))
    assert r.exit_code == 3 and "another import" in r.stderr


def test_a_changed_file_is_imported_again(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", [dump_record(i) for i in range(10)])
    idx = tmp_path / "i.sqlite"
    import_snapshot(f, idx)
    write_lines(f, [dump_record(i) for i in range(12)])
    res = import_snapshot(f, idx)
    assert res.restarted_because and "changed" in res.restarted_because and res.stats["records"] == 12


# --------------------------------------------------------------------------- which index a run searches


def test_a_run_searches_the_imported_index(tmp_path):
    home = tmp_path / "home"
    f = write_lines(tmp_path / "dump.jsonl", [dump_record(i) for i in range(30)])
    imported = default_import_path(f, home / "snapshots")
    import_snapshot(f, imported)
    # what agent/services.py passes: RETEST_SNAPSHOT and HOME/snapshot.sqlite
    src, flags = make_source("snapshot", snapshot_path=f, index_path=home / "snapshot.sqlite", cache_dir=tmp_path)
    assert src.imported and src.index_path == imported and not (home / "snapshot.sqlite").exists() and flags == []
    assert src.size == 30 and not src.stale
    # RETEST_SNAPSHOT naming the index itself
    direct = SnapshotSource(imported, index_path=tmp_path / "unused.sqlite")
    assert direct.imported and direct.size == 30 and not (tmp_path / "unused.sqlite").exists()
    # the file changed after the import: still searched, with a warning
    write_lines(f, [dump_record(i) for i in range(31)])
    stale = SnapshotSource(f, index_path=home / "snapshot.sqlite")
    assert stale.stale and stale.size == 30
    # an unfinished import is an error, not a silent rebuild of a huge file
    g = write_lines(tmp_path / "other.jsonl", [dump_record(i) for i in range(5)])
    part = partial_path(default_import_path(g, home / "snapshots"))
    part.parent.mkdir(parents=True, exist_ok=True)
    (part).write_bytes(b"")
    with pytest.raises(SnapshotIndexError, match="unfinished"):
        SnapshotSource(g, index_path=home / "snapshot.sqlite")
    # a file never imported is indexed on first use, as before
    h = write_lines(tmp_path / "small.jsonl", [dump_record(i) for i in range(3)])
    plain = SnapshotSource(h, index_path=home / "snapshot.sqlite")
    assert not plain.imported and plain.rebuilt and plain.size == 3


# --------------------------------------------------------------------------- search at scale


def test_a_large_index_plans_its_queries_and_reranks_by_exact_bm25(tmp_path, monkeypatch):
    rows = [dump_record(i, words=8) for i in range(400)]
    for r in rows:
        r["abstract"] += " ubiquitous"
    rows[5]["abstract"] += " rareterm"
    f = write_lines(tmp_path / "d.jsonl", rows)
    import_snapshot(f, tmp_path / "i.sqlite")
    src = SnapshotSource(tmp_path / "i.sqlite")
    words = ["ubiquitous", "rareterm", "spectral", "lattice"]
    assert src.plan(words).exact and src.select_terms(words) == words  # a small index: a plain search
    plain = src.search(SearchQuery(text=" ".join(words), max_results=10)).papers
    # as if the index were large: walk the rare word, boost with the others, re-rank exactly
    monkeypatch.setattr(snap, "MIN_PLANNED", 0)
    monkeypatch.setattr(snap, "SCORE_BUDGET", 50)  # (x WIDE_FACTOR: no window)
    plan = src.plan(words)
    assert plan.core == ["rareterm"] and plan.boost == ["spectral", "lattice"] and not plan.exact
    assert plan.scored == ["rareterm", "spectral", "lattice"]  # "ubiquitous" (in every record) adds nothing
    assert src.plan(["ubiquitous", "model"]).core == ["model"]
    assert src.plan(["ubiquitous", "everywhere"]).core == ["everywhere"]  # absent: counted as rare
    hits = src.search(SearchQuery(text=" ".join(words), max_results=10)).papers
    assert hits[0].arxiv_id == rows[5]["id"] == plain[0].arxiv_id
    monkeypatch.setattr(snap, "IDF_BUDGET", 50)  # no room to boost: only the core is searched
    assert src.plan(words).boost == [] and src.plan(words).core == ["rareterm"]
    # a window: row ids are date-ordered, and its share is estimated from the month counts
    lo, hi = snap.pk_range(20150101, 20151231)
    assert 0 < src.window_share(lo, hi) < 0.2 and src.window_share(None, None) == 1.0
    got = src.search(SearchQuery(text="spectral lattice", after=date(2015, 1, 1), before=date(2015, 12, 31),
                                 max_results=50))
    assert got.papers and all(date(2015, 1, 1) < p.published <= date(2015, 12, 31) for p in got.papers)
    newest = src.search(SearchQuery(text="", after=date(2020, 1, 1), categories=["cs.CL"], max_results=5)).papers
    assert [p.published for p in newest] == sorted((p.published for p in newest), reverse=True)
    assert all("cs.CL" in p.categories for p in newest) and len(newest) == 5


def test_the_rerank_reproduces_fts5_bm25(tmp_path):
    rows = [dump_record(i, words=40 + i % 50) for i in range(300)]
    import_snapshot(write_lines(tmp_path / "d.jsonl", rows), tmp_path / "i.sqlite")
    src = SnapshotSource(tmp_path / "i.sqlite")
    con = sqlite3.connect(tmp_path / "i.sqlite")
    for query in ["alignment reward", "spectral lattice kernel tensor", "uniqword7 model", "graph"]:
        words = snap.query_terms(query)
        expr = " OR ".join(f'"{w}"' for w in words)
        got = con.execute("SELECT p.title, p.abstract, p.pk, bm25(fts, 2.0, 1.0) FROM fts JOIN papers p "
                          "ON p.pk = fts.rowid WHERE fts MATCH ? ORDER BY 4 LIMIT 30", (expr,)).fetchall()
        mine = src.bm25([(t, a, pk) for t, a, pk, _ in got], words)
        assert got and all(abs(-s - m) <= 1e-9 * abs(s) for (*_, s), m in zip(got, mine, strict=True)), query


# --------------------------------------------------------------------------- shards (a big import's writer processes)


def _shard_rows(n: int) -> list:
    rows = [dump_record(i, words=30 + i % 40) for i in range(n)]
    rows[n - 3] = dict(rows[10])  # a duplicate id in the other shard (lines 11 and n-2): the later wins
    rows[n - 5] = dict(rows[n - 7])  # ... and in the same shard
    rows[7] = "{broken"
    return rows


def test_a_sharded_import_is_the_same_index_as_one_writer(tmp_path):
    f = write_lines(tmp_path / "d.jsonl", _shard_rows(900))
    one = import_snapshot(f, tmp_path / "one.sqlite", shards=1, batch_records=100)
    two = import_snapshot(f, tmp_path / "two.sqlite", shards=2, batch_records=100)
    assert one.stats.get("shards") is None and two.stats["shards"] == 2
    for key in ("records", "lines", "skipped", "filtered", "replaced", "months", "cats", "d_min", "d_max",
                "estimated", "undated"):
        assert two.stats[key] == one.stats[key], key
    assert two.stats["replaced"] == 2 and two.stats["skipped"] == 1
    meta = read_meta(tmp_path / "two.sqlite")
    (shard1,) = [tmp_path / name for name in meta["shards"]["files"]]
    assert shard1.exists() and shard1.name.startswith("two.sqlite.") and shard1.name.endswith(".s1")
    pks = []
    for db in (tmp_path / "two.sqlite", shard1):
        n, distinct, _ = index_rows(db)  # each shard's FTS index matches its records
        assert n == distinct
        pks.append([r[0] for r in sqlite3.connect(db).execute("SELECT pk FROM papers")])
    assert all(pk % 2 == 0 for pk in pks[0]) and all(pk % 2 == 1 for pk in pks[1])  # a row id names its shard
    with sqlite3.connect(tmp_path / "one.sqlite") as con:
        assert sorted(con.execute("SELECT term, df FROM terms")) == sorted(
            sqlite3.connect(tmp_path / "two.sqlite").execute("SELECT term, df FROM terms"))
    a, b = SnapshotSource(tmp_path / "one.sqlite"), SnapshotSource(tmp_path / "two.sqlite")
    assert a._avg == b._avg and b.skipped == a.skipped and b.size == a.size
    assert [p.arxiv_id for p in b.all_papers()] == [p.arxiv_id for p in a.all_papers()]
    assert b.lookup([r["id"] for r in _shard_rows(900)[::50] if isinstance(r, dict)]) == \
        a.lookup([r["id"] for r in _shard_rows(900)[::50] if isinstance(r, dict)])
    queries = [SearchQuery(text=t, max_results=20, **kw) for t in ("spectral lattice", "uniqword10 reward", "graph",
                                                                   "alignment tensor kernel manifold")
               for kw in ({}, {"after": date(2014, 1, 1), "before": date(2016, 1, 1)}, {"categories": ["cs.CL"]})]
    queries.append(SearchQuery(text="", after=date(2020, 1, 1), max_results=7))
    for q in queries:
        assert b.search(q).papers == a.search(q).papers, q
    # as if the index were large: planned searches, re-ranked over both shards
    for mod in (snap,):
        saved = mod.MIN_PLANNED, mod.SCORE_BUDGET
        mod.MIN_PLANNED, mod.SCORE_BUDGET = 0, 40
        try:
            for q in queries:
                got, want = [p.arxiv_id for p in b.search(q).papers], [p.arxiv_id for p in a.search(q).papers]
                assert len(set(got) & set(want)) >= 0.8 * len(want), q
        finally:
            mod.MIN_PLANNED, mod.SCORE_BUDGET = saved
    info = cli("snapshot", "info", str(tmp_path / "two.sqlite"), "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["size_bytes"] > (tmp_path / "two.sqlite").stat().st_size


def test_a_reimport_replaces_the_shards_and_a_missing_shard_is_a_clear_error(tmp_path):
    rows = [dump_record(i) for i in range(200)]
    f = write_lines(tmp_path / "d.jsonl", rows)
    idx = tmp_path / "i.sqlite"
    import_snapshot(f, idx, shards=2)
    old = [tmp_path / n for n in read_meta(idx)["shards"]["files"]]
    write_lines(f, rows[:150])  # the file changed: imported again, into new shard files
    res = import_snapshot(f, idx, shards=2)
    new = [tmp_path / n for n in read_meta(idx)["shards"]["files"]]
    assert res.stats["records"] == 150 and new != old and all(p.exists() for p in new)
    assert not any(p.exists() for p in old)  # the replaced index's shards are gone
    shown = cli("snapshot", "info", str(idx))  # `info` names the files that must travel with the index
    assert shown.exit_code == 0, shown.output
    assert new[0].name in shown.output and "move or copy them with it" in shown.output
    new[0].unlink()
    with pytest.raises(SnapshotIndexError, match=r"a shard of the index .* is missing: run `retest snapshot import"):
        SnapshotSource(idx)
    res = import_snapshot(f, idx)  # ... and an import builds it again
    assert not res.up_to_date and SnapshotSource(idx).size == 150


def test_an_index_of_an_older_version_asks_for_a_reimport(tmp_path):
    idx = tmp_path / "i.sqlite"
    import_snapshot(write_lines(tmp_path / "d.jsonl", [dump_record(i) for i in range(20)]), idx)
    with sqlite3.connect(idx) as con:
        con.execute("UPDATE meta SET value = '5' WHERE key = 'schema'")
    with pytest.raises(SnapshotIndexError) as e:
        SnapshotSource(idx)
    assert "run `retest snapshot import" in str(e.value) and "\n" not in str(e.value)


def test_strict_with_shards_names_the_first_malformed_line_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("RETEST_IMPORT_SHARDS", "2")
    rows = [dump_record(i) for i in range(400)]
    rows[301] = "{broken"  # line 302: shard 1
    rows[250] = "[1]"  # line 251: shard 0, the first
    f = write_lines(tmp_path / "bad.jsonl", rows)
    idx = tmp_path / "i.sqlite"
    r = cli("snapshot", "import", str(f), "--index", str(idx), "--strict", "--batch", "20")
    assert r.exit_code == 2 and r.stderr.startswith(f"error: {f}:251: "), r.output
    assert not idx.exists() and read_meta(partial_path(idx))["import"]["nshards"] == 2
    r2 = cli("snapshot", "import", str(f), "--index", str(idx))
    assert r2.exit_code == 0, r2.output
    assert "imported 398 records" in r2.stdout and "2 malformed skipped" in r2.stdout, r2.stdout
    assert read_meta(idx)["stats"]["shards"] == 2 and SnapshotSource(idx).size == 398


def test_a_sharded_import_killed_with_sigkill_resumes_without_loss_or_duplicates(tmp_path):
    rows = [dump_record(i, words=120) for i in range(6000)]
    rows[777] = dict(rows[100])  # a duplicate id in the other shard: the later line wins, counted once
    f = write_lines(tmp_path / "dump.jsonl", rows)
    idx = tmp_path / "killed.sqlite"
    env = {**subprocess_env(tmp_path / "home"), "RETEST_IMPORT_SHARDS": "2"}
    cmd = [sys.executable, "-m", "retest.cli", "snapshot", "import", str(f), "--index", str(idx), "--batch", "250",
           "--quiet"]
    _kill_mid_import(cmd, env, partial_path(idx), at_least=500)
    assert not idx.exists() and partial_path(idx).exists()
    time.sleep(0.5)  # the shard processes die with the command (they must not write beside the rerun)
    (shard1,) = [tmp_path / n for n in read_meta(partial_path(idx), recover=True)["shards"]["files"]]
    size = shard1.stat().st_size
    time.sleep(0.5)
    assert shard1.stat().st_size == size
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "resuming the interrupted import" in r.stderr
    clean = import_snapshot(f, tmp_path / "clean.sqlite", shards=1)
    killed = read_meta(idx)["stats"]
    for key in ("records", "lines", "skipped", "filtered", "replaced", "months", "cats", "d_min", "d_max", "estimated"):
        assert killed[key] == clean.stats[key], key
    assert killed["records"] == 5999 and killed["shards"] == 2
    ids = sorted(r[0] for db in (idx, shard1) for r in sqlite3.connect(db).execute("SELECT id FROM papers"))
    assert ids == sorted({r["id"] for r in rows})
    q = SearchQuery(text="uniqword4321 spectral", max_results=10)
    assert SnapshotSource(idx).search(q).papers == SnapshotSource(tmp_path / "clean.sqlite").search(q).papers
