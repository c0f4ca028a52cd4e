"""A generator that runs a registered GGUF model in-process with llama.cpp (``llama-cpp-python``, the ``llama``
extra; it builds from source).

On the 2-core machines medkb targets, llama.cpp decodes the bundled Qwen models 3.8x (0.5B) and 6x (1.5B) faster
than transformers (``python benchmarks/generate.py``). The GGUF file is the registry's own, assembled from its
packages and checked against its sha256; nothing is converted.

Example::

    from generation.llama import LlamaCppGenerator
    generator = LlamaCppGenerator("qwen2.5-coder-1.5b-instruct")  # cheap; the model loads on the first call
    generator.generate([{"role": "user", "content": "What is metformin?"}], max_tokens=64)
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from generation.options import option_probabilities, option_tokens
from kb.core.errors import MedkbError
from kb.core.model_registry import DEFAULT_GENERATOR, assemble_gguf, get_spec

logger = logging.getLogger(__name__)

#: Tokens of context; a medkb prompt (five passages and the instructions) stays under 2,500.
CONTEXT_TOKENS = 8192

INSTALL_HINT = "llama.cpp is not installed: pip install 'medkb[llama]' (it builds from source, about 13 minutes)"


def llama_cpp_available() -> bool:
    """Whether ``llama-cpp-python`` is importable (without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppGenerator:
    """Chat completion with a registered GGUF model on llama.cpp; satisfies ``generation.base.StreamingGenerator``
    and ``generation.decide.Chooser``.

    ``model`` is a registry name whose weights are a GGUF file, or the path of one. ``threads`` is llama.cpp's
    thread count (``None``: one per core). Calls are serialised: one llama.cpp context answers one request at a time.
    Every prompt is processed whole, never continued from the previous one's shared start: llama.cpp rounds a
    prompt processed in other batches differently (the probability of "yes" moved by 0.025 on one check), and the
    same question must get the same answer and the same checks whatever was asked before.
    """

    def __init__(self, model: str = DEFAULT_GENERATOR, *, cache_dir: Path | None = None, threads: int | None = None):
        self.name = model
        self._cache_dir = cache_dir
        self._threads = threads
        self._llm: Any = None
        self._lock = threading.Lock()

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        max_time: float | None = None,
    ) -> str:
        """The model's reply to ``messages`` (chat format), greedy when ``temperature`` is 0, stripped; generation
        stops after ``max_tokens`` new tokens or ``max_time`` seconds, whichever comes first."""
        return "".join(self.stream(messages, max_tokens=max_tokens, temperature=temperature, max_time=max_time)).strip()

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        max_time: float | None = None,
    ) -> Iterator[str]:
        """The reply to ``messages`` in pieces, as the model writes them; joined and stripped, they are what
        `generate` returns. With ``max_time``, the reply ends at the first piece written after that many seconds."""
        llm = self._load()
        started = time.perf_counter()
        with self._lock:
            llm.reset()  # the whole prompt, every time: see the class docstring
            chunks = llm.create_chat_completion(
                messages, max_tokens=max_tokens, temperature=temperature, stream=True, seed=0
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if not piece:
                    continue
                yield piece
                if max_time is not None and time.perf_counter() - started > max_time:
                    logger.info("generation stopped after %.1f s (max_time)", time.perf_counter() - started)
                    break

    def choose(self, messages: list[dict[str, str]], options: Sequence[str]) -> dict[str, float]:
        """The probability of each option as the first word of the reply to ``messages``, renormalised over the
        options, from one pass over the prompt (no sampling); as ``TransformersGenerator.choose``."""
        llm = self._load()
        variants = option_tokens(options, lambda text: llm.tokenize(text.encode("utf-8"), add_bos=False))
        tokens = self._prompt_tokens(messages)
        with self._lock:
            llm.reset()  # the whole prompt, every time: see the class docstring
            llm.eval(tokens)
            logits = np.ctypeslib.as_array(self._llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            return option_probabilities(logits.copy(), variants)

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """``messages`` in the model's chat template (from the GGUF file), tokenised, ready for the reply."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._llm
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise MedkbError(f"{self.name}: the GGUF file has no chat template")
        text = Jinja2ChatFormatter(template, eos_token="", bos_token="")(messages=messages).prompt
        return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _load(self) -> Any:
        """Load the model once, from the registry's checked GGUF file (or the given path)."""
        if self._llm is None:
            try:
                import llama_cpp
                from llama_cpp import Llama
            except ImportError as exc:
                raise MedkbError(INSTALL_HINT) from exc
            path = Path(self.name) if self.name.endswith(".gguf") else None
            if path is None:
                path = assemble_gguf(get_spec(self.name), cache_dir=self._cache_dir)
            elif not path.is_file():
                raise MedkbError(f"{path}: no such GGUF file")
            threads = self._threads or os.cpu_count() or 1
            started = time.perf_counter()
            self._llama_cpp = llama_cpp
            self._llm = Llama(model_path=str(path), n_ctx=CONTEXT_TOKENS, n_threads=threads, verbose=False)
            seconds = time.perf_counter() - started
            logger.info("loaded %s on llama.cpp (%d threads) in %.1f s", self.name, threads, seconds)
        return self._llm
