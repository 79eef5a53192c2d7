"""Which papers a judge reads for a claim: the candidates, ranked by how much they are *about* it.

A paper is a candidate when a search found it. It ranks by its best sentence's similarity to the
claim or one of its clauses (the evidence store's cosine), plus ``NAME_BONUS`` when its title or
abstract names what the claim is about — the method, model, data set or source the claim names
("LIMA", "DPO", "Chinchilla", "Kaplan"), the way a citing paper does. Names that most candidates
share ("LLM", "GPT") say nothing and are dropped. The judge reads the ``max_newer`` best newer
papers and the ``max_older`` best older ones, whole.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field

from claims.models import Claim, EvidenceChunk, Paper

NAME_BONUS = 0.12
GENERIC_SHARE = 0.5  # a name in more than this share of the candidates is not distinctive
MAX_NEWER = 16
MAX_OLDER = 4

_GENERIC = frozenset("""ai ml nlp llm llms lm lms gpt rl sota api apis url dnn dnns cnn cnns rnn mlp nn
    the a an this these we our in on of for and or but with however recent our""".split())
_CAP = r"(?:[A-Z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*)"
_NAME = re.compile(rf"\b{_CAP}(?:\s+{_CAP})*")


class Candidate(BaseModel):
    """A paper the judge reads whole, with why it was chosen."""

    paper: Paper
    newer: bool
    relevance: float = Field(description="best cosine of one of its sentences to the claim or a clause")
    names: list[str] = Field(default_factory=list, description="the claim's names it mentions")

    @property
    def rank_score(self) -> float:
        return self.relevance + (NAME_BONUS if self.names else 0.0)


def claim_names(claim: Claim, source: Paper | None = None) -> list[str]:
    """Distinctive names the claim is about: acronyms and capitalised terms inside the claim (a run of
    capitalised words is one name, "Direct Preference Optimization", with its initials "DPO"; a lone
    capitalised first word is not a name, "Kaplan-style" is "Kaplan"), the source's short name (a
    title's part before ':'), and its first author's surname when the claim uses it."""
    text = claim.text
    names: list[str] = []
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        words = [re.sub(r"-(?:style|like|based|type|esque|inspired|optimal)$", "", w, flags=re.I) for w in words]
        plain_first = m.start() == 0 and len(words) == 1 and m.group(0) == words[0] and \
            not any(c.isupper() or c.isdigit() for c in words[0][1:])
        if plain_first:
            continue  # a sentence-initial capital is not a name ("Kaplan-style" is)
        if len(words) > 1 and all(w.upper() == w for w in words):  # "PPO RLHF": two acronyms, two names
            groups = [[w] for w in words]
        else:
            groups = [words]
        for g in groups:
            name = " ".join(g).strip("-'")
            if name.lower() in _GENERIC or len(name) < 3:
                continue
            names.append(name)
            if len(g) >= 3 and all(w[0].isalpha() for w in g):
                names.append("".join(w[0] for w in g).upper())
    if source is not None:
        head = source.title.split(":", 1)[0].strip()
        if ":" in source.title and 1 <= len(head.split()) <= 3 and len(head) >= 3:
            names.append(head)
        if source.authors:
            last = source.authors[0].split()[-1] if source.authors[0].split() else ""
            if len(last) >= 3 and re.search(rf"\b{re.escape(last)}\b", text):
                names.append(last)
    out: list[str] = []
    for n in names:
        if n not in out:
            out.append(n)
    return out


def has_name(name: str, text: str) -> bool:
    """The name stands in the text as a whole token ("DPO" not in "DPOP")."""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text) is not None


def mentions(paper: Paper, names: Iterable[str]) -> list[str]:
    hay = f"{paper.title} {paper.abstract}"
    return [n for n in names if has_name(n, hay)]


def distinctive_names(names: Sequence[str], papers: Sequence[Paper], max_share: float) -> set[str]:
    """The names that at most ``max_share`` of the papers mention (title or abstract): a name most
    candidates share says nothing about which of them a claim is about."""
    if not papers:
        return set(names)
    said = [set(mentions(p, names)) for p in papers]
    return {n for n in names if sum(n in s for s in said) / len(papers) <= max_share}


def best_relevance(chunks: Sequence[EvidenceChunk]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in chunks:
        if c.score > out.get(c.arxiv_id, -1.0):
            out[c.arxiv_id] = c.score
    return out


def select_candidates(claim: Claim, source: Paper | None, papers: dict[str, Paper], newer: Sequence[EvidenceChunk],
                      older: Sequence[EvidenceChunk], newer_ids: set[str], max_newer: int = MAX_NEWER,
                      max_older: int = MAX_OLDER) -> list[Candidate]:
    """The papers the judge reads: ranked by relevance (+ name bonus), newer and older apart."""
    rel = best_relevance(list(newer) + list(older))
    names = claim_names(claim, source)
    pool = [p for i, p in papers.items() if i != (source.arxiv_id if source else None)]
    keep = distinctive_names(names, pool, GENERIC_SHARE)
    named = {p.arxiv_id: [n for n in mentions(p, names) if n in keep] for p in pool}
    out: list[Candidate] = []
    for p in pool:
        if p.arxiv_id not in rel and not named.get(p.arxiv_id):
            continue
        out.append(Candidate(paper=p, newer=p.arxiv_id in newer_ids, relevance=round(rel.get(p.arxiv_id, 0.0), 4),
                             names=named.get(p.arxiv_id, [])))
    out.sort(key=lambda c: -c.rank_score)
    return [c for c in out if c.newer][:max_newer] + [c for c in out if not c.newer][:max_older]
