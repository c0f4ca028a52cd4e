"""The built-in generator backends by name: ``local`` (transformers, in-process), ``openai:URL`` (any
OpenAI-compatible endpoint) and ``echo`` (the test double). Their models load on first use, not here."""

from __future__ import annotations

from pathlib import Path

from generation.base import EchoGenerator, Generator
from generation.local import TransformersGenerator
from generation.openai import OpenAICompatibleGenerator
from kb.core.errors import MedkbError


def make_generator(spec: str, *, model: str, cache_dir: Path | None = None, threads: int | None = None) -> Generator:
    """A generator from a backend spec: ``local`` (transformers, the default; ``threads`` torch threads, ``None``
    for torch's default of one per core), ``openai:URL`` (any OpenAI-compatible endpoint, e.g.
    ``openai:http://127.0.0.1:8000/v1``) or ``echo`` (test double)."""
    if spec in ("local", "transformers"):
        return TransformersGenerator(model, cache_dir=cache_dir, threads=threads)
    if spec.startswith("openai:"):
        return OpenAICompatibleGenerator(spec.removeprefix("openai:"), model=model)
    if spec == "echo":
        return EchoGenerator()
    raise MedkbError(f"generator {spec!r}: expected 'local', 'openai:URL' or 'echo'")
