"""SQLite store: documents, chunks (with their embeddings, and optionally cross-lingual ones), the drug table of
DailyMed labels, and ingest failures; the source of truth.

Derived indexes (FAISS) are rebuilt from here. Each ``write_batch`` is one transaction, so a crash loses at most the
batch in flight.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.batch import Batch, FileState
from kb.core.drugs import DrugLabel, drug_label_from_document, name_keys
from kb.core.errors import KnowledgeBaseNotFound
from kb.core.filters import Filters
from kb.core.lexical import TOKENIZER, index_text
from kb.core.types import Document, Hit, Section

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6
#: Filters whose matching chunk ids `Store.matching_ids` keeps (least recently used first out).
_FILTER_CACHE_SIZE = 8
#: Deepest unfiltered BM25 prefix that filtered lexical search reads before it joins the filter into the query.
_PREFIX_MAX = 2000
DB_NAME = "kb.sqlite"

#: The second embedding of each chunk, by a multilingual encoder (the cross-lingual index); a chunk may lack one
#: (stored before the encoder was configured: ``KnowledgeBase.backfill_cross_lingual`` adds it).
XVECTOR_TABLE = "chunk_xvectors"
#: Tables holding one vector per chunk, keyed by the chunk's row id (the FAISS id), in a column ``embedding``.
VECTOR_TABLES = ("chunks", XVECTOR_TABLE)
_XL_MODEL_KEY = "cross_lingual_model"
#: Counts committed writes whose vectors the index files may not hold yet; 0 once they are saved.
_INDEX_PENDING_KEY = "index_pending"
#: A copy of manifest.json, from which a lost or edited one is restored.
_MANIFEST_KEY = "manifest"

# The lexical (BM25) index: one FTS5 row per chunk, same rowid, written in the chunk's transaction and deleted
# with it by the trigger (also when a document's chunks go by cascade).
_FTS_TABLE = f"CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(lex, tokenize = '{TOKENIZER}')"
_FTS_TRIGGER = """CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.rowid;
END"""
_LEXICAL_SCHEMA = f"{_FTS_TABLE};\n{_FTS_TRIGGER};\n"

# Cross-lingual vectors: written in the chunk's transaction (or later by a backfill), deleted with it by the trigger.
_XVEC_TABLE = f"CREATE TABLE IF NOT EXISTS {XVECTOR_TABLE} (rowid INTEGER PRIMARY KEY, embedding BLOB NOT NULL)"
_XVEC_TRIGGER = f"""CREATE TRIGGER IF NOT EXISTS {XVECTOR_TABLE}_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM {XVECTOR_TABLE} WHERE rowid = old.rowid;
END"""
_XVEC_SCHEMA = f"{_XVEC_TABLE};\n{_XVEC_TRIGGER};\n"

# The drug table: one row per DailyMed label document (`kb.core.drugs.DrugLabel` as JSON), and every lower-case name it
# is found by. Both go with their document by cascade, so replacing or deleting a label replaces or deletes its row.
_DRUG_SCHEMA = """
CREATE TABLE IF NOT EXISTS drug_labels (
    doc_id TEXT PRIMARY KEY REFERENCES documents(id) ON DELETE CASCADE,
    label TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS drug_names (
    name TEXT NOT NULL,
    doc_id TEXT NOT NULL REFERENCES drug_labels(doc_id) ON DELETE CASCADE,
    PRIMARY KEY (name, doc_id)
);
CREATE INDEX IF NOT EXISTS drug_names_doc ON drug_names(doc_id);
"""

# Metadata filters read this table instead of parsing every document's JSON metadata: one row per top-level key
# whose value is not null, the value as text (as ``CAST(json_extract(...) AS TEXT)`` gives it), deleted with its
# document by cascade. Documents are also found by date through an index on ``published``.
_METADATA_SCHEMA = """
CREATE TABLE IF NOT EXISTS document_metadata (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    PRIMARY KEY (key, value, doc_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS document_metadata_doc ON document_metadata(doc_id);
CREATE INDEX IF NOT EXISTS documents_published ON documents(published);
"""
_METADATA_VALUES = """SELECT j.key, CAST(j.value AS TEXT), d.id FROM documents d, json_each(d.metadata) j
    WHERE json_type(d.metadata) = 'object' AND j.value IS NOT NULL"""
_INSERT_METADATA = f"INSERT OR IGNORE INTO document_metadata(key, value, doc_id) {_METADATA_VALUES}"

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    sections TEXT NOT NULL,
    metadata TEXT NOT NULL,
    published TEXT,
    added_at TEXT NOT NULL DEFAULT (datetime('now')),
    origin TEXT,
    version INTEGER
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    section TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    page INTEGER,
    text TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS failures (
    source TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    records INTEGER NOT NULL,
    done_at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""
    + _LEXICAL_SCHEMA
    + _XVEC_SCHEMA
    + _DRUG_SCHEMA
    + _METADATA_SCHEMA
)

# Version 1 -> 2: documents remember the file they came from and their version; files read completely are
# recorded (incremental and resumable ingestion); chunk row ids are never reused (AUTOINCREMENT), so a vector
# index can trust that an id it holds still means the same chunk.
_MIGRATE_1_TO_2 = """
ALTER TABLE documents ADD COLUMN origin TEXT;
ALTER TABLE documents ADD COLUMN version INTEGER;
CREATE INDEX IF NOT EXISTS documents_origin ON documents(origin);
CREATE TABLE chunks_v2 (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    section TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    page INTEGER,
    text TEXT NOT NULL,
    token_count INTEGER NOT NULL,
    embedding BLOB NOT NULL
);
INSERT INTO chunks_v2
    SELECT rowid, id, doc_id, ord, section, start, end, page, text, token_count, embedding FROM chunks;
DROP TABLE chunks;
ALTER TABLE chunks_v2 RENAME TO chunks;
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"""


@dataclass
class BatchResult:
    """What one write did to the chunk table: FAISS ids to add (with vectors) and to remove, and the added ids that
    got a cross-lingual vector."""

    added_ids: np.ndarray
    added_vectors: np.ndarray
    removed_ids: np.ndarray
    added_xids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


class Store:
    """Thin typed access to ``kb.sqlite``."""

    def __init__(self, path: Path, *, create: bool = False) -> None:
        if not create and not path.is_file():
            raise KnowledgeBaseNotFound(f"{path.parent}: not a medkb knowledge base (no {DB_NAME})")
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._filter_cache: dict[tuple[str, tuple[Any, ...]], np.ndarray] = {}
        self._filter_state: tuple[int, int] | None = None
        self._chunk_documents: tuple[np.ndarray, np.ndarray] | None = None
        #: The `index_pending` count of this connection's last write that changed vectors (0: none yet).
        self.index_serial = 0
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        # Deleted documents are overwritten, not left in free pages: a note re-ingested with --deidentify must
        # not survive in the file.
        self._db.execute("PRAGMA secure_delete = ON")
        if create:
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        version = self.schema_version()
        if version == 1:
            self._migrate_from_1()
            version = self.schema_version()
        if version == 2:
            self._migrate_from_2()
            version = self.schema_version()
        if version == 3:
            self._migrate_from_3()
            version = self.schema_version()
        if version == 4:
            self._migrate_from_4()
            version = self.schema_version()
        if version == 5:
            self._migrate_from_5()
            version = self.schema_version()
        if version != SCHEMA_VERSION:
            raise KnowledgeBaseNotFound(f"{path}: schema version {version}, this medkb reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def _migrate_from_1(self) -> None:
        log.info("%s: upgrading the schema from version 1 to %d", self.path, SCHEMA_VERSION)
        self._db.execute("PRAGMA foreign_keys = OFF")
        try:
            self._db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_1_TO_2 + _SCHEMA + "COMMIT;")
        except sqlite3.DatabaseError:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        finally:
            self._db.execute("PRAGMA foreign_keys = ON")

    def schema_version(self) -> int:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise KnowledgeBaseNotFound(f"{self.path}: not a medkb database ({exc})") from exc
        return int(row[0]) if row else 0

    @contextmanager
    def _schema_step(self, version: int, statements: Iterable[str]) -> Iterator[sqlite3.Connection]:
        """One schema upgrade as one transaction: ``statements`` (the new tables) run, the caller fills them, and
        the schema version becomes ``version``; if any of it fails, nothing changes."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                db.execute(statement)
            yield db
            db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _migrate_from_2(self) -> None:
        """Version 2 -> 3: build the lexical index from the stored chunks."""
        log.info("%s: building the lexical index (schema version 2 to %d)", self.path, SCHEMA_VERSION)
        with self._schema_step(3, (_FTS_TABLE, _FTS_TRIGGER)) as db:
            db.execute("DELETE FROM chunks_fts")
            rows = db.execute(
                "SELECT c.rowid, d.title, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.rowid"
            )
            while batch := rows.fetchmany(2048):
                db.executemany(
                    "INSERT INTO chunks_fts(rowid, lex) VALUES (?, ?)", [(r, index_text(t, x)) for r, t, x in batch]
                )

    def _migrate_from_3(self) -> None:
        """Version 3 -> 4: the (empty) table of cross-lingual vectors; a backfill fills it."""
        log.info("%s: adding the cross-lingual vector table (schema version 3 to %d)", self.path, SCHEMA_VERSION)
        with self._schema_step(4, (_XVEC_TABLE, _XVEC_TRIGGER)):
            pass

    def _migrate_from_4(self) -> None:
        """Version 4 -> 5: the drug table, filled from the DailyMed labels already stored."""
        log.info("%s: building the drug table (schema version 4 to %d)", self.path, SCHEMA_VERSION)
        with self._schema_step(5, _statements(_DRUG_SCHEMA)) as db:
            db.execute("DELETE FROM drug_labels")
            rows = db.execute(
                "SELECT text, source, title, sections, metadata FROM documents"
                " WHERE source LIKE 'dailymed:%' OR json_extract(metadata, '$.source_name') = 'DailyMed'"
            )
            while batch := rows.fetchmany(256):
                for text, source, title, sections, metadata in batch:
                    spans = [Section(**s) for s in json.loads(sections)]
                    self._write_drug_label(Document(text, source, title, spans, json.loads(metadata)))

    def _migrate_from_5(self) -> None:
        """Version 5 -> 6: the table of metadata values (and the date index) that filters search."""
        log.info("%s: indexing document metadata (schema version 5 to %d)", self.path, SCHEMA_VERSION)
        with self._schema_step(6, _statements(_METADATA_SCHEMA)) as db:
            db.execute(_INSERT_METADATA)

    # -- reads -------------------------------------------------------------------------------------------------

    def has_document(self, doc_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None

    def versions_for_source(self, source: str) -> dict[str, int | None]:
        """{document id: version} of the stored documents with this ``source``."""
        return dict(self._db.execute("SELECT id, version FROM documents WHERE source = ?", (source,)).fetchall())

    def document_ids_for_origin(self, origin: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT id FROM documents WHERE origin = ?", (origin,))]

    def origins_of(self, doc_ids: Iterable[str]) -> list[str]:
        """The files the given documents were read from (documents given as objects have none)."""
        found: set[str] = set()
        ids = list(doc_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT DISTINCT origin FROM documents WHERE origin IS NOT NULL AND id IN ({marks})", part
            )
            found.update(r[0] for r in rows)
        return sorted(found)

    def origins(self) -> list[str]:
        """Every file some stored document or completed-file record came from."""
        rows = self._db.execute("SELECT origin FROM documents WHERE origin IS NOT NULL UNION SELECT path FROM files")
        return sorted(r[0] for r in rows)

    def count_documents_from(self, paths: Iterable[str]) -> int:
        """Documents read from these files or from files under these directories (absolute paths)."""
        total = 0
        for path in paths:
            prefix = path.rstrip("/") + "/"
            total += self._db.execute(
                "SELECT count(*) FROM documents WHERE origin = ? OR substr(origin, 1, length(?)) = ?",
                (path, prefix, prefix),
            ).fetchone()[0]
        return int(total)

    def file_state(self, path: str) -> FileState | None:
        row = self._db.execute(
            "SELECT path, size, mtime_ns, sha256, records FROM files WHERE path = ?", (path,)
        ).fetchone()
        return FileState(*row) if row else None

    def touch_file(self, state: FileState) -> None:
        """Record a new mtime for a file whose content hash is unchanged."""
        self._db.execute(
            "UPDATE files SET mtime_ns = ?, size = ? WHERE path = ?", (state.mtime_ns, state.size, state.path)
        )

    # The vector reads below take ``table``: ``chunks`` (the main embeddings) or ``chunk_xvectors`` (cross-lingual).

    def max_chunk_rowid(self, table: str = "chunks") -> int:
        return int(self._db.execute(f"SELECT coalesce(max(rowid), 0) FROM {_vector_table(table)}").fetchone()[0])

    def chunk_rowids(self, lo: int = 0, hi: int | None = None, table: str = "chunks") -> np.ndarray:
        """Sorted FAISS ids of the chunks (with a vector in ``table``) with ``lo <= rowid < hi``."""
        hi = hi if hi is not None else 2**62
        rows = self._db.execute(
            f"SELECT rowid FROM {_vector_table(table)} WHERE rowid >= ? AND rowid < ? ORDER BY rowid", (lo, hi)
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def range_checksum(self, lo: int, hi: int, table: str = "chunks") -> tuple[int, int]:
        """(count, sum of ids) of the rows of ``table`` with ``lo <= rowid < hi``."""
        n, total = self._db.execute(
            f"SELECT count(*), coalesce(sum(rowid), 0) FROM {_vector_table(table)} WHERE rowid >= ? AND rowid < ?",
            (lo, hi),
        ).fetchone()
        return int(n), int(total)

    def vectors_for(self, ids: Sequence[int], table: str = "chunks") -> tuple[np.ndarray, np.ndarray]:
        """(ids found, their vectors) for the given FAISS ids."""
        found: list[int] = []
        vecs: list[np.ndarray] = []
        name = _vector_table(table)
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            for rowid, blob in self._db.execute(
                f"SELECT rowid, embedding FROM {name} WHERE rowid IN ({marks}) ORDER BY rowid", part
            ):
                found.append(rowid)
                vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not vecs:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.asarray(found, dtype=np.int64), np.stack(vecs)

    def purge_deleted_text(self) -> None:
        """Rewrite the lexical index so that terms of deleted chunks leave the file too (FTS5 otherwise keeps them
        in old segments until a merge). Costs a pass over the whole lexical index."""
        self._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def lexical_search(self, expression: str, k: int, filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (FAISS ids, BM25 scores; higher is better) for an FTS5 ``MATCH`` expression (see
        `kb.core.lexical.match_expression`), among the chunks whose documents pass ``filters``."""
        filters = filters or Filters()
        if filters.empty:  # every row of the lexical index is a stored chunk: no join needed (3x faster)
            rows = self._db.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts)"
                " LIMIT ?",
                [expression, k],
            ).fetchall()
        else:
            rows = self._filtered_lexical(expression, k, filters)
        return np.asarray([r[0] for r in rows], dtype=np.int64), np.asarray([r[1] for r in rows], dtype=np.float32)

    def _filtered_lexical(self, expression: str, k: int, filters: Filters) -> list[tuple[int, float]]:
        """BM25 top ``k`` among the chunks passing ``filters``. When the filter passes enough chunks that the
        unfiltered top `_PREFIX_MAX` is expected to hold ``2k`` of them, that prefix is filtered by the chunk ids of
        `matching_ids`: exact, since any passing chunk outside the prefix scores below every chunk in it. Otherwise,
        or when the prefix holds fewer than ``k``, every match is read unsorted and filtered the same way. (Joining
        the filter into the FTS5 query instead made the broad filter's p95 113 ms against 72: SQLite evaluates the
        join for every match before it sorts; ``benchmarks/search.py``.)"""
        allowed = self.matching_ids(filters)
        if not allowed.size:
            return []
        largest = self._db.execute("SELECT coalesce(max(rowid), 1) FROM chunks").fetchone()[0]
        depth = int(2 * k * largest / allowed.size) + 1
        if depth <= _PREFIX_MAX:
            rows = self._db.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts)"
                " LIMIT ?",
                [expression, depth],
            ).fetchall()
            kept = [row for row, passes in zip(rows, np.isin([r[0] for r in rows], allowed), strict=True) if passes]
            if len(kept) >= k or len(rows) < depth:  # enough, or the prefix was every match there is
                return kept[:k]
        rows = self._db.execute(
            "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?", [expression]
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        scores = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        passing = np.isin(ids, allowed)
        ids, scores = ids[passing], scores[passing]
        top = np.lexsort((ids, -scores))[:k]  # best score first; ties by row id
        return [(int(ids[i]), float(scores[i])) for i in top]

    def chunk_table_state(self) -> tuple[int, int]:
        """(largest chunk row id, number of chunks): changes whenever chunks are added or deleted."""
        row = self._db.execute("SELECT coalesce(max(rowid), 0), count(*) FROM chunks").fetchone()
        return int(row[0]), int(row[1])

    def cjk_chunk_ids(self) -> np.ndarray:
        """Row ids of the chunks that hold Chinese (Han) characters, ascending."""
        rows = self._db.execute("SELECT rowid FROM chunks WHERE text GLOB '*[\u4e00-\u9fff]*' ORDER BY rowid")
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def lexical_problems(self) -> list[str]:
        """Differences between the lexical index and the chunks (empty when consistent)."""
        have = self._db.execute("SELECT count(*), coalesce(sum(rowid), 0) FROM chunks_fts").fetchone()
        want = self.chunk_id_checksum()
        if tuple(have) != want:
            return [
                f"lexical index holds {have[0]} rows (id sum {have[1]}), kb.sqlite {want[0]} chunks (id sum {want[1]})"
            ]
        return []

    def integrity_problems(self) -> list[str]:
        """SQLite's own integrity and foreign-key checks, documents left without chunks, stray cross-lingual
        vectors, and a metadata table that does not hold every document's metadata values."""
        problems = [r[0] for r in self._db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        orphans = self._db.execute("SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)")
        if n := orphans.fetchone()[0]:
            problems.append(f"{n} chunks belong to no document")
        empty = self._db.execute("SELECT count(*) FROM documents WHERE id NOT IN (SELECT doc_id FROM chunks)")
        if n := empty.fetchone()[0]:
            problems.append(f"{n} documents have no chunks")
        stray = self._db.execute(f"SELECT count(*) FROM {XVECTOR_TABLE} WHERE rowid NOT IN (SELECT rowid FROM chunks)")
        if n := stray.fetchone()[0]:
            problems.append(f"{n} cross-lingual vectors belong to no chunk")
        values = self._db.execute(f"SELECT count(*) FROM ({_METADATA_VALUES})").fetchone()[0]
        rows = self._db.execute("SELECT count(*) FROM document_metadata").fetchone()[0]
        if values != rows:
            problems.append(f"the metadata table holds {rows} of the documents' {values} metadata values")
        return problems

    def drug_labels_for(self, names: Iterable[str]) -> list[DrugLabel]:
        """The drug rows of the labels found by any of ``names`` (brand, generic or ingredient names, any case), in
        the order of the names, each once."""
        keys = list(dict.fromkeys(key for name in names for key in name_keys(name)))
        doc_ids: dict[str, None] = {}
        for key in keys:
            rows = self._db.execute("SELECT doc_id FROM drug_names WHERE name = ? ORDER BY doc_id", (key,))
            doc_ids.update(dict.fromkeys(r[0] for r in rows))
        labels = []
        for doc_id in doc_ids:
            row = self._db.execute(
                "SELECT d.source, d.title, l.label FROM drug_labels l JOIN documents d ON d.id = l.doc_id"
                " WHERE l.doc_id = ?",
                (doc_id,),
            ).fetchone()
            if row:
                labels.append(DrugLabel.from_json(doc_id, row[0], row[1], json.loads(row[2])))
        return labels

    def drug_names(self) -> set[str]:
        """Every name (lower case) that finds a drug label in this knowledge base."""
        return {r[0] for r in self._db.execute("SELECT DISTINCT name FROM drug_names")}

    def get_document(self, doc_id: str) -> Document | None:
        row = self._db.execute(
            "SELECT text, source, title, sections, metadata FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            return None
        sections = [Section(**s) for s in json.loads(row[3])]
        return Document(text=row[0], source=row[1], title=row[2], sections=sections, metadata=json.loads(row[4]))

    def counts(self) -> dict[str, int]:
        q = self._db.execute
        return {
            "documents": q("SELECT count(*) FROM documents").fetchone()[0],
            "chunks": q("SELECT count(*) FROM chunks").fetchone()[0],
            "failures": q("SELECT count(*) FROM failures").fetchone()[0],
        }

    def chunk_id_checksum(self) -> tuple[int, int]:
        """(count, sum of FAISS ids): cheap fingerprint to tell whether a vector index matches the store."""
        n, total = self._db.execute("SELECT count(*), coalesce(sum(rowid), 0) FROM chunks").fetchone()
        return int(n), int(total)

    def failures(self) -> list[tuple[str, str]]:
        return list(self._db.execute("SELECT source, reason FROM failures ORDER BY source"))

    # -- cross-lingual vectors -----------------------------------------------------------------------------------

    def cross_lingual_model(self) -> tuple[str, int] | None:
        """(name, dimension) of the encoder that made the stored cross-lingual vectors; None if never recorded."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_XL_MODEL_KEY,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return str(data["name"]), int(data["dim"])

    def set_cross_lingual_model(self, name: str, dim: int) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
            (_XL_MODEL_KEY, json.dumps({"name": name, "dim": dim})),
        )

    # -- the manifest's copy ------------------------------------------------------------------------------------

    def manifest_record(self) -> str | None:
        """The manifest (its JSON text) recorded when the knowledge base was made or last reshaped; None for one
        made before medkb kept this copy."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_MANIFEST_KEY,)).fetchone()
        return str(row[0]) if row else None

    def set_manifest_record(self, text: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (_MANIFEST_KEY, text))

    def embedding_dim(self) -> int | None:
        """The dimension of the stored chunk embeddings (of one chunk), or None when no chunk is stored."""
        row = self._db.execute("SELECT length(embedding) FROM chunks LIMIT 1").fetchone()
        return int(row[0]) // 4 if row else None

    # -- vector-index writes in progress ------------------------------------------------------------------------

    def _mark_index_pending(self) -> None:
        """Inside a write transaction that changed vectors: count one more write the vector indexes must still
        save, and remember the count (:attr:`index_serial`) so that :meth:`clear_index_pending` clears only ours."""
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, '1')"
            " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
            (_INDEX_PENDING_KEY,),
        )
        self.index_serial = self.index_pending()

    def index_pending(self) -> int:
        """Nonzero while a committed write may not have reached the vector index files yet: a writer was killed
        between its SQLite commit and saving the index, or has not saved it yet."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_INDEX_PENDING_KEY,)).fetchone()
        return int(row[0]) if row else 0

    def clear_index_pending(self, serial: int) -> bool:
        """Mark the vector indexes saved, unless a write was committed after the one numbered ``serial`` (by
        another writer, whose save is then still to come); returns whether it was cleared."""
        cur = self._db.execute(
            "UPDATE meta SET value = '0' WHERE key = ? AND CAST(value AS INTEGER) = ?", (_INDEX_PENDING_KEY, serial)
        )
        return bool(cur.rowcount)

    def count_xvectors(self) -> int:
        return int(self._db.execute(f"SELECT count(*) FROM {XVECTOR_TABLE}").fetchone()[0])

    def count_missing_xvectors(self) -> int:
        """Chunks without a cross-lingual vector."""
        sql = f"SELECT count(*) FROM chunks c WHERE NOT EXISTS (SELECT 1 FROM {XVECTOR_TABLE} WHERE rowid = c.rowid)"
        return int(self._db.execute(sql).fetchone()[0])

    def missing_xvectors(self, after: int, limit: int) -> list[tuple[int, str, str, str]]:
        """Up to ``limit`` chunks with row id above ``after`` that lack a cross-lingual vector, in row id order, as
        (row id, document title, section, chunk text)."""
        return self._db.execute(
            "SELECT c.rowid, d.title, c.section, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id"
            f" WHERE c.rowid > ? AND NOT EXISTS (SELECT 1 FROM {XVECTOR_TABLE} x WHERE x.rowid = c.rowid)"
            " ORDER BY c.rowid LIMIT ?",
            (after, limit),
        ).fetchall()

    def add_xvectors(self, ids: Sequence[int], vectors: np.ndarray) -> np.ndarray:
        """Store cross-lingual vectors of existing chunks that lack one, in one transaction; returns the ids stored."""
        stored: list[int] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for rowid, vec in zip(ids, vectors, strict=True):
                cur = db.execute(
                    f"INSERT OR IGNORE INTO {XVECTOR_TABLE}(rowid, embedding)"
                    " SELECT ?, ? WHERE EXISTS (SELECT 1 FROM chunks WHERE rowid = ?)",
                    (int(rowid), np.asarray(vec, dtype=np.float32).tobytes(), int(rowid)),
                )
                if cur.rowcount:
                    stored.append(int(rowid))
            if stored:
                self._mark_index_pending()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return np.asarray(stored, dtype=np.int64)

    def iter_vectors(
        self, batch: int = 4096, lo: int = 0, hi: int | None = None, table: str = "chunks"
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids, float32 matrix) for the chunks with ``lo <= rowid < hi`` (all by default), in rowid order."""
        hi = hi if hi is not None else 2**62
        cur = self._db.execute(
            f"SELECT rowid, embedding FROM {_vector_table(table)} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
            (lo, hi),
        )
        while rows := cur.fetchmany(batch):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            yield ids, vecs

    def matching_ids(self, filters: Filters) -> np.ndarray:
        """FAISS ids of the chunks whose documents pass ``filters`` (read-only; ascending).

        The filter is evaluated once per document, through the indexes `Filters.to_sql` uses; the passing
        documents' chunks come from a map of every chunk to its document, read once per state of the knowledge base.
        At 111,000 chunks a filter seen for the first time resolves in 0.1-7 ms (`benchmarks/search.py`,
        ``filter_ids_anatomy``). The last few answers are kept until the knowledge base changes (a write on this
        connection, or a commit by another: ``PRAGMA data_version``), since a session usually repeats its filters.
        """
        where, params = filters.to_sql()
        key = (where, tuple(params))
        state = (self._db.total_changes, self._db.execute("PRAGMA data_version").fetchone()[0])
        if self._filter_state != state:
            self._filter_cache.clear()
            self._chunk_documents = None
            self._filter_state = state
        cached = self._filter_cache.pop(key, None)
        if cached is None:
            chunk_ids, chunk_docs = self._chunk_document_map()
            sql = f"SELECT d.rowid FROM documents d WHERE {where}"
            passing = np.fromiter((r[0] for r in self._db.execute(sql, params)), dtype=np.int64)
            mask = np.zeros(int(chunk_docs.max(initial=0)) + 1, dtype=bool)
            mask[passing[passing < mask.size]] = True
            cached = chunk_ids[mask[chunk_docs]]
            cached.setflags(write=False)
        self._filter_cache[key] = cached
        while len(self._filter_cache) > _FILTER_CACHE_SIZE:
            self._filter_cache.pop(next(iter(self._filter_cache)))
        return cached

    def _chunk_document_map(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk row ids ascending, the row id of each one's document), cached with the filters."""
        if self._chunk_documents is None:
            rows = self._db.execute(
                "SELECT c.rowid, d.rowid FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.rowid"
            ).fetchall()
            chunk_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            chunk_docs = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
            self._chunk_documents = (chunk_ids, chunk_docs)
        return self._chunk_documents

    def clear_filter_cache(self) -> None:
        """Forget the chunk ids of recent filters (`matching_ids` then reads them again). The chunk -> document
        map stays: it depends on the knowledge base's state only, and is read again whenever that changes."""
        self._filter_cache.clear()

    def hits(
        self,
        ids: Sequence[int],
        scores: Sequence[float],
        kind: str = "dense",
        extra: Mapping[str, Mapping[int, float]] | None = None,
    ) -> list[Hit]:
        """Hits for FAISS ids, in the order given; ``kind`` names the score (``dense``, ``lexical``, ``hybrid``) and
        ``extra`` adds other scores by id (``{"lexical": {id: bm25}}``) to ``hit.scores``."""
        if not len(ids):
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            "SELECT c.rowid, c.id, c.doc_id, c.text, c.section, c.start, c.end, c.page, d.title, d.source, d.metadata"
            f" FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.rowid IN ({marks})",
            [int(i) for i in ids],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        out = []
        for rank, (i, score) in enumerate(zip(ids, scores, strict=True), start=1):
            r = by_id.get(int(i))
            if r is None:
                continue
            out.append(
                Hit(
                    chunk_id=r[1],
                    doc_id=r[2],
                    text=r[3],
                    section=r[4],
                    start=r[5],
                    end=r[6],
                    page=r[7],
                    title=r[8],
                    source=r[9],
                    metadata=json.loads(r[10]),
                    score=float(score),
                    scores={kind: float(score)}
                    | {name: float(m[int(i)]) for name, m in (extra or {}).items() if int(i) in m},
                    rank=rank,
                )
            )
        return out

    # -- writes ------------------------------------------------------------------------------------------------

    def write_batch(self, batch: Batch) -> BatchResult:
        """In one transaction: delete documents (replaced, withdrawn or gone), insert new documents with their
        chunks and vectors (and cross-lingual vectors), record (or clear) per-source failures, and record the files
        now read completely (`Batch` says what each field holds)."""
        documents = list(batch.documents)
        for new in documents:
            if new.xvectors is not None and len(new.xvectors) != len(new.chunks):
                raise ValueError(
                    f"{new.document.source}: {len(new.xvectors)} cross-lingual vectors for {len(new.chunks)} chunks"
                )
        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        added_xids: list[int] = []
        removed: list[int] = []
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for doc_id in dict.fromkeys(batch.deleted_doc_ids):
                removed += [r[0] for r in db.execute("SELECT rowid FROM chunks WHERE doc_id = ?", (doc_id,))]
                db.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            for new in documents:
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
                        json.dumps(doc.metadata, ensure_ascii=False, default=str),
                        _normalise_date(doc.metadata.get("published")),
                        new.origin,
                        version if isinstance(version, int) and not isinstance(version, bool) else None,
                    ),
                ).rowcount
                if inserted:
                    db.execute(_INSERT_METADATA + " AND d.id = ?", (doc.id,))
                    self._write_drug_label(doc)
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
                    if cur.rowcount:
                        rowid = int(cur.lastrowid or 0)
                        db.execute(
                            "INSERT INTO chunks_fts(rowid, lex) VALUES (?, ?)",
                            (rowid, index_text(doc.title, chunk.text)),
                        )
                        added_ids.append(rowid)
                        added_vecs.append(vec)
                        if new.xvectors is not None:
                            db.execute(
                                f"INSERT INTO {XVECTOR_TABLE}(rowid, embedding) VALUES (?, ?)",
                                (rowid, np.asarray(new.xvectors[ord_], dtype=np.float32).tobytes()),
                            )
                            added_xids.append(rowid)
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
            if added_ids or removed:
                self._mark_index_pending()
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        dim = added_vecs[0].shape[-1] if added_vecs else 0
        return BatchResult(
            added_ids=np.asarray(added_ids, dtype=np.int64),
            added_vectors=np.stack(added_vecs).astype(np.float32) if added_vecs else np.zeros((0, dim), np.float32),
            removed_ids=np.asarray(removed, dtype=np.int64),
            added_xids=np.asarray(added_xids, dtype=np.int64),
        )

    def _write_drug_label(self, doc: Document) -> None:
        """Store the drug row of ``doc`` (already stored) if it is a drug label; inside the caller's transaction."""
        label = drug_label_from_document(doc)
        if label is None:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO drug_labels(doc_id, label) VALUES (?, ?)",
            (label.doc_id, json.dumps(label.to_json(), ensure_ascii=False)),
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO drug_names(name, doc_id) VALUES (?, ?)",
            [(name, label.doc_id) for name in sorted(label.lookup_names())],
        )


def _statements(script: str) -> list[str]:
    """The statements of a schema script without triggers (a trigger body holds ``;`` of its own)."""
    return [statement for statement in script.split(";") if statement.strip()]


def _vector_table(table: str) -> str:
    """``table`` if it holds vectors by chunk row id (it goes into SQL text, so only known names pass)."""
    if table not in VECTOR_TABLES:
        raise ValueError(f"vector table {table!r}: expected one of {', '.join(VECTOR_TABLES)}")
    return table


def _normalise_date(value: Any) -> str | None:
    """ISO-like ``YYYY[-MM[-DD]]`` prefix of a date value, so date ranges compare as strings."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    return text[:10] if text[:4].isdigit() else None
