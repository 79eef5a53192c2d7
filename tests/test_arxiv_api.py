"""The live arXiv API source against loopback servers only: recorded responses, every fault the
API is known for, politeness (real 3 s gaps), the response cache, source choice, and equivalence
with the snapshot when the loopback server serves the bundled corpus."""
from __future__ import annotations

import socket
import time
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.arxiv_server import MAX_TARGET, ArxivServer, Reply, fixture_reply, scripted, serve_corpus
from tools.arxiv.api import MAX_URL_CHARS, ArxivApiSource, build_search_query, parse_retry_after
from tools.arxiv.atom import render_feed
from tools.arxiv.cache import ResponseCache
from tools.arxiv.limiter import RateLimiter
from tools.arxiv.select import make_source
from tools.arxiv.snapshot import SnapshotSource
from tools.base import SearchQuery, SearchSource

FIX = Path(__file__).parent / "fixtures" / "atom"
FEED_1605 = FIX / "id_1605.08386_s0_m100_199195aa31ad.xml"
FEED_TWO = FIX / "id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.xml"
FEED_ABC = FIX / "id_abc_s0_m100_b79c8dcf6bc3.xml"
FEED_TESTING = FIX / "q_testing_s0_m10_bc5a6c384fe9.xml"
FEED_2016 = FIX / "legacy_2016_id_list_1111.2011v2.xml"


def fast(url: str, tmp_path: Path | None = None, **kw) -> ArxivApiSource:
    """A source for fault tests: no politeness wait, tiny backoffs, short timeouts."""
    opts = dict(min_interval=0.0, timeout=0.5, backoff_base=0.01, backoff_max=5.0, max_retries=2)
    opts.update(kw)
    return ArxivApiSource(url, tmp_path / "cache" if tmp_path else None, **opts)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> SnapshotSource:
    return SnapshotSource(index_path=tmp_path_factory.mktemp("idx") / "corpus.sqlite")


# --------------------------------------------------------------------------- recorded responses


def test_parse_one_id():
    with ArxivServer(scripted([fixture_reply(FEED_1605)])) as srv:
        src = fast(srv.url)
        assert isinstance(src, SearchSource) and src.name == "api"
        got = src.lookup(["1605.08386v1"])
    p = got["1605.08386"]
    assert p.title == "Heat-bath random walks with Markov bases"
    assert p.published == date(2016, 5, 26) and p.version == 1 and not p.published_estimated
    assert p.authors == ["Caprice Stanley", "Tobias Windisch"]
    assert p.primary_category == "math.CO" and p.categories == ["math.CO", "math.ST"]
    assert src.requests == 1
    assert srv.requests[0].params["id_list"] == "1605.08386"
    assert srv.requests[0].params["max_results"] == "1"


def test_parse_two_ids_one_invalid():
    with ArxivServer(scripted([fixture_reply(FEED_TWO)])) as srv:
        src = fast(srv.url)
        got = src.lookup(["0808.05394", "1707.08567"])
    assert set(got) == {"1707.08567"}
    p = got["1707.08567"]
    assert len(p.authors) == 34 and p.authors[-1] == "Hirosuke Yamamoto" and p.categories == ["cs.IT"]
    assert srv.requests[0].params["id_list"] == "0808.05394,1707.08567" and src.flags == []


def test_error_entry_is_a_flag_not_a_paper_and_not_retried():
    with ArxivServer(scripted([fixture_reply(FEED_ABC)])) as srv:
        src = fast(srv.url)
        r = src.search(SearchQuery(text="abc"))
    assert r.papers == [] and not r.complete
    assert r.flags[0].code == "search_incomplete" and "incorrect id format for abc" in r.flags[0].detail
    assert src.requests == 1


def test_malformed_ids_never_reach_the_server():
    with ArxivServer(scripted([fixture_reply(FEED_ABC)])) as srv:
        assert fast(srv.url).lookup(["abc", ""]) == {}
        assert srv.requests == []


def test_parse_search_page():
    with ArxivServer(scripted([fixture_reply(FEED_TESTING)])) as srv:
        src = fast(srv.url)
        r = src.search(SearchQuery(text="testing", max_results=10))
    assert r.complete and len(r.papers) == 10 and r.papers[0].arxiv_id == "2202.12139"
    assert r.papers[0].title.startswith("Testing Deep Learning Models")
    params = srv.requests[0].params
    assert params["search_query"] == "(all:testing)" and params["max_results"] == "10"
    assert src.requests == 1  # 214,881 total results, but only what was asked is fetched


def test_parse_2016_layout():
    with ArxivServer(scripted([fixture_reply(FEED_2016)])) as srv:
        got = fast(srv.url).lookup(["1111.2011"])
    p = got["1111.2011"]
    assert p.title == "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    assert "\n" not in p.abstract and p.abstract.startswith("Theoretical description of anisotropic")
    assert p.version == 2 and p.published == date(2011, 11, 8) and p.updated == date(2012, 4, 2)
    assert p.primary_category == "cond-mat.str-el" and p.categories == ["cond-mat.str-el", "cond-mat.stat-mech"]
    assert p.authors == ["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]


# --------------------------------------------------------------------------- faults

QUERY = SearchQuery(text="model merging", max_results=4)


def _page(corpus: SnapshotSource, start: int, n: int, total: int = 4) -> Reply:
    papers = corpus.search(SearchQuery(text="model merging", max_results=total)).papers
    return Reply(body=render_feed(papers[start : start + n], total_results=total, start_index=start, items_per_page=4))


FAULTS = {
    "503": Reply(status=503, body=b"Service Unavailable", headers={"Retry-After": "0"}),
    "429": Reply(status=429, body=b"Too Many Requests", headers={"Retry-After": "1"}),
    "rate_exceeded": Reply(body=b"Rate exceeded."),
    "empty_page": Reply(body=render_feed([], total_results=4, start_index=2, items_per_page=4)),
    "never_answers": Reply(hang=True),
    "malformed_xml": Reply(body=b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><entry><id>x"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_then_recovery(fault, corpus):
    """The fault once, then a good answer: the search completes."""
    first = FAULTS[fault]
    if fault == "empty_page":  # an empty *second* page, then the real second page
        script = [_page(corpus, 0, 2), first, _page(corpus, 2, 2)]
    else:
        script = [first, _page(corpus, 0, 4)]
    with ArxivServer(scripted(script)) as srv:
        src = fast(srv.url)
        t0 = time.monotonic()
        r = src.search(QUERY)
        elapsed = time.monotonic() - t0
    assert r.complete and r.flags == [] and len(r.papers) == 4, (fault, r.flags)
    assert src.requests == len(script)
    assert elapsed < 5
    if fault == "429":  # Retry-After honoured
        assert srv.gaps()[0] >= 1.0


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_persistent_fault_keeps_good_pages_and_flags(fault, corpus):
    """A good first page, then the fault for ever: bounded time, the good page kept, a flag."""
    with ArxivServer(scripted([_page(corpus, 0, 2), FAULTS[fault]])) as srv:
        src = fast(srv.url, backoff_max=1.5)
        t0 = time.monotonic()
        r = src.search(QUERY)
        elapsed = time.monotonic() - t0
    assert not r.complete
    assert [f.code for f in r.flags] == ["search_incomplete"]
    assert len(r.papers) == 2
    assert src.requests == 1 + 3  # the good page, then one try and two retries
    assert elapsed < 8, elapsed


def test_first_page_fault_for_ever(corpus):
    with ArxivServer(scripted([FAULTS["503"]])) as srv:
        r = fast(srv.url).search(QUERY)
    assert r.papers == [] and not r.complete and "HTTP 503" in r.flags[0].detail


def test_request_budget_bounds_a_run():
    with ArxivServer(scripted([FAULTS["503"]])) as srv:
        src = fast(srv.url, max_requests=4, max_retries=10)
        r1 = src.search(QUERY)
        r2 = src.search(SearchQuery(text="something else"))
        assert len(srv.requests) == 4 and src.requests == 4
    assert "budget of 4" in r1.flags[0].detail and "budget of 4" in r2.flags[0].detail


def test_time_budget_bounds_a_run():
    with ArxivServer(scripted([FAULTS["never_answers"]])) as srv:
        src = fast(srv.url, timeout=0.3, max_retries=100, max_seconds=1.0)
        t0 = time.monotonic()
        r = src.search(QUERY)
        assert time.monotonic() - t0 < 3
    assert not r.complete and "time budget" in r.flags[0].detail


def test_long_retry_after_gives_up_at_once():
    with ArxivServer(scripted([Reply(status=429, headers={"Retry-After": "3600"})])) as srv:
        src = fast(srv.url, backoff_max=10)
        t0 = time.monotonic()
        r = src.search(QUERY)
        assert time.monotonic() - t0 < 2 and src.requests == 1
    assert "3600" in r.flags[0].detail


def test_client_error_is_not_retried():
    with ArxivServer(scripted([Reply(status=400, body=b"bad")])) as srv:
        src = fast(srv.url)
        r = src.search(QUERY)
    assert src.requests == 1 and "HTTP 400" in r.flags[0].detail


def test_nothing_listening():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = fast(f"http://127.0.0.1:{port}/api/query")
    r = src.search(QUERY)
    assert not r.complete and "connection error" in r.flags[0].detail and src.requests == 3
    assert src.lookup(["2105.03023"]) == {} and src.flags[0].code == "lookup_incomplete"


def test_server_failing_every_way_a_whole_run_completes(corpus):
    """Every fault in turn, for every search and lookup of a run: flags, never an exception."""
    cycle = [FAULTS[k] for k in sorted(FAULTS)] + [_page(corpus, 0, 2)]
    i = {"n": 0}

    def handler(rec):
        i["n"] += 1
        return cycle[i["n"] % len(cycle)]

    with ArxivServer(handler) as srv:
        src = fast(srv.url, timeout=0.3, max_retries=1, max_requests=40)
        results = [src.search(SearchQuery(text=t, max_results=4)) for t in ("a b", "merging", "rlhf", "diversity")]
        src.lookup(["2105.03023", "2212.04089"])
    assert all(isinstance(r.complete, bool) for r in results)
    assert any(not r.complete for r in results)
    for r in results:
        assert r.complete or r.flags[0].code == "search_incomplete"
    assert src.requests <= 40


def test_retry_after_parsing():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412480.0 - 10) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


# --------------------------------------------------------------------------- politeness, cache


def test_limiter_spacing_with_a_fake_clock():
    now = {"t": 100.0}
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        now["t"] += s

    lim = RateLimiter(3.0, clock=lambda: now["t"], sleep=sleep)
    starts = []
    for work in (0.5, 0.0, 2.0):
        with lim.slot():
            starts.append(now["t"])
            now["t"] += work
    assert starts == [100.0, 103.5, 106.5]
    lim.defer(10.0)
    with lim.slot():
        starts.append(now["t"])
    assert starts[-1] == pytest.approx(118.5)


def test_politeness_real_3s_gaps_through_faults_and_cache(tmp_path, corpus):
    """The real process-wide limiter: the server never sees two requests < 3 s apart, even while
    retrying (503, 429 with Retry-After: 1, 'Rate exceeded.'); a second run asks nothing."""
    script = [FAULTS["503"], FAULTS["429"], FAULTS["rate_exceeded"], _page(corpus, 0, 4)]
    with ArxivServer(scripted(script)) as srv:
        src = ArxivApiSource(srv.url, tmp_path / "cache", timeout=5.0, backoff_base=0.1)
        assert src.limiter.min_interval >= 3.0
        r = src.search(QUERY)
        assert r.complete and len(r.papers) == 4 and src.requests == 4
        assert len(srv.requests) == 4 and min(srv.gaps()) >= 3.0, srv.gaps()
        rerun = ArxivApiSource(srv.url, tmp_path / "cache")
        assert rerun.search(QUERY).papers == r.papers
        assert rerun.requests == 0 and len(srv.requests) == 4


def test_cache_ttl_and_refresh(tmp_path, corpus):
    with serve_corpus(index_path=tmp_path / "i.sqlite") as srv:
        a = fast(srv.url, tmp_path)
        first = a.search(QUERY)
        assert a.requests == 1
        b = fast(srv.url, tmp_path)
        assert b.search(QUERY).papers == first.papers and b.requests == 0 and b.cache_hits == 1
        c = fast(srv.url, tmp_path, refresh=True)
        c.search(QUERY)
        assert c.requests == 1
        d = fast(srv.url, tmp_path, cache_ttl=0.0)
        time.sleep(0.01)
        d.search(QUERY)
        assert d.requests == 1


def test_cache_rejects_corrupt_entries(tmp_path):
    now = {"t": 0.0}
    cache = ResponseCache(tmp_path, ttl_s=60, clock=lambda: now["t"])
    cache.put("u", b"<feed/>")
    assert cache.get("u") == b"<feed/>"
    body = next(tmp_path.glob("*/*.xml"))
    body.write_bytes(b"<fe")
    assert cache.get("u") is None
    cache.put("u", b"x")
    now["t"] = 61
    assert cache.get("u") is None
    assert cache.get("other") is None


# --------------------------------------------------------------------------- query building


def test_query_building():
    q = SearchQuery(
        text="Does RLHF reduce output diversity?", field="abs", categories=["cs.CL", "cs.LG", "bad cat)"],
        after=date(2024, 1, 31), before=date(2024, 6, 30),
    )
    assert build_search_query(q) == (
        "(abs:rlhf OR abs:reduce OR abs:output OR abs:diversity) AND (cat:cs.CL OR cat:cs.LG) "
        "AND submittedDate:[202402010000 TO 202406302359]"
    )
    assert build_search_query(SearchQuery(text="", before=date(2020, 1, 1))) == (
        "submittedDate:[199101010000 TO 202001012359]"
    )
    assert build_search_query(SearchQuery(text="?!")) == ""


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200), cats=st.lists(st.text(max_size=10), max_size=3))
def test_query_building_never_raises_and_stays_in_the_grammar(text, cats):
    q = build_search_query(SearchQuery(text=text, categories=cats))
    for ch in "[]\"'&#?":
        assert ch not in q.replace("submittedDate:[", "").replace(" TO ", "")


# --------------------------------------------------------------------------- source choice


def test_make_source_auto_online_then_probe_remembered(tmp_path):
    with serve_corpus(index_path=tmp_path / "i.sqlite") as srv:
        src, flags = make_source("auto", api_url=srv.url, cache_dir=tmp_path / "c", api_options={"min_interval": 0})
        assert src.name == "api" and flags == [] and len(srv.requests) == 1
        src2, flags2 = make_source("auto", api_url=srv.url, cache_dir=tmp_path / "c", api_options={"min_interval": 0})
        assert src2.name == "api" and flags2 == [] and len(srv.requests) == 1


@pytest.mark.parametrize("how", ["refused", "hangs", "rate_exceeded"])
def test_make_source_auto_falls_back_offline(tmp_path, how):
    if how == "refused":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/api/query"
        srv = None
    else:
        srv = ArxivServer(scripted([FAULTS["never_answers" if how == "hangs" else "rate_exceeded"]])).start()
        url = srv.url
    try:
        t0 = time.monotonic()
        src, flags = make_source(
            "auto", api_url=url, cache_dir=tmp_path / "c", probe_timeout=0.5, api_options={"min_interval": 0}
        )
        assert time.monotonic() - t0 < 10
    finally:
        if srv:
            srv.stop()
    assert src.name == "snapshot" and [f.code for f in flags] == ["offline_snapshot"]
    assert url in flags[0].detail and "offline snapshot" in flags[0].detail
    assert src.search(SearchQuery(text="model merging")).papers


def test_make_source_explicit_kinds(tmp_path):
    snap, f1 = make_source("snapshot", cache_dir=tmp_path)
    api, f2 = make_source("api", api_url="http://127.0.0.1:9/none", cache_dir=tmp_path)
    assert (snap.name, api.name, f1, f2) == ("snapshot", "api", [], [])
    assert api.requests == 0  # no probe for an explicit choice
    with pytest.raises(ValueError):
        make_source("web", cache_dir=tmp_path)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- equivalence

EQUIVALENCE_QUERIES = [
    SearchQuery(text="model merging task arithmetic", max_results=10),
    SearchQuery(text="Does RLHF reduce output diversity?", max_results=25),
    SearchQuery(text="preference optimization", field="ti", max_results=50),
    SearchQuery(text="decoding-time alignment guidance", field="abs", max_results=15),
    SearchQuery(text="diversity collapse", after=date(2024, 6, 30), before=date(2025, 12, 31), max_results=20),
    SearchQuery(text="data curation quality filtering", categories=["cs.CL"], after=date(2025, 1, 1), max_results=20),
    SearchQuery(text="multi-objective reward", categories=["cs.LG", "cs.AI"], before=date(2024, 12, 31)),
    SearchQuery(text="", categories=["cs.CL"], after=date(2026, 1, 1), max_results=7),
    SearchQuery(text="the of and", max_results=5),
    SearchQuery(text="zzzz qqqq nothing matches", max_results=5),
]


def test_api_over_loopback_corpus_equals_snapshot(tmp_path, corpus):
    """Same ids, same order, same records, via the real arxiv client paging (3 per page) over
    loopback Atom as straight from the snapshot; lookups batched."""
    with serve_corpus(index_path=tmp_path / "i.sqlite", max_page=3) as srv:
        api = fast(srv.url, lookup_batch=50)
        for q in EQUIVALENCE_QUERIES:
            a, s = api.search(q), corpus.search(q)
            assert a.complete and a.flags == []
            assert [p.arxiv_id for p in a.papers] == [p.arxiv_id for p in s.papers], q
            assert a.papers == s.papers
        ids = [p.arxiv_id for p in corpus.all_papers()]
        before = api.requests
        looked = api.lookup(ids + ["9912.99999"])
        assert looked == corpus.lookup(ids) and len(looked) == 154
        assert sum(p.published_estimated for p in looked.values()) > 0
        batches = [r.params["id_list"].split(",") for r in srv.requests[before:] if r.params.get("start") == "0"]
        assert [len(b) for b in batches] == [50, 50, 50, 5]  # 155 ids in batches of <= 50


def test_an_early_lookup_goes_out_at_once_and_the_run_takes_its_answer(tmp_path, corpus):
    """`start_lookup` sends the anchors' id_list request in the background (a run does it while its graph
    loads); the lookup of the same ids, in any order, then takes that answer instead of asking again."""
    ids = ["2505.22907", "2410.08020", "2510.22954", "2410.11163"]
    with serve_corpus(index_path=tmp_path / "i.sqlite") as srv:
        api = fast(srv.url)
        api.start_lookup(ids)
        deadline = time.monotonic() + 10
        while not srv.requests and time.monotonic() < deadline:  # sent without anyone waiting for it
            time.sleep(0.01)
        assert len(srv.requests) == 1
        got = api.lookup_checked(list(reversed(ids)) + ["2410.08020v2"])
        assert len(srv.requests) == 1 and api.requests == 1
        assert sorted(got.papers) == sorted(ids) and got.failed == []
        assert got.papers == corpus.lookup(ids)
        api.lookup_checked(ids)  # taken once: a later lookup is an ordinary one
        assert len(srv.requests) == 2


def test_an_early_lookup_that_fails_reports_the_fault_to_the_run():
    with ArxivServer(scripted([], then=Reply(status=503))) as srv:
        api = fast(srv.url, max_retries=1)
        api.start_lookup(["2410.08020"])
        got = api.lookup_checked(["2410.08020"])
    assert got.papers == {} and got.failed == ["2410.08020"]
    assert [f.code for f in got.flags] == ["search_incomplete"]
    assert [f.code for f in api.flags] == ["lookup_incomplete"]


# --------------------------------------------------------------------------- combined searches (issue 15)

KW = "alignment dimensions lexical emotional prosodic heterogeneous conversational outcomes objective failure"
# A claim's link search and its keyword plan (agent.planning.keyword_queries) for its source paper.
PLAN = [
    SearchQuery(text=KW, before=date(2025, 12, 31), max_results=10),
    SearchQuery(text=KW, max_results=25),
    SearchQuery(text=KW, after=date(2025, 5, 28), max_results=25),
    SearchQuery(text="conversational alignment artificial intelligence context", after=date(2025, 5, 28),
                max_results=25),
]


def _searches(srv) -> list:
    return [r for r in srv.requests if r.params.get("search_query")]


def test_a_claims_queries_cost_one_request_and_each_gets_its_own_answer(tmp_path, corpus):
    """A claim's link search and keyword plan: one HTTP request instead of four, and every query gets the
    papers it would have got alone: those with the claim's words (the lead group, which the combined query
    keeps in its own order) in the same order, the source's words (re-ranked from the page) the same set."""
    with serve_corpus(index_path=tmp_path / "i.sqlite") as srv:
        api = fast(srv.url)
        got = api.search_many(PLAN)
        assert api.requests == 1 and len(_searches(srv)) == 1
        assert int(srv.requests[0].params["max_results"]) == 2 * 85  # twice the four queries' results
        assert " ANDNOT " in srv.requests[0].params["search_query"]
        alone = [fast(srv.url).search(q) for q in PLAN]
    assert all(r.complete and not r.flags for r in got)
    assert [r.papers for r in got[:3]] == [r.papers for r in alone[:3]]
    assert {p.arxiv_id for p in got[3].papers} == {p.arxiv_id for p in alone[3].papers}
    for q, g in zip(PLAN, got, strict=True):
        assert all((q.after is None or p.effective_published() > q.after)
                   and (q.before is None or p.effective_published() <= q.before) for p in g.papers)


def test_known_queries_are_answered_from_their_response_without_a_request(tmp_path):
    """The search step's queries, covered by what the link step already asked: no request at all, in this
    process (memory) or in the next one (the response cache); an uncovered query costs one request."""
    later = [SearchQuery(text=KW, max_results=25), SearchQuery(text=KW, after=date(2025, 9, 1), max_results=25)]
    with serve_corpus(index_path=tmp_path / "i.sqlite") as srv:
        api = fast(srv.url, tmp_path)
        api.search_many(PLAN)
        first = api.requests
        again = api.search_many(later, known=PLAN)
        assert api.requests == first == 1
        fresh = fast(srv.url, tmp_path)  # another run: the response comes from the cache
        assert [r.papers for r in fresh.search_many(later, known=PLAN)] == [r.papers for r in again]
        assert fresh.requests == 0
        other = fast(srv.url, tmp_path).search_many([SearchQuery(text="lima less alignment", max_results=25)],
                                                    known=PLAN)
        assert len(srv.requests) == 2 and other[0].papers
    assert again[1].papers and all(p.effective_published() > date(2025, 9, 1) for p in again[1].papers)


def test_combined_queries_stay_under_the_url_limit(tmp_path):
    """However many groups and words, no request URL passes max_url: groups are packed into as few
    requests as fit; the loopback server (414 past ~8 KB, like arXiv's front end) never refuses one."""
    words = [f"{w}{i}" for i, w in enumerate(["alignment", "diversity", "curation", "merging", "decoding"] * 20)]
    qs = [SearchQuery(text=" ".join(words[i:i + 25]), after=date(2024, 1, 1), max_results=25) for i in range(0, 100, 10)]
    qs.append(SearchQuery(text="model merging task arithmetic", max_results=25))
    with serve_corpus(index_path=tmp_path / "i.sqlite") as srv:
        api = fast(srv.url, max_url=2000)
        got = api.search_many(qs)
        urls = [len(srv.url.split("/api/query")[0]) + r.url_chars for r in srv.requests]
        default = fast(srv.url).search_many(qs)
        n_default = len(srv.requests) - len(urls)
    assert all(r.complete and not r.flags for r in got) and got[-1].papers
    assert max(urls) <= 2000 and len(urls) > 1
    assert all(r.complete and not r.flags for r in default)
    assert n_default < len(urls)  # the default limit (4,000 chars) needs fewer requests
    assert MAX_URL_CHARS * 2 <= MAX_TARGET + 200  # the default keeps half of what the front end accepts


def test_a_next_page_only_when_the_first_page_was_full_of_hits(tmp_path, corpus):
    """Pages of 5. The top 5 for these words are dated 2025-12, 2024-06, 2023-12, 2024-06, 2025-06. Newer
    than 2025-01 has hits at the page's end: a second page is fetched and the query gets exactly its own
    five. Newer than 2025-07 has one hit, at the top, none in the page's second half: the ranking has
    moved past it, so no second page (it keeps the one)."""
    words = "alignment language models"
    top = [str(p.effective_published()) for p in corpus.search(SearchQuery(text=words, max_results=5)).papers]
    assert top == ["2025-12-01", "2024-06-12", "2023-12-04", "2024-06-10", "2025-06-09"]
    everything = SearchQuery(text=words, max_results=5)
    promising = SearchQuery(text=words, after=date(2025, 1, 1), max_results=5)
    moved_on = SearchQuery(text=words, after=date(2025, 7, 1), max_results=5)
    with serve_corpus(index_path=tmp_path / "i.sqlite") as srv:
        fast(srv.url, page_size=5).search_many([everything])
        assert len(srv.requests) == 1  # five asked for, five on the page
        got = fast(srv.url, page_size=5).search_many([everything, promising])
        assert [r.params["start"] for r in srv.requests[1:]] == ["0", "5"]
        n = len(srv.requests)
        late = fast(srv.url, page_size=5).search_many([everything, moved_on])
        assert len(srv.requests) == n + 1
        assert got[1].papers == fast(srv.url).search(promising).papers
    assert [str(p.effective_published()) for p in late[1].papers] == ["2025-12-01"]


def test_a_failing_combined_search_flags_every_query_and_never_raises():
    with ArxivServer(scripted([FAULTS["503"]])) as srv:
        got = fast(srv.url).search_many(PLAN)
    assert [r.complete for r in got] == [False] * 4
    assert all(r.flags and r.flags[0].code == "search_incomplete" and "HTTP 503" in r.flags[0].detail for r in got)


def test_loopback_server_reads_arxivs_boolean_language(tmp_path, corpus):
    """Plain queries as the snapshot answers them; AND / OR / ANDNOT / parentheses evaluated."""
    from tests.arxiv_server import BooleanEvaluator, parse_boolean

    ev = BooleanEvaluator(corpus)
    for q in [q for q in EQUIVALENCE_QUERIES[:7] if q.field == "all"]:  # (ti:/abs: words: whole-record IDF)
        assert [p.arxiv_id for p in ev.search(build_search_query(q))] == \
            [p.arxiv_id for p in corpus.search(q.model_copy(update={"max_results": 2000})).papers], q
    merging = {p.arxiv_id for p in ev.search("all:merging")}
    diversity = {p.arxiv_id for p in ev.search("all:diversity")}
    assert {p.arxiv_id for p in ev.search("all:merging OR all:diversity")} == merging | diversity
    assert {p.arxiv_id for p in ev.search("(all:merging) AND (all:diversity)")} == merging & diversity
    assert {p.arxiv_id for p in ev.search("all:merging ANDNOT all:diversity")} == merging - diversity
    newer = {p.arxiv_id for p in ev.search("all:merging AND submittedDate:[202501010000 TO 209912312359]")}
    assert newer and newer < merging
    assert parse_boolean("(ti:a OR abs:b) AND cat:cs.CL")[0] == "and"
