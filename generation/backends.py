"""The built-in generator backends by name: ``auto`` (the default: llama.cpp where it is installed, else
transformers), ``local`` (transformers, in-process), ``llama`` (llama.cpp, in-process), ``openai:URL`` (any
OpenAI-compatible endpoint) and ``echo`` (the test double). Their models load on first use, not here."""

from __future__ import annotations

from pathlib import Path

from generation.base import EchoGenerator, Generator
from generation.llama import LlamaCppGenerator, llama_cpp_available
from generation.local import TransformersGenerator
from generation.openai import OpenAICompatibleGenerator
from kb.core.errors import MedkbError
from kb.core.model_registry import DEFAULT_GENERATOR, LLAMA_DEFAULT_GENERATOR, weights_installed

BACKENDS = ("auto", "local", "transformers", "llama", "llama.cpp", "echo", "openai:URL")


def resolve_backend(spec: str, model: str = "") -> tuple[str, str]:
    """The runtime (``local``, ``llama``, ``echo`` or ``openai:URL``) and model a backend spec and model name give.

    ``auto`` picks llama.cpp with ``model`` (default: the 1.5B model) when ``llama-cpp-python`` is installed and
    so are the 1.5B model's weights, else transformers with ``model`` (default: the 0.5B model). An empty ``model``
    is the runtime's default model.
    """
    if spec == "auto":
        if llama_cpp_available() and weights_installed(model or LLAMA_DEFAULT_GENERATOR):
            return "llama", model or LLAMA_DEFAULT_GENERATOR
        return "local", model or DEFAULT_GENERATOR
    if spec in ("local", "transformers"):
        return "local", model or DEFAULT_GENERATOR
    if spec in ("llama", "llama.cpp"):
        return "llama", model or LLAMA_DEFAULT_GENERATOR
    if spec.startswith("openai:") or spec == "echo":
        return spec, model
    raise MedkbError(f"generator {spec!r}: expected one of {', '.join(BACKENDS)}")


def make_generator(
    spec: str, *, model: str = "", cache_dir: Path | None = None, threads: int | None = None
) -> Generator:
    """A generator from a backend spec (see `resolve_backend`): ``auto``, ``local`` (transformers; ``threads``
    torch threads, ``None`` for torch's default of one per core), ``llama`` (llama.cpp; ``threads`` likewise),
    ``openai:URL`` (any OpenAI-compatible endpoint, e.g. ``openai:http://127.0.0.1:8000/v1``) or ``echo``."""
    runtime, model = resolve_backend(spec, model)
    if runtime == "local":
        return TransformersGenerator(model, cache_dir=cache_dir, threads=threads)
    if runtime == "llama":
        return LlamaCppGenerator(model, cache_dir=cache_dir, threads=threads)
    if runtime.startswith("openai:"):
        return OpenAICompatibleGenerator(runtime.removeprefix("openai:"), model=model or DEFAULT_GENERATOR)
    return EchoGenerator()
