"""A loopback stand-in for export.arxiv.org/api/query, for tests (127.0.0.1 only).

* `serve_corpus(snapshot_path, index_path)` serves a snapshot (by default the bundled corpus)
  as arXiv Atom: it reads the `search_query` that ArxivApiSource builds (fielded terms, `cat:`,
  `submittedDate:[.. TO ..]`) and `id_list`, answers from a SnapshotSource, and pages with
  `start`/`max_results`, so the real `arxiv` client runs end to end against it.
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

from claims.models import split_arxiv_id
from tools.arxiv.atom import render_error_feed, render_feed
from tools.arxiv.snapshot import SnapshotSource
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


Handler = Callable[[Recorded], Reply]


class ArxivServer:
    """A threaded HTTP server on 127.0.0.1 answering every GET with `handler(request)`."""

    def __init__(self, handler: Handler, path: str = "/api/query") -> None:
        self.handler = handler
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
                rec = Recorded(time.monotonic(), split.path, params)
                outer.requests.append(rec)
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


def _base_id(raw: str) -> str | None:
    try:
        return split_arxiv_id(raw)[0]
    except ValueError:
        return None


def _iso(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"


def corpus_handler(source: SnapshotSource, *, max_page: int | None = None) -> Handler:
    """Answer like arXiv from a snapshot. `max_page` caps entries per page (as arXiv sometimes does)."""

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
            q = parse_search_query(p["search_query"], start + per_page)
            papers = source.search(q).papers
            total = len(source.search(q.model_copy(update={"max_results": 2000})).papers)
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
