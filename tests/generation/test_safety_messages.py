"""Drug warnings in the question's language: every rule and label message has a Chinese wording."""

from __future__ import annotations

import pytest

from generation.safety import check_drugs
from kb.core.drugs import DrugLabel, LabelSection
from kb.core.types import NOT_CHECKED, DrugWarning, PatientContext

INTERACTIONS = "7 DRUG INTERACTIONS\nClarithromycin raises atorvastatin exposure. Avoid gemfibrozil."
CONTRAINDICATIONS = "4 CONTRAINDICATIONS\nHypersensitivity to atorvastatin or any component of LIPITOR."
LIPITOR = DrugLabel(
    doc_id="doc1",
    source="dailymed:lipitor",
    title="LIPITOR (atorvastatin calcium) tablets",
    names=("Lipitor", "atorvastatin calcium"),
    ingredients=("atorvastatin calcium trihydrate",),
    sections={
        "Contraindications": LabelSection("Contraindications", CONTRAINDICATIONS, 100, 100 + len(CONTRAINDICATIONS)),
        "Drug Interactions": LabelSection("Drug Interactions", INTERACTIONS, 500, 500 + len(INTERACTIONS)),
    },
)


@pytest.mark.parametrize(
    ("drug", "allergy", "english", "chinese"),
    [
        ("amoxicillin", "amoxicillin", "is the recorded allergen", "即患者记录的过敏原"),
        ("amoxicillin", "penicillins", "is one of the penicillins", "属于青霉素类"),
        ("ampicillin", "amoxicillin", "are both penicillins", "同属青霉素类"),
        ("cefuroxime", "penicillin", "cross-reactivity is uncommon", "交叉过敏并不常见"),
        ("meropenem", "penicillin", "(carbapenems)", "（碳青霉烯类）"),
    ],
)
def test_table_rules_in_both_languages(drug: str, allergy: str, english: str, chinese: str) -> None:
    patient = PatientContext(allergies=[allergy])
    [en] = _warnings(check_drugs([drug], patient, []))
    [zh] = _warnings(check_drugs([drug], patient, [], language="zh"))
    assert english in en.message and en.message.endswith(".")
    assert chinese in zh.message and zh.message.endswith("。") and f"“{allergy}”" in zh.message
    assert (en.kind, en.source, en.reference) == (zh.kind, zh.source, zh.reference)


def test_label_messages_in_both_languages() -> None:
    patient = PatientContext(medications=["clarithromycin 500 mg"])
    [en] = _warnings(check_drugs(["atorvastatin"], patient, [LIPITOR]))
    [zh] = _warnings(check_drugs(["atorvastatin"], patient, [LIPITOR], language="zh"))
    assert en.message == (
        "The Drug Interactions section of the LIPITOR (atorvastatin calcium) tablets label mentions 'Clarithromycin';"
        " the patient takes 'clarithromycin 500 mg'."
    )
    assert zh.message == (
        "LIPITOR (atorvastatin calcium) tablets说明书“药物相互作用”部分提到“Clarithromycin”；"
        "患者正在使用“clarithromycin 500 mg”。"
    )
    assert (zh.doc_id, zh.section, zh.start, zh.end, zh.quote) == (en.doc_id, en.section, en.start, en.end, en.quote)
    assert zh.section == "Drug Interactions"  # the data stays as the label names it; only the message is translated


def test_a_label_hypersensitivity_statement_in_chinese() -> None:
    [zh] = _warnings(check_drugs(["lipitor"], PatientContext(allergies=["Lipitor"]), [LIPITOR], language="zh"))
    assert zh.kind == "allergy" and zh.section == "Contraindications"
    assert zh.message.endswith("；见LIPITOR (atorvastatin calcium) tablets说明书“禁忌”部分。")


def _warnings(found: list[DrugWarning]) -> list[DrugWarning]:
    return [w for w in found if w.kind != NOT_CHECKED]
