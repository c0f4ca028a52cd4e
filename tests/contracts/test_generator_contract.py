"""The generators' conformance suite (`kb.core.protocols.Generator`): a chat in, a string out, bounded by
``max_tokens``; a `StreamingGenerator` streams pieces that join into a reply; a `GeneratorTranslator` over any of them
keeps the `QuestionTranslator` contract. A new generator passes by adding one line to `GENERATORS`; those that load
real weights are marked ``e2e`` (the OpenAI-compatible backend has its own suite against a local server,
tests/generation/test_openai_backend.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from generation.backends import make_generator
from generation.base import EchoGenerator
from generation.decide import Chooser
from generation.translate import GeneratorTranslator
from kb.core.protocols import Generator, QuestionTranslator, StreamingGenerator

GENERATORS: dict[str, Callable[[], Generator]] = {
    "echo": EchoGenerator,
    "qwen2.5-coder-0.5b-instruct": lambda: make_generator("local", model="qwen2.5-coder-0.5b-instruct", threads=2),
    "llama.cpp qwen2.5-coder-0.5b-instruct": lambda: make_generator(
        "llama", model="qwen2.5-coder-0.5b-instruct", threads=2
    ),
}
REAL = {"qwen2.5-coder-0.5b-instruct", "llama.cpp qwen2.5-coder-0.5b-instruct"}
CHAT = [
    {"role": "system", "content": "Answer from the passages, citing [n]."},
    {
        "role": "user",
        "content": "[1] Metformin - Contraindications\n<<<\nMetformin is contraindicated when eGFR is below 30."
        "\n>>>\n\nQuestion: When is metformin contraindicated?",
    },
]


@pytest.fixture(
    scope="module",
    params=[pytest.param(name, marks=pytest.mark.e2e) if name in REAL else name for name in GENERATORS],
)
def generator(request: pytest.FixtureRequest) -> Generator:
    return GENERATORS[request.param]()


def test_it_is_a_generator(generator: Generator) -> None:
    assert isinstance(generator, Generator)
    assert isinstance(generator.name, str) and generator.name


def test_a_chat_gets_a_reply(generator: Generator) -> None:
    reply = generator.generate(CHAT, max_tokens=24, temperature=0.0)
    assert isinstance(reply, str) and reply.strip()
    assert generator.generate(CHAT, max_tokens=24, temperature=0.0) == reply  # greedy: the same reply again


def test_a_stream_joins_into_a_reply(generator: Generator) -> None:
    if not isinstance(generator, StreamingGenerator):
        pytest.skip(f"{generator.name} does not stream")
    pieces = list(generator.stream(CHAT, max_tokens=24, temperature=0.0))
    assert pieces and all(isinstance(piece, str) for piece in pieces)
    assert "".join(pieces).strip() == generator.generate(CHAT, max_tokens=24, temperature=0.0).strip()


def test_a_chooser_gives_a_distribution_over_the_options(generator: Generator) -> None:
    if not isinstance(generator, Chooser):
        pytest.skip(f"{generator.name} gives no option probabilities")

    def asked(statement: str) -> list[dict[str, str]]:
        passage = CHAT[1]["content"].split("\n\nQuestion:")[0]
        return [{"role": "user", "content": f"{passage}\n\nDoes passage [1] say that {statement}? Answer yes or no."}]

    probabilities = generator.choose(asked("metformin is contraindicated when eGFR is below 30"), ["yes", "no"])
    assert set(probabilities) == {"yes", "no"} and abs(sum(probabilities.values()) - 1) < 1e-6
    false = generator.choose(asked("metformin is safe in severe kidney disease"), ["yes", "no"])
    assert probabilities["yes"] > false["yes"]
    again = generator.choose(asked("metformin is contraindicated when eGFR is below 30"), ["yes", "no"])
    assert again == pytest.approx(probabilities)  # the same pass again
    with pytest.raises(ValueError, match="different tokens"):
        generator.choose(asked("x"), ["yes", "Yes"])


def test_a_translator_over_it_keeps_its_contract(generator: Generator) -> None:
    translator = GeneratorTranslator(generator)
    assert isinstance(translator, QuestionTranslator)
    english = translator.translate("二甲双胍什么时候禁用？")
    assert isinstance(english, str) and "\n" not in english
    assert translator.translate("二甲双胍什么时候禁用？") == english  # cached
