"""Subject match: only passages whose document is about the question's subject reach the generator or a citation."""

from __future__ import annotations

from typing import Any

import pytest

from generation.base import EchoGenerator
from generation.compose import Checking, compose_answer
from generation.subject import named_drugs, on_subject, question_words, subject_score, unknown_chinese_drugs, words
from kb.core.types import Hit


def _hit(n: int, title: str, text: str = "Some text about it.", **metadata: Any) -> Hit:
    return Hit(f"c{n}", f"d{n}", text, 0.9 - n / 100, title=title, section="", source=f"s{n}", metadata=metadata)


HBP = _hit(1, "High Blood Pressure", "High blood pressure is diagnosed when readings are 140/90 or higher.")
HBP_KIDNEY = _hit(2, "High Blood Pressure and Kidney Disease", "Urine and blood tests show kidney damage.")
TYPE1 = _hit(3, "Diabetes mellitus type 1", "People with type 1 diabetes need insulin.")
TYPE2 = _hit(4, "Diabetes Type 2", "Metformin is the most commonly used drug for type 2 diabetes.")
HEP_A = _hit(5, "What I need to know about Hepatitis A")
HEP_B = _hit(6, "What I need to know about Hepatitis B")
CF = _hit(7, "Cystic Fibrosis", "Antibiotics treat lung infections in cystic fibrosis.")
STREP = _hit(8, "Streptococcal Infections", "Antibiotics are used to treat strep infections.")
SILDENAFIL = _hit(
    9,
    "VIAGRA (sildenafil citrate) tablets",
    "In severe renal impairment a starting dose of 25 mg should be considered.",
    generic_names=["sildenafil citrate"],
)
ABSTRACT = _hit(10, "", "Ibuprofen before hip replacement did not increase blood loss.", mesh=["Ibuprofen", "Humans"])


def test_words_join_qualifiers_and_unify_spellings() -> None:
    assert words("Type 2 diabetes and hepatitis B anaemia") == ["type-2", "diabete", "and", "hepatitis-b", "anemia"]
    assert "high" in question_words("What is hypertension?") and "pressure" in question_words("hypertension")
    assert question_words("二甲双胍的禁忌症是什么？") == {"metformin"}
    assert question_words("乙肝怎么检查？") == {"hepatitis-b"}


def test_a_title_named_whole_scores_one_and_another_kind_scores_nothing() -> None:
    asked = question_words("How is high blood pressure diagnosed?")
    assert subject_score(HBP, asked) == 1.0
    assert subject_score(HBP_KIDNEY, asked) == 0.75
    type2 = question_words("What is the first-line treatment for type 2 diabetes?")
    assert subject_score(TYPE2, type2) == 1.0
    assert subject_score(TYPE1, type2) == 0.0  # type 1 is another kind, not half of the subject
    assert subject_score(HEP_B, question_words("How do people catch hepatitis A?")) == 0.0
    assert subject_score(ABSTRACT, question_words("Does ibuprofen increase bleeding?")) == 1.0  # by its MeSH


def test_only_passages_about_the_subject_are_kept_best_first() -> None:
    found = on_subject("What is the first-line treatment for type 2 diabetes?", [TYPE1, CF, TYPE2])
    assert [h.chunk_id for h in found.hits] == ["c4"]
    found = on_subject("How is high blood pressure diagnosed?", [HBP_KIDNEY, HBP])
    assert [h.chunk_id for h in found.hits] == ["c1", "c2"]  # the passage named whole comes first
    strep = "What antibiotic should I take for strep throat? I'm allergic to penicillin."
    assert [h.chunk_id for h in on_subject(strep, [CF, STREP]).hits] == ["c8"]


def test_a_passage_that_mentions_the_subject_in_passing_does_not_qualify() -> None:
    found = on_subject("Which antibiotic for lung infections?", [CF])
    assert found.hits == [] and "subject" in found.reason


def test_a_drug_the_knowledge_base_does_not_hold_empties_the_evidence() -> None:
    question = "What dose of nirmatrelvir should be used in renal impairment?"
    assert named_drugs(question) == ["nirmatrelvir"]
    found = on_subject(question, [SILDENAFIL], known_drugs=["sildenafil"])
    assert found.hits == [] and "nirmatrelvir" in found.reason
    assert named_drugs("I'm allergic to penicillin; what antibiotic for strep throat?") == []
    assert unknown_chinese_drugs("某某拉韦怎么吃？") == ["某某拉韦"]  # shaped like a drug name, in no table
    assert unknown_chinese_drugs("莫诺拉韦怎么吃？") == []  # molnupiravir: in the table, so matched in English
    assert unknown_chinese_drugs("二甲双胍的禁忌症是什么？") == []


@pytest.mark.parametrize(
    ("question", "hits"),
    [
        ("What is the first-line treatment for type 2 diabetes?", [TYPE1, CF]),
        ("What dose of nirmatrelvir should be used in renal impairment?", [SILDENAFIL]),
        ("What antibiotic should I take for strep throat?", [CF]),
    ],
)
def test_composition_abstains_without_a_passage_on_the_subject(question: str, hits: list[Hit]) -> None:
    generator = EchoGenerator()
    answer = compose_answer(question, hits, generator, min_score=0.3, checking=Checking(subject=True))
    assert answer.abstained and not answer.citations and not generator.calls
    assert "Closest sources" in answer.text  # the closest sources are still listed


def test_composition_answers_from_the_subject_passages_only() -> None:
    generator = EchoGenerator()
    answer = compose_answer(
        "How is high blood pressure diagnosed?",
        [HBP_KIDNEY, CF, HBP],
        generator,
        min_score=0.3,
        checking=Checking(subject=True),
        k=1,
    )
    assert not answer.abstained and [c.chunk_id for c in answer.citations] == ["c1"]
    assert "Cystic" not in generator.calls[0][-1]["content"] and "Kidney" not in generator.calls[0][-1]["content"]


def test_a_sentence_about_another_kind_is_dropped() -> None:
    from generation.subject import other_kinds

    question = "What is the first-line treatment for type 2 diabetes?"
    assert other_kinds(question, "Treatment for type 1 diabetes includes insulin shots.") == ["type-1"]
    assert other_kinds(question, "Metformin is used to treat type 2 diabetes.") == []
    passage = (
        "Treatment for type 1 diabetes includes insulin shots. Metformin is the most used drug for type 2 diabetes."
    )
    hit = _hit(11, "Diabetes Type 2", passage)
    generator = EchoGenerator()  # quotes the first sentence: the one about type 1
    answer = compose_answer(question, [hit], generator, min_score=0.3, checking=Checking(subject=True))
    assert "type 1" not in answer.text
    assert any("type-1, not what was asked" in w for w in answer.warnings)


def test_a_question_for_a_number_is_not_answered_without_one() -> None:
    hit = _hit(12, "Streptococcal Infections", "Antibiotics are used to treat strep infections.")
    question = "How many days should a course of antibiotics for strep throat last?"
    answer = compose_answer(question, [hit], EchoGenerator(), min_score=0.3, checking=Checking(subject=True))
    assert answer.abstained and "number" in answer.reason
    dose = _hit(13, "Carvedilol", "The starting dose of carvedilol for heart failure is 3.125 mg twice daily.")
    answer = compose_answer(
        "What dose of carvedilol for heart failure?",
        [dose],
        EchoGenerator(),
        min_score=0.3,
        checking=Checking(subject=True),
    )
    assert not answer.abstained and "3.125 mg" in answer.text
    assert named_drugs("Can tirzepatide be prescribed for obesity?") == ["tirzepatide"]
    assert named_drugs("Is C-peptide low in type 1 diabetes?") == []


def test_passages_in_the_question_language_come_first() -> None:
    english = _hit(14, "Type 2 diabetes: diagnostic criteria", "Diabetes is diagnosed at an HbA1c of 6.5% or more.")
    chinese = _hit(15, "2型糖尿病的诊断标准", "糖化血红蛋白≥6.5%可诊断糖尿病。")
    assert [h.chunk_id for h in on_subject("How is type 2 diabetes diagnosed?", [chinese, english]).hits] == [
        "c14",
        "c15",
    ]
    assert [h.chunk_id for h in on_subject("2型糖尿病怎么诊断？", [english, chinese]).hits] == ["c15", "c14"]
