"""Validation of a model being trained: rank each held-out pair's positive among candidates, report nDCG@10,
MRR@10 and Recall@1/10.

The embedder ranks every validation positive and negative for every anchor (a small corpus of the held-out
documents' passages); the reranker ranks each anchor's own candidates: its positive, its mined negatives and the
positives of a few other held-out pairs. Both are cheap enough to run after every epoch on 2 cores.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.training.pairs import TrainingPair

#: Other held-out positives added to each anchor's candidates for the reranker.
_EXTRA_CANDIDATES = 5


@dataclass(frozen=True)
class HeldOut:
    """Anchors, the distinct passages they are ranked against, and each anchor's relevant passage index."""

    anchors: list[str]
    passages: list[str]
    relevant: list[int]
    candidates: list[list[int]]


def held_out(pairs: Sequence[TrainingPair], seed: int = 42) -> HeldOut:
    """The anchors and passages of held-out ``pairs`` (validation or test), deduplicated."""
    index: dict[str, int] = {}

    def add(text: str) -> int:
        return index.setdefault(text, len(index))

    relevant = [add(p.positive) for p in pairs]
    own = [[add(n) for n in p.negatives] for p in pairs]
    rng = random.Random(seed)
    candidates = []
    for i, pair_negatives in enumerate(own):
        others = [relevant[j] for j in rng.sample(range(len(pairs)), min(len(pairs), _EXTRA_CANDIDATES + 1)) if j != i]
        candidates.append(list(dict.fromkeys([relevant[i], *pair_negatives, *others[:_EXTRA_CANDIDATES]])))
    return HeldOut([p.anchor for p in pairs], list(index), relevant, candidates)


def metrics_from_ranks(ranks: Sequence[int]) -> dict[str, float]:
    """nDCG@10, MRR@10, Recall@1 and Recall@10 for one relevant passage per query at 1-based ``ranks``."""
    if not ranks:
        return {"ndcg@10": 0.0, "mrr@10": 0.0, "recall@1": 0.0, "recall@10": 0.0}
    n = len(ranks)
    return {
        "ndcg@10": round(sum(1 / math.log2(r + 1) for r in ranks if r <= 10) / n, 4),
        "mrr@10": round(sum(1 / r for r in ranks if r <= 10) / n, 4),
        "recall@1": round(sum(r == 1 for r in ranks) / n, 4),
        "recall@10": round(sum(r <= 10 for r in ranks) / n, 4),
    }


def dense_metrics(data: HeldOut, encode: Callable[[list[str]], np.ndarray]) -> dict[str, float]:
    """Rank every held-out passage for every anchor by cosine of ``encode``'s normalised vectors."""
    if not data.anchors:
        return metrics_from_ranks([])
    queries, passages = encode(data.anchors), encode(data.passages)
    scores = queries @ passages.T
    ranks = [int((row > row[rel]).sum()) + 1 for row, rel in zip(scores, data.relevant, strict=True)]
    return metrics_from_ranks(ranks)


def rerank_metrics(data: HeldOut, score: Callable[[list[tuple[str, str]]], np.ndarray]) -> dict[str, float]:
    """Rank each anchor's own candidates by ``score`` over (anchor, passage) pairs."""
    pairs = [(a, data.passages[c]) for a, cands in zip(data.anchors, data.candidates, strict=True) for c in cands]
    if not pairs:
        return metrics_from_ranks([])
    flat = np.asarray(score(pairs), dtype=np.float64).reshape(-1)
    ranks, offset = [], 0
    for cands, rel in zip(data.candidates, data.relevant, strict=True):
        row = flat[offset : offset + len(cands)]
        offset += len(cands)
        ranks.append(int((row > row[cands.index(rel)]).sum()) + 1)
    return metrics_from_ranks(ranks)
