"""Validation of a model being trained: rank each held-out pair's positive among candidates, report nDCG@10,
MRR@10 and Recall@1/10 (computed by ir-measures).

The embedder ranks every validation positive and negative for every anchor (a small corpus of the held-out
documents' passages); the reranker ranks each anchor's own candidates: its positive, its mined negatives and the
positives of a few other held-out pairs. Both are cheap enough to run after every epoch on 2 cores.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ir_measures
import numpy as np
from ir_measures import RR, R, nDCG

from retrieval.training.pairs import TrainingPair

#: Other held-out positives added to each anchor's candidates for the reranker.
_EXTRA_CANDIDATES = 5
#: Reported name -> ir-measures measure.
_MEASURES = {"ndcg@10": nDCG @ 10, "mrr@10": RR @ 10, "recall@1": R @ 1, "recall@10": R @ 10}
#: Passages per anchor handed to ir-measures by the embedder's validation (the measures stop at 10).
_DEPTH = 100


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


def ranking_metrics(rankings: Sequence[tuple[int, Mapping[int, float]]]) -> dict[str, float]:
    """nDCG@10, MRR@10, Recall@1 and Recall@10, computed by ir-measures, of (relevant passage, {passage: score})
    rankings, one per anchor."""
    if not rankings:
        return dict.fromkeys(_MEASURES, 0.0)
    qrels = {str(q): {str(relevant): 1} for q, (relevant, _) in enumerate(rankings)}
    run = {str(q): {str(p): float(v) for p, v in scores.items()} for q, (_, scores) in enumerate(rankings)}
    values = ir_measures.calc_aggregate(list(_MEASURES.values()), qrels, run)
    return {name: round(float(values[measure]), 4) for name, measure in _MEASURES.items()}


def dense_metrics(data: HeldOut, encode: Callable[[list[str]], np.ndarray]) -> dict[str, float]:
    """Rank every held-out passage for every anchor by cosine of ``encode``'s normalised vectors."""
    if not data.anchors:
        return ranking_metrics([])
    queries, passages = encode(data.anchors), encode(data.passages)
    scores = queries @ passages.T
    depth = min(_DEPTH, scores.shape[1])
    rankings = []
    for row, relevant in zip(scores, data.relevant, strict=True):
        top = np.argpartition(-row, depth - 1)[:depth]
        rankings.append((relevant, {int(i): float(row[i]) for i in top}))
    return ranking_metrics(rankings)


def rerank_metrics(data: HeldOut, score: Callable[[list[tuple[str, str]]], np.ndarray]) -> dict[str, float]:
    """Rank each anchor's own candidates by ``score`` over (anchor, passage) pairs."""
    pairs = [(a, data.passages[c]) for a, cands in zip(data.anchors, data.candidates, strict=True) for c in cands]
    if not pairs:
        return ranking_metrics([])
    flat = np.asarray(score(pairs), dtype=np.float64).reshape(-1)
    rankings, offset = [], 0
    for cands, relevant in zip(data.candidates, data.relevant, strict=True):
        rankings.append((relevant, dict(zip(cands, flat[offset : offset + len(cands)].tolist(), strict=True))))
        offset += len(cands)
    return ranking_metrics(rankings)
