"""The facade with fakes: storage, consistency, filters, replacement, bad directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generation.base import EchoGenerator
from kb import Document, KnowledgeBase, Settings
from kb.core.errors import InvalidFilter, KnowledgeBaseExists, KnowledgeBaseNotFound, SettingsMismatch
from kb.core.filters import Filters
from kb.core.lexical import match_expression
from kb.storage.faiss_index import VECTOR_DIR
from kb.storage.store import SCHEMA_VERSION

FAKE = Settings(embedder="hashing", cross_lingual_embedder="hashing")


def _kb(path: Path) -> KnowledgeBase:
    return KnowledgeBase.create(path, FAKE, generator=EchoGenerator())


def test_directory_layout_and_reingest_embeds_nothing(tmp_path: Path, docs_dir: Path) -> None:
    with _kb(tmp_path / "kb") as kb:
        first = kb.ingest([docs_dir])
        assert (first.added, first.failed) == (4, 0)
        assert first.chunks >= 4
        again = kb.ingest([docs_dir])
        assert (again.added, again.chunks, again.files_read, again.files_unchanged) == (0, 0, 0, 3)
        assert kb.stats()["chunks"] == first.chunks
    assert {p.name for p in (tmp_path / "kb").iterdir()} >= {"manifest.json", "kb.sqlite", VECTOR_DIR}


def test_chunk_spans_resolve_to_the_document_text(tmp_path: Path, docs_dir: Path) -> None:
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([docs_dir])
        for hit in kb.search("metformin eGFR lactic acidosis", k=10):
            doc = kb.storage.store.documents.get_document(hit.doc_id)
            assert doc is not None
            assert doc.text[hit.start : hit.end] == hit.text


def test_open_with_other_index_settings_is_refused(tmp_path: Path) -> None:
    _kb(tmp_path / "kb").close()
    with pytest.raises(SettingsMismatch, match="chunk_tokens"):
        KnowledgeBase.open(
            tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="hashing", chunk_tokens=64)
        )
    with pytest.raises(SettingsMismatch, match="embedder"):
        KnowledgeBase.open(tmp_path / "kb", Settings())
    with pytest.raises(KnowledgeBaseExists):
        _kb(tmp_path / "kb")


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir(), lambda p: p.write_text("x")])
def test_wrong_directory(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "nokb"
    make(target)
    with pytest.raises(KnowledgeBaseNotFound, match=str(target)):
        KnowledgeBase.open(target)


def test_filters_return_k_results_whenever_k_match(tmp_path: Path) -> None:
    docs = [
        Document(
            text=f"Common text about hypertension number {i}.",
            source=f"mem#{i}",
            title=f"doc {i}",
            metadata={"published": str(2000 + i), "journal": "A" if i % 10 == 0 else "B"},
        )
        for i in range(60)
    ]
    with _kb(tmp_path / "kb") as kb:
        kb.ingest(docs)
        hits = kb.search("hypertension", k=5, filters={"journal": "A"})
        assert len(hits) == 5  # 6 chunks have journal A; all far from the top of an unfiltered search is fine
        assert all(h.metadata["journal"] == "A" for h in hits)
        ranged = kb.search("hypertension", k=50, filters={"published_from": "2010", "published_to": "2019"})
        assert sorted(h.metadata["published"] for h in ranged) == [str(y) for y in range(2010, 2020)]
        assert kb.search("hypertension", k=5, filters={"journal": "C"}) == []
        with pytest.raises(InvalidFilter, match="published_from"):
            kb.search("x", filters={"published_from": "last year"})


#: Each filter written as it was before the metadata table: JSON parsed per document, prefixes by ``substr``.
_JSON_FILTERS = [
    ({"journal": "A"}, "CAST(json_extract(d.metadata, '$.journal') AS TEXT) = 'A'"),
    ({"year": "2003"}, "CAST(json_extract(d.metadata, '$.year') AS TEXT) = '2003'"),
    ({"open": "1"}, "CAST(json_extract(d.metadata, '$.open') AS TEXT) = '1'"),
    ({"mesh": '["Asthma","Child"]'}, "CAST(json_extract(d.metadata, '$.mesh') AS TEXT) = '[\"Asthma\",\"Child\"]'"),
    ({"source": "mem#1"}, "json_extract(d.metadata, '$.source') = 'mem#1' OR substr(d.source, 1, 5) = 'mem#1'"),
    (
        {"source": "registry"},
        "json_extract(d.metadata, '$.source') = 'registry' OR substr(d.source, 1, 8) = 'registry'",
    ),
    ({"published_from": "2005-06"}, "substr(d.published, 1, 7) >= '2005-06'"),
    ({"published_to": "2004"}, "substr(d.published, 1, 4) <= '2004'"),
    (
        {"published_from": "2002", "published_to": "2004-03", "journal": "B"},
        "substr(d.published, 1, 4) >= '2002' AND substr(d.published, 1, 7) <= '2004-03'"
        " AND json_extract(d.metadata, '$.journal') = 'B'",
    ),
]


@pytest.mark.parametrize(("spec", "reference"), _JSON_FILTERS)
def test_indexed_filters_pass_the_documents_the_json_conditions_pass(
    tmp_path: Path, spec: dict[str, str], reference: str
) -> None:
    """Filters search the metadata table and the source and date indexes; they pass exactly the documents that
    the same conditions on the parsed JSON metadata pass, and a knowledge base of schema 5 (no metadata table) is
    upgraded on open and gives the same answers."""
    docs = [
        Document(
            text=f"Hypertension note {i}.",
            source=f"mem#{i}",
            title=f"doc {i}",
            metadata={
                "journal": "AB"[i % 2],
                "year": 2000 + i % 6,
                "open": i % 3 == 0,
                "mesh": ["Asthma", "Child"] if i % 4 == 0 else ["Asthma"],
                "published": f"{2000 + i % 6}-{1 + i % 12:02d}-15" if i % 5 else None,
            }
            | ({"source": "registry"} if i % 7 == 0 else {}),
        )
        for i in range(40)
    ]
    with _kb(tmp_path / "kb") as kb:
        kb.ingest(docs)
        db = kb.storage.store._db
        expected = {r[0] for r in db.execute(f"SELECT d.id FROM documents d WHERE {reference}")}
        where, params = Filters.from_mapping(spec).to_sql()
        assert {r[0] for r in db.execute(f"SELECT d.id FROM documents d WHERE {where}", params)} == expected
        assert 0 < len(expected) < len(docs)
        assert {h.doc_id for h in kb.search("hypertension", k=50, filters=spec)} == expected
        db.executescript("DROP TABLE document_metadata; UPDATE meta SET value = '5' WHERE key = 'schema_version';")
    with KnowledgeBase.open(tmp_path / "kb", FAKE) as kb:
        assert kb.storage.store.schema_version() == SCHEMA_VERSION
        assert {h.doc_id for h in kb.search("hypertension", k=50, filters=spec)} == expected
        gone = sorted(expected)[:2]
        kb.delete(gone)  # a deleted document leaves no metadata rows
        rows = kb.storage.store._db.execute("SELECT DISTINCT doc_id FROM document_metadata").fetchall()
        assert {r[0] for r in rows} == {d.id for d in docs} - set(gone)


def test_check_reports_a_metadata_table_out_of_step(tmp_path: Path) -> None:
    doc = Document(text="Hypertension note.", source="mem#1", title="one", metadata={"journal": "A", "year": 2001})
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([doc])
        assert kb.check() == []
        kb.storage.store._db.execute("DELETE FROM document_metadata WHERE key = 'year'")
        assert kb.check() == ["the metadata table holds 1 of the documents' 2 metadata values"]


def test_remembered_filter_results_follow_every_change(tmp_path: Path) -> None:
    """A repeated filter is answered from the store's cache only while nothing changed: chunks added or deleted,
    here or by another process, are seen by the next search."""
    doc = Document(text="Hypertension in journal C.", source="mem#c1", title="c1", metadata={"journal": "C"})
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([Document(text="Hypertension basics.", source="mem#b", title="b", metadata={"journal": "B"})])
        assert kb.search("hypertension", k=5, filters={"journal": "C"}) == []
        kb.ingest([doc])
        assert [h.source for h in kb.search("hypertension", k=5, filters={"journal": "C"})] == ["mem#c1"]
        with KnowledgeBase.open(tmp_path / "kb", FAKE) as other:  # another connection writes
            other.ingest([Document(text="Hypertension again.", source="mem#c2", title="c2", metadata={"journal": "C"})])
        found = kb.search("hypertension", k=5, filters={"journal": "C"})
        assert sorted(h.source for h in found) == ["mem#c1", "mem#c2"]


@pytest.mark.parametrize("k", [3, 20, 40])
def test_filtered_bm25_by_prefix_or_by_full_scan_is_the_joined_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    """Filtered lexical search reads an unfiltered BM25 prefix when the filter passes many chunks, and every match
    otherwise; both answers are the one the filter joined into the FTS5 query gives."""
    from kb.storage.sqlite import fulltext as fulltext_module

    docs = [
        Document(
            text=f"Hypertension {'hypertension ' * (i % 7)}note {i}.",
            source=f"mem#{i}",
            title=f"doc {i}",
            metadata={"journal": "A" if i % 4 == 0 else "B"},
        )
        for i in range(80)
    ]
    with _kb(tmp_path / "kb") as kb:
        kb.ingest(docs)
        by_prefix = kb.search("hypertension", k=k, filters={"journal": "B"}, mode="lexical")
        monkeypatch.setattr(fulltext_module, "_PREFIX_MAX", 0)
        kb.storage.store.filters.clear_cache()
        by_scan = kb.search("hypertension", k=k, filters={"journal": "B"}, mode="lexical")
        where, params = Filters.from_mapping({"journal": "B"}).to_sql()
        joined = kb.storage.store._db.execute(
            "SELECT -bm25(chunks_fts) FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid"
            f" JOIN documents d ON d.id = c.doc_id WHERE chunks_fts MATCH ? AND {where}"
            " ORDER BY bm25(chunks_fts) LIMIT ?",
            [match_expression("hypertension"), *params, k],
        ).fetchall()
    assert len(by_prefix) == k and all(h.metadata["journal"] == "B" for h in by_prefix)
    assert [h.score for h in by_prefix] == [h.score for h in by_scan]
    assert [h.score for h in by_scan] == pytest.approx([r[0] for r in joined], rel=1e-6)


def test_changed_document_replaces_old_chunks(tmp_path: Path, docs_dir: Path) -> None:
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([docs_dir])
        (docs_dir / "asthma.txt").write_text("Asthma diagnosis\n\nSpirometry with bronchodilator reversibility.\n")
        report = kb.ingest([docs_dir])
        assert (report.added, report.replaced, report.files_unchanged) == (1, 1, 2)
        texts = [h.text for h in kb.search("asthma", k=50)]
        assert not any("variable expiratory" in t for t in texts)
        assert any("reversibility" in t for t in texts)
        assert kb.stats()["documents"] == 4
        assert kb.check() == []


def test_vector_index_rebuilt_when_missing_or_stale(tmp_path: Path, docs_dir: Path) -> None:
    with _kb(tmp_path / "kb") as kb:
        kb.ingest([docs_dir])
        n = kb.stats()["chunks"]
    shutil.rmtree(tmp_path / "kb" / VECTOR_DIR)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.storage.index.ntotal() == n
        assert kb.storage.cross_lingual is not None and kb.storage.cross_lingual.ntotal() == n
        assert kb.check() == []
        assert kb.reindex() == n


def test_bad_inputs_are_recorded_and_the_rest_go_in(tmp_path: Path, docs_dir: Path) -> None:
    (docs_dir / "broken.pdf").write_bytes(b"this is not a pdf")
    (docs_dir / "empty.txt").write_text("")
    (docs_dir / "notes.docx").write_bytes(b"PK\x03\x04")
    with (docs_dir / "papers.jsonl").open("a") as fh:
        fh.write("{not json\n")
    with _kb(tmp_path / "kb") as kb:
        report = kb.ingest([docs_dir, tmp_path / "missing"])
        reasons = " | ".join(r for _, r in report.failures)
        assert report.added == 4
        assert report.failed == 4
        for expected in ("broken.pdf", "empty.txt", "papers.jsonl#L3", "missing"):
            assert expected in reasons
        # a walked folder's file of a type no reader reads is skipped, not failed ...
        assert report.skipped == [str(docs_dir / "notes.docx")]
        assert "notes.docx" not in reasons
        assert len(kb.failures()) == 4
        assert kb.stats()["documents"] == 4
        # ... but named explicitly, it fails
        named = kb.ingest([docs_dir / "notes.docx"])
        assert named.failed == 1 and "notes.docx" in named.failures[0][1] and not named.skipped


class _FailingEmbedder:
    """Hashing embedder that breaks on its n-th batch, like a crash in the middle of an ingest."""

    def __init__(self, fail_on: int) -> None:
        from retrieval.embedders import HashingEmbedder

        self._inner = HashingEmbedder()
        self.name = "hashing"
        self.dim = self._inner.dim
        self.count_tokens = self._inner.count_tokens
        self.embed_query = self._inner.embed_query
        self.calls = 0
        self.fail_on = fail_on

    def embed_documents(self, texts):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("embedder crashed")
        return self._inner.embed_documents(texts)


def test_a_crash_loses_only_the_batch_in_flight(tmp_path: Path) -> None:
    docs = [Document(text=f"Document {i} about asthma.", source=f"mem#{i}") for i in range(5)]
    kb = KnowledgeBase.create(
        tmp_path / "kb",
        Settings(embedder="hashing", cross_lingual_embedder="hashing", batch_size=1),
        embedder=_FailingEmbedder(3),
    )
    with pytest.raises(RuntimeError, match="crashed"):
        kb.ingest(docs)
    kb.close()
    with KnowledgeBase.open(tmp_path / "kb") as again:
        assert again.stats()["documents"] == 2
        assert again.check() == []
        report = again.ingest(docs)
        assert (report.added, report.unchanged) == (3, 2)
        assert again.stats()["documents"] == 5


def test_chunk_vectors_are_the_stored_embeddings(tmp_path: Path, docs_dir: Path) -> None:
    with _kb(tmp_path / "kb") as kb:
        assert kb.chunk_vectors()[0] == []
        kb.ingest([docs_dir])
        chunks, vectors = kb.chunk_vectors()
        assert len(chunks) == vectors.shape[0] == kb.stats()["chunks"]
        assert vectors.shape[1] == kb.embedder.dim
        hit = kb.search("penicillin allergy amoxicillin", k=1, mode="dense")[0]
        row = [c.chunk_id for c in chunks].index(hit.chunk_id)
        query = kb.embedder.embed_query("penicillin allergy amoxicillin")
        assert float(vectors[row] @ query) == pytest.approx(hit.score, abs=1e-5)


def test_a_crash_while_committing_a_file_is_not_recorded_as_that_files_failure(tmp_path: Path) -> None:
    lines = [f'{{"text": "Note {i} about asthma and inhalers.", "title": "Note {i}"}}' for i in range(6)]
    (tmp_path / "notes.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    kb = KnowledgeBase.create(
        tmp_path / "kb",
        Settings(embedder="hashing", cross_lingual_embedder="hashing", batch_size=1),
        embedder=_FailingEmbedder(3),
    )
    with pytest.raises(RuntimeError, match="crashed"):
        kb.ingest([tmp_path / "notes.jsonl"])
    assert kb.failures() == []
    kb.close()
    with KnowledgeBase.open(tmp_path / "kb") as again:
        assert again.stats()["documents"] == 2
        report = again.ingest([tmp_path / "notes.jsonl"])
        assert (report.added, report.unchanged, report.failed) == (4, 2, 0)
        assert again.stats()["documents"] == 6 and again.check() == []
