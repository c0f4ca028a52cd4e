"""LangChain views of a knowledge base, at the edge: a retriever, a vector store and an embeddings wrapper.

medkb's own data model stays the source of truth; these classes translate it. Each hit becomes a LangChain
``Document`` whose ``page_content`` is the chunk text and whose metadata is medkb's provenance (chunk and document
ids, title, source, section, character span, identifiers, scores, rank), so a chain built on them can still cite
the exact words. LangChain types stay in this module, which sits above the facade (it takes a `KnowledgeBase`);
importing it without langchain-core raises :class:`LangChainNotInstalled` naming the ``langchain`` extra.

Example::

    from kb.langchain_adapters import MedkbRetriever, MedkbVectorStore

    retriever = MedkbRetriever(kb=kb, k=4, filters={"source": "pubmed"})
    for doc in retriever.invoke("Does metformin cause lactic acidosis?"):
        print(doc.metadata["title"], doc.metadata["start"], doc.metadata["end"])
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kb.core.errors import MedkbError
from kb.core.filters import Filters
from kb.core.protocols import Embedder
from kb.core.settings import Settings
from kb.core.types import Document, Hit, content_hash
from kb.knowledge_base import FilterSpec, KnowledgeBase

#: The extra that installs what this module needs.
EXTRA = "langchain"


class LangChainNotInstalled(MedkbError, ImportError):
    """langchain-core is missing; the message names the extra to install. An ImportError too, so that code probing
    for optional packages catches it."""


try:
    import langchain_core  # noqa: F401  (first, so that a missing package is reported here by its name)
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document as LCDocument
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.vectorstores import VectorStore
    from pydantic import ConfigDict
except ImportError as exc:
    raise LangChainNotInstalled(
        f"the LangChain adapters need langchain-core ({exc}); install it with: pip install 'medkb[{EXTRA}]'"
    ) from exc

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "lexical"]

#: Prefix of the ``source`` given to texts added through :meth:`MedkbVectorStore.add_texts`.
TEXT_SOURCE_PREFIX = "langchain:"


def hit_to_document(hit: Hit) -> LCDocument:
    """A LangChain document for ``hit``: its chunk text, and medkb's provenance as JSON-serialisable metadata.

    The keys follow ``Hit.to_dict`` (``chunk_id``, ``doc_id``, ``title``, ``source``, ``section``, ``start``,
    ``end``, ``page``, ``pmid``, ``doi``, ``pmcid``, ``url``, ``published``, ``score``, ``rank``), plus ``scores``
    (per retriever: ``dense`` cosine, ``lexical`` BM25, ...) and ``document_metadata`` (everything the document
    was stored with; kept apart because its keys, ``source`` among them, may clash with the provenance keys).
    """
    metadata = {key: value for key, value in hit.to_dict().items() if key != "text"}
    metadata["score"] = float(hit.score)  # unrounded
    metadata["scores"] = {name: float(value) for name, value in hit.scores.items()}
    # Read back from SQLite's JSON column, so already JSON-serialisable; copied so callers cannot edit the hit.
    metadata["document_metadata"] = dict(hit.metadata)
    return LCDocument(page_content=hit.text, metadata=metadata, id=hit.chunk_id)


class MedkbRetriever(BaseRetriever):
    """A LangChain retriever over ``KnowledgeBase.search``: ``k`` hits (default ``settings.top_k``) among the
    documents passing ``filters``, by ``mode`` (default ``settings.retrieval``), as provenance-carrying documents.

    Example::

        retriever = MedkbRetriever(kb=kb, k=4, mode="hybrid")
        docs = retriever.invoke("first-line treatment of hypertension")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: KnowledgeBase
    k: int | None = None
    filters: Mapping[str, Any] | None = None
    mode: Mode | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        k = self.k if self.k is not None else self.kb.settings.top_k
        hits = self.kb.search(query, k, self.filters, mode=self.mode)
        return [hit_to_document(hit) for hit in hits]


class MedkbEmbeddings(Embeddings):
    """A LangChain ``Embeddings`` around a medkb embedder (documents and queries are encoded apart, as the
    embedder does). Its vectors are the ones the knowledge base stores and searches with."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return np.asarray(self.embedder.embed_documents(list(texts)), dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        return np.asarray(self.embedder.embed_query(text), dtype=np.float32).tolist()


class MedkbVectorStore(VectorStore):
    """A LangChain ``VectorStore`` view of a knowledge base: searches go through ``KnowledgeBase.search`` (``mode``,
    default ``settings.retrieval``), additions through ``KnowledgeBase.ingest``.

    ``filter`` arguments are medkb filters (``{"source": ..., "published_from": "2019", "journal": ...}``). Scores
    are medkb's: a cosine for ``dense``, BM25 for ``lexical``, the fused score for ``hybrid`` (which only orders;
    each document's ``metadata["scores"]`` has the ``dense`` cosine). Ids are medkb document ids.

    Example::

        store = MedkbVectorStore(kb)
        store.add_texts(["Metformin is contraindicated below eGFR 30."], [{"title": "Metformin"}])
        for doc, score in store.similarity_search_with_score("metformin kidney", k=3):
            print(score, doc.metadata["title"])
    """

    def __init__(self, kb: KnowledgeBase, *, mode: Mode | None = None) -> None:
        self.kb = kb
        self.mode = mode

    @property
    def embeddings(self) -> MedkbEmbeddings:
        """The knowledge base's embedder, as LangChain ``Embeddings``."""
        return MedkbEmbeddings(self.kb.embedder)

    # -- search --------------------------------------------------------------------------------------------------

    def similarity_search(self, query: str, k: int = 4, filter: FilterSpec = None, **kwargs: Any) -> list[LCDocument]:
        """The ``k`` chunks that best answer ``query`` among documents passing ``filter``."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: FilterSpec = None, **kwargs: Any
    ) -> list[tuple[LCDocument, float]]:
        """As :meth:`similarity_search`, each with medkb's score (higher is better). ``mode`` may be given here to
        override the store's."""
        mode = kwargs.pop("mode", self.mode)
        _reject_unknown(kwargs)
        hits = self.kb.search(query, k, filter, mode=mode)
        return [(hit_to_document(hit), float(hit.score)) for hit in hits]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: FilterSpec = None, **kwargs: Any
    ) -> list[LCDocument]:
        """The ``k`` chunks nearest ``embedding`` (made by :attr:`embeddings`) in the main vector index, among
        documents passing ``filter``; each document's ``metadata["score"]`` is the cosine."""
        _reject_unknown(kwargs)
        vector = np.asarray(embedding, dtype=np.float32)
        dim = self.kb.storage.dim
        if vector.ndim != 1 or vector.shape[0] != dim:
            raise MedkbError(f"embedding of shape {vector.shape}: expected {dim} numbers ({self.kb.embedder.name})")
        if k < 1:
            raise MedkbError(f"k={k}: expected a positive integer")
        hits = self.kb.storage.search(vector, k, Filters.from_mapping(filter))
        return [hit_to_document(hit) for hit in hits]

    def get_by_ids(self, ids: Sequence[str], /) -> list[LCDocument]:
        """The stored documents (whole text, ``doc_id``, ``title``, ``source``, ``document_metadata``) with these
        medkb document ids; unknown ids are left out."""
        found = []
        for doc_id in ids:
            doc = self.kb.storage.store.documents.get_document(doc_id)
            if doc is not None:
                metadata = {"doc_id": doc.id, "title": doc.title, "source": doc.source}
                found.append(
                    LCDocument(
                        page_content=doc.text, metadata=metadata | {"document_metadata": doc.metadata}, id=doc.id
                    )
                )
        return found

    # -- writes --------------------------------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Ingest each text as one medkb document (chunked and embedded like any other); returns their medkb
        document ids, in order.

        Each document's metadata is its ``metadatas`` entry (its ``title`` key, when a string, becomes the title).
        Its ``source`` is its entry in ``ids`` when given, else ``"langchain:"`` and the text's hash; adding another
        text under the same id later replaces it, as a changed file's record would.
        """
        _reject_unknown(kwargs)
        documents = _documents(list(texts), metadatas, ids)
        report = self.kb.ingest(documents)
        if report.failures:
            reasons = "; ".join(reason for _, reason in report.failures)
            raise MedkbError(f"{report.failed} of {len(documents)} texts could not be added: {reasons}")
        return [doc.id for doc in documents]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete the documents with these medkb document ids (what :meth:`add_texts` returns, and
        ``metadata["doc_id"]`` of a result) through :meth:`kb.KnowledgeBase.delete`; ids not stored are ignored."""
        if kwargs:
            raise TypeError(f"MedkbVectorStore.delete: unexpected arguments {sorted(kwargs)}")
        if ids is None:
            raise ValueError("MedkbVectorStore.delete: give the document ids to delete (medkb never deletes all)")
        self.kb.delete(ids)
        return True

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> MedkbVectorStore:
        """A new knowledge base in ``path`` (keyword, required) holding ``texts``, as a vector store.

        medkb embeds with its own embedders, so ``embedding`` must be None (``settings.embedder`` is used) or a
        :class:`MedkbEmbeddings`. Other keywords: ``settings``, ``mode``, and ``KnowledgeBase.create``'s
        ``generator`` and ``cross_embedder``. Close it with ``store.kb.close()``.

        Example::

            store = MedkbVectorStore.from_texts(texts, None, path="notes-kb", settings=Settings(embedder="hashing"))
        """
        path = kwargs.pop("path", None)
        if path is None:
            raise MedkbError("from_texts needs path=...: the directory to create the knowledge base in")
        settings: Settings | None = kwargs.pop("settings", None)
        mode: Mode | None = kwargs.pop("mode", None)
        if embedding is not None and not isinstance(embedding, MedkbEmbeddings):
            raise MedkbError(
                f"embedding {type(embedding).__name__}: medkb embeds with its own embedders; pass None and name one "
                "in settings=Settings(embedder=...), or pass MedkbEmbeddings(embedder)"
            )
        embedder = embedding.embedder if isinstance(embedding, MedkbEmbeddings) else None
        kb = KnowledgeBase.create(Path(path), settings, embedder=embedder, **kwargs)
        store = cls(kb, mode=mode)
        try:
            store.add_texts(texts, metadatas, ids=ids)
        except Exception:
            kb.close()
            raise
        return store


def _documents(texts: list[str], metadatas: list[dict[str, Any]] | None, ids: list[str] | None) -> list[Document]:
    """medkb documents for ``add_texts``; raises for mismatched lengths or empty texts before anything is stored."""
    for name, values in (("metadatas", metadatas), ("ids", ids)):
        if values is not None and len(values) != len(texts):
            raise MedkbError(f"{len(values)} {name} for {len(texts)} texts: expected one per text")
    documents = []
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise MedkbError(f"text {i} is {text!r}: expected some text to add")
        metadata = dict(metadatas[i]) if metadatas is not None else {}
        title = metadata.get("title")
        source = str(ids[i]) if ids is not None else TEXT_SOURCE_PREFIX + content_hash(text)
        documents.append(
            Document(text=text, source=source, title=title if isinstance(title, str) else "", metadata=metadata)
        )
    return documents


def _reject_unknown(kwargs: Mapping[str, Any]) -> None:
    """Raise for keyword arguments a method does not use, rather than ignore them silently."""
    if kwargs:
        raise MedkbError(f"unexpected arguments {sorted(kwargs)}: medkb's vector store takes k and filter (and mode)")
