"""The lexical (BM25, SQLite FTS5) index: query building, exact tokens, Chinese, kept in step with the chunks in
the same transaction, checked by `check`, built on upgrade; and hybrid search."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kb import Document, KnowledgeBase, Settings
from kb.core.lexical import match_expression
from kb.storage.store import SCHEMA_VERSION
from retrieval.fusion import reciprocal_rank_fusion

FAKE = Settings(embedder="hashing", cross_lingual_embedder="hashing")
DOCS = [
    Document(text="Carriers of CYP2C19*2 respond poorly to clopidogrel.", title="Clopidogrel", source="a"),
    Document(text="IL-6 rises early in sepsis and predicts mortality.", title="Sepsis markers", source="b"),
    Document(text="An IL score of 6 was recorded in the chart.", title="Unrelated score", source="c"),
    Document(text="HbA1c of 6.5% or higher confirms diabetes.", title="Diabetes diagnosis", source="d"),
    Document(text="二甲双胍禁用于严重肾功能不全的患者。", title="二甲双胍禁忌", source="e"),
    Document(text="Running and walking improve blood pressure control.", title="Exercise", source="f"),
]


def _titles(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.title for h in hits]


def test_match_expression_quotes_terms_keeps_compound_tokens_and_drops_stop_words() -> None:
    assert match_expression("Is IL-6 raised in sepsis?") == '"il 6" OR "raised" OR "sepsis"'
    assert match_expression("CYP2C19*2 and clopidogrel") == '"cyp2c19 2" OR "clopidogrel"'
    assert match_expression('NEAR OR NOT "x') == '"near"'  # FTS5 keywords and quotes never become syntax
    assert match_expression("what is the") is None
    chinese = match_expression("二甲双胍的禁忌症")
    assert chinese is not None and '"二甲"' in chinese


def test_lexical_search_matches_exact_tokens_stems_and_chinese(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest(DOCS)
        assert _titles(kb.search("CYP2C19*2", k=3, mode="lexical")) == ["Clopidogrel"]
        assert _titles(kb.search("IL-6", k=3, mode="lexical")) == ["Sepsis markers"]  # not "IL ... 6" apart
        assert _titles(kb.search("HbA1c", k=3, mode="lexical")) == ["Diabetes diagnosis"]
        assert _titles(kb.search("runs", k=3, mode="lexical")) == ["Exercise"]  # porter stemming
        assert _titles(kb.search("二甲双胍 肾功能", k=3, mode="lexical")) == ["二甲双胍禁忌"]
        assert kb.search("the of and", k=3, mode="lexical") == []
        assert kb.search('NEAR( AND "unbalanced', k=3, mode="lexical") == []
        assert _titles(kb.search("sepsis", k=3, mode="lexical", filters={"source": "a"})) == []


def test_lexical_index_follows_replacements_and_deletions_and_check_sees_tampering(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest(DOCS)
        kb.ingest([Document(text="Procalcitonin guides antibiotic stopping.", title="Sepsis markers", source="b")])
        assert kb.search("IL-6", k=3, mode="lexical") == []
        assert _titles(kb.search("procalcitonin", k=3, mode="lexical")) == ["Sepsis markers"]
        assert kb.check() == []
    db = sqlite3.connect(tmp_path / "kb" / "kb.sqlite")
    db.execute("DELETE FROM chunks_fts WHERE rowid = (SELECT min(rowid) FROM chunks_fts)")
    db.commit()
    db.close()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        problems = kb.check()
        assert len(problems) == 1 and "lexical index" in problems[0]


def test_a_version_2_knowledge_base_gets_its_lexical_index_on_open(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest(DOCS)
    db = sqlite3.connect(tmp_path / "kb" / "kb.sqlite")
    db.executescript(
        "DROP TRIGGER chunks_fts_delete; DROP TABLE chunks_fts;"
        "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    )
    db.close()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.storage.store.schema_version() == SCHEMA_VERSION
        assert _titles(kb.search("CYP2C19*2", k=3, mode="lexical")) == ["Clopidogrel"]
        assert kb.check() == []


def test_reciprocal_rank_fusion() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1]], k=60)
    assert [i for i, _ in fused] == [1, 3, 2]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert [i for i, _ in reciprocal_rank_fusion([[1, 2], [2, 1]], weights=[0.0, 1.0])] == [2, 1]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1]], weights=[1.0, 2.0])


def test_hybrid_search_fuses_both_and_reports_every_score(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest(DOCS)
        hits = kb.search("CYP2C19*2 clopidogrel", k=3, mode="hybrid")
        assert hits[0].title == "Clopidogrel"
        assert {"hybrid", "dense", "lexical"} <= set(hits[0].scores)
        assert len(kb.search("blood pressure", k=5, mode="hybrid")) == 5  # k back even where BM25 has fewer
        assert _titles(kb.search("sepsis", k=5, mode="hybrid", filters={"source": "b"})) == ["Sepsis markers"]
        with pytest.raises(Exception, match="mode"):
            kb.search("sepsis", mode="bm25")
