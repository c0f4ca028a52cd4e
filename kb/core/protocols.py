"""Extension points shared by the stages. Each has one job; built-ins are registered by name in their stage."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from kb.core.batch import Batch, FileState
    from kb.core.drugs import DrugLabel
    from kb.core.filters import Filters
    from kb.core.types import Hit


#: A chat, as generators take it: ``{"role", "content"}`` messages.
Messages = list[dict[str, str]]


@runtime_checkable
class Generator(Protocol):
    """Completes a chat: a list of ``{"role", "content"}`` messages in, the assistant's reply out."""

    name: str

    def generate(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> str: ...


@runtime_checkable
class StreamingGenerator(Generator, Protocol):
    """A generator that can also yield its reply piece by piece while writing it (for ``medkb ask``'s terminal)."""

    def stream(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]: ...


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors; queries and documents may be encoded differently."""

    name: str

    @property
    def dim(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int:
        """Length of ``text`` in the embedder's own tokens (used for chunking)."""
        ...


@runtime_checkable
class DrugTable(Protocol):
    """The knowledge base's drug labels, for the safety checks (``Store.drugs`` of `kb.storage.store` is one)."""

    def drug_names(self) -> set[str]:
        """Every lower-case name that finds a drug label."""
        ...

    def drug_labels_for(self, names: Iterable[str]) -> list[DrugLabel]:
        """The labels found by any of ``names``."""
        ...


@runtime_checkable
class VectorBackend(Protocol):
    """Where a knowledge base's chunk vectors are searched (``Settings.vector_store``): ``faiss`` (the default,
    `kb.storage.faiss_index.VectorIndex`), ``chroma`` (`kb.storage.chroma_index`) or ``pgvector``
    (`kb.storage.pgvector_index`).

    ``kb.sqlite`` stays the source of truth: vectors are keyed by chunk row id, and after each committed batch the
    backend is told which rows were added and removed and reads their vectors from SQLite. A backend that missed a
    batch (a crash between the two writes) brings itself in step on first use, so no stale vector is ever found.
    Filters are resolved by SQLite into the row ids ``allowed``; search returns ``k`` results whenever ``k`` of
    them exist. Every backend passes the conformance suite in ``tests/kb/test_vector_backends.py``.
    """

    name: str

    def apply(self, added: np.ndarray, removed: np.ndarray) -> None:
        """After a committed batch: index the rows ``added`` (vectors read from SQLite), drop the rows ``removed``."""
        ...

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (row ids, cosine scores) for one query vector; with ``allowed``, only among those ids."""
        ...

    def ntotal(self) -> int:
        """How many vectors it holds."""
        ...

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Drop everything and index every stored vector again from SQLite; returns how many."""
        ...

    def check(self) -> list[str]:
        """Differences with SQLite, without changing anything (empty when in step)."""
        ...

    def repair(self) -> list[str]:
        """Bring what is stored in step with SQLite and save it (after a writer was killed midway); returns the
        differences found, as :meth:`check` words them (empty when there were none)."""
        ...

    def status(self) -> dict[str, int | str]:
        """What it is and where (for ``medkb stats``)."""
        ...

    def hnsw_lag(self) -> float | None:
        """Share of the chunks a graph built offline does not cover yet (None when the backend has no such graph)."""
        ...

    def flush(self) -> None:
        """Save what is held in memory."""
        ...

    def close(self) -> None:
        """Flush and release connections."""
        ...


@runtime_checkable
class QuestionTranslator(Protocol):
    """Puts a question into English, so that a Chinese question is searched as an English one over English
    evidence (``Settings.translate_model``; `generation.translate.GeneratorTranslator` is the built-in one)."""

    def translate(self, question: str) -> str:
        """``question`` in English, or ``""`` when no translation came out."""
        ...


#: (ids, scores) of a ranking: chunk row ids (the ids every index shares) and their scores, best first.
Ranking = tuple[np.ndarray, np.ndarray]


@runtime_checkable
class ChunkSearch(Protocol):
    """What retrieval reads from a knowledge base (`kb.storage.Storage` is one): rankings of chunk row ids from the
    dense, cross-lingual and lexical indexes, and the chunks and vectors behind those ids."""

    @property
    def has_cross_lingual(self) -> bool:
        """Whether the knowledge base has a cross-lingual index."""
        ...

    def dense(self, query: np.ndarray, k: int, filters: Filters | None = None) -> Ranking:
        """Top-``k`` by cosine in the main vector index, among chunks whose documents pass ``filters``."""
        ...

    def dense_cross(
        self, query: np.ndarray, k: int, filters: Filters | None = None, *, among: np.ndarray | None = None
    ) -> Ranking:
        """Top-``k`` by cosine in the cross-lingual index (nothing without one), among chunks that pass ``filters``
        and, when given, whose row ids are in ``among``."""
        ...

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> Ranking:
        """Top-``k`` by BM25 for the words of ``query``."""
        ...

    def hits(
        self,
        ids: Sequence[int],
        scores: Sequence[float],
        kind: str = "dense",
        extra: Mapping[str, Mapping[int, float]] | None = None,
    ) -> list[Hit]:
        """The chunks with these row ids as hits, in the order given, scored ``kind`` (plus ``extra`` scores)."""
        ...

    def vectors_for(self, ids: Sequence[int], *, cross_lingual: bool = False) -> Ranking:
        """(ids found, their stored vectors), main or cross-lingual."""
        ...

    def chinese_chunk_ids(self) -> np.ndarray:
        """Row ids of the chunks holding Chinese text, ascending."""
        ...


@runtime_checkable
class IngestTarget(Protocol):
    """Where ingestion writes (`kb.storage.Storage` is one), and what it reads to skip what is already stored."""

    def has_document(self, doc_id: str) -> bool: ...

    def versions_for_source(self, source: str) -> dict[str, int | None]:
        """{document id: version} of the stored documents with this source."""
        ...

    def document_ids_for_origin(self, origin: str) -> list[str]:
        """The stored documents read from the file ``origin``."""
        ...

    def origins(self) -> list[str]:
        """Every file some stored document or completed-file record came from."""
        ...

    def file_state(self, path: str) -> FileState | None:
        """What was recorded when the file ``path`` was last read completely; None if never."""
        ...

    def touch_file(self, state: FileState) -> None:
        """Record a new mtime for a file whose content is unchanged."""
        ...

    def write_batch(self, batch: Batch) -> tuple[int, int]:
        """Commit one batch; returns (chunks added, chunks removed)."""
        ...

    def missing_cross_lingual(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        """Up to ``limit`` chunks above row id ``after`` without a cross-lingual vector, as (row id, title,
        section, text)."""
        ...

    def add_cross_lingual(self, ids: Sequence[int], vectors: np.ndarray) -> int:
        """Store cross-lingual vectors for stored chunks that lack one; returns how many were stored."""
        ...

    def finish_interrupted_writes(self) -> list[str]:
        """Finish the index writes a killed writer left undone; returns the differences repaired."""
        ...

    def purge_deleted_text(self) -> None:
        """Make the text of deleted chunks leave the files too."""
        ...

    def flush(self) -> None:
        """Save what is held in memory."""
        ...
