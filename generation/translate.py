"""Question translation by a generator: a Chinese question put into English before it is searched.

The cross-lingual encoder places a Chinese question near the right topic but rarely on the right passage; a question
translated by the bundled Qwen2.5-Coder 1.5B and searched as English does much better (docs/retrieval.md, "Chinese
questions over English evidence"). The 0.5B model leaves rare terms in Chinese characters and does not help. The
prompt is a fixed instruction and three worked examples written for medkb; decoding is greedy, so a question always
gets the same translation, and translations are remembered for the life of the translator.

Example::

    translator = GeneratorTranslator(TransformersGenerator("qwen2.5-coder-1.5b-instruct"))
    translator.translate("2型糖尿病如何诊断？")  # 'How is type 2 diabetes diagnosed?'
"""

from __future__ import annotations

import logging

from generation.base import Generator, Messages

log = logging.getLogger(__name__)

SYSTEM = (
    "You are a translator. Translate Chinese text into English. Output only the English translation, never an answer."
)
#: Worked examples (general medical phrasing written for medkb, not taken from any evaluation set).
EXAMPLES = (
    ("二甲双胍的禁忌症是什么？", "What are the contraindications of metformin?"),
    ("阿司匹林能降低心肌梗死后的死亡率。", "Aspirin reduces mortality after myocardial infarction."),
    ("2型糖尿病如何诊断？", "How is type 2 diabetes diagnosed?"),
)
MAX_TOKENS = 80


def translation_messages(text: str) -> Messages:
    """The chat that asks for ``text`` in English."""
    chat = [{"role": "system", "content": SYSTEM}]
    for chinese, english in EXAMPLES:
        chat.append({"role": "user", "content": f"Translate into English:\n{chinese}"})
        chat.append({"role": "assistant", "content": english})
    chat.append({"role": "user", "content": f"Translate into English:\n{text}"})
    return chat


class GeneratorTranslator:
    """A `kb.core.protocols.QuestionTranslator` that asks ``generator`` for the translation (the first line of its
    reply); answers are cached by question."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self._done: dict[str, str] = {}

    def translate(self, question: str) -> str:
        if question not in self._done:
            reply = self.generator.generate(translation_messages(question), max_tokens=MAX_TOKENS).strip()
            self._done[question] = reply.splitlines()[0].strip() if reply else ""
            log.info("translated %r -> %r", question, self._done[question])
        return self._done[question]
