"""A knowledge base's storage: the SQLite store plus the vector indexes derived from it, kept in step.

Every write goes to SQLite first (one transaction per batch), then to the vector indexes (the main one and, when the
knowledge base has one, the cross-lingual one), whose touched shards are saved on :meth:`flush`. Each index checks
itself against SQLite whenever it loads a shard and repairs any difference from the embeddings stored in SQLite, so
a crash between the two writes costs no re-embedding and leaves no stale vector searchable. kb.sqlite also records,
in each batch's transaction, that the index files are still to be saved; :meth:`finish_interrupted_writes` (run as
an ingest starts) brings the files of a writer killed before saving them in step and deletes its temporary files.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kb.core.batch import Batch, FileState
from kb.core.errors import MedkbError, SettingsMismatch
from kb.core.filters import Filters
from kb.core.lexical import match_expression
from kb.core.protocols import VectorBackend
from kb.core.types import Hit
from kb.storage.faiss_index import VECTOR_DIR, FlatShards, cross_lingual_shards
from kb.storage.store import DB_NAME, Store
from kb.storage.vector_backends import open_vector_backend

log = logging.getLogger(__name__)

#: The single-file index of schema version 1, replaced by shards under ``vectors/``.
_LEGACY_INDEX = "vectors.faiss"


class Storage:
    """Documents, chunks and vectors of one knowledge base directory.

    ``cross_lingual`` names the multilingual encoder configured for the cross-lingual index, as (name, dimension);
    :attr:`cross_lingual` is that index (flat shards over ``chunk_xvectors``), or None when no encoder is configured
    and the knowledge base holds no cross-lingual vectors. Vectors of one encoder are never mixed with another's:
    configuring a different one than made the stored vectors raises :class:`~kb.core.errors.SettingsMismatch`.

    :attr:`index` is the main vector index, in the backend ``vector_store`` names (`kb.storage.vector_backends`); the
    cross-lingual index is always FAISS shards in the directory.

    The stages see it through the protocols of the bottom floor: retrieval as a `kb.core.protocols.ChunkSearch`,
    ingestion as a `kb.core.protocols.IngestTarget`; :attr:`store` (`kb.storage.store.Store`) is for the floors above.
    """

    def __init__(
        self,
        directory: Path,
        dim: int,
        *,
        create: bool = False,
        index_type: str = "flat",
        ef_search: int = 128,
        cross_lingual: tuple[str, int] | None = None,
        vector_store: str = "faiss",
        dsn: str = "",
        table: str = "",
    ) -> None:
        self.directory = directory
        self.dim = dim
        self.store = Store(directory / DB_NAME, create=create)
        try:
            self.index: VectorBackend = open_vector_backend(
                vector_store,
                directory,
                dim,
                self.store.vectors,
                index_type=index_type,
                ef_search=ef_search,
                dsn=dsn,
                table=table,
            )
        except BaseException:
            self.store.close()
            raise
        legacy = directory / _LEGACY_INDEX
        if legacy.exists():
            log.info("%s: replacing the single-file vector index with shards", directory)
            legacy.unlink()
        self._chinese: tuple[tuple[int, int], np.ndarray] | None = None
        #: (encoder name, dimension) of the cross-lingual vectors, or None.
        self.cross_model: tuple[str, int] | None = None
        self.cross_lingual: FlatShards | None = None
        try:
            self.configure_cross_lingual(cross_lingual)
        except SettingsMismatch:
            self.index.close()
            self.store.close()
            raise

    def configure_cross_lingual(self, configured: tuple[str, int] | None) -> None:
        """Set up :attr:`cross_lingual` for the encoder ``configured`` (name, dimension), or for the stored vectors
        when None; records the encoder in ``kb.sqlite``. Raises SettingsMismatch if other vectors are stored."""
        if configured is not None and configured == self.cross_model and self.cross_lingual is not None:
            return
        recorded = self.store.meta.cross_lingual_model()
        has_vectors = self.store.xvectors.max_rowid() > 0
        if configured and recorded and has_vectors and recorded != configured:
            raise SettingsMismatch(
                f"{self.directory}: its cross-lingual vectors were made by {recorded[0]!r} ({recorded[1]}-d), "
                f"but cross_lingual_embedder is {configured[0]!r} ({configured[1]}-d); set it to {recorded[0]!r}, "
                "or to '' to leave the cross-lingual index as it is"
            )
        if configured and recorded != configured:
            self.store.meta.set_cross_lingual_model(*configured)
        model = configured or (recorded if has_vectors else None)
        if model != self.cross_model or self.cross_lingual is None:
            if self.cross_lingual is not None:
                self.cross_lingual.flush()
            self.cross_model = model
            self.cross_lingual = cross_lingual_shards(self.directory, model[1], self.store.xvectors) if model else None

    def replace_index(
        self, *, vector_store: str, index_type: str = "flat", ef_search: int = 128, dsn: str = "", table: str = ""
    ) -> None:
        """Close the main vector index and open (empty or stale until :meth:`rebuild_index`) the one described."""
        self.index.close()
        self.index = open_vector_backend(
            vector_store,
            self.directory,
            self.dim,
            self.store.vectors,
            index_type=index_type,
            ef_search=ef_search,
            dsn=dsn,
            table=table,
        )

    def rebuild_index(self) -> int:
        """Rebuild the vector indexes (main and cross-lingual) from the embeddings in SQLite and save them; returns
        the number of vectors in the main one."""
        pending = self.store.meta.index_pending()
        self._delete_temporary_files()
        total = self.index.rebuild()
        if self.cross_lingual is not None:
            self.cross_lingual.rebuild()
        if pending:
            self.store.meta.clear_index_pending(pending)
        return total

    def finish_interrupted_writes(self) -> list[str]:
        """Finish what a writer killed between committing to SQLite and saving the vector indexes left undone:
        bring the index files in step with SQLite, save them and delete stale temporary files. Does nothing (and
        reads no index file) unless kb.sqlite records an unsaved write or a temporary file is left; returns the
        differences repaired."""
        if not self.store.meta.index_pending() and not self._temporary_files():
            return []
        log.info("%s: finishing the vector-index write of an interrupted run", self.directory)
        return self.repair()

    def repair(self) -> list[str]:
        """Bring the vector index files in step with SQLite and save them, deleting stale temporary files; returns
        the differences repaired (:meth:`check`'s words)."""
        pending = self.store.meta.index_pending()
        self._delete_temporary_files()
        problems = self.index.repair()
        if self.cross_lingual is not None:
            problems += self.cross_lingual.repair()
        for problem in problems:
            log.warning("repaired: %s", problem)
        if pending:
            self.store.meta.clear_index_pending(pending)
        return problems

    def _temporary_files(self) -> list[Path]:
        vectors = self.directory / VECTOR_DIR
        return sorted(vectors.rglob("*.tmp")) if vectors.is_dir() else []

    def _delete_temporary_files(self) -> None:
        for tmp in self._temporary_files():
            log.info("%s: deleting the temporary file of an interrupted write", tmp)
            tmp.unlink(missing_ok=True)

    def write_batch(self, batch: Batch) -> tuple[int, int]:
        """Commit one batch; returns (chunks added, chunks removed)."""
        for new in batch.documents:
            if new.xvectors is not None:
                self._check_xvectors(new.xvectors)
        result = self.store.write_batch(batch)
        self.index.apply(result.added_ids, result.removed_ids)
        if self.cross_lingual is not None:
            self.cross_lingual.apply(result.added_xids, result.removed_ids)
        return len(result.added_ids), len(result.removed_ids)

    def add_cross_lingual(self, ids: Sequence[int], vectors: np.ndarray) -> int:
        """Store cross-lingual vectors for existing chunks that lack one (a backfill), in one transaction; returns
        how many were stored."""
        self._check_xvectors(vectors)
        stored = self.store.xvectors.add(ids, vectors)
        if self.cross_lingual is not None and stored.size:
            self.cross_lingual.apply(stored, np.zeros(0, np.int64))
        return int(stored.size)

    def _check_xvectors(self, vectors: np.ndarray) -> None:
        if self.cross_model is None:
            raise MedkbError(f"{self.directory}: cross-lingual vectors given, but no cross-lingual encoder is set")
        if len(vectors) and np.asarray(vectors).shape[-1] != self.cross_model[1]:
            raise MedkbError(
                f"cross-lingual vectors of dimension {np.asarray(vectors).shape[-1]}: expected {self.cross_model[1]} "
                f"({self.cross_model[0]})"
            )

    def flush(self) -> None:
        """Save the vector shards that changed; then kb.sqlite no longer records this writer's writes as unsaved."""
        self.index.flush()
        if self.cross_lingual is not None:
            self.cross_lingual.flush()
        if self.store.meta.index_serial:
            self.store.meta.clear_index_pending(self.store.meta.index_serial)
            self.store.meta.index_serial = 0

    def dense(self, query: np.ndarray, k: int, filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, cosine scores) from the vector index, among chunks whose documents pass ``filters``."""
        allowed = None if filters is None or filters.empty else self.store.filters.matching_ids(filters)
        return self.index.search(query, k, allowed)

    def dense_cross(
        self, query: np.ndarray, k: int, filters: Filters | None = None, *, among: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, cosine scores) from the cross-lingual index for a query embedded by the cross-lingual
        encoder (``KnowledgeBase.cross_embedder``), among chunks whose documents pass ``filters`` and, when given,
        whose row ids are in ``among``. Chunks without a cross-lingual vector (not backfilled yet) are not found;
        nothing when there is no cross-lingual index."""
        if self.cross_lingual is None or k < 1:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        allowed = None if filters is None or filters.empty else self.store.filters.matching_ids(filters)
        if among is not None:
            allowed = among if allowed is None else np.intersect1d(among, allowed)
        if allowed is not None and allowed.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))
        return self.cross_lingual.search(q, k, allowed)

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, BM25 scores) from the lexical index; nothing when the query has no searchable term."""
        expression = match_expression(query)
        if expression is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return self.store.fulltext.lexical_search(expression, k, filters)

    @property
    def has_cross_lingual(self) -> bool:
        return self.cross_lingual is not None

    def hits(
        self,
        ids: Sequence[int],
        scores: Sequence[float],
        kind: str = "dense",
        extra: Mapping[str, Mapping[int, float]] | None = None,
    ) -> list[Hit]:
        """The chunks with these row ids as evidence (`Documents.with_headed_text`): a heading-only chunk comes with
        the text it heads. ``store.documents.hits`` gives one hit per id instead."""
        documents = self.store.documents
        return documents.with_headed_text(documents.hits(ids, scores, kind, extra))

    def vectors_for(self, ids: Sequence[int], *, cross_lingual: bool = False) -> tuple[np.ndarray, np.ndarray]:
        return (self.store.xvectors if cross_lingual else self.store.vectors).vectors_for(ids)

    def chinese_chunk_ids(self) -> np.ndarray:
        """Row ids of the chunks holding Chinese text, ascending; read again only when the chunk table changed."""
        state = self.store.documents.chunk_table_state()
        if self._chinese is None or self._chinese[0] != state:
            self._chinese = (state, self.store.documents.cjk_chunk_ids())
        return self._chinese[1]

    # -- what ingestion reads (`kb.core.protocols.IngestTarget`) -------------------------------------------------

    def has_document(self, doc_id: str) -> bool:
        return self.store.documents.has_document(doc_id)

    def versions_for_source(self, source: str) -> dict[str, int | None]:
        return self.store.documents.versions_for_source(source)

    def document_ids_for_origin(self, origin: str) -> list[str]:
        return self.store.documents.document_ids_for_origin(origin)

    def origins(self) -> list[str]:
        return self.store.files.origins()

    def file_state(self, path: str) -> FileState | None:
        return self.store.files.file_state(path)

    def touch_file(self, state: FileState) -> None:
        self.store.files.touch_file(state)

    def missing_cross_lingual(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        return self.store.xvectors.missing(after, limit)

    def purge_deleted_text(self) -> None:
        self.store.fulltext.purge_deleted_text()

    def search(self, query: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        ids, scores = self.dense(query, k, filters)
        return self.store.documents.hits(ids.tolist(), scores.tolist())

    def check(self) -> list[str]:
        """Differences between SQLite and the vector and lexical indexes, and SQLite's own problems (empty when
        consistent)."""
        problems = self.store.integrity_problems() + self.index.check()
        return problems + (self.cross_lingual.check() if self.cross_lingual is not None else [])

    def close(self) -> None:
        self.flush()
        self.index.close()
        self.store.close()
