"""What one ingest transaction writes: new documents with their chunks and vectors, deletions, failures recorded
or cleared, and the files now read completely. The ingest stage fills a `Batch`; storage commits it whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kb.core.types import Chunk, Document


@dataclass(frozen=True)
class FileState:
    """A file read completely into the knowledge base: what it looked like then."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    records: int = 0


@dataclass(frozen=True)
class NewDocument:
    """A document ready to store: its chunks, their vectors (and cross-lingual vectors, one row per chunk, when a
    multilingual encoder is configured), and the file it was read from (if any)."""

    document: Document
    chunks: Sequence[Chunk]
    vectors: np.ndarray
    origin: str | None = None
    xvectors: np.ndarray | None = None


@dataclass(frozen=True)
class Batch:
    """One transaction: delete ``deleted_doc_ids`` (replaced, withdrawn or gone), insert ``documents``, record
    ``failures`` (source, reason) and clear ``cleared_failures`` (a file and its records), forget the files
    ``files_forgotten`` and record ``files_done`` as read, and note the file each of ``claimed`` (doc id, origin)
    came from when it was stored before files were tracked."""

    documents: Sequence[NewDocument] = ()
    deleted_doc_ids: Sequence[str] = ()
    failures: Sequence[tuple[str, str]] = ()
    cleared_failures: Sequence[str] = ()
    files_done: Sequence[FileState] = ()
    files_forgotten: Sequence[str] = ()
    claimed: Sequence[tuple[str, str]] = field(default_factory=tuple)
