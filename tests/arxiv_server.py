"""A loopback stand-in for export.arxiv.org/api/query, for tests (127.0.0.1 only).

* `serve_corpus(snapshot_path, index_path)` serves a snapshot (by default the bundled corpus)
  as arXiv Atom: it reads `id_list` and the `search_query` language — fielded terms (`ti:`, `abs:`,
  `all:`), `cat:`, `submittedDate:[.. TO ..]`, AND / OR / ANDNOT and parentheses — answers from a
  SnapshotSource, and pages with `start`/`max_results`, so the real `arxiv` client runs end to end
  against it. A plain query (one fielded word group, optional categories and one date window: what
  `ArxivApiSource.search` sends) is answered exactly as the snapshot answers it; any other boolean
  query is evaluated clause by clause and ranked as Lucene ranks a boolean query: a paper scores the
  sum of the BM25 scores (the snapshot's, per word, with whole-record document frequencies) of the
  word clauses it matches, filters (dates, categories) scoring nothing; ties go to the newer paper. Request targets longer than `max_target` (8 KB, like Apache's default
  request-line limit) get HTTP 414.
* `ArxivServer(handler)` with `scripted([...])` replays canned replies (status, body, headers,
  hangs) in order; `fixture_reply(path)` serves a recorded response.

Every request is recorded (`server.requests`, with arrival times on time.monotonic) so tests can
check politeness.  Point ArxivApiSource (or RETEST_ARXIV_API_URL) at `server.url`.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from claims.models import Paper, split_arxiv_id
from tools.arxiv.api import build_search_query
from tools.arxiv.atom import render_error_feed, render_feed
from tools.arxiv.snapshot import SnapshotSource, query_terms
from tools.base import SearchQuery


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # accept the request and never answer (until the server stops)
    content_type: str = "application/atom+xml; charset=utf-8"


@dataclass
class Recorded:
    at: float  # time.monotonic() on arrival
    path: str
    params: dict[str, str]
    url_chars: int = 0  # length of the request target (path and query string) as sent
    done: float = 0.0  # time.monotonic() when the reply was written (0 if never)


Handler = Callable[[Recorded], Reply]
# Longest request target (path + query string) answered; longer ones get HTTP 414, as from a front end
# with Apache's default LimitRequestLine (8190 bytes for the whole request line).
MAX_TARGET = 8190 - len("GET  HTTP/1.1")


class ArxivServer:
    """A threaded HTTP server on 127.0.0.1 answering every GET with `handler(request)`."""

    def __init__(self, handler: Handler, path: str = "/api/query", max_target: int = MAX_TARGET) -> None:
        self.handler = handler
        self.max_target = max_target
        self.requests: list[Recorded] = []
        self._stop = threading.Event()
        outer = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                split = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
                rec = Recorded(time.monotonic(), split.path, params, len(self.path))
                outer.requests.append(rec)
                if len(self.path) > outer.max_target:  # what a front end such as Apache answers
                    body = b"Request-URI Too Long"
                    self.send_response(414)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                reply = outer.handler(rec)
                if reply.hang:
                    outer._stop.wait()
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(reply.body)
                rec.done = time.monotonic()

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    def start(self) -> ArxivServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ArxivServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def gaps(self) -> list[float]:
        """Seconds between consecutive requests' arrivals."""
        ts = [r.at for r in self.requests]
        return [b - a for a, b in zip(ts, ts[1:], strict=False)]


# --------------------------------------------------------------------------- handlers


def scripted(replies: Sequence[Reply], then: Reply | Handler | None = None) -> Handler:
    """Replies in order; after the script, `then` (a Reply or a handler; default: repeat the last)."""
    queue = list(replies)
    lock = threading.Lock()

    def handle(rec: Recorded) -> Reply:
        with lock:
            if queue:
                return queue.pop(0)
        if callable(then):
            return then(rec)
        return then or replies[-1]

    return handle


def fixture_reply(path: Path) -> Reply:
    return Reply(body=Path(path).read_bytes())


_TERM_RE = re.compile(r"(ti|abs|all|cat):([^\s()]+)")
_DATE_RE = re.compile(r"submittedDate:\[(\d{8})\d{4} TO (\d{8})\d{4}\]")


def parse_search_query(search_query: str, max_results: int) -> SearchQuery:
    """The subset of arXiv's query language that ArxivApiSource emits, back to a SearchQuery."""
    text_terms: list[str] = []
    fields: set[str] = set()
    cats: list[str] = []
    for fld, term in _TERM_RE.findall(search_query):
        if fld == "cat":
            cats.append(term)
        else:
            fields.add(fld)
            text_terms.append(term.strip('"'))
    after = before = None
    m = _DATE_RE.search(search_query)
    if m:
        lo, hi = date.fromisoformat(_iso(m[1])), date.fromisoformat(_iso(m[2]))
        after = date.fromordinal(lo.toordinal() - 1)
        before = hi
    fld = fields.pop() if len(fields) == 1 else "all"
    return SearchQuery(
        text=" ".join(text_terms), field=fld, after=after, before=before, categories=cats,
        max_results=max(1, min(max_results, 2000)),
    )


_TOKEN_RE = re.compile(r'\s*(\(|\)|ANDNOT\b|AND\b|OR\b|submittedDate:\[\d{8,12} TO \d{8,12}\]|'
                       r'(?:ti|abs|all|cat):(?:"[^"]*"|[^\s()]+))')


class QuerySyntaxError(ValueError):
    pass


def parse_boolean(search_query: str) -> tuple:
    """arXiv's query language to a tree: ("or", [..]), ("and", [..]), ("andnot", a, b), ("term", field,
    word), ("cat", c), ("date", first_day, last_day)."""
    toks: list[str] = []
    pos = 0
    text = search_query.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or not m.group(1):
            raise QuerySyntaxError(f"cannot parse {text[pos:pos + 30]!r}")
        toks.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    i = 0

    def peek() -> str | None:
        return toks[i] if i < len(toks) else None

    def take() -> str:
        nonlocal i
        if i >= len(toks):
            raise QuerySyntaxError("unexpected end of query")
        i += 1
        return toks[i - 1]

    def expr() -> tuple:
        parts = [conj()]
        while peek() == "OR":
            take()
            parts.append(conj())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def conj() -> tuple:
        node = unary()
        while peek() in ("AND", "ANDNOT"):
            op = take()
            rhs = unary()
            if op == "AND":
                node = ("and", (node[1] if node[0] == "and" else [node]) + [rhs])
            else:
                node = ("andnot", node, rhs)
        return node

    def unary() -> tuple:
        t = take()
        if t == "(":
            node = expr()
            if take() != ")":
                raise QuerySyntaxError("unbalanced parentheses")
            return node
        if t.startswith("submittedDate:"):
            m = _DATE_RE.match(t) or re.match(r"submittedDate:\[(\d{8})\d* TO (\d{8})\d*\]", t)
            return ("date", date.fromisoformat(_iso(m[1])), date.fromisoformat(_iso(m[2])))
        fld, _, term = t.partition(":")
        if fld == "cat":
            return ("cat", term)
        if fld in ("ti", "abs", "all"):
            return ("term", fld, term.strip('"'))
        raise QuerySyntaxError(f"unexpected {t!r}")

    node = expr()
    if i != len(toks):
        raise QuerySyntaxError(f"unexpected {toks[i]!r}")
    return node


class BooleanEvaluator:
    """Evaluates parse_boolean trees over a snapshot's papers, scoring as described in the module doc."""

    def __init__(self, source: SnapshotSource) -> None:
        self.source = source
        self.papers = {p.arxiv_id: p for p in source.all_papers()}
        with source._lock:
            self.rows = {i: (t, a, pk) for i, t, a, pk in source._db.execute(
                "SELECT id, title, abstract, pk FROM papers")}
        self._term_cache: dict[tuple[str, str], dict[str, float]] = {}

    def term(self, fld: str, word: str) -> dict[str, float]:
        key = (fld, word)
        if key not in self._term_cache:
            ids = [p.arxiv_id for p in self.source.search(SearchQuery(text=word, field=fld, max_results=2000)).papers]
            ids = [i for i in ids if i in self.rows]
            scores = self.source.bm25([self.rows[i] for i in ids], query_terms(word) or [word], fld) if ids else []
            self._term_cache[key] = dict(zip(ids, scores, strict=True))
        return self._term_cache[key]

    def evaluate(self, node: tuple) -> dict[str, float]:
        kind = node[0]
        if kind == "term":
            return self.term(node[1], node[2])
        if kind == "cat":
            return {i: 0.0 for i, p in self.papers.items() if node[1] in p.categories}
        if kind == "date":
            lo, hi = node[1], node[2]
            return {i: 0.0 for i, p in self.papers.items()
                    if (d := p.effective_published()) is not None and lo <= d <= hi}
        if kind == "or":
            out: dict[str, float] = {}
            for child in node[1]:
                for i, sc in self.evaluate(child).items():
                    out[i] = out.get(i, 0.0) + sc
            return out
        if kind == "and":
            parts = [self.evaluate(child) for child in node[1]]
            keep = set(parts[0]).intersection(*parts[1:])
            return {i: sum(p[i] for p in parts) for i in keep}
        if kind == "andnot":
            left, right = self.evaluate(node[1]), self.evaluate(node[2])
            return {i: sc for i, sc in left.items() if i not in right}
        raise QuerySyntaxError(f"unknown node {kind!r}")

    def search(self, search_query: str) -> list[Paper]:
        scores = self.evaluate(parse_boolean(search_query))

        def order(i: str) -> tuple:
            d = self.papers[i].effective_published()
            return (-float(f"{scores[i]:.10g}"), -(d.toordinal() if d else 0), i)

        return [self.papers[i] for i in sorted(scores, key=order)]


def _base_id(raw: str) -> str | None:
    try:
        return split_arxiv_id(raw)[0]
    except ValueError:
        return None


def _iso(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"


def corpus_handler(source: SnapshotSource, *, max_page: int | None = None) -> Handler:
    """Answer like arXiv from a snapshot. `max_page` caps entries per page (as arXiv sometimes does)."""

    lazy: list[BooleanEvaluator] = []

    def evaluator() -> BooleanEvaluator:
        if not lazy:
            lazy.append(BooleanEvaluator(source))
        return lazy[0]

    def handle(rec: Recorded) -> Reply:
        p = rec.params
        try:
            start = int(p.get("start", "0") or 0)
            per_page = int(p.get("max_results", "10") or 10)
        except ValueError:
            return Reply(status=400, body=render_error_feed("start and max_results must be integers"))
        ids = [i for i in (p.get("id_list") or "").split(",") if i]
        if ids:
            found = source.lookup(ids)
            papers = [found[b] for b in (_base_id(i) for i in ids) if b in found]
            total = len(papers)
        elif p.get("search_query"):
            sq = p["search_query"]
            q = parse_search_query(sq, start + per_page)
            if build_search_query(q) == sq:  # what ArxivApiSource.search sends: the snapshot's own answer
                papers = source.search(q).papers
                total = len(source.search(q.model_copy(update={"max_results": 2000})).papers)
            else:
                try:
                    matched = evaluator().search(sq)
                except QuerySyntaxError as e:
                    return Reply(body=render_error_feed(f"malformed query: {e}"))
                papers, total = matched[: start + per_page], len(matched)
        else:
            return Reply(status=400, body=render_error_feed("no search_query or id_list"))
        page = papers[start : start + min(per_page, max_page or per_page)]
        return Reply(body=render_feed(page, total_results=total, start_index=start, items_per_page=per_page))

    return handle


@contextmanager
def serve_corpus(
    snapshot_path: Path | None = None, *, index_path: Path, max_page: int | None = None
) -> Iterator[ArxivServer]:
    """A loopback arXiv API serving a snapshot (default: the bundled corpus) as Atom."""
    source = SnapshotSource(snapshot_path, index_path=index_path)
    server = ArxivServer(corpus_handler(source, max_page=max_page))
    with server:
        yield server
    source.close()
