"""A generator that runs a registered (or local) causal language model in-process with transformers.

Example::

    from generation.local import TransformersGenerator
    generator = TransformersGenerator()  # cheap; the model loads on the first call
    generator.generate([{"role": "user", "content": "What is metformin?"}], max_tokens=64)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from generation.options import option_probabilities, option_tokens
from kb.core.model_registry import DEFAULT_GENERATOR, resolve_model

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
        import torch

        kwargs, prompt_tokens = self._request(messages, max_tokens, temperature, max_time)
        with torch.inference_mode():
            output = self._model.generate(**kwargs)
        return str(self._tokenizer.decode(output[0, prompt_tokens:], skip_special_tokens=True)).strip()

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        max_time: float | None = None,
    ) -> Iterator[str]:
        """The reply to ``messages`` in pieces, yielded while the model writes them (it runs in a background
        thread); joined and stripped, they are what `generate` returns."""
        import torch
        from transformers import TextIteratorStreamer

        kwargs, _ = self._request(messages, max_tokens, temperature, max_time)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(**kwargs, streamer=streamer)
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, name="medkb-generate", daemon=True)
        thread.start()
        yield from streamer
        thread.join()
        if failure:
            raise failure[0]

    def _request(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, max_time: float | None = None
    ) -> tuple[dict[str, Any], int]:
        """The keyword arguments of ``model.generate`` for ``messages``, and the prompt's length in tokens."""
        inputs = self._prompt(messages)
        tokenizer = self._tokenizer
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        )
        if max_time is not None:
            sampling["max_time"] = max(float(max_time), 0.1)
        kwargs = dict(inputs, max_new_tokens=max_tokens, pad_token_id=tokenizer.pad_token_id, **sampling)
        return kwargs, int(inputs["input_ids"].shape[1])

    def choose(self, messages: list[dict[str, str]], options: Sequence[str]) -> dict[str, float]:
        """The probability of each option as the first word of the reply to ``messages``, renormalised over the
        options, from one forward pass (no sampling). An option's probability is that of its first token, written
        as given, capitalised or after a space; the options must start with different tokens.

        Example::

            generator.choose(messages, ["yes", "no", "maybe"])  # {"yes": 0.71, "no": 0.2, "maybe": 0.09}
        """
        import torch

        inputs = self._prompt(messages)
        model, tokenizer = self._model, self._tokenizer
        variants = option_tokens(options, lambda text: tokenizer.encode(text, add_special_tokens=False))
        with torch.inference_mode():
            logits = model(**inputs).logits[0, -1]
        return option_probabilities(logits.float().numpy(), variants)

    def _prompt(self, messages: list[dict[str, str]]) -> Any:
        """``messages`` in the model's chat template, tokenised, ready for the assistant's reply (loads the model)."""
        _, tokenizer = self._load()
        return tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )

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
