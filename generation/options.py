"""Option probabilities from next-token logits, shared by the in-process generators' ``choose``
(`generation.local`, `generation.llama`): each option's first tokens, and their probability renormalised over the
options.

Example::

    tokens = option_tokens(["yes", "no"], lambda text: tokenizer.encode(text, add_special_tokens=False))
    option_probabilities(logits, tokens)  # {"yes": 0.71, "no": 0.29}
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np


def first_tokens(encode: Callable[[str], Sequence[int]], option: str) -> set[int]:
    """The ids of the first token of ``option`` as written, capitalised, and each after a space (``encode`` turns
    text into token ids, without special tokens)."""
    forms = {option, option.capitalize(), " " + option, " " + option.capitalize()}
    return {encode(form)[0] for form in forms if form.strip()}


def option_tokens(options: Sequence[str], encode: Callable[[str], Sequence[int]]) -> dict[str, set[int]]:
    """Each option's `first_tokens`; ValueError when two options share one (their probabilities could not be
    told apart)."""
    variants = {option: first_tokens(encode, option) for option in options}
    firsts = [token for tokens in variants.values() for token in tokens]
    if len(firsts) != len(set(firsts)):
        raise ValueError(f"options {list(options)!r}: expected options that start with different tokens")
    return variants


def option_probabilities(logits: np.ndarray, tokens: Mapping[str, Collection[int]]) -> dict[str, float]:
    """Each option's probability from next-token ``logits`` (1-D): the summed probability of its ``tokens``,
    renormalised over the options."""
    logits = np.asarray(logits, dtype=np.float64)
    top = float(logits.max())
    log_total = top + float(np.log(np.exp(logits - top).sum()))
    scores = {}
    for option, ids in tokens.items():
        values = logits[list(ids)] - log_total
        peak = float(values.max())
        scores[option] = peak + float(np.log(np.exp(values - peak).sum()))
    best = max(scores.values())
    total = sum(np.exp(v - best) for v in scores.values())
    return {option: float(np.exp(v - best) / total) for option, v in scores.items()}
