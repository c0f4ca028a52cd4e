"""The FAISS vector index: exact inner-product search over normalised embeddings, keyed by chunk row id.

It is derived from ``kb.sqlite`` and can always be rebuilt from it (``medkb reindex``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import faiss
import numpy as np

log = logging.getLogger(__name__)

INDEX_NAME = "vectors.faiss"


class VectorIndex:
    """A flat inner-product FAISS index with explicit int64 ids (the chunks' SQLite row ids)."""

    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def id_checksum(self) -> tuple[int, int]:
        """(count, sum of ids), comparable with :meth:`kb.store.Store.chunk_id_checksum`."""
        ids = faiss.vector_to_array(self._index.id_map) if self.ntotal else np.zeros(0, np.int64)
        return int(ids.size), int(ids.sum())

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self._index.remove_ids(ids.astype(np.int64))

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, scores) for one query vector; with ``allowed``, only among those ids (exact, so ``k``
        results come back whenever ``k`` allowed vectors exist)."""
        if self.ntotal == 0 or k < 1 or (allowed is not None and allowed.size == 0):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            k = min(k, int(allowed.size))
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed.astype(np.int64)))
        scores, ids = self._index.search(q, min(k, self.ntotal), params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def save(self, directory: Path) -> None:
        """Write atomically, so a crash leaves the previous file intact."""
        tmp = directory / (INDEX_NAME + ".tmp")
        faiss.write_index(self._index, str(tmp))
        os.replace(tmp, directory / INDEX_NAME)

    @classmethod
    def load(cls, directory: Path, dim: int) -> VectorIndex | None:
        """The saved index, or None if there is none or it cannot be read or has another dimension."""
        path = directory / INDEX_NAME
        if not path.is_file():
            return None
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            log.warning("%s: unreadable vector index (%s); it will be rebuilt", path, exc)
            return None
        if index.d != dim:
            log.warning("%s: dimension %d, expected %d; it will be rebuilt", path, index.d, dim)
            return None
        return cls(dim, index)
