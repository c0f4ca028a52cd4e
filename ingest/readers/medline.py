"""PubMed's MEDLINE text format (``.nbib``, ``.medline``, and ``.txt`` exports whose first line is ``PMID- ...``).

A record is a run of tagged lines (``PMID- 12230038``, ``TI  - title``, ``AB  - abstract``) whose values go on in
lines indented six spaces; blank lines separate records. Each record becomes the `Document` that
`ingest.readers.pubmed` makes of the same article in XML: keyed ``pubmed:<PMID>``, a structured abstract
(``BACKGROUND: ... METHODS: ...``) split into one section per label, the same metadata keys and formats, and the
last-revised date ``LR`` as the integer ``version``. Tags with no XML counterpart (``FAU``, ``AD``, ``SO`` ...) are
left out.

Example::

    for item in MedlineReader().read(Path("pubmed-asthma-set.nbib")):
        ...
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ingest.readers.base import MAX_RECORD_BYTES, RecordError, format_limit, iter_lines, open_lines
from ingest.readers.xmlsafe import assemble, drop_empty, iso_date, unique
from kb.core.errors import ReaderError
from kb.core.types import Document

logger = logging.getLogger(__name__)

_EXPECTED = "tagged lines such as 'PMID- 12345' and 'TI  - title'"
#: ``TAG - value``: the tag left-justified in four columns (``PMID-``, ``TI  -``, ``FAU -``).
_TAG_LINE = re.compile(r"(?P<tag>[A-Z][A-Z0-9]{1,3}) {0,3}- ?(?P<value>.*)")
#: A label opening a part of a structured abstract: at its start or after a sentence (``... rare. RESULTS: ...``).
_LABEL = re.compile(r"(?:^|(?<=[.?!)\]] ))(?P<label>[A-Z][A-Z ,/&-]*[A-Z]): ")
#: ``DP`` as ``2002``, ``2002 Sep``, ``2002 Sep 3`` or ``2002 Spring``; anything else (``1998 Dec-1999 Jan``) is
#: what the XML calls a ``MedlineDate``.
_PUB_DATE = re.compile(r"(?P<year>[0-9]{4})(?: (?P<month>[A-Za-z]+|[0-9]{1,2}))?(?: (?P<day>[0-9]{1,2}))?")
_YEAR = re.compile(r"\b(1[6-9]|20)\d\d\b")
#: ``DEP`` and ``LR`` dates: ``20240115``.
_DAY_STAMP = re.compile(r"(?P<year>[0-9]{4})(?P<month>[0-9]{2})(?P<day>[0-9]{2})")
#: ``AID``/``LID`` values: ``10.1000/xyz [doi]``, ``S0140-6736(19)30001-1 [pii]``.
_ARTICLE_ID = re.compile(r"(?P<id>.*?)\s*\[(?P<kind>[a-z]+)\]")


class MedlineReader:
    """Streams a MEDLINE file record by record; a record without a PMID, or with neither title nor abstract, is
    yielded as a `RecordError` and the records after it are still read."""

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        with open_lines(path) as handle:
            for record in _records(path, handle):
                item = _document(path, record)
                if isinstance(item, RecordError):
                    logger.debug("%s: %s", item.source, item.reason)
                yield item


@dataclass
class _Record:
    """One record's ``(tag, value)`` fields in file order, or why it cannot be read (its fields then dropped)."""

    number: int
    line: int
    fields: list[tuple[str, list[str]]] = field(default_factory=list)
    problem: str = ""
    size: int = 0

    @property
    def started(self) -> bool:
        """Whether a line was read into it: a ``PMID`` line then opens the next record, blank line or not."""
        return bool(self.fields or self.problem)

    def add(self, tag: str, value: str) -> None:
        if self._fits(value):
            self.fields.append((tag, [value]))

    def extend(self, value: str) -> None:
        if self._fits(value):
            self.fields[-1][1].append(value)

    def fail(self, problem: str) -> None:
        if not self.problem:
            self.problem = problem
            self.fields.clear()

    def _fits(self, value: str) -> bool:
        self.size += len(value)
        if self.size > MAX_RECORD_BYTES:
            self.fail(f"the record is longer than {format_limit(MAX_RECORD_BYTES)}")
        return not self.problem


def _records(path: Path, handle: BinaryIO) -> Iterator[_Record]:
    """The file's records in order. `ReaderError` when its first non-blank line is not a tagged line."""
    record: _Record | None = None
    number = 0
    lineno = 0
    for item in iter_lines(path, handle):
        lineno += 1
        line, problem = _decode(item)
        if not problem and not line.strip():
            if record is not None:
                yield record
                record = None
            continue
        tagged = None if problem else _TAG_LINE.fullmatch(line)
        if number == 0 and tagged is None:
            seen = problem or f"is {line.strip()[:40]!r}"
            raise ReaderError(f"{path}: not a MEDLINE file (line {lineno} {seen}); expected {_EXPECTED}")
        if record is None or (tagged is not None and tagged["tag"] == "PMID" and record.started):
            if record is not None:
                yield record
            number += 1
            record = _Record(number=number, line=lineno)
        if problem:
            record.fail(f"line {lineno} {problem}")
        elif tagged is not None:
            record.add(tagged["tag"], tagged["value"])
        elif line[:1].isspace() and record.fields:
            record.extend(line)
        else:
            record.fail(f"line {lineno} is neither a tagged line ('TI  - title') nor an indented continuation")
    if record is not None:
        yield record
    if number == 0:
        raise ReaderError(f"{path}: empty file")


def _decode(item: tuple[int, bytes] | RecordError) -> tuple[str, str]:
    """``(line, "")``, or ``("", why it cannot be read)``."""
    if isinstance(item, RecordError):
        return "", f"is longer than {format_limit(MAX_RECORD_BYTES)}"
    try:
        return item[1].decode("utf-8").rstrip("\r\n"), ""
    except UnicodeDecodeError as exc:
        return "", f"is not valid UTF-8 (byte {exc.start} of the line)"


def _document(path: Path, record: _Record) -> Document | RecordError:
    where = f"{path}#record{record.number}"
    if record.problem:
        return RecordError(source=where, reason=f"record starting at line {record.line}: {record.problem}")
    fields = [(tag, " ".join(" ".join(parts).split())) for tag, parts in record.fields]
    values: dict[str, list[str]] = {}
    for tag, value in fields:
        values.setdefault(tag, []).append(value)

    def first(tag: str) -> str:
        return next((value for value in values.get(tag, ()) if value), "")

    pmid = first("PMID")
    if not pmid:
        reason = f"record starting at line {record.line} has no PMID; expected a 'PMID- 12345' line"
        return RecordError(source=where, reason=reason)
    ids = _article_ids(values.get("AID", []))
    metadata: dict[str, Any] = {
        "pmid": pmid,
        "doi": ids.get("doi") or _article_ids(values.get("LID", [])).get("doi", ""),
        "pmcid": first("PMC"),
        "journal": first("JT"),
        "journal_abbrev": first("TA"),
        "published": _published(first("DP")) or _day(first("DEP")),
        "publication_types": unique(values.get("PT", [])),
        "mesh": unique(_descriptor(heading) for heading in values.get("MH", [])),
        "mesh_major": unique(_descriptor(heading) for heading in values.get("MH", []) if "*" in heading),
        "keywords": unique(values.get("OT", [])),
        "authors": unique(value for tag, value in fields if tag in ("AU", "CN")),
        "language": first("LA"),
        "version": _revised(first("LR")),
        "book_title": first("BTI"),
        "publisher": first("PB"),
    }
    title = first("TI") or first("TT") or first("BTI")
    text, sections = assemble(_abstract_parts(first("AB")))
    metadata["has_abstract"] = bool(text)
    if not text:
        if not title:
            return RecordError(source=where, reason=f"PMID {pmid} has neither title ('TI') nor abstract ('AB')")
        text = title
    metadata["source_name"] = "PubMed"
    return Document(text=text, source=f"pubmed:{pmid}", title=title, sections=sections, metadata=drop_empty(metadata))


def _abstract_parts(abstract: str) -> list[tuple[str, str]]:
    """``(label, text)`` per part of a structured abstract, as the XML's labelled ``AbstractText`` elements; one
    unlabelled part when the abstract does not open with a label."""
    labels = list(_LABEL.finditer(abstract))
    if not labels or labels[0].start() != 0:
        return [("", abstract)]
    ends = [label.start() for label in labels[1:]] + [len(abstract)]
    return [(label["label"], abstract[label.end() : end]) for label, end in zip(labels, ends, strict=True)]


def _article_ids(values: list[str]) -> dict[str, str]:
    """``{"doi": "10.1000/xyz", "pii": ...}`` from ``AID``/``LID`` values; the first of each kind wins."""
    ids: dict[str, str] = {}
    for value in values:
        found = _ARTICLE_ID.fullmatch(value)
        if found and found["id"]:
            ids.setdefault(found["kind"], found["id"])
    return ids


def _published(date: str) -> str | None:
    """``DP`` as the XML reader gives ``PubDate``: ISO text, or the year of a range such as ``1998 Dec-1999 Jan``."""
    parts = _PUB_DATE.fullmatch(date)
    if parts:
        return iso_date(parts["year"], parts["month"], parts["day"])
    found = _YEAR.search(date)
    return found.group(0) if found else None


def _day(stamp: str) -> str | None:
    """``DEP`` (``20190903``) as ISO text, as the XML reader gives ``ArticleDate``."""
    parts = _DAY_STAMP.fullmatch(stamp)
    return iso_date(parts["year"], parts["month"], parts["day"]) if parts else None


def _revised(stamp: str) -> int | None:
    """``LR`` (``20240115``) as the integer the XML reader makes of ``DateRevised``."""
    return int(stamp) if _DAY_STAMP.fullmatch(stamp) else None


def _descriptor(heading: str) -> str:
    """``Metformin/*adverse effects`` -> ``Metformin``: the descriptor, without qualifiers or the major-topic star."""
    return heading.partition("/")[0].replace("*", "").strip()
