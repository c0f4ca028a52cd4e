"""End to end with the shipped default generator: ``generator="auto"`` on an environment with the ``llama`` extra
(the test extras include it) is the Qwen2.5-Coder 1.5B model on llama.cpp. The two questions are those `make demo`
asks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from generation.llama import LlamaCppGenerator
from kb import KnowledgeBase
from kb.core.model_registry import LLAMA_DEFAULT_GENERATOR
from tests.e2e.verified import assert_verified

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "corpora" / "sample"
FILES = ["metformin.md", "type2-diabetes-diagnosis.md", "type2-diabetes-treatment.md", "asthma.md"]


@pytest.fixture(scope="module")
def default_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase.create(tmp_path_factory.mktemp("default") / "kb")
    assert kb.ingest([SAMPLE / name for name in FILES]).failed == 0
    yield kb
    kb.close()


def test_the_default_is_the_1_5b_model_on_llama_cpp(default_kb: KnowledgeBase) -> None:
    assert isinstance(default_kb.generator, LlamaCppGenerator)
    assert default_kb.generator.name == LLAMA_DEFAULT_GENERATOR


DEMO = ["What are the contraindications of metformin?", "How is type 2 diabetes diagnosed?"]


@pytest.mark.parametrize("question", DEMO)
def test_the_demo_questions_get_verified_cited_answers(default_kb: KnowledgeBase, question: str) -> None:
    pieces: list[str] = []
    answer = default_kb.ask(question, on_text=pieces.append)
    assert_verified(default_kb, answer)
    assert len(pieces) > 3  # the draft streamed
    assert answer.timings["entail_s"] > 0  # the llama.cpp generator checked the citations too
