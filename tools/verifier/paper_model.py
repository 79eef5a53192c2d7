"""The embedded paper-level stance model: an int8 ONNX MiniLM run with onnxruntime only.

Reads one claim against a paper's title and whole abstract (``paper_encoding``) and gives
P(supports), P(contradicts), P(neither) for the paper, plus a score per abstract sentence for how
much it carries that stance; the best-scoring sentence is the rationale the judge quotes (verbatim:
it is a sentence of ``claims.text.split_sentences(abstract)``). No torch, no transformers.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from claims.models import Paper
from claims.text import split_sentences
from tools.base import PaperStance
from tools.verifier.onnx_runtime import cpu_session, softmax, verifier_threads
from tools.verifier.paper_encoding import Encoded, PairEncoder

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "paper-stance-int8.onnx"
DEFAULT_MODEL = MODEL_DIR / MODEL_FILE


class PaperModelMissing(FileNotFoundError):
    """The ONNX model or its tokenizer is not where it should be."""


class PaperModelError(RuntimeError):
    """The ONNX model file is there but onnxruntime cannot load it."""


class OnnxPaperVerifier:
    """``PaperVerifier`` (tools.base) backed by the shipped int8 model."""

    name = "retest-paper-stance-minilm-int8 v2"

    def __init__(self, model_path: Path | str | None = None, tokenizer_path: Path | str | None = None, *,
                 intra_op_threads: int | None = None, batch_size: int = 8, lazy: bool = False) -> None:
        """``lazy``: check the files now but load the tokenizer and the onnxruntime session on the first
        prediction (a run whose readings are all cached never loads them)."""
        self.model_path = Path(model_path) if model_path else DEFAULT_MODEL
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path else self.model_path.parent / "tokenizer.json"
        for p, what in ((self.model_path, "model"), (self.tokenizer_path, "tokenizer")):
            if not p.is_file():
                raise PaperModelMissing(
                    f"paper stance {what} file not found: {p} — reinstall retest, or retrain it with "
                    f"`retest train-verifier --paper --out {p.parent}` (needs the 'train' extra)")
        if self.model_path.resolve() != DEFAULT_MODEL.resolve():
            self.name = f"paper-stance model {self.model_path}"
        self.batch_size = max(1, int(batch_size))
        self._threads = verifier_threads(intra_op_threads)
        self._enc: PairEncoder | None = None
        self._sess = None
        self._lock = threading.Lock()
        if not lazy:
            self._load()

    def _load(self) -> None:
        if self._sess is not None:
            return
        with self._lock:
            if self._sess is not None:
                return
            from tokenizers import Tokenizer

            enc = PairEncoder(Tokenizer.from_file(str(self.tokenizer_path)))
            try:
                sess = cpu_session(self.model_path, self._threads)
            except Exception as e:
                raise PaperModelError(
                    f"the paper stance model {self.model_path} cannot be loaded ({type(e).__name__}: "
                    f"{str(e).splitlines()[0] if str(e) else ''}) — reinstall retest, or retrain it with "
                    f"`retest train-verifier --paper --out {self.model_path.parent}`") from e
            self._enc, self._sess = enc, sess

    def _feed(self, encs: list[Encoded]) -> dict[str, np.ndarray]:
        n = max(len(e.input_ids) for e in encs)
        s = max(1, max(len(e.sentence_positions) for e in encs))
        b = len(encs)
        ids = np.full((b, n), self._enc.pad, dtype=np.int64)
        mask = np.zeros((b, n), dtype=np.int64)
        types = np.zeros((b, n), dtype=np.int64)
        pos = np.zeros((b, s), dtype=np.int64)
        smask = np.zeros((b, s), dtype=np.int64)
        for i, e in enumerate(encs):
            k = len(e.input_ids)
            ids[i, :k] = e.input_ids
            mask[i, :k] = 1
            types[i, :k] = e.token_type_ids
            m = len(e.sentence_positions)
            pos[i, :m] = e.sentence_positions
            smask[i, :m] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types,
                "sentence_positions": pos, "sentence_mask": smask}

    def predict(self, claims: Sequence[str], titles: Sequence[str],
                sentences: Sequence[Sequence[str]]) -> list[PaperStance]:
        """One stance per (claim, title, abstract sentences) triple, in the given order."""
        self._load()
        encs = [self._enc.encode(c, t, s) for c, t, s in zip(claims, titles, sentences, strict=True)]
        out: list[PaperStance | None] = [None] * len(encs)
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].input_ids))
        for start in range(0, len(order), self.batch_size):
            idx = order[start: start + self.batch_size]
            with self._lock:
                logits, rat = self._sess.run(["logits", "rationale"], self._feed([encs[i] for i in idx]))
            probs = softmax(logits.astype(np.float32))
            for row, i in enumerate(idx):
                e = encs[i]
                n_s = len(sentences[i])
                scores = [0.0] * n_s
                r = 1.0 / (1.0 + np.exp(-np.clip(rat[row, : len(e.kept)], -30, 30)))
                for j, s_idx in enumerate(e.kept):
                    scores[s_idx] = round(float(r[j]), 4)
                best = max(range(len(e.kept)), key=lambda j: r[j]) if e.kept else None
                p = probs[row]
                out[i] = PaperStance(supports=float(p[0]), contradicts=float(p[1]), neither=float(p[2]),
                                     rationale=e.kept[best] if best is not None else None, sentence_scores=scores)
        return [o for o in out if o is not None]

    def judge_papers(self, claim: str, papers: Sequence[Paper]) -> list[PaperStance]:
        return self.predict([claim] * len(papers), [p.title for p in papers],
                            [split_sentences(p.abstract) for p in papers])


_DEFAULT: OnnxPaperVerifier | None = None
_DEFAULT_LOCK = threading.Lock()


_BY_PATH: dict[Path, OnnxPaperVerifier] = {}


def load_default_paper_verifier(intra_op_threads: int | None = None, *, lazy: bool = False,
                                model_path: Path | str | None = None) -> OnnxPaperVerifier:
    """The shipped paper-level model, loaded once per process (``lazy``: on its first prediction).
    ``model_path``: another model file (e.g. one ``retest train-verifier --paper`` wrote; RETEST_PAPER_MODEL),
    likewise loaded once per process."""
    global _DEFAULT
    if model_path is not None and Path(model_path).resolve() != DEFAULT_MODEL.resolve():
        key = Path(model_path).resolve()
        with _DEFAULT_LOCK:
            if key not in _BY_PATH:
                _BY_PATH[key] = OnnxPaperVerifier(key, intra_op_threads=intra_op_threads, lazy=True)
        if not lazy:
            _BY_PATH[key]._load()
        return _BY_PATH[key]
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = OnnxPaperVerifier(intra_op_threads=intra_op_threads, lazy=lazy)
    if not lazy:
        _DEFAULT._load()
    return _DEFAULT
