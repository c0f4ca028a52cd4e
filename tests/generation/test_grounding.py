from __future__ import annotations

import pytest

from generation.grounding import extract_answer, ground, is_refusal, split_sentences
from kb.core.types import Hit


def _hit(text: str, title: str = "Metformin", section: str = "Contraindications") -> Hit:
    return Hit(chunk_id=text[:8], doc_id="d", text=text, score=0.9, title=title, section=section)


HITS = [
    _hit("Metformin is contraindicated when eGFR is below 30. It can cause lactic acidosis."),
    _hit("Amoxicillin is a penicillin. Patients with penicillin allergy should avoid it.", "Amoxicillin", "Use"),
]


def test_marked_sentences_are_kept_and_unmarked_supported_ones_attributed() -> None:
    out = ground("Amoxicillin is a penicillin [2]. Metformin is contraindicated when eGFR is below 30.", HITS, "q")
    assert out.text == "Amoxicillin is a penicillin [2]. Metformin is contraindicated when eGFR is below 30 [1]."
    assert out.warnings == [] and not out.extractive


def test_unsupported_sentences_are_dropped_with_a_warning() -> None:
    out = ground("Metformin can cause lactic acidosis [1]. The usual dose is 100 mg daily.", HITS, "q")
    assert out.text == "Metformin can cause lactic acidosis [1]."
    assert len(out.warnings) == 1 and "100 mg" in out.warnings[0]


def test_markers_only_fall_back_to_cited_passage_sentences() -> None:
    out = ground("[1]", HITS, "When is metformin contraindicated?")
    assert out.extractive
    assert out.text.startswith("Metformin is contraindicated when eGFR is below 30 [1].")


def test_nothing_in_common_with_the_question_extracts_nothing() -> None:
    assert extract_answer("Who won the 1998 world cup?", HITS) == ""
    assert ground("France won [7].", HITS, "Who won the 1998 world cup?").text == ""


def test_copied_headings_are_removed() -> None:
    out = ground("[1] Metformin - Contraindications Metformin is contraindicated when eGFR is below 30.", HITS, "q")
    assert "Contraindications Metformin" not in out.text and "[1]" in out.text


def test_sentence_split_keeps_trailing_markers() -> None:
    assert split_sentences("One fact. [2] Two facts [1]. 三。四") == ["One fact. [2]", "Two facts [1].", "三。", "四"]


def test_refusals() -> None:
    assert is_refusal("The passages do not contain the answer.")
    assert is_refusal("INSUFFICIENT EVIDENCE")
    assert not is_refusal("No, a patient with penicillin allergy should not take amoxicillin [2].")


@pytest.mark.e2e  # a bundled model
def test_the_extract_quotes_the_passages_that_hold_the_question_words() -> None:
    from kb.core.model_registry import DEFAULT_EMBEDDER
    from retrieval.embedders import make_embedder

    passages = [
        Hit("a", "d1", "Treatment of type 2 diabetes starts with lifestyle measures. Type 2 diabetes is common.", 0.9),
        Hit(
            "b", "d2", "Diabetes diagnosis needs two abnormal results. Screening of type 2 diabetes starts at 35.", 0.8
        ),
    ]
    question = "How is type 2 diabetes diagnosed?"
    for embedder in (None, make_embedder(DEFAULT_EMBEDDER)):
        text = extract_answer(question, passages, embedder=embedder)
        assert "Diabetes diagnosis needs two abnormal results [2]." in text and "Treatment" not in text
