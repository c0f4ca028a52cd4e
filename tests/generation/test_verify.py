"""Verified citations: each (sentence, cited passage) pair is checked for words, numbers, meaning and negation.

Unit tests use bag-of-words fakes (``HashingEmbedder`` and a cross-lingual one that translates a few Chinese terms
first); one test runs the real bundled English embedder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from generation.verify import apply, cited_numbers, support, verify_answer
from kb.core.errors import MedkbError
from kb.core.model_registry import DEFAULT_EMBEDDER
from kb.core.types import Hit
from retrieval.embedders import HashingEmbedder, make_embedder

METFORMIN = "Metformin is contraindicated when eGFR is below 30 mL/min/1.73 m2. Start at 850 mg once daily with meals."
ASTHMA = "Asthma is diagnosed from variable expiratory airflow limitation on spirometry."
ASPIRIN = "Low-dose aspirin is recommended for secondary prevention after myocardial infarction."
KIDNEY = "Metformin is contraindicated in patients with severe kidney disease."


def _hit(text: str) -> Hit:
    return Hit(chunk_id=text[:8], doc_id="d", text=text, score=0.9)


class CountingEmbedder(HashingEmbedder):
    """Bag-of-words vectors that record every batch they embed."""

    def __init__(self) -> None:
        super().__init__(dim=512)
        self.batches: list[list[str]] = []

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(list(texts))
        return super().embed_documents(texts)


class CrossLingualFake(CountingEmbedder):
    """Translates a few Chinese medical terms to English before hashing, so that a sentence and its translation
    get nearly the same vector."""

    GLOSSARY = {
        "二甲双胍": " metformin ",
        "禁用于": " is contraindicated in ",
        "严重": " severe ",
        "肾病": " kidney disease ",
        "患者": " patients ",
        "哮喘": " asthma ",
        "诊断": " diagnosed ",
        "肺功能": " spirometry ",
        "起始剂量为每日": " start at daily ",
    }

    def _vector(self, text: str) -> np.ndarray:
        for chinese, english in self.GLOSSARY.items():
            text = text.replace(chinese, english)
        return super()._vector(text)


@pytest.fixture
def fake() -> CountingEmbedder:
    return CountingEmbedder()


def test_a_faithful_paraphrase_is_supported(fake: CountingEmbedder) -> None:
    result = support("Metformin is contraindicated if the eGFR is below 30 mL/min [1].", METFORMIN, embedder=fake)
    assert result.supported and result.numeric_ok and not result.negation_conflict
    assert result.similarity is not None and result.similarity > 0.5
    assert result.lexical > 0.8  # all but "if"


def test_a_wrong_dose_is_not_supported_and_is_named(fake: CountingEmbedder) -> None:
    result = support("Start metformin at 500 mg once daily with meals [1].", METFORMIN, embedder=fake)
    assert not result.supported and not result.numeric_ok
    assert result.missing_numbers == ["500 mg"]
    assert result.score > 0.5  # the words agree; the number alone vetoes it
    assert support("Start metformin at 850 mg once daily with meals [1].", METFORMIN, embedder=fake).supported


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("The maximum dose is 1,000 mg twice daily.", "The maximum dose is 1000 mg twice daily."),
        ("The maximum dose is 1 g twice daily.", "The maximum dose is 1000 mg twice daily."),
        ("Give 250 mcg for 2-3 days.", "Give 0.25 mg for 2 to 3 days."),
        ("Treat if blood pressure is 140/90 mmHg or more.", "Treat if blood pressure is 140/90 mm Hg or more."),
        ("HbA1c of 6.5% or more confirms diabetes.", "An HbA1c of 6.50 % or more confirms diabetes."),
        ("Take it 2 times a day.", "Take it twice a day."),
    ],
)
def test_numbers_match_across_spellings_and_units(sentence: str, passage: str) -> None:
    result = support(sentence, passage)
    assert result.numeric_ok, result.missing_numbers
    assert result.supported


def test_numbers_inside_names_are_not_numbers() -> None:
    result = support("COX-2 and CYP2C19*2 affect HbA1c in type 2 diabetes.", "COX-2 and CYP2C19*2 affect HbA1c.")
    assert result.missing_numbers == ["2"]  # only the 2 of "type 2" is a number


def test_a_mismatched_unit_or_range_end_is_missing() -> None:
    assert support("Give 500 mg daily.", "Give 500 mL daily.").missing_numbers == ["500 mg"]
    assert support("Treat for 2-4 weeks.", "Treat for 2-3 weeks.").missing_numbers == ["4 weeks"]


def test_citing_the_wrong_passage_is_not_supported_while_the_right_one_is(fake: CountingEmbedder) -> None:
    hits = [_hit(ASTHMA), _hit(METFORMIN)]
    wrong, right = verify_answer(
        "Metformin is contraindicated when eGFR is below 30 [1]. Asthma is diagnosed by spirometry [1].",
        hits,
        embedder=fake,
    )
    assert wrong.cited == [1] and not wrong.supported and wrong.best < 0.3
    assert right.cited == [1] and right.supported


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        ("Low-dose aspirin is not recommended for secondary prevention after myocardial infarction.", ASPIRIN),
        (
            "Low-dose aspirin is recommended for secondary prevention after myocardial infarction.",
            ASPIRIN.replace("is recommended", "is not recommended"),
        ),
    ],
)
def test_a_negation_conflict_lowers_support(sentence: str, passage: str, fake: CountingEmbedder) -> None:
    result = support(sentence, passage, embedder=fake)
    assert result.negation_conflict and not result.supported
    agreeing = support(passage, passage, embedder=fake)
    assert not agreeing.negation_conflict and agreeing.supported
    assert result.score < agreeing.score


def test_negation_in_another_clause_of_the_passage_does_not_conflict() -> None:
    passage = "Metformin should not be used in severe kidney disease; reduce the dose when kidney function is impaired."
    assert not support("Reduce the metformin dose when kidney function is impaired.", passage).negation_conflict
    assert not support("Metformin is contraindicated in severe kidney disease.", passage).negation_conflict


def test_apply_keeps_only_supporting_markers_and_removes_unsupported_sentences(fake: CountingEmbedder) -> None:
    hits = [_hit(METFORMIN), _hit(ASTHMA)]
    text = (
        "Metformin is contraindicated when eGFR is below 30 [1][2]. "
        "Asthma is diagnosed from airflow limitation on spirometry [1, 2]. "
        "Aspirin cures migraine within 10 minutes [1]."
    )
    checks = verify_answer(text, hits, embedder=fake)
    assert [c.supporting for c in checks] == [[1], [2], []]
    kept, removed = apply(checks)
    assert kept == (
        "Metformin is contraindicated when eGFR is below 30 [1]. Asthma is diagnosed from airflow limitation on "
        "spirometry [2]."
    )
    assert [c.text for c in removed] == ["Aspirin cures migraine within 10 minutes [1]."]
    assert removed[0].scores[1].missing_numbers == ["10 minutes"]


def test_markers_are_read_in_every_form_and_invalid_ones_ignored() -> None:
    assert cited_numbers("a [1][3] b [2, 4-5] c [6;7]") == [1, 3, 2, 4, 5, 6, 7]
    (check,) = verify_answer("Metformin is contraindicated when eGFR is below 30 [1, 9].", [_hit(METFORMIN)])
    assert check.cited == [1] and check.supported


def test_a_marker_after_the_full_stop_belongs_to_its_sentence() -> None:
    (check,) = verify_answer("Metformin is contraindicated when eGFR is below 30. [1]", [_hit(METFORMIN)])
    assert check.cited == [1] and check.supported


def test_a_sentence_without_markers_is_unsupported_and_one_without_words_is_exempt() -> None:
    checks = verify_answer("Metformin lowers glucose. The. [1]", [_hit(METFORMIN)])
    assert [(c.cited, c.supported, c.exempt) for c in checks] == [([], False, False), ([1], True, True)]
    assert apply(checks) == ("The.", [checks[0]])


def test_chinese_sentences_are_checked_with_the_cross_lingual_embedder() -> None:
    english, cross = CountingEmbedder(), CrossLingualFake()
    hits = [_hit(KIDNEY), _hit(METFORMIN), _hit(ASTHMA)]
    text = "二甲双胍禁用于严重肾病患者[1]。二甲双胍起始剂量为每日500毫克[2]。哮喘诊断依靠肺功能[1]。"
    faithful, wrong_dose, wrong_passage = verify_answer(text, hits, embedder=english, cross_embedder=cross)
    assert faithful.supported
    assert faithful.scores[1].lexical == 0.0  # no shared words across scripts, and that is no veto
    assert not wrong_dose.supported and wrong_dose.scores[2].missing_numbers == ["500毫克"]
    assert not wrong_passage.supported
    assert english.batches == []
    assert len(cross.batches) == 2  # one batch of sentences, one of the cited passages
    assert support("二甲双胍起始剂量为每日850毫克。", METFORMIN, cross_embedder=CrossLingualFake()).numeric_ok


def test_without_an_embedder_a_cross_lingual_pair_cannot_be_supported() -> None:
    assert not support("二甲双胍禁用于严重肾病患者。", KIDNEY).supported


def test_embeddings_are_batched_per_answer(fake: CountingEmbedder) -> None:
    text = "Metformin is contraindicated when eGFR is below 30 [1]. Asthma is diagnosed by spirometry [2]. " * 3
    verify_answer(text, [_hit(METFORMIN), _hit(ASTHMA), _hit(ASPIRIN)], embedder=fake)
    assert [len(batch) for batch in fake.batches] == [2, 2]  # unique sentences, then unique cited passages


def test_a_threshold_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(MedkbError, match="threshold"):
        support("a", "b", threshold=1.5)


@pytest.mark.e2e  # a bundled model
def test_the_real_embedder_scores_a_paraphrase_above_an_unrelated_sentence() -> None:
    embedder = make_embedder(DEFAULT_EMBEDDER)
    passage = "Metformin should not be used in patients with severe kidney disease."
    paraphrase = support("Metformin must be avoided in people with serious renal disease.", passage, embedder=embedder)
    unrelated = support("Asthma is diagnosed by spirometry.", passage, embedder=embedder)
    assert paraphrase.similarity is not None and unrelated.similarity is not None
    assert paraphrase.similarity > unrelated.similarity + 0.3
    assert paraphrase.score > unrelated.score
    assert not paraphrase.negation_conflict


def test_a_list_keeps_the_polarity_of_its_lead_in() -> None:
    """The items of "three contraindications: A; B; and C" are read with their lead-in, so a sentence naming them as
    contraindications is no negation conflict (it was, when each item was read alone); an independent clause after
    a semicolon is still read alone."""
    passage = (
        "The label lists three contraindications: severe renal impairment with an eGFR below 30 mL/min/1.73 m²; "
        "acute or chronic metabolic acidosis; and hypersensitivity to metformin. Starting metformin is not "
        "recommended when eGFR is between 30 and 45."
    )
    claim = "The contraindications of metformin are severe renal impairment with an eGFR below 30 mL/min/1.73 m² [1]."
    result = support(claim, passage)
    assert result.supported and not result.negation_conflict
    assert support("Starting metformin is recommended when eGFR is between 30 and 45 [1].", passage).negation_conflict
    independent = "Warfarin is contraindicated; aspirin is safe in adults."
    assert support("Aspirin is contraindicated in adults [1].", independent).negation_conflict


TREATMENT = "Type 2 diabetes is treated first with lifestyle measures such as diet, exercise and weight loss."


def test_a_question_term_the_passage_lacks_vetoes_support() -> None:
    """The demo's failure: a diagnosis question answered with a treatment passage that shares most words."""
    sentence = "Type 2 diabetes is diagnosed using lifestyle measures [1]."
    question = "How is type 2 diabetes diagnosed?"
    without = support(sentence, TREATMENT)
    assert without.supported and without.missing_terms == []
    judged = support(sentence, TREATMENT, question=question)
    assert not judged.supported and judged.missing_terms == ["diagno"]
    assert judged.score == without.score  # a veto, not a lower score
    checks = verify_answer(sentence, [_hit(TREATMENT)], question=question)
    assert not checks[0].supported


def test_question_terms_held_by_the_passage_do_not_veto() -> None:
    answer = "Asthma is diagnosed from variable airflow limitation on spirometry [1]."
    assert support(answer, ASTHMA, question="How is asthma diagnosed?").supported
