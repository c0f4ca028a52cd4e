"""One `~kb.core.batch.Batch` written in one SQLite transaction, across documents, chunks, the lexical index, the
vectors, the drug table, the metadata table, failures and file records; a crash loses at most the batch in flight."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kb.core.batch import Batch, NewDocument
from kb.core.lexical import index_text
from kb.storage.sqlite.drug_labels import write_drug_label
from kb.storage.sqlite.meta import Meta
from kb.storage.sqlite.schema import INSERT_METADATA, XVECTOR_TABLE


@dataclass
class BatchResult:
    """What one write did to the chunk table: row ids to add to the vector index (with vectors) and to remove, and
    the added ids that got a cross-lingual vector."""

    added_ids: np.ndarray
    added_vectors: np.ndarray
    removed_ids: np.ndarray
    added_xids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass
class _Added:
    ids: list[int] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    xids: list[int] = field(default_factory=list)


def write_batch(db: sqlite3.Connection, meta: Meta, batch: Batch) -> BatchResult:
    """In one transaction: delete documents (replaced, withdrawn or gone), insert new documents with their chunks
    and vectors (and cross-lingual vectors), record (or clear) per-source failures, and record the files now read
    completely (`Batch` says what each field holds)."""
    documents = list(batch.documents)
    for new in documents:
        if new.xvectors is not None and len(new.xvectors) != len(new.chunks):
            raise ValueError(
                f"{new.document.source}: {len(new.xvectors)} cross-lingual vectors for {len(new.chunks)} chunks"
            )
    added = _Added()
    removed: list[int] = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for doc_id in dict.fromkeys(batch.deleted_doc_ids):
            removed += [r[0] for r in db.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))]
            db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        for new in documents:
            _insert_document(db, new, added)
        _record_files(db, batch)
        if added.ids or removed:
            meta.mark_index_pending()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    dim = added.vectors[0].shape[-1] if added.vectors else 0
    return BatchResult(
        added_ids=np.asarray(added.ids, dtype=np.int64),
        added_vectors=np.stack(added.vectors).astype(np.float32) if added.vectors else np.zeros((0, dim), np.float32),
        removed_ids=np.asarray(removed, dtype=np.int64),
        added_xids=np.asarray(added.xids, dtype=np.int64),
    )


def _insert_document(db: sqlite3.Connection, new: NewDocument, added: _Added) -> None:
    """The document (unless stored already), its metadata rows and drug row, and its chunks not stored yet with their
    lexical rows and vectors."""
    doc = new.document
    version = doc.metadata.get("version")
    inserted = db.execute(
        "INSERT OR IGNORE INTO documents(id, source, title, text, sections, metadata, published, origin,"
        " version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            doc.id,
            doc.source,
            doc.title,
            doc.text,
            json.dumps([s.__dict__ for s in doc.sections]),
            json.dumps(_json_safe(doc.metadata), ensure_ascii=False, default=str),
            _normalise_date(doc.metadata.get("published")),
            new.origin,
            version if isinstance(version, int) and not isinstance(version, bool) else None,
        ),
    ).rowcount
    if inserted:
        db.execute(INSERT_METADATA + " AND d.id = ?", (doc.id,))
        write_drug_label(db, doc)
    for ord_, (chunk, vec) in enumerate(zip(new.chunks, new.vectors, strict=True)):
        cur = db.execute(
            "INSERT OR IGNORE INTO chunks(id, doc_id, ord, section, start, end, page, text, token_count,"
            " embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                chunk.id,
                chunk.doc_id,
                ord_,
                chunk.section,
                chunk.start,
                chunk.end,
                chunk.page,
                chunk.text,
                chunk.token_count,
                np.asarray(vec, dtype=np.float32).tobytes(),
            ),
        )
        if not cur.rowcount:
            continue
        rowid = int(cur.lastrowid or 0)
        db.execute("INSERT INTO chunks_fts(rowid, lex) VALUES (?, ?)", (rowid, index_text(doc.title, chunk.text)))
        added.ids.append(rowid)
        added.vectors.append(vec)
        if new.xvectors is not None:
            db.execute(
                f"INSERT INTO {XVECTOR_TABLE}(rowid, embedding) VALUES (?, ?)",
                (rowid, np.asarray(new.xvectors[ord_], dtype=np.float32).tobytes()),
            )
            added.xids.append(rowid)


def _record_files(db: sqlite3.Connection, batch: Batch) -> None:
    """Failures recorded and cleared, documents claimed by their file, and file records forgotten and written."""
    for source in batch.cleared_failures:  # the file and the records in it (``path#L12``)
        db.execute(
            "DELETE FROM failures WHERE source = ? OR substr(source, 1, length(?) + 1) = ? || '#'",
            (source, source, source),
        )
    for source, reason in batch.failures:
        db.execute("INSERT OR REPLACE INTO failures(source, reason) VALUES (?, ?)", (source, reason))
    for doc_id, origin in batch.claimed:  # stored before files were tracked (schema 1): record where they live
        db.execute("UPDATE documents SET origin = ? WHERE id = ? AND origin IS NULL", (origin, doc_id))
    for path in batch.files_forgotten:
        db.execute("DELETE FROM files WHERE path = ?", (path,))
    for f in batch.files_done:
        db.execute(
            "INSERT OR REPLACE INTO files(path, size, mtime_ns, sha256, records) VALUES (?, ?, ?, ?, ?)",
            (f.path, f.size, f.mtime_ns, f.sha256, f.records),
        )


def _json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float made null: JSON has no such numbers (Python writes ``NaN``, which
    SQLite's JSON functions refuse), and a reader may pass one through from its input."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _normalise_date(value: Any) -> str | None:
    """ISO-like ``YYYY[-MM[-DD]]`` prefix of a date value, so date ranges compare as strings."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    return text[:10] if text[:4].isdigit() else None
