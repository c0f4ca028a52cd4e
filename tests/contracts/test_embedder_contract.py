"""The embedders' conformance suite (`kb.core.protocols.Embedder`): vectors of the stated dimension, float32 and
L2-normalised, one per text and in order, the same for the same text, an empty batch as an empty matrix, and token
counts that grow with the text. A new embedder passes by adding one line to `EMBEDDERS`; those that load real
weights are marked ``e2e``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from kb.core.protocols import Embedder
from retrieval.embedders import HashingEmbedder, make_embedder

#: name -> how to make it. The real ones are the bundled models (docs/models.md).
EMBEDDERS: dict[str, Callable[[], Embedder]] = {
    "hashing": HashingEmbedder,
    "all-MiniLM-L6-v2 (onnx)": lambda: make_embedder("all-MiniLM-L6-v2", backend="onnx"),
    "all-MiniLM-L6-v2 (torch)": lambda: make_embedder("all-MiniLM-L6-v2", backend="torch"),
    "usem-multilingual-v3": lambda: make_embedder("usem-multilingual-v3"),
}
REAL = {"all-MiniLM-L6-v2 (onnx)", "all-MiniLM-L6-v2 (torch)", "usem-multilingual-v3"}
TEXTS = [
    "Metformin is contraindicated in severe renal impairment.",
    "二甲双胍禁用于严重肾功能不全的患者。",
    "Warfarin",
    "A" * 3000,  # longer than any model reads
]


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=pytest.mark.e2e) if name in REAL else name for name in EMBEDDERS],
)
def embedder(request: pytest.FixtureRequest) -> Embedder:
    return EMBEDDERS[request.param]()


def test_it_is_an_embedder(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert isinstance(embedder.name, str) and embedder.name
    assert isinstance(embedder.dim, int) and embedder.dim > 0


def test_documents_are_unit_vectors_one_per_text_in_order(embedder: Embedder) -> None:
    vectors = embedder.embed_documents(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    one_by_one = np.stack([embedder.embed_documents([text])[0] for text in TEXTS])
    assert np.allclose(vectors, one_by_one, atol=1e-4)  # batching changes nothing
    assert np.allclose(embedder.embed_documents(TEXTS), vectors, atol=1e-6)  # deterministic


def test_a_query_is_one_unit_vector(embedder: Embedder) -> None:
    query = embedder.embed_query("Is metformin safe in kidney disease?")
    assert query.shape == (embedder.dim,) and query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-3


def test_an_empty_batch_is_an_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed_documents([]).shape == (0, embedder.dim)


def test_tokens_are_counted(embedder: Embedder) -> None:
    short, longer = embedder.count_tokens("metformin"), embedder.count_tokens("metformin and renal impairment " * 5)
    assert isinstance(short, int) and 0 < short < longer
