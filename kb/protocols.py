"""Extension points shared by the stages. Each has one job; built-ins are registered by name in their stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


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
