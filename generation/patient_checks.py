"""A drug checked against the patient's pregnancy, breastfeeding, conditions and age, from the label sections that
speak to each, and a "not checked" notice for every field that no label section could answer.

Each field has its sections, searched in order (`kb.core.drugs` keeps them, subsections such as "8.1 Pregnancy" or an
older label's bare "Pregnancy" included), and two word patterns: the topic (pregnancy; the condition's words; older
or younger patients) and, outside Contraindications and a Boxed Warning, a cue that the sentence restricts or warns
("contraindicated", "avoid", "fetal harm", "not been established", "with caution", ...). The first sentence with both
becomes the warning, cited by its label section and character span. A label's "Pregnancy Category B" line or a
statement that no studies were done is not a warning; "use only if clearly needed" is.

Nothing here is clinical advice: a warning sends the reader to the cited sentence, and the absence of a warning means
only that the label sections medkb reads say nothing the patterns recognise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from generation.safety_messages import message, section_name
from kb.core.drugs import DrugLabel, LabelSection
from kb.core.types import NOT_CHECKED, DrugWarning, Language, PatientContext, WarningKind

#: Sections searched for each field, in order of preference.
PREGNANCY_SECTIONS = (
    "Contraindications",
    "Boxed Warning",
    "Pregnancy",
    "Pregnancy or Breast Feeding",
    "Use in Specific Populations",
    "Warnings and Precautions",
    "Warnings",
    "Precautions",
)
LACTATION_SECTIONS = (
    "Contraindications",
    "Boxed Warning",
    "Lactation",
    "Pregnancy or Breast Feeding",
    "Use in Specific Populations",
    "Warnings and Precautions",
    "Warnings",
    "Precautions",
)
CONDITION_SECTIONS = (
    "Contraindications",
    "Boxed Warning",
    "Do Not Use",
    "Ask Doctor",
    "Warnings and Precautions",
    "Warnings",
    "Precautions",
    "Stop Use",
    "When Using",
    "Renal Impairment",
    "Hepatic Impairment",
    "Use in Specific Populations",
)
OLDER_SECTIONS = ("Boxed Warning", "Contraindications", "Geriatric Use", "Warnings and Precautions", "Warnings")
YOUNGER_SECTIONS = (
    "Boxed Warning",
    "Contraindications",
    "Do Not Use",
    "Pediatric Use",
    "Warnings and Precautions",
    "Warnings",
    "Dosage and Administration",
)
#: Sections in which a mention of the topic is enough (they exist to restrict or warn).
_RESTRICTING = frozenset(("Contraindications", "Boxed Warning", "Do Not Use", "Ask Doctor"))
#: Ages the label sections on age speak to: under 18 (pediatric use), 65 and over (geriatric use).
CHILD_BELOW, OLDER_FROM = 18, 65


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_PREGNANCY = _words(r"\bpregnan|\bfetus|\bfetal\b|\bfoetal\b|\bgestation|妊娠|孕")
_PREGNANCY_CUE = _words(
    r"contraindicat|fetal harm|harm to the fetus|harm the fetus|category [dx]\b|\bavoid|discontinue|should not|"
    r"must not|do not (use|take)|not be used|not recommended|teratogen|birth defects?|fetal toxicity|"
    r"embryo-?fetal toxicity|premature closure|oligohydramnios|only if (clearly|the potential)|"
    r"ask a (doctor|health professional)|risk to the fetus|fetal (death|loss)|miscarriage|abortion|"
    r"increases? (the )?risk|increased risk"
)
_OLDER = _words(r"\belderly\b|\bgeriatric|\bolder (adults?|patients|individuals|people|subjects)|\b65 years|\baged\b")
_YOUNGER = _words(
    r"\bpediatric|\bpaediatric|\bchildren\b|\bchild\b|\badolescents?\b|\binfants?\b|\bneonat|under (the age of )?1\d|"
    r"(younger|less) than 1\d( years)?"
)
_LACTATION = _words(r"breast-?feed|breastfed|breast feeding|nursing|lactat|human milk|哺乳")
_LACTATION_CUE = _words(
    r"contraindicat|should not|must not|do not (use|take)|not recommended|\bavoid|discontinue|advise .{0,40}not to|"
    r"ask a (doctor|health professional)|serious adverse reactions|may be harmful|increases? (the )?risk|"
    r"decision should be made|caution|stop (nursing|breast)"
)
#: Sentences about breastfed infants speak to the mother, not to a young patient.
_NURSING = _words(r"breast-?feed|breastfed|nursing|lactat|human milk")
_AGE_CUE = _words(
    r"contraindicat|not (been )?established|not recommended|should not|\bavoid|not approved|increased (risk|mortality|"
    r"incidence)|mortality|\bdeath|do not (use|give)|ask a doctor|with caution|caution (should|must) be|use caution|"
    r"exercise caution|reduce(d)? (the )?dos|lower dose|increases? (the )?risk"
)
_CONDITION_CUE = _words(
    r"contraindicat|caution|\bavoid|not recommended|should not|must not|increased (risk|mortality)|mortality|\bdeath|"
    r"fatal|worsen|exacerbat|reduc\w* (the )?dos|dose reduction|lower dose|monitor|not be used|do not (use|take)|"
    r"ask a doctor|serious|life-threatening|increases? (the )?risk"
)
#: Words of the label that name a condition the patient record names in other words (record words -> label words).
CONDITION_TERMS: dict[str, tuple[str, ...]] = {
    "renal": ("renal", "kidney", "creatinine clearance"),
    "kidney": ("renal", "kidney", "creatinine clearance"),
    "肾": ("renal", "kidney", "creatinine clearance"),
    "hepatic": ("hepatic", "liver", "cirrhosis"),
    "liver": ("hepatic", "liver", "cirrhosis"),
    "cirrhosis": ("hepatic", "liver", "cirrhosis"),
    "肝": ("hepatic", "liver", "cirrhosis"),
    "heart failure": ("heart failure", "cardiac failure"),
    "心衰": ("heart failure", "cardiac failure"),
    "心力衰竭": ("heart failure", "cardiac failure"),
    "bleeding": ("bleeding", "hemorrhage", "haemorrhage", "bleed"),
    "hemorrhage": ("bleeding", "hemorrhage", "haemorrhage", "bleed"),
    "出血": ("bleeding", "hemorrhage", "haemorrhage", "bleed"),
    "ulcer": ("ulcer", "gastrointestinal bleeding"),
    "dementia": ("dementia",),
    "痴呆": ("dementia",),
    "asthma": ("asthma", "bronchospasm"),
    "哮喘": ("asthma", "bronchospasm"),
    "epilepsy": ("seizure", "epilepsy", "convulsion"),
    "seizure": ("seizure", "epilepsy", "convulsion"),
    "diabetes": ("diabetes", "hyperglycemia"),
    "parkinson": ("parkinson",),
}
#: A statement that something was not found ("No fetal harm was observed"): not a warning, whatever words it has.
_NEGATED = _words(
    r"\bno (evidence of )?(fetal harm|harm|teratogenic|increased?|adverse)|did not (cause|show|reveal|produce|"
    r"increase)|(was|were) not (observed|seen|teratogenic)|\bnot teratogenic|\binsufficient to|background risk"
)
#: "[see Contraindications (4.3)]": a pointer to another section, not what the sentence says.
_CROSS_REFERENCE = re.compile(r"\[\s*see [^\]]*\]|\(\s*see [^)]*\)", re.IGNORECASE)
_STOP = frozenset(
    "a an and of the with history chronic severe mild moderate disease disorder patient known prior".split()
)
_HEADING_ONLY = re.compile(r"(\d+(\.\d+)*\.?\s+)?[^-•■.:;!?。][^.:;!?。]{0,79}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[])|(?<=[。！？；])")


@dataclass(frozen=True)
class _Field:
    """One patient field to check: what the record says, the sections, the topic and the cue."""

    item: str  # as the warning quotes it: "pregnant", "age 81", "renal impairment"
    kind: WarningKind
    name: str  # the field, in messages: pregnancy, the condition, older or younger age
    sections: tuple[str, ...]
    topic: re.Pattern[str]
    cue: re.Pattern[str]
    #: Sentences about other patients than this one (children, for an adult) are skipped.
    other: re.Pattern[str] | None = None
    #: The section that is about the field as a whole: its sentences need no topic word.
    own_section: str = ""


def fields_of(patient: PatientContext, language: Language = "en") -> list[_Field]:
    """The fields of ``patient`` the label sections can speak to: pregnancy and breastfeeding (when so), each
    condition, and an age under 18 or of 65 and over."""
    out = []
    adult = _YOUNGER if patient.age is not None and patient.age >= CHILD_BELOW else None
    if patient.pregnant:
        name = message("field_pregnancy", language)
        out.append(_Field("pregnant", "pregnancy", name, PREGNANCY_SECTIONS, _PREGNANCY, _PREGNANCY_CUE, adult))
    if patient.breastfeeding:
        name = message("field_lactation", language)
        out.append(_Field("breastfeeding", "lactation", name, LACTATION_SECTIONS, _LACTATION, _LACTATION_CUE))
    for condition in patient.conditions:
        topic = _condition_topic(condition)
        if topic is not None:
            out.append(_Field(condition, "condition", condition, CONDITION_SECTIONS, topic, _CONDITION_CUE, adult))
    if patient.age is not None and patient.age >= OLDER_FROM:
        name = message("field_older", language)
        item = f"age {patient.age}"
        out.append(_Field(item, "age", name, OLDER_SECTIONS, _OLDER, _AGE_CUE, own_section="Geriatric Use"))
    elif patient.age is not None and patient.age < CHILD_BELOW:
        name = message("field_younger", language)
        item = f"age {patient.age}"
        out.append(_Field(item, "age", name, YOUNGER_SECTIONS, _YOUNGER, _AGE_CUE, _NURSING, "Pediatric Use"))
    return out


def check_patient(
    drug: str, labels: Sequence[DrugLabel], patient: PatientContext, *, language: Language = "en"
) -> list[DrugWarning]:
    """For each field of ``patient`` (`fields_of`): the first sentence of ``drug``'s labels that warns about it, as a
    cited warning; or a "not checked" entry when no label is given or none has a section that speaks to the field."""
    out = []
    for field in fields_of(patient, language):
        if not labels:
            text = message("no_label", language, drug=drug, field=field.name)
            out.append(DrugWarning(drug, NOT_CHECKED, text, field.item, ""))
            continue
        found = next((w for label in labels if (w := _warning(drug, label, field, language))), None)
        if found is not None:
            out.append(found)
        elif not any(_speaks_to(label, field) for label in labels):
            label = labels[0]
            text = message("no_section", language, title=label.title, field=field.name)
            out.append(DrugWarning(drug, NOT_CHECKED, text, field.item, label.source, label.doc_id, label.title))
    return out


def not_checked_without_label(drug: str, patient: PatientContext, language: Language = "en") -> list[DrugWarning]:
    """The allergies and medications of ``patient`` checked against the class table only, for a drug without a
    label in the knowledge base."""
    out = []
    for items, key in ((patient.allergies, "field_allergies"), (patient.medications, "field_medications")):
        if items:
            text = message("table_only", language, drug=drug, field=message(key, language))
            out.append(DrugWarning(drug, NOT_CHECKED, text, ", ".join(items), ""))
    return out


def _condition_topic(condition: str) -> re.Pattern[str] | None:
    lowered = " ".join(condition.lower().split())
    terms = {term for key, words in CONDITION_TERMS.items() if key in lowered for term in words}
    if not terms:
        terms = {w for w in re.findall(r"[a-z][a-z'-]{2,}", lowered) if w not in _STOP}
    if not terms:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + ")", re.I)


def _speaks_to(label: DrugLabel, field: _Field) -> bool:
    """Whether one of the field's sections is in the label and is about the field (its own section) or names its
    topic."""
    return any(
        (s := label.sections.get(name)) is not None and (name == field.own_section or field.topic.search(s.text))
        for name in field.sections
    )


def _warning(drug: str, label: DrugLabel, field: _Field, language: Language) -> DrugWarning | None:
    for name in field.sections:
        section = label.sections.get(name)
        if section is None:
            continue
        for start, end in _sentences(section.text):
            sentence = section.text[start:end]
            on_topic = name == field.own_section or field.topic.search(sentence)
            if _HEADING_ONLY.fullmatch(sentence) or not on_topic or _NEGATED.search(sentence):
                continue
            if field.other is not None and field.other.search(sentence):
                continue
            if name not in _RESTRICTING and not field.cue.search(_CROSS_REFERENCE.sub(" ", sentence)):
                continue
            at = section.start + start
            cited = _innermost(label, at, section.start + end) or section
            text = message(
                "patient_label",
                language,
                section=section_name(cited.name, language),
                title=label.title,
                field=field.name,
            )
            quote = sentence
            return DrugWarning(
                drug, field.kind, text, field.item, label.source, label.doc_id, label.title, cited.name, at,
                section.start + end, quote,
            )  # fmt: skip
    return None


def _innermost(label: DrugLabel, start: int, end: int) -> LabelSection | None:
    """The smallest of the label's sections that holds ``start:end`` (a subsection before its parent)."""
    holding = [s for s in label.sections.values() if s.start <= start and end <= s.end]
    return min(holding, key=lambda s: s.end - s.start, default=None)


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the sentences (and list lines) of ``text``, without outer spaces."""
    offset = 0
    for line in text.splitlines(keepends=True):
        lo = 0
        for m in _SENTENCE_END.finditer(line):
            yield from _trimmed(line, lo, m.start(), offset)
            lo = m.end()
        yield from _trimmed(line, lo, len(line), offset)
        offset += len(line)


def _trimmed(line: str, lo: int, hi: int, offset: int) -> Iterator[tuple[int, int]]:
    while lo < hi and line[lo].isspace():
        lo += 1
    while hi > lo and line[hi - 1].isspace():
        hi -= 1
    if hi > lo:
        yield offset + lo, offset + hi
