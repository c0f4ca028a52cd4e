"""Cited answers: prompt the generator with numbered evidence, then keep only the citations that resolve.

Citations are enforced structurally: a marker ``[n]`` is kept only when passage ``n`` was given to the generator,
and markers are renumbered in order of first use so that ``[1]`` is always the first citation. An answer that
cites nothing it was given, or evidence below the score threshold, becomes an abstention that says so and lists
the closest sources.
"""

from __future__ import annotations

import re
import time

from generation.base import Generator
from generation.grounding import ground, is_refusal
from generation.prompts import build_messages, classify_task
from kb.types import Answer, Citation, Hit, Task

_GROUP = r"\[\d+(?:\s*[,;\u2013-]\s*\d+)*\]"
#: A run of adjacent marker groups such as ``[1][3]`` or ``[2, 4-5]``, with the space before it.
_MARKER_RUN = re.compile(rf"\s*{_GROUP}(?:\s*{_GROUP})*")
_NUMBERS = re.compile(r"\d+")


def compose_answer(
    question: str,
    hits: list[Hit],
    generator: Generator,
    *,
    min_score: float,
    max_tokens: int = 200,
) -> Answer:
    """Generate an answer to ``question`` from ``hits`` (best first) and resolve its citations."""
    task = classify_task(question)
    timings: dict[str, float] = {}
    best_score = max((hit.evidence_score for hit in hits), default=None)
    if best_score is None or best_score < min_score:
        best = "none" if best_score is None else f"{best_score:.3f}"
        return _abstain(
            question, hits, task, timings, f"no passage scored above the evidence threshold {min_score} (best: {best})"
        )
    started = time.perf_counter()
    raw = generator.generate(build_messages(question, hits, task), max_tokens=max_tokens)
    timings["generate_s"] = time.perf_counter() - started
    if is_refusal(raw):
        return _abstain(question, hits, task, timings, "the generator found the passages insufficient")
    grounded = ground(raw, hits, question)
    text, citations = resolve_citations(grounded.text, hits)
    if not citations:
        return _abstain(question, hits, task, timings, "no sentence of the generated answer rests on a given passage")
    return Answer(
        question=question,
        text=text,
        citations=citations,
        task=task,
        evidence=hits,
        timings=timings,
        warnings=grounded.warnings,
    )


def resolve_citations(raw: str, hits: list[Hit]) -> tuple[str, list[Citation]]:
    """Drop markers that point at no given passage and renumber the rest in order of first use."""
    renumber: dict[int, int] = {}
    citations: list[Citation] = []

    def replace(match: re.Match[str]) -> str:
        kept = []
        for number in _expand(match.group(0)):
            if not 1 <= number <= len(hits):
                continue
            if number not in renumber:
                renumber[number] = len(renumber) + 1
                citations.append(Citation.from_hit(renumber[number], hits[number - 1]))
            if renumber[number] not in kept:
                kept.append(renumber[number])
        return (" " + "".join(f"[{n}]" for n in kept)) if kept else ""

    text = _MARKER_RUN.sub(replace, raw.strip())
    return text.strip(), citations


def _expand(run: str) -> list[int]:
    """``"[1, 3-4][6]"`` -> ``[1, 3, 4, 6]`` (ranges capped at 20 numbers)."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;\]]\s*", run.replace("[", "")):
        bounds = [int(n) for n in _NUMBERS.findall(part)]
        if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < 20:
            numbers += list(range(bounds[0], bounds[1] + 1))
        else:
            numbers += bounds
    return numbers


def _abstain(question: str, hits: list[Hit], task: Task, timings: dict[str, float], reason: str) -> Answer:
    lines = ["There is not enough evidence in the knowledge base to answer this question reliably."]
    if hits:
        lines.append("Closest sources:")
        lines += [f"- {h.title or h.source} ({h.section or 'text'}; score {h.evidence_score:.2f})" for h in hits[:3]]
    return Answer(
        question=question,
        text="\n".join(lines),
        citations=[],
        task=task,
        abstained=True,
        reason=reason,
        evidence=hits,
        timings=timings,
    )
