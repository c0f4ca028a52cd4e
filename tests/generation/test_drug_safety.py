"""Drug safety checks: allergies and class cross-reactivity from the class table, interactions and
contraindications cited from the real DailyMed labels of the fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from generation.safety import TABLE_SOURCE, DrugWarning, check_drugs, find_drugs, lookup_names
from kb import KnowledgeBase, Settings
from kb.core.types import NOT_CHECKED, PatientContext
from tests.shared_data import NEEDS_DATA, SHARED_DATA

SPL = SHARED_DATA / "fda_drug_labels" / "spl"
needs_labels = pytest.mark.skipif(
    not SPL.is_dir(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)


@pytest.fixture(scope="module")
def labels_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    if not SPL.is_dir():
        pytest.skip(f"{NEEDS_DATA}: SPL fixtures not present")
    kb = KnowledgeBase.create(
        tmp_path_factory.mktemp("safety") / "kb", Settings(embedder="hashing", cross_lingual_embedder="")
    )
    kb.ingest([SPL])
    yield kb
    kb.close()


def _check_all(kb: KnowledgeBase | None, drugs: list[str], patient: PatientContext) -> list[DrugWarning]:
    labels = kb.storage.store.drugs.drug_labels_for(lookup_names(drugs, patient)) if kb else []
    return check_drugs(drugs, patient, labels)


def _check(kb: KnowledgeBase | None, drugs: list[str], patient: PatientContext) -> list[DrugWarning]:
    """The warnings, without the "not checked" entries (`_check_all` has those too)."""
    return [w for w in _check_all(kb, drugs, patient) if w.kind != NOT_CHECKED]


def _assert_cited(kb: KnowledgeBase, warning: DrugWarning, *words: str) -> str:
    """The cited passage, checked to be the exact words of the label document and to contain ``words``."""
    doc = kb.storage.store.documents.get_document(warning.doc_id)
    assert doc is not None and doc.source == warning.source and doc.title == warning.title
    assert warning.start is not None and warning.end is not None
    passage = doc.text[warning.start : warning.end]
    assert passage == warning.quote
    section = next(s for s in doc.sections if s.title == warning.section)
    assert section.start <= warning.start < warning.end <= section.end
    for word in words:
        assert word.lower() in passage.lower()
    return passage


# -- allergies (class table) -----------------------------------------------------------------------------------------


def test_penicillin_allergy_and_amoxicillin() -> None:
    [warning] = _check(None, ["amoxicillin"], PatientContext(allergies=["Penicillin (hives)"]))
    assert (warning.drug, warning.kind, warning.patient_item) == ("amoxicillin", "allergy", "Penicillin (hives)")
    assert warning.source == TABLE_SOURCE and warning.start is None
    assert "practice parameter" in warning.reference and "penicillins" in warning.message


def test_cephalosporins_cross_react_with_a_penicillin_allergy() -> None:
    patient = PatientContext(allergies=["amoxicillin"])
    warnings = _check(None, ["cefuroxime", "ceftobiprole", "meropenem", "piperacillin"], patient)
    assert [(w.drug, w.kind) for w in warnings] == [
        ("cefuroxime", "cross-reactivity"),
        ("ceftobiprole", "cross-reactivity"),  # not listed: known by its stem
        ("meropenem", "cross-reactivity"),
        ("piperacillin", "cross-reactivity"),  # the same class
    ]
    assert "cephalosporins" in warnings[0].message and "beta-lactam" in warnings[0].reference


def test_sulfa_allergy_covers_sulfonamide_antibiotics_only() -> None:
    patient = PatientContext(allergies=["sulfa drugs"])
    [warning] = _check(None, ["sulfamethoxazole", "furosemide", "morphine sulfate"], patient)
    assert (warning.drug, warning.kind) == ("sulfamethoxazole", "allergy")


def test_aspirin_allergy_and_other_nsaids() -> None:
    warnings = _check(None, ["ibuprofen", "naproxen", "acetaminophen"], PatientContext(allergies=["aspirin"]))
    assert [(w.drug, w.kind) for w in warnings] == [("ibuprofen", "cross-reactivity"), ("naproxen", "cross-reactivity")]


def test_chinese_allergy_and_chinese_drug_names() -> None:
    answer = "建议口服阿莫西林胶囊，疼痛时可加用布洛芬。"
    drugs = find_drugs(answer, set())
    assert drugs == ["阿莫西林", "布洛芬"]
    patient = PatientContext(allergies=["青霉素过敏"], medications=[])
    [warning] = _check(None, drugs, patient)
    assert (warning.drug, warning.kind, warning.patient_item) == ("阿莫西林", "allergy", "青霉素过敏")
    assert "amoxicillin" not in warning.drug and "penicillins" in warning.message
    [cross] = _check(None, ["头孢呋辛"], PatientContext(allergies=["青霉素"]))
    assert cross.kind == "cross-reactivity"
    assert _check(None, ["amoxicillin"], PatientContext(allergies=["阿司匹林"])) == []


def test_no_problem_no_warning() -> None:
    patient = PatientContext(allergies=["penicillin"], medications=["metformin 500 mg"])
    assert _check(None, ["atorvastatin", "lisinopril"], patient) == []
    assert _check(None, ["amoxicillin"], PatientContext()) == []
    assert _check_all(None, ["amoxicillin"], PatientContext()) == []  # nothing asked, nothing unchecked
    # Without labels, what only the class table could check is said so, per drug and field.
    unchecked = _check_all(None, ["atorvastatin"], patient)
    assert [(w.kind, w.patient_item) for w in unchecked] == [
        (NOT_CHECKED, "penicillin"),
        (NOT_CHECKED, "metformin 500 mg"),
    ]
    assert "drug-class table" in unchecked[0].message and unchecked[0].source == ""


# -- finding drug names ------------------------------------------------------------------------------------------------


def test_find_drugs_matches_whole_words_in_any_case() -> None:
    text = "Start LIPITOR; penicillinase-resistant options include Dicloxacillin. Magnesium sulfate is not one."
    assert find_drugs(text, {"lipitor", "atorvastatin"}) == ["lipitor", "dicloxacillin"]
    assert find_drugs("Atorvastatin calcium 10 mg, then atorvastatin.", {"atorvastatin", "atorvastatin calcium"}) == [
        "atorvastatin calcium",
        "atorvastatin",
    ]


def test_lookup_names_strip_doses_and_translate() -> None:
    patient = PatientContext(medications=["Lipitor 20 mg daily", "华法林"], allergies=["penicillin (rash)"])
    assert lookup_names(["阿莫西林", "Viagra"], patient) == [
        "amoxicillin",
        "viagra",
        "lipitor",
        "warfarin",
        "penicillin",
    ]


# -- interactions and contraindications cited from the labels ---------------------------------------------------------


@needs_labels
@pytest.mark.parametrize("medication", ["clarithromycin 500 mg twice daily", "cyclosporine", "Gemfibrozil"])
def test_a_medication_in_the_lipitor_drug_interactions_section(labels_kb: KnowledgeBase, medication: str) -> None:
    drugs = find_drugs(
        "Atorvastatin (Lipitor) 10 mg daily lowers LDL cholesterol.", labels_kb.storage.store.drugs.drug_names()
    )
    assert drugs == ["atorvastatin", "lipitor"]
    warnings = _check(labels_kb, drugs, PatientContext(medications=[medication]))
    assert [w.kind for w in warnings] == ["interaction"]  # one warning, though two labels and two names say so
    [warning] = warnings
    assert (warning.drug, warning.section, warning.patient_item) == ("atorvastatin", "Drug Interactions", medication)
    assert warning.source.startswith("dailymed:") and warning.title.startswith("LIPITOR")
    _assert_cited(labels_kb, warning, medication.split()[0])


@needs_labels
def test_the_drug_named_in_the_medication_s_own_label(labels_kb: KnowledgeBase) -> None:
    [warning] = _check(labels_kb, ["clarithromycin"], PatientContext(medications=["Lipitor 40 mg"]))
    assert (warning.kind, warning.section, warning.drug) == ("interaction", "Drug Interactions", "clarithromycin")
    assert "LIPITOR" in warning.title and "Lipitor 40 mg" in warning.message
    _assert_cited(labels_kb, warning, "clarithromycin")


@needs_labels
def test_a_class_named_in_a_contraindications_section(labels_kb: KnowledgeBase) -> None:
    patient = PatientContext(medications=["isosorbide mononitrate 30 mg"])
    [warning] = _check(labels_kb, ["sildenafil"], patient)
    assert (warning.kind, warning.section) == ("contraindication", "Contraindications")
    assert "nitrates" in warning.message and "isosorbide mononitrate is one" in warning.message
    passage = _assert_cited(labels_kb, warning, "nitrates")
    assert not passage.startswith("4.1")  # a sentence, not the subsection's title


@needs_labels
def test_a_label_hypersensitivity_statement_is_cited_for_an_allergy(labels_kb: KnowledgeBase) -> None:
    [warning] = _check(labels_kb, ["viagra"], PatientContext(allergies=["Revatio"]))
    assert (warning.kind, warning.section) == ("allergy", "Contraindications")
    _assert_cited(labels_kb, warning, "hypersensitivity", "revatio")
    [same] = _check(labels_kb, ["haloperidol"], PatientContext(allergies=["haloperidol"]))
    assert (same.kind, same.section) == ("allergy", "Contraindications")
    _assert_cited(labels_kb, same, "hypersensitive")


@needs_labels
def test_labels_with_nothing_to_say_give_no_warning(labels_kb: KnowledgeBase) -> None:
    patient = PatientContext(allergies=["penicillin", "sulfa"], medications=["metformin", "levothyroxine"])
    assert _check(labels_kb, ["humira", "lipitor", "viagra"], patient) == []
    [warning] = _check(labels_kb, ["humira"], PatientContext(medications=["methotrexate"]))
    assert (warning.kind, warning.section) == ("interaction", "Boxed Warning")  # before its Drug Interactions
    _assert_cited(labels_kb, warning, "methotrexate")
    assert warning.to_dict()["doc_id"] == warning.doc_id
