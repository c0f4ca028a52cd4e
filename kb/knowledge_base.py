"""The KnowledgeBase facade: one directory, composed from the ingest, retrieval and generation stages.

Example::

    from kb import KnowledgeBase
    with KnowledgeBase.create("demo-kb") as kb:
        kb.ingest(["corpora/sample"])
        answer = kb.ask("What are the contraindications of metformin?")
        print(answer.text, [c.title for c in answer.citations])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from generation.base import Generator, make_generator
from generation.compose import compose_answer
from ingest.chunking import Chunker
from ingest.pipeline import Ingestor, IngestReport, Item
from ingest.readers import Reader, reader_named
from kb.errors import KnowledgeBaseExists, KnowledgeBaseNotFound, MedkbError, SettingsMismatch
from kb.filters import Filters
from kb.manifest import MANIFEST, Manifest
from kb.protocols import Embedder
from kb.settings import RETRIEVAL_MODES, Settings
from kb.storage import Storage
from kb.types import Answer, Hit
from retrieval.embedders import make_embedder
from retrieval.fusion import reciprocal_rank_fusion

log = logging.getLogger(__name__)

FilterSpec = Mapping[str, Any] | Filters | None


class KnowledgeBase:
    """A medkb knowledge base directory: ``manifest.json``, ``kb.sqlite`` and the vector index in ``vectors/``."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        storage: Storage,
        embedder: Embedder,
        generator: Generator | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.settings = settings or manifest.settings
        self.storage = storage
        self.embedder = embedder
        self._generator = generator

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> KnowledgeBase:
        """Create an empty knowledge base in ``path`` (made if missing; must not hold one already)."""
        directory = Path(path)
        if (directory / MANIFEST).exists():
            raise KnowledgeBaseExists(f"{directory}: already a medkb knowledge base; use KnowledgeBase.open")
        if directory.exists() and not directory.is_dir():
            raise KnowledgeBaseNotFound(f"{directory}: exists and is not a directory")
        settings = settings or Settings()
        if embedder is not None and embedder.name != settings.embedder:
            settings = replace(settings, embedder=embedder.name)
        embedder = embedder or make_embedder(
            settings.embedder, batch_size=settings.batch_size, backend=settings.embedder_backend
        )
        directory.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(settings=settings, embedder_dim=embedder.dim)
        storage = Storage(
            directory,
            manifest.embedder_dim,
            create=True,
            index_type=settings.index_type,
            ef_search=settings.hnsw_ef_search,
        )
        manifest.save(directory)
        log.info("created knowledge base %s (embedder %s, %d-d)", directory, settings.embedder, embedder.dim)
        return cls(directory, manifest, storage, embedder, generator)

    @classmethod
    def open(
        cls,
        path: str | Path,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> KnowledgeBase:
        """Open an existing knowledge base. ``settings``, if given, must agree with the index-shaping settings
        it was built with (else :class:`~kb.errors.SettingsMismatch`); its other values apply to this session."""
        directory = Path(path)
        if not directory.is_dir():
            raise KnowledgeBaseNotFound(f"{directory}: no such knowledge base directory")
        manifest = Manifest.load(directory)
        if settings is not None:
            manifest.check_compatible(settings)
        if embedder is not None and embedder.name != manifest.settings.embedder:
            raise SettingsMismatch(
                f"embedder {embedder.name!r} given, but {directory} was built with {manifest.settings.embedder!r}"
            )
        chosen = settings or manifest.settings
        embedder = embedder or make_embedder(
            manifest.settings.embedder, batch_size=chosen.batch_size, backend=chosen.embedder_backend
        )
        storage = Storage(
            directory,
            manifest.embedder_dim,
            index_type=manifest.settings.index_type,
            ef_search=chosen.hnsw_ef_search,
        )
        return cls(directory, manifest, storage, embedder, generator, settings)

    @classmethod
    def open_or_create(cls, path: str | Path, settings: Settings | None = None, **kwargs: Any) -> KnowledgeBase:
        """Open ``path`` if it is a knowledge base, else create one there."""
        if (Path(path) / MANIFEST).exists():
            return cls.open(path, settings, **kwargs)
        return cls.create(path, settings, **kwargs)

    def close(self) -> None:
        self.storage.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the three stages ----------------------------------------------------------------------------------------

    def ingest(
        self,
        items: Iterable[Item] | Item,
        on_item: Callable[[], None] | None = None,
        *,
        sync: bool = False,
        deidentify: bool = False,
        reader: str | Reader | None = None,
    ) -> IngestReport:
        """Ingest files, directories (walked) or :class:`~kb.types.Document` objects; returns what happened.

        Unchanged files are skipped unread; unreadable files are recorded (see ``report.failures`` and
        :meth:`failures`) and skipped. ``sync`` deletes the documents of files gone from a given directory.
        ``deidentify`` replaces patient identifiers (HIPAA Safe Harbor) with typed placeholders before anything is
        stored. ``reader`` (a name from ``ingest.readers.reader_names()`` or a reader object) reads every file.
        """
        if isinstance(items, (str, Path)) or not isinstance(items, Iterable):
            items = [items]
        s = self.manifest.settings
        chunker = Chunker(self.embedder.count_tokens, s.chunk_tokens, s.chunk_overlap)
        transform = None
        if deidentify:
            from ingest.deid import Deidentifier, deidentify_document

            deidentifier = Deidentifier()
            transform = partial(deidentify_document, deidentifier=deidentifier)
        ingestor = Ingestor(
            self.storage,
            self.embedder,
            chunker,
            batch_size=self.settings.batch_size,
            reader=reader_named(reader) if isinstance(reader, str) else reader,
            transform=transform,
        )
        return ingestor.run(items, on_item=on_item, sync=sync)

    def ingest_corpus(
        self, name: str, *, dest: Path | None = None, deidentify: bool = False, sync: bool = True
    ) -> IngestReport:
        """Ingest a named corpus from ``corpora/registry.toml`` (fetched already, or a local path) with its reader.

        Example::

            kb.ingest_corpus("pubmedqa")
        """
        from corpora.registry import get_corpus

        entry = get_corpus(name)
        return self.ingest(entry.local_files(dest), reader=entry.reader, deidentify=deidentify, sync=sync)

    def search(self, query: str, k: int = 10, filters: FilterSpec = None, *, mode: str | None = None) -> list[Hit]:
        """The ``k`` chunks closest to ``query`` among those whose documents pass ``filters``
        (e.g. ``{"source": "...", "published_from": "2019", "language": "en"}``).

        ``mode`` (default ``settings.retrieval``): ``dense`` (vector index), ``lexical`` (BM25) or ``hybrid`` (both,
        fused by reciprocal rank). Hybrid hits carry every score in ``hit.scores`` (``dense`` cosine, ``lexical``
        BM25 where the chunk matched, ``hybrid``); ``hit.score`` is the fused one.
        """
        if not query.strip():
            raise MedkbError("query is empty: expected some text to search for")
        if k < 1:
            raise MedkbError(f"k={k}: expected a positive integer")
        mode = mode or self.settings.retrieval
        if mode not in RETRIEVAL_MODES:
            raise MedkbError(f"mode={mode!r}: expected one of {', '.join(RETRIEVAL_MODES)}")
        spec = Filters.from_mapping(filters)
        if mode == "lexical":
            ids, scores = self.storage.lexical(query, k, spec)
            return self.storage.store.hits(ids.tolist(), scores.tolist(), "lexical")
        vector = self.embedder.embed_query(query)
        if mode == "dense":
            return self.storage.search(vector, k, spec)
        return self._hybrid(query, vector, k, spec)

    def _hybrid(self, query: str, vector: Any, k: int, spec: Filters) -> list[Hit]:
        s = self.settings
        depth = max(k, s.candidates)
        dense_ids, _ = self.storage.dense(vector, depth, spec)
        lexical_ids, lexical_scores = self.storage.lexical(query, depth, spec)
        fused = reciprocal_rank_fusion(
            [dense_ids.tolist(), lexical_ids.tolist()], k=s.rrf_k, weights=(s.weight_dense, s.weight_lexical)
        )[:k]
        rowids = [i for i, _ in fused]
        found, vectors = self.storage.store.vectors_for(rowids)
        cosine = dict(zip(found.tolist(), (vectors @ vector).tolist(), strict=True)) if found.size else {}
        bm25 = dict(zip(lexical_ids.tolist(), lexical_scores.tolist(), strict=True))
        extra = {"dense": cosine, "lexical": bm25}
        hits = self.storage.store.hits(rowids, [score for _, score in fused], "hybrid", extra)
        return hits

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            from kb.registry import default_cache_dir

            self._generator = make_generator(
                self.settings.generator, model=self.settings.generator_model, cache_dir=default_cache_dir()
            )
        return self._generator

    def ask(self, question: str, *, k: int | None = None, filters: FilterSpec = None) -> Answer:
        """A cited answer to ``question`` from the top ``k`` passages, or an abstention saying why not."""
        started = time.perf_counter()
        hits = self.search(question, k or self.settings.top_k, filters)
        retrieved = time.perf_counter()
        answer = compose_answer(
            question,
            hits,
            self.generator,
            min_score=self.settings.min_score,
            max_tokens=self.settings.max_answer_tokens,
        )
        answer.timings["retrieve_s"] = retrieved - started
        answer.timings["total_s"] = time.perf_counter() - started
        return answer

    # -- maintenance ---------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts and settings, for people and for ``medkb stats --json``."""
        counts = self.storage.store.counts()
        return {
            "directory": str(self.directory),
            **counts,
            "vectors": self.storage.index.ntotal(),
            "embedder": self.manifest.settings.embedder,
            "dim": self.manifest.embedder_dim,
            "chunk_tokens": self.manifest.settings.chunk_tokens,
            "chunk_overlap": self.manifest.settings.chunk_overlap,
            "index_hash": self.manifest.settings.index_hash(),
            **self.storage.index.status(),
        }

    def failures(self) -> list[tuple[str, str]]:
        """Sources that failed to ingest, with the reason, as last recorded."""
        return self.storage.store.failures()

    def reindex(self, index_type: str | None = None) -> int:
        """Rebuild the vector index from ``kb.sqlite`` (switching to ``index_type`` if given: ``flat`` or ``hnsw``);
        returns the number of vectors."""
        if index_type is not None and index_type != self.manifest.settings.index_type:
            self.manifest.settings = replace(self.manifest.settings, index_type=index_type)
            self.settings = replace(self.settings, index_type=index_type)
            self.manifest.save(self.directory)
            self.storage.index.kind = index_type
        return self.storage.rebuild_index()

    def check(self) -> list[str]:
        """Differences between ``kb.sqlite`` and the derived indexes (empty when consistent)."""
        return self.storage.check()
