"""The ``langchain`` system of `medkb eval retrieval`: LangChain's BM25 + FAISS ensemble over the knowledge base's
own chunks, on the tiny BEIR corpus of test_eval (plus one document whose chunk text repeats another's)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kb.core.settings import Settings
from kb.core.types import Document
from kb.evaluation.datasets import EvalDataset, EvalError, load_beir
from kb.evaluation.langchain_baseline import WEIGHTS, available, baseline_for, tokenize
from kb.evaluation.metrics import per_query
from kb.evaluation.retrieval_cli import add_eval_parser
from kb.evaluation.systems import document_ranking, open_kb, run_system, search
from kb.knowledge_base import KnowledgeBase
from tests.retrieval.test_eval import DOCS, QRELS, QUERIES

needs_langchain = pytest.mark.skipif(not available(), reason="the eval extra (LangChain, rank-bm25) is not installed")

# Same index text as d5 ("Statins" + text starting with "Statins" is indexed as the text alone), another document.
TWIN = ("d6", "", DOCS[4][2])


def _write_beir(folder: Path, docs: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in docs), encoding="utf-8"
    )
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": x}) + "\n" for i, x in QUERIES), encoding="utf-8"
    )
    rows = "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> EvalDataset:
    return load_beir(_write_beir(tmp_path_factory.mktemp("beir") / "tiny", [*DOCS, TWIN]))


@pytest.fixture(scope="module")
def real_kb(dataset: EvalDataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """The tiny corpus embedded by the real bundled all-MiniLM-L6-v2."""
    kb = open_kb(dataset, tmp_path_factory.mktemp("cache"), Settings(), None)
    yield kb
    kb.close()


def _rowids(docs: list[Any]) -> list[int]:
    return [int(doc.metadata["rowid"]) for doc in docs]


def test_tokenize_drops_case_and_punctuation() -> None:
    assert tokenize("Metformin lowers blood-glucose (HbA1c).") == ["metformin", "lowers", "blood", "glucose", "hba1c"]


@needs_langchain
@pytest.mark.e2e
def test_exact_term_ranks_its_document_first(real_kb: KnowledgeBase, dataset: EvalDataset) -> None:
    run, seconds = run_system(real_kb, "langchain", dataset.queries)
    assert next(iter(run["q1"])) == "beir:d3"
    assert per_query(dataset.qrels, run)["q1"]["mrr@10"] == 1.0
    assert seconds > 0


@needs_langchain
@pytest.mark.e2e
def test_hits_are_the_kb_chunks_deduplicated_by_document(real_kb: KnowledgeBase) -> None:
    hits = search(real_kb, "langchain", "blood glucose lowering drug")
    chunks = real_kb.stats()["chunks"]
    # Fewer chunks than either retriever's k: both return every chunk, so the fusion holds each exactly once.
    assert len(hits) == chunks == len({h.chunk_id for h in hits})
    assert {h.source for h in hits} == {f"beir:{d[0]}" for d in [*DOCS, TWIN]}
    assert [h.rank for h in hits] == list(range(1, chunks + 1))
    assert all(set(h.scores) == {"langchain"} for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    ranking = document_ranking(hits)
    assert list(ranking) == list(dict.fromkeys(h.source for h in hits))
    assert next(iter(ranking)) == "beir:d1"


@needs_langchain
@pytest.mark.e2e
@pytest.mark.parametrize("query", [text for _, text in QUERIES] + ["statins and LDL cholesterol"])
def test_order_is_equal_weight_rrf_of_bm25_and_faiss(real_kb: KnowledgeBase, query: str) -> None:
    baseline = baseline_for(real_kb)
    bm25, dense = _rowids(baseline.bm25.invoke(query)), _rowids(baseline.vectors.invoke(query))
    fused: dict[int, float] = {}
    for ranking, weight in zip((bm25, dense), WEIGHTS, strict=True):
        for rank, rowid in enumerate(ranking, start=1):
            fused[rowid] = fused.get(rowid, 0.0) + weight / (60 + rank)
    expected = sorted(fused, key=lambda rowid: -fused[rowid])  # stable: ties keep first appearance, BM25's first
    hits = search(real_kb, "langchain", query)
    assert [h.chunk_id for h in hits] == [
        h.chunk_id for h in real_kb.storage.store.documents.hits(expected, [0.0] * len(fused))
    ]
    if bm25[0] == dense[0]:
        assert hits[0].chunk_id == real_kb.storage.store.documents.hits(bm25[:1], [0.0])[0].chunk_id


@needs_langchain
@pytest.mark.e2e
def test_both_retrievers_agree_on_the_exact_term(real_kb: KnowledgeBase) -> None:
    baseline = baseline_for(real_kb)
    tops = {_rowids(r.invoke("zolmitriptan"))[0] for r in (baseline.bm25, baseline.vectors)}
    assert len(tops) == 1
    assert search(real_kb, "langchain", "zolmitriptan")[0].source == "beir:d3"


@needs_langchain
@pytest.mark.e2e
def test_chunks_with_the_same_text_stay_apart(real_kb: KnowledgeBase) -> None:
    # LangChain fuses by page_content unless given an id key; these two documents' chunks read the same.
    hits = search(real_kb, "langchain", "statins and LDL cholesterol")
    assert {h.source for h in hits[:2]} == {"beir:d5", "beir:d6"}


@needs_langchain
def test_baseline_is_built_once_and_again_after_ingest(dataset: EvalDataset, tmp_path: Path) -> None:
    kb = open_kb(dataset, tmp_path / "cache", Settings(embedder="hashing", cross_lingual_embedder="hashing"), None)
    try:
        first = baseline_for(kb)
        assert baseline_for(kb) is first
        kb.ingest([Document(text="Levothyroxine replaces thyroid hormone.", source="beir:d7")])
        assert baseline_for(kb) is not first
        assert search(kb, "langchain", "levothyroxine")[0].source == "beir:d7"
    finally:
        kb.close()


@pytest.mark.e2e  # a bundled model
def test_missing_dependency_names_the_extra(
    dataset: EvalDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "rank_bm25", None)  # ``import rank_bm25`` now raises ImportError
    assert not available()
    parser = argparse.ArgumentParser(prog="medkb")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    folder = _write_beir(tmp_path / "tiny", DOCS)
    args = parser.parse_args(
        [
            "eval",
            "retrieval",
            "--data",
            str(folder),
            "--embedder",
            "hashing",
            "--systems",
            "langchain",
        ]
        + ["--kb-cache", str(tmp_path / "cache")]
    )
    with pytest.raises(EvalError, match=r"rank-bm25.*pip install -e '\.\[eval\]'"):
        args.func(args)
