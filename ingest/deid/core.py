"""Find Safe Harbor identifiers in text and replace each with a typed placeholder, keeping an offset map."""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ingest.deid.names import find_names
from ingest.deid.patterns import find_structured
from kb.core.errors import MedkbError
from kb.core.types import Document

#: Identifier kinds, most trusted first: where two candidates overlap, the earlier kind wins.
KINDS: tuple[str, ...] = (
    "EMAIL",
    "URL",
    "IP",
    "SSN",
    "MRN",
    "ACCOUNT",
    "LICENSE",
    "DEVICE",
    "HEALTHPLAN",
    "FAX",
    "PHONE",
    "DATE",
    "AGE",
    "ADDRESS",
    "ZIP",
    "NAME",
)
#: What replaces each kind in redacted text.
PLACEHOLDERS: dict[str, str] = {kind: f"[{kind}]" for kind in KINDS} | {"AGE": "[AGE>89]"}


class DeidentificationError(MedkbError):
    """A de-identifier was configured with an unknown identifier kind."""


@dataclass(frozen=True)
class PhiSpan:
    """One identifier found in a text: ``text == original[start:end]``, of kind ``kind`` (one of ``KINDS``)."""

    start: int
    end: int
    kind: str
    text: str


@dataclass(frozen=True)
class Redaction:
    """A redacted text, the spans of the original it replaced, and the map from original to redacted offsets."""

    original: str
    text: str
    spans: list[PhiSpan] = field(default_factory=list)
    _starts: list[int] = field(init=False, repr=False, compare=False)
    _shifts: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shifts, total = [], 0
        for s in self.spans:
            shifts.append(total)  # how far this span's start has moved in the redacted text
            total += len(PLACEHOLDERS[s.kind]) - (s.end - s.start)
        object.__setattr__(self, "_starts", [s.start for s in self.spans])
        object.__setattr__(self, "_shifts", shifts)

    def map_offset(self, offset: int, side: str = "start") -> int:
        """Where original ``offset`` lands in ``text``.

        Offsets outside identifiers shift by the length changes before them. An offset strictly inside an
        identifier maps to its placeholder's start (``side="start"``) or end (``side="end"``), so a range that
        cut through an identifier still covers the whole placeholder.
        """
        if not 0 <= offset <= len(self.original):
            raise ValueError(f"offset {offset} is outside the original text (0..{len(self.original)})")
        i = bisect.bisect_right(self._starts, offset) - 1
        if i < 0:
            return offset
        span, shift = self.spans[i], self._shifts[i]
        new_start = span.start + shift
        if offset >= span.end:
            return offset + shift + len(PLACEHOLDERS[span.kind]) - (span.end - span.start)
        if offset == span.start or side == "start":
            return new_start
        return new_start + len(PLACEHOLDERS[span.kind])

    def counts(self) -> dict[str, int]:
        """Number of identifiers of each kind."""
        return dict(Counter(s.kind for s in self.spans))


class Deidentifier:
    """HIPAA Safe Harbor de-identification by patterns plus name dictionaries; no model, no network.

    >>> Deidentifier().redact("Seen by Dr. Okonkwo on 03/14/2023, MRN 00482913.").text
    'Seen by Dr. [NAME] on [DATE], MRN [MRN].'

    ``kinds`` limits what is redacted (default: all of ``KINDS``); ``name_dictionary=False`` finds names from
    context cues only, without the census lists.
    """

    def __init__(self, kinds: Collection[str] | None = None, name_dictionary: bool = True) -> None:
        chosen = set(KINDS if kinds is None else kinds)
        unknown = chosen - set(KINDS)
        if unknown:
            raise DeidentificationError(f"unknown identifier kinds {sorted(unknown)}; expected some of {KINDS}")
        self.kinds = frozenset(chosen)
        self.name_dictionary = name_dictionary

    def find(self, text: str, known_names: Collection[str] = ()) -> list[PhiSpan]:
        """The identifiers in ``text``: sorted and non-overlapping (the more trusted kind wins a conflict).

        ``known_names`` are names found elsewhere (a document's body, when redacting its title): their words are
        redacted wherever they appear in ``text``.
        """
        candidates = list(find_structured(text))
        if "NAME" in self.kinds:
            candidates += [(s, e, "NAME") for s, e in find_names(text, self.name_dictionary, known_names)]
        rank = {kind: i for i, kind in enumerate(KINDS)}
        candidates = [c for c in candidates if c[2] in self.kinds and c[1] > c[0]]
        candidates.sort(key=lambda c: (rank[c[2]], c[0] - c[1], c[0]))
        taken: list[tuple[int, int, str]] = []
        for start, end, kind in candidates:
            if kind == "NAME":
                # a name may grow to absorb overlapping name candidates, never another kind
                overlapping = [t for t in taken if t[0] < end and start < t[1]]
                if overlapping and all(t[2] == "NAME" for t in overlapping):
                    for t in overlapping:
                        taken.remove(t)
                    start, end = min([start] + [t[0] for t in overlapping]), max([end] + [t[1] for t in overlapping])
                elif overlapping:
                    continue
            elif any(t[0] < end and start < t[1] for t in taken):
                continue
            taken.append((start, end, kind))
        taken.sort()
        return [PhiSpan(s, e, k, text[s:e]) for s, e, k in _join_names(text, taken)]

    def redact(self, text: str, known_names: Collection[str] = ()) -> Redaction:
        """``text`` with each identifier replaced by its placeholder (``[NAME]``, ``[DATE]``, ``[AGE>89]``, ...)."""
        spans = self.find(text, known_names)
        parts, pos = [], 0
        for s in spans:
            parts += [text[pos : s.start], PLACEHOLDERS[s.kind]]
            pos = s.end
        parts.append(text[pos:])
        return Redaction(original=text, text="".join(parts), spans=spans)


def _join_names(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Merge name spans separated only by spaces ("[NAME] [NAME]" reads as one person)."""
    out: list[tuple[int, int, str]] = []
    for span in spans:
        if out and span[2] == "NAME" == out[-1][2] and text[out[-1][1] : span[0]].strip(" ") == "":
            out[-1] = (out[-1][0], span[1], "NAME")
        else:
            out.append(span)
    return out


def _redact_value(value: Any, deid: Deidentifier, counts: Counter[str], names: Collection[str]) -> Any:
    if isinstance(value, str):
        red = deid.redact(value, names)
        counts.update(red.counts())
        return red.text
    if isinstance(value, Mapping):
        return {k: _redact_value(v, deid, counts, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v, deid, counts, names) for v in value)
    return value


def deidentify_document(doc: Document, deidentifier: Deidentifier | None = None) -> Document:
    """A copy of ``doc`` with title, text, section titles and string metadata values redacted.

    Sections are remapped onto the redacted text, so ``text[s.start:s.end]`` is still that section. The copy's
    metadata gains ``deidentified=True`` and ``phi_counts`` ({kind: n}); ``source`` (a path) is left to the caller.

    >>> doc = Document(text="Patient: Kwame Osei, DOB 1/2/1950", source="note.txt")
    >>> deidentify_document(doc).text
    'Patient: [NAME], DOB [DATE]'
    """
    deid = deidentifier or Deidentifier()
    counts: Counter[str] = Counter()
    body = deid.redact(doc.text)
    counts.update(body.counts())
    names = {s.text for s in body.spans if s.kind == "NAME"}  # "Letter for Kwame Osei" has no cue of its own
    title = _redact_value(doc.title, deid, counts, names)
    sections = [
        replace(
            s,
            title=_redact_value(s.title, deid, counts, names),
            start=body.map_offset(s.start, "start"),
            end=body.map_offset(s.end, "end"),
        )
        for s in doc.sections
    ]
    metadata = _redact_value(dict(doc.metadata), deid, counts, names)
    metadata["deidentified"] = True
    metadata["phi_counts"] = dict(sorted(counts.items()))
    return Document(text=body.text, source=doc.source, title=title, sections=sections, metadata=metadata)
