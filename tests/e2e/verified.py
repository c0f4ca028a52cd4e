"""What the end-to-end tests check of every answer they expect: verified, cited, and resolving to the stored words."""

from __future__ import annotations

import re

from generation.verify import SUPPORT_THRESHOLD
from kb import KnowledgeBase
from kb.core.types import Answer


def assert_verified(kb: KnowledgeBase, answer: Answer) -> None:
    """Every sentence cited and supported; every marker a citation that resolves to the stored words."""
    assert not answer.abstained, answer.reason
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers and markers == {c.marker for c in answer.citations}
    assert answer.sentences and {n for s in answer.sentences for n in s.citations} == markers
    for sentence in answer.sentences:
        assert sentence.citations and sentence.support >= SUPPORT_THRESHOLD, sentence
    given = {h.chunk_id for h in answer.evidence}
    for citation in answer.citations:
        assert citation.chunk_id in given
        doc = kb.storage.store.documents.get_document(citation.doc_id)
        assert doc is not None and doc.text[citation.start : citation.end] == citation.quote
