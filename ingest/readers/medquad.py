"""MedQuAD XML (github.com/abachaa/MedQuAD): one file per topic, question-answer pairs from NIH websites.

Root ``<Document id source url>`` with a ``<Focus>`` (the disease or drug) and ``<QAPairs>``; each ``<QAPair pid>``
holds a ``<Question qid qtype>`` and an ``<Answer>``. Each pair with an answer becomes one `Document` keyed
``medquad:<document id>#<pid>``, its text the answer, one section named by the question type. Pairs whose answer
is empty are skipped: upstream removed some answers on purpose (MedlinePlus licensing).

Example::

    for item in MedquadXmlReader().read(Path("0000001_1.xml")):
        ...
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import ReadItem
from ingest.readers.xmlsafe import drop_empty, flatten, iter_elements, root_tag
from kb.core.errors import ReaderError
from kb.core.types import Document, Section

logger = logging.getLogger(__name__)

ROOT = "Document"


class MedquadXmlReader:
    """Reads the question-answer pairs of one MedQuAD XML file."""

    def read(self, path: Path) -> Iterator[ReadItem]:
        root = root_tag(path)
        if root != ROOT:
            raise ReaderError(f"{path}: not a MedQuAD XML file (root <{root}>); expected <{ROOT}>")
        for document in iter_elements(path, (ROOT,)):
            yield from _pairs(path, document)


def _pairs(path: Path, document: Any) -> Iterator[Document]:
    document_id = (document.get("id") or "").strip() or path.stem
    focus = flatten(document.find("Focus"))
    for number, pair in enumerate(document.iterfind("QAPairs/QAPair"), start=1):
        pid = (pair.get("pid") or "").strip() or str(number)
        question = pair.find("Question")
        qtype = (question.get("qtype") or "").strip() if question is not None else ""
        answer = flatten(pair.find("Answer"), keep_breaks=True)
        if not answer:
            logger.debug("%s: QA pair %s has no answer; skipped", path, pid)
            continue
        metadata = {
            "question": flatten(question),
            "qtype": qtype,
            "qid": (question.get("qid") or "").strip() if question is not None else "",
            "url": (document.get("url") or "").strip(),
            "source_name": (document.get("source") or "").strip() or "MedQuAD",
            "focus": focus,
            "document_id": document_id,
            "pid": pid,
        }
        yield Document(
            text=answer,
            source=f"medquad:{document_id}#{pid}",
            title=focus or flatten(question),
            sections=[Section(title=qtype, start=0, end=len(answer))],
            metadata=drop_empty(metadata),
        )
