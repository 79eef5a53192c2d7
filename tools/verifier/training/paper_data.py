"""(claim, whole paper) examples for the paper-level stance model, from every labelled source.

Each loader returns :class:`PaperExample` rows: the claim, the paper's title and abstract sentences
(``claims.text.split_sentences``, the same split the runtime uses), the stance label, and the
indices of the rationale sentences where the label names one. Sources:

- SciFact at abstract level (Wadden et al. 2020): each claim against each cited abstract
  (SUPPORT / CONTRADICT with their rationale sentences, else neither), plus retrieved abstracts
  that are not cited (neither: hard negatives);
- the shared paper-level labels (``paper-stance/pairs.jsonl``);
- dated-claims cases (``claims.md`` + ``papers.jsonl`` + ``paper_labels.jsonl``): retest's own under
  ``data/train``, and — for measuring only — ``data/cases`` and the shared ones;
- teacher-written claims for real abstracts (``data/train/synthetic/pairs.jsonl``).
Pure Python: no torch.
"""
from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from claims.text import normalize_ws, split_sentences

LABELS: tuple[str, str, str] = ("supports", "contradicts", "neither")
LABEL2ID = {lab: i for i, lab in enumerate(LABELS)}
REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED = REPO_ROOT.parent / "shared" / "data"
OWN = REPO_ROOT / "data"
_SCIFACT = {"SUPPORT": "supports", "CONTRADICT": "contradicts"}


@dataclass
class PaperExample:
    claim: str
    title: str
    sentences: list[str]
    label: str
    rationale: list[int] = field(default_factory=list)
    rationale_known: bool = True  # False: the label names no sentence we could find
    source: str = ""  # scifact | paper-stance | case:<name> | synthetic
    group: str = ""  # topic or claim id, for grouped splits
    paper_id: str = ""
    claim_id: str = ""
    weight: float = 1.0


def read_jsonl(path: Path | str) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def _words(s: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", s.lower()))


def rationale_index(rationale: str | None, sentences: list[str]) -> int | None:
    """The abstract sentence a verbatim rationale is (or lies in); None when it is the title or absent."""
    if not rationale:
        return None
    r = normalize_ws(rationale)
    for i, s in enumerate(sentences):
        if r in s or s in r:
            return i
    rw = _words(r)
    best, bi = 0.0, None
    for i, s in enumerate(sentences):
        sw = _words(s)
        j = len(rw & sw) / max(1, len(rw | sw))
        if j > best:
            best, bi = j, i
    return bi if best >= 0.5 else None


def load_papers(paths: Iterable[Path | str]) -> dict[str, dict]:
    """arXiv records by id from papers.jsonl files (the bundled shape)."""
    out: dict[str, dict] = {}
    for p in paths:
        p = Path(p)
        if not p.is_file():
            continue
        for d in read_jsonl(p):
            out.setdefault(d["id"], d)
    return out


def all_paper_files() -> list[Path]:
    files = [SHARED / "arxiv" / "papers.jsonl"]
    files += sorted((SHARED / "dated-claims").glob("*/papers.jsonl"))
    files += sorted(OWN.glob("*/*/papers.jsonl"))
    return files


def _example(claim: str, rec: dict, label: str, rationale: str | None, **kw) -> PaperExample:
    sents = split_sentences(rec.get("abstract") or "")
    idx = rationale_index(rationale, sents)
    known = label == "neither" or idx is not None
    return PaperExample(claim=normalize_ws(claim), title=normalize_ws(rec.get("title") or ""), sentences=sents,
                        label=label, rationale=[idx] if idx is not None else [], rationale_known=known,
                        paper_id=rec.get("id", ""), **kw)


# --------------------------------------------------------------------------------------------- SciFact
def split_scifact(claims: list[dict], frac: float = 0.18, seed: int = 13) -> tuple[set[int], set[int]]:
    """Train / validation claim ids, stratified by claim label — the same split as the sentence-level
    verifier's (``tools.verifier.data.split_scifact_ids``), so no validation claim is trained on at either
    level."""
    from tools.verifier.data import split_scifact_ids

    tr, va = split_scifact_ids(claims, frac=frac, seed=seed)
    return set(tr), set(va)


def scifact_examples(claims: list[dict], corpus: dict[int, dict], ids: set[int],
                     negatives: dict[int, list[int]] | None = None, n_neg: int = 2) -> list[PaperExample]:
    out = []
    for c in claims:
        if c["id"] not in ids:
            continue
        docs = {int(d) for d in c.get("cited_doc_ids", [])} | {int(d) for d in c["evidence"]}
        for d in sorted(docs):
            if d not in corpus:
                continue
            ev = c["evidence"].get(str(d)) or []
            label = _SCIFACT.get(ev[0]["label"], "neither") if ev else "neither"
            rat = sorted({i for e in ev for i in e["sentences"]})
            doc = corpus[d]
            out.append(PaperExample(claim=c["claim"], title=doc["title"], sentences=list(doc["abstract"]),
                                    label=label, rationale=rat, source="scifact", group=f"scifact:{c['id']}",
                                    paper_id=str(d), claim_id=str(c["id"])))
        for d in (negatives or {}).get(c["id"], [])[:n_neg]:
            if d in docs or d not in corpus:
                continue
            doc = corpus[d]
            out.append(PaperExample(claim=c["claim"], title=doc["title"], sentences=list(doc["abstract"]),
                                    label="neither", source="scifact-neg", group=f"scifact:{c['id']}",
                                    paper_id=str(d), claim_id=str(c["id"])))
    return out


def load_scifact(data_dir: Path = SHARED) -> tuple[list[dict], dict[int, dict]]:
    claims = read_jsonl(data_dir / "scifact" / "claims_train.jsonl")
    corpus = {int(d["doc_id"]): d for d in read_jsonl(data_dir / "scifact" / "corpus.jsonl")}
    return claims, corpus


# ------------------------------------------------------------------------------------ paper-stance
def paper_stance_examples(path: Path, papers: dict[str, dict], stretched_source: bool = False) -> list[PaperExample]:
    """The shared paper-level labels. A `stretched` claim against its own source is left out unless asked
    for: telling a stretched paraphrase from a faithful one is beyond a small model, and learning it
    taught the model to read faithful paraphrases as contradictions."""
    out = []
    for d in read_jsonl(path):
        rec = papers.get(d["paper_id"])
        if rec is None:
            continue
        if not stretched_source and d.get("kind") == "stretched" and d["paper_id"] == d.get("source_id"):
            continue
        w = 0.5 if d.get("confidence") == "low" else 1.0
        out.append(_example(d["claim"], rec, d["label"], d.get("rationale"), source="paper-stance",
                            group="alignment", claim_id=d["claim_id"], weight=w))
    return out


# ------------------------------------------------------------------------------------------ cases
def case_claims(case_dir: Path) -> list[tuple[str, str]]:
    """(text, date) of each finding of a case's claims.md, in order (n = position + 1)."""
    from claims.readers import read_claims

    cs = read_claims(case_dir / "claims.md")
    return [(c.text, c.claim_date) for c in cs.claims]


def case_examples(case_dir: Path | str, papers: dict[str, dict] | None = None) -> list[PaperExample]:
    case_dir = Path(case_dir)
    recs = load_papers([case_dir / "papers.jsonl"])
    if papers:
        recs = {**papers, **recs}
    found = case_claims(case_dir)
    out = []
    for d in read_jsonl(case_dir / "paper_labels.jsonl"):
        n = int(d["n"])
        rec = recs.get(d["paper_id"])
        if rec is None or not 1 <= n <= len(found):
            continue
        w = 0.5 if d.get("confidence") == "low" else 1.0
        out.append(_example(found[n - 1][0], rec, d["label"], d.get("rationale"), source=f"case:{case_dir.name}",
                            group=case_dir.name, claim_id=f"{case_dir.name}#{n}", weight=w))
    return out


def dense_examples(folder: Path | str, papers: dict[str, dict] | None = None) -> list[PaperExample]:
    """A densely labelled corpus (``data/train/dense/<topic>``): many claims, each labelled against every
    paper of the corpus (``pairs.jsonl``; papers from the folder's ``papers.jsonl`` or the training case
    of the same name)."""
    folder = Path(folder)
    recs = load_papers([folder / "papers.jsonl", OWN / "train" / folder.name / "papers.jsonl"])
    if papers:
        recs = {**papers, **recs}
    out = []
    f = folder / "pairs.jsonl"
    if not f.is_file():
        return out
    for d in read_jsonl(f):
        rec = recs.get(d.get("paper_id", ""))
        if rec is None or d.get("label") not in LABEL2ID:
            continue
        w = 0.5 if d.get("confidence") == "low" else 1.0
        out.append(_example(d["claim"], rec, d["label"], d.get("rationale"), source="dense",
                            group=f"dense:{folder.name}", claim_id=f"dense:{folder.name}#{d['n']}", weight=w))
    return out


def synthetic_examples(path: Path, papers: dict[str, dict], skip_kinds: frozenset[str] = frozenset({"overstated"})
                       ) -> list[PaperExample]:
    """Teacher-written claims for real abstracts. `overstated` claims (a paper's finding subtly stretched)
    are left out by default, for the same reason as stretched claims in ``paper_stance_examples``."""
    out = []
    if not path.is_file():
        return out
    for d in read_jsonl(path):
        rec = papers.get(d.get("paper_id", ""))
        if rec is None or d.get("label") not in LABEL2ID or d.get("kind") in skip_kinds:
            continue
        w = 0.5 if d.get("confidence") == "low" else 1.0
        out.append(_example(d["claim"], rec, d["label"], d.get("rationale"), source="synthetic",
                            group=f"synthetic:{d['paper_id']}", claim_id=f"syn:{d['paper_id']}", weight=w))
    return out


def cross_negatives(examples: list[PaperExample], papers: dict[str, dict], n: int, seed: int = 13,
                    exclude: set[str] | None = None) -> list[PaperExample]:
    """Claims against papers from another group: easy `neither`, so topic words alone never decide."""
    rng = random.Random(seed)
    pool = [r for pid, r in papers.items() if not exclude or pid not in exclude]
    claims = [e for e in examples if e.label != "neither"]
    out = []
    for _ in range(n):
        if not claims or not pool:
            break
        e = rng.choice(claims)
        rec = rng.choice(pool)
        if rec["id"] == e.paper_id:
            continue
        out.append(_example(e.claim, rec, "neither", None, source="cross-neg", group=e.group,
                            claim_id=e.claim_id))
    return out


def cap_neither(examples: list[PaperExample], per_claim: int, seed: int = 13,
                sources: tuple[str, ...] = ("dense", "paper-stance", "case:")) -> list[PaperExample]:
    """Keep at most ``per_claim`` "neither" examples per claim from the densely labelled sources, the ones
    that share the most words with the claim first (the hard negatives: same vocabulary, no side).

    Densely labelled corpora pair each claim with every paper, so they hold ten "neither" for each side
    taken; trained on them as they are, the model learned that a machine-learning abstract takes no side."""
    rng = random.Random(seed)
    kept: list[PaperExample] = []
    pools: dict[str, list[PaperExample]] = {}
    for e in examples:
        if e.label == "neither" and e.source.startswith(sources):
            pools.setdefault(e.claim_id or e.claim, []).append(e)
        else:
            kept.append(e)
    for pool in pools.values():
        cw = _words(pool[0].claim)
        rng.shuffle(pool)
        pool.sort(key=lambda e: -len(cw & _words(e.title + " " + " ".join(e.sentences))))
        kept += pool[:per_claim]
    return kept


def label_counts(examples: Iterable[PaperExample]) -> dict[str, int]:
    out = dict.fromkeys(LABELS, 0)
    for e in examples:
        out[e.label] += 1
    return out


class PaperPairsError(ValueError):
    """A paper-level pairs file that cannot be read: names the file, the line and what to do."""


def user_paper_examples(path: Path | str, papers: dict[str, dict] | None = None) -> list[PaperExample]:
    """Your own (claim, paper) stances, e.g. distilled from an LLM judge: JSONL of
    ``{"claim", "label"|"stance", "rationale"?, "title", "abstract"}`` or ``{"claim", "label", "paper_id"}``
    with the paper in the snapshot. Labels: supports / contradicts / neither."""
    path = Path(path)
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PaperPairsError(f"{path}: cannot read ({e.strerror}) — check the path") from e
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except json.JSONDecodeError as e:
            raise PaperPairsError(f"{path}:{i}: not valid JSON ({e.msg}) — one JSON object per line") from e
        if not isinstance(d, dict):
            raise PaperPairsError(f"{path}:{i}: expected a JSON object — see docs/verifier.md")
        label = str(d.get("label") or d.get("stance") or "").strip().lower()
        label = {"support": "supports", "contradict": "contradicts", "refutes": "contradicts",
                 "nei": "neither", "neutral": "neither"}.get(label, label)
        if label not in LABEL2ID:
            raise PaperPairsError(f"{path}:{i}: label {label!r} — use supports, contradicts or neither")
        claim = d.get("claim")
        if not isinstance(claim, str) or not claim.strip():
            raise PaperPairsError(f"{path}:{i}: no claim text — add \"claim\": \"…\"")
        rec = None
        if isinstance(d.get("abstract"), str) and d["abstract"].strip():
            rec = {"id": str(d.get("paper_id") or f"user:{i}"), "title": str(d.get("title") or ""),
                   "abstract": d["abstract"]}
        elif papers and d.get("paper_id") in papers:
            rec = papers[d["paper_id"]]
        if rec is None:
            raise PaperPairsError(f"{path}:{i}: no paper — give \"title\" and \"abstract\", or a \"paper_id\" "
                                  "that the snapshot holds")
        out.append(_example(claim, rec, label, d.get("rationale"), source="user", group=f"user:{path.name}",
                            claim_id=f"user:{i}"))
    if not out:
        raise PaperPairsError(f"{path}: no pairs found — one JSON object per line")
    return out
