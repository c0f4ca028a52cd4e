"""medkb: a retrieval-augmented medical knowledge base that answers with citations.

Example::

    from kb import KnowledgeBase
    kb = KnowledgeBase.create("my-kb")
    kb.ingest(["corpora/sample"])
    print(kb.ask("What are the contraindications of metformin?").text)

The facade is imported lazily, so ``import kb.types`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.errors import MedkbError
from kb.settings import Settings
from kb.types import Answer, AnswerSentence, Chunk, Citation, Document, DrugWarning, Hit, PatientContext, Section

if TYPE_CHECKING:
    from kb.knowledge_base import KnowledgeBase

__all__ = [
    "Answer",
    "AnswerSentence",
    "Chunk",
    "Citation",
    "Document",
    "DrugWarning",
    "Hit",
    "KnowledgeBase",
    "MedkbError",
    "PatientContext",
    "Section",
    "Settings",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "KnowledgeBase":
        from kb.knowledge_base import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
