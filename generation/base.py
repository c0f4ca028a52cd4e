"""What the generators share: their protocols (`kb.core.protocols`, re-exported here), the deterministic fake for
tests, and `accepts_max_time`. The built-in backends are made by name in `generation.backends`."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator

from kb.core.protocols import Generator, Messages, StreamingGenerator

__all__ = ["EchoGenerator", "Generator", "Messages", "StreamingGenerator", "accepts_max_time"]

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
