"""Reranking: the blend of first-stage score and cross-encoder score that orders the reranked hits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from kb.core.types import Hit
from retrieval.rerank import CrossEncoderReranker, blend, rerank


class _Fixed(CrossEncoderReranker):
    """A fake cross-encoder that scores passages by a table (no model)."""

    def __init__(self, table: dict[str, float]) -> None:
        super().__init__(path=None)  # type: ignore[arg-type]
        self.table = table

    def score(self, query: str, passages: Sequence[str]) -> np.ndarray:
        return np.asarray([self.table[p.split("\n")[-1]] for p in passages], dtype=np.float32)


def _hits() -> list[Hit]:
    fused = {"a": 1.0, "b": 0.9, "c": 0.5, "d": 0.4}
    return [Hit(chunk_id=k, doc_id=k, text=k, score=v, rank=i) for i, (k, v) in enumerate(fused.items(), start=1)]


def test_blend_scales_both_scores_to_their_best() -> None:
    scores = blend([2.0, 1.0], [0.1, 0.9], 0.5)
    assert scores == pytest.approx([0.5 * 1.0 + 0.5 * 0.0, 0.5 * 0.5 + 0.5 * 1.0])
    assert blend([1.0, 0.5], [0.3, 0.3], 0.5) == pytest.approx([0.5, 0.25])  # a flat reranker leaves the order


def test_weight_zero_keeps_the_first_stage_order_and_one_follows_the_reranker() -> None:
    reranker = _Fixed({"a": 0.1, "b": 0.2, "c": 0.9, "d": 0.3})
    assert [h.chunk_id for h in rerank(reranker, "q", _hits(), 4, weight=0.0)] == ["a", "b", "c", "d"]
    assert [h.chunk_id for h in rerank(reranker, "q", _hits(), 4, weight=1.0)] == ["c", "d", "b", "a"]
    mixed = rerank(reranker, "q", _hits(), 4, weight=0.5)
    # a: 0.5*1 + 0.5*0 = 0.5; b: 0.45 + 0.0625; c: 0.25 + 0.5 = 0.75; d: 0.2 + 0.125
    assert [h.chunk_id for h in mixed] == ["c", "b", "a", "d"]
    assert [h.rank for h in mixed] == [1, 2, 3, 4]
    assert mixed[0].scores["rerank"] == pytest.approx(0.9) and mixed[0].score == pytest.approx(0.75)


def test_hits_below_the_candidates_keep_their_place() -> None:
    reranker = _Fixed({"a": 0.1, "b": 0.9})
    out = rerank(reranker, "q", _hits(), 2, weight=1.0)
    assert [h.chunk_id for h in out] == ["b", "a", "c", "d"]
    assert "rerank" not in out[2].scores and out[2].score == 0.5


def test_rerank_weight_is_chosen_on_half_a_and_reported_on_half_b() -> None:
    from experiments.rerank_weights import GRID, joint_choice

    def row(best: str, top: float) -> dict[str, float]:
        return {f"{w:.1f}": (top if f"{w:.1f}" == best else 0.5) for w in GRID}

    results = [
        {"dataset": "one", "ndcg@10": {"A": row("0.2", 0.9), "B": row("0.7", 0.8)}},
        {"dataset": "two", "ndcg@10": {"A": row("0.3", 0.6), "B": row("0.2", 0.7)}},
    ]
    chosen = joint_choice(results)
    assert chosen["weight"] == 0.2  # mean on A: 0.2 -> 0.7, 0.3 -> 0.55
    assert chosen["B"] == {"one": {"weight": 0.5, "hybrid": 0.5}, "two": {"weight": 0.7, "hybrid": 0.5}}
