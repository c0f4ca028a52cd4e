"""Fusion and diversification: score fusion, query weights, maximal marginal relevance."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.fusion import (
    is_question,
    maximal_marginal_relevance,
    query_weights,
    reciprocal_rank_fusion,
    score_fusion,
)


def test_score_fusion_keeps_the_margin_rank_fusion_loses() -> None:
    # dense: 1 barely ahead of 2; lexical: 2 far ahead of 1. Rank fusion ties them, score fusion prefers 2.
    dense = {1: 0.80, 2: 0.79, 3: 0.20}
    lexical = {1: 1.0, 2: 12.0}
    fused = score_fusion([1, 2, 3], [dense, lexical], [0.5, 0.5])
    assert [i for i, _ in fused] == [2, 1, 3]
    rrf = reciprocal_rank_fusion([[1, 2, 3], [2, 1]])
    assert rrf[0][1] == rrf[1][1]


def test_score_fusion_scales_each_retriever_by_its_best() -> None:
    fused = dict(score_fusion([1, 2], [{1: 0.5, 2: 0.25}, {1: 40.0, 2: 80.0}], [0.75, 0.25]))
    assert fused[1] == pytest.approx(0.75 * 1.0 + 0.25 * 0.5)
    assert fused[2] == pytest.approx(0.75 * 0.5 + 0.25 * 1.0)


def test_score_fusion_tolerates_a_retriever_with_nothing() -> None:
    assert [i for i, _ in score_fusion([3, 1], [{3: 0.2, 1: 0.4}, {}], [0.5, 0.5])] == [1, 3]
    assert score_fusion([], [{}, {}], [1.0, 1.0]) == []
    with pytest.raises(ValueError, match="weights"):
        score_fusion([1], [{1: 1.0}], [0.5, 0.5])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What are the treatments for gout ?", True),
        ("How to diagnose Adult Acute Myeloid Leukemia ?", True),
        ("is metformin safe in pregnancy", True),
        ("二甲双胍在肾功能不全时可以使用吗？", True),
        ("痛风有哪些治疗方法", True),
        ("Metformin lowers HbA1c in type 2 diabetes.", False),
        ("CYP2C19*2 clopidogrel", False),
        ("0-dimensional biomaterials show inductive properties.", False),
    ],
)
def test_is_question(query: str, expected: bool) -> None:
    assert is_question(query) is expected


def test_query_weights_shift_to_dense_for_questions_only() -> None:
    assert query_weights("What causes gout?", 0.6, 0.4, 0.8) == pytest.approx((0.8, 0.2))
    assert query_weights("gout uric acid", 0.6, 0.4, 0.8) == (0.6, 0.4)


def test_mmr_prefers_another_document_over_a_second_chunk_of_the_same() -> None:
    vectors = np.eye(4, dtype=np.float32)
    relevance = [1.0, 0.95, 0.6, 0.5]
    order = maximal_marginal_relevance([10, 11, 12, 13], relevance, vectors, ["a", "a", "b", "c"], 3, lambda_=0.5)
    assert order == [10, 12, 13]
    # relevance still counts: with little weight on diversity the second chunk of "a" comes before "c"
    mild = maximal_marginal_relevance([10, 11, 12, 13], relevance, vectors, ["a", "a", "b", "c"], 3, lambda_=0.9)
    assert mild[1] == 11


def test_mmr_penalises_near_duplicate_passages_across_documents() -> None:
    near = np.array([[1.0, 0.0], [0.999, 0.045], [0.6, 0.8]], dtype=np.float32)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    assert maximal_marginal_relevance([1, 2, 3], [1.0, 0.9, 0.7], near, ["a", "b", "c"], 2, lambda_=0.5) == [1, 3]


def test_mmr_with_lambda_one_keeps_relevance_order_and_all_ids() -> None:
    vectors = np.eye(3, dtype=np.float32)
    assert maximal_marginal_relevance([5, 6, 7], [0.3, 0.9, 0.5], vectors, ["a", "a", "a"], 5, lambda_=1.0) == [6, 7, 5]
    with pytest.raises(ValueError, match="lambda"):
        maximal_marginal_relevance([1], [1.0], vectors[:1], ["a"], 1, lambda_=1.5)
