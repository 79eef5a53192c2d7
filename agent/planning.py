"""The offline query planner: keyword queries from the claim and its source paper.

Rules (documented in the report's method section):
1. the claim's content words (stopwords and numbers dropped), over all fields;
2. the same words restricted to work newer than the claim's cutoff, so newer papers are not
   crowded out by older ones;
3. the source paper's title, when the claim has one, to find work that discusses it.
"""
from __future__ import annotations

import re
from datetime import date

from claims.models import Claim, Paper
from tools.base import SearchQuery

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each even few for from further had
    has have having he her here hers him his how i if in into is it its itself just like may might more
    most much must my no nor not now of off on once only or other our out over own same she should so
    some such than that the their them then there these they this those through to too under until up
    very via was we were what when where which while who whom why will with without would you your
    rather suggesting suggests shows showed show implying imply using used use one ones only whether
    make makes made get gets new newer instead yet per across within based""".split()
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9\-]+")


def keywords(text: str, limit: int = 14) -> list[str]:
    seen: list[str] = []
    for w in _WORD.findall(text):
        lw = w.lower().strip("-")
        if len(lw) < 3 or lw in STOPWORDS or lw in seen:
            continue
        seen.append(lw)
    return seen[:limit]


class KeywordPlanner:
    name = "keyword-planner v1"

    def __init__(self, max_results: int = 25):
        self.max_results = max_results

    def plan(self, claim: Claim, source: Paper | None, cutoff: date) -> list[SearchQuery]:
        return keyword_queries(claim, source, cutoff, self.max_results)


def keyword_queries(claim: Claim, source: Paper | None, cutoff: date, max_results: int = 25) -> list[SearchQuery]:
    """The keyword plan (rules 1-3 above). Every planner keeps these queries, so the link step can ask the
    arXiv API for them ahead, in the same request as its own search."""
    words = " ".join(keywords(claim.text))
    queries = [
        SearchQuery(text=words, max_results=max_results),
        SearchQuery(text=words, after=cutoff, max_results=max_results),
    ]
    if source is not None:
        queries.append(SearchQuery(text=" ".join(keywords(source.title, 10)), after=cutoff,
                                   max_results=max_results))
    return queries
