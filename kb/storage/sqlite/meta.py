"""The key-value ``meta`` table: which encoder made the cross-lingual vectors, the manifest's copy, and the count of
committed writes the vector index files may not hold yet."""

from __future__ import annotations

import json
import sqlite3

_XL_MODEL_KEY = "cross_lingual_model"
#: Counts committed writes whose vectors the index files may not hold yet; 0 once they are saved.
_INDEX_PENDING_KEY = "index_pending"
#: A copy of manifest.json, from which a lost or edited one is restored.
_MANIFEST_KEY = "manifest"


class Meta:
    """Facts about the knowledge base as a whole, kept in ``kb.sqlite``."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        #: The `index_pending` count of this connection's last write that changed vectors (0: none unsaved).
        self.index_serial = 0

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

    def manifest_record(self) -> str | None:
        """The manifest (its JSON text) recorded when the knowledge base was made or last reshaped; None for one
        made before medkb kept this copy."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (_MANIFEST_KEY,)).fetchone()
        return str(row[0]) if row else None

    def set_manifest_record(self, text: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (_MANIFEST_KEY, text))

    def mark_index_pending(self) -> None:
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
