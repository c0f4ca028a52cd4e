"""Fusion of several retrievers' candidates into one ranking, and diversification of that ranking.

* `reciprocal_rank_fusion`: by rank only (Cormack et al. 2009); robust, but a weak retriever's ranks count as much
  as a strong one's.
* `score_fusion`: a weighted sum of each retriever's scores, each divided by its best score among the candidates,
  over every candidate (scores missing from a retriever count as 0). With complete scores this keeps how far
  apart the candidates are, which rank fusion throws away.
* `query_weights`: the dense weight for a query, by its form: natural-language questions lean on the dense
  retriever, statements and keyword queries on both.
* `maximal_marginal_relevance`: re-orders a ranking so that the top does not repeat one document or one passage
  (Carbonell & Goldstein 1998).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

#: A natural-language question: it opens with a question word or ends with a question mark (English or Chinese).
_QUESTION = re.compile(
    r"^\s*(what|how|why|when|where|which|who|whom|whose|is|are|was|were|do|does|did|can|could|should|will|would"
    r"|may|might|has|have|had)\b|[?？]\s*$|吗\s*$|什么|怎么|如何|为什么|哪些|是否|能否|可以",
    re.IGNORECASE,
)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], *, k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion (Cormack et al., SIGIR 2009): each id scores ``sum(w / (k + rank))`` over the
    rankings that hold it (ranks from 1); returns (id, score) pairs, best first, ties broken by first appearance.

    >>> reciprocal_rank_fusion([[7, 3], [3, 9]])[0][0]
    3
    """
    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[int(item)] = scores.get(int(item), 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def score_fusion(
    candidates: Sequence[int], scores: Sequence[Mapping[int, float]], weights: Sequence[float]
) -> list[tuple[int, float]]:
    """Weighted sum of each retriever's scores of ``candidates``, each scaled by its largest positive score among
    them (a retriever with none contributes nothing); returns (id, fused score) pairs, best first, ties broken by
    the order of ``candidates``. Scores should be complete (every candidate scored by every retriever); a missing
    one counts as 0.

    >>> score_fusion([1, 2], [{1: 0.5, 2: 0.4}, {2: 10.0}], [0.5, 0.5])[0]
    (2, 0.9)
    """
    if len(scores) != len(weights):
        raise ValueError(f"{len(weights)} weights for {len(scores)} score sets")
    ids = list(dict.fromkeys(int(i) for i in candidates))
    total = np.zeros(len(ids))
    for by_id, weight in zip(scores, weights, strict=True):
        values = np.array([float(by_id.get(i, 0.0)) for i in ids])
        top = values.max(initial=0.0)
        if top > 0:
            total += weight * np.clip(values, 0.0, None) / top
    order = np.argsort(-total, kind="stable")
    return [(ids[j], round(float(total[j]), 6)) for j in order]


def is_question(query: str) -> bool:
    """Whether ``query`` reads as a natural-language question rather than a statement or keywords.

    >>> is_question("What are the treatments for gout ?"), is_question("Metformin lowers HbA1c in type 2 diabetes.")
    (True, False)
    """
    return bool(_QUESTION.search(query))


def query_weights(query: str, dense: float, lexical: float, question_dense: float) -> tuple[float, float]:
    """(dense, lexical) fusion weights for ``query``: ``question_dense`` of the total to dense for a question (whose
    words are mostly phrasing, not evidence terms), else ``dense`` and ``lexical`` as given."""
    if not is_question(query):
        return dense, lexical
    total = dense + lexical
    return question_dense * total, (1.0 - question_dense) * total


def maximal_marginal_relevance(
    ids: Sequence[int],
    relevance: Sequence[float],
    vectors: np.ndarray,
    groups: Sequence[str],
    k: int,
    *,
    lambda_: float = 0.7,
) -> list[int]:
    """The ``k`` ids chosen greedily by ``lambda_ * relevance - (1 - lambda_) * redundancy``. Relevance is divided
    by its largest value among ``ids`` (shifted up first if any is negative); redundancy is the largest cosine
    similarity (rows of ``vectors`` are L2-normalised) to an id already chosen, counted as 1 for one of the same
    group (document). ``lambda_ = 1`` keeps the order.

    >>> v = np.eye(3, dtype=np.float32)
    >>> maximal_marginal_relevance([1, 2, 3], [1.0, 0.9, 0.5], v, ["a", "a", "b"], 2)
    [1, 3]
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"lambda_={lambda_}: expected a value in [0, 1]")
    n = len(ids)
    if not n == len(relevance) == len(vectors) == len(groups):
        raise ValueError(f"{n} ids, {len(relevance)} scores, {len(vectors)} vectors, {len(groups)} groups")
    rel = np.asarray(relevance, dtype=np.float64)
    rel = rel - min(0.0, rel.min(initial=0.0))
    rel = rel / rel.max() if n and rel.max() > 0 else np.ones(n)
    similarity = np.asarray(vectors, dtype=np.float32) @ np.asarray(vectors, dtype=np.float32).T if n else rel
    chosen: list[int] = []
    redundancy = np.zeros(n)
    available = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        gain = np.where(available, lambda_ * rel - (1.0 - lambda_) * redundancy, -np.inf)
        best = int(np.argmax(gain))
        chosen.append(best)
        available[best] = False
        same = np.array([g == groups[best] for g in groups])
        redundancy = np.maximum(redundancy, np.where(same, 1.0, similarity[best]))
    return [int(ids[j]) for j in chosen]
