"""CSV (``.csv``): one document per row, columns mapped onto text, title, id, date and metadata.

The encoding (UTF-8 or GB18030) is detected from the first MiB and the delimiter (``,`` ``;`` or tab) from the
header line; rows are then streamed, each line read with the `MAX_RECORD_BYTES` bound of every line reader.

Example::

    reader = CsvReader(CsvMapping(text=["ask", "answer"], title="title"))
    for item in reader.read(Path("qa.csv")):
        ...  # Document(source="qa.csv#L2", metadata={"department": ...}) or RecordError
"""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ingest.readers.base import (
    MAX_RECORD_BYTES,
    RecordError,
    detect_encoding,
    encoding_metadata,
    iter_lines,
    open_lines,
)
from kb.core.errors import ReaderError
from kb.core.types import Document, Section

logger = logging.getLogger(__name__)

#: Columns tried, in order and case-insensitively, for a mapping field left as None.
TEXT_COLUMNS = ("text", "body", "content", "abstract", "answer")
TITLE_COLUMNS = ("title", "question", "focus")
ID_COLUMNS = ("id", "pmid", "doc_id")

ENCODING_SNIFF_BYTES = 2**20
TEXT_SEPARATOR = "\n\n"
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class CsvMapping:
    """Which columns make a row's document. A field left None is looked up among its default column names
    (`TEXT_COLUMNS`, `TITLE_COLUMNS`, `ID_COLUMNS`); ``metadata=None`` keeps every other non-empty column.

    Several text columns are joined by a blank line, each one a section titled by its column name.
    """

    text: str | Sequence[str] | None = None
    title: str | None = None
    id: str | None = None
    published: str | None = None
    metadata: Sequence[str] | None = None


@dataclass
class _Columns:
    """A mapping resolved against one file's header: column indices."""

    text: list[tuple[str, int]]
    title: int | None
    id: int | None
    published: int | None
    metadata: list[tuple[str, int]] = field(default_factory=list)


class CsvReader:
    """Reads a CSV file with a header row; ``mapping`` says which columns hold what (see `CsvMapping`)."""

    def __init__(self, mapping: CsvMapping | None = None) -> None:
        self.mapping = mapping or CsvMapping()

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        if csv.field_size_limit() < MAX_RECORD_BYTES:  # the default (128 KiB) is shorter than a long abstract
            csv.field_size_limit(MAX_RECORD_BYTES)
        with open_lines(path) as handle:
            lines = _DecodedLines(path, handle, _sniff_encoding(path, handle))
            header_line = next((line for line in lines if line.strip()), None)
            if header_line is None:
                raise ReaderError(f"{path}: empty file")
            delimiter = max(_DELIMITERS, key=header_line.count)
            rows = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
            header = [name.strip().lstrip("\ufeff") for name in next(rows)]
            columns = _resolve(path, self.mapping, header)
            yield from _documents(path, rows, lines, header, columns)


def _sniff_encoding(path: Path, handle: BinaryIO) -> str:
    head = handle.read(ENCODING_SNIFF_BYTES)
    handle.seek(0)
    encoding = detect_encoding(path, head, complete=len(head) < ENCODING_SNIFF_BYTES)
    if encoding != "utf-8":
        logger.info("%s: decoded as %s", path, encoding.upper())
    return encoding


class _DecodedLines:
    """The file's lines as text for `csv.reader`; lines that are too long or undecodable are set aside in
    ``errors``, and ``first`` is the number of the first line handed out since the last `mark`."""

    def __init__(self, path: Path, handle: BinaryIO, encoding: str) -> None:
        self.path = path
        self.encoding = encoding
        self.errors: list[RecordError] = []
        self.first = 0
        self._items = iter_lines(path, handle)

    def __iter__(self) -> _DecodedLines:
        return self

    def __next__(self) -> str:
        for item in self._items:
            if isinstance(item, RecordError):
                self.errors.append(item)
                continue
            lineno, raw = item
            try:
                line = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                reason = f"not {self.encoding.upper()} text (byte {exc.start} of the line)"
                self.errors.append(RecordError(source=f"{self.path}#L{lineno}", reason=reason))
                continue
            if not self.first:
                self.first = lineno
            return line
        raise StopIteration

    def mark(self) -> None:
        self.first = 0


def _resolve(path: Path, mapping: CsvMapping, header: list[str]) -> _Columns:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(name.lower(), i)

    def named(column: str) -> int:
        if column.lower() not in index:
            raise ReaderError(f"{path}: no column {column!r} (header: {', '.join(header)})")
        return index[column.lower()]

    def default(candidates: tuple[str, ...]) -> int | None:
        return next((index[name] for name in candidates if name in index), None)

    text_names = [mapping.text] if isinstance(mapping.text, str) else mapping.text
    if text_names:
        text = [(header[named(name)], named(name)) for name in text_names]
    elif (found := default(TEXT_COLUMNS)) is not None:
        text = [(header[found], found)]
    else:
        raise ReaderError(
            f"{path}: no text column (expected one of {', '.join(TEXT_COLUMNS)}; header: {', '.join(header)})"
        )
    columns = _Columns(
        text=text,
        title=named(mapping.title) if mapping.title else default(TITLE_COLUMNS),
        id=named(mapping.id) if mapping.id else default(ID_COLUMNS),
        published=named(mapping.published) if mapping.published else None,
    )
    if mapping.metadata is not None:
        columns.metadata = [(name.lower(), named(name)) for name in mapping.metadata]
    else:
        taken = {i for _, i in text} | {columns.title, columns.published}
        columns.metadata = [(name.lower(), i) for i, name in enumerate(header) if name and i not in taken]
    return columns


def _documents(
    path: Path, rows: Iterator[list[str]], lines: _DecodedLines, header: list[str], columns: _Columns
) -> Iterator[Document | RecordError]:
    seen: dict[str, int] = {}
    extra = encoding_metadata(lines.encoding)
    any_row = False
    while True:
        lines.mark()
        try:
            row: list[str] | None = next(rows)
        except StopIteration:
            row = None
        except csv.Error as exc:
            lines.errors.append(RecordError(source=f"{path}#L{lines.first}", reason=f"bad CSV row ({exc})"))
            row = []
        yield from _flush(lines.errors)
        if row is None:
            break
        if not any(value.strip() for value in row):
            continue
        any_row = True
        item = _row_document(path, lines.first, row, header, columns, seen, extra)
        if isinstance(item, RecordError):
            logger.debug("%s: %s", item.source, item.reason)
        yield item
    if not any_row:
        raise ReaderError(f"{path}: no rows after the header")


def _flush(errors: list[RecordError]) -> Iterator[RecordError]:
    while errors:
        error = errors.pop(0)
        logger.debug("%s: %s", error.source, error.reason)
        yield error


def _row_document(
    path: Path,
    lineno: int,
    row: list[str],
    header: list[str],
    columns: _Columns,
    seen: dict[str, int],
    extra: dict[str, str],
) -> Document | RecordError:
    if len(row) > len(header):
        return RecordError(f"{path}#L{lineno}", f"row has {len(row)} fields, the header {len(header)}")
    values = row + [""] * (len(header) - len(row))

    def value(i: int | None) -> str:
        return values[i].strip() if i is not None else ""

    record_id = value(columns.id)
    key = record_id or f"L{lineno}"
    source = f"{path}#{key}"
    parts = [(name, value(i)) for name, i in columns.text if value(i)]
    if not parts:
        names = ", ".join(repr(name) for name, _ in columns.text)
        return RecordError(source, f"empty text (column {names})")
    if key in seen:
        return RecordError(source, f"duplicate id {key!r} (first on line {seen[key]})")
    seen[key] = lineno
    sections: list[Section] = []
    start = 0
    for name, part in parts:
        sections.append(Section(title=name, start=start, end=start + len(part)))
        start += len(part) + len(TEXT_SEPARATOR)
    metadata = {name: value(i) for name, i in columns.metadata if value(i)}
    if published := value(columns.published):
        metadata["published"] = published
    metadata.update(extra)
    return Document(
        text=TEXT_SEPARATOR.join(part for _, part in parts),
        source=source,
        title=value(columns.title),
        sections=sections if len(columns.text) > 1 else [],
        metadata=metadata,
    )
