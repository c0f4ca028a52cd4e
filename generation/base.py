"""The generator protocol, a deterministic fake for tests, and the table of built-in backends."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, runtime_checkable

from kb.errors import MedkbError

Messages = list[dict[str, str]]


@runtime_checkable
class Generator(Protocol):
    """Completes a chat: a list of ``{"role", "content"}`` messages in, the assistant's reply out."""

    name: str

    def generate(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> str: ...


@runtime_checkable
class StreamingGenerator(Generator, Protocol):
    """A generator that can also yield its reply piece by piece while writing it (for ``medkb ask``'s terminal)."""

    def stream(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]: ...


#: A passage as `generation.prompts.format_passages` quotes it: ``[n] title - section`` then ``<<<`` text ``>>>``.
_PASSAGE = re.compile(r"^\[(\d+)\][^\n]*\n<<<\n(.+?)\n>>>", re.S | re.M)


class EchoGenerator:
    """Test double: answers with the first sentence of each of the first two passages in the prompt, cited.

    It never calls a model; it exists so that composition and the CLI can be tested quickly and
    deterministically. ``extra`` is appended verbatim (e.g. to test that invented markers are dropped).
    """

    def __init__(self, extra: str = "") -> None:
        self.name = "echo"
        self.extra = extra
        self.calls: list[Messages] = []

    def generate(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> str:
        self.calls.append(messages)
        prompt = messages[-1]["content"]
        parts = []
        for number, body in _PASSAGE.findall(prompt)[:2]:
            sentence = re.split(r"(?<=\.)\s|(?<=。)", body.strip())[0].rstrip(".。")
            parts.append(f"{sentence} [{number}].")
        return " ".join(parts) + self.extra

    def stream(self, messages: Messages, *, max_tokens: int = 256, temperature: float = 0.0) -> Iterator[str]:
        """The reply of `generate`, one word (with its following space) at a time."""
        yield from re.findall(r"\S+\s*", self.generate(messages, max_tokens=max_tokens, temperature=temperature))


def accepts_max_time(generator: Generator, method: str = "generate") -> bool:
    """Whether ``generator``'s ``method`` takes a ``max_time`` keyword (seconds), as the built-in backends do; a
    generator without one is bounded by its token limit alone."""
    try:
        return "max_time" in inspect.signature(getattr(generator, method)).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def make_generator(spec: str, *, model: str, cache_dir: Path | None = None, threads: int | None = None) -> Generator:
    """A generator from a backend spec: ``local`` (transformers, the default; ``threads`` torch threads, ``None``
    for torch's default of one per core), ``openai:URL`` (any OpenAI-compatible endpoint, e.g.
    ``openai:http://127.0.0.1:8000/v1``) or ``echo`` (test double)."""
    if spec in ("local", "transformers"):
        from generation.local import TransformersGenerator

        return TransformersGenerator(model, cache_dir=cache_dir, threads=threads)
    if spec.startswith("openai:"):
        from generation.openai import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(spec.removeprefix("openai:"), model=model)
    if spec == "echo":
        return EchoGenerator()
    raise MedkbError(f"generator {spec!r}: expected 'local', 'openai:URL' or 'echo'")
