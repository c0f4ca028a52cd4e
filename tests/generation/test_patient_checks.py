"""Drugs checked against pregnancy, conditions and age from real FDA labels (the openFDA SPL fixtures and DailyMed
labels under $MEDKB_DATA_DIR), the class table's interactions, and "not checked" entries instead of silence."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from generation.safety import TABLE_SOURCE, check_drugs, lookup_names
from kb import KnowledgeBase, Settings
from kb.cli import render_drug_warnings
from kb.core.drugs import DrugLabel, LabelSection, subsections
from kb.core.types import NOT_CHECKED, DrugWarning, PatientContext
from tests.shared_data import NEEDS_DATA, SHARED_DATA

FDA_SPL = SHARED_DATA / "fda_drug_labels" / "spl"
IBUPROFEN = SHARED_DATA / "dailymed_spl" / "ibuprofen-1a02fa34.xml"


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    if not FDA_SPL.is_dir() or not IBUPROFEN.is_file():
        pytest.skip(f"{NEEDS_DATA}: SPL labels not present")
    settings = Settings(embedder="hashing", cross_lingual_embedder="")
    with KnowledgeBase.create(tmp_path_factory.mktemp("patient") / "kb", settings) as made:
        made.ingest([FDA_SPL, IBUPROFEN])
        yield made


def _check(kb: KnowledgeBase, drugs: list[str], patient: PatientContext) -> list[DrugWarning]:
    labels = kb.storage.store.drugs.drug_labels_for(lookup_names(drugs, patient))
    return check_drugs(drugs, patient, labels)


def _cited(kb: KnowledgeBase, warning: DrugWarning, *words: str) -> str:
    """The quote, checked to be the label document's own words at the cited span, inside the cited section."""
    doc = kb.storage.store.documents.get_document(warning.doc_id)
    assert doc is not None and warning.start is not None and warning.end is not None
    assert doc.text[warning.start : warning.end] == warning.quote
    (label,) = [lab for lab in kb.storage.store.drugs.drug_labels_for([warning.drug]) if lab.doc_id == warning.doc_id]
    section = label.sections[warning.section]
    assert section.start <= warning.start < warning.end <= section.end
    for word in words:
        assert word.lower() in warning.quote.lower()
    return warning.quote


def test_atorvastatin_in_pregnancy_warns_from_the_label(kb: KnowledgeBase) -> None:
    warnings = _check(kb, ["atorvastatin"], PatientContext(age=31, pregnant=True))
    (pregnancy,) = [w for w in warnings if w.kind == "pregnancy"]
    assert pregnancy.patient_item == "pregnant" and pregnancy.section == "Pregnancy"
    assert "LIPITOR" in pregnancy.title
    _cited(kb, pregnancy, "pregnant")
    assert not [w for w in warnings if w.kind == "age"]  # 31: no age band to check


def test_haloperidol_with_dementia_warns_from_the_boxed_warning(kb: KnowledgeBase) -> None:
    warnings = _check(kb, ["haloperidol"], PatientContext(age=81, conditions=["dementia"]))
    by_kind = {w.kind: w for w in warnings}
    assert by_kind["condition"].section == "Boxed Warning" and by_kind["condition"].patient_item == "dementia"
    _cited(kb, by_kind["condition"], "dementia", "death")
    _cited(kb, by_kind["age"], "elderly")


def test_warfarin_with_ibuprofen_warns_whichever_is_asked_about(kb: KnowledgeBase) -> None:
    (asked_ibuprofen,) = [
        w for w in _check(kb, ["ibuprofen"], PatientContext(medications=["warfarin"])) if w.kind != NOT_CHECKED
    ]
    assert asked_ibuprofen.kind == "interaction" and asked_ibuprofen.section == "Drug Interactions"
    _cited(kb, asked_ibuprofen, "warfarin")
    found = _check(kb, ["warfarin"], PatientContext(medications=["ibuprofen"]))
    (asked_warfarin,) = [w for w in found if w.kind == "interaction"]
    assert asked_warfarin.doc_id == asked_ibuprofen.doc_id  # the medication's label speaks for the pair
    (unchecked,) = [w for w in found if w.kind == NOT_CHECKED]
    assert unchecked.drug == "warfarin" and "none in the knowledge base" in unchecked.message


def test_a_drug_without_a_label_is_not_checked_and_the_cli_says_so(kb: KnowledgeBase) -> None:
    patient = PatientContext(age=70, pregnant=True, conditions=["renal impairment"])
    warnings = _check(kb, ["metformin"], patient)
    assert {(w.kind, w.patient_item) for w in warnings} == {
        (NOT_CHECKED, "pregnant"),
        (NOT_CHECKED, "renal impairment"),
        (NOT_CHECKED, "age 70"),
    }
    lines = "\n".join(render_drug_warnings(warnings))
    assert lines.count("[not checked] metformin") == 3 and "no label for metformin" in lines


def test_a_label_without_a_section_on_the_field_is_not_checked() -> None:
    text = "7 DRUG INTERACTIONS\nNo interaction studies were done."
    label = DrugLabel(
        "d",
        "dailymed:y",
        "Y tablets",
        names=("y",),
        sections={"Drug Interactions": LabelSection("Drug Interactions", text, 0, len(text))},
    )
    (warning,) = check_drugs(["y"], PatientContext(pregnant=True), [label])
    assert (warning.kind, warning.doc_id, warning.patient_item) == (NOT_CHECKED, "d", "pregnant")
    assert "Y tablets label has no section that speaks to pregnancy" in warning.message


def test_older_labels_have_their_pregnancy_and_age_subsections_found(kb: KnowledgeBase) -> None:
    (label,) = kb.storage.store.drugs.drug_labels_for(["haloperidol"])
    pregnancy, warnings_section = label.sections["Pregnancy"], label.sections["Warnings"]
    assert pregnancy.text.startswith("Usage in Pregnancy")
    assert warnings_section.start < pregnancy.start < pregnancy.end <= warnings_section.end
    assert {"Pediatric Use", "Geriatric Use"} <= set(label.sections)
    (child,) = [w for w in check_drugs(["haloperidol"], PatientContext(age=8), [label]) if w.kind == "age"]
    assert child.section == "Pediatric Use" and "not been established" in child.quote


def test_nitrates_with_a_pde5_inhibitor_from_the_label_or_the_class_table(kb: KnowledgeBase) -> None:
    on_label = _check(kb, ["sildenafil"], PatientContext(medications=["isosorbide mononitrate"]))
    assert [(w.kind, w.section) for w in on_label] == [("contraindication", "Contraindications")]
    no_label = _check(kb, ["tadalafil"], PatientContext(medications=["nitroglycerin"]))
    (table,) = [w for w in no_label if w.kind == "interaction"]
    assert table.source == TABLE_SOURCE and "PDE5" in table.reference and "contraindicated" in table.message


def test_statements_that_nothing_was_found_are_not_warnings() -> None:
    text = "8.1 Pregnancy\nNo fetal harm was observed in animal studies.\nUse only if clearly needed in pregnancy.\n"
    section = LabelSection("Use in Specific Populations", text, 100, 100 + len(text))
    (sub,) = subsections(section)
    assert (sub.name, sub.start) == ("Pregnancy", 100)

    label = DrugLabel("d", "dailymed:x", "X", names=("x",), sections={"Pregnancy": sub})
    (warning,) = check_drugs(["x"], PatientContext(pregnant=True), [label])
    assert warning.kind == "pregnancy" and warning.quote == "Use only if clearly needed in pregnancy."


def test_label_sections_are_cited_by_their_names_not_their_codes(kb: KnowledgeBase) -> None:
    sections = {r[0] for r in kb.storage.store._db.execute("SELECT DISTINCT section FROM chunks")}
    assert "Contraindications" in sections and "Boxed Warning" in sections
    assert not [s for s in sections if re.search(r"\d{4,5}-\d", s)]


def test_breastfeeding_is_checked_against_the_nursing_sections(kb: KnowledgeBase) -> None:
    (lipitor,) = [w for w in _check(kb, ["lipitor"], PatientContext(breastfeeding=True)) if w.kind == "lactation"]
    assert lipitor.section == "Lactation" and lipitor.patient_item == "breastfeeding"
    _cited(kb, lipitor)
    (viagra,) = _check(kb, ["sildenafil"], PatientContext(breastfeeding=True))
    assert viagra.kind == NOT_CHECKED and "speaks to breastfeeding" in viagra.message
