"""PDF (``.pdf``) through pypdf: one section per page, so citations can name the page."""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.readers.base import RecordError, first_line, read_bytes
from kb.core.errors import ReaderError
from kb.core.types import Document, Section

if TYPE_CHECKING:
    import pypdf

logger = logging.getLogger(__name__)

PAGE_SEPARATOR = "\n\n"
#: PDFs are parsed in memory; larger ones are refused with a clear error rather than exhausting it.
MAX_PDF_BYTES = 512 * 2**20

# pypdf's logger is shared by the process; the lock keeps concurrent reads from restoring it out of order.
_PYPDF_LOGGING_LOCK = threading.Lock()


class PdfReader:
    """Reads a PDF's text layer; scanned PDFs without one are refused rather than indexed empty."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        data = read_bytes(path, limit=MAX_PDF_BYTES, kind="PDFs")
        with _pypdf_logs_at_debug():
            title, pages = _extract(path, data)
        text = PAGE_SEPARATOR.join(pages)
        if not text.strip():
            raise ReaderError(f"{path}: PDF has no extractable text (scanned?)")
        sections = []
        start = 0
        for number, page_text in enumerate(pages, start=1):
            if page_text.strip():
                sections.append(Section(title=f"page {number}", start=start, end=start + len(page_text), page=number))
            start += len(page_text) + len(PAGE_SEPARATOR)
        yield Document(
            text=text,
            source=str(path),
            title=title or first_line(text) or path.stem,
            sections=sections,
            metadata={"pages": len(pages)},
        )


def _extract(path: Path, data: bytes) -> tuple[str, list[str]]:
    """``(metadata title, text of each page)``; any pypdf failure becomes a `ReaderError`."""
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
            raise ReaderError(f"{path}: not a readable PDF (encrypted with a password)")
        return _title(reader), [(page.extract_text() or "").strip() for page in reader.pages]
    except ReaderError:
        raise
    except Exception as exc:  # pypdf raises many types (PdfReadError, KeyError, ValueError...) on broken files
        raise ReaderError(f"{path}: not a readable PDF ({type(exc).__name__}: {exc})") from exc


def _title(reader: pypdf.PdfReader) -> str:
    info = reader.metadata
    title = info.title if info is not None else None
    return title.strip() if isinstance(title, str) else ""


class _ToDebug(logging.Handler):
    """Re-logs pypdf's records on this module's logger at DEBUG: they describe repairs, not failures."""

    def emit(self, record: logging.LogRecord) -> None:
        logger.debug("pypdf: %s", record.getMessage())


@contextmanager
def _pypdf_logs_at_debug() -> Iterator[None]:
    """Route pypdf's warnings (log records and `warnings.warn`) to this module's logger at DEBUG."""
    pypdf_logger = logging.getLogger("pypdf")
    handler = _ToDebug()
    with _PYPDF_LOGGING_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        propagate = pypdf_logger.propagate
        pypdf_logger.addHandler(handler)
        pypdf_logger.propagate = False
        try:
            yield
        finally:
            pypdf_logger.removeHandler(handler)
            pypdf_logger.propagate = propagate
    for warning in caught:
        logger.debug("pypdf: %s", warning.message)
