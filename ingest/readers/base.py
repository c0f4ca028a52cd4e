"""What every reader shares: the `Reader` contract, per-record errors, safe file decoding and bounded line reading."""

from __future__ import annotations

import codecs
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from kb.core.errors import ReaderError
from kb.core.types import Document

logger = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
TITLE_MAX_CHARS = 200

#: Whole-file text readers (text, Markdown, HTML) refuse larger files rather than load them into memory.
MAX_TEXT_FILE_BYTES = 64 * 2**20
#: Line readers (JSON Lines, CSV) skip a longer line as a `RecordError`, reading it in blocks and discarding it.
MAX_RECORD_BYTES = 16 * 2**20
#: How much of a text file is looked at for NUL bytes, which mean it is not text at all.
BINARY_SNIFF_BYTES = 64 * 2**10
#: The encodings text files may be in, tried in this order (GB18030 is a superset of GBK and GB2312).
TEXT_ENCODINGS = ("utf-8", "gb18030")

_DISCARD_BLOCK = 4 * 2**20
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


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


def format_size(size: int) -> str:
    """``1.0 GiB``, ``12.5 MiB``, ``300 B``: a byte count for messages."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def format_limit(size: int) -> str:
    """A limit for messages: ``64 MiB`` when it is a whole number of units, else as `format_size`."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return format_size(size)


def read_bytes(path: Path, limit: int | None = None, kind: str = "text files") -> bytes:
    """The file's bytes; `ReaderError` if it cannot be opened, holds nothing but whitespace, or is larger than
    ``limit`` bytes (checked before reading, and never more than ``limit + 1`` bytes are read)."""
    try:
        with path.open("rb") as handle:
            if limit is not None:
                size = _size_of(handle)
                if size > limit:
                    raise ReaderError(_too_big(path, size, limit, kind))
            data = handle.read() if limit is None else handle.read(limit + 1)
    except OSError as exc:
        raise ReaderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if limit is not None and len(data) > limit:  # the file grew while we looked
        raise ReaderError(_too_big(path, len(data), limit, kind))
    if not data.removeprefix(UTF8_BOM).strip():
        raise ReaderError(f"{path}: empty file")
    return data


def _size_of(handle: BinaryIO) -> int:
    return os.fstat(handle.fileno()).st_size


def _too_big(path: Path, size: int, limit: int, kind: str = "text files") -> str:
    hint = " (split it, or use JSON Lines/CSV)" if kind == "text files" else ""
    return f"{path}: file is {format_size(size)}; {kind} over {format_limit(limit)} are not read whole{hint}"


def check_text_start(path: Path, head: bytes) -> None:
    """`ReaderError` when a text file's first bytes show it is not UTF-8 or GB18030 text at all: NUL bytes (an
    image or archive with a text extension) or a UTF-16 byte order mark."""
    if head.startswith(_UTF16_BOMS):
        raise ReaderError(_not_text(path, 0, utf16=True))
    if b"\x00" in head[:BINARY_SNIFF_BYTES]:
        raise ReaderError(f"{path}: binary data (NUL bytes) in a text file; expected UTF-8 or GB18030 text")


def detect_encoding(path: Path, head: bytes, *, complete: bool) -> str:
    """The first of `TEXT_ENCODINGS` that decodes ``head`` strictly: the whole file when ``complete``, else its
    start (a character cut at the end of ``head`` is allowed). `ReaderError` naming the first bad byte otherwise.
    """
    return _decode(path, head, complete=complete)[1]


def decode_text(path: Path, data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` for a whole file's bytes: UTF-8 (a leading BOM dropped), else GB18030.

    `ReaderError` for binary data, UTF-16, or bytes valid in neither encoding; a non-UTF-8 encoding is logged.
    """
    check_text_start(path, data)
    text, encoding = _decode(path, data, complete=True)
    if encoding != "utf-8":
        logger.info("%s: decoded as %s", path, encoding.upper())
    return text, encoding


def _decode(path: Path, data: bytes, *, complete: bool) -> tuple[str, str]:
    body = data.removeprefix(UTF8_BOM)
    first_bad = 0
    for encoding in TEXT_ENCODINGS:
        try:
            return codecs.getincrementaldecoder(encoding)("strict").decode(body, final=complete), encoding
        except UnicodeDecodeError as exc:
            if encoding == "utf-8":
                first_bad = exc.start + len(data) - len(body)
    raise ReaderError(_not_text(path, first_bad, utf16=False))


def _not_text(path: Path, offset: int, *, utf16: bool) -> str:
    hint = "; it looks like UTF-16, re-save it as UTF-8" if utf16 else ""
    return f"{path}: not UTF-8 or GB18030 text (first bad byte at offset {offset}){hint}"


def read_text_file(path: Path) -> tuple[str, str]:
    """``(text, encoding)`` of a whole text file of at most `MAX_TEXT_FILE_BYTES`; see `decode_text`."""
    text, encoding = decode_text(path, read_bytes(path, limit=MAX_TEXT_FILE_BYTES))
    if not text.strip():
        raise ReaderError(f"{path}: empty file")
    return text, encoding


def encoding_metadata(encoding: str) -> dict[str, str]:
    """``{"encoding": ...}`` for documents decoded from anything but UTF-8, else ``{}``."""
    return {} if encoding == "utf-8" else {"encoding": encoding}


def open_lines(path: Path) -> BinaryIO:
    """The file opened for `iter_lines`, after checking its start is not binary; `ReaderError` if unreadable."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ReaderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        head = handle.read(BINARY_SNIFF_BYTES)
        handle.seek(0)
        check_text_start(path, head)
    except OSError as exc:
        handle.close()
        raise ReaderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except ReaderError:
        handle.close()
        raise
    return handle


def iter_lines(
    path: Path, handle: BinaryIO, limit: int = MAX_RECORD_BYTES
) -> Iterator[tuple[int, bytes] | RecordError]:
    """``(line number, line)`` for each line (newline kept, a first-line UTF-8 BOM dropped), never holding more
    than ``limit`` bytes: a longer line is read in blocks, discarded and yielded as a `RecordError`."""
    lineno = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if lineno == 1:
            line = line.removeprefix(UTF8_BOM)
        if len(line) > limit and not line.endswith(b"\n"):
            del line
            _skip_line(handle)
            yield RecordError(source=f"{path}#L{lineno}", reason=f"line is longer than {format_limit(limit)}")
            continue
        yield lineno, line


def _skip_line(handle: BinaryIO) -> None:
    """Read past the next newline in blocks of `_DISCARD_BLOCK`, keeping none of it."""
    if not handle.seekable():
        while (block := handle.readline(_DISCARD_BLOCK)) and not block.endswith(b"\n"):
            pass
        return
    while block := handle.read(_DISCARD_BLOCK):  # read() of big blocks is far faster than readline() here
        newline = block.find(b"\n")
        if newline >= 0:
            handle.seek(newline + 1 - len(block), io.SEEK_CUR)
            return


def first_line(text: str) -> str:
    """The first non-blank line, stripped and cut to `TITLE_MAX_CHARS`; "" when there is none."""
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:TITLE_MAX_CHARS]
    return ""
