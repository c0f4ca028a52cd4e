"""The stored vectors, one per chunk and keyed by its row id (the id every vector index uses): the main embeddings
(column ``embedding`` of ``chunks``) and the cross-lingual ones (``chunk_xvectors``). Vector indexes are rebuilt and
checked from here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np

from kb.storage.sqlite.meta import Meta
from kb.storage.sqlite.schema import XVECTOR_TABLE

_NO_END = 2**62


class VectorTable:
    """The vectors of one table (``chunks`` or ``chunk_xvectors``), by chunk row id."""

    def __init__(self, db: sqlite3.Connection, table: str) -> None:
        if table not in ("chunks", XVECTOR_TABLE):
            raise ValueError(f"vector table {table!r}: expected chunks or {XVECTOR_TABLE}")
        self._db = db
        #: The table's name (it goes into SQL text, so only the two known names are accepted).
        self.table = table

    def count(self) -> int:
        return int(self._db.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0])

    def max_rowid(self) -> int:
        return int(self._db.execute(f"SELECT coalesce(max(rowid), 0) FROM {self.table}").fetchone()[0])

    def rowids(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """Sorted row ids of the vectors with ``lo <= rowid < hi``."""
        rows = self._db.execute(
            f"SELECT rowid FROM {self.table} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
            (lo, _NO_END if hi is None else hi),
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def range_checksum(self, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
        """(count, sum of ids) of the vectors with ``lo <= rowid < hi``: a cheap fingerprint to tell whether a
        vector index holds the same ids."""
        n, total = self._db.execute(
            f"SELECT count(*), coalesce(sum(rowid), 0) FROM {self.table} WHERE rowid >= ? AND rowid < ?",
            (lo, _NO_END if hi is None else hi),
        ).fetchone()
        return int(n), int(total)

    def vectors_for(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors) for the given row ids."""
        found: list[int] = []
        vecs: list[np.ndarray] = []
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            for rowid, blob in self._db.execute(
                f"SELECT rowid, embedding FROM {self.table} WHERE rowid IN ({marks}) ORDER BY rowid", part
            ):
                found.append(rowid)
                vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not vecs:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.asarray(found, dtype=np.int64), np.stack(vecs)

    def iter_vectors(
        self, batch: int = 4096, lo: int = 0, hi: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids, float32 matrix) for the vectors with ``lo <= rowid < hi`` (all by default), in rowid order."""
        cur = self._db.execute(
            f"SELECT rowid, embedding FROM {self.table} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
            (lo, _NO_END if hi is None else hi),
        )
        while rows := cur.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vecs

    def dim(self) -> int | None:
        """The dimension of the stored vectors (of one of them), or None when none is stored."""
        row = self._db.execute(f"SELECT length(embedding) FROM {self.table} LIMIT 1").fetchone()
        return int(row[0]) // 4 if row else None


class CrossLingualVectors(VectorTable):
    """The cross-lingual vectors, which a chunk may lack (stored before the encoder was configured) until a
    backfill adds them."""

    def __init__(self, db: sqlite3.Connection, meta: Meta) -> None:
        super().__init__(db, XVECTOR_TABLE)
        self._meta = meta

    def count_missing(self) -> int:
        """Chunks without a cross-lingual vector."""
        sql = f"SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM {XVECTOR_TABLE} WHERE rowid = c.rowid)"
        return int(self._db.execute(sql).fetchone()[0])

    def missing(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        """Up to ``limit`` chunks with row id above ``after`` that lack a cross-lingual vector, in row id order, as
        (row id, document title, section, chunk text)."""
        return self._db.execute(
            "SELECT c.rowid, d.title, c.section, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id"
            f" WHERE c.rowid > ? AND NOT EXISTS (SELECT 1 FROM {XVECTOR_TABLE} x WHERE x.rowid = c.rowid)"
            " ORDER BY c.rowid LIMIT ?",
            (after, limit),
        ).fetchall()

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> np.ndarray:
        """Store cross-lingual vectors of existing chunks that lack one, in one transaction; returns the ids stored."""
        stored: list[int] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for rowid, vec in zip(ids, vectors, strict=True):
                cur = db.execute(
                    f"INSERT OR IGNORE INTO {XVECTOR_TABLE}(rowid, embedding)"
                    " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM chunks WHERE rowid = ?)",
                    (int(rowid), np.asarray(vec, dtype=np.float32).tobytes(), int(rowid)),
                )
                if cur.rowcount:
                    stored.append(int(rowid))
            if stored:
                self._meta.mark_index_pending()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return np.asarray(stored, dtype=np.int64)
