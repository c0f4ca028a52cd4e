"""The llama.cpp backend (`generation.llama`) and how a backend spec picks a runtime and model
(`generation.backends.resolve_backend`). The tests that load weights are marked ``e2e``."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from generation import backends
from generation.backends import make_generator, resolve_backend
from generation.llama import LlamaCppGenerator
from generation.local import TransformersGenerator
from generation.options import option_probabilities, option_tokens
from kb.core.errors import MedkbError
from kb.core.model_registry import DEFAULT_GENERATOR, LLAMA_DEFAULT_GENERATOR

CHAT = [{"role": "user", "content": "Name one drug class that lowers blood pressure, in one sentence."}]


@pytest.mark.parametrize(
    ("spec", "model", "llama", "weights", "expected"),
    [
        ("auto", "", True, True, ("llama", LLAMA_DEFAULT_GENERATOR)),
        ("auto", "", True, False, ("local", DEFAULT_GENERATOR)),  # no 1.5B weights: the transformers fallback
        ("auto", "", False, True, ("local", DEFAULT_GENERATOR)),  # no llama.cpp: likewise
        ("auto", "qwen2.5-coder-0.5b-instruct", True, True, ("llama", "qwen2.5-coder-0.5b-instruct")),
        ("local", "", True, True, ("local", DEFAULT_GENERATOR)),
        ("transformers", "x", True, True, ("local", "x")),
        ("llama", "", False, False, ("llama", LLAMA_DEFAULT_GENERATOR)),  # asked for: its load says what is missing
        ("echo", "", True, True, ("echo", "")),
        ("openai:http://127.0.0.1:9/v1", "m", True, True, ("openai:http://127.0.0.1:9/v1", "m")),
    ],
)
def test_a_backend_spec_resolves_to_a_runtime_and_model(
    monkeypatch: pytest.MonkeyPatch, spec: str, model: str, llama: bool, weights: bool, expected: tuple[str, str]
) -> None:
    monkeypatch.setattr(backends, "llama_cpp_available", lambda: llama)
    monkeypatch.setattr(backends, "weights_installed", lambda name: weights)
    assert resolve_backend(spec, model) == expected


def test_an_unknown_backend_is_refused_naming_the_choices() -> None:
    with pytest.raises(MedkbError, match=r"generator 'gpu'.*auto.*llama"):
        resolve_backend("gpu")


def test_make_generator_builds_each_runtime_without_loading_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "llama_cpp_available", lambda: True)
    monkeypatch.setattr(backends, "weights_installed", lambda name: True)
    made = make_generator("auto")
    assert isinstance(made, LlamaCppGenerator) and made.name == LLAMA_DEFAULT_GENERATOR and made._llm is None
    assert isinstance(make_generator("local"), TransformersGenerator)


def test_without_llama_cpp_the_load_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def no_llama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("llama_cpp"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(MedkbError, match=r"medkb\[llama\]"):
        LlamaCppGenerator(str(tmp_path / "model.gguf")).generate(CHAT)


def test_a_gguf_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    missing = tmp_path / "none.gguf"
    with pytest.raises(MedkbError, match="no such GGUF file"):
        LlamaCppGenerator(str(missing)).generate(CHAT)


def test_option_probabilities_are_the_softmax_mass_of_each_option_renormalised() -> None:
    logits = np.random.default_rng(0).normal(size=50).astype(np.float32)
    options = {"yes": [3, 7], "no": [11], "maybe": [20, 21, 22]}
    ours = option_probabilities(logits, options)
    logprobs = torch.log_softmax(torch.from_numpy(logits), dim=-1)
    mass = {option: torch.logsumexp(logprobs[ids], dim=0).exp().item() for option, ids in options.items()}
    theirs = {option: value / sum(mass.values()) for option, value in mass.items()}
    assert ours == pytest.approx(theirs, abs=1e-6) and sum(ours.values()) == pytest.approx(1.0)


def test_options_that_start_with_the_same_token_are_refused() -> None:
    encode = {"yes": [1], "Yes": [1], " yes": [2], " Yes": [2], "no": [3], "No": [4], " no": [5], " No": [6]}.get
    assert option_tokens(["yes", "no"], encode) == {"yes": {1, 2}, "no": {3, 4, 5, 6}}
    with pytest.raises(ValueError, match="different tokens"):
        option_tokens(["yes", "Yes"], encode)


@pytest.mark.e2e
def test_max_time_cuts_the_reply_short() -> None:
    generator = LlamaCppGenerator("qwen2.5-coder-0.5b-instruct", threads=2)
    whole = generator.generate(CHAT, max_tokens=60)
    cut = generator.generate(CHAT, max_tokens=60, max_time=0.0)  # ends at the first piece written
    assert cut and len(cut) < len(whole) and whole.startswith(cut)


@pytest.mark.e2e
def test_a_choice_after_other_prompts_is_the_choice_of_a_fresh_model() -> None:
    question = [{"role": "user", "content": "Is metformin a biguanide? Answer yes or no."}]
    used = LlamaCppGenerator("qwen2.5-coder-0.5b-instruct", threads=2)
    used.generate(CHAT, max_tokens=8)  # the context held another prompt, with the same chat-template start
    fresh = LlamaCppGenerator("qwen2.5-coder-0.5b-instruct", threads=2)
    assert used.choose(question, ["yes", "no"]) == fresh.choose(question, ["yes", "no"])  # nothing carried over
