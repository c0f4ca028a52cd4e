"""Search over one knowledge base's storage: dense, lexical (BM25), or both fused; in Chinese or English.

Dense retrieval picks its index by the question's language:

* an English (or other non-Chinese) question is embedded by the knowledge base's embedder and searched in the main
  vector index; when the knowledge base also holds Chinese chunks and a cross-lingual index, those chunks are
  searched too, through the cross-lingual encoder, so English questions find Chinese evidence;
* a Chinese question is embedded by the cross-lingual encoder and searched in the cross-lingual index, which holds
  every chunk whatever its language (the main embedder is English-only).

Hybrid search takes the top ``settings.candidates`` of each retriever (filters applied inside both), gives every
candidate its exact dense cosine, and fuses by score (`retrieval.fusion.score_fusion`, weighted by question form)
or by reciprocal rank; maximal marginal relevance then optionally diversifies the top. Every hybrid hit carries its
``dense`` cosine and, when it matched, its ``lexical`` BM25 score in ``hit.scores``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kb.core.filters import Filters
from kb.core.lexical import is_chinese
from kb.core.protocols import ChunkSearch, Embedder
from kb.core.settings import Settings
from kb.core.types import Hit
from retrieval.fusion import maximal_marginal_relevance, query_weights, reciprocal_rank_fusion, score_fusion
from retrieval.label_copies import collapse_copies

log = logging.getLogger(__name__)

#: Fused candidates re-ordered by maximal marginal relevance: this many times k (at least `_MMR_MIN_POOL`).
_MMR_POOL = 3
_MMR_MIN_POOL = 20


@dataclass(frozen=True)
class DenseCandidates:
    """A dense retriever's top ids and cosines, and the way to score any other chunk in the same space(s)."""

    ids: list[int]
    scores: list[float]
    cosine: Callable[[Sequence[int]], dict[int, float]]


@dataclass(frozen=True)
class HybridCandidates:
    """What hybrid search fuses: each retriever's ranking (chunk row ids, best first), the dense cosine of every
    candidate and the BM25 score of the lexical ones."""

    dense_ids: list[int]
    lexical_ids: list[int]
    cosine: dict[int, float]
    bm25: dict[int, float]

    @property
    def ids(self) -> list[int]:
        """Every candidate once: the dense ranking, then the lexical-only ones in their order."""
        return list(dict.fromkeys([*self.dense_ids, *self.lexical_ids]))


class Searcher:
    """Dense, lexical and hybrid search over ``storage``; ``cross_embedder`` gives the multilingual encoder of the
    cross-lingual index (None when the knowledge base has none), made only when a search needs it."""

    def __init__(
        self,
        storage: ChunkSearch,
        embedder: Embedder,
        cross_embedder: Callable[[], Embedder | None],
        settings: Settings,
    ) -> None:
        self.storage = storage
        self.embedder = embedder
        self._cross_embedder = cross_embedder
        self.settings = settings

    def search(self, query: str, k: int, filters: Filters, mode: str, *, mmr: bool | None = None) -> list[Hit]:
        """The top ``k`` hits for ``query`` by ``mode`` (``dense``, ``lexical`` or ``hybrid``); ``mmr`` (default
        ``settings.mmr``) diversifies hybrid results."""
        if mode == "lexical":
            ids, scores = self.storage.lexical(query, k, filters)
            return collapse_copies(self.storage.hits(ids.tolist(), scores.tolist(), "lexical"))
        if mode == "dense":
            dense = self.dense(query, k, filters)
            return collapse_copies(self.storage.hits(dense.ids, dense.scores, "dense"))
        return collapse_copies(self.hybrid(query, k, filters, mmr=self.settings.mmr if mmr is None else mmr))

    # -- dense ------------------------------------------------------------------------------------------------------

    def dense(self, query: str, k: int, filters: Filters) -> DenseCandidates:
        """The top ``k`` chunks by cosine in the index that suits the question's language (see the module doc)."""
        cross = self._cross() if self.storage.has_cross_lingual else None
        if cross is not None and is_chinese(query):
            vector = cross.embed_query(query)
            ids, scores = self.storage.dense_cross(vector, k, filters)
            return DenseCandidates(ids.tolist(), scores.tolist(), lambda other: self._cosines(other, vector, True))
        vector = self.embedder.embed_query(query)
        ids, scores = self.storage.dense(vector, k, filters)
        cjk = self.storage.chinese_chunk_ids() if cross is not None else np.zeros(0, np.int64)
        if not cjk.size:
            return DenseCandidates(ids.tolist(), scores.tolist(), lambda other: self._cosines(other, vector, False))
        # English question, Chinese chunks present: those are scored in the cross-lingual space instead.
        assert cross is not None
        xvector = cross.embed_query(query)
        xids, xscores = self.storage.dense_cross(xvector, k, filters, among=cjk)
        cjk_set = set(cjk.tolist())
        merged = {i: s for i, s in zip(ids.tolist(), scores.tolist(), strict=True) if i not in cjk_set}
        merged.update(zip(xids.tolist(), xscores.tolist(), strict=True))
        top = sorted(merged.items(), key=lambda pair: -pair[1])[:k]

        def cosine(other: Sequence[int]) -> dict[int, float]:
            chinese = [i for i in other if i in cjk_set]
            rest = [i for i in other if i not in cjk_set]
            return {**self._cosines(rest, vector, False), **self._cosines(chinese, xvector, True)}

        return DenseCandidates([i for i, _ in top], [s for _, s in top], cosine)

    def _cross(self) -> Embedder | None:
        return self._cross_embedder()

    def _cosines(self, ids: Sequence[int], vector: np.ndarray, cross: bool) -> dict[int, float]:
        if not len(ids):
            return {}
        found, vectors = self.storage.vectors_for(list(ids), cross_lingual=cross)
        return dict(zip(found.tolist(), (vectors @ vector).tolist(), strict=True)) if found.size else {}

    # -- hybrid -----------------------------------------------------------------------------------------------------

    def candidates(self, query: str, depth: int, filters: Filters) -> HybridCandidates:
        """The top ``depth`` of each retriever, every one given its exact dense cosine."""
        dense = self.dense(query, depth, filters)
        lexical_ids, lexical_scores = self.storage.lexical(query, depth, filters)
        bm25 = dict(zip(lexical_ids.tolist(), lexical_scores.tolist(), strict=True))
        cosine = dict(zip(dense.ids, dense.scores, strict=True))
        cosine.update(dense.cosine([i for i in bm25 if i not in cosine]))
        return HybridCandidates(dense.ids, list(bm25), cosine, bm25)

    def fuse(self, query: str, found: HybridCandidates) -> list[tuple[int, float]]:
        """``found`` fused as the settings say: (chunk row id, fused score) pairs, best first."""
        s = self.settings
        if s.fusion == "rrf":
            weights = (s.weight_dense, s.weight_lexical)
            return reciprocal_rank_fusion([found.dense_ids, found.lexical_ids], k=s.rrf_k, weights=weights)
        weights = query_weights(query, s.weight_dense, s.weight_lexical, s.question_weight_dense)
        return score_fusion(found.ids, [found.cosine, found.bm25], weights)

    def hybrid(self, query: str, k: int, filters: Filters, *, mmr: bool = False) -> list[Hit]:
        """Dense and lexical candidates fused (see the module doc), optionally diversified."""
        s = self.settings
        found = self.candidates(query, max(k, s.candidates), filters)
        fused = self.fuse(query, found)
        extra = {"dense": found.cosine, "lexical": found.bm25}
        if not mmr:
            top = fused[:k]
            return self.storage.hits([i for i, _ in top], [f for _, f in top], "hybrid", extra)
        pool = fused[: max(_MMR_POOL * k, _MMR_MIN_POOL)]
        hits = self.storage.hits([i for i, _ in pool], [f for _, f in pool], "hybrid", extra)
        stored, vectors = self.storage.vectors_for([i for i, _ in pool])
        by_id = dict(zip(stored.tolist(), vectors, strict=True))
        rowid = {hit.chunk_id: pool[hit.rank - 1][0] for hit in hits}  # a hit's rank is its place in the pool
        hits = [hit for hit in hits if rowid.get(hit.chunk_id) in by_id]
        order = maximal_marginal_relevance(
            list(range(len(hits))),
            [hit.score for hit in hits],
            np.stack([by_id[rowid[hit.chunk_id]] for hit in hits]) if hits else np.zeros((0, 1), np.float32),
            [hit.doc_id for hit in hits],
            k,
            lambda_=s.mmr_lambda,
        )
        return [hits[j] for j in order]
