"""A semantic check by the generator itself: its probability of "yes" to "does this passage state this?" and to
"does this sentence answer the question?", each read from one forward pass (as `generation.decide` reads options).

Word overlap says that a sentence's words occur in a passage; it cannot tell "tests for kidney disease include urine
tests" from "high blood pressure is diagnosed with urine tests". `supports` can, in part: it gates every citation
(`generation.compose`), its threshold fitted on half A of SciFact's rationale pairs and of the clinical set
(`medkb eval qa --dataset entailment`; docs/answers.md). `answers` is measured by the same command but not used:
the bundled model's answer to it hardly depends on whether the sentence answers.

Example::

    p = supports(generator, "Metformin is contraindicated below eGFR 30.", passage_text)
"""

from __future__ import annotations

from generation.base import Messages
from generation.decide import Chooser
from generation.injection import CLOSE, OPEN, quote

#: The probability of "yes" a (sentence, passage) pair needs to count as supported, besides the word, number and
#: negation checks of `generation.verify`. The 0.5B model puts "yes" under 0.5 for nearly every pair; fitted for
#: F0.5 of both checks together on half A of the SciFact and clinical pairs (docs/answers.md).
SUPPORT_YES = 0.29
#: The probability of "yes" for `answers`; not used in composition: on the clinical pairs the 0.5B model's answer
#: check barely separated answering sentences from the others (AUC 0.59; docs/answers.md).
ANSWER_YES = 0.5
#: Characters of a passage shown to the checks: a chunk is rarely longer; a longer text is cut.
MAX_PASSAGE_CHARS = 2000

_SUPPORT_SYSTEM = (
    "You check citations in medical answers. Given a passage and a statement, answer yes if the passage states or "
    "directly implies the statement, and no otherwise: no if the passage is about something else, and no if it "
    "says the opposite."
)
_ANSWER_SYSTEM = (
    "You check medical answers. Given a question and a sentence, answer yes if the sentence answers the question "
    "or a part of it, and no if it is about something else or does not answer it."
)


def support_messages(statement: str, passage: str) -> Messages:
    """The chat that asks whether ``passage`` states ``statement``."""
    user = (
        f"Passage:\n{OPEN}\n{quote(passage.strip()[:MAX_PASSAGE_CHARS])}\n{CLOSE}\n\nStatement: {statement.strip()}\n\n"
        "Does the passage support the statement? Answer yes or no."
    )
    return [{"role": "system", "content": _SUPPORT_SYSTEM}, {"role": "user", "content": user}]


def answer_messages(question: str, sentence: str) -> Messages:
    """The chat that asks whether ``sentence`` answers ``question``."""
    user = (
        f"Question: {question.strip()}\n\nSentence:\n{OPEN}\n{quote(sentence.strip()[:MAX_PASSAGE_CHARS])}\n{CLOSE}\n\n"
        "Does the sentence answer the question? Answer yes or no."
    )
    return [{"role": "system", "content": _ANSWER_SYSTEM}, {"role": "user", "content": user}]


def supports(chooser: Chooser, statement: str, passage: str) -> float:
    """The generator's probability that ``passage`` states ``statement``."""
    return chooser.choose(support_messages(statement, passage), ["yes", "no"])["yes"]


def answers(chooser: Chooser, question: str, sentence: str) -> float:
    """The generator's probability that ``sentence`` answers ``question``."""
    return chooser.choose(answer_messages(question, sentence), ["yes", "no"])["yes"]
