"""The live arXiv API as a SearchSource, built on the `arxiv` package's Client and made fault-proof.

What the package does not do, this module does:

* one politeness limiter for the whole process (tools.arxiv.limiter), never faster than one request
  per 3 s, measured from the end of one request to the start of the next;
* a request timeout (the package sets none), covering the whole response, not just each read;
* retries with exponential backoff for HTTP 429 (honouring Retry-After), 5xx, connection errors and
  timeouts, HTTP 200 bodies of "Rate exceeded.", malformed XML and unexpectedly empty pages;
* a bounded budget per source (= per run): at most `max_requests` HTTP requests and `max_seconds`;
* an on-disk response cache keyed by request URL with a TTL (`refresh=True` bypasses reads);
* `search_many`: the several queries planned for one claim sent as one fielded boolean query (under a
  URL length limit), each query answered from that one response, a further page fetched only while a
  query short of its results still finds hits at the end of the page; queries already answerable from a
  response this run fetched (`known`) cost nothing.

A search that fails or is cut short never raises: it returns the good papers it got, with
`complete=False` and a `search_incomplete` flag saying why.
"""
from __future__ import annotations

import email.utils
import logging
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import arxiv
import requests
from arxiv import _feed
from lxml import etree

from claims.models import Flag, Paper, split_arxiv_id
from tools.arxiv.atom import ATOM_NS, RETEST_NS
from tools.arxiv.cache import DEFAULT_TTL_S, ResponseCache
from tools.arxiv.limiter import ARXIV_MIN_INTERVAL, RateLimiter, process_limiter
from tools.arxiv.snapshot import fts_expression, normalize_ws, query_terms
from tools.base import LookupResult, SearchQuery, SearchResult

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://export.arxiv.org/api/query"
USER_AGENT = f"retest/0.1 (+https://info.arxiv.org/help/api/tou.html) arxiv.py/{arxiv.__version__}"
_CAT_RE = re.compile(r"^[A-Za-z][\w.\-]*$")
_EARLIEST = date(1991, 1, 1)
_LATEST = date(2099, 12, 31)
# The longest request URL sent. arXiv's front end answers HTTP 414 past about 8 KB (an id_list of 642 ids,
# ~8.3 KB, was refused: lukasschwab/arxiv.py#15); half of that leaves room for any proxy on the way.
MAX_URL_CHARS = 4000
# A combined search of several word groups asks for this many times the results its queries want, in one
# page: queries other than the lead group's are ranked from it by their own BM25. At most COMBINED_MAX_PAGES.
COMBINED_DEPTH = 2
COMBINED_MAX_PAGES = 3


def build_search_query(q: SearchQuery) -> str:
    """SearchQuery -> arXiv `search_query`: fielded terms ORed, categories ORed, a submittedDate
    window (after exclusive, before inclusive), the groups ANDed. '' when there is nothing to ask."""
    parts: list[str] = []
    terms = query_terms(q.text)
    if terms:
        parts.append("(" + " OR ".join(f"{q.field}:{t}" for t in terms) + ")")
    cats = [c for c in q.categories if _CAT_RE.match(c)]
    if cats:
        parts.append("(" + " OR ".join(f"cat:{c}" for c in cats) + ")")
    if q.after is not None or q.before is not None:
        parts.append(_date_clause(_interval(q)))
    return " AND ".join(parts)


Interval = tuple[date | None, date | None]  # first and last v1 day, inclusive; None: open


def _interval(q: SearchQuery) -> Interval:
    return (q.after + timedelta(days=1) if q.after is not None else None, q.before)


def _date_clause(iv: Interval) -> str:
    lo, hi = iv[0] or _EARLIEST, iv[1] or _LATEST
    return f"submittedDate:[{lo:%Y%m%d}0000 TO {hi:%Y%m%d}2359]"


def _merge(ivs: Sequence[Interval]) -> list[Interval]:
    """The union of day intervals, as few intervals as possible; [(None, None)] when unbounded."""
    if any(a is None and b is None for a, b in ivs):
        return [(None, None)]
    out: list[list] = []
    for a, b in sorted(ivs, key=lambda iv: iv[0] or date.min):
        if out and (out[-1][1] is None or a is None or a <= out[-1][1] + timedelta(days=1)):
            if out[-1][1] is not None and (b is None or b > out[-1][1]):
                out[-1][1] = b
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _inside(iv: Interval, outer: Interval) -> bool:
    lo_ok = outer[0] is None or (iv[0] is not None and iv[0] >= outer[0])
    hi_ok = outer[1] is None or (iv[1] is not None and iv[1] <= outer[1])
    return lo_ok and hi_ok


@dataclass
class TermGroup:
    """Planned queries with the same words, field and categories: one clause of a combined query, its
    date windows merged (none when one of them is unbounded)."""

    field: str
    terms: tuple[str, ...]
    cats: tuple[str, ...]
    windows: list[Interval]
    quota: int = 0  # the results its queries ask for, together

    def clause(self) -> str:
        if len(self.windows) == 1:
            a, b = self.windows[0]
            return build_search_query(SearchQuery(
                text=" ".join(self.terms), field=self.field, categories=list(self.cats),
                after=a - timedelta(days=1) if a is not None else None, before=b))
        dates = "(" + " OR ".join(_date_clause(iv) for iv in self.windows) + ")"
        return build_search_query(SearchQuery(text=" ".join(self.terms), field=self.field,
                                              categories=list(self.cats))) + " AND " + dates

    def covers(self, q: SearchQuery) -> bool:
        """Every paper matching `q` matches this clause: its words are among ours, its categories (if we
        have any) among ours, its window inside one of ours."""
        terms = query_terms(q.text)
        cats = [c for c in q.categories if _CAT_RE.match(c)]
        return (q.field == self.field and bool(terms) and set(terms) <= set(self.terms)
                and (not self.cats or (bool(cats) and set(cats) <= set(self.cats)))
                and any(_inside(_interval(q), w) for w in self.windows))


def term_groups(queries: Sequence[SearchQuery]) -> list[TermGroup]:
    """Queries with words, grouped by (field, words, categories), in first-seen order."""
    groups: dict[tuple, TermGroup] = {}
    raw: dict[tuple, list[Interval]] = {}
    for q in queries:
        terms = tuple(query_terms(q.text))
        if not terms:
            continue
        cats = tuple(dict.fromkeys(c for c in q.categories if _CAT_RE.match(c)))
        key = (q.field, frozenset(terms), frozenset(cats))
        if key not in groups:
            groups[key] = TermGroup(q.field, terms, cats, [])
            raw[key] = []
        groups[key].quota += q.max_results
        raw[key].append(_interval(q))
    for key, g in groups.items():
        g.windows = _merge(raw[key])
    return list(groups.values())


def lead_group(groups: Sequence[TermGroup]) -> int:
    """The group whose papers the combined query ranks exactly as it alone would: the one asking for the
    most results (the claim's own words), the first on a tie."""
    return max(range(len(groups)), key=lambda i: (groups[i].quota, -i))


def combined_query(groups: Sequence[TermGroup]) -> str:
    """One arXiv `search_query` matching what any of the groups matches. A search engine scores a paper
    by the clauses it matches, summed, so the lead group (`lead_group`) comes first and the others are
    asked for only where it does not match (`LEAD OR ((OTHERS) ANDNOT LEAD)`): the lead group's papers
    keep exactly the order its own query would give them. A single group with one window is exactly what
    `build_search_query` writes for it."""
    if len(groups) == 1:
        return groups[0].clause()
    lead = lead_group(groups)
    first = _paren(groups[lead].clause())
    others = [_paren(g.clause()) for i, g in enumerate(groups) if i != lead]
    rest = others[0] if len(others) == 1 else "(" + " OR ".join(others) + ")"
    return f"{first} OR ({rest} ANDNOT {first})"


def _paren(clause: str) -> str:
    """`clause` as one parenthesised term (as it is when already wrapped whole)."""
    if clause.startswith("(") and clause.endswith(")"):
        depth = 0
        for i, ch in enumerate(clause):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                if i == len(clause) - 1:
                    return clause
                break
    return f"({clause})"


class FetchError(Exception):
    """A page could not be obtained (after retries, or the budget ran out)."""


class _Combined:
    """The pages fetched so far of one combined search, in rank order, and which queries they answer.

    Which fetched papers a query matches is decided here as the server decides it: the window and
    categories on the paper's dates and categories, the words by an in-memory FTS5 index over the
    papers' titles and abstracts (porter stemming, as the snapshot index)."""

    def __init__(self, search: arxiv.Search, page_size: int, groups: list[TermGroup]) -> None:
        self.search, self.page_size, self.groups = search, page_size, groups
        self.lead = groups[lead_group(groups)]
        self.papers: list[Paper] = []
        self.offset = 0
        self.pages = 0
        self.total: int | None = None
        self.exhausted = False
        self.error: str | None = None
        self.last_page_start = 0
        self._ids: set[str] = set()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute("CREATE VIRTUAL TABLE t USING fts5(title, abstract, "
                         "tokenize='porter unicode61 remove_diacritics 2')")
        self._hits: dict[tuple, list[int]] = {}
        self.lock = threading.RLock()

    def add_page(self, papers: list[Paper], total: int, n_entries: int) -> None:
        self.pages += 1
        self.total = total
        self.offset += n_entries
        self.last_page_start = len(self.papers)
        for p in papers:
            if p.arxiv_id in self._ids:
                continue
            self._ids.add(p.arxiv_id)
            self._db.execute("INSERT INTO t(rowid, title, abstract) VALUES (?, ?, ?)",
                             (len(self.papers), p.title, p.abstract))
            self.papers.append(p)
        self._hits.clear()
        if n_entries == 0 or self.offset >= total:
            self.exhausted = True

    def covers(self, q: SearchQuery) -> bool:
        return any(g.covers(q) for g in self.groups)

    def ranked_as_alone(self, q: SearchQuery) -> bool:
        """The server ranks `q`'s papers as `q` alone would: `q` has exactly the lead group's words."""
        return q.field == self.lead.field and set(query_terms(q.text)) == set(self.lead.terms)

    def hits(self, q: SearchQuery) -> list[int]:
        """Positions of the fetched papers that `q` matches, best first: in the server's order where that
        is `q`'s own (`ranked_as_alone`), else by `q`'s own BM25 over the fetched papers (FTS5's, titles
        weighted 2:1 as in the snapshot), the server's order breaking ties."""
        key = (q.text, q.field, q.after, q.before, tuple(q.categories))
        if key not in self._hits:
            expr = fts_expression(q.text, q.field)
            scores = dict(self._db.execute("SELECT rowid, bm25(t, 2.0, 1.0) FROM t WHERE t MATCH ?", (expr,))) \
                if expr else {}
            cats = set(q.categories)
            rows = [i for i in sorted(scores) if _in_window(self.papers[i], q.after, q.before)
                    and (not cats or cats & set(self.papers[i].categories))]
            if not self.ranked_as_alone(q):
                rows.sort(key=lambda i: (round(scores[i], 9), i))
            self._hits[key] = rows
        return self._hits[key]

    def short_and_promising(self, q: SearchQuery) -> bool:
        """`q` has fewer hits than it asks for, and its hits still reach the second half of the latest
        page: the ranking has not moved past it, so the next page is likely to hold more."""
        hits = self.hits(q)
        if len(hits) >= q.max_results:
            return False
        n = len(self.papers) - self.last_page_start
        return any(i >= self.last_page_start + n // 2 for i in hits)

    def result(self, q: SearchQuery, query_text: str) -> SearchResult:
        papers = [self.papers[i] for i in self.hits(q)[: q.max_results]]
        if self.error is None:
            return SearchResult(papers=papers)
        detail = (f"arXiv API search {query_text!r} (combined) cut short with {len(papers)} paper(s) kept for "
                  f"{q.text[:60]!r}: {self.error}")
        return SearchResult(papers=papers, complete=False, flags=[Flag(code="search_incomplete", detail=detail)])

    def close(self) -> None:
        self._db.close()


class _Outcome:
    __slots__ = ("ok", "fatal", "reason", "retry_after", "feed")

    def __init__(self, ok=False, fatal=False, reason="", retry_after=None, feed=None) -> None:
        self.ok, self.fatal, self.reason, self.retry_after, self.feed = ok, fatal, reason, retry_after, feed


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        dt = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if dt is None:
        return None
    return max(0.0, dt.timestamp() - now())


class _Client(arxiv.Client):
    """The package's Client (URL building, paging, result parsing) with retest's fetching."""

    def __init__(self, owner: ArxivApiSource, page_size: int) -> None:
        super().__init__(page_size=page_size, delay_seconds=0.0, num_retries=0)
        base = owner.base_url.replace("{", "{{").replace("}", "}}")
        self.query_url_format = base + ("&" if "?" in base else "?") + "{}"
        self._owner = owner

    def _parse_feed(self, url: str, first_page: bool = True, _try_index: int = 0) -> _feed.ParsedFeed:
        return self._owner._fetch(url, first_page)


class ArxivApiSource:
    """arXiv's API (or a mirror / loopback server at `base_url`). Implements tools.base.SearchSource.

    `requests` counts HTTP requests actually sent (cache hits are free).  `flags` collects run-level
    flags raised outside a search (lookups cut short).  Tests may pass `min_interval` < 3 or their
    own `limiter`; anything else shares the process-wide 3 s limiter.
    """

    name = "api"

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        cache_dir: Path | None = None,
        *,
        min_interval: float = ARXIV_MIN_INTERVAL,
        timeout: float = 30.0,
        max_requests: int = 500,
        max_seconds: float | None = 3600.0,
        cache_ttl: float = DEFAULT_TTL_S,
        refresh: bool = False,
        max_retries: int = 4,
        backoff_base: float = 3.0,
        backoff_max: float = 60.0,
        page_size: int | None = None,
        lookup_batch: int = 100,
        max_url: int = MAX_URL_CHARS,
        max_pages: int = COMBINED_MAX_PAGES,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = float(timeout)
        self.max_requests = int(max_requests)
        self.max_seconds = max_seconds
        self.refresh = refresh
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.page_size = page_size
        self.lookup_batch = max(1, min(int(lookup_batch), 2000))
        self.max_url = int(max_url)
        self.max_pages = max(1, int(max_pages))
        self._combined: dict[tuple[str, int], _Combined] = {}
        self._combined_lock = threading.Lock()
        if limiter is None:
            if min_interval < ARXIV_MIN_INTERVAL:
                logger.warning("arXiv API source with min_interval=%.2fs (< 3 s): for tests only", min_interval)
                limiter = RateLimiter(min_interval)
            else:
                limiter = process_limiter(min_interval)
        self.limiter = limiter
        self.cache = ResponseCache(cache_dir, cache_ttl) if cache_dir is not None else None
        self._clock = clock
        self._session = session or requests.Session()
        self._started: float | None = None
        self._estimated: set[str] = set()
        self._lock = threading.Lock()
        self.requests = 0
        self.cache_hits = 0
        self.flags: list[Flag] = []
        self._early: dict[tuple[str, ...], Future[LookupResult]] = {}  # start_lookup's, by id set
        self._early_lock = threading.Lock()

    # ---- SearchSource

    def search(self, query: SearchQuery) -> SearchResult:
        q = build_search_query(query)
        if not q:
            return SearchResult()
        has_terms = bool(query_terms(query.text))
        search = arxiv.Search(
            query=q,
            max_results=query.max_results,
            sort_by=arxiv.SortCriterion.Relevance if has_terms else arxiv.SortCriterion.SubmittedDate,
            sort_order=arxiv.SortOrder.Descending,
        )
        papers, error = self._collect(search, self.page_size or query.max_results)
        kept = [p for p in papers if _in_window(p, query.after, query.before)]
        if error is None:
            return SearchResult(papers=kept)
        detail = f"arXiv API search {q!r} cut short with {len(kept)} paper(s) kept: {error}"
        logger.warning(detail)
        return SearchResult(papers=kept, complete=False, flags=[Flag(code="search_incomplete", detail=detail)])

    def search_many(self, queries: Sequence[SearchQuery], known: Sequence[SearchQuery] = ()) -> list[SearchResult]:
        """One result per query, for the price of one request where one suffices.

        The queries with words are grouped (same words, field and categories: one clause, their windows
        merged) and sent as one boolean query (`combined_query`) — several only where one URL would pass
        `max_url` — sorted by relevance, a page holding as many results as the queries ask for together
        (twice that with more than one clause). Each query gets the fetched papers it matches (its
        window, categories and words), up to its `max_results`: in the server's order if it has the lead
        clause's words, else by its own BM25 over the fetched papers. A further page is fetched only
        while a query short of its results still has hits in the second half of the latest page, at
        most `max_pages`.
        `known`: queries sent earlier in this run (e.g. by the link step for the same claim); a query
        their response covers (its words among a clause's, its window inside the clause's) is answered
        from that response, read from memory or the response cache, never the network — paging on
        as above if it needs more. Queries without words (filter-only) go one by one through `search`."""
        out: list[SearchResult | None] = [None] * len(queries)
        worded: list[int] = []
        for i, q in enumerate(queries):
            if query_terms(q.text):
                worded.append(i)
            else:
                out[i] = self.search(q)
        assigned: dict[int, _Combined] = {}
        if known and worded:
            kq = [q for q in known if query_terms(q.text)]
            responses = [r for batch in self._batches(kq)
                         if batch[1] and (r := self._combined_response(batch, network=False))]
            for i in worded:
                r = next((r for r in responses if r.covers(queries[i])), None)
                if r is not None:
                    assigned[i] = r
        pending = [i for i in worded if i not in assigned]
        for batch in self._batches([queries[i] for i in pending]):
            if not batch[1]:  # its only clause had to be cut: its queries go on their own, below
                continue
            resp = self._combined_response(batch, network=True)
            for i in pending:
                if i not in assigned and resp.covers(queries[i]):
                    assigned[i] = resp
        for resp in {id(r): r for r in assigned.values()}.values():
            with resp.lock:
                mine = [queries[i] for i, r in assigned.items() if r is resp]
                self._page_on(resp, mine, network=True)
        for i, resp in assigned.items():
            with resp.lock:
                out[i] = resp.result(queries[i], resp.search.query)
        for i in worded:  # a query whose clause had to be cut to fit a URL: on its own
            if out[i] is None:
                out[i] = self.search(queries[i])
        return [r if r is not None else SearchResult() for r in out]

    def _batches(self, queries: Sequence[SearchQuery]) -> list[tuple[list[TermGroup], list[SearchQuery]]]:
        """Term groups packed into as few combined queries as `max_url` allows, each with its queries."""
        groups = term_groups(queries)
        batches: list[list[TermGroup]] = []
        for g in groups:
            if batches and self._url_chars(batches[-1] + [g]) <= self.max_url:
                batches[-1].append(g)
                continue
            while len(g.terms) > 1 and self._url_chars([g]) > self.max_url:  # one clause alone too long
                g = TermGroup(g.field, g.terms[:-1], g.cats, g.windows, g.quota)
                logger.warning("combined arXiv query: dropped a word to stay under %d URL chars", self.max_url)
            batches.append([g])
        return [(b, [q for q in queries if any(g.covers(q) for g in b)]) for b in batches]

    def _page_size(self, groups: Sequence[TermGroup]) -> int:
        """As many results as the groups ask for together; twice that where queries are re-ranked from the
        page (more than one group), so each finds its own best among them."""
        depth = COMBINED_DEPTH if len(groups) > 1 else 1
        return max(1, min(self.page_size or depth * sum(g.quota for g in groups), 2000))

    def _search_for(self, groups: Sequence[TermGroup]) -> arxiv.Search:
        return arxiv.Search(query=combined_query(groups), max_results=None,
                            sort_by=arxiv.SortCriterion.Relevance, sort_order=arxiv.SortOrder.Descending)

    def _url_chars(self, groups: Sequence[TermGroup]) -> int:
        size = self._page_size(groups)
        return len(_Client(self, size)._format_url(self._search_for(groups), 0, size))

    def _combined_response(self, batch: tuple[list[TermGroup], list[SearchQuery]], network: bool) -> _Combined | None:
        groups, queries = batch
        search = self._search_for(groups)
        size = self._page_size(groups)
        key = (search.query, size)
        with self._combined_lock:
            resp = self._combined.get(key)
            if resp is None:
                resp = self._combined[key] = _Combined(search, size, groups)
        with resp.lock:
            if resp.pages == 0 and resp.error is None:
                self._next_page(resp, network)
            if resp.pages == 0:  # nothing fetched (a cache-only miss, or a fault)
                if not network:
                    return None
                return resp
            self._page_on(resp, queries, network)
        return resp

    def _page_on(self, resp: _Combined, queries: Sequence[SearchQuery], network: bool) -> None:
        while (not resp.exhausted and resp.error is None and resp.pages < self.max_pages
               and any(resp.short_and_promising(q) for q in queries)):
            if not self._next_page(resp, network):
                break

    def _next_page(self, resp: _Combined, network: bool) -> bool:
        url = _Client(self, resp.page_size)._format_url(resp.search, resp.offset, resp.page_size)
        try:
            feed = self._fetch(url, first_page=resp.pages == 0, network=network)
        except FetchError as e:
            resp.error = str(e)
            logger.warning("arXiv API combined search %r cut short: %s", resp.search.query, e)
            return False
        except Exception as e:  # never crash a run
            logger.exception("unexpected error from the arXiv client")
            resp.error = f"unexpected {type(e).__name__}: {e}"
            return False
        if feed is None:
            return False
        papers = [p for r in feed.results if (p := self._to_paper(r)) is not None]
        resp.add_page(papers, feed.header.total_results, len(feed.results))
        return True

    def lookup(self, ids: Sequence[str]) -> dict[str, Paper]:
        return self.lookup_checked(ids).papers

    def start_lookup(self, ids: Sequence[str]) -> None:
        """Begin `lookup_checked(ids)` in a background thread: a run sends its anchors' lookup while the
        rest of it is still loading. The next `lookup_checked` of the same ids (in any order) takes that
        result, waiting for it if need be, instead of sending the request again."""
        key = self._lookup_key(ids)
        if not key:
            return
        with self._early_lock:
            if key in self._early:
                return
            fut: Future[LookupResult] = Future()
            self._early[key] = fut

        def work() -> None:
            try:
                fut.set_result(self._lookup(key))
            except BaseException as e:  # noqa: BLE001 - handed to the waiting caller
                fut.set_exception(e)

        threading.Thread(target=work, name="arxiv-early-lookup", daemon=True).start()

    @staticmethod
    def _lookup_key(ids: Sequence[str]) -> tuple[str, ...]:
        wanted: set[str] = set()
        for raw in ids:
            try:
                wanted.add(split_arxiv_id(raw)[0])
            except ValueError:
                logger.warning("lookup: ignoring malformed arXiv id %r", raw)
        return tuple(sorted(wanted))

    def lookup_checked(self, ids: Sequence[str]) -> LookupResult:
        """Papers by id, and the ids whose lookup failed (a fault, not a missing paper): a rerun retries
        exactly those (good responses are cached)."""
        key = self._lookup_key(ids)
        with self._early_lock:
            early = self._early.pop(key, None)
        if early is not None:
            return early.result()
        return self._lookup(key)

    def _lookup(self, ordered: tuple[str, ...]) -> LookupResult:
        wanted = set(ordered)
        out: dict[str, Paper] = {}
        failed: set[str] = set()
        flags: list[Flag] = []
        for i in range(0, len(ordered), self.lookup_batch):
            chunk = list(ordered[i : i + self.lookup_batch])
            search = arxiv.Search(id_list=chunk, max_results=len(chunk))
            papers, error = self._collect(search, len(chunk))
            for p in papers:
                if p.arxiv_id in wanted:
                    out[p.arxiv_id] = p
            if error is not None:
                detail = f"arXiv API lookup of {len(chunk)} id(s) ({chunk[0]} ...) cut short: {error}"
                logger.warning(detail)
                self.flags.append(Flag(code="lookup_incomplete", detail=detail))
                failed |= {i for i in chunk if i not in out}
                flags.append(Flag(code="search_incomplete", detail=detail))
        return LookupResult(papers=out, failed=sorted(failed), flags=flags)

    def probe(self, timeout: float = 5.0) -> tuple[bool, str]:
        """One cheap request (not cached, through the limiter): does the API answer with a feed?"""
        url = _Client(self, 1)._format_url(arxiv.Search(query="all:test", max_results=1), 0, 1)
        saved = self.timeout
        self.timeout = timeout
        try:
            status, body, headers, err = self._send(url)
        finally:
            self.timeout = saved
        if err:
            return False, err
        if status != 200:
            return False, f"HTTP {status}"
        out = self._classify_body(body, first_page=True)
        if out.ok or out.fatal:  # an arXiv error entry is still an answer
            return True, "answered"
        return False, out.reason

    # ---- fetching

    def _collect(self, search: arxiv.Search, page_size: int) -> tuple[list[Paper], str | None]:
        client = _Client(self, max(1, min(int(page_size), 2000)))
        papers: list[Paper] = []
        try:
            for r in client.results(search):
                p = self._to_paper(r)
                if p is not None:
                    papers.append(p)
        except FetchError as e:
            return papers, str(e)
        except Exception as e:  # the package's own errors, or anything else: never crash a run
            logger.exception("unexpected error from the arXiv client")
            return papers, f"unexpected {type(e).__name__}: {e}"
        return papers, None

    def _send(self, url: str) -> tuple[int, bytes, dict[str, str], str | None]:
        """One HTTP GET through the limiter. Returns (status, body, headers, transport error)."""
        with self.limiter.slot():
            with self._lock:
                self.requests += 1
            t0 = time.monotonic()
            try:
                with self._session.get(
                    url, timeout=(self.timeout, self.timeout), stream=True, headers={"User-Agent": USER_AGENT}
                ) as resp:
                    chunks: list[bytes] = []
                    for chunk in resp.iter_content(65536):
                        chunks.append(chunk)
                        if time.monotonic() - t0 > self.timeout:
                            return 0, b"", {}, f"response not complete within {self.timeout:g}s"
                    return resp.status_code, b"".join(chunks), dict(resp.headers), None
            except requests.Timeout:
                return 0, b"", {}, f"no answer within {self.timeout:g}s"
            except requests.RequestException as e:
                return 0, b"", {}, f"connection error ({type(e).__name__})"

    def _classify_body(self, body: bytes, first_page: bool) -> _Outcome:
        stripped = body.strip()
        if not stripped:
            return _Outcome(reason="HTTP 200 with an empty body")
        if stripped[:20].lower().startswith(b"rate exceeded"):
            return _Outcome(reason="HTTP 200 'Rate exceeded.'")
        try:
            root = etree.fromstring(
                body, parser=etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
            )
        except etree.XMLSyntaxError as e:
            return _Outcome(reason=f"malformed XML ({str(e)[:80]})")
        if root is None or root.tag != f"{{{ATOM_NS}}}feed":
            return _Outcome(reason="not an Atom feed")
        for entry in root.iterfind(f"{{{ATOM_NS}}}entry"):
            eid = (entry.findtext(f"{{{ATOM_NS}}}id") or "").strip()
            if "/api/errors" in eid:
                msg = normalize_ws(entry.findtext(f"{{{ATOM_NS}}}summary") or "error")
                return _Outcome(fatal=True, reason=f"arXiv API error: {msg}")
            if (entry.findtext(f"{{{RETEST_NS}}}published_estimated") or "").strip() == "true":
                self._estimated.add(eid)
        feed = _feed.parse(body)
        if not feed.results:
            if not first_page:
                return _Outcome(reason="empty page (arXiv glitch)")
            if feed.header.total_results > feed.header.start_index:
                return _Outcome(reason=f"empty page with totalResults={feed.header.total_results}")
        return _Outcome(ok=True, feed=feed)

    def _fetch(self, url: str, first_page: bool, network: bool = True) -> _feed.ParsedFeed | None:
        """The page at `url`: from the cache, else (with `network`) from the server; None for a cache miss
        without `network`."""
        if self.cache is not None and not self.refresh:
            body = self.cache.get(url)
            if body is not None:
                out = self._classify_body(body, first_page)
                if out.ok:
                    self.cache_hits += 1
                    return out.feed
        if not network:
            return None
        attempt = 0
        last = ""
        while True:
            if self.requests >= self.max_requests:
                raise FetchError(
                    f"request budget of {self.max_requests} exhausted" + (f" (last error: {last})" if last else "")
                )
            if self._started is None:
                self._started = self._clock()
            if self.max_seconds is not None and self._clock() - self._started > self.max_seconds:
                raise FetchError(f"time budget of {self.max_seconds:g}s exhausted" + (f" ({last})" if last else ""))
            status, body, headers, err = self._send(url)
            retry_after = None
            if err:
                out = _Outcome(reason=err)
            elif status == 200:
                out = self._classify_body(body, first_page)
            else:
                retry_after = parse_retry_after(headers.get("Retry-After") or headers.get("retry-after"))
                fatal = 400 <= status < 500 and status not in (408, 425, 429)
                out = _Outcome(fatal=fatal, reason=f"HTTP {status}", retry_after=retry_after)
            if out.ok:
                if self.cache is not None:
                    self.cache.put(url, body)
                return out.feed
            if out.fatal:
                raise FetchError(out.reason)
            attempt += 1
            last = out.reason
            logger.info("arXiv request failed (try %d): %s", attempt, out.reason)
            if attempt > self.max_retries:
                raise FetchError(f"gave up after {attempt} tries; last: {out.reason}")
            if out.retry_after is not None:
                delay = out.retry_after
                if delay > self.backoff_max:
                    raise FetchError(f"{out.reason}; server asked to wait {delay:.0f}s (> {self.backoff_max:g}s)")
            else:
                delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)) * (1 + 0.1 * random.random())
            if self.max_seconds is not None and self._clock() + delay - self._started > self.max_seconds:
                raise FetchError(f"time budget of {self.max_seconds:g}s exhausted; last: {out.reason}")
            self.limiter.defer(delay)

    def _to_paper(self, r: arxiv.Result) -> Paper | None:
        try:
            arxiv_id, version = split_arxiv_id(r.get_short_id())
        except ValueError:
            logger.warning("skipping arXiv entry with unexpected id %r", r.entry_id)
            return None
        published = r.published.date() if r.published and r.published.year > 1 else None
        updated = r.updated.date() if r.updated and r.updated.year > 1 else None
        if updated == published:
            updated = None
        return Paper(
            arxiv_id=arxiv_id,
            version=version or 1,
            title=normalize_ws(r.title),
            abstract=normalize_ws(r.summary),
            authors=[normalize_ws(a.name) for a in r.authors if normalize_ws(a.name)],
            published=published,
            updated=updated,
            categories=list(r.categories),
            primary_category=r.primary_category or None,
            published_estimated=r.entry_id.strip() in self._estimated,
        )

    def close(self) -> None:
        self._session.close()
        with self._combined_lock:
            for resp in self._combined.values():
                resp.close()
            self._combined.clear()

    def __repr__(self) -> str:
        return f"ArxivApiSource({self.base_url!r}, requests={self.requests}, cache_hits={self.cache_hits})"


def _in_window(p: Paper, after: date | None, before: date | None) -> bool:
    d = p.effective_published()
    if d is None:
        return after is None and before is None
    return (after is None or d > after) and (before is None or d <= before)
