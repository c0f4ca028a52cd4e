"""The drug table's data model: what a DailyMed label says about one drug, for the safety checks.

A `DrugLabel` holds the names a drug goes by (brand and generic names, active ingredients) and the label sections a
warning cites, each with its character span in the stored document's text, so a warning resolves to the exact words.
It is built from a stored `Document` by :func:`drug_label_from_document`; the store keeps one per label document.

Example::

    label = drug_label_from_document(doc)
    if label and "Drug Interactions" in label.sections:
        section = label.sections["Drug Interactions"]
        assert doc.text[section.start : section.end] == section.text
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kb.core.types import Document

#: The label sections a drug row keeps, as `ingest.readers.spl` names them: those that speak to the patient's other
#: medicines, allergies, conditions, pregnancy and age. Older labels have no "Use in Specific Populations"; their
#: pregnancy, nursing, pediatric and geriatric statements sit in "Precautions" (or "Warnings"). Over-the-counter
#: labels say the same things in their Drug Facts sections.
SAFETY_SECTIONS: tuple[str, ...] = (
    "Boxed Warning",
    "Contraindications",
    "Drug Interactions",
    "Warnings and Precautions",
    "Warnings",
    "Precautions",
    "Use in Specific Populations",
    # The Drug Facts of an over-the-counter label.
    "Do Not Use",
    "Ask Doctor",
    "Ask Doctor or Pharmacist",
    "When Using",
    "Stop Use",
    "Pregnancy or Breast Feeding",
    # Where an over-the-counter label sets its age limits ("children under 12 years: ask a doctor").
    "Dosage and Administration",
)

#: Subsections found inside those sections by their heading lines ("8.1 Pregnancy", or a bare "Pregnancy" in an older
#: label's Precautions), kept under these names when the label has no top-level section of the same name.
SUBSECTIONS: dict[str, tuple[str, ...]] = {
    "Pregnancy": ("pregnancy", "usage in pregnancy", "use in pregnancy", "pregnancy and lactation"),
    "Lactation": ("lactation", "nursing mothers", "nursing women", "breastfeeding"),
    "Pediatric Use": ("pediatric use", "use in children", "pediatric patients"),
    "Geriatric Use": ("geriatric use", "use in the elderly", "use in elderly patients", "geriatric patients"),
    "Drug Interactions": ("drug interactions",),
    "Renal Impairment": ("renal impairment", "use in patients with renal impairment"),
    "Hepatic Impairment": ("hepatic impairment", "use in patients with hepatic impairment"),
}
# A heading line: optionally numbered ("8.1", "4.3."), then a name, an optional colon, nothing else.
_NUMBERED = re.compile(r"^\s*(\d+(?:\.\d+)+)\.?\s+(\S.*?)\s*:?\s*$")
_BARE = re.compile(r"^\s*([A-Za-z][A-Za-z ,/&-]{2,60}?)\s*:?\s*$")
#: Headings of an older label's Precautions and Warnings that end the subsection before them.
_OLD_HEADINGS = frozenset(
    (
        *(name for names in SUBSECTIONS.values() for name in names),
        "general",
        "information for patients",
        "laboratory tests",
        "carcinogenesis, mutagenesis, impairment of fertility",
        "carcinogenesis, mutagenesis and impairment of fertility",
        "labor and delivery",
        "teratogenic effects",
        "nonteratogenic effects",
    )
)

# Salt, ester and hydrate words that end an ingredient's name: "atorvastatin calcium trihydrate" is atorvastatin.
_SALT_WORDS = frozenset(
    "acetate anhydrous besylate bitartrate bromide calcium chloride citrate dihydrate disodium dipotassium fumarate"
    " hcl hydrobromide hydrochloride hydrate hyclate magnesium maleate mesylate monohydrate phosphate potassium"
    " sesquihydrate sodium succinate sulfate sulphate tartrate trihydrate tromethamine".split()
)
_MARKS = re.compile(r"[®™©*]")


@dataclass(frozen=True)
class LabelSection:
    """One section of a label: ``document.text[start:end] == text``."""

    name: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class DrugLabel:
    """A drug label's names and safety sections (keyed by section name)."""

    doc_id: str
    source: str
    title: str
    names: tuple[str, ...] = ()
    ingredients: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    sections: Mapping[str, LabelSection] = field(default_factory=dict)

    def lookup_names(self) -> set[str]:
        """Every lower-case name that finds this label: its names and ingredients, with and without their salts."""
        return {key for name in (*self.names, *self.ingredients) for key in name_keys(name)}

    def to_json(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "ingredients": list(self.ingredients),
            "classes": list(self.classes),
            "sections": [s.__dict__ for s in self.sections.values()],
        }

    @classmethod
    def from_json(cls, doc_id: str, source: str, title: str, data: Mapping[str, Any]) -> DrugLabel:
        sections = [LabelSection(**s) for s in data.get("sections", [])]
        return cls(
            doc_id=doc_id,
            source=source,
            title=title,
            names=tuple(data.get("names", ())),
            ingredients=tuple(data.get("ingredients", ())),
            classes=tuple(data.get("classes", ())),
            sections={s.name: s for s in sections},
        )


def is_drug_label(doc: Document) -> bool:
    """Whether ``doc`` is a DailyMed drug label (as `ingest.readers.spl` reads one)."""
    return is_drug_label_metadata(doc.source, doc.metadata)


def is_drug_label_metadata(source: str, metadata: Mapping[str, Any]) -> bool:
    """Whether a document of this ``source`` and ``metadata`` (a hit's, say) is a DailyMed drug label."""
    return metadata.get("source_name") == "DailyMed" or source.startswith("dailymed:")


def drug_label_from_document(doc: Document) -> DrugLabel | None:
    """The drug row of a DailyMed label document; None for other documents and for labels that name no drug.

    Names are the products and their generic names (a combination's generic name split at commas and "and"),
    ingredients the active ingredients and moieties; a section that occurs twice is kept at its first occurrence.
    """
    if not is_drug_label(doc):
        return None
    meta = doc.metadata
    names = _unique([*_strings(meta.get("products")), *_split_names(_strings(meta.get("generic_names")))])
    ingredients = _unique([*_strings(meta.get("active_ingredients")), *_strings(meta.get("active_moieties"))])
    if not names and not ingredients:
        return None
    sections: dict[str, LabelSection] = {}
    for section in doc.sections:
        if section.title in SAFETY_SECTIONS and section.title not in sections:
            text = doc.text[section.start : section.end]
            sections[section.title] = LabelSection(section.title, text, section.start, section.end)
    found = {name: sections[name] for name in SAFETY_SECTIONS if name in sections}
    for parent in list(found.values()):
        for sub in subsections(parent):
            found.setdefault(sub.name, sub)
    return DrugLabel(
        doc_id=doc.id,
        source=doc.source,
        title=doc.title,
        names=tuple(names),
        ingredients=tuple(ingredients),
        classes=tuple(_unique(_strings(meta.get("pharmacologic_classes")))),
        sections=found,
    )


def subsections(section: LabelSection) -> list[LabelSection]:
    """The subsections of `SUBSECTIONS` inside ``section``, found by their heading lines: a numbered one ("8.1
    Pregnancy") runs to the next numbered heading, a bare one (an older label's "Pregnancy") to the next heading an
    older label uses (`_OLD_HEADINGS`); each ends at the section's end at the latest. Spans are in the document."""
    lines: list[tuple[int, int, str, bool]] = []  # (start, end, lower-case heading text, numbered) per heading line
    offset = 0
    for line in section.text.splitlines(keepends=True):
        text = line.rstrip("\r\n")
        numbered, bare = _NUMBERED.match(text), _BARE.match(text)
        if numbered and len(numbered.group(2)) <= 80:
            lines.append((offset, offset + len(text), numbered.group(2).lower(), True))
        elif bare:
            lines.append((offset, offset + len(text), " ".join(bare.group(1).lower().split()), False))
        offset += len(line)
    out: list[LabelSection] = []
    for i, (start, _, heading, numbered) in enumerate(lines):
        name = next((n for n, aliases in SUBSECTIONS.items() if heading in aliases), None)
        if name is None or any(s.name == name for s in out):
            continue
        end = len(section.text)
        for later_start, _, later, later_numbered in lines[i + 1 :]:
            if (numbered and later_numbered) or (not numbered and (later_numbered or later in _OLD_HEADINGS)):
                end = later_start
                break
        body = section.text[start:end].rstrip()
        out.append(LabelSection(name, body, section.start + start, section.start + start + len(body)))
    return out


def name_keys(name: str) -> list[str]:
    """The lower-case keys a drug name is looked up by: the name, and the name without trailing salt words."""
    words = _MARKS.sub(" ", name).lower().split()
    if not words:
        return []
    keys = [" ".join(words)]
    while len(words) > 1 and words[-1] in _SALT_WORDS:
        words.pop()
        keys.append(" ".join(words))
    return keys


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value if isinstance(v, str)]
    return []


def _split_names(names: Iterable[str]) -> list[str]:
    """ "Diphenhydramine HCl, Phenylephrine HCl" as its two names."""
    return [part for name in names for part in re.split(r",|\band\b", name) if part.strip()]


def _unique(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in values:
        value = " ".join(_MARKS.sub(" ", value).split())
        if value and value.casefold() not in seen:
            seen.add(value.casefold())
            out.append(value)
    return out
