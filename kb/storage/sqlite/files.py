"""Which files an ingest read completely (so that an unchanged file is skipped), and what failed to go in."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from kb.core.batch import FileState


class FileRecords:
    """The ``files`` and ``failures`` tables, and the file each stored document was read from."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

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

    def failures(self) -> list[tuple[str, str]]:
        """(source, reason) of every input that failed to go in, by source."""
        return list(self._db.execute("SELECT source, reason FROM failures ORDER BY source"))
