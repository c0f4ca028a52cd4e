"""``Settings.translate_model``: a Chinese question is searched as its English translation (a fake translator and
the hashing embedder; the real generator translating is in tests/e2e)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from generation.base import EchoGenerator
from kb import Document, KnowledgeBase, Settings
from kb.core.types import Hit

QUESTION = "阿莫西林可以治疗肺炎吗？"
ENGLISH = "Can amoxicillin treat pneumonia?"
DOCS = [
    Document(title="Amoxicillin", text="Amoxicillin treats community-acquired pneumonia in adults.", source="a"),
    Document(title="Warfarin", text="Warfarin bleeding risk rises with NSAIDs such as ibuprofen.", source="b"),
    Document(title="Asthma", text="Asthma is diagnosed from variable airflow limitation on spirometry.", source="c"),
]


class _Fake:
    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def translate(self, question: str) -> str:
        self.asked.append(question)
        return self.answers.get(question, "")


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    settings = Settings(embedder="hashing", cross_lingual_embedder="", translate_model="some-translator")
    with KnowledgeBase.create(tmp_path / "kb", settings, generator=EchoGenerator()) as opened:
        opened.ingest(DOCS)
        yield opened


def _ids(hits: list[Hit]) -> list[str]:
    return [hit.chunk_id for hit in hits]


def test_a_chinese_question_is_searched_as_its_translation(kb: KnowledgeBase) -> None:
    kb.translator = fake = _Fake({QUESTION: ENGLISH})
    assert kb.search_text(QUESTION) == ENGLISH
    for mode in ("lexical", "dense", "hybrid"):
        assert _ids(kb.search(QUESTION, 2, mode=mode)) == _ids(kb.search(ENGLISH, 2, mode=mode))
    assert kb.search(QUESTION, 1, mode="lexical")[0].title == "Amoxicillin"
    assert set(fake.asked) == {QUESTION}  # English questions are never sent to the translator


def test_without_the_setting_or_a_usable_translation_the_question_is_searched_as_it_is(kb: KnowledgeBase) -> None:
    kb.translator = fake = _Fake({QUESTION: "阿莫西林 can treat 肺炎", "哮喘怎么诊断？": ""})
    assert kb.search_text(QUESTION) == QUESTION  # still Chinese
    assert kb.search_text("哮喘怎么诊断？") == "哮喘怎么诊断？"  # nothing came out
    kb.settings = replace(kb.settings, translate_model="")
    fake.asked.clear()
    assert kb.search_text(QUESTION) == QUESTION and not fake.asked
    assert kb.search(QUESTION, 3, mode="lexical") == []  # no English word to match: nothing was translated


def test_an_answer_says_what_english_its_question_was_searched_as(kb: KnowledgeBase) -> None:
    kb.translator = _Fake({QUESTION: ENGLISH})
    answer = kb.ask(QUESTION)
    assert answer.language == "zh"
    assert answer.warnings[0] == f"the question was searched in English as: {ENGLISH!r}"
    assert not any("searched in English" in w for w in kb.ask(ENGLISH).warnings)
