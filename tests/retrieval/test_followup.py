"""Follow-ups made standalone by rule (retrieval/followup.py)."""

from __future__ import annotations

import pytest

from retrieval.followup import standalone_question, subject_of


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("What are the symptoms of Graves disease?", "Graves disease"),
        ("What is gout?", "gout"),
        ("What exactly is asthma?", "asthma"),
        ("How is type 2 diabetes diagnosed?", "type 2 diabetes"),
        ("How do doctors treat Crohn's disease?", "Crohn's disease"),
        ("What causes shingles?", "shingles"),
        ("Is hemochromatosis inherited?", "hemochromatosis"),
        ("What is the first-line treatment for hypertension?", "hypertension"),
        ("What is metformin used for?", "metformin"),
        ("I keep reading about Chagas disease. What is it?", "Chagas disease"),
        ("什么是痛风？", "痛风"),
        ("痛风有哪些症状？", "痛风"),
        ("糖尿病的一线治疗是什么？", "糖尿病"),
        ("Tell me more", ""),
    ],
)
def test_the_subject_is_read_from_the_question(question: str, subject: str) -> None:
    assert subject_of(question) == subject


@pytest.mark.parametrize(
    ("follow_up", "history", "standalone"),
    [
        ("How is it treated?", ["What is gout?"], "How is gout treated?"),
        ("What are its side effects?", ["What is metformin used for?"], "What are the side effects of metformin?"),
        ("How is this condition managed?", ["What is Marfan syndrome?"], "How is Marfan syndrome managed?"),
        ("And the symptoms?", ["What is gout?"], "Symptoms of gout?"),
        ("And of Hashimoto's thyroiditis?", ["What are the symptoms of Graves disease?"],
         "What are the symptoms of Hashimoto's thyroiditis?"),
        ("What about ulcerative colitis?", ["How do doctors treat Crohn's disease?"],
         "How do doctors treat ulcerative colitis?"),
        ("And in pregnancy?", ["What is the first-line treatment for hypertension?"],
         "What is the first-line treatment for hypertension in pregnancy?"),
        # a question that names its own subject is left alone, even in a conversation
        ("Is metformin safe in kidney disease?", ["What is metformin?"], "Is metformin safe in kidney disease?"),
        # the earlier turn is itself a follow-up: it is resolved first
        ("Is it contagious?", ["What is shingles?", "How is it treated?"], "Is shingles contagious?"),
        # no subject to put in: the earlier question goes along as context
        ("How is it treated?", ["Tell me more"], "How is it treated? (Tell me more)"),
        ("那怎么治疗？", ["什么是痛风？"], "痛风怎么治疗？"),
        ("它的症状有哪些？", ["什么是痛风？"], "痛风的症状有哪些？"),
        ("那症状呢？", ["什么是痛风？"], "痛风的症状？"),
        ("那桥本病呢？", ["格雷夫斯病一般怎么治疗？"], "桥本病一般怎么治疗？"),
        ("那孕妇呢？", ["高血压的一线治疗是什么？"], "孕妇高血压的一线治疗是什么？"),
        ("二甲双胍有哪些禁忌症？", ["什么是痛风？"], "二甲双胍有哪些禁忌症？"),
    ],
)
def test_follow_ups_become_standalone(follow_up: str, history: list[str], standalone: str) -> None:
    assert standalone_question(follow_up, history) == standalone


def test_without_history_the_question_is_unchanged() -> None:
    assert standalone_question("How is it treated?", []) == "How is it treated?"
    assert standalone_question("How is it treated?", ["  "]) == "How is it treated?"
