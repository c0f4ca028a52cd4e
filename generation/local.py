"""A generator that runs a registered (or local) causal language model in-process with transformers.

Example::

    from generation.local import TransformersGenerator
    generator = TransformersGenerator()  # cheap; the model loads on the first call
    generator.generate([{"role": "user", "content": "What is metformin?"}], max_tokens=64)
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from kb.registry import DEFAULT_GENERATOR, resolve_model

logger = logging.getLogger(__name__)


class TransformersGenerator:
    """Chat completion with a local transformers model; satisfies ``generation.base.Generator``.

    ``model`` is a registry name or a local model directory. ``threads`` sets torch's intra-op thread count
    (process-wide) when the model loads; leave it ``None`` to keep torch's default.
    """

    def __init__(self, model: str = DEFAULT_GENERATOR, *, cache_dir: Path | None = None, threads: int | None = None):
        self.name = model
        self._cache_dir = cache_dir
        self._threads = threads
        # transformers' own annotations are too loose to check calls against, hence Any.
        self._model: Any = None
        self._tokenizer: Any = None

    def generate(self, messages: list[dict[str, str]], *, max_tokens: int = 256, temperature: float = 0.0) -> str:
        """The model's reply to ``messages`` (chat format), greedy when ``temperature`` is 0, stripped."""
        import torch

        model, tokenizer = self._load()
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        )
        with torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=max_tokens, pad_token_id=tokenizer.pad_token_id, **sampling
            )
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()

    def _load(self) -> tuple[Any, Any]:
        """Load the model and tokenizer once, from local files only."""
        if self._model is None or self._tokenizer is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = resolve_model(self.name, cache_dir=self._cache_dir)
            if self._threads is not None:
                torch.set_num_threads(self._threads)
            started = time.perf_counter()
            self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            # safetensors only: weights are never unpickled
            self._model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()
            logger.info("loaded %s from %s in %.1f s", self.name, path, time.perf_counter() - started)
        return self._model, self._tokenizer
