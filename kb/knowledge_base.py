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
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from generation.backends import make_generator, resolve_backend
from generation.base import Generator
from generation.compose import Checking, compose_answer
from generation.decide import Chooser, Decision, decide
from generation.tasks import classify_task
from generation.translate import GeneratorTranslator
from ingest.chunking import Chunker
from ingest.pipeline import Ingestor, IngestReport, Item, backfill_cross_lingual
from ingest.progress import IngestProgress
from ingest.readers import Reader, reader_named
from kb.core.batch import Batch
from kb.core.errors import DocumentNotFound, KnowledgeBaseExists, KnowledgeBaseNotFound, MedkbError, SettingsMismatch
from kb.core.filters import Filters
from kb.core.lexical import is_chinese
from kb.core.manifest import MANIFEST, Manifest
from kb.core.protocols import Embedder, QuestionTranslator
from kb.core.settings import RETRIEVAL_MODES, Settings
from kb.core.types import TASKS, Answer, Chunk, Document, Hit, PatientContext, Task
from kb.storage import Storage
from kb.storage.manifest_copy import REPAIR_HINT, holds_knowledge_base, record_manifest, verify_manifest
from kb.storage.store import DB_NAME
from retrieval.embedders import make_embedder
from retrieval.expansion import expanded_query, merge_expanded
from retrieval.followup import standalone_question
from retrieval.rerank import CrossEncoderReranker
from retrieval.rerank import rerank as rerank_hits
from retrieval.searcher import Searcher

log = logging.getLogger(__name__)

#: The most chunks one search returns, and passages one answer is given: a larger ``k`` ran for minutes and GBs.
MAX_SEARCH_K = 10_000
MAX_ASK_K = 50
#: The longest question or query, in characters (the embedders read the first 256 tokens of it anyway).
MAX_QUERY_CHARS = 4000

FilterSpec = Mapping[str, Any] | Filters | None


@dataclass(frozen=True)
class Located:
    """What an id names (`KnowledgeBase.locate`): a document, and the passage when the id named one."""

    doc_id: str
    chunk: Chunk | None = None


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
        self._reranker: CrossEncoderReranker | None = None
        self._translator: QuestionTranslator | None = None
        self._translator_model = ""

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
        if holds_knowledge_base(directory):
            raise KnowledgeBaseExists(
                f"{directory}: holds a knowledge base's kb.sqlite but no {MANIFEST}; "
                + REPAIR_HINT.format(directory=directory)
            )
        settings = settings or Settings()
        if embedder is not None and embedder.name != settings.embedder:
            settings = replace(settings, embedder=embedder.name)
        embedder = embedder or make_embedder(
            settings.embedder, batch_size=settings.batch_size, backend=settings.embedder_backend
        )
        settings, cross_embedder = _cross_lingual(settings, cross_embedder)
        settings = _with_pg_table(settings)
        directory.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(settings=settings, embedder_dim=embedder.dim)
        storage = Storage(
            directory,
            manifest.embedder_dim,
            create=True,
            index_type=settings.index_type,
            ef_search=settings.hnsw_ef_search,
            cross_lingual=(cross_embedder.name, cross_embedder.dim) if cross_embedder else None,
            **_backend(settings, settings.dsn),
        )
        record_manifest(storage.store, manifest)
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
        it was built with (else :class:`~kb.core.errors.SettingsMismatch`); its other values apply to this session.
        The cross-lingual encoder (``cross_embedder``, else the one the settings name) must be the one that made
        the stored cross-lingual vectors, if any."""
        directory = Path(path)
        if not directory.is_dir():
            raise KnowledgeBaseNotFound(f"{directory}: no such knowledge base directory")
        if not (directory / MANIFEST).exists() and (directory / DB_NAME).exists():
            raise KnowledgeBaseNotFound(
                f"{directory}: holds kb.sqlite but no {MANIFEST}; " + REPAIR_HINT.format(directory=directory)
            )
        manifest = Manifest.load(directory)
        if settings is not None:
            manifest.check_compatible(settings)
        if embedder is not None and embedder.name != manifest.settings.embedder:
            raise SettingsMismatch(
                f"embedder {embedder.name!r} given, but {directory} was built with {manifest.settings.embedder!r}"
            )
        chosen = settings or manifest.settings
        # where the vectors are is the knowledge base's, not the session's (`reindex` moves them)
        built = manifest.settings
        chosen = replace(chosen, vector_store=built.vector_store, pg_table=built.pg_table, index_type=built.index_type)
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
            **_backend(manifest.settings, chosen.dsn or manifest.settings.dsn),
        )
        try:
            verify_manifest(directory, manifest, storage.store)
        except BaseException:
            storage.close()
            raise
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
        dask_scheduler: str | None = None,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Ingest files, directories (walked) or :class:`~kb.core.types.Document` objects; returns what happened.

        Unchanged files are skipped unread; unreadable files are recorded (see ``report.failures`` and
        :meth:`failures`) and skipped. ``sync`` deletes the documents of files gone from a given directory.
        ``deidentify`` replaces patient identifiers (HIPAA Safe Harbor) with typed placeholders before anything is
        stored. ``reader`` (a name from ``ingest.readers.reader_names()`` or a reader object) reads every file.
        ``dask_scheduler`` (``tcp://HOST:PORT``) has the workers of that Dask scheduler read, chunk and embed the
        files (`ingest.distributed`; the ``dask`` extra), with the same result; this process still writes. The
        workers make their encoders from the settings' names and need the files at the same paths. ``progress``
        (`ingest.progress.IngestProgress`) hears of every record processed and every file done.
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
        options: dict[str, Any] = {
            "batch_size": self.settings.batch_size,
            "reader": reader_named(reader) if isinstance(reader, str) else reader,
            "transform": transform,
            "embedding_text": self.manifest.embedding_text,
            "cross_embedder": self._writing_cross_embedder(),
        }
        if dask_scheduler is None:
            ingestor = Ingestor(self.storage, self.embedder, chunker, **options)
        else:
            from ingest.distributed import DaskIngestor, EmbedderRecipe

            # Workers make their own encoders, by name, as this process made its (`make_embedder` pickles by name).
            main = partial(
                make_embedder, s.embedder, batch_size=self.settings.batch_size, backend=self.settings.embedder_backend
            )
            cross = options["cross_embedder"]
            ingestor = DaskIngestor(
                self.storage,
                self.embedder,
                chunker,
                scheduler=dask_scheduler,
                worker_embedder=EmbedderRecipe(s.embedder, main),
                worker_cross_embedder=EmbedderRecipe(cross.name, partial(make_embedder, cross.name)) if cross else None,
                chunk_tokens=s.chunk_tokens,
                chunk_overlap=s.chunk_overlap,
                **options,
            )
        return ingestor.run(items, on_item=on_item, sync=sync, progress=progress)

    def ingest_corpus(
        self,
        name: str,
        *,
        dest: Path | None = None,
        deidentify: bool = False,
        sync: bool = True,
        dask_scheduler: str | None = None,
    ) -> IngestReport:
        """Ingest a named corpus from ``corpora/registry.toml`` (fetched already, or a local path) with its reader;
        ``dask_scheduler`` as in :meth:`ingest`.

        Example::

            kb.ingest_corpus("pubmedqa")
        """
        from corpora.catalog import get_corpus

        entry = get_corpus(name)
        return self.ingest(
            entry.local_files(dest),
            reader=entry.reader,
            deidentify=deidentify,
            sync=sync,
            dask_scheduler=dask_scheduler,
        )

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Delete these documents (``hit.doc_id``), their chunks and their vectors, in one transaction; returns the
        number of chunks removed (ids not stored are ignored). The files they were read from are forgotten, so
        ingesting such a file again reads it again and restores what it holds.

        Example::

            kb.delete([hit.doc_id for hit in kb.search("withdrawn trial", k=3)])
        """
        ids = list(dict.fromkeys(doc_ids))
        origins = self.storage.store.documents.origins_of(ids)
        _, removed = self.storage.write_batch(Batch(deleted_doc_ids=ids, files_forgotten=origins))
        self.storage.flush()
        return removed

    def search(
        self,
        query: str,
        k: int = 10,
        filters: FilterSpec = None,
        *,
        mode: str | None = None,
        mmr: bool | None = None,
        rerank: bool | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks that best answer ``query`` among those whose documents pass ``filters``
        (e.g. ``{"source": "...", "published_from": "2019", "language": "en"}``); k come back whenever k chunks pass.

        ``mode`` (default ``settings.retrieval``): ``hybrid`` (dense and BM25 candidates fused, see
        `retrieval.searcher`), ``dense`` (vector index) or ``lexical`` (BM25). A Chinese question is searched through
        the cross-lingual index when the knowledge base has one, or, with ``settings.translate_model``, translated into
        English and searched as English (see :meth:`search_text`). Hybrid hits carry their ``dense`` cosine and, when
        they matched, their ``lexical`` BM25 score in ``hit.scores``; ``hit.score`` is the fused score, which only
        orders them. ``mmr`` (default ``settings.mmr``) re-orders hybrid results so that they do not repeat one
        document. ``rerank`` (default ``settings.rerank``) re-scores the top ``settings.rerank_candidates`` results with
        the cross-encoder trained by ``medkb train reranker`` (`retrieval.rerank`): those hits gain ``scores["rerank"]``
        and are ordered by its blend with their first-stage score (``settings.rerank_weight``), which becomes their
        ``score``; without a trained reranker it raises MedkbError.
        """
        if not query.strip():
            raise MedkbError("query is empty: expected some text to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise MedkbError(f"query of {len(query):,} characters: expected at most {MAX_QUERY_CHARS:,}")
        if not 1 <= k <= MAX_SEARCH_K:
            raise MedkbError(f"k={k}: expected a whole number from 1 to {MAX_SEARCH_K}")
        mode = mode or self.settings.retrieval
        if mode not in RETRIEVAL_MODES:
            raise MedkbError(f"mode={mode!r}: expected one of {', '.join(RETRIEVAL_MODES)}")
        query = self.search_text(query)
        if not (self.settings.rerank if rerank is None else rerank):
            return self.searcher.search(query, k, Filters.from_mapping(filters), mode, mmr=mmr)
        reranker = self.reranker
        depth = max(k, self.settings.rerank_candidates)
        hits = self.searcher.search(query, depth, Filters.from_mapping(filters), mode, mmr=mmr)
        return rerank_hits(reranker, query, hits, self.settings.rerank_candidates, self.settings.rerank_weight)[:k]

    def search_text(self, query: str) -> str:
        """What :meth:`search` searches for ``query``: its English translation (by :attr:`translator`) when
        ``settings.translate_model`` is set and ``query`` is Chinese, else ``query`` itself; also ``query`` itself
        when the translation comes out empty or still Chinese."""
        if not self.settings.translate_model or not is_chinese(query):
            return query
        english = self.translator.translate(query).strip()
        if not english or is_chinese(english):
            log.warning("no English translation of %r (got %r); searching it as it is", query, english)
            return query
        return english

    @property
    def translator(self) -> QuestionTranslator:
        """The question translator: the generator ``settings.translate_model`` names (the answering generator when
        that is the same local model), loaded on first use; or whatever was assigned."""
        model = self.settings.translate_model
        if self._translator is None or (self._translator_model and self._translator_model != model):
            from kb.core.model_registry import default_cache_dir

            runtime, answering = resolve_backend(self.settings.generator, self.settings.generator_model)
            same = runtime in ("local", "llama") and model == answering
            generator = (
                self.generator
                if same
                else make_generator(
                    "auto", model=model, cache_dir=default_cache_dir(), threads=self.settings.generator_threads or None
                )
            )
            self._translator, self._translator_model = GeneratorTranslator(generator), model
        return self._translator

    @translator.setter
    def translator(self, translator: QuestionTranslator) -> None:
        self._translator, self._translator_model = translator, ""

    @property
    def reranker(self) -> CrossEncoderReranker:
        """The cross-encoder recorded in the manifest by ``medkb train reranker`` (loaded on first use); MedkbError
        naming the command when none is trained."""
        path = self.manifest.trained_path(self.directory, "reranker")
        if path is None:  # trained since this knowledge base was opened?
            self.manifest.trained = Manifest.load(self.directory).trained
            path = self.manifest.trained_path(self.directory, "reranker")
        if path is None:
            raise MedkbError(
                f"{self.directory}: no trained reranker to rerank with; train one with: "
                f"medkb train reranker --kb {self.directory}"
            )
        if self._reranker is None or self._reranker.path != path:
            self._reranker = CrossEncoderReranker(path)
        return self._reranker

    @property
    def searcher(self) -> Searcher:
        """The dense, lexical and hybrid search over this knowledge base (see `retrieval.searcher`)."""
        if self._searcher is None or self._searcher.settings is not self.settings:
            self._searcher = Searcher(self.storage, self.embedder, lambda: self.cross_embedder, self.settings)
        return self._searcher

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            from kb.core.model_registry import default_cache_dir

            self._generator = make_generator(
                self.settings.generator,
                model=self.settings.generator_model,
                cache_dir=default_cache_dir(),
                threads=self.settings.generator_threads or None,
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
        if k is not None and not 1 <= k <= MAX_ASK_K:
            raise MedkbError(f"k={k}: expected a whole number of passages from 1 to {MAX_ASK_K}")
        if len(question) > MAX_QUERY_CHARS:
            raise MedkbError(f"question of {len(question):,} characters: expected at most {MAX_QUERY_CHARS:,}")
        started = time.perf_counter()
        task = task or classify_task(question)
        k = k or self.settings.top_k
        depth = max(k, self.settings.subject_candidates) if self.settings.subject_match else k
        hits = self.search(question, depth, filters)
        terms = patient.search_terms() if patient is not None and task in ("drug", "treatment") else []
        if terms:
            hits = merge_expanded(hits, self.search(expanded_query(question, terms), depth, filters), depth)
        retrieved = time.perf_counter()
        searched_as = self.search_text(question)
        generator = self.generator
        entailment = generator if self.settings.entailment and isinstance(generator, Chooser) else None
        answer = compose_answer(
            question,
            hits,
            generator,
            min_score=self.settings.min_score,
            quote_score=self.settings.quote_score,
            max_tokens=self.settings.max_answer_tokens,
            task=task,
            patient=patient,
            checking=Checking(
                self.embedder,
                self.cross_embedder,
                self.storage.store.drugs,
                subject=self.settings.subject_match,
                entailment=entailment,
            ),
            on_text=on_text,
            k=k,
            budget_s=self.settings.answer_budget_s,
            style=self.settings.answer_style,
            quote_span=self.settings.quote_span,
        )
        if searched_as != question:
            answer.warnings.insert(0, f"the question was searched in English as: {searched_as!r}")
        answer.timings["retrieve_s"] = retrieved - started
        answer.timings["total_s"] = time.perf_counter() - started
        return answer

    def standalone_question(self, question: str, history: Sequence[str]) -> str:
        """A follow-up made standalone from the earlier questions of a conversation (``history``, oldest first), so
        that it can be searched and answered alone (`retrieval.followup`); a question that needs no earlier turn
        comes back unchanged.

        Example::

            kb.standalone_question("How is it treated?", ["What is gout?"])  # 'How is gout treated?'
        """
        return standalone_question(question, history)

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

    def document(self, doc_id: str) -> tuple[Document, list[Chunk]]:
        """The stored document ``doc_id`` (as ``search`` and ``ask`` print it: ``hit.doc_id``, ``citation.doc_id``)
        and its chunks in reading order, each with its character span in ``document.text``.

        Example::

            document, chunks = kb.document(answer.citations[0].doc_id)
            document.text[chunks[0].start:chunks[0].end] == chunks[0].text
        """
        found = self.storage.store.documents.get_document(doc_id)
        if found is None:
            raise DocumentNotFound(f"document {doc_id!r}: no such document in {self.directory}")
        return found, self.storage.store.documents.chunks_of(doc_id)

    def locate(self, identifier: str) -> Located:
        """The document, or the passage, that ``identifier`` names: a document or chunk id as ``search``, ``ask``
        and the service give them, whole or a unique prefix of at least 6 characters; a PMID (``pmid:12345`` or
        the digits alone); a DOI; or a document's source key (``medquad:...``, ``pubmed:12345``). Raises
        `DocumentNotFound` when nothing, or more than one thing, matches.

        Example::

            where = kb.locate(hit.chunk_id[:8])
            where.doc_id, where.chunk.start, where.chunk.end
        """
        doc_id, chunk = self.storage.store.documents.locate(identifier)
        return Located(doc_id, chunk)

    def undated_left_out(self, filters: FilterSpec) -> int:
        """How many documents ``filters``' date bounds leave out for having no publication date (0 without date
        bounds, or with ``include_undated``): say so beside the results, since such documents match nothing dated.
        """
        spec = Filters.from_mapping(filters)
        if not spec.dated or spec.include_undated:
            return 0
        return self.storage.store.documents.count_undated(spec)

    def facets(self, key: str | None = None, *, limit: int = 50) -> dict[str, int]:
        """The metadata keys documents carry (with how many documents carry each), or, for ``key``, its values and
        their document counts, most frequent first: the values ``filters`` match exactly.

        Example::

            kb.facets()            # {'source': 40, 'language': 40, 'published': 31, ...}
            kb.facets("source")    # {'medquad': 15217, ...}
        """
        return self.storage.store.documents.facets(key, limit)

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

    def chunk_vectors(self) -> tuple[list[Hit], np.ndarray]:
        """Every chunk (as a :class:`~kb.core.types.Hit` with score 0, in storage order) and its stored embedding, one
        row per chunk: for maps and analyses of a knowledge base (``notebooks/02_explore.ipynb``). Holds them all in
        memory.

        Example::

            chunks, vectors = kb.chunk_vectors()
            sklearn.decomposition.PCA(2).fit_transform(vectors)
        """
        parts = list(self.storage.store.vectors.iter_vectors())
        if not parts:
            return [], np.zeros((0, self.manifest.embedder_dim), np.float32)
        ids = np.concatenate([batch_ids for batch_ids, _ in parts])
        hits = self.storage.store.documents.hits(ids.tolist(), [0.0] * len(ids))
        return hits, np.concatenate([vectors for _, vectors in parts])

    def failures(self) -> list[tuple[str, str]]:
        """Sources that failed to ingest, with the reason, as last recorded."""
        return self.storage.store.files.failures()

    def reindex(self, index_type: str | None = None, *, vector_store: str | None = None, dsn: str | None = None) -> int:
        """Rebuild the vector indexes from ``kb.sqlite``; returns the number of vectors in the main one. Given
        ``index_type`` (``flat`` or ``hnsw``), ``vector_store`` (``faiss``, ``chroma`` or ``pgvector``) or ``dsn``,
        the main index moves there, and the manifest records it once the rebuild is done (the old index is left as
        it was). Chunks lacking a cross-lingual vector stay without one: see :meth:`backfill_cross_lingual`.

        Example::

            with KnowledgeBase.open("my-kb") as kb:
                kb.reindex(vector_store="pgvector", dsn="postgresql://medkb@db.example.org/medkb")
        """
        wanted = {"index_type": index_type, "vector_store": vector_store, "dsn": dsn}
        current = self.manifest.settings
        changes = {k: v for k, v in wanted.items() if v is not None and v != getattr(current, k)}
        if not changes:
            return self.storage.rebuild_index()
        moved = _with_pg_table(replace(current, **changes))
        self.storage.replace_index(
            index_type=moved.index_type, ef_search=self.settings.hnsw_ef_search, **_backend(moved, moved.dsn)
        )
        total = self.storage.rebuild_index()
        self.manifest.settings = moved
        self.settings = replace(self.settings, pg_table=moved.pg_table, **changes)
        record_manifest(self.storage.store, self.manifest)
        self.manifest.save(self.directory)
        return total

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


def _with_pg_table(settings: Settings) -> Settings:
    """``settings`` with a table of its own named, when its vectors go to pgvector and none is named yet."""
    if settings.vector_store == "pgvector" and not settings.pg_table:
        return replace(settings, pg_table=f"medkb_{uuid.uuid4().hex[:16]}")
    return settings


def _backend(settings: Settings, dsn: str) -> dict[str, Any]:
    """The `kb.storage.Storage` arguments that pick and locate the vector backend."""
    return {"vector_store": settings.vector_store, "dsn": dsn, "table": settings.pg_table}


def _cross_lingual(settings: Settings, given: Embedder | None) -> tuple[Settings, Embedder | None]:
    """Settings naming the session's cross-lingual encoder, and that encoder: ``given``, else the one the settings
    name (None for ``""``). Making it is free; its model loads on first use."""
    if given is not None:
        return replace(settings, cross_lingual_embedder=given.name), given
    name = settings.cross_lingual_embedder
    return settings, make_embedder(name) if name else None
