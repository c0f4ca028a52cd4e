"""Ingestion: read -> skip what is already stored -> chunk -> embed -> commit, in batches.

Documents are keyed by content hash, so unchanged input embeds nothing. A document read again from the same
source with other text replaces the old one in the same transaction. A file that cannot be read is recorded as a
failure with its reason and the rest carry on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.chunking import Chunker
from ingest.readers import RecordError, iter_files, read_path
from kb.errors import ReaderError
from kb.protocols import Embedder
from kb.storage import Storage
from kb.types import Chunk, Document

log = logging.getLogger(__name__)

Item = Path | str | Document


@dataclass
class IngestReport:
    """What one ingest run did."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    failed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"documents: {self.added} added ({self.replaced} replacing older versions), {self.unchanged} unchanged, "
            f"{self.failed} failed; chunks: {self.chunks} added; {self.seconds:.1f} s"
        )


@dataclass
class _Pending:
    docs: list[tuple[Document, list[Chunk]]] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)

    @property
    def n_chunks(self) -> int:
        return sum(len(c) for _, c in self.docs)


class Ingestor:
    """Feeds documents into a :class:`~kb.storage.Storage`, embedding only what is new."""

    def __init__(self, storage: Storage, embedder: Embedder, chunker: Chunker, *, batch_size: int = 64) -> None:
        self.storage = storage
        self.embedder = embedder
        self.chunker = chunker
        self.batch_size = batch_size

    def run(self, items: Iterable[Item], on_item: Callable[[], None] | None = None) -> IngestReport:
        """Ingest paths (files or directories, walked) and/or Document objects; ``on_item`` is called after each
        file or document given."""
        started = time.perf_counter()
        report = IngestReport()
        pending = _Pending()
        try:
            for source, records in self._records(items):
                for record in records:
                    if isinstance(record, RecordError):
                        reason = (
                            record.reason
                            if record.reason.startswith(record.source)
                            else f"{record.source}: {record.reason}"
                        )
                        self._fail(report, pending, record.source, reason)
                    else:
                        self._add(record, report, pending)
                    if pending.n_chunks >= self.batch_size:
                        self._commit(pending, report)
                        pending = _Pending()
                if source is not None:
                    pending.cleared.append(source)
                if on_item:
                    on_item()
            self._commit(pending, report)
        finally:
            self.storage.flush()
            report.seconds = time.perf_counter() - started
        log.info("ingest: %s", report.summary())
        return report

    def _records(self, items: Iterable[Item]) -> Iterator[tuple[str | None, Iterable[Document | RecordError]]]:
        """(file path or None, its records); an unreadable file yields one RecordError."""
        for item in items:
            if isinstance(item, Document):
                yield None, [item]
                continue
            try:
                files = list(iter_files([Path(item)]))
            except ReaderError as exc:
                yield None, [RecordError(source=str(item), reason=str(exc))]
                continue
            for path in files:
                yield str(path), self._read_file(path)

    @staticmethod
    def _read_file(path: Path) -> list[Document | RecordError]:
        try:
            return list(read_path(path))
        except ReaderError as exc:
            return [RecordError(source=str(path), reason=str(exc))]
        except Exception as exc:  # a reader bug must not stop the other files; record it with its type
            log.exception("reader crashed on %s", path)
            return [RecordError(source=str(path), reason=f"{path}: {type(exc).__name__}: {exc}")]

    def _fail(self, report: IngestReport, pending: _Pending, source: str, reason: str) -> None:
        log.warning("skipped %s", reason)
        report.failed += 1
        report.failures.append((source, reason))
        pending.failures.append((source, reason))

    def _add(self, doc: Document, report: IngestReport, pending: _Pending) -> None:
        if not doc.text.strip():
            self._fail(report, pending, doc.source, f"{doc.source}: document has no text")
            return
        doc_id = doc.id
        if doc_id in pending.ids or self.storage.store.has_document(doc_id):
            report.unchanged += 1
            return
        older = [d for d in self.storage.store.document_ids_for_source(doc.source) if d != doc_id]
        chunks = self.chunker.chunk(doc)
        if not chunks:
            self._fail(report, pending, doc.source, f"{doc.source}: no text to index after chunking")
            return
        pending.replaced += older
        report.replaced += bool(older)
        pending.docs.append((doc, chunks))
        pending.ids.add(doc_id)
        report.added += 1

    def _commit(self, pending: _Pending, report: IngestReport) -> None:
        if not (pending.docs or pending.replaced or pending.failures or pending.cleared):
            return
        texts = [_embedding_text(doc, c) for doc, chunks in pending.docs for c in chunks]
        vectors = self.embedder.embed_documents(texts) if texts else np.zeros((0, 0), np.float32)
        batch, offset = [], 0
        for doc, chunks in pending.docs:
            batch.append((doc, chunks, vectors[offset : offset + len(chunks)]))
            offset += len(chunks)
        failed_sources = {s for s, _ in pending.failures}
        report.chunks += self.storage.write_batch(
            batch,
            replaced_doc_ids=pending.replaced,
            failures=pending.failures,
            cleared_failures=[s for s in pending.cleared if s not in failed_sources],
        )


def _embedding_text(doc: Document, chunk: Chunk) -> str:
    """What is embedded for a chunk: its text, prefixed by the document title so that short chunks keep their
    subject."""
    return f"{doc.title}\n{chunk.text}" if doc.title and not chunk.text.startswith(doc.title) else chunk.text
