"""Ingestion: read -> skip what is already stored -> chunk -> embed -> commit, in batches, streaming.

- **Incremental.** A file read completely is recorded with its size, mtime and sha256; the next run skips it
  without reading it while it is unchanged. Documents are keyed by content hash, so a record already stored embeds
  nothing. A changed file is read again: its changed records replace their older versions (same ``source``) and
  records it no longer holds are deleted, in the transaction that records the file as read.
- **Versions and deletions.** A record with an integer ``metadata["version"]`` never replaces a newer stored version
  of the same source (DailyMed set ids); a reader's `Deletion` (PubMed ``DeleteCitation``) removes that source.
- **Resumable.** Each batch is one SQLite transaction and a file counts as read only once its last record is
  committed, so a run killed at any point and started again ends with exactly what an uninterrupted run stores; a
  run starts by finishing the vector-index write a killed one left half done (`IngestTarget.finish_interrupted_writes`).
- **Failures** are recorded with their reasons and the rest carry on; nothing stored earlier is lost because a file
  went bad.
- **Streaming.** Records flow from the reader one at a time and are embedded ``batch_size`` chunks per call; memory
  is bounded by the batch size and the largest document (at most `ingest.chunking.MAX_DOCUMENT_CHARS` characters;
  a longer one is a failure), not by the size of a file or of the corpus.
- **Cross-lingual.** With a multilingual encoder (``cross_embedder``), each chunk is embedded a second time, from the
  same text, and both vectors are stored in the batch's transaction. :func:`backfill_cross_lingual` adds the
  second vector to chunks stored without one.
- **Distributed.** `ingest.distributed` reads, chunks and embeds files on Dask workers: they come back as
  `Prepared` documents, which this ingestor stores as they are, with the same bookkeeping as a local run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.chunking import Chunker, oversize_reason
from ingest.progress import IngestProgress
from ingest.readers import (
    Deletion,
    Reader,
    ReadItem,
    RecordError,
    extension_of,
    iter_files,
    reader_for,
    supported_extensions,
)
from kb.core.batch import Batch, FileState, NewDocument
from kb.core.errors import MedkbError, ReaderError
from kb.core.manifest import EMBEDDING_TEXT_VERSION
from kb.core.model_registry import file_sha256
from kb.core.protocols import Embedder, IngestTarget
from kb.core.types import Chunk, Document

log = logging.getLogger(__name__)

Item = Path | str | Document
Transform = Callable[[Document], Document]


@dataclass
class Prepared:
    """A document already transformed, chunked and embedded elsewhere (on a Dask worker, see `ingest.distributed`):
    stored as it is instead of being transformed, chunked and embedded again. ``vectors`` (and ``xvectors``, from
    the cross-lingual encoder) hold one row per chunk."""

    document: Document
    chunks: list[Chunk]
    vectors: np.ndarray
    xvectors: np.ndarray | None = None


class IngestAborted(MedkbError):
    """A failure that is not the file's (a lost Dask worker, a model missing on one): the run stops, keeping what it
    committed, instead of recording the file as unreadable."""


class _CommitFailed(Exception):
    """Carries an error raised while committing a batch out of a file's reading loop (see `Ingestor._ingest_file`)."""


@dataclass(frozen=True)
class _Failed:
    source: str
    reason: str


@dataclass(frozen=True)
class _Sync:
    root: Path


@dataclass(frozen=True)
class _Skipped:
    path: Path


def read_mode(*, deidentified: bool) -> str:
    """The suffix of a file's recorded sha256 that says how it was read (with or without de-identification)."""
    return ":deidentified" if deidentified else ""


def read_as_it_is(previous: FileState | None, stat: os.stat_result, mode: str) -> bool:
    """Whether ``previous``, a file's stored state, says it was read as it is now (same size, mtime and ``mode``,
    see `read_mode`): then an ingest skips it unread."""
    return (
        previous is not None
        and previous.sha256[64:] == mode
        and (previous.size, previous.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    )


#: What `Ingestor.run` does, in order: add a document, read a file, record a failure, sync a directory, pass over a
#: file of a walked folder that no reader reads.
Step = Document | Path | _Failed | _Sync | _Skipped


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    #: Records with the same text as another record of this run (stored once).
    duplicates: int = 0
    superseded: int = 0
    deleted: int = 0
    failed: int = 0
    chunks: int = 0
    chunks_removed: int = 0
    files_read: int = 0
    files_unchanged: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Files of walked folders passed over because no reader reads their type (``README``, ``.conf``); a file named
    #: explicitly is read or fails instead.
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        extra = f", {self.duplicates} duplicates of another record in this run" if self.duplicates else ""
        extra += f", {self.superseded} superseded by a newer version" if self.superseded else ""
        extra += f", {self.deleted} deleted" if self.deleted else ""
        skipped = f", {len(self.skipped)} skipped (unsupported type)" if self.skipped else ""
        return (
            f"files: {self.files_read} read, {self.files_unchanged} unchanged{skipped}; documents: {self.added} added "
            f"({self.replaced} replacing older versions), {self.unchanged} unchanged{extra}, {self.failed} failed; "
            f"chunks: {self.chunks} added, {self.chunks_removed} removed; {self.seconds:.1f} s"
        )


@dataclass
class _Pending:
    """What the next transaction will write."""

    docs: dict[str, tuple[Document, list[Chunk], str | None]] = field(default_factory=dict)
    vectors: dict[str, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)  # of Prepared documents
    deleted: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    files_done: list[FileState] = field(default_factory=list)
    files_forgotten: list[str] = field(default_factory=list)
    claimed: list[tuple[str, str]] = field(default_factory=list)
    n_chunks: int = 0

    def by_source(self, source: str) -> list[str]:
        return [doc_id for doc_id, (doc, _, _) in self.docs.items() if doc.source == source]

    def drop(self, doc_id: str) -> None:
        _, chunks, _ = self.docs.pop(doc_id)
        self.vectors.pop(doc_id, None)
        self.n_chunks -= len(chunks)

    def empty(self) -> bool:
        return not (
            self.docs
            or self.deleted
            or self.failures
            or self.cleared
            or self.files_done
            or self.files_forgotten
            or self.claimed
        )


@dataclass
class _FileRun:
    """Bookkeeping for the file being read: which stored documents it still holds."""

    origin: str
    track: bool
    seen: set[str] = field(default_factory=set)
    records: int = 0


class Ingestor:
    """Feeds documents into a knowledge base's storage (an :class:`~kb.core.protocols.IngestTarget`), embedding only
    what is new.

    ``reader`` forces one reader for every file (a named corpus); by default each file's extension picks it.
    ``transform`` is applied to every document before anything is stored or embedded (de-identification).
    ``cross_embedder``, a multilingual encoder, embeds every chunk a second time for the cross-lingual index.
    """

    def __init__(
        self,
        storage: IngestTarget,
        embedder: Embedder,
        chunker: Chunker,
        *,
        batch_size: int = 64,
        reader: Reader | None = None,
        transform: Transform | None = None,
        embedding_text: int = EMBEDDING_TEXT_VERSION,
        cross_embedder: Embedder | None = None,
    ) -> None:
        self.storage = storage
        self.cross_embedder = cross_embedder
        self.embedding_text = embedding_text
        self.embedder = embedder
        self.chunker = chunker
        self.batch_size = batch_size
        self._seen: set[str] = set()
        self._progress: IngestProgress | None = None
        self.reader = reader
        self.transform = transform

    def run(
        self,
        items: Iterable[Item],
        on_item: Callable[[], None] | None = None,
        *,
        sync: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Ingest paths (files or directories, walked) and/or Document objects; ``on_item`` is called after each
        file or document given, and ``progress`` hears of each record and each item done. With ``sync``, documents
        read earlier from files under a given directory that no longer exist are deleted."""
        started = time.perf_counter()
        self._report = report = IngestReport()
        self._pending = _Pending()
        self._seen = set()  # ids of the documents this run has met, to tell a duplicate from a stored one
        self._progress = progress
        self.storage.finish_interrupted_writes()
        try:
            for step in self._steps(items, sync):
                if isinstance(step, _Failed):
                    self._fail(step.source, step.reason)
                    continue
                if isinstance(step, _Sync):
                    self._sync_directory(step.root)
                    continue
                if isinstance(step, _Skipped):
                    log.info("skipped %s: no reader for its type", step.path)
                    report.skipped.append(str(step.path))
                elif isinstance(step, Document):
                    self._add(step, None)
                    self._maybe_commit()
                else:
                    self._ingest_file(step)
                if on_item:
                    on_item()
                if progress is not None:
                    progress.item_done(str(step) if isinstance(step, Path) else None)
            self._commit()
            if self.transform is not None and report.chunks_removed:
                # Documents replaced by de-identified ones: their raw terms must not linger in the lexical index.
                self.storage.purge_deleted_text()
        finally:
            self.storage.flush()
            report.seconds = time.perf_counter() - started
        log.info("ingest: %s", report.summary())
        return report

    # -- files -------------------------------------------------------------------------------------------------------

    def _steps(self, items: Iterable[Item], sync: bool) -> Iterator[Step]:
        """The work of a run in order, directories walked. Walking changes nothing, so a subclass may look ahead
        (`ingest.distributed` sends the files further on to its workers early)."""
        supported = set(supported_extensions())
        for item in items:
            if isinstance(item, Document):
                yield item
                continue
            refused: list[RecordError] = []
            walked = Path(item).is_dir() and self.reader is None
            try:
                for file in iter_files([Path(item)], refused):
                    yield _Skipped(file) if walked and extension_of(file) not in supported else file
            except ReaderError as exc:
                yield _Failed(str(item), str(exc))
            yield from (_Failed(error.source, f"{error.source}: {error.reason}") for error in refused)
            if sync and Path(item).is_dir():
                yield _Sync(Path(item))

    @property
    def _mode(self) -> str:
        """The suffix of a file's recorded sha256: a file read without de-identification must be read again with it
        (and the other way round)."""
        return read_mode(deidentified=self.transform is not None)

    def _same_stat(self, previous: FileState | None, stat: os.stat_result) -> bool:
        return read_as_it_is(previous, stat, self._mode)

    def _sha256(self, path: Path, stat: os.stat_result) -> str:
        """Hex sha256 of the file's bytes; ``stat`` lets a subclass reuse a digest taken earlier."""
        return file_sha256(path)

    def _ingest_file(self, path: Path) -> None:
        origin = str(path.resolve())
        mode = self._mode
        try:
            stat = path.stat()
            previous = self.storage.file_state(origin)
            if self._same_stat(previous, stat):
                self._report.files_unchanged += 1
                return
            digest = self._sha256(path, stat) + mode
        except OSError as exc:
            self._fail(str(path), f"{path}: cannot read ({exc.strerror or exc})")
            return
        state = FileState(origin, stat.st_size, stat.st_mtime_ns, digest)
        if previous and previous.sha256 == digest:
            self.storage.touch_file(state)
            self._report.files_unchanged += 1
            return
        run = _FileRun(origin, track=bool(self.storage.document_ids_for_origin(origin)))
        try:
            for record in self._read(path):
                self._record(record, run)
                if self._progress is not None:
                    self._progress.record()
                try:
                    self._maybe_commit()
                except Exception as exc:
                    raise _CommitFailed from exc
        except _CommitFailed as failed:
            # Not this file's fault (the embedder or the disk): the run stops, keeping every batch committed so far,
            # and a rerun resumes; recording it as this file's failure would lose the batch's other documents.
            assert failed.__cause__ is not None
            raise failed.__cause__ from None
        except ReaderError as exc:
            self._fail(str(path), str(exc))
            return
        except IngestAborted:
            raise
        except Exception as exc:  # a reader bug must not stop the other files; record it with its type
            log.exception("reader crashed on %s", path)
            self._fail(str(path), f"{path}: {type(exc).__name__}: {exc}")
            return
        self._report.files_read += 1
        if run.track:
            gone = set(self._pending.deleted)
            stale = [d for d in self.storage.document_ids_for_origin(origin) if d not in run.seen and d not in gone]
            self._delete(stale)
        self._pending.cleared.append(str(path))
        self._pending.files_done.append(FileState(origin, state.size, state.mtime_ns, digest, run.records))

    def _read(self, path: Path) -> Iterator[ReadItem | Prepared]:
        reader = self.reader or reader_for(path)
        return iter(reader.read(path))

    def _record(self, record: ReadItem | Prepared, run: _FileRun) -> None:
        if isinstance(record, RecordError):
            reason = record.reason if record.reason.startswith(record.source) else f"{record.source}: {record.reason}"
            self._fail(record.source, reason)
        elif isinstance(record, Deletion):
            ids = [*self.storage.versions_for_source(record.source), *self._pending.by_source(record.source)]
            self._delete(ids)
        else:
            run.records += 1
            doc_id = self._add(record, run.origin)
            if doc_id and run.track:
                run.seen.add(doc_id)

    def _sync_directory(self, root: Path) -> None:
        prefix = str(root.resolve()) + os.sep
        for origin in self.storage.origins():
            if origin.startswith(prefix) and not Path(origin).exists():
                log.info("sync: %s is gone; deleting its documents", origin)
                self._delete(self.storage.document_ids_for_origin(origin))
                self._pending.files_forgotten.append(origin)
        self._maybe_commit()

    # -- documents ---------------------------------------------------------------------------------------------------

    def _fail(self, source: str, reason: str) -> None:
        log.warning("skipped %s", reason)
        self._report.failed += 1
        self._report.failures.append((source, reason))
        self._pending.failures.append((source, reason))

    def _delete(self, doc_ids: Iterable[str], *, replaced: bool = False) -> None:
        """Queue ``doc_ids`` for deletion; ``replaced`` when a newer version takes their place (not a deletion in
        the report)."""
        for doc_id in dict.fromkeys(doc_ids):
            if doc_id in self._pending.docs:
                self._pending.drop(doc_id)
                self._report.added -= 1
            else:
                self._pending.deleted.append(doc_id)
            self._report.deleted += not replaced

    def _add(self, item: Document | Prepared, origin: str | None) -> str | None:
        """Queue a document unless it is stored already or superseded; returns its id when it is (or will be) stored.
        A `Prepared` one keeps its transform, chunks and vectors."""
        prepared = item if isinstance(item, Prepared) else None
        doc = item.document if isinstance(item, Prepared) else item
        if prepared is None and self.transform is not None:
            doc = self.transform(doc)
        if not doc.text.strip():
            self._fail(doc.source, f"{doc.source}: document has no text")
            return None
        if prepared is None and (too_long := oversize_reason(doc)):
            self._fail(doc.source, too_long)
            return None
        doc_id = doc.id
        pending = self._pending
        if doc_id in self._seen or doc_id in pending.docs or self.storage.has_document(doc_id):
            if doc_id in self._seen:
                self._report.duplicates += 1
            else:
                self._report.unchanged += 1
            self._seen.add(doc_id)
            if origin is not None and doc_id not in pending.docs:
                pending.claimed.append((doc_id, origin))
            return doc_id
        stored = self.storage.versions_for_source(doc.source)
        stored.update({d: pending.docs[d][0].metadata.get("version") for d in pending.by_source(doc.source)})
        version = doc.metadata.get("version")
        if isinstance(version, int) and any(isinstance(v, int) and v > version for v in stored.values()):
            log.debug("%s: version %s is older than the stored one; skipped", doc.source, version)
            self._report.superseded += 1
            return None
        chunks = prepared.chunks if prepared is not None else self.chunker.chunk(doc)
        if not chunks:
            self._fail(doc.source, f"{doc.source}: no text to index after chunking")
            return None
        if stored:
            self._report.replaced += 1
            self._delete(stored, replaced=True)
        pending.docs[doc_id] = (doc, chunks, origin)
        self._seen.add(doc_id)
        if prepared is not None:
            pending.vectors[doc_id] = (prepared.vectors, prepared.xvectors)
        pending.n_chunks += len(chunks)
        self._report.added += 1
        return doc_id

    # -- commits -----------------------------------------------------------------------------------------------------

    def _maybe_commit(self) -> None:
        pending = self._pending
        if (
            pending.n_chunks >= self.batch_size
            or len(pending.deleted) >= 10 * self.batch_size
            or len(pending.claimed) >= 100 * self.batch_size
        ):
            self._commit()

    def _commit(self) -> None:
        pending, self._pending = self._pending, _Pending()
        if pending.empty():
            return
        vectors = self._vectors(pending)
        batch = [
            NewDocument(doc, chunks, vectors[doc_id][0], origin, vectors[doc_id][1])
            for doc_id, (doc, chunks, origin) in pending.docs.items()
        ]
        failed = {s for s, _ in pending.failures}
        added, removed = self.storage.write_batch(
            Batch(
                documents=batch,
                deleted_doc_ids=pending.deleted,
                failures=pending.failures,
                cleared_failures=[s for s in pending.cleared if s not in failed],
                files_done=pending.files_done,
                files_forgotten=pending.files_forgotten,
                claimed=pending.claimed,
            )
        )
        self._report.chunks += added
        self._report.chunks_removed += removed

    def _vectors(self, pending: _Pending) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        """Vectors and cross-lingual vectors (or None) of every queued document by id: a `Prepared` one's as they
        came, the others embedded here, in one call per encoder."""
        found = dict(pending.vectors)
        todo = [(doc_id, doc, chunks) for doc_id, (doc, chunks, _) in pending.docs.items() if doc_id not in found]
        embedded = embed_chunks(
            [(doc, chunks) for _, doc, chunks in todo],
            self.embedding_text,
            self.embedder,
            self.cross_embedder,
            slice_size=self.batch_size,
        )
        for (doc_id, _, _), pair in zip(todo, embedded, strict=True):
            found[doc_id] = pair
        return found


def embed_chunks(
    docs: Sequence[tuple[Document, Sequence[Chunk]]],
    version: int,
    embedder: Embedder,
    cross_embedder: Embedder | None = None,
    *,
    slice_size: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """For each (document, chunks), the vectors of its chunks' :func:`embedding_text` and their cross-lingual
    vectors (None without ``cross_embedder``): one pass per encoder over all the chunks, in calls of at most
    ``slice_size`` texts (all at once when None)."""
    texts = [embedding_text(doc.title, c.section, c.text, version) for doc, chunks in docs for c in chunks]
    vectors = _embed_texts(embedder, texts, slice_size)
    xvectors = _embed_texts(cross_embedder, texts, slice_size) if cross_embedder is not None else None
    out: list[tuple[np.ndarray, np.ndarray | None]] = []
    offset = 0
    for _, chunks in docs:
        part = slice(offset, offset + len(chunks))
        out.append((vectors[part], None if xvectors is None else xvectors[part]))
        offset += len(chunks)
    return out


def _embed_texts(embedder: Embedder, texts: list[str], slice_size: int | None) -> np.ndarray:
    step = slice_size or max(len(texts), 1)
    parts = [embedder.embed_documents(texts[i : i + step]) for i in range(0, len(texts), step)]
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def embedding_text(title: str, section: str, text: str, version: int = EMBEDDING_TEXT_VERSION) -> str:
    """What is embedded for a chunk: its text under a header naming its document's title and (from version 2) its
    section, so that a chunk keeps its subject and its kind ("Asthma - Treatment") wherever it was cut.

    >>> embedding_text("Asthma", "Treatment", "Inhaled corticosteroids ...")
    'Asthma - Treatment\\nInhaled corticosteroids ...'
    """
    parts = [title] if title and not text.startswith(title) else []
    if version >= 2 and section and section != title and not text.startswith(section):
        parts.append(section)
    return f"{' - '.join(parts)}\n{text}" if parts else text


def backfill_cross_lingual(
    storage: IngestTarget,
    embedder: Embedder,
    *,
    embedding_text_version: int = EMBEDDING_TEXT_VERSION,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Embed with ``embedder`` every stored chunk that has no cross-lingual vector, from the text ingestion embeds
    (:func:`embedding_text` of the knowledge base's version), and store the vectors; returns how many were added.

    Each batch is one transaction, so an interrupted backfill keeps what it committed and a rerun does the rest;
    a knowledge base with none missing costs one query. ``progress`` gets the running total after each batch.
    """
    done, after = 0, 0
    try:
        while rows := storage.missing_cross_lingual(after, batch_size):
            texts = [embedding_text(title, section, text, embedding_text_version) for _, title, section, text in rows]
            ids = [row[0] for row in rows]
            done += storage.add_cross_lingual(ids, embedder.embed_documents(texts))
            after = ids[-1]
            if progress:
                progress(done)
    finally:
        storage.flush()
    if done:
        log.info("cross-lingual backfill: %d chunks embedded with %s", done, embedder.name)
    return done
