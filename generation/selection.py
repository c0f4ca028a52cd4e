"""The passages cut to their sentences closest to the question, for the ``selected`` answer style.

A small model joins a few relevant sentences better than it reads five whole passages; what it is shown is cut,
what its answer is verified against is not (`generation.compose` verifies against the whole passages).

Example::

    shown = select_sentences(question, hits, embedder)  # same hits, same order, shorter texts
"""

from __future__ import annotations

from dataclasses import replace

from generation.grounding import split_sentences
from kb.core.protocols import Embedder
from kb.core.types import Hit

#: Sentences kept over all passages, and how far under the closest one a kept sentence may be (cosine).
KEEP = 6
MARGIN = 0.2


def select_sentences(
    question: str, hits: list[Hit], embedder: Embedder, *, keep: int = KEEP, margin: float = MARGIN
) -> list[Hit]:
    """``hits`` in the same order, each with its text cut to those of its sentences that are among the ``keep``
    closest to ``question`` over all passages and within ``margin`` of the closest, in passage order; a passage
    with none of them keeps its one closest sentence, so that the numbering of the passages stays."""
    sentences = [(number, s) for number, hit in enumerate(hits) for s in split_sentences(hit.text)]
    if not sentences:
        return list(hits)
    vectors = embedder.embed_documents([question] + [s for _, s in sentences])
    closeness = vectors[1:] @ vectors[0]
    ranked = sorted(range(len(sentences)), key=lambda i: -float(closeness[i]))
    top = float(closeness[ranked[0]])
    chosen = {i for i in ranked[:keep] if float(closeness[i]) >= top - margin}
    out = []
    for number, hit in enumerate(hits):
        own = [i for i, (n, _) in enumerate(sentences) if n == number]
        kept = [i for i in own if i in chosen] or sorted(own, key=lambda i: -float(closeness[i]))[:1]
        out.append(replace(hit, text=" ".join(sentences[i][1] for i in sorted(kept))) if kept else hit)
    return out
