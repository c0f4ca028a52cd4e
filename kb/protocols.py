"""Extension points shared by the stages. Each has one job; built-ins are registered by name in their stage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from kb.drugs import DrugLabel


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
    """The knowledge base's drug labels, for the safety checks (`kb.store.Store` is one)."""

    def drug_names(self) -> set[str]:
        """Every lower-case name that finds a drug label."""
        ...

    def drug_labels_for(self, names: Iterable[str]) -> list[DrugLabel]:
        """The labels found by any of ``names``."""
        ...
