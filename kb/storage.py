"""A knowledge base's storage: the SQLite store plus the FAISS index derived from it, kept in step.

Every write goes to SQLite first (one transaction per batch), then to the in-memory FAISS index, which is saved
on :meth:`flush`. On open, an index that does not match SQLite (a crash between the two, a deleted file) is rebuilt
from the embeddings stored in SQLite, so the two never disagree for long and nothing is embedded twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from kb.filters import Filters
from kb.store import DB_NAME, Store
from kb.types import Chunk, Document, Hit
from kb.vectors import VectorIndex

log = logging.getLogger(__name__)


class Storage:
    """Documents, chunks and vectors of one knowledge base directory."""

    def __init__(self, directory: Path, dim: int, *, create: bool = False) -> None:
        self.directory = directory
        self.dim = dim
        self.store = Store(directory / DB_NAME, create=create)
        self.index = self._load_or_rebuild()
        self._dirty = False

    def _load_or_rebuild(self) -> VectorIndex:
        index = VectorIndex.load(self.directory, self.dim)
        if index is not None and index.id_checksum() == self.store.chunk_id_checksum():
            return index
        if index is not None or self.store.counts()["chunks"]:
            log.warning("%s: vector index does not match kb.sqlite; rebuilding it", self.directory)
        return self.rebuild_index()

    def rebuild_index(self) -> VectorIndex:
        """Rebuild the FAISS index from the embeddings in SQLite and save it."""
        index = VectorIndex(self.dim)
        for ids, vectors in self.store.iter_vectors():
            index.add(ids, vectors)
        index.save(self.directory)
        self.index = index
        return index

    def write_batch(
        self,
        documents: Sequence[tuple[Document, Sequence[Chunk], np.ndarray]],
        *,
        replaced_doc_ids: Iterable[str] = (),
        failures: Iterable[tuple[str, str]] = (),
        cleared_failures: Iterable[str] = (),
    ) -> int:
        """Commit one batch; returns the number of chunks added."""
        result = self.store.write_batch(documents, replaced_doc_ids, failures, cleared_failures)
        self.index.remove(result.removed_ids)
        self.index.add(result.added_ids, result.added_vectors)
        self._dirty = self._dirty or bool(len(result.added_ids) or len(result.removed_ids))
        return len(result.added_ids)

    def flush(self) -> None:
        """Save the vector index if it changed."""
        if self._dirty:
            self.index.save(self.directory)
            self._dirty = False

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        allowed = None if filters is None or filters.empty else self.store.matching_ids(filters)
        ids, scores = self.index.search(query, k, allowed)
        return self.store.hits(ids.tolist(), scores.tolist())

    def check(self) -> list[str]:
        """Differences between SQLite and the vector index (empty when consistent)."""
        have, want = self.index.id_checksum(), self.store.chunk_id_checksum()
        if have != want:
            return [
                f"vector index holds {have[0]} vectors (id sum {have[1]}), "
                f"kb.sqlite {want[0]} chunks (id sum {want[1]})"
            ]
        return []

    def close(self) -> None:
        self.flush()
        self.store.close()
