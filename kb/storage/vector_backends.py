"""The vector backends by name (``Settings.vector_store``), opened for one knowledge base directory."""

from __future__ import annotations

from pathlib import Path

from kb.core.errors import MedkbError
from kb.core.protocols import VectorBackend
from kb.core.settings import VECTOR_STORES
from kb.storage.chroma_index import ChromaIndex
from kb.storage.faiss_index import VectorIndex
from kb.storage.pgvector_index import PgvectorIndex
from kb.storage.sqlite.vector_tables import VectorTable


def open_vector_backend(
    name: str,
    directory: Path,
    dim: int,
    vectors: VectorTable,
    *,
    index_type: str = "flat",
    ef_search: int = 128,
    dsn: str = "",
    table: str = "",
) -> VectorBackend:
    """The backend ``name`` over the stored vectors ``vectors``. ``index_type`` and ``ef_search`` shape the FAISS index;
    ``dsn`` and ``table`` locate the pgvector one (an embedded server in ``directory`` when ``dsn`` is empty)."""
    if name == "faiss":
        return VectorIndex(directory, dim, vectors, kind=index_type, ef_search=ef_search)
    if name == "chroma":
        return ChromaIndex(directory, dim, vectors)
    if name == "pgvector":
        if not table:
            raise MedkbError(f"{directory}: the pgvector store needs a table name (settings.pg_table)")
        return PgvectorIndex(directory, dim, vectors, dsn=dsn, table=table)
    raise MedkbError(f"vector store {name!r}: expected one of {', '.join(VECTOR_STORES)}")
