"""Text helpers shared by every layer: whitespace normalisation and sentence splitting.

Sentences are always verbatim spans of the text they came from (after whitespace normalisation),
so a quote taken from `split_sentences(abstract)` passes the `quote_not_in_source` check.
"""
from __future__ import annotations

import re

# Abbreviations after which a period does not end a sentence.
_ABBREV = {
    "e.g", "i.e", "et al", "etc", "vs", "cf", "fig", "figs", "eq", "eqs", "sec", "no", "approx",
    "resp", "dr", "mr", "ms", "prof", "al", "ca", "viz", "incl", "esp", "st", "jr", "sr", "u.s",
}
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def normalize_ws(text: str | None) -> str:
    """Runs of whitespace to one space, trimmed; None to "" (str.split's whitespace is exactly regex \\s:
    str.isspace). The one definition: the readers, the snapshot parser and verification all use it."""
    return " ".join(text.split()) if text else ""


def split_sentences(text: str) -> list[str]:
    """Split an abstract into sentences; each returned sentence is a substring of normalize_ws(text)."""
    t = normalize_ws(text)
    if not t:
        return []
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(t):
        end = m.start()
        candidate = t[start:end].rstrip()
        # the word before the boundary
        tail = candidate.rsplit(" ", 1)[-1].rstrip(".!?\"')]").lower()
        if tail in _ABBREV or (len(tail) == 1 and tail.isalpha()):
            continue
        # keep closing quotes/brackets with the sentence they close
        seg = t[start:m.end()].rstrip()
        if seg:
            out.append(seg)
        start = m.end()
    last = t[start:].strip()
    if last:
        out.append(last)
    return out


def is_verbatim(quote: str, source: str) -> bool:
    """True when the quote is a verbatim span of the source, whitespace-normalised (case-sensitive)."""
    q = normalize_ws(quote)
    return bool(q) and q in normalize_ws(source)


_CLAUSE_SPLIT = re.compile(
    r";\s+|,?\s+(?:suggesting|implying|indicating|showing)\s+(?:that\s+)?|\s+[—–]\s+(?=[a-z])", re.I
)


def claim_clauses(text: str, min_words: int = 4) -> list[str]:
    """A compound claim's clauses: split at ';', ', suggesting/implying/indicating/showing (that)' and
    spaced dashes. "X; Y, suggesting Z" gives [X, Y, Z]; a simple claim gives itself. Fragments of
    fewer than `min_words` words stay out."""
    parts = [p.strip(" ,.;") for p in _CLAUSE_SPLIT.split(normalize_ws(text))]
    parts = [p for p in parts if len(p.split()) >= min_words]
    return parts if len(parts) > 1 else [normalize_ws(text)]
