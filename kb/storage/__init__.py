"""The storage floor: ``kb.sqlite`` (`store`), the vector indexes derived from it (FAISS shards, Chroma, pgvector)
and `Storage`, the facade that keeps them in step. It imports only `kb.core`; the stages build on it."""

from __future__ import annotations

from kb.storage.facade import Storage

__all__ = ["Storage"]
