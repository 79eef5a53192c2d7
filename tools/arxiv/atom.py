"""Render Papers as an arXiv API Atom feed, so a loopback server can serve a snapshot through the
real `arxiv` client.  The layout follows export.arxiv.org's current responses.

One extension beyond arXiv's own schema: a paper whose v1 date was estimated from its id carries
`<retest:published_estimated>true</retest:published_estimated>` (namespace RETEST_NS), which
ArxivApiSource reads back; the real arXiv never sends it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from xml.sax.saxutils import escape, quoteattr

from claims.models import Paper

ATOM_NS = "http://www.w3.org/2005/Atom"
ARXIV_NS = "http://arxiv.org/schemas/atom"
OPENSEARCH_NS = "http://a9.com/-/spec/opensearch/1.1/"
RETEST_NS = "https://github.com/retest/atom-extension"
_FALLBACK_DATE = date(1991, 8, 14)  # arXiv's first day; used only when a record has no date at all


_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _x(text: str) -> str:
    """Escaped for XML text, with characters XML 1.0 forbids dropped."""
    return escape(_INVALID_XML.sub("", text))


def _a(text: str) -> str:
    return quoteattr(_INVALID_XML.sub("", text))


def _ts(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


def render_entry(paper: Paper) -> str:
    published = paper.effective_published() or paper.updated or _FALLBACK_DATE
    updated = paper.updated or published
    vid = f"{paper.arxiv_id}v{paper.version}"
    lines = [
        "  <entry>",
        f"    <id>http://arxiv.org/abs/{escape(vid)}</id>",
        f"    <title>{_x(paper.title)}</title>",
        f"    <updated>{_ts(updated)}</updated>",
        f'    <link href="https://arxiv.org/abs/{escape(vid)}" rel="alternate" type="text/html"/>',
        f'    <link href="https://arxiv.org/pdf/{escape(vid)}" rel="related" type="application/pdf" title="pdf"/>',
        f"    <summary>{_x(paper.abstract)}</summary>",
    ]
    for c in paper.categories:
        lines.append(f'    <category term={_a(c)} scheme="http://arxiv.org/schemas/atom"/>')
    lines.append(f"    <published>{_ts(published)}</published>")
    if paper.primary_category:
        lines.append(f"    <arxiv:primary_category term={_a(paper.primary_category)}/>")
    if paper.published_estimated:
        lines.append("    <retest:published_estimated>true</retest:published_estimated>")
    for a in paper.authors:
        lines.append(f"    <author>\n      <name>{_x(a)}</name>\n    </author>")
    lines.append("  </entry>")
    return "\n".join(lines)


def _head(title: str, total: int, start: int, per_page: int, now: datetime | None) -> list[str]:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<feed xmlns:opensearch="{OPENSEARCH_NS}" xmlns:arxiv="{ARXIV_NS}" '
        f'xmlns:retest="{RETEST_NS}" xmlns="{ATOM_NS}">',
        "  <id>https://arxiv.org/api/retest-loopback</id>",
        f"  <title>{_x(title)}</title>",
        f"  <updated>{stamp}</updated>",
        f"  <opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>",
        f"  <opensearch:totalResults>{total}</opensearch:totalResults>",
        f"  <opensearch:startIndex>{start}</opensearch:startIndex>",
    ]


def render_feed(
    papers: Sequence[Paper],
    *,
    total_results: int | None = None,
    start_index: int = 0,
    items_per_page: int | None = None,
    title: str = "arXiv Query",
    now: datetime | None = None,
) -> bytes:
    """One page of results: `papers` are the entries, `total_results` the size of the whole set."""
    total = len(papers) + start_index if total_results is None else total_results
    per_page = len(papers) if items_per_page is None else items_per_page
    parts = _head(title, total, start_index, per_page, now)
    parts.extend(render_entry(p) for p in papers)
    parts.append("</feed>\n")
    return "\n".join(parts).encode("utf-8")


def render_error_feed(message: str, *, error_id: str = "incorrect_query", now: datetime | None = None) -> bytes:
    """The shape arXiv answers a bad request with: a feed with one entry titled "Error"."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"https://arxiv.org/api/errors#{escape(error_id)}"
    parts = _head("arXiv Search Results", 1, 0, 1, now)
    parts.append(
        f"  <entry>\n    <id>{url}</id>\n    <title>Error</title>\n    <updated>{stamp}</updated>\n"
        f'    <link href="{url}" rel="alternate" type="text/html"/>\n'
        f"    <summary>{_x(message)}</summary>\n"
        "    <author>\n      <name>arXiv api core</name>\n    </author>\n  </entry>"
    )
    parts.append("</feed>\n")
    return "\n".join(parts).encode("utf-8")
