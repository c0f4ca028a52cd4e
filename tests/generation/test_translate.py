"""`generation.translate`: the prompt, the first line of the reply, and the cache (a fake generator)."""

from __future__ import annotations

from generation.base import Messages
from generation.translate import EXAMPLES, GeneratorTranslator, translation_messages
from kb.core.protocols import QuestionTranslator


class _Replies:
    name = "replies"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[Messages] = []

    def generate(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> str:
        self.calls.append(messages)
        return self.reply


def test_the_prompt_asks_for_a_translation_with_worked_examples_and_the_question_last() -> None:
    chat = translation_messages("阿莫西林可以治疗肺炎吗？")
    assert chat[0]["role"] == "system" and "never an answer" in chat[0]["content"]
    assert [m["content"] for m in chat[2:-1:2]] == [english for _, english in EXAMPLES]
    assert chat[-1] == {"role": "user", "content": "Translate into English:\n阿莫西林可以治疗肺炎吗？"}


def test_the_first_line_of_the_reply_is_the_translation_and_it_is_asked_once() -> None:
    generator = _Replies("  Can amoxicillin treat pneumonia?\nNote: amoxicillin is a penicillin.")
    translator = GeneratorTranslator(generator)
    assert isinstance(translator, QuestionTranslator)
    assert translator.translate("阿莫西林可以治疗肺炎吗？") == "Can amoxicillin treat pneumonia?"
    assert translator.translate("阿莫西林可以治疗肺炎吗？") == "Can amoxicillin treat pneumonia?"
    assert len(generator.calls) == 1
    assert GeneratorTranslator(_Replies("   ")).translate("肺炎") == ""
