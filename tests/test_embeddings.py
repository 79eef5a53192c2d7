"""MiniLMEmbedder (int8 ONNX, no torch) and its Chroma embedding function."""

from __future__ import annotations

import chroma_server  # noqa: F401  (puts the project root on sys.path)
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tools.base import Embedder
from tools.embeddings import (
    BATCH_TOKENS,
    DIM,
    EF_NAME,
    MODEL_NAME,
    MiniLMEmbedder,
    RetestEmbeddingFunction,
    token_batches,
)


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_protocol(embedder: MiniLMEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.name == MODEL_NAME == "all-MiniLM-L6-v2-int8"
    assert embedder.dim == DIM == 384


def test_similarity_sanity(embedder: MiniLMEmbedder) -> None:
    v = np.array(
        embedder.embed(
            ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
        )
    )
    assert v.shape == (3, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    sim = v @ v.T
    assert sim[0, 1] > 0.7  # fp32 all-MiniLM-L6-v2 gives 0.755
    assert sim[0, 2] < 0.2


def test_order_and_padding_do_not_change_vectors(embedder: MiniLMEmbedder) -> None:
    texts = [
        "short",
        "A considerably longer sentence, with many more tokens than the others in this list.",
        "mid length text here",
        "",
        "Another one.",
    ]
    together = embedder.embed_array(texts)
    alone = np.stack([embedder.embed_array([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-4
    small_batches = MiniLMEmbedder(batch_size=2).embed_array(texts)
    assert np.abs(together - small_batches).max() < 1e-4


@given(st.lists(st.integers(1, 256), max_size=200), st.integers(1, 64), st.integers(1, 2048))
def test_token_batches_take_every_text_once_within_the_budget(lengths, rows, tokens):
    batches = token_batches(lengths, rows, tokens)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        width = max(lengths[i] for i in b)
        assert len(b) <= rows
        assert len(b) * width <= tokens or len(b) == 1  # a text longer than the budget goes alone
    # shortest first, so each batch is padded to a text no longer than the next batch's
    widths = [max(lengths[i] for i in b) for b in batches]
    assert widths == sorted(widths)


def test_batches_by_token_budget_give_the_vectors_of_fixed_batches(embedder: MiniLMEmbedder) -> None:
    texts = [("word " * n).strip() for n in (3, 120, 7, 40, 250, 1, 60, 60, 9)]
    ids = embedder.tokenize(texts)
    assert len(token_batches([len(t) for t in ids], embedder.batch_size, BATCH_TOKENS)) > 1
    fixed = np.concatenate([embedder._run([t]) for t in ids])
    assert np.abs(embedder.embed_array(texts) - fixed).max() < 1e-4


def test_truncation_and_empty(embedder: MiniLMEmbedder) -> None:
    assert embedder.embed([]) == []
    long = "word " * 2000
    short = MiniLMEmbedder(max_length=16)
    assert max(len(ids) for ids in short.tokenize([long])) == 16
    assert len(short.embed([long])[0]) == 384
    assert len(embedder.tokenize([long])[0]) == 256


def test_embedding_function_registered_and_rebuildable() -> None:
    from chromadb.utils.embedding_functions import config_to_embedding_function, known_embedding_functions

    assert known_embedding_functions[EF_NAME] is RetestEmbeddingFunction
    ef = RetestEmbeddingFunction(max_length=128, batch_size=8)
    assert not ef.is_legacy()
    assert ef.default_space() == "cosine"
    cfg = ef.get_config()
    rebuilt = config_to_embedding_function({"name": EF_NAME, "config": cfg})
    assert isinstance(rebuilt, RetestEmbeddingFunction)
    assert rebuilt.get_config() == cfg
    out = rebuilt(["A man is eating food.", "hello"])
    assert len(out) == 2 and len(out[0]) == 384
    with pytest.raises(ValueError):
        RetestEmbeddingFunction.build_from_config({"model": "something-else"})
