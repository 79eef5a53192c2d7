"""The live arXiv API as a SearchSource, built on the `arxiv` package's Client and made fault-proof.

What the package does not do, this module does:

* one politeness limiter for the whole process (tools.arxiv.limiter), never faster than one request
  per 3 s, measured from the end of one request to the start of the next;
* a request timeout (the package sets none), covering the whole response, not just each read;
* retries with exponential backoff for HTTP 429 (honouring Retry-After), 5xx, connection errors and
  timeouts, HTTP 200 bodies of "Rate exceeded.", malformed XML and unexpectedly empty pages;
* a bounded budget per source (= per run): at most `max_requests` HTTP requests and `max_seconds`;
* an on-disk response cache keyed by request URL with a TTL (`refresh=True` bypasses reads).

A search that fails or is cut short never raises: it returns the good papers it got, with
`complete=False` and a `search_incomplete` flag saying why.
"""
from __future__ import annotations

import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
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
from tools.arxiv.snapshot import normalize_ws, query_terms
from tools.base import LookupResult, SearchQuery, SearchResult

logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://export.arxiv.org/api/query"
USER_AGENT = f"retest/0.1 (+https://info.arxiv.org/help/api/tou.html) arxiv.py/{arxiv.__version__}"
_CAT_RE = re.compile(r"^[A-Za-z][\w.\-]*$")
_EARLIEST = date(1991, 1, 1)
_LATEST = date(2099, 12, 31)


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
        lo = q.after + timedelta(days=1) if q.after is not None else _EARLIEST
        hi = q.before if q.before is not None else _LATEST
        parts.append(f"submittedDate:[{lo:%Y%m%d}0000 TO {hi:%Y%m%d}2359]")
    return " AND ".join(parts)


class FetchError(Exception):
    """A page could not be obtained (after retries, or the budget ran out)."""


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

    def lookup(self, ids: Sequence[str]) -> dict[str, Paper]:
        return self.lookup_checked(ids).papers

    def lookup_checked(self, ids: Sequence[str]) -> LookupResult:
        """Papers by id, and the ids whose lookup failed (a fault, not a missing paper): a rerun retries
        exactly those (good responses are cached)."""
        wanted: set[str] = set()
        for raw in ids:
            try:
                wanted.add(split_arxiv_id(raw)[0])
            except ValueError:
                logger.warning("lookup: ignoring malformed arXiv id %r", raw)
        ordered = sorted(wanted)
        out: dict[str, Paper] = {}
        failed: set[str] = set()
        flags: list[Flag] = []
        for i in range(0, len(ordered), self.lookup_batch):
            chunk = ordered[i : i + self.lookup_batch]
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

    def _fetch(self, url: str, first_page: bool) -> _feed.ParsedFeed:
        if self.cache is not None and not self.refresh:
            body = self.cache.get(url)
            if body is not None:
                out = self._classify_body(body, first_page)
                if out.ok:
                    self.cache_hits += 1
                    return out.feed
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

    def __repr__(self) -> str:
        return f"ArxivApiSource({self.base_url!r}, requests={self.requests}, cache_hits={self.cache_hits})"


def _in_window(p: Paper, after: date | None, before: date | None) -> bool:
    d = p.effective_published()
    if d is None:
        return after is None and before is None
    return (after is None or d > after) and (before is None or d <= before)
