"""What every reader shares: the `Reader` contract, per-record errors and safe file decoding."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from kb.errors import ReaderError
from kb.types import Document

logger = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
TITLE_MAX_CHARS = 200


@dataclass(frozen=True)
class RecordError:
    """One record of a multi-record file that could not be read; the reader goes on with the next record.

    ``source`` names the record (``path#L12``), ``reason`` says what was wrong with it.
    """

    source: str
    reason: str


@dataclass(frozen=True)
class Deletion:
    """An update file's instruction to withdraw a document read earlier (a PubMed ``DeleteCitation``).

    Every stored document whose ``source`` equals ``source`` (``pubmed:12345``) is removed; ``reason`` says where
    the instruction came from.
    """

    source: str
    reason: str = ""


#: What a reader yields: documents, per-record errors and deletions.
ReadItem = Document | RecordError | Deletion


@runtime_checkable
class Reader(Protocol):
    """Turns one file into documents. A file that cannot be read at all raises `ReaderError`; a bad record
    inside a multi-record file is yielded as a `RecordError` so the caller can record it and carry on.

    Readers stream: they yield as they parse and never hold a whole multi-record file in memory. A reader may
    raise `ReaderError` after yielding some documents (a truncated file); those documents stand.

    Records with a stable identity use it as ``Document.source`` (``pubmed:<PMID>``, ``pmc:<PMCID>``,
    ``dailymed:<set id>``), so a newer copy read from another file replaces the older one. An integer
    ``metadata["version"]`` orders copies of the same source: an older version never replaces a newer one.
    """

    def read(self, path: Path) -> Iterator[ReadItem]: ...


def read_bytes(path: Path) -> bytes:
    """The file's bytes; `ReaderError` if it cannot be opened or holds nothing but whitespace."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReaderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not data.removeprefix(UTF8_BOM).strip():
        raise ReaderError(f"{path}: empty file")
    return data


def decode_utf8(path: Path, data: bytes) -> str:
    """``data`` as UTF-8 (a leading BOM dropped); the error names the first bad byte's offset in the file."""
    body = data.removeprefix(UTF8_BOM)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + len(data) - len(body)
        raise ReaderError(f"{path}: not valid UTF-8 text (byte {offset}); re-save it as UTF-8") from exc


def read_text(path: Path) -> str:
    """The file decoded as UTF-8; `ReaderError` if unreadable, not UTF-8, or blank."""
    text = decode_utf8(path, read_bytes(path))
    if not text.strip():
        raise ReaderError(f"{path}: empty file")
    return text


def first_line(text: str) -> str:
    """The first non-blank line, stripped and cut to `TITLE_MAX_CHARS`; "" when there is none."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:TITLE_MAX_CHARS]
    return ""
