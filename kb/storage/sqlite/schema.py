"""The tables of ``kb.sqlite``, opening the file, and upgrading one written by an older medkb."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kb.core.errors import KnowledgeBaseNotFound
from kb.core.lexical import TOKENIZER, index_text
from kb.core.types import Document, Section
from kb.storage.sqlite.drug_labels import write_drug_label

log = logging.getLogger(__name__)

SCHEMA_VERSION = 7
DB_NAME = "kb.sqlite"

#: The second embedding of each chunk, by a multilingual encoder (the cross-lingual index); a chunk may lack one
#: (stored before the encoder was configured: ``KnowledgeBase.backfill_cross_lingual`` adds it).
XVECTOR_TABLE = "chunk_xvectors"

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
#: Every (key, value as text, document id) that `document_metadata` should hold.
METADATA_VALUES = """SELECT j.key, CAST(j.value AS TEXT), d.id FROM documents d, json_each(d.metadata) j
    WHERE json_type(d.metadata) = 'object' AND j.value IS NOT NULL"""
#: Fills `document_metadata` (append ``AND d.id = ?`` for one document).
INSERT_METADATA = f"INSERT OR IGNORE INTO document_metadata(key, value, doc_id) {METADATA_VALUES}"

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


def open_database(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """A connection to the knowledge base file ``path`` (made when ``create``), upgraded to `SCHEMA_VERSION`."""
    if not create and not path.is_file():
        raise KnowledgeBaseNotFound(f"{path.parent}: not a medkb knowledge base (no {DB_NAME})")
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        # Deleted documents are overwritten, not left in free pages: a note re-ingested with --deidentify must
        # not survive in the file.
        db.execute("PRAGMA secure_delete = ON")
        if create:
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        _upgrade(db, path)
    except BaseException:
        db.close()
        raise
    return db


def schema_version(db: sqlite3.Connection, path: Path) -> int:
    """The schema version recorded in the file (0 when none is)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise KnowledgeBaseNotFound(f"{path}: not a medkb database ({exc})") from exc
    return int(row[0]) if row else 0


def _upgrade(db: sqlite3.Connection, path: Path) -> None:
    steps = {
        1: _migrate_from_1,
        2: _migrate_from_2,
        3: _migrate_from_3,
        4: _migrate_from_4,
        5: _migrate_from_5,
        6: _migrate_from_6,
    }
    version = schema_version(db, path)
    while version in steps:
        steps[version](db, path)
        version = schema_version(db, path)
    if version != SCHEMA_VERSION:
        raise KnowledgeBaseNotFound(f"{path}: schema version {version}, this medkb reads {SCHEMA_VERSION}")


@contextmanager
def _schema_step(db: sqlite3.Connection, version: int, statements: Iterable[str]) -> Iterator[sqlite3.Connection]:
    """One schema upgrade as one transaction: ``statements`` (the new tables) run, the caller fills them, and the
    schema version becomes ``version``; if any of it fails, nothing changes."""
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


def _migrate_from_1(db: sqlite3.Connection, path: Path) -> None:
    log.info("%s: upgrading the schema from version 1 to %d", path, SCHEMA_VERSION)
    db.execute("PRAGMA foreign_keys = OFF")
    try:
        db.executescript("BEGIN IMMEDIATE;" + _MIGRATE_1_TO_2 + _SCHEMA + "COMMIT;")
    except sqlite3.DatabaseError:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        db.execute("PRAGMA foreign_keys = ON")


def _migrate_from_2(db: sqlite3.Connection, path: Path) -> None:
    """Version 2 -> 3: build the lexical index from the stored chunks."""
    log.info("%s: building the lexical index (schema version 2 to %d)", path, SCHEMA_VERSION)
    with _schema_step(db, 3, (_FTS_TABLE, _FTS_TRIGGER)):
        db.execute("DELETE FROM chunks_fts")
        rows = db.execute(
            "SELECT c.rowid, d.title, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.rowid"
        )
        while batch := rows.fetchmany(2048):
            db.executemany(
                "INSERT INTO chunks_fts(rowid, lex) VALUES (?, ?)", [(r, index_text(t, x)) for r, t, x in batch]
            )


def _migrate_from_3(db: sqlite3.Connection, path: Path) -> None:
    """Version 3 -> 4: the (empty) table of cross-lingual vectors; a backfill fills it."""
    log.info("%s: adding the cross-lingual vector table (schema version 3 to %d)", path, SCHEMA_VERSION)
    with _schema_step(db, 4, (_XVEC_TABLE, _XVEC_TRIGGER)):
        pass


def _migrate_from_4(db: sqlite3.Connection, path: Path) -> None:
    """Version 4 -> 5: the drug table, filled from the DailyMed labels already stored."""
    log.info("%s: building the drug table (schema version 4 to %d)", path, SCHEMA_VERSION)
    with _schema_step(db, 5, _statements(_DRUG_SCHEMA)):
        _fill_drug_table(db)


def _migrate_from_6(db: sqlite3.Connection, path: Path) -> None:
    """Version 6 -> 7: the drug table again, now with the pregnancy, nursing, pediatric, geriatric and older-label
    precautions sections its checks read."""
    log.info("%s: rebuilding the drug table (schema version 6 to %d)", path, SCHEMA_VERSION)
    with _schema_step(db, 7, ()):
        _fill_drug_table(db)


def _fill_drug_table(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM drug_labels")
    rows = db.execute(
        "SELECT text, source, title, sections, metadata FROM documents"
        " WHERE source LIKE 'dailymed:%' OR json_extract(metadata, '$.source_name') = 'DailyMed'"
    )
    while batch := rows.fetchmany(256):
        for text, source, title, sections, metadata in batch:
            spans = [Section(**s) for s in json.loads(sections)]
            write_drug_label(db, Document(text, source, title, spans, json.loads(metadata)))


def _migrate_from_5(db: sqlite3.Connection, path: Path) -> None:
    """Version 5 -> 6: the table of metadata values (and the date index) that filters search."""
    log.info("%s: indexing document metadata (schema version 5 to %d)", path, SCHEMA_VERSION)
    with _schema_step(db, 6, _statements(_METADATA_SCHEMA)):
        db.execute(INSERT_METADATA)


def _statements(script: str) -> list[str]:
    """The statements of a schema script without triggers (a trigger body holds ``;`` of its own)."""
    return [statement for statement in script.split(";") if statement.strip()]
