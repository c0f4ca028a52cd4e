"""How an ingest run reports its progress: each record it processes, and each item (a file, a path it could not
read or passed over, a document given) it finishes. The display is the caller's (the CLI shows a bar or plain
lines); `ingest.readers.count_records` estimates how many records a file holds, for the total."""

from __future__ import annotations

from typing import Protocol


class IngestProgress(Protocol):
    def record(self) -> None:
        """A record of the file being read was processed (stored, found unchanged, or failed)."""

    def item_done(self, path: str | None) -> None:
        """An item of the run is done: a file (``path``), or a failed or skipped path or a given document (None)."""
