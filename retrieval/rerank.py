"""Re-scoring first-stage hits with a trained cross-encoder (``medkb train reranker``; ``search --rerank``).

A cross-encoder reads the question and a passage together, so it can weigh evidence a bi-encoder or BM25 score
misses, at the cost of one model pass per (question, passage): it is run over the top ``Settings.rerank_candidates``
first-stage hits only, and the hits below keep their first-stage order. The reranked hits are ordered by a blend of
their first-stage score and the cross-encoder's (`blend`): a reranker trained on a knowledge base's own text
(`retrieval.training`) is weaker than the fused first stage on its own, so it only adjusts the fused order
(measured in docs/training.md).

Example::

    reranker = CrossEncoderReranker(Path("my-kb/models/reranker/model"))
    hits = rerank(reranker, "metformin and lactic acidosis", hits, candidates=30, weight=0.1)
    hits[0].scores["rerank"]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.errors import MedkbError
from kb.core.types import Hit
from retrieval.training.pairs import passage

log = logging.getLogger(__name__)


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder from a local directory; loads on first use, construction is free."""

    def __init__(self, path: Path, *, batch_size: int = 32, max_length: int | None = None) -> None:
        self.path = path
        self.batch_size = batch_size
        self.max_length = max_length
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            if not self.path.is_dir():
                raise MedkbError(f"reranker {self.path}: no such model directory; train it with `medkb train reranker`")
            from sentence_transformers.cross_encoder import CrossEncoder

            log.info("loading reranker from %s", self.path)
            self._model = CrossEncoder(str(self.path), device="cpu", local_files_only=True, max_length=self.max_length)
        return self._model

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        """One relevance score per passage for ``query`` (higher is more relevant; a probability for a model saved
        by `retrieval.training`, whose cross-encoder ends in a sigmoid)."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        scores = self._load().predict(
            [(query, p) for p in passages], batch_size=self.batch_size, show_progress_bar=False
        )
        return np.asarray(scores, dtype=np.float32).reshape(-1)


def passage_of(hit: Hit) -> str:
    """The text the reranker reads for a hit: its document title on the first line, then the chunk, as trained."""
    return passage(hit.title, hit.text)


def blend(first_stage: Sequence[float], reranked: Sequence[float], weight: float) -> np.ndarray:
    """The scores that order reranked hits: ``(1 - weight)`` times the first-stage scores divided by their best (as
    fusion scales each retriever) plus ``weight`` times the reranker's scores scaled to [0, 1] over the same hits.
    ``weight`` 1 orders by the reranker alone, 0 keeps the first-stage order."""
    fused = np.asarray(first_stage, dtype=np.float64)
    best = float(fused.max()) if fused.size else 0.0
    fused = fused / best if best > 0 else np.zeros_like(fused)
    scores = np.asarray(reranked, dtype=np.float64)
    spread = float(scores.max() - scores.min()) if scores.size else 0.0
    scaled = (scores - scores.min()) / spread if spread > 0 else np.zeros_like(scores)
    return (1.0 - weight) * fused + weight * scaled


def reorder(head: Sequence[Hit], cross: Sequence[float], weight: float) -> list[Hit]:
    """``head`` ordered by the :func:`blend` of its first-stage scores and the cross-encoder's scores ``cross`` at
    ``weight`` (ties keep their first-stage order); each hit gains ``scores["rerank"]`` and takes the blend as
    ``score``. Ranks are left as they were."""
    blended = blend([hit.score for hit in head], cross, weight)
    order = sorted(range(len(head)), key=lambda i: (-float(blended[i]), i))
    return [
        replace(head[i], score=float(blended[i]), scores={**head[i].scores, "rerank": float(cross[i])}) for i in order
    ]


def rerank(
    reranker: CrossEncoderReranker, query: str, hits: Sequence[Hit], candidates: int, weight: float = 1.0
) -> list[Hit]:
    """``hits`` with the first ``candidates`` re-scored by the cross-encoder and re-ordered by :func:`reorder` at
    ``weight``; the rest keep their order and scores below them; ranks are renumbered."""
    head, tail = list(hits[:candidates]), list(hits[candidates:])
    cross = reranker.score(query, [passage_of(hit) for hit in head])
    return [replace(hit, rank=rank) for rank, hit in enumerate([*reorder(head, cross, weight), *tail], start=1)]
