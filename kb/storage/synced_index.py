"""The common part of vector backends kept outside the knowledge base's own files (Chroma, PostgreSQL + pgvector).

Such a backend holds (chunk row id, vector) pairs and nothing else: documents, chunk text, metadata and the lexical
index stay in ``kb.sqlite``, which filters resolve against. :class:`SyncedIndex` keeps the backend in step with
SQLite, as the FAISS shards do: after each committed batch it indexes the added rows (vectors read from SQLite) and
drops the removed ones, and on first use it compares (count, sum of ids) with SQLite and repairs any difference, so a
crash between the two writes costs no re-embedding and leaves no stale vector searchable. A subclass implements
five primitives: upsert, delete, list ids, checksum, clear; and exact or approximate search.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from kb.storage.sqlite.vector_tables import VectorTable

log = logging.getLogger(__name__)

#: Rows read from SQLite and written to the backend at a time.
BATCH = 2048

_EMPTY = (np.zeros(0, np.int64), np.zeros(0, np.float32))


class SyncedIndex(ABC):
    """A vector backend (see `kb.core.protocols.VectorBackend`) kept in step with the stored vectors ``vectors``."""

    name = "synced"

    def __init__(self, vectors: VectorTable, dim: int) -> None:
        self.vectors = vectors
        self.dim = dim
        self._synced = False

    # -- what a backend implements -----------------------------------------------------------------------------

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the vectors live, for messages (a directory, a table)."""

    @abstractmethod
    def _upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store these vectors under these ids, replacing any stored under the same ids."""

    @abstractmethod
    def _delete(self, ids: np.ndarray) -> None:
        """Drop the vectors with these ids (ids not held are ignored)."""

    @abstractmethod
    def _ids(self) -> np.ndarray:
        """Every id held."""

    @abstractmethod
    def _checksum(self) -> tuple[int, int]:
        """(count, sum of ids) of what is held."""

    @abstractmethod
    def _clear(self) -> None:
        """Drop every vector."""

    @abstractmethod
    def _search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, inner products) for a 1-d float32 query; ``allowed`` (non-empty) restricts the ids."""

    # -- the protocol ----------------------------------------------------------------------------------------------

    def sync(self) -> tuple[int, int]:
        """Bring the backend in step with SQLite: (vectors added, vectors removed)."""
        have = self._ids()
        want = self.vectors.rowids()
        extra = np.setdiff1d(have, want)
        missing = np.setdiff1d(want, have)
        if extra.size:
            self._delete(extra)
        self._add_from_store(missing)
        if extra.size or missing.size:
            log.warning(
                "%s: %s index was out of step with kb.sqlite; added %d vectors, removed %d",
                self.location,
                self.name,
                missing.size,
                extra.size,
            )
        return int(missing.size), int(extra.size)

    def _ensure_synced(self) -> None:
        if not self._synced:
            self._synced = True
            if self._checksum() != self.vectors.range_checksum():
                self.sync()

    def _add_from_store(self, ids: np.ndarray) -> None:
        for start in range(0, ids.size, BATCH):
            found, vectors = self.vectors.vectors_for(ids[start : start + BATCH].tolist())
            if found.size:
                self._upsert(found, np.ascontiguousarray(vectors, dtype=np.float32))

    def apply(self, added: np.ndarray, removed: np.ndarray) -> None:
        self._ensure_synced()
        if removed.size:
            self._delete(np.asarray(removed, dtype=np.int64))
        self._add_from_store(np.asarray(added, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if k < 1 or (allowed is not None and allowed.size == 0):
            return _EMPTY
        self._ensure_synced()
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(-1))
        return self._search(q, k, allowed)

    def ntotal(self) -> int:
        self._ensure_synced()
        return self._checksum()[0]

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        self._clear()
        total = 0
        for ids, vectors in self.vectors.iter_vectors(batch=BATCH):
            self._upsert(ids, np.ascontiguousarray(vectors, dtype=np.float32))
            total += int(ids.size)
            if progress:
                progress(total)
        self._synced = True
        return total

    def check(self) -> list[str]:
        have, want = self._checksum(), self.vectors.range_checksum()
        if have == want:
            return []
        return [
            f"{self.name} index ({self.location}) holds {have[0]} vectors (id sum {have[1]}), kb.sqlite has "
            f"{want[0]} chunks (id sum {want[1]})"
        ]

    def repair(self) -> list[str]:
        problems = self.check()
        if problems:
            self.sync()
        self._synced = True
        return problems

    def status(self) -> dict[str, int | str]:
        return {"vector_store": self.name, "vector_location": self.location}

    def hnsw_lag(self) -> float | None:
        return None  # the backend maintains its own graph as vectors arrive

    def flush(self) -> None:
        """Nothing to do: every write reached the backend when it was made."""
        return None

    def close(self) -> None:
        """Nothing held open by default."""
        return None


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (ids, scores), best first; ties keep their order."""
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order]
