"""JSON Lines corpora with their own field names (PubMedQA, SciFact, MedQuAD), each mapped onto `Document`.

A corpus is one `MappedJsonlReader`: a name and a function from a line's JSON object to a document. Lines are
streamed with the same bounded reading and per-line `RecordError` as `ingest.readers.jsonl`.

Example::

    from ingest.readers import reader_named

    for item in reader_named("pubmedqa").read(Path("data/pubmedqa/corpus.jsonl")):
        ...  # Document(source="pubmedqa:1571683", sections=[Section("OBJECTIVE", ...), ...]) or RecordError
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.readers.base import RecordError
from ingest.readers.jsonl import iter_json_objects
from kb.core.types import Document, Section

logger = logging.getLogger(__name__)

PARAGRAPH_SEPARATOR = "\n\n"


class BadRecord(ValueError):
    """Raised by a mapping function: the record lacks a field or has one of the wrong type."""


#: Turns one JSON object into a document with a stable ``source``; raises `BadRecord` for an unusable record.
Mapping = Callable[[dict[str, Any]], Document]


@dataclass(frozen=True)
class MappedJsonlReader:
    """Reads a JSON Lines corpus through ``mapping``; a line it rejects, or a repeated source, is a `RecordError`."""

    name: str
    mapping: Mapping

    def read(self, path: Path) -> Iterator[Document | RecordError]:
        seen: dict[str, int] = {}
        for item in iter_json_objects(path):
            if isinstance(item, RecordError):
                yield item
                continue
            lineno, obj = item
            try:
                doc = self.mapping(obj)
            except BadRecord as exc:
                yield _error(path, lineno, f"not a {self.name} record: {exc}")
                continue
            if doc.source in seen:
                yield _error(path, lineno, f"duplicate {doc.source!r} (first on line {seen[doc.source]})")
                continue
            seen[doc.source] = lineno
            yield doc


def _error(path: Path, lineno: int, reason: str) -> RecordError:
    error = RecordError(source=f"{path}#L{lineno}", reason=reason)
    logger.debug("%s: %s", error.source, error.reason)
    return error


def pubmedqa_document(obj: dict[str, Any]) -> Document:
    """A PubMedQA abstract: one section per context, titled by its structured-abstract label."""
    pmid = _identifier(obj, "pmid")
    contexts = _strings(obj, "contexts")
    labels = _strings(obj, "section_labels", required=False)
    parts: list[str] = []
    sections: list[Section] = []
    start = 0
    for i, context in enumerate(contexts):
        if not context.strip():
            continue
        if parts:
            start += len(PARAGRAPH_SEPARATOR)
        parts.append(context)
        sections.append(Section(title=labels[i] if i < len(labels) else "", start=start, end=start + len(context)))
        start += len(context)
    if not parts:
        raise BadRecord("'contexts' holds no text")
    metadata: dict[str, Any] = {"pmid": pmid, "source_name": "PubMedQA"}
    if mesh := _strings(obj, "meshes", required=False):
        metadata["mesh"] = mesh
    if obj.get("year") not in (None, ""):
        metadata["published"] = str(obj["year"])
    return Document(
        text=PARAGRAPH_SEPARATOR.join(parts), source=f"pubmedqa:{pmid}", sections=sections, metadata=metadata
    )


def scifact_document(obj: dict[str, Any]) -> Document:
    """A SciFact abstract: its sentences joined by spaces."""
    doc_id = _identifier(obj, "doc_id")
    text = " ".join(sentence.strip() for sentence in _strings(obj, "abstract") if sentence.strip())
    if not text:
        raise BadRecord("'abstract' holds no text")
    metadata: dict[str, Any] = {"doc_id": doc_id, "source_name": "SciFact"}
    if isinstance(obj.get("structured"), bool):
        metadata["structured"] = obj["structured"]
    return Document(text=text, source=f"scifact:{doc_id}", title=_text(obj, "title", required=False), metadata=metadata)


def medquad_document(obj: dict[str, Any]) -> Document:
    """A MedQuAD answer passage: titled by its focus (the page's topic), one section named by the question type."""
    passage_id = _identifier(obj, "passage_id")
    text = _text(obj, "text")
    qtype = _text(obj, "section", required=False)
    focus = _text(obj, "focus", required=False)
    fields = {
        "url": _text(obj, "url", required=False),
        "focus": focus,
        "qtype": qtype,
        "source_name": _text(obj, "source", required=False),
        "passage_id": passage_id,
        "document_id": _text(obj, "doc_id", required=False),
    }
    return Document(
        text=text,
        source=f"medquad:{passage_id}",
        title=focus,
        sections=[Section(title=qtype, start=0, end=len(text))],
        metadata={key: value for key, value in fields.items() if value},
    )


def _identifier(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(f"missing '{key}'" if value in (None, "") else f"'{key}' must be a string or an integer")
    return value.strip()


def _text(obj: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"missing '{key}'" if value is None else f"'{key}' must be a string")
    if required and not value.strip():
        raise BadRecord(f"'{key}' is empty")
    return value if key == "text" else value.strip()


def _strings(obj: dict[str, Any], key: str, *, required: bool = True) -> list[str]:
    value = obj.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRecord(f"missing '{key}'" if value is None else f"'{key}' must be a list of strings")
    return value


PUBMEDQA = MappedJsonlReader("PubMedQA", pubmedqa_document)
SCIFACT = MappedJsonlReader("SciFact", scifact_document)
MEDQUAD = MappedJsonlReader("MedQuAD", medquad_document)
