"""medkb's data model: plain dataclasses shared by every stage.

Ids are derived from content, so the same text always gets the same id and re-ingesting it is a no-op.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from kb.core.errors import MedkbError

Task = Literal["diagnosis", "treatment", "drug", "general"]
#: Every task, in the order the CLI lists them.
TASKS: tuple[Task, ...] = ("diagnosis", "treatment", "drug", "general")
#: The language an answer is written in: the question's (Chinese when the question is mostly Chinese).
Language = Literal["en", "zh"]
#: What a drug warning is about (see `generation.safety`).
WarningKind = Literal[
    "allergy",
    "cross-reactivity",
    "interaction",
    "contraindication",
    "pregnancy",
    "lactation",
    "condition",
    "age",
    "not checked",
]
#: A `DrugWarning` of this kind says what could not be checked (no label, or no label section that speaks to it).
NOT_CHECKED: WarningKind = "not checked"

#: Metadata keys that are promoted to first-class provenance fields on citations and hits.
IDENTIFIER_KEYS: tuple[str, ...] = ("pmid", "doi", "pmcid", "url")


def content_hash(text: str) -> str:
    """Hex sha256 of ``text`` (UTF-8), shortened to 32 characters: the id of documents and chunks."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Section:
    """A named span ``text[start:end]`` of a document (a Markdown heading's body, a PDF page, ...)."""

    title: str
    start: int
    end: int
    page: int | None = None


@dataclass
class Document:
    """One source document as a reader produced it.

    ``source`` names where it came from (file path, with ``#line`` or ``#id`` for multi-record files); a document
    read again from the same ``source`` with different text replaces the old one. ``sections`` cover ``text``;
    when empty the whole text is one untitled section.
    """

    text: str
    source: str
    title: str = ""
    sections: list[Section] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Content hash of the title and text."""
        return content_hash(self.title + "\x00" + self.text)

    def section_spans(self) -> list[Section]:
        """The sections, or one untitled section spanning the whole text."""
        return self.sections or [Section(title="", start=0, end=len(self.text))]


@dataclass(frozen=True)
class Chunk:
    """A piece of a document: ``document.text[start:end] == text``."""

    doc_id: str
    text: str
    start: int
    end: int
    section: str = ""
    page: int | None = None
    token_count: int = 0

    @property
    def id(self) -> str:
        return content_hash(f"{self.doc_id}:{self.start}:{self.end}")


@dataclass
class Hit:
    """A retrieved chunk with its document's provenance and its score(s)."""

    chunk_id: str
    doc_id: str
    text: str
    score: float
    title: str = ""
    section: str = ""
    start: int = 0
    end: int = 0
    page: int | None = None
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    rank: int = 0
    #: Other documents holding the same text (a repackaged or relabelled copy of a drug label), as
    #: ``{"doc_id", "title", "source"}``: one source that lists the others instead of one citation per copy.
    copies: list[dict[str, str]] = field(default_factory=list)

    @property
    def evidence_score(self) -> float:
        """How close the chunk is to the question on an absolute scale, for abstention: its ``dense`` cosine when it
        has one (hybrid results are ranked by a fused score, which only orders them), else ``score``."""
        return self.scores.get("dense", self.score)

    def identifier(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return None if value in (None, "") else str(value)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rank": self.rank,
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "score": round(self.score, 6),
            "scores": {name: round(value, 6) for name, value in self.scores.items()},
            "section": self.section,
            "start": self.start,
            "end": self.end,
            "page": self.page,
            "source": self.source,
            "text": self.text,
        }
        for key in IDENTIFIER_KEYS:
            out[key] = self.identifier(key)
        out["published"] = self.metadata.get("published")
        if self.copies:
            out["copies"] = [dict(c) for c in self.copies]
        return out


@dataclass
class Citation:
    """Where one inline marker ``[n]`` of an answer points: a chunk that was given to the generator."""

    marker: int
    chunk_id: str
    doc_id: str
    title: str
    section: str
    start: int
    end: int
    quote: str
    pmid: str | None = None
    doi: str | None = None
    url: str | None = None
    page: int | None = None
    source: str = ""
    #: Other documents with the same text (`Hit.copies`).
    copies: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_hit(cls, marker: int, hit: Hit) -> Citation:
        return cls(
            marker=marker,
            chunk_id=hit.chunk_id,
            doc_id=hit.doc_id,
            title=hit.title,
            section=hit.section,
            start=hit.start,
            end=hit.end,
            quote=hit.text,
            pmid=hit.identifier("pmid"),
            doi=hit.identifier("doi"),
            url=hit.identifier("url"),
            page=hit.page,
            source=hit.source,
            copies=[dict(c) for c in hit.copies],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "marker": self.marker,
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "pmid": self.pmid,
            "doi": self.doi,
            "url": self.url,
            "section": self.section,
            "start": self.start,
            "end": self.end,
            "page": self.page,
            "source": self.source,
            "quote": self.quote,
            **({"copies": [dict(c) for c in self.copies]} if self.copies else {}),
        }


NOT_ADVICE = (
    "medkb output is generated from the indexed literature for information only; "
    "it is not medical advice. Check the cited sources and consult a qualified clinician."
)


@dataclass
class AnswerSentence:
    """One sentence of an answer as shown, the citation markers it carries, and how well its best cited passage
    supports it (``generation.verify``'s score, 0 to 1)."""

    text: str
    citations: list[int]
    support: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "citations": list(self.citations), "support": round(self.support, 4)}


@dataclass(frozen=True)
class DrugWarning:
    """A safety warning about a drug an answer (or its question) names, with where it comes from.

    A label-based warning cites ``doc_id``/``source``/``title``/``section`` and the span ``start:end`` of the
    sentence (in the label document's text) that supports it, quoted in ``quote``; a table-based one has
    ``source == generation.safety.TABLE_SOURCE``, no span, and the rule's named source in ``reference``. A
    ``"not checked"`` entry says which patient field (``patient_item``) could not be checked for the drug and why:
    no label in the knowledge base (``source`` empty), or a label without a section that speaks to it.
    """

    drug: str
    kind: WarningKind
    message: str
    patient_item: str
    source: str
    doc_id: str = ""
    title: str = ""
    section: str = ""
    start: int | None = None
    end: int | None = None
    quote: str = ""
    reference: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Answer:
    """A cited answer. Every ``[n]`` in ``text`` has a matching entry in ``citations``; ``sentences`` are the
    sentences of ``text`` with their markers and support; ``drug_warnings`` concern the drugs the question or the
    answer names, for the patient asked about."""

    question: str
    text: str
    citations: list[Citation]
    task: Task = "general"
    abstained: bool = False
    reason: str = ""
    evidence: list[Hit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notice: str = NOT_ADVICE
    sentences: list[AnswerSentence] = field(default_factory=list)
    drug_warnings: list[DrugWarning] = field(default_factory=list)
    language: Language = "en"

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "sentences": [s.to_dict() for s in self.sentences],
            "drug_warnings": [w.to_dict() for w in self.drug_warnings],
            "abstained": self.abstained,
            "reason": self.reason,
            "task": self.task,
            "language": self.language,
            "warnings": list(self.warnings),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "evidence": [h.to_dict() for h in self.evidence],
            "notice": self.notice,
        }


@dataclass
class PatientContext:
    """What is known about the patient a question is asked for (all optional). It shapes retrieval and the prompt
    of one question and is never stored.

    >>> PatientContext(age=67, sex="F", allergies=["penicillin"]).sex
    'female'
    """

    age: int | None = None
    sex: str | None = None
    conditions: list[str] = field(default_factory=list)
    medications: list[str] = field(default_factory=list)
    allergies: list[str] = field(default_factory=list)
    pregnant: bool | None = None
    notes: str = ""
    breastfeeding: bool | None = None

    def __post_init__(self) -> None:
        if self.age is not None and (
            isinstance(self.age, bool) or not isinstance(self.age, int) or not 0 <= self.age <= 130
        ):
            raise MedkbError(f"patient age {self.age!r}: expected a whole number of years from 0 to 130")
        for flag in ("pregnant", "breastfeeding"):
            value = getattr(self, flag)
            if value is not None and not isinstance(value, bool):
                raise MedkbError(f"patient {flag}={value!r}: expected True, False or None")
        if self.sex is not None:
            sex = _SEXES.get(str(self.sex).strip().lower())
            if sex is None:
                raise MedkbError(f"patient sex {self.sex!r}: expected one of F, M, female, male, other")
            self.sex = sex
        for name in ("conditions", "medications", "allergies"):
            values = getattr(self, name)
            if isinstance(values, str) or not all(isinstance(v, str) for v in values):
                raise MedkbError(f"patient {name} {values!r}: expected a list of strings")
            setattr(self, name, [" ".join(v.split()) for v in values if v.strip()])
        self.notes = " ".join((self.notes or "").split())

    def is_empty(self) -> bool:
        """Whether nothing is known about the patient."""
        return (
            self.age is None
            and self.sex is None
            and self.pregnant is None
            and self.breastfeeding is None
            and not (self.conditions or self.medications or self.allergies or self.notes)
        )

    def search_terms(self) -> list[str]:
        """The terms that widen retrieval for a drug or treatment question: conditions, medications, allergies
        (as "<name> allergy") and pregnancy, each once."""
        terms = [*self.conditions, *self.medications, *(f"{a} allergy" for a in self.allergies)]
        if self.pregnant:
            terms.append("pregnancy")
        if self.breastfeeding:
            terms.append("breastfeeding")
        return list(dict.fromkeys(terms))


_SEXES = {"f": "female", "female": "female", "woman": "female", "m": "male", "male": "male", "man": "male"}
_SEXES |= {"other": "other", "x": "other", "女": "female", "男": "male"}
