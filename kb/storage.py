"""A knowledge base's storage: the SQLite store plus the vector index derived from it, kept in step.

Every write goes to SQLite first (one transaction per batch), then to the vector index, whose touched shards are
saved on :meth:`flush`. The index checks itself against SQLite whenever it loads a shard and repairs any difference
from the embeddings stored in SQLite, so a crash between the two writes costs no re-embedding and leaves no
stale vector searchable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from kb.filters import Filters
from kb.lexical import match_expression
from kb.store import DB_NAME, FileState, NewDocument, Store
from kb.types import Hit
from kb.vectors import VectorIndex

log = logging.getLogger(__name__)

#: The single-file index of schema version 1, replaced by shards under ``vectors/``.
_LEGACY_INDEX = "vectors.faiss"


class Storage:
    """Documents, chunks and vectors of one knowledge base directory."""

    def __init__(
        self, directory: Path, dim: int, *, create: bool = False, index_type: str = "flat", ef_search: int = 128
    ) -> None:
        self.directory = directory
        self.dim = dim
        self.store = Store(directory / DB_NAME, create=create)
        self.index = VectorIndex(directory, dim, self.store, kind=index_type, ef_search=ef_search)
        legacy = directory / _LEGACY_INDEX
        if legacy.exists():
            log.info("%s: replacing the single-file vector index with shards", directory)
            legacy.unlink()

    def rebuild_index(self) -> int:
        """Rebuild the vector index from the embeddings in SQLite and save it; returns the number of vectors."""
        return self.index.rebuild()

    def write_batch(
        self,
        documents: Sequence[NewDocument],
        *,
        deleted_doc_ids: Iterable[str] = (),
        failures: Iterable[tuple[str, str]] = (),
        cleared_failures: Iterable[str] = (),
        files_done: Iterable[FileState] = (),
        files_forgotten: Iterable[str] = (),
        claimed: Iterable[tuple[str, str]] = (),
    ) -> tuple[int, int]:
        """Commit one batch; returns (chunks added, chunks removed)."""
        result = self.store.write_batch(
            documents, deleted_doc_ids, failures, cleared_failures, files_done, files_forgotten, claimed
        )
        self.index.apply(result.added_ids, result.removed_ids)
        return len(result.added_ids), len(result.removed_ids)

    def flush(self) -> None:
        """Save the vector shards that changed."""
        self.index.flush()

    def dense(self, query: np.ndarray, k: int, filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, cosine scores) from the vector index, among chunks whose documents pass ``filters``."""
        allowed = None if filters is None or filters.empty else self.store.matching_ids(filters)
        return self.index.search(query, k, allowed)

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, BM25 scores) from the lexical index; nothing when the query has no searchable term."""
        expression = match_expression(query)
        if expression is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return self.store.lexical_search(expression, k, filters)

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        ids, scores = self.dense(query, k, filters)
        return self.store.hits(ids.tolist(), scores.tolist())

    def check(self) -> list[str]:
        """Differences between SQLite and the vector and lexical indexes, and SQLite's own problems (empty when
        consistent)."""
        return self.store.integrity_problems() + self.store.lexical_problems() + self.index.check()

    def close(self) -> None:
        self.flush()
        self.store.close()
