"""medkb answers in OpenAI's chat completion format, with the evidence in an extra top-level field ``medkb``.

The assistant message's ``content`` is what any chat client shows: drug warnings first, the verified answer with
its ``[n]`` markers, then a short sources list (or, for an abstention, the closest sources). Everything a client
needs to show the evidence travels in ``medkb`` (`medkb_field`): the answer as ``medkb ask --json`` gives it
(citations with chunk id, document id, title, PMID / DOI / URL, section, character span and quote; the sentences
with their support; drug warnings; abstention and reason; task) plus the question searched
(``standalone_question``) when a follow-up was rewritten.

A stream sends, in order: one chunk with the assistant role; chunks whose ``medkb.draft`` holds the model's draft
as it is written (not yet verified; no ``content``, so plain clients show nothing of it); chunks whose ``content``
is the verified message; and a last chunk with ``finish_reason: "stop"`` and the full ``medkb`` field.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from generation.verify import SUPPORT_THRESHOLD
from kb.core.types import Answer

#: The model id the service reports: one knowledge base behind one generator.
MODEL_ID = "medkb"

#: A kept sentence whose support is below this was kept weakly (within 0.15 of the verifier's threshold); the page
#: marks it.
WEAK_SUPPORT = round(SUPPORT_THRESHOLD + 0.15, 2)

_HEADINGS = {
    "en": {"warnings": "Drug warnings:", "sources": "Sources:", "closest": "Closest sources (not enough to answer):"},
    "zh": {"warnings": "药物警示：", "sources": "来源：", "closest": "最接近的来源（不足以回答）："},
}


def assistant_content(answer: Answer) -> str:
    """The answer as one chat message: warnings, the answer with its markers, and the sources list."""
    headings = _HEADINGS["zh" if answer.language == "zh" else "en"]
    lines: list[str] = []
    if answer.drug_warnings:
        lines.append(headings["warnings"])
        lines += [f"- {w.message}" for w in answer.drug_warnings]
        lines.append("")
    lines.append(answer.text)
    if answer.citations:
        lines += ["", headings["sources"]]
        lines += [
            f"[{c.marker}] {source_line(c.title, c.pmid, c.doi, c.url, c.section, c.start, c.end)}"
            for c in answer.citations
        ]
    elif answer.abstained and answer.evidence:
        lines += ["", headings["closest"]]
        for hit in answer.evidence[:3]:
            line = source_line(
                hit.title or hit.source,
                hit.identifier("pmid"),
                hit.identifier("doi"),
                hit.identifier("url"),
                hit.section,
                hit.start,
                hit.end,
            )
            lines.append(f"- {line}")
    return "\n".join(lines)


def source_line(
    title: str, pmid: str | None, doi: str | None, url: str | None, section: str, start: int, end: int
) -> str:
    """``Title (PMID 123) - Section, chars 10-200``: one source as a reader cites it."""
    ids = ", ".join(f"{name} {value}" for name, value in (("PMID", pmid), ("DOI", doi), ("URL", url)) if value)
    return f"{title}" + (f" ({ids})" if ids else "") + f" - {section or 'text'}, chars {start}-{end}"


def medkb_field(answer: Answer, standalone_question: str | None = None) -> dict[str, Any]:
    """The extra field: the answer's JSON (``medkb ask --json``) and the question searched, if rewritten."""
    return {**answer.to_dict(), "standalone_question": standalone_question, "weak_support_below": WEAK_SUPPORT}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion(answer: Answer, standalone_question: str | None, *, model: str, cid: str) -> dict[str, Any]:
    """A ``chat.completion`` object for a finished answer."""
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": assistant_content(answer)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "medkb": medkb_field(answer, standalone_question),
    }


def chunk(
    cid: str,
    model: str,
    delta: dict[str, str],
    *,
    finish_reason: str | None = None,
    medkb: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``chat.completion.chunk`` of a stream."""
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if medkb is not None:
        out["medkb"] = medkb
    return out


def content_pieces(text: str, size: int = 80) -> list[str]:
    """The verified message cut into stream pieces at spaces near ``size`` characters."""
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind(" ", size // 2, size) + 1 or size
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text] if text else pieces
