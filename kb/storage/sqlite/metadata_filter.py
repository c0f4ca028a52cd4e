"""Which chunks pass a metadata filter: resolved per document through the indexes `Filters.to_sql` uses."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

from kb.core.filters import Filters

#: Filters whose matching chunk ids `ChunkFilter.matching_ids` keeps (least recently used first out).
_FILTER_CACHE_SIZE = 8


class ChunkFilter:
    """Chunk row ids by filter, with the last few answers kept until the knowledge base changes."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._cache: dict[tuple[str, tuple[Any, ...]], np.ndarray] = {}
        self._state: tuple[int, int] | None = None
        self._chunk_documents: tuple[np.ndarray, np.ndarray] | None = None

    def matching_ids(self, filters: Filters) -> np.ndarray:
        """Row ids of the chunks whose documents pass ``filters`` (read-only; ascending).

        The filter is evaluated once per document, through the indexes `Filters.to_sql` uses; the passing
        documents' chunks come from a map of every chunk to its document, read once per state of the knowledge base.
        At 111,000 chunks a filter seen for the first time resolves in 0.1-7 ms (`benchmarks/search.py`,
        ``filter_ids_anatomy``). The last few answers are kept until the knowledge base changes (a write on this
        connection, or a commit by another: ``PRAGMA data_version``), since a session usually repeats its filters.
        """
        where, params = filters.to_sql()
        key = (where, tuple(params))
        state = (self._db.total_changes, self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._state != state:
            self._cache.clear()
            self._chunk_documents = None
            self._state = state
        cached = self._cache.pop(key, None)
        if cached is None:
            chunk_ids, chunk_docs = self._chunk_document_map()
            sql = f"SELECT d.rowid FROM documents d WHERE {where}"
            passing = np.fromiter((r[0] for r in self._db.execute(sql, params)), dtype=np.int64)
            mask = np.zeros(int(chunk_docs.max(initial=0)) + 1, dtype=bool)
            mask[passing[passing < mask.size]] = True
            cached = chunk_ids[mask[chunk_docs]]
            cached.setflags(write=False)
        self._cache[key] = cached
        while len(self._cache) > _FILTER_CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        return cached

    def _chunk_document_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk row ids ascending, the row id of each one's document), cached with the filters."""
        if self._chunk_documents is None:
            rows = self._db.execute(
                "SELECT c.rowid, d.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.rowid"
            ).fetchall()
            chunk_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            chunk_docs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            self._chunk_documents = (chunk_ids, chunk_docs)
        return self._chunk_documents

    def clear_cache(self) -> None:
        """Forget the chunk ids of recent filters (`matching_ids` then reads them again). The chunk -> document
        map stays: it depends on the knowledge base's state only, and is read again whenever that changes."""
        self._cache.clear()
