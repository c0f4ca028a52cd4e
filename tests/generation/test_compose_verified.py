"""Composition with verification: unsupported sentences are regenerated once, then dropped; too little left falls
back to quoted, verified passage sentences; answers carry per-sentence support and drug warnings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from generation.base import EchoGenerator, Messages
from generation.compose import Checking, compose_answer, drug_warnings
from generation.grounding import split_sentences
from generation.prompts import STRICTER
from generation.verify import SUPPORT_THRESHOLD, strip_markers
from kb.core.drugs import DrugLabel
from kb.core.types import NOT_CHECKED, Answer, Hit, PatientContext
from retrieval.embedders import HashingEmbedder

METFORMIN = "Metformin is contraindicated when eGFR is below 30 mL/min/1.73 m2. Start at 500 mg once daily with meals."
ASTHMA = "Asthma is diagnosed from variable expiratory airflow limitation on spirometry."
WARFARIN = "Warfarin bleeding risk rises with NSAIDs such as ibuprofen."
KIDNEY = "Metformin is contraindicated in patients with severe kidney disease."
AMOXICILLIN = "Amoxicillin is an aminopenicillin used for community-acquired pneumonia."


def _hits(*texts: str, score: float = 0.8) -> list[Hit]:
    return [
        Hit(f"c{i}", f"d{i}", text, score - i * 0.01, title=f"Title {i}", section="Text", start=0, end=len(text))
        for i, text in enumerate(texts, start=1)
    ]


class Scripted:
    """Replies with the given texts in turn (the last one again once they run out), recording each prompt."""

    name = "scripted"

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[Messages] = []

    def generate(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> str:
        self.calls.append(messages)
        return self.replies[min(len(self.calls), len(self.replies)) - 1]


class Recording(HashingEmbedder):
    """Bag-of-words vectors that record every text they embed."""

    def __init__(self, glossary: dict[str, str] | None = None) -> None:
        super().__init__(dim=512)
        self.glossary = glossary or {}
        self.seen: list[str] = []

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += list(texts)
        return super().embed_documents(texts)

    def _vector(self, text: str) -> np.ndarray:
        for chinese, english in self.glossary.items():
            text = text.replace(chinese, english)
        return super()._vector(text)


def _check_sentences(answer: Answer) -> None:
    """Every sentence is cited, supported, and its markers are the answer's citations."""
    assert answer.sentences and not answer.abstained
    assert " ".join(s.text for s in answer.sentences).replace("。 ", "。") == answer.text
    for sentence in answer.sentences:
        assert sentence.citations and sentence.support >= SUPPORT_THRESHOLD
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {n for s in answer.sentences for n in s.citations} == {c.marker for c in answer.citations}


def _compose(question: str, hits: list[Hit], generator: object, **kwargs: object) -> Answer:
    kwargs.setdefault("checking", Checking(embedder=Recording()))
    return compose_answer(question, hits, generator, min_score=0.3, **kwargs)  # type: ignore[arg-type]


def test_an_unsupported_sentence_triggers_one_stricter_regeneration() -> None:
    generator = Scripted(
        "Metformin is contraindicated when eGFR is below 30 mL/min [1]. Metformin cures asthma [2].",
        "Metformin is contraindicated when eGFR is below 30 mL/min [1]. Start metformin at 500 mg once daily [1].",
    )
    answer = _compose("When is metformin contraindicated?", _hits(METFORMIN, ASTHMA), generator)
    assert len(generator.calls) == 2
    assert STRICTER["en"] not in generator.calls[0][0]["content"]
    assert STRICTER["en"] in generator.calls[1][0]["content"]
    assert "cures" not in answer.text and len(answer.sentences) == 2
    assert any("regenerated once" in w for w in answer.warnings)
    _check_sentences(answer)


def test_an_unsupported_sentence_is_dropped_when_the_retry_is_no_better() -> None:
    reply = (
        "Metformin is contraindicated when eGFR is below 30 mL/min [1]. Start metformin at 500 mg once daily [1]. "
        "Metformin cures asthma [2]."
    )
    generator = Scripted(reply)
    answer = _compose("When is metformin contraindicated?", _hits(METFORMIN, ASTHMA), generator)
    assert len(generator.calls) == 2  # one regeneration, never more
    assert "cures" not in answer.text and len(answer.sentences) == 2
    assert any("do not support" in w and "cures" in w for w in answer.warnings)
    _check_sentences(answer)


def test_a_wrong_dose_is_never_shown() -> None:
    generator = Scripted("Metformin is contraindicated when eGFR is below 30 mL/min [1]. Start at 850 mg daily [1].")
    answer = _compose("When is metformin contraindicated?", _hits(METFORMIN), generator)
    assert "850" not in answer.text
    _check_sentences(answer)


def test_too_little_left_falls_back_to_quoted_verified_passage_sentences() -> None:
    generator = Scripted(
        "Metformin is contraindicated when eGFR is below 30 mL/min [1]. Ibuprofen cures asthma [2]. "
        "Aspirin prevents gout [3]. Insulin is a hormone."
    )
    hits = _hits(METFORMIN, ASTHMA, WARFARIN)
    answer = _compose("When is metformin contraindicated?", hits, generator)
    assert len(generator.calls) == 2
    assert any("quotes the best-matching passages" in w for w in answer.warnings)
    passages_sentences = {s for h in hits for s in split_sentences(h.text)}
    for sentence in answer.sentences:
        assert strip_markers(sentence.text).rstrip(".") + "." in passages_sentences
    _check_sentences(answer)


def test_nothing_supported_and_nothing_to_quote_abstains() -> None:
    generator = Scripted("Banting and Best discovered it [1].")
    answer = _compose("Who discovered insulin?", _hits(METFORMIN, ASTHMA), generator)
    assert answer.abstained and "rests on" in answer.reason
    assert answer.citations == [] and answer.sentences == []


def test_to_dict_carries_sentences_warnings_and_language() -> None:
    answer = _compose("When is metformin contraindicated?", _hits(METFORMIN, ASTHMA), EchoGenerator())
    payload = answer.to_dict()
    assert payload["language"] == "en" and payload["drug_warnings"] == []
    assert [s["citations"] for s in payload["sentences"]] == [[1], [2]]
    assert all(0.5 <= s["support"] <= 1.0 for s in payload["sentences"])
    _check_sentences(answer)


def test_the_task_can_be_overridden() -> None:
    generator = EchoGenerator()
    answer = _compose("When is metformin contraindicated?", _hits(METFORMIN), generator, task="diagnosis")
    assert answer.task == "diagnosis" and "for it and against it" in generator.calls[0][0]["content"]


def test_a_chinese_question_gets_a_chinese_abstention_listing_the_closest_sources() -> None:
    answer = compose_answer("二甲双胍的禁忌症是什么？", _hits(METFORMIN, score=0.1), EchoGenerator(), min_score=0.3)
    assert answer.abstained and answer.language == "zh"
    assert answer.text.startswith("知识库中没有足够的证据") and "最接近的来源：" in answer.text
    assert "Title 1（Text；相关度" in answer.text
    generated = _compose("胰岛素是谁发现的？", _hits(METFORMIN), Scripted("胰岛素由班廷发现 [1]。"))
    assert generated.abstained and generated.text.startswith("知识库中没有足够的证据")


def test_a_chinese_answer_is_verified_with_the_cross_lingual_embedder() -> None:
    english = Recording()
    cross = Recording({"二甲双胍": " metformin ", "禁用于": " is contraindicated in ", "严重": " severe "})
    cross.glossary |= {"肾病": " kidney disease ", "患者": " patients "}
    generator = Scripted("二甲双胍禁用于严重肾病患者 [1]。")
    answer = _compose(
        "二甲双胍的禁忌症是什么？", _hits(KIDNEY), generator, checking=Checking(english, cross_embedder=cross)
    )
    assert "用中文回答" in generator.calls[0][0]["content"]
    assert answer.text == "二甲双胍禁用于严重肾病患者 [1]。" and answer.language == "zh"
    assert any("二甲双胍" in text for text in cross.seen) and not any("二甲双胍" in t for t in english.seen)
    _check_sentences(answer)


class FakeDrugs:
    """A drug table with no labels that records what it is asked."""

    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.asked: list[list[str]] = []

    def drug_names(self) -> set[str]:
        return self.names

    def drug_labels_for(self, names: Iterable[str]) -> list[DrugLabel]:
        self.asked.append(list(names))
        return []


def test_drug_warnings_are_attached_for_the_patient() -> None:
    drugs = FakeDrugs({"amoxil"})
    patient = PatientContext(allergies=["penicillin"])
    generator = EchoGenerator()
    answer = _compose(
        "Can I give amoxicillin for community-acquired pneumonia?",
        _hits(AMOXICILLIN),
        generator,
        patient=patient,
        checking=Checking(embedder=Recording(), drugs=drugs),
    )
    warning, unchecked = answer.drug_warnings
    assert (warning.drug, warning.kind, warning.patient_item) == ("amoxicillin", "allergy", "penicillin")
    assert (unchecked.drug, unchecked.kind) == ("amoxicillin", NOT_CHECKED)  # no label: said, not silent
    assert "penicillins" in warning.message and warning.reference
    assert "amoxicillin" in drugs.asked[0]
    assert answer.to_dict()["drug_warnings"][0]["drug"] == "amoxicillin"
    assert "\n\nPatient: allergies: penicillin\n\n" in generator.calls[0][1]["content"]


def test_drug_warnings_come_with_an_abstention_too_and_in_chinese() -> None:
    patient = PatientContext(allergies=["青霉素"])
    answer = compose_answer(
        "青霉素过敏的患者能用阿莫西林吗？",
        _hits(AMOXICILLIN, score=0.1),
        EchoGenerator(),
        min_score=0.3,
        patient=patient,
    )
    assert answer.abstained
    warning = next(w for w in answer.drug_warnings if w.drug == "阿莫西林")
    assert "青霉素类" in warning.message and "过敏" in warning.message


@pytest.mark.parametrize("patient", [None, PatientContext(age=40), PatientContext(sex="female", pregnant=False)])
def test_nothing_to_check_no_drug_warnings(patient: PatientContext | None) -> None:
    answer = _compose("Can I give amoxicillin?", _hits(AMOXICILLIN), EchoGenerator(), patient=patient)
    assert answer.drug_warnings == []


@pytest.mark.parametrize("patient", [PatientContext(conditions=["ckd"]), PatientContext(pregnant=True, age=80)])
def test_a_field_no_label_can_check_is_said_to_be_not_checked(patient: PatientContext) -> None:
    answer = _compose("Can I give amoxicillin?", _hits(AMOXICILLIN), EchoGenerator(), patient=patient)
    assert answer.drug_warnings and all(w.kind == NOT_CHECKED for w in answer.drug_warnings)
    assert {w.patient_item for w in answer.drug_warnings} == ({"ckd"} if patient.conditions else {"pregnant", "age 80"})
    assert all("no label for amoxicillin" in w.message for w in answer.drug_warnings)


def test_the_allergen_named_in_the_question_is_not_itself_warned_about() -> None:
    patient = PatientContext(allergies=["penicillin"])
    generator = Scripted("Amoxicillin is an aminopenicillin used for community-acquired pneumonia [1].")
    answer = _compose("Penicillin allergy: can I give amoxicillin?", _hits(AMOXICILLIN), generator, patient=patient)
    assert [w.drug for w in answer.drug_warnings if w.kind != NOT_CHECKED] == ["amoxicillin"]
    answer_names_it = drug_warnings("Penicillin allergy: amoxicillin?", "Give penicillin V [1].", patient, None)
    assert [w.drug for w in answer_names_it if w.kind != NOT_CHECKED] == ["amoxicillin", "penicillin v"]


def test_full_width_markers_and_copied_delimiters_are_understood() -> None:
    generator = Scripted("<<<\n二甲双胍禁用于严重肾病患者【1】。\n>>>")
    cross = Recording({"二甲双胍": " metformin ", "禁用于": " is contraindicated in ", "严重": " severe "})
    cross.glossary |= {"肾病": " kidney disease ", "患者": " patients "}
    answer = _compose("二甲双胍的禁忌症是什么？", _hits(KIDNEY), generator, checking=Checking(Recording(), cross))
    assert answer.text == "二甲双胍禁用于严重肾病患者 [1]。"
    _check_sentences(answer)


def test_a_sentence_cut_off_by_the_token_limit_is_left_out() -> None:
    generator = Scripted("Metformin is contraindicated when eGFR is below 30 mL/min [1]. It is also contraindicated in")
    answer = _compose("When is metformin contraindicated?", _hits(METFORMIN), generator)
    assert len(generator.calls) == 1 and answer.text == "Metformin is contraindicated when eGFR is below 30 mL/min [1]."
    _check_sentences(answer)
