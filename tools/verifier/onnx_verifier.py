"""The embedded offline claim verifier: an int8 ONNX cross-encoder run with onnxruntime only.

Reads (claim, evidence sentence) and gives P(supports), P(contradicts), P(neither). No torch, no
transformers: tokenization is the ``tokenizers`` package with the ``tokenizer.json`` shipped beside the
model (BERT uncased WordPiece, pair encoding, truncation to 128 tokens, padding to the batch's longest).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tools.base import StanceProbs
from tools.verifier.onnx_runtime import cpu_session, softmax, verifier_threads

MODEL_DIR = Path(__file__).resolve().parent / "model"
DEFAULT_MODEL = MODEL_DIR / "verifier-int8.onnx"
DEFAULT_TOKENIZER = MODEL_DIR / "tokenizer.json"
LABELS = ("supports", "contradicts", "neither")  # the model's output order
MAX_LENGTH = 128


class VerifierModelMissing(FileNotFoundError):
    """The ONNX model or its tokenizer is not where it should be."""


class OnnxVerifier:
    """``Verifier`` (tools.base) backed by the shipped int8 MiniLM cross-encoder."""

    name = "retest-verifier-minilm-int8 v2"

    def __init__(
        self,
        model_path: Path | str | None = None,
        tokenizer_path: Path | str | None = None,
        *,
        intra_op_threads: int | None = None,
        batch_size: int = 32,
        max_length: int = MAX_LENGTH,
    ) -> None:
        from tokenizers import Tokenizer

        self.model_path = Path(model_path) if model_path else DEFAULT_MODEL
        self.tokenizer_path = (
            Path(tokenizer_path) if tokenizer_path else self.model_path.parent / "tokenizer.json"
        )
        for p, what in ((self.model_path, "model"), (self.tokenizer_path, "tokenizer")):
            if not p.is_file():
                raise VerifierModelMissing(
                    f"verifier {what} file not found: {p} — reinstall retest, or retrain it with "
                    f"`retest train-verifier --out {p.parent}` (needs the 'train' extra)"
                )
        self.batch_size = max(1, int(batch_size))
        self.max_length = int(max_length)
        tok = Tokenizer.from_file(str(self.tokenizer_path))
        tok.enable_truncation(max_length=self.max_length, strategy="longest_first")
        tok.no_padding()
        self._tok = tok
        self._pad_id = tok.token_to_id("[PAD]") or 0
        self._sess = cpu_session(self.model_path, verifier_threads(intra_op_threads))
        self._inputs = {i.name for i in self._sess.get_inputs()}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ core
    def _encode(self, claims: Sequence[str], sentences: Sequence[str]) -> dict[str, np.ndarray]:
        encs = self._tok.encode_batch(list(zip(claims, sentences, strict=True)))
        n = max(len(e.ids) for e in encs)
        ids = np.full((len(encs), n), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), n), dtype=np.int64)
        types = np.zeros((len(encs), n), dtype=np.int64)
        for i, e in enumerate(encs):
            k = len(e.ids)
            ids[i, :k] = e.ids
            mask[i, :k] = 1
            types[i, :k] = e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {k: v for k, v in feed.items() if k in self._inputs}

    def predict_pairs(self, claims: Sequence[str], sentences: Sequence[str]) -> np.ndarray:
        """Probabilities, shape (N, 3), columns in LABELS order (supports, contradicts, neither)."""
        if len(claims) != len(sentences):
            raise ValueError("claims and sentences must have the same length")
        if not claims:
            return np.zeros((0, 3), dtype=np.float32)
        # sort by length so each batch pads little; restore the order after
        order = sorted(range(len(claims)), key=lambda i: len(claims[i]) + len(sentences[i]))
        out = np.zeros((len(claims), 3), dtype=np.float32)
        for s in range(0, len(order), self.batch_size):
            idx = order[s : s + self.batch_size]
            feed = self._encode([claims[i] or "" for i in idx], [sentences[i] or "" for i in idx])
            with self._lock:
                logits = self._sess.run(["logits"], feed)[0]
            out[idx] = softmax(logits.astype(np.float32))
        return out

    def stance(self, claim: str, sentences: Sequence[str]) -> list[StanceProbs]:
        probs = self.predict_pairs([claim] * len(sentences), list(sentences))
        return [
            StanceProbs(supports=float(p[0]), contradicts=float(p[1]), neither=float(p[2])) for p in probs
        ]


_DEFAULT: OnnxVerifier | None = None
_DEFAULT_LOCK = threading.Lock()


def load_default_verifier(intra_op_threads: int | None = None) -> OnnxVerifier:
    """The shipped verifier, loaded once per process (thread-safe lazy singleton)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _DEFAULT_LOCK:
            if _DEFAULT is None:
                _DEFAULT = OnnxVerifier(intra_op_threads=intra_op_threads)
    return _DEFAULT
