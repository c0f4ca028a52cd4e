"""SQLite store: documents, chunks (with their embeddings) and ingest failures; the source of truth.

Derived indexes (FAISS) are rebuilt from here. Each ``write_batch`` is one transaction, so a crash loses at most the
batch in flight.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import KnowledgeBaseNotFound
from kb.filters import Filters
from kb.types import Chunk, Document, Hit, Section

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "kb.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    sections TEXT NOT NULL,
    metadata TEXT NOT NULL,
    published TEXT,
    added_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    section TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    page INTEGER,
    text TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS failures (
    source TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


@dataclass
class BatchResult:
    """What one write did to the chunk table: FAISS ids to add (with vectors) and to remove."""

    added_ids: np.ndarray
    added_vectors: np.ndarray
    removed_ids: np.ndarray


class Store:
    """Thin typed access to ``kb.sqlite``."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        if not create and not path.is_file():
            raise KnowledgeBaseNotFound(f"{path.parent}: not a medkb knowledge base (no {DB_NAME})")
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        if create:
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        version = self.schema_version()
        if version != SCHEMA_VERSION:
            raise KnowledgeBaseNotFound(f"{path}: schema version {version}, this medkb reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def schema_version(self) -> int:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise KnowledgeBaseNotFound(f"{self.path}: not a medkb database ({exc})") from exc
        return int(row[0]) if row else 0

    # -- reads -------------------------------------------------------------------------------------------------

    def has_document(self, doc_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None

    def document_ids_for_source(self, source: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT id FROM documents WHERE source = ?", (source,))]

    def get_document(self, doc_id: str) -> Document | None:
        row = self._db.execute(
            "SELECT text, source, title, sections, metadata FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            return None
        sections = [Section(**s) for s in json.loads(row[3])]
        return Document(text=row[0], source=row[1], title=row[2], sections=sections, metadata=json.loads(row[4]))

    def counts(self) -> dict[str, int]:
        q = self._db.execute
        return {
            "documents": q("SELECT count(*) FROM documents").fetchone()[0],
            "chunks": q("SELECT count(*) FROM chunks").fetchone()[0],
            "failures": q("SELECT count(*) FROM failures").fetchone()[0],
        }

    def chunk_id_checksum(self) -> tuple[int, int]:
        """(count, sum of FAISS ids): cheap fingerprint to tell whether a vector index matches the store."""
        n, total = self._db.execute("SELECT count(*), coalesce(sum(rowid), 0) FROM chunks").fetchone()
        return int(n), int(total)

    def failures(self) -> list[tuple[str, str]]:
        return list(self._db.execute("SELECT source, reason FROM failures ORDER BY source"))

    def iter_vectors(self, batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids, float32 matrix) for every chunk, in rowid order."""
        cur = self._db.execute("SELECT rowid, embedding FROM chunks ORDER BY rowid")
        while rows := cur.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vecs

    def matching_ids(self, filters: Filters) -> np.ndarray:
        """FAISS ids of the chunks whose documents pass ``filters``."""
        where, params = filters.to_sql()
        sql = f"SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE {where}"
        return np.fromiter((r[0] for r in self._db.execute(sql, params)), dtype=np.int64)

    def hits(self, ids: Sequence[int], scores: Sequence[float]) -> list[Hit]:
        """Hits for FAISS ids, in the order given."""
        if not len(ids):
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            "SELECT c.rowid, c.id, c.doc_id, c.text, c.section, c.start, c.end, c.page, d.title, d.source, d.metadata"
            f" FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.rowid IN ({marks})",
            [int(i) for i in ids],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        out = []
        for rank, (i, score) in enumerate(zip(ids, scores, strict=True), start=1):
            r = by_id.get(int(i))
            if r is None:
                continue
            out.append(
                Hit(
                    chunk_id=r[1],
                    doc_id=r[2],
                    text=r[3],
                    section=r[4],
                    start=r[5],
                    end=r[6],
                    page=r[7],
                    title=r[8],
                    source=r[9],
                    metadata=json.loads(r[10]),
                    score=float(score),
                    scores={"dense": float(score)},
                    rank=rank,
                )
            )
        return out

    # -- writes ------------------------------------------------------------------------------------------------

    def write_batch(
        self,
        documents: Iterable[tuple[Document, Sequence[Chunk], np.ndarray]],
        replaced_doc_ids: Iterable[str] = (),
        failures: Iterable[tuple[str, str]] = (),
        cleared_failures: Iterable[str] = (),
    ) -> BatchResult:
        """In one transaction: delete replaced documents, insert new documents with their chunks and vectors,
        and record (or clear) per-source failures."""
        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        removed: list[int] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for doc_id in replaced_doc_ids:
                removed += [r[0] for r in db.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))]
                db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            for doc, chunks, vectors in documents:
                db.execute(
                    "INSERT OR IGNORE INTO documents(id, source, title, text, sections, metadata, published)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        doc.id,
                        doc.source,
                        doc.title,
                        doc.text,
                        json.dumps([s.__dict__ for s in doc.sections]),
                        json.dumps(doc.metadata, ensure_ascii=False, default=str),
                        _normalise_date(doc.metadata.get("published")),
                    ),
                )
                for ord_, (chunk, vec) in enumerate(zip(chunks, vectors, strict=True)):
                    cur = db.execute(
                        "INSERT OR IGNORE INTO chunks(id, doc_id, ord, section, start, end, page, text, token_count,"
                        " embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            chunk.id,
                            chunk.doc_id,
                            ord_,
                            chunk.section,
                            chunk.start,
                            chunk.end,
                            chunk.page,
                            chunk.text,
                            chunk.token_count,
                            np.asarray(vec, dtype=np.float32).tobytes(),
                        ),
                    )
                    if cur.rowcount:
                        added_ids.append(int(cur.lastrowid or 0))
                        added_vecs.append(vec)
            for source in cleared_failures:
                db.execute("DELETE FROM failures WHERE source = ?", (source,))
            for source, reason in failures:
                db.execute("INSERT OR REPLACE INTO failures(source, reason) VALUES (?, ?)", (source, reason))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        dim = added_vecs[0].shape[-1] if added_vecs else 0
        return BatchResult(
            added_ids=np.asarray(added_ids, dtype=np.int64),
            added_vectors=np.stack(added_vecs).astype(np.float32) if added_vecs else np.zeros((0, dim), np.float32),
            removed_ids=np.asarray(removed, dtype=np.int64),
        )


def _normalise_date(value: Any) -> str | None:
    """ISO-like ``YYYY[-MM[-DD]]`` prefix of a date value, so date ranges compare as strings."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    return text[:10] if text[:4].isdigit() else None
