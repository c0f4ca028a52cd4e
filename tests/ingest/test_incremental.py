"""Incremental ingestion: unchanged files skipped, changed ones replaced atomically, --sync, versions, deletions,
and the vector index kept in step with SQLite (flat shards and HNSW)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.readers import Deletion, ReadItem, register_reader
from kb import Document, KnowledgeBase, Settings
from kb.storage.faiss_index import SHARD_SIZE, VECTOR_DIR
from kb.storage.store import SCHEMA_VERSION
from retrieval.embedders import HashingEmbedder

FAKE = Settings(embedder="hashing", cross_lingual_embedder="hashing")


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded = 0

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.embedded += len(texts)
        return super().embed_documents(texts)


def _all_texts(kb: KnowledgeBase) -> list[str]:
    return [h.text for h in kb.search("the", k=10_000)]


def _write_jsonl(path: Path, records: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def test_unchanged_inputs_are_skipped_without_embedding(tmp_path: Path, docs_dir: Path) -> None:
    embedder = CountingEmbedder()
    with KnowledgeBase.create(tmp_path / "kb", FAKE, embedder=embedder) as kb:
        first = kb.ingest([docs_dir])
        n = embedder.embedded
        assert n == first.chunks > 0
        again = kb.ingest([docs_dir])
        assert embedder.embedded == n
        assert (again.files_read, again.files_unchanged, again.chunks) == (0, 3, 0)
        # touched but identical: hashed, not read
        os.utime(docs_dir / "asthma.txt", ns=(1, 1))
        touched = kb.ingest([docs_dir])
        assert (touched.files_read, touched.files_unchanged, embedder.embedded) == (0, 3, n)
        assert kb.check() == []


def test_changed_record_replaces_its_chunks_and_dropped_record_is_deleted(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    records = [
        {"id": str(i), "title": f"Doc {i}", "text": f"the record {i} says alpha{i} and beta{i}."} for i in range(5)
    ]
    _write_jsonl(src / "a.jsonl", records)
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest([src])
        records[1]["text"] = "the record 1 now says gamma1 instead."
        del records[3]
        _write_jsonl(src / "a.jsonl", records)
        report = kb.ingest([src])
        assert (report.added, report.replaced, report.deleted, report.files_read) == (1, 1, 1, 1)
        texts = " ".join(_all_texts(kb))
        assert "gamma1" in texts
        assert "alpha1" not in texts and "alpha3" not in texts
        assert kb.stats()["documents"] == 4
        assert kb.check() == []


def test_sync_removes_documents_of_deleted_files_only_when_asked(tmp_path: Path, docs_dir: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest([docs_dir])
        (docs_dir / "asthma.txt").unlink()
        kept = kb.ingest([docs_dir])
        assert kept.deleted == 0 and kb.stats()["documents"] == 4
        synced = kb.ingest([docs_dir], sync=True)
        assert synced.deleted == 1
        assert kb.stats()["documents"] == 3
        assert not any("expiratory" in t for t in _all_texts(kb))
        assert kb.check() == []


def _label(set_id: str, version: int, text: str) -> Document:
    return Document(
        text=text, title="Drug X label", source=f"dailymed:{set_id}", metadata={"set_id": set_id, "version": version}
    )


def test_newer_version_supersedes_and_older_never_replaces_newer(tmp_path: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest([_label("s1", 2, "the version two label warns about hepatotoxicity.")])
        old = kb.ingest([_label("s1", 1, "the version one label mentions nothing.")])
        assert (old.added, old.superseded) == (0, 1)
        new = kb.ingest([_label("s1", 3, "the version three label adds a boxed warning.")])
        assert (new.added, new.replaced) == (1, 1)
        texts = " ".join(_all_texts(kb))
        assert "version three" in texts and "version two" not in texts and "version one" not in texts
        # several versions in one run: only the newest is stored, whatever the order
        report = kb.ingest([_label("s2", 5, "the s2 five text."), _label("s2", 4, "the s2 four text.")])
        assert (report.added, report.superseded) == (1, 1)
        assert kb.stats()["documents"] == 2
        assert kb.check() == []


class _UpdateReader:
    """A test reader for ``.upd`` files: ``+id text`` adds a record, ``-id`` deletes one."""

    def read(self, path: Path) -> Iterator[ReadItem]:
        for line in path.read_text(encoding="utf-8").splitlines():
            key, _, text = line[1:].partition(" ")
            if line.startswith("+"):
                yield Document(text=text, title=f"PMID {key}", source=f"pubmed:{key}", metadata={"pmid": key})
            else:
                yield Deletion(source=f"pubmed:{key}", reason=f"deleted in {path.name}")


def test_deletions_in_update_files_remove_documents(tmp_path: Path) -> None:
    register_reader(".upd", _UpdateReader())
    src = tmp_path / "updates"
    src.mkdir()
    (src / "0001.upd").write_text("+1 the first abstract\n+2 the second abstract\n+3 the third abstract\n")
    (src / "0002.upd").write_text("-2\n+3 the third abstract, revised\n+4 the fourth abstract\n-4\n")
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        report = kb.ingest([src])
        texts = " ".join(_all_texts(kb))
        assert "second" not in texts and "fourth" not in texts
        assert "revised" in texts
        assert kb.stats()["documents"] == 2
        assert report.deleted == 2
        assert kb.check() == []


def test_check_reports_a_stale_shard_and_opening_repairs_it(tmp_path: Path, docs_dir: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest([docs_dir])
        n = kb.stats()["chunks"]
    shard = tmp_path / "kb" / VECTOR_DIR / "flat-000000.faiss"
    saved = shard.read_bytes()
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        kb.ingest([Document(text="the extra note on gout and urate.", source="mem#1")])
    stale_copy = shard.read_bytes()
    shard.write_bytes(saved)  # as if the process died before saving the shard
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        problems = kb.check()
        assert len(problems) == 1 and "shard 0" in problems[0] and f"{n} vectors" in problems[0]
        assert any("gout" in h.text for h in kb.search("gout urate", k=3))  # repaired on load
        assert kb.check() == []
    assert shard.read_bytes() == stale_copy or shard.stat().st_size > 0


def test_many_chunks_span_shards_and_search_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.storage.faiss_index as vectors

    monkeypatch.setattr(vectors, "SHARD_SIZE", 16)
    docs = [Document(text=f"the note {i} mentions term{i}.", source=f"mem#{i}") for i in range(100)]
    with KnowledgeBase.create(
        tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="hashing", batch_size=8)
    ) as kb:
        kb.ingest(docs)
        assert len(vectors.FlatShards(kb.directory, kb.embedder.dim, kb.storage.store).shard_files()) >= 6
        hits = kb.search("term42", k=1)
        assert hits[0].text == "the note 42 mentions term42."
        kb.ingest([Document(text="the note 42 is replaced by term420.", source="mem#42")])
        assert kb.search("term42", k=1)[0].text != "the note 42 mentions term42."
        assert kb.check() == []
    assert SHARD_SIZE == 16384  # the module constant itself is untouched outside this test


def test_hnsw_index_matches_exact_search_and_sees_later_changes(tmp_path: Path) -> None:
    docs = [
        Document(text=f"the passage {i} is about topic{i % 50} and word{i}.", source=f"mem#{i}") for i in range(400)
    ]
    with (
        KnowledgeBase.create(tmp_path / "flat", FAKE) as flat,
        KnowledgeBase.create(
            tmp_path / "hnsw", Settings(embedder="hashing", cross_lingual_embedder="hashing", index_type="hnsw")
        ) as ann,
    ):
        flat.ingest(docs)
        ann.ingest(docs)
        assert ann.reindex() == 400
        assert (tmp_path / "hnsw" / VECTOR_DIR / "hnsw.faiss").is_file()
        for q in ("topic7 word7", "word123", "topic49"):
            approx, exact = ann.search(q, k=5), flat.search(q, k=5)
            assert [round(h.score, 5) for h in approx] == [round(h.score, 5) for h in exact]  # ties may reorder
        ann.ingest([Document(text="the late arrival about zebrafish.", source="mem#new")])
        ann.ingest([Document(text="the passage 123 was withdrawn.", source="mem#123")])
        assert ann.search("zebrafish", k=1)[0].text == "the late arrival about zebrafish."
        assert all("word123." not in h.text for h in ann.search("word123", k=10))
        assert ann.stats()["newer_than_hnsw"] == 2
        assert ann.check() == []
    with KnowledgeBase.open(tmp_path / "hnsw") as again:  # memory-mapped on open, deletions still filtered
        assert again.stats()["hnsw_deleted_since_build"] == 1
        assert all("word123." not in h.text for h in again.search("word123", k=10))
        maps = Path("/proc/self/maps")
        if maps.exists():
            assert "hnsw.faiss" in maps.read_text()


def test_a_version_1_knowledge_base_is_upgraded_in_place(tmp_path: Path, docs_dir: Path) -> None:
    with KnowledgeBase.create(tmp_path / "kb", FAKE) as kb:
        kb.ingest([docs_dir])
        before = sorted(h.chunk_id for h in kb.search("the", k=100))
    db = sqlite3.connect(tmp_path / "kb" / "kb.sqlite")
    db.executescript(
        """
        DROP TABLE files;
        DROP TABLE chunk_xvectors;
        DELETE FROM meta WHERE key = 'cross_lingual_model';
        CREATE TABLE chunks_v1 AS SELECT rowid AS rid, * FROM chunks;
        DROP TABLE chunks;
        CREATE TABLE chunks (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc_id TEXT NOT NULL
            REFERENCES documents(id) ON DELETE CASCADE, ord INTEGER NOT NULL, section TEXT NOT NULL,
            start INTEGER NOT NULL, end INTEGER NOT NULL, page INTEGER, text TEXT NOT NULL,
            token_count INTEGER NOT NULL, embedding BLOB NOT NULL);
        INSERT INTO chunks SELECT rid, id, doc_id, ord, section, start, end, page, text, token_count, embedding
            FROM chunks_v1;
        DROP TABLE chunks_v1;
        DROP INDEX documents_origin;
        ALTER TABLE documents DROP COLUMN origin;
        ALTER TABLE documents DROP COLUMN version;
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        """
    )
    db.close()
    shutil.rmtree(tmp_path / "kb" / VECTOR_DIR)
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        assert kb.storage.store.schema_version() == SCHEMA_VERSION
        assert sorted(h.chunk_id for h in kb.search("the", k=100)) == before
        report = kb.ingest([docs_dir])
        assert report.chunks == 0
        assert kb.check() == []
        (docs_dir / "asthma.txt").unlink()  # documents stored before files were tracked are synced too
        assert kb.ingest([docs_dir], sync=True).deleted == 1
        assert kb.stats()["documents"] == 3
