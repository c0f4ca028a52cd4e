"""Closed answers: one option read from a generator's probabilities, a bias fitted on labelled examples."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from generation.base import EchoGenerator, Messages
from generation.decide import YES_NO_MAYBE, choose_label, decide, decision_messages, fit_bias, macro_f1
from kb.core.errors import MedkbError
from kb.core.types import Hit


def _hit(text: str) -> Hit:
    return Hit(chunk_id=text[:8], doc_id="d", text=text, score=0.9, title="Trial")


class FixedChooser:
    """Gives fixed probabilities and records the prompts."""

    name = "fixed"

    def __init__(self, probabilities: dict[str, float]) -> None:
        self.probabilities = probabilities
        self.prompts: list[Messages] = []

    def generate(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> str:
        raise AssertionError("a chooser is asked for probabilities, not text")

    def choose(self, messages: Messages, options: Sequence[str]) -> dict[str, float]:
        self.prompts.append(messages)
        return {o: self.probabilities[o] for o in options}


class TextGenerator(EchoGenerator):
    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    def generate(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> str:
        return self.reply


def test_decide_reads_the_probabilities_and_quotes_the_passages() -> None:
    chooser = FixedChooser({"yes": 0.2, "no": 0.7, "maybe": 0.1})
    decision = decide("Does aspirin prevent stroke?", [_hit("Aspirin reduced stroke by 20%.")], chooser)
    assert decision.label == "no" and decision.probabilities["no"] == 0.7
    prompt = chooser.prompts[0][1]["content"]
    assert "Aspirin reduced stroke by 20%." in prompt and prompt.endswith("Answer (yes, no or maybe):")


def test_bias_moves_the_choice() -> None:
    probabilities = {"yes": 0.3, "no": 0.6, "maybe": 0.1}
    assert choose_label(probabilities) == "no"
    assert choose_label(probabilities, {"yes": 1.0}) == "yes"


def test_fit_bias_corrects_a_model_that_always_leans_one_way() -> None:
    # The model prefers "no" everywhere, but gives "yes" more weight when the answer is yes.
    examples = [({"yes": 0.4, "no": 0.6}, "yes")] * 6 + [({"yes": 0.1, "no": 0.9}, "no")] * 4
    assert sum(choose_label(p) == g for p, g in examples) == 4
    bias = fit_bias(examples, ["yes", "no"])
    assert sum(choose_label(p, bias) == g for p, g in examples) == 10
    with pytest.raises(MedkbError, match="at least one"):
        fit_bias([], ["yes", "no"])


def test_a_backend_without_probabilities_answers_in_words() -> None:
    decision = decide("Is it safe?", [_hit("It is safe.")], TextGenerator("No, it is not."), ("yes", "no"))
    assert decision.label == "no" and decision.probabilities == {"yes": 0.0, "no": 1.0}
    unclear = decide("Is it safe?", [_hit("It is safe.")], TextGenerator("Unclear."), ("yes", "no"))
    assert unclear.probabilities == {"yes": 0.5, "no": 0.5}


def test_options_must_differ() -> None:
    with pytest.raises(MedkbError, match="two different options"):
        decide("Q?", [], FixedChooser({"yes": 1.0}), ("yes", "yes"))


def test_chinese_questions_get_a_chinese_prompt() -> None:
    messages = decision_messages("阿司匹林能预防中风吗？", [_hit("Aspirin reduced stroke.")], YES_NO_MAYBE)
    assert "资料" in messages[1]["content"] and "问题：阿司匹林能预防中风吗？" in messages[1]["content"]


def test_macro_f1_counts_every_option() -> None:
    assert macro_f1(["yes", "no", "maybe"], ["yes", "no", "no"], YES_NO_MAYBE) == pytest.approx((1 + 2 / 3 + 0) / 3)


def test_the_knowledge_base_decides_from_its_own_passages(tmp_path: Path) -> None:
    from kb import KnowledgeBase, Settings
    from kb.core.types import Document

    kb = KnowledgeBase.create(tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="hashing"))
    kb.ingest([Document(text="Aspirin reduced the risk of stroke by 20% in adults.", title="Aspirin", source="t:1")])
    chooser = FixedChooser({"yes": 0.9, "no": 0.1})
    kb._generator = chooser
    decision = kb.decide("Does aspirin reduce stroke?", ("yes", "no"), k=1)
    assert decision.label == "yes" and decision.evidence[0].title == "Aspirin"
    assert "Aspirin reduced the risk" in chooser.prompts[0][1]["content"]
    assert kb.decide("Does aspirin reduce stroke?", ("yes", "no"), k=1, bias={"no": 5.0}).label == "no"
    kb.close()
