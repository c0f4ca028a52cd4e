"""Rank fusion: one ranking from several retrievers' rankings of the same chunk ids."""

from __future__ import annotations

from collections.abc import Sequence


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
