"""The ``langchain`` system of ``medkb eval retrieval``: LangChain's own hybrid recipe over the same chunks.

An ``EnsembleRetriever`` of a ``BM25Retriever`` (rank_bm25) and a ``FAISS`` vector store, equal weights, fused by
LangChain's weighted reciprocal rank (c=60). It is built once per knowledge base from what ``kb.sqlite`` already
holds, the text the lexical index sees and the stored chunk vectors (nothing is embedded again), so it differs from
``rrf`` only in LangChain's BM25, tokenizer and fusion. One difference is LangChain's, kept on purpose: its BM25
returns ``k`` chunks whatever their score, so chunks without a query word still earn fusion credit.

LangChain types stay in this module; it imports LangChain only when a baseline is built, and raises `EvalError`
naming the ``eval`` extra when LangChain is missing.

Example::

    hits = langchain_search(kb, "Does metformin lower blood glucose?", depth=10)
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import time
import weakref
from typing import Any, cast

import numpy as np

from kb.core.lexical import index_text
from kb.core.types import Hit
from kb.evaluation.datasets import EvalError
from kb.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

#: Chunks each retriever returns before fusion, and the weights of (BM25, FAISS).
K = 100
WEIGHTS = (0.5, 0.5)
EXTRA = "eval"

_WORD = re.compile(r"\w+")
_ID_KEY = "rowid"
_PACKAGES = ("langchain_classic", "langchain_community", "langchain_core", "rank_bm25")
_BATCH = 2048
_BASELINES: weakref.WeakKeyDictionary[KnowledgeBase, LangChainBaseline] = weakref.WeakKeyDictionary()


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens for BM25Retriever. Its default, ``str.split``, keeps case and punctuation glued to
    words, so "Glucose." in a chunk never matches "glucose" in a question.

    >>> tokenize("Metformin lowers blood-glucose.")
    ['metformin', 'lowers', 'blood', 'glucose']
    """
    return _WORD.findall(text.lower())


def _require() -> None:
    """Raise `EvalError` naming what is missing and the extra to install, unless the baseline's packages import."""
    try:
        import langchain_classic.retrievers  # noqa: F401
        import langchain_community.retrievers  # noqa: F401
        import langchain_community.vectorstores  # noqa: F401

        importlib.import_module("rank_bm25")  # BM25Retriever imports it only when it builds an index
    except ImportError as exc:
        raise EvalError(
            f"system 'langchain' needs langchain-classic, langchain-community and rank-bm25 ({exc}); "
            f"install them with: pip install -e '.[{EXTRA}]'"
        ) from exc


def available() -> bool:
    """Whether the baseline's packages are installed; cheap (nothing is imported), for choosing default systems."""
    return all(importlib.util.find_spec(name) is not None for name in _PACKAGES)


def _embeddings(kb: KnowledgeBase) -> Any:
    """A LangChain ``Embeddings`` that embeds queries with the knowledge base's own embedder."""
    from langchain_core.embeddings import Embeddings

    embedder = kb.embedder

    class KnowledgeBaseEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed_documents(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed_query(text).tolist()

    return KnowledgeBaseEmbeddings()


class LangChainBaseline:
    """LangChain's ensemble of BM25 and FAISS over every chunk of ``kb``, built once (seconds per 10k chunks).

    ``bm25`` and ``vectors`` are the two retrievers and ``ensemble`` their fusion, all plain LangChain objects.
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        _require()
        from langchain_classic.retrievers import EnsembleRetriever
        from langchain_community.retrievers import BM25Retriever
        from langchain_community.vectorstores import FAISS
        from langchain_community.vectorstores.utils import DistanceStrategy

        started = time.perf_counter()
        self._store = store = kb.storage.store
        self.checksum = store.vectors.range_checksum()
        texts: list[str] = []
        vectors: list[np.ndarray] = []
        metadatas: list[dict[str, int]] = []
        # The chunk's text and its document's title come with the hits the store makes for ids, in the order given.
        for ids, batch in store.vectors.iter_vectors(_BATCH):
            for hit, vector in zip(store.documents.hits(ids.tolist(), [0.0] * len(ids)), batch, strict=True):
                texts.append(index_text(hit.title, hit.text))
                vectors.append(vector)
            metadatas += [{_ID_KEY: int(i)} for i in ids]
        if not texts:
            raise EvalError(f"{kb.directory}: the knowledge base holds no chunks for the langchain baseline")
        self.bm25 = BM25Retriever.from_texts(texts, metadatas=metadatas, preprocess_func=tokenize, k=K)
        # medkb's vectors are L2-normalised and searched by inner product (cosine); so is this index. No
        # normalize_L2: the stored vectors already are, and LangChain warns when it is combined with inner product.
        # FAISS makes one float32 matrix of the vectors with np.array: numpy rows do, without 384 floats per list.
        faiss_store = FAISS.from_embeddings(
            list(zip(texts, cast("list[list[float]]", vectors), strict=True)),
            _embeddings(kb),
            metadatas=metadatas,
            ids=[str(m[_ID_KEY]) for m in metadatas],
            distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT,
        )
        self.vectors = faiss_store.as_retriever(search_kwargs={"k": K})
        # id_key: without it LangChain merges chunks by their text, so two documents' identical chunks become one.
        self.ensemble = EnsembleRetriever(retrievers=[self.bm25, self.vectors], weights=list(WEIGHTS), id_key=_ID_KEY)
        log.info("langchain baseline over %d chunks built in %.1f s", len(texts), time.perf_counter() - started)

    def search(self, query: str, depth: int) -> list[Hit]:
        """The top ``depth`` (at most 2 x `K`) chunks for ``query``, best first. LangChain returns the
        fused documents without their scores, so each hit's score is its reciprocal rank."""
        docs = self.ensemble.invoke(query)[:depth]
        ids = [int(doc.metadata[_ID_KEY]) for doc in docs]
        return self._store.documents.hits(ids, [1.0 / rank for rank in range(1, len(ids) + 1)], "langchain")


def baseline_for(kb: KnowledgeBase) -> LangChainBaseline:
    """``kb``'s baseline, built on first use and again whenever its chunks have changed."""
    baseline = _BASELINES.get(kb)
    if baseline is None or baseline.checksum != kb.storage.store.vectors.range_checksum():
        baseline = _BASELINES[kb] = LangChainBaseline(kb)
    return baseline


def langchain_search(kb: KnowledgeBase, query: str, depth: int) -> list[Hit]:
    """The top ``depth`` chunks of ``kb`` for ``query`` by LangChain's BM25 + FAISS ensemble."""
    return baseline_for(kb).search(query, depth)
