"""The answer styles (`generation.prompts.STYLES`), the sentence selection of the ``selected`` style
(`generation.selection`) and the ``paragraph`` quotation (`generation.grounding.extract_answer`)."""

from __future__ import annotations

import pytest

from generation.base import EchoGenerator
from generation.compose import Checking, compose_answer
from generation.grounding import PARAGRAPH_SENTENCES, extract_answer, without_lead_ins
from generation.prompts import STYLE_STRUCTURE, build_messages, instructions, system_prompt
from generation.selection import select_sentences
from kb.core.errors import MedkbError
from kb.core.settings import Settings
from kb.core.types import Hit
from retrieval.embedders import HashingEmbedder

CRITERIA = (
    "The ADA accepts four laboratory routes to a diagnosis of diabetes. An HbA1c of 6.5% or higher meets the "
    "criterion. A fasting plasma glucose of 126 mg/dL or higher also meets it. A 2-hour plasma glucose of 200 mg/dL "
    "or higher during an OGTT is diagnostic. A random plasma glucose of 200 mg/dL or higher with classic symptoms "
    "is diagnostic.\n\nScreening starts at age 35. Normal results are repeated every 3 years."
)
HIT = Hit("c1", "d1", CRITERIA, 0.9, title="Type 2 diabetes: diagnostic criteria", section="Diagnostic thresholds")


def test_each_style_has_its_own_instruction_in_both_languages() -> None:
    prompts = {style: system_prompt("diagnosis", "en", style=style) for style in ("passages", "facts", "selected")}
    assert len(set(prompts.values())) == 3
    assert STYLE_STRUCTURE["en"]["facts"] in prompts["facts"]
    assert STYLE_STRUCTURE["zh"]["selected"] in system_prompt("drug", "zh", style="selected")
    assert STYLE_STRUCTURE["en"]["facts"] in instructions()  # an answer that repeats it is dropped
    with pytest.raises(ValueError, match="answer style 'essay'"):
        system_prompt("drug", style="essay")
    assert build_messages("Q?", [HIT], "diagnosis", style="facts")[0]["content"] == prompts["facts"]


def test_the_paragraph_quotation_keeps_the_criteria_together() -> None:
    question = "How is type 2 diabetes diagnosed with HbA1c?"
    quoted = extract_answer(question, [HIT], span="paragraph")
    assert "HbA1c of 6.5%" in quoted and "fasting plasma glucose of 126" in quoted and "OGTT" in quoted
    assert "Screening" not in quoted  # the next paragraph is not part of it
    assert quoted.count("[1]") == min(PARAGRAPH_SENTENCES, 5)
    assert len(extract_answer(question, [HIT], sentences=2)) < len(quoted)  # the top sentences: fewer
    with pytest.raises(ValueError, match="quote span 'page'"):
        extract_answer(question, [HIT], span="page")


def test_selection_keeps_the_closest_sentences_and_every_passage_number() -> None:
    other = Hit("c2", "d2", "Gout is caused by urate crystals. Colchicine treats a flare.", 0.5, title="Gout")
    shown = select_sentences("HbA1c of 6.5% diagnosis of diabetes", [HIT, other], HashingEmbedder(), keep=2)
    assert [h.chunk_id for h in shown] == ["c1", "c2"]  # the same passages, in the same order
    assert "HbA1c of 6.5%" in shown[0].text and "Screening" not in shown[0].text
    assert len(shown[1].text.split(". ")) == 1  # a passage with none selected keeps its one closest sentence
    assert (shown[0].start, shown[0].end) == (HIT.start, HIT.end)  # citations still point at the whole passage


def test_the_selected_style_shows_the_cut_passages_and_verifies_against_the_whole() -> None:
    generator = EchoGenerator()
    answer = compose_answer(
        "What HbA1c diagnoses diabetes?",
        [HIT],
        generator,
        min_score=0.3,
        style="selected",
        checking=Checking(embedder=HashingEmbedder()),
    )
    shown = generator.calls[0][-1]["content"]
    sentences = [s.strip() for s in CRITERIA.replace("\n\n", " ").split(". ")]
    assert "HbA1c" in shown and 0 < sum(s not in shown for s in sentences)  # cut to the closest sentences
    assert not answer.abstained and answer.citations[0].chunk_id == "c1"


def test_settings_refuse_an_unknown_style_or_span() -> None:
    with pytest.raises(MedkbError, match="answer_style='essay'"):
        Settings(answer_style="essay")
    with pytest.raises(MedkbError, match="quote_span='page'"):
        Settings(quote_span="page")


@pytest.mark.parametrize(
    ("generated", "stated"),
    [
        ("The passage states that these effects come from GABA [1].", "These effects come from GABA [1]."),
        ("According to passage [2], metformin is contraindicated [2].", "Metformin is contraindicated [2]."),
        ("Passage 1 mentions that X causes Y [1]. The text is long.", "X causes Y [1]. The text is long."),
        ("The source of infection is water [1].", "The source of infection is water [1]."),  # a fact, not a lead-in
    ],
)
def test_openings_about_the_source_are_removed(generated: str, stated: str) -> None:
    assert without_lead_ins(generated) == stated
