"""Reading a knowledge base's chunks through a read-only connection, while it may be open for writing elsewhere."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kb.core.errors import MedkbError
from kb.storage.sqlite.schema import DB_NAME

#: (row id, document id, section, text) of one chunk.
ChunkRow = tuple[int, str, str, str]


def read_titles_and_chunks(directory: Path) -> tuple[dict[str, str], list[ChunkRow]]:
    """({document id: title}, every chunk as (row id, document id, section, text) by document and position) of the
    knowledge base in ``directory``."""
    path = directory / DB_NAME
    if not path.is_file():
        raise MedkbError(f"{directory}: not a medkb knowledge base (no {DB_NAME})")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        titles = dict(db.execute("SELECT id, title FROM documents ORDER BY id"))
        rows = db.execute("SELECT rowid, doc_id, section, text FROM chunks ORDER BY doc_id, ord")
        chunks = [(int(rowid), doc_id, section or "", text) for rowid, doc_id, section, text in rows]
    finally:
        db.close()
    return titles, chunks
