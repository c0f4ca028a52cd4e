"""medkb: a retrieval-augmented medical knowledge base that answers with citations.

Example::

    from kb import KnowledgeBase
    kb = KnowledgeBase.create("my-kb")
    kb.ingest(["corpora/sample"])
    print(kb.ask("What are the contraindications of metformin?").text)

The facade is imported on first use of ``kb.KnowledgeBase``, so that importing the data model (``kb.core``) does
not load the stages and their models; nothing in medkb imports this package root.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from kb.core.errors import MedkbError
from kb.core.settings import Settings
from kb.core.types import Answer, AnswerSentence, Chunk, Citation, Document, DrugWarning, Hit, PatientContext, Section

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
__version__ = version("medkb")


def __getattr__(name: str) -> Any:
    if name == "KnowledgeBase":
        from kb.knowledge_base import KnowledgeBase

        return KnowledgeBase
    raise AttributeError(f"module 'kb' has no attribute {name!r}")
