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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from generation.base import Generator, make_generator
from generation.compose import Checking, compose_answer
from generation.decide import Decision, decide
from generation.tasks import classify_task
from ingest.chunking import Chunker
from ingest.pipeline import Ingestor, IngestReport, Item, backfill_cross_lingual
from ingest.readers import Reader, reader_named
from kb.errors import KnowledgeBaseExists, KnowledgeBaseNotFound, MedkbError, SettingsMismatch
from kb.filters import Filters
from kb.manifest import MANIFEST, Manifest
from kb.protocols import Embedder
from kb.settings import RETRIEVAL_MODES, Settings
from kb.storage import Storage
from kb.types import TASKS, Answer, Hit, PatientContext, Task
from retrieval.embedders import make_embedder
from retrieval.expansion import expanded_query, merge_expanded
from retrieval.searcher import Searcher

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
        *,
        cross_embedder: Embedder | None = None,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.settings = settings or manifest.settings
        self.storage = storage
        self.embedder = embedder
        self._generator = generator
        self._cross_embedder = cross_embedder
        self._searcher: Searcher | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        cross_embedder: Embedder | None = None,
    ) -> KnowledgeBase:
        """Create an empty knowledge base in ``path`` (made if missing; must not hold one already).
        ``cross_embedder`` overrides the multilingual encoder ``settings.cross_lingual_embedder`` names."""
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
        settings, cross_embedder = _cross_lingual(settings, cross_embedder)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(settings=settings, embedder_dim=embedder.dim)
        storage = Storage(
            directory,
            manifest.embedder_dim,
            create=True,
            index_type=settings.index_type,
            ef_search=settings.hnsw_ef_search,
            cross_lingual=(cross_embedder.name, cross_embedder.dim) if cross_embedder else None,
        )
        manifest.save(directory)
        log.info("created knowledge base %s (embedder %s, %d-d)", directory, settings.embedder, embedder.dim)
        return cls(directory, manifest, storage, embedder, generator, cross_embedder=cross_embedder)

    @classmethod
    def open(
        cls,
        path: str | Path,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
        cross_embedder: Embedder | None = None,
    ) -> KnowledgeBase:
        """Open an existing knowledge base. ``settings``, if given, must agree with the index-shaping settings
        it was built with (else :class:`~kb.errors.SettingsMismatch`); its other values apply to this session.
        The cross-lingual encoder (``cross_embedder``, else the one the settings name) must be the one that made
        the stored cross-lingual vectors, if any."""
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
        chosen, cross_embedder = _cross_lingual(chosen, cross_embedder)
        storage = Storage(
            directory,
            manifest.embedder_dim,
            index_type=manifest.settings.index_type,
            ef_search=chosen.hnsw_ef_search,
            cross_lingual=(cross_embedder.name, cross_embedder.dim) if cross_embedder else None,
        )
        return cls(directory, manifest, storage, embedder, generator, chosen, cross_embedder=cross_embedder)

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

    @property
    def cross_embedder(self) -> Embedder | None:
        """The multilingual encoder of the cross-lingual index (made on first use), or None when
        ``settings.cross_lingual_embedder`` is ``""``. Queries for ``storage.dense_cross`` are embedded with it."""
        if not self.settings.cross_lingual_embedder:
            return None
        if self._cross_embedder is None:
            self._cross_embedder = make_embedder(self.settings.cross_lingual_embedder)
        return self._cross_embedder

    def _writing_cross_embedder(self) -> Embedder | None:
        """The cross-lingual encoder, with the storage ready for its vectors (it may be set after opening)."""
        cross = self.cross_embedder
        if cross is not None and self.storage.cross_model != (cross.name, cross.dim):
            self.storage.configure_cross_lingual((cross.name, cross.dim))
        return cross

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
            embedding_text=self.manifest.embedding_text,
            cross_embedder=self._writing_cross_embedder(),
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

    def search(
        self, query: str, k: int = 10, filters: FilterSpec = None, *, mode: str | None = None, mmr: bool | None = None
    ) -> list[Hit]:
        """The ``k`` chunks that best answer ``query`` among those whose documents pass ``filters``
        (e.g. ``{"source": "...", "published_from": "2019", "language": "en"}``); k come back whenever k chunks pass.

        ``mode`` (default ``settings.retrieval``): ``hybrid`` (dense and BM25 candidates fused, see
        `retrieval.searcher`), ``dense`` (vector index) or ``lexical`` (BM25). A Chinese question is searched through
        the cross-lingual index when the knowledge base has one. Hybrid hits carry their ``dense`` cosine and, when
        they matched, their ``lexical`` BM25 score in ``hit.scores``; ``hit.score`` is the fused score, which only
        orders them. ``mmr`` (default ``settings.mmr``) re-orders hybrid results so that they do not repeat one
        document.
        """
        if not query.strip():
            raise MedkbError("query is empty: expected some text to search for")
        if k < 1:
            raise MedkbError(f"k={k}: expected a positive integer")
        mode = mode or self.settings.retrieval
        if mode not in RETRIEVAL_MODES:
            raise MedkbError(f"mode={mode!r}: expected one of {', '.join(RETRIEVAL_MODES)}")
        return self.searcher.search(query, k, Filters.from_mapping(filters), mode, mmr=mmr)

    @property
    def searcher(self) -> Searcher:
        """The dense, lexical and hybrid search over this knowledge base (see `retrieval.searcher`)."""
        if self._searcher is None or self._searcher.settings is not self.settings:
            self._searcher = Searcher(self.storage, self.embedder, lambda: self.cross_embedder, self.settings)
        return self._searcher

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            from kb.registry import default_cache_dir

            self._generator = make_generator(
                self.settings.generator, model=self.settings.generator_model, cache_dir=default_cache_dir()
            )
        return self._generator

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: FilterSpec = None,
        task: Task | None = None,
        patient: PatientContext | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer:
        """A cited answer to ``question`` from the top ``k`` passages, or an abstention saying why not.

        ``task`` (``diagnosis``, ``treatment``, ``drug`` or ``general``) overrides the one read from the question.
        ``patient`` widens retrieval for drug and treatment questions (see `retrieval.expansion`), goes into the
        prompt on one line, and is checked against the drugs the question or answer names (``answer.drug_warnings``);
        it is never stored. Every sentence of the answer is verified against the passages it cites
        (``answer.sentences``). ``on_text`` receives the generator's first draft piece by piece as it is written
        (local generators), before verification; the answer returned is the verified one.

        Example::

            answer = kb.ask("Can I give amoxicillin for pneumonia?", patient=PatientContext(allergies=["penicillin"]))
            for warning in answer.drug_warnings:
                print(warning.message)
        """
        if task is not None and task not in TASKS:
            raise MedkbError(f"task={task!r}: expected one of {', '.join(TASKS)}")
        started = time.perf_counter()
        task = task or classify_task(question)
        k = k or self.settings.top_k
        hits = self.search(question, k, filters)
        terms = patient.search_terms() if patient is not None and task in ("drug", "treatment") else []
        if terms:
            hits = merge_expanded(hits, self.search(expanded_query(question, terms), k, filters), k)
        retrieved = time.perf_counter()
        answer = compose_answer(
            question,
            hits,
            self.generator,
            min_score=self.settings.min_score,
            max_tokens=self.settings.max_answer_tokens,
            task=task,
            patient=patient,
            checking=Checking(self.embedder, self.cross_embedder, self.storage.store),
            on_text=on_text,
        )
        answer.timings["retrieve_s"] = retrieved - started
        answer.timings["total_s"] = time.perf_counter() - started
        return answer

    def decide(
        self,
        question: str,
        options: Sequence[str] = ("yes", "no", "maybe"),
        *,
        k: int = 3,
        filters: FilterSpec = None,
        bias: Mapping[str, float] | None = None,
    ) -> Decision:
        """One of ``options`` for a closed question (``"Does X reduce Y?"``), read from the generator's probability
        of each option given the top ``k`` passages (`generation.decide`); ``bias`` (log-odds per option, from
        ``generation.decide.fit_bias`` on labelled questions) corrects a model that leans one way.

        Example::

            decision = kb.decide("Does metformin cause lactic acidosis?", ("yes", "no"))
            decision.label, decision.probabilities, decision.evidence
        """
        return decide(question, self.search(question, k, filters), self.generator, options, bias=bias)

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
            "cross_lingual_embedder": self.storage.cross_model[0] if self.storage.cross_model else "",
            "cross_lingual_vectors": self.storage.cross_lingual.ntotal() if self.storage.cross_lingual else 0,
        }

    def failures(self) -> list[tuple[str, str]]:
        """Sources that failed to ingest, with the reason, as last recorded."""
        return self.storage.store.failures()

    def reindex(self, index_type: str | None = None) -> int:
        """Rebuild the vector indexes from ``kb.sqlite`` (switching to ``index_type`` if given: ``flat`` or ``hnsw``);
        returns the number of vectors in the main one. Chunks lacking a cross-lingual vector stay without one: see
        :meth:`backfill_cross_lingual`."""
        if index_type is not None and index_type != self.manifest.settings.index_type:
            self.manifest.settings = replace(self.manifest.settings, index_type=index_type)
            self.settings = replace(self.settings, index_type=index_type)
            self.manifest.save(self.directory)
            self.storage.index.kind = index_type
        return self.storage.rebuild_index()

    def backfill_cross_lingual(self, progress: Callable[[int], None] | None = None) -> int:
        """Give every chunk stored without a cross-lingual vector (ingested before the encoder was configured) one,
        in committed batches, so an interrupted run resumes where it stopped; returns how many were added (0 when
        none lack one). ``progress`` gets the running total.

        Example::

            with KnowledgeBase.open("my-kb") as kb:
                kb.backfill_cross_lingual()
        """
        cross = self._writing_cross_embedder()
        if cross is None:
            raise MedkbError("cross-lingual embedding is off (settings.cross_lingual_embedder is ''): nothing to add")
        return backfill_cross_lingual(
            self.storage,
            cross,
            embedding_text_version=self.manifest.embedding_text,
            batch_size=max(self.settings.batch_size, 256),
            progress=progress,
        )

    def check(self) -> list[str]:
        """Differences between ``kb.sqlite`` and the derived indexes (empty when consistent)."""
        return self.storage.check()


def _cross_lingual(settings: Settings, given: Embedder | None) -> tuple[Settings, Embedder | None]:
    """Settings naming the session's cross-lingual encoder, and that encoder: ``given``, else the one the settings
    name (None for ``""``). Making it is free; its model loads on first use."""
    if given is not None:
        return replace(settings, cross_lingual_embedder=given.name), given
    name = settings.cross_lingual_embedder
    return settings, make_embedder(name) if name else None
