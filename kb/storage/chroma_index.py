"""The Chroma vector backend (``Settings.vector_store = "chroma"``): a persistent Chroma collection in the knowledge
base directory (``chroma/``), holding each chunk's vector under its row id.

medkb always passes the vectors it computed: the collection is created and opened without an embedding function,
so Chroma's default one (which downloads a model) is never used, and telemetry is off. Chroma searches an HNSW graph
over inner products; a filtered search hands Chroma the allowed ids, which it searches among, so ``k`` results come
back whenever ``k`` chunks pass. Install with ``pip install 'medkb[chroma]'``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.errors import MedkbError
from kb.storage.sqlite.vector_tables import VectorTable
from kb.storage.synced_index import SyncedIndex, top_k

log = logging.getLogger(__name__)

CHROMA_DIR = "chroma"
COLLECTION = "chunks"
#: Ids read per page when listing the collection.
_PAGE = 10000


class ChromaIndex(SyncedIndex):
    """Chunk vectors in a persistent Chroma collection under ``directory / "chroma"``."""

    name = "chroma"

    def __init__(self, directory: Path, dim: int, vectors: VectorTable) -> None:
        super().__init__(vectors, dim)
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings
        except ImportError as exc:
            raise MedkbError("the chroma vector store needs chromadb: pip install 'medkb[chroma]'") from exc
        self.path = directory / CHROMA_DIR
        self._client = chromadb.PersistentClient(
            path=str(self.path), settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        )
        self._collection = self._open_collection()
        self._max_batch = int(self._client.get_max_batch_size())

    def _open_collection(self) -> Any:
        collection = self._client.get_or_create_collection(
            COLLECTION, embedding_function=None, configuration={"hnsw": {"space": "ip"}}
        )
        if collection.configuration.get("hnsw", {}).get("space") != "ip":
            raise MedkbError(f"{self.path}: collection {COLLECTION!r} does not use inner-product space")
        return collection

    @property
    def location(self) -> str:
        return str(self.path)

    def _upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if vectors.shape[1] != self.dim:
            raise MedkbError(f"{self.path}: vectors of dimension {vectors.shape[1]}, expected {self.dim}")
        for start in range(0, ids.size, self._max_batch):
            part = slice(start, start + self._max_batch)
            self._collection.upsert(ids=[str(i) for i in ids[part].tolist()], embeddings=vectors[part])

    def _delete(self, ids: np.ndarray) -> None:
        for start in range(0, ids.size, self._max_batch):
            self._collection.delete(ids=[str(i) for i in ids[start : start + self._max_batch].tolist()])

    def _ids(self) -> np.ndarray:
        found: list[int] = []
        offset = 0
        while True:
            page = self._collection.get(include=[], limit=_PAGE, offset=offset)["ids"]
            found += [int(i) for i in page]
            if len(page) < _PAGE:
                return np.sort(np.asarray(found, dtype=np.int64))
            offset += _PAGE

    def _checksum(self) -> tuple[int, int]:
        ids = self._ids()
        return int(ids.size), int(ids.sum())

    def ntotal(self) -> int:
        self._ensure_synced()
        return int(self._collection.count())

    def status(self) -> dict[str, int | str]:
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {**super().status(), "vector_bytes": size}

    def _clear(self) -> None:
        self._client.delete_collection(COLLECTION)
        self._collection = self._open_collection()

    def _search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        count = int(self._collection.count())
        n = min(k, count if allowed is None else int(allowed.size))
        if n < 1:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        found = self._collection.query(
            query_embeddings=[query],
            n_results=n,
            ids=None if allowed is None else [str(i) for i in allowed.tolist()],
            include=["distances"],
        )
        ids = np.asarray([int(i) for i in found["ids"][0]], dtype=np.int64)
        # Chroma's inner-product "distance" is 1 - <q, v>.
        scores = 1.0 - np.asarray(found["distances"][0], dtype=np.float32)
        return top_k(ids, scores, k)
