"""Safe, streaming XML parsing and the small helpers the XML readers (PubMed, JATS, SPL, MedQuAD) share.

Files are read plain or gzip-compressed (told apart by their first bytes, whatever the name) and parsed with lxml's
``iterparse``: no DTD is ever loaded or fetched, no entity is expanded, and a document whose DOCTYPE declares
entities (expansion bombs, external entities such as ``SYSTEM "file:///etc/passwd"``) is refused outright. Record
elements are freed as soon as the caller is done with them, so multi-gigabyte PubMed baseline files stream in
bounded memory. Every failure is a one-line `ReaderError` that starts with the file's path.

Example::

    for article in iter_elements(path, ("PubmedArticle",)):
        print(flatten(article.find("MedlineCitation/Article/ArticleTitle")))
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from lxml import etree  # type: ignore[import-untyped]

from ingest.readers.base import UTF8_BOM
from kb.core.errors import ReaderError
from kb.core.types import Section

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
#: The roots `ingest.readers.xml.XmlReader` knows, as its error message lists them.
EXPECTED_ROOTS = "PubmedArticleSet, article/pmc-articleset (JATS), document (HL7 SPL) or Document (MedQuAD)"

# The prolog (XML declaration, comments, DOCTYPE) is checked in this many leading bytes; a longer one is left to
# the parser, which then still refuses declared entities at the first element (see `_refuse_declared_entities`).
_PROLOG_BYTES = 256 * 1024
_ENTITIES_REFUSED = (
    "XML declares entities in its DOCTYPE; entity declarations are refused (expansion bombs, external entities)"
)
# Elements that end a word even when the markup has no whitespace around them (<title>A</title><p>B</p>).
_WORD_BREAKS = frozenset(
    "p title label caption list-item def term td th tr item paragraph sec section AbstractText abstract suffix".split()
)
_MONTHS = {name: number for number, name in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_LINE_AND_COLUMN = re.compile(r",? line \d+, column \d+$")
# ASCII digits only: str.isdigit() admits "²", which int() refuses, and a long run of digits int() refuses too.
_DIGITS_4 = re.compile(r"[0-9]{4}")
_DIGITS_2 = re.compile(r"[0-9]{1,2}")


def root_tag(path: Path) -> str:
    """The root element's tag in Clark notation (``{urn:hl7-org:v3}document``), read from the first start event.

    Raises `ReaderError` for an unreadable, empty, binary or malformed file and for declared entities.
    """
    with _errors_named(path), open_xml(path) as stream:
        for _, elem in _iterparse(path, stream, ("start",), None):
            _refuse_declared_entities(path, elem)
            return str(elem.tag)
    raise ReaderError(f"{path}: no XML root element")


def iter_elements(path: Path, tags: Iterable[str]) -> Iterator[Any]:
    """Each element named in ``tags`` (Clark notation), complete, as its end tag is parsed.

    Once the caller asks for the next one, the element is cleared and the siblings before it are dropped, so
    memory stays bounded by one record. ``tags`` must not nest inside one another. Elements yielded before a
    parse error stand; the error is then raised as `ReaderError`.
    """
    wanted = list(tags)
    with _errors_named(path), open_xml(path) as stream:
        checked = False
        for _, elem in _iterparse(path, stream, ("end",), wanted):
            if not checked:
                _refuse_declared_entities(path, elem)
                checked = True
            yield elem
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]


@contextmanager
def open_xml(path: Path) -> Iterator[IO[bytes]]:
    """``path`` opened for reading bytes, decompressed when it starts with the gzip magic bytes."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ReaderError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    with raw:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped  # type: ignore[misc]  # a GzipFile is a binary stream
        else:
            raw.seek(0)
            yield raw


def flatten(elem: Any | None, skip: Collection[str] = (), *, keep_breaks: bool = False) -> str:
    """The text inside ``elem`` with inline markup dropped and whitespace collapsed; "" for ``None``.

    Subtrees whose local name is in ``skip`` are left out (their tails kept). With ``keep_breaks``, line breaks in
    the text and ``<br/>`` elements survive as newlines (runs of blank lines collapsed to one).
    """
    if elem is None:
        return ""
    raw = "".join(_texts(elem, frozenset(skip), "\n" if keep_breaks else " "))
    if not keep_breaks:
        return " ".join(raw.split())
    lines = [" ".join(line.split()) for line in raw.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _texts(elem: Any, skip: frozenset[str], br: str) -> Iterator[str]:
    if elem.text:
        yield elem.text
    for child in elem:
        if isinstance(child.tag, str):  # comments and entity references have a function as their tag
            name = local_name(child.tag)
            if name == "br":
                yield br
            elif name not in skip:
                block = name in _WORD_BREAKS
                if block:
                    yield " "
                yield from _texts(child, skip, br)
                if block:
                    yield " "
        if child.tail:
            yield child.tail


def local_name(tag: str) -> str:
    """``tag`` without its ``{namespace}``."""
    return tag.rpartition("}")[2]


def assemble(parts: Iterable[tuple[str, str]], sep: str = "\n\n") -> tuple[str, list[Section]]:
    """``(text, sections)``: the non-blank ``(title, body)`` parts joined by ``sep``, one `Section` per part whose
    ``text[start:end]`` is exactly that body."""
    chunks: list[str] = []
    sections: list[Section] = []
    pos = 0
    for title, body in parts:
        body = body.strip()
        if not body:
            continue
        if chunks:
            chunks.append(sep)
            pos += len(sep)
        chunks.append(body)
        sections.append(Section(title=title, start=pos, end=pos + len(body)))
        pos += len(body)
    return "".join(chunks), sections


def iso_date(year: str | None, month: str | None = None, day: str | None = None) -> str | None:
    """``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY`` from date parts as journals write them (month ``"Sep"``, ``"09"``
    or ``"9"``); parts that cannot be read are dropped from the end. ``None`` without a four-digit year."""
    year = (year or "").strip()
    if not _DIGITS_4.fullmatch(year):
        return None
    month = (month or "").strip().lower()
    number = int(month) if _DIGITS_2.fullmatch(month) else _MONTHS.get(month[:3], 0)
    if not 1 <= number <= 12:
        return year
    day = (day or "").strip()
    if _DIGITS_2.fullmatch(day) and 1 <= int(day) <= 31:
        return f"{year}-{number:02d}-{int(day):02d}"
    return f"{year}-{number:02d}"


def drop_empty(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` without the keys whose value is ``None``, ``""`` or an empty collection."""
    return {key: value for key, value in metadata.items() if value not in (None, "", [], {})}


def unique(values: Iterable[str]) -> list[str]:
    """The non-blank ``values`` in first-seen order, case-insensitive duplicates dropped (the first spelling kept)."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        value = " ".join(value.split())
        if value and value.casefold() not in seen:
            seen.add(value.casefold())
            out.append(value)
    return out


def _iterparse(path: Path, stream: IO[bytes], events: tuple[str, ...], tag: list[str] | None) -> Any:
    _check_prolog(path, stream.read(_PROLOG_BYTES))
    stream.seek(0)
    return etree.iterparse(
        stream,
        events=events,
        tag=tag,
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


@contextmanager
def _errors_named(path: Path) -> Iterator[None]:
    """Turns parser, gzip and I/O errors into one-line `ReaderError` messages naming ``path``."""
    try:
        yield
    except etree.XMLSyntaxError as exc:
        message = _LINE_AND_COLUMN.sub("", (exc.msg or str(exc)).strip())
        if "amplification" in message or ("entity" in message.lower() and "loop" in message):
            raise ReaderError(f"{path}: {_ENTITIES_REFUSED}") from exc
        raise ReaderError(f"{path}: malformed XML at line {exc.lineno}: {message}") from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ReaderError(f"{path}: truncated or corrupt gzip data ({exc})") from exc
    except OSError as exc:
        raise ReaderError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _check_prolog(path: Path, head: bytes) -> None:
    """Refuses an empty or binary file and a DOCTYPE that declares entities, before the parser sees either."""
    body = head.removeprefix(UTF8_BOM)
    if not body.strip():
        raise ReaderError(f"{path}: empty file")
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:2] in (b"<\x00", b"\x00<"):
        encoding = "utf-16" if body[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-16-le" if body[0] else "utf-16-be")
        text = body.decode(encoding, errors="replace")
    elif b"\x00" in body:
        raise ReaderError(f"{path}: binary data, not XML (NUL bytes near the start)")
    else:
        text = body.decode("latin-1")
    text = text.lstrip("\ufeff \t\r\n")
    if not text.startswith("<"):
        raise ReaderError(f"{path}: not XML (expected '<' at the start, found {text[:20]!r})")
    if _declares_entities(text):
        raise ReaderError(f"{path}: {_ENTITIES_REFUSED}")


def _declares_entities(text: str) -> bool:
    """Whether the prolog at the start of ``text`` has a DOCTYPE with ``<!ENTITY`` in it (conservatively: a DOCTYPE
    that does not close within ``text`` is searched to its end)."""
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if text.startswith("<?", pos):
            end, width = text.find("?>", pos + 2), 2
        elif text.startswith("<!--", pos):
            end, width = text.find("-->", pos + 4), 3
        elif text.startswith("<!DOCTYPE", pos):
            return "<!ENTITY" in text[pos : _doctype_end(text, pos)]
        else:
            return False  # the root element (or something the parser will report)
        if end < 0:
            return False
        pos = end + width


def _doctype_end(text: str, pos: int) -> int:
    quote = ""
    in_subset = False
    for i in range(pos + len("<!DOCTYPE"), len(text)):
        char = text[i]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "[":
            in_subset = True
        elif char == "]":
            in_subset = False
        elif char == ">" and not in_subset:
            return i + 1
    return len(text)


def _refuse_declared_entities(path: Path, elem: Any) -> None:
    """The parser's own view of the internal DTD: a second line of defence behind `_check_prolog`."""
    dtd = elem.getroottree().docinfo.internalDTD
    if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
        raise ReaderError(f"{path}: {_ENTITIES_REFUSED}")
