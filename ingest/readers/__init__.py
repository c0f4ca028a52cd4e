"""Readers turn input files into `Document` objects, one reader per file extension (a ``.txt`` file whose first line
is ``PMID- 12345`` is a PubMed MEDLINE export, and is read as one).

Example::

    from pathlib import Path
    from ingest.readers import iter_files, read_path, RecordError

    for file in iter_files([Path("corpora/sample")]):
        for item in read_path(file):
            if isinstance(item, RecordError):
                ...  # record the failure, go on
            else:
                ...  # a Document

Users add their own with ``register_reader(".xml", "mypackage.readers:JatsReader")``.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.readers.base import UTF8_BOM, Deletion, Reader, ReadItem, RecordError
from ingest.readers.html import HtmlReader
from ingest.readers.jsonl import JsonlReader
from ingest.readers.markdown import MarkdownReader
from ingest.readers.pdf import PdfReader
from ingest.readers.text import TextReader
from kb.core.errors import ReaderError

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Deletion",
    "ReadItem",
    "Reader",
    "RecordError",
    "extension_of",
    "iter_files",
    "load_reader",
    "read_path",
    "reader_for",
    "reader_named",
    "reader_names",
    "register_reader",
    "supported_extensions",
]

logger = logging.getLogger(__name__)

#: A PubMed export in the MEDLINE format saved as ``.txt`` opens (after any blank lines) with such a line.
_MEDLINE_START = re.compile(rb"PMID- *[0-9]+")
#: How much of a ``.txt`` file is looked at to tell a MEDLINE export from plain text.
_SNIFF_BYTES = 4096


class _TextOrMedline:
    """``.txt``: a PubMed MEDLINE export (first non-blank line ``PMID- 12345``) goes to the ``medline`` reader,
    any other text to the ``text`` reader."""

    def read(self, path: Path) -> Iterator[ReadItem]:
        yield from reader_named("medline" if _starts_like_medline(path) else "text").read(path)


def _starts_like_medline(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False  # the text reader names the problem
    for line in head.removeprefix(UTF8_BOM).splitlines():
        if line.strip():
            return _MEDLINE_START.match(line) is not None
    return False


# Built-ins given as dotted paths are imported on first use, so importing this package stays cheap.
_READERS: dict[str, Reader | str] = {
    ".txt": _TextOrMedline(),
    ".md": MarkdownReader(),
    ".markdown": MarkdownReader(),
    ".jsonl": JsonlReader(),
    ".pdf": PdfReader(),
    ".html": HtmlReader(),
    ".htm": HtmlReader(),
    ".xml": "ingest.readers.xml:XmlReader",
    ".xml.gz": "ingest.readers.xml:XmlReader",
    ".nxml": "ingest.readers.xml:XmlReader",
    ".csv": "ingest.readers.csv:CsvReader",
    ".nbib": "ingest.readers.medline:MedlineReader",
    ".medline": "ingest.readers.medline:MedlineReader",
    ".zip": "ingest.readers.archive:ArchiveReader",
    ".tar.gz": "ingest.readers.archive:ArchiveReader",
    ".tgz": "ingest.readers.archive:ArchiveReader",
    ".tar": "ingest.readers.archive:ArchiveReader",
}

#: Readers by name, for corpora whose files need a particular reader (``medkb ingest --reader pubmedqa``).
_NAMED: dict[str, Reader | str] = {
    "text": TextReader(),
    "markdown": MarkdownReader(),
    "jsonl": JsonlReader(),
    "pdf": PdfReader(),
    "html": HtmlReader(),
    "xml": "ingest.readers.xml:XmlReader",
    "pubmed": "ingest.readers.pubmed:PubmedReader",
    "medline": "ingest.readers.medline:MedlineReader",
    "jats": "ingest.readers.jats:JatsReader",
    "spl": "ingest.readers.spl:SplReader",
    "medquad-xml": "ingest.readers.medquad:MedquadXmlReader",
    "medquad": "ingest.readers.corpus_jsonl:MEDQUAD",
    "pubmedqa": "ingest.readers.corpus_jsonl:PUBMEDQA",
    "scifact": "ingest.readers.corpus_jsonl:SCIFACT",
    "csv": "ingest.readers.csv:CsvReader",
    "archive": "ingest.readers.archive:ArchiveReader",
    "dailymed": "ingest.readers.archive:DAILYMED",
    "pmc-oa": "ingest.readers.archive:PMC_OA",
}


def reader_names() -> list[str]:
    """The names `reader_named` knows."""
    return sorted(_NAMED)


def reader_named(name: str) -> Reader:
    """The reader registered under ``name`` (see `reader_names`); `ReaderError` naming the choices otherwise."""
    entry = _NAMED.get(name)
    if entry is None:
        raise ReaderError(f"unknown reader {name!r}; expected one of: {', '.join(reader_names())}")
    if isinstance(entry, str):
        entry = _NAMED[name] = load_reader(entry)
    return entry


#: The extensions the built-in readers handle; `supported_extensions` adds those registered since.
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(sorted(_READERS))


def supported_extensions() -> list[str]:
    """Every extension that has a reader now, built-in or registered."""
    return sorted(_READERS)


def register_reader(ext: str, reader: Reader | str) -> None:
    """Use ``reader`` (an object with ``read(path)``, or a ``"package.module:ClassName"`` path) for ``ext``."""
    ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
    if len(ext) < 2 or "/" in ext or ext.endswith("."):
        raise ReaderError(f"cannot register a reader for {ext!r}: expected a file extension such as '.xml'")
    if isinstance(reader, str):
        reader = load_reader(reader)
    elif not isinstance(reader, Reader):
        raise ReaderError(f"reader for {ext!r} has no read(path) method: {reader!r}")
    if ext in _READERS:
        logger.debug("reader for %s replaced by %r", ext, reader)
    _READERS[ext] = reader


def load_reader(dotted: str) -> Reader:
    """Import ``"package.module:ClassName"`` and return an instance (or the object itself if not a class)."""
    module_name, sep, name = dotted.partition(":")
    if not sep or not module_name or not name:
        raise ReaderError(f"reader {dotted!r}: expected 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ReaderError(f"reader {dotted!r}: cannot import {module_name!r} ({exc})") from exc
    target = getattr(module, name, None)
    if target is None:
        raise ReaderError(f"reader {dotted!r}: {module_name!r} has no attribute {name!r}")
    reader = target() if isinstance(target, type) else target
    if not isinstance(reader, Reader):
        raise ReaderError(f"reader {dotted!r}: {name!r} has no read(path) method")
    return reader


def extension_of(path: Path) -> str:
    """``path``'s extension as the registry knows it: a registered double suffix (``.xml.gz``, ``.tar.gz``) wins
    over the last suffix alone."""
    double = "".join(path.suffixes[-2:]).lower()
    if len(path.suffixes) >= 2 and double in _READERS:
        return double
    return path.suffix.lower()


def reader_for(path: Path) -> Reader:
    """The reader for ``path``'s extension (case-insensitive); `ReaderError` when there is none."""
    ext = extension_of(path)
    reader = _READERS.get(ext)
    if isinstance(reader, str):
        reader = _READERS[ext] = load_reader(reader)
    if reader is None:
        kind = f"extension {ext!r}" if ext else "no extension"
        raise ReaderError(f"{path}: unsupported file type ({kind}); supported: {', '.join(supported_extensions())}")
    return reader


def read_path(path: Path) -> Iterator[ReadItem]:
    """Documents (and, for multi-record files, `RecordError` items) read from one file."""
    return reader_for(path).read(path)


def iter_files(paths: Iterable[Path], refused: list[RecordError] | None = None) -> Iterator[Path]:
    """The files named by ``paths``, directories walked recursively in sorted order, hidden entries skipped.

    Every path is checked before the first file is yielded, so a typo fails fast. Each file comes once: a link to a
    file or folder inside the walked folder is read once, through whichever path comes first. A link that leads out
    of the folder (to ``/etc``, say), and a name that is not valid UTF-8, are not followed: each is appended to
    ``refused`` as a `RecordError` naming it (and logged), and the walk goes on.
    """
    roots = [Path(path) for path in paths]
    for root in roots:
        if not root.exists():
            raise ReaderError(f"{root}: no such file or directory")
    seen: set[Path] = set()
    visited: set[Path] = set()
    out = refused if refused is not None else []
    for root in roots:
        for file in _walk(root, visited, root.resolve(), out) if root.is_dir() else [root]:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                yield file


def _walk(directory: Path, visited: set[Path], tree: Path, refused: list[RecordError]) -> Iterator[Path]:
    real = directory.resolve()
    if real in visited:  # a symlink loop, or a directory already walked
        return
    visited.add(real)
    try:
        entries = sorted(directory.iterdir(), key=lambda entry: entry.name)
    except OSError as exc:
        raise ReaderError(f"{directory}: cannot list directory ({exc.strerror or exc})") from exc
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if (why := _refusal(entry, tree)) is not None:
            name = os.fsencode(entry).decode("utf-8", "backslashreplace")  # printable: zzz\xff.txt
            refused.append(RecordError(source=name, reason=why))
            logger.warning("%s: %s", name, why)
            continue
        if entry.is_dir():
            yield from _walk(entry, visited, tree, refused)
        elif entry.is_file():
            yield entry


def _refusal(entry: Path, tree: Path) -> str | None:
    """Why ``entry`` of the walked folder ``tree`` is not followed, or None."""
    try:
        entry.name.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8; rename it to read it"
    if entry.is_symlink():
        target = entry.resolve()
        if target != tree and tree not in target.parents:
            return f"a link to {target}, outside the folder {tree}; links that leave it are not followed"
    return None
