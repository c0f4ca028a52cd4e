"""The storage facade is what the stages take it for: a `ChunkSearch` for retrieval and an `IngestTarget` for
ingestion (protocols of kb.core), and its store's drug table is a `DrugTable`; the Store's parts each answer for
their own tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kb import KnowledgeBase
from kb.core.protocols import ChunkSearch, DrugTable, IngestTarget
from kb.core.settings import Settings
from kb.core.types import Document, Section


def test_storage_is_the_protocols_the_stages_use(tmp_path: Path) -> None:
    settings = Settings(embedder="hashing", cross_lingual_embedder="hashing")
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest(
            [
                Document("Metformin lowers glucose in type 2 diabetes.", "t:1", "Metformin"),
                Document("二甲双胍用于2型糖尿病。", "t:2", "二甲双胍"),
            ]
        )
        storage = kb.storage
        assert isinstance(storage, ChunkSearch)
        assert isinstance(storage, IngestTarget)
        assert isinstance(storage.store.drugs, DrugTable)
        store = storage.store
        ids = store.vectors.rowids()
        assert ids.size == store.counts()["chunks"] == store.xvectors.count()
        chinese = storage.chinese_chunk_ids()
        assert chinese.size == 1 and storage.hits(chinese.tolist(), [1.0])[0].title == "二甲双胍"
        found, vectors = storage.vectors_for(ids.tolist(), cross_lingual=True)
        assert found.tolist() == ids.tolist() and vectors.shape[1] == store.xvectors.dim()
        english = np.setdiff1d(ids, chinese)
        cross, _ = storage.dense_cross(vectors[0], 5, among=english)
        assert set(cross.tolist()) <= set(english.tolist())
        assert store.integrity_problems() == []


def test_metadata_with_nan_or_infinity_is_stored_as_null(tmp_path: Path) -> None:
    """JSON has no NaN: a reader that passes one through (``json.loads`` accepts it) must not fail the batch."""
    settings = Settings(embedder="hashing", cross_lingual_embedder="")
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        doc = Document("A note.", "t:nan", "Note", metadata={"score": float("nan"), "nested": [float("inf"), 1.5]})
        report = kb.ingest([doc])
        assert (report.added, report.failed) == (1, 0)
        stored = kb.storage.store.documents.get_document(doc.id)
        assert stored is not None and stored.metadata == {"score": None, "nested": [None, 1.5]}
        assert kb.storage.store.integrity_problems() == []


def test_a_heading_only_chunk_is_found_with_the_text_it_heads(tmp_path: Path) -> None:
    """A chunk of heading lines alone ("4 CONTRAINDICATIONS" / "4.3 Pregnancy") comes back as a hit that runs on to
    the end of the chunk after it in the same section, and that chunk is not given a second time."""
    body = " ".join(f"word{i}" for i in range(196)) + "."
    text = f"4 CONTRAINDICATIONS\n4.3 Pregnancy\n\n{body}\n\n5 WARNINGS\nUse with care."
    cut = text.index("5 WARNINGS")
    sections = [Section("Contraindications", 0, cut), Section("Warnings", cut, len(text))]
    settings = Settings(embedder="hashing", cross_lingual_embedder="")
    with KnowledgeBase.create(tmp_path / "kb", settings) as kb:
        kb.ingest([Document(text, "label:1", "A label", sections)])
        rows = kb.storage.store._db.execute("SELECT rowid, text FROM chunks ORDER BY rowid").fetchall()
        assert rows[0][1] == "4 CONTRAINDICATIONS\n4.3 Pregnancy"  # the chunker left the heading alone
        first, second, warnings = (r[0] for r in rows)
        hits = kb.storage.hits([first, second, warnings], [0.9, 0.8, 0.7])
        assert [h.section for h in hits] == ["Contraindications", "Warnings"]
        assert hits[0].text == text[: hits[0].end] and hits[0].text.endswith(body) and hits[0].start == 0
        assert [h.rank for h in hits] == [1, 3]
        # The store's own lookup stays one hit per id (callers pair hits with vectors).
        assert len(kb.storage.store.documents.hits([first, second, warnings], [0.9, 0.8, 0.7])) == 3
