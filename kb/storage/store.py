"""``kb.sqlite``, the source of truth: documents, chunks (with their embeddings, and optionally cross-lingual ones),
the lexical index, the drug table of DailyMed labels, file records and ingest failures.

Each concern is its own part (`kb.storage.sqlite`), reached as an attribute of :class:`Store`; derived indexes
(FAISS, Chroma, pgvector) are rebuilt from here. Each :meth:`Store.write_batch` is one transaction, so a crash loses
at most the batch in flight.
"""

from __future__ import annotations

from pathlib import Path

from kb.core.batch import Batch
from kb.storage.sqlite.documents import Documents
from kb.storage.sqlite.drug_labels import DrugLabels
from kb.storage.sqlite.files import FileRecords
from kb.storage.sqlite.fulltext import FullText
from kb.storage.sqlite.meta import Meta
from kb.storage.sqlite.metadata_filter import ChunkFilter
from kb.storage.sqlite.schema import (
    DB_NAME,
    METADATA_VALUES,
    SCHEMA_VERSION,
    XVECTOR_TABLE,
    open_database,
    schema_version,
)
from kb.storage.sqlite.vector_tables import CrossLingualVectors, VectorTable
from kb.storage.sqlite.writer import BatchResult, write_batch

__all__ = ["DB_NAME", "SCHEMA_VERSION", "XVECTOR_TABLE", "BatchResult", "Store"]


class Store:
    """Typed access to ``kb.sqlite``, one attribute per concern:

    - :attr:`meta`: schema version, cross-lingual encoder, manifest copy, unsaved vector-index writes;
    - :attr:`documents`: documents and chunks, and hits by chunk row id;
    - :attr:`filters`: the chunk row ids whose documents pass a filter;
    - :attr:`fulltext`: BM25 search;
    - :attr:`vectors` and :attr:`xvectors`: the main and the cross-lingual embeddings by chunk row id;
    - :attr:`drugs`: the drug table (a `kb.core.protocols.DrugTable`);
    - :attr:`files`: files read completely, and ingest failures.
    """

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = path
        self._db = open_database(path, create=create)
        self.meta = Meta(self._db)
        self.documents = Documents(self._db)
        self.filters = ChunkFilter(self._db)
        self.fulltext = FullText(self._db, self.filters)
        self.vectors = VectorTable(self._db, "chunks")
        self.xvectors = CrossLingualVectors(self._db, self.meta)
        self.drugs = DrugLabels(self._db)
        self.files = FileRecords(self._db)

    def close(self) -> None:
        self._db.close()

    def schema_version(self) -> int:
        return schema_version(self._db, self.path)

    def write_batch(self, batch: Batch) -> BatchResult:
        """Write ``batch`` in one transaction (`kb.storage.sqlite.writer.write_batch`)."""
        return write_batch(self._db, self.meta, batch)

    def counts(self) -> dict[str, int]:
        q = self._db.execute
        return {
            "documents": q("SELECT count(*) FROM documents").fetchone()[0],
            "chunks": q("SELECT count(*) FROM chunks").fetchone()[0],
            "failures": q("SELECT count(*) FROM failures").fetchone()[0],
        }

    def integrity_problems(self) -> list[str]:
        """SQLite's own integrity and foreign-key checks, documents left without chunks, stray cross-lingual
        vectors, a metadata table that does not hold every document's metadata values, and a lexical index that
        differs from the chunks."""
        q = self._db.execute
        problems = [r[0] for r in q("PRAGMA integrity_check") if r[0] != "ok"]
        if n := q("SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)").fetchone()[0]:
            problems.append(f"{n} chunks belong to no document")
        if n := q("SELECT count(*) FROM documents WHERE id NOT IN (SELECT doc_id FROM chunks)").fetchone()[0]:
            problems.append(f"{n} documents have no chunks")
        stray = q(f"SELECT count(*) FROM {XVECTOR_TABLE} WHERE rowid NOT IN (SELECT rowid FROM chunks)")
        if n := stray.fetchone()[0]:
            problems.append(f"{n} cross-lingual vectors belong to no chunk")
        values = q(f"SELECT count(*) FROM ({METADATA_VALUES})").fetchone()[0]
        rows = q("SELECT count(*) FROM document_metadata").fetchone()[0]
        if values != rows:
            problems.append(f"the metadata table holds {rows} of the documents' {values} metadata values")
        return problems + self.fulltext.problems()
