"""Pair builders for training and evaluating the offline claim verifier.

Every builder returns a list of :class:`Pair` (claim, evidence sentence, stance label). Stance labels are
the project's own: ``supports`` / ``contradicts`` / ``neither`` (``claims.models.Stance``).

Data sets (read-only; default location ``<repo>/../shared/data``, overridable everywhere):

- ``ml-stance/pairs.jsonl`` — in-domain, teacher-labelled (distillation) pairs; split BY PAPER.
- ``scifact/claims_train.jsonl`` + ``corpus.jsonl`` — rationale sentences give supports / contradicts,
  other sentences of the cited abstracts and the cited abstracts of no-evidence claims give neither;
  split BY CLAIM.
- ``climate-fever/climate-fever.jsonl`` — per-evidence SUPPORTS / REFUTES / NOT_ENOUGH_INFO.
- user pairs: JSONL of ``{"claim", "evidence_sentence", "stance"}`` (e.g. an LLM judge's stances).

Pure Python: no torch / transformers here.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from claims.errors import InputError

LABELS: tuple[str, str, str] = ("supports", "contradicts", "neither")
LABEL2ID = {lab: i for i, lab in enumerate(LABELS)}

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
MODEL_DIR = Path(__file__).resolve().parent / "model"

_STANCE_ALIASES = {
    "supports": "supports",
    "support": "supports",
    "supported": "supports",
    "entails": "supports",
    "entailment": "supports",
    "contradicts": "contradicts",
    "contradict": "contradicts",
    "refutes": "contradicts",
    "refute": "contradicts",
    "contradiction": "contradicts",
    "neither": "neither",
    "nei": "neither",
    "not_enough_info": "neither",
    "neutral": "neither",
    "not enough info": "neither",
    "none": "neither",
}


@dataclass(frozen=True)
class Pair:
    claim: str
    evidence: str
    label: str  # one of LABELS
    source: str = ""  # ml-stance | scifact | climate-fever | user
    group: str = ""  # paper id / claim id, for grouped splits


# A pairs / claims file that cannot be read: the file, the line and what to do (exit status 2).
PairsFormatError = InputError


def normalize_stance(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return _STANCE_ALIASES.get(value.strip().lower())


def read_jsonl(path: Path | str) -> Iterable[tuple[int, dict]]:
    """Yield (line number, object) from a JSONL file; raises PairsFormatError on a bad line."""
    p = Path(path)
    if not p.is_file():
        raise PairsFormatError(p, None, "file not found", "check the path")
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            s = line.strip()
            if not s:
                continue
            try:
                obj = json.loads(s)
            except json.JSONDecodeError as e:
                raise PairsFormatError(p, n, f"not valid JSON ({e.msg})", "fix or remove this line") from None
            if not isinstance(obj, dict):
                raise PairsFormatError(p, n, "expected a JSON object per line", "fix or remove this line")
            yield n, obj


# --------------------------------------------------------------------------------------------- user pairs
def read_user_pairs(path: Path | str, source: str = "user") -> list[Pair]:
    """Pairs in the ``{"claim", "evidence_sentence", "stance"}`` JSONL format (extra keys ignored)."""
    out: list[Pair] = []
    for n, obj in read_jsonl(path):
        claim = obj.get("claim")
        ev = obj.get("evidence_sentence", obj.get("evidence"))
        if not isinstance(claim, str) or not claim.strip():
            raise PairsFormatError(
                path,
                n,
                "missing or empty 'claim'",
                'each line needs {"claim", "evidence_sentence", "stance"}',
            )
        if not isinstance(ev, str) or not ev.strip():
            raise PairsFormatError(
                path,
                n,
                "missing or empty 'evidence_sentence'",
                'each line needs {"claim", "evidence_sentence", "stance"}',
            )
        lab = normalize_stance(obj.get("stance"))
        if lab is None:
            raise PairsFormatError(
                path, n, f"bad 'stance' {obj.get('stance')!r}", "use one of supports | contradicts | neither"
            )
        out.append(Pair(claim.strip(), ev.strip(), lab, source, str(obj.get("paper_id", ""))))
    if not out:
        raise PairsFormatError(
            path, None, "no pairs in file", 'add lines of {"claim", "evidence_sentence", "stance"}'
        )
    return out


# ---------------------------------------------------------------------------------------------- ml-stance
def load_ml_stance(path: Path | str | None = None) -> list[Pair]:
    path = Path(path) if path else DEFAULT_DATA_DIR / "ml-stance" / "pairs.jsonl"
    out = []
    for _, o in read_jsonl(path):
        out.append(
            Pair(
                o["claim"],
                o["evidence_sentence"],
                normalize_stance(o["stance"]) or "neither",
                "ml-stance",
                str(o["paper_id"]),
            )
        )
    return out


def split_by_group(
    pairs: Sequence[Pair], frac: float = 0.2, seed: int = 13
) -> tuple[list[Pair], list[Pair], list[str]]:
    """(train, heldout, heldout group ids): a seeded split by ``Pair.group`` (e.g. paper id)."""
    groups = sorted({p.group for p in pairs})
    rng = random.Random(seed)
    rng.shuffle(groups)
    n_held = max(1, round(len(groups) * frac))
    held = set(groups[:n_held])
    train = [p for p in pairs if p.group not in held]
    test = [p for p in pairs if p.group in held]
    return train, test, sorted(held)


def heldout_ml_pairs(path: Path | str | None = None, ids_file: Path | str | None = None) -> list[Pair]:
    """The ml-stance pairs whose papers are listed in the shipped ``heldout_papers.json``."""
    ids = set(json.loads(Path(ids_file or MODEL_DIR / "heldout_papers.json").read_text())["paper_ids"])
    return [p for p in load_ml_stance(path) if p.group in ids]


# ------------------------------------------------------------------------------------------------ SciFact
def load_scifact_claims(path: Path | str | None = None) -> list[dict]:
    path = Path(path) if path else DEFAULT_DATA_DIR / "scifact" / "claims_train.jsonl"
    out = []
    for n, o in read_jsonl(path):
        if "claim" not in o or "id" not in o:
            raise PairsFormatError(
                path,
                n,
                "a SciFact claim needs 'id' and 'claim'",
                "pass a SciFact claims JSONL ({id, claim, evidence, cited_doc_ids})",
            )
        out.append(o)
    return out


def load_scifact_corpus(path: Path | str | None = None) -> dict[int, dict]:
    path = Path(path) if path else DEFAULT_DATA_DIR / "scifact" / "corpus.jsonl"
    out = {}
    for n, o in read_jsonl(path):
        if "doc_id" not in o or not isinstance(o.get("abstract"), list):
            raise PairsFormatError(
                path,
                n,
                "a SciFact corpus line needs 'doc_id' and an 'abstract' list",
                "pass a SciFact corpus JSONL ({doc_id, title, abstract: [sentences]})",
            )
        out[int(o["doc_id"])] = o
    return out


def scifact_claim_label(claim: dict) -> str:
    """Claim-level gold label: SUPPORT / CONTRADICT / NOT ENOUGH INFO."""
    labels = {ev["label"] for evs in (claim.get("evidence") or {}).values() for ev in evs}
    if not labels:
        return "NOT ENOUGH INFO"
    if "CONTRADICT" in labels and "SUPPORT" not in labels:
        return "CONTRADICT"
    if "SUPPORT" in labels and "CONTRADICT" not in labels:
        return "SUPPORT"
    return "CONTRADICT"  # mixed (does not occur in train)


def split_scifact_ids(
    claims: Sequence[dict], frac: float = 0.18, seed: int = 13
) -> tuple[list[int], list[int]]:
    """(train ids, val ids), stratified by claim-level label, seeded."""
    rng = random.Random(seed)
    train, val = [], []
    by_label: dict[str, list[int]] = {}
    for c in claims:
        by_label.setdefault(scifact_claim_label(c), []).append(int(c["id"]))
    for lab in sorted(by_label):
        ids = sorted(by_label[lab])
        rng.shuffle(ids)
        k = round(len(ids) * frac)
        val += ids[:k]
        train += ids[k:]
    return sorted(train), sorted(val)


def scifact_pairs(
    claims: Sequence[dict],
    corpus: dict[int, dict],
    ids: Iterable[int] | None = None,
    neither_per_doc: int = 2,
    seed: int = 13,
) -> list[Pair]:
    """Sentence pairs from SciFact claims (optionally only those in ``ids``).

    Rationale sentences → supports / contradicts; up to ``neither_per_doc`` other sentences of each cited
    abstract (and of the cited abstracts of no-evidence claims) → neither.
    """
    keep = set(int(i) for i in ids) if ids is not None else None
    rng = random.Random(seed)
    out: list[Pair] = []
    for c in claims:
        cid = int(c["id"])
        if keep is not None and cid not in keep:
            continue
        evidence = c.get("evidence") or {}
        docs = set(int(d) for d in c.get("cited_doc_ids", [])) | set(int(d) for d in evidence)
        for d in sorted(docs):
            doc = corpus.get(d)
            if not doc:
                continue
            sents = doc["abstract"]
            rationale: dict[int, str] = {}
            for ev in evidence.get(str(d), []):
                lab = "supports" if ev["label"] == "SUPPORT" else "contradicts"
                for i in ev["sentences"]:
                    rationale[int(i)] = lab
            for i, lab in sorted(rationale.items()):
                if i < len(sents):
                    out.append(Pair(c["claim"], sents[i], lab, "scifact", str(cid)))
            others = [i for i in range(len(sents)) if i not in rationale]
            rng.shuffle(others)
            for i in others[:neither_per_doc]:
                out.append(Pair(c["claim"], sents[i], "neither", "scifact", str(cid)))
    return out


# ------------------------------------------------------------------------------------------ CLIMATE-FEVER
def climate_fever_pairs(path: Path | str | None = None) -> list[Pair]:
    path = Path(path) if path else DEFAULT_DATA_DIR / "climate-fever" / "climate-fever.jsonl"
    m = {"SUPPORTS": "supports", "REFUTES": "contradicts", "NOT_ENOUGH_INFO": "neither"}
    out = []
    for _, o in read_jsonl(path):
        for ev in o.get("evidences", []):
            lab = m.get(ev.get("evidence_label"))
            if lab and ev.get("evidence"):
                out.append(Pair(o["claim"], ev["evidence"], lab, "climate-fever", str(o.get("claim_id"))))
    return out


def label_counts(pairs: Iterable[Pair]) -> dict[str, int]:
    c = {lab: 0 for lab in LABELS}
    for p in pairs:
        c[p.label] += 1
    return c


# ------------------------------------------------------------------------------- cross-paper negatives
def cross_paper_negatives(
    ml_train: Sequence[Pair],
    papers_path: Path | str,
    n: int,
    seed: int = 13,
    exclude_papers: Iterable[str] = (),
    rank_from: int = 5,
    rank_to: int = 40,
) -> list[Pair]:
    """Hard NEITHER pairs: a training claim against a related-looking sentence of *another* paper.

    In retrieval, most sentences a judge sees are about other work; a verifier trained only on
    same-paper pairs reads stance into them (it answered "contradicts" for other methods' results).
    For each sampled claim, candidates are sentences of other training papers ranked by word
    overlap with the claim; one is drawn from ranks `rank_from`..`rank_to` (close enough to look
    relevant, far enough to rarely be real evidence). Held-out papers are never used."""
    from claims.text import split_sentences

    excluded = set(exclude_papers)
    sents: list[tuple[str, str]] = []
    for _, o in read_jsonl(papers_path):
        pid = str(o.get("id"))
        if pid in excluded or not o.get("abstract"):
            continue
        sents += [(pid, s) for s in split_sentences(o["abstract"]) if len(s.split()) >= 6]
    words = [set(re.findall(r"[a-z]{4,}", s.lower())) for _, s in sents]
    rng = random.Random(seed + 1)
    claims = [p for p in ml_train if p.group not in excluded]
    rng.shuffle(claims)
    out: list[Pair] = []
    seen: set[str] = set()
    for p in claims:
        if len(out) >= n:
            break
        if p.claim in seen:
            continue
        seen.add(p.claim)
        cw = set(re.findall(r"[a-z]{4,}", p.claim.lower()))
        ranked = sorted(
            (i for i, (pid, _) in enumerate(sents) if pid != p.group),
            key=lambda i: -len(cw & words[i]) / (len(words[i]) ** 0.5 + 1),
        )[rank_from:rank_to]
        if ranked:
            i = rng.choice(ranked)
            out.append(Pair(p.claim, sents[i][1], "neither", "cross-paper", p.group))
    return out
