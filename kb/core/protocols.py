"""Extension points shared by the stages. Each has one job; built-ins are registered by name in their stage."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from kb.core.drugs import DrugLabel


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
    """The knowledge base's drug labels, for the safety checks (`kb.storage.store.Store` is one)."""

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
