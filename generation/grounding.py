"""Grounding checks after generation: small models forget markers, cite nothing, or add facts.

Each sentence of a generated answer must rest on a passage that was given to the generator:

- a sentence with a valid marker ``[n]`` is kept as written;
- a sentence without one is attributed to the passage that contains most of its content words, if one holds at
  least ``min_support`` of them, and dropped otherwise (with a warning) - an unsupported claim is never shown;
- when nothing usable is left (the model wrote only markers, or only unsupported text), the answer falls back to
  the passage sentences that share the most words with the question, each cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.core.protocols import Embedder
from kb.core.settings import QUOTE_SPANS  # what a quotation spans: the best sentences, or a paragraph
from kb.core.types import Hit

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")

#: The most sentences a ``paragraph`` quotation holds.
PARAGRAPH_SENTENCES = 5
_LEADING_MARKERS = re.compile(r"^((?:\[\d+(?:\s*[,;\u2013-]\s*\d+)*\]\s*)+)")
_MARKER = re.compile(r"\[(\d+)")
_WORD = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*|[\u4e00-\u9fff]", re.I)
_STOP = frozenset(
    "a an and are as at be by can de for from has have in is it its may of on or should that the their there these "
    "this to was were which with what when who how does do not no than then also".split()
)
_REFUSAL = re.compile(
    r"insufficient evidence|(passages?|context|information|text)\s+(do|does)\s+not\s+(contain|provide|mention|"
    r"include|answer)|no passage (contains|answers|mentions)|cannot be answered|not enough information"
    r"|资料中?(没有|未)(包含|提供|提及)?(答案|相关信息)|资料(不足|无法回答)|无法根据资料回答",
    re.I,
)


@dataclass
class Grounded:
    """Answer text whose every sentence carries a marker into the given passages."""

    text: str
    warnings: list[str] = field(default_factory=list)
    extractive: bool = False


def is_refusal(text: str) -> bool:
    """Whether the generator said that the passages do not answer the question."""
    return bool(_REFUSAL.search(text))


def without_refusals(text: str) -> str:
    """``text`` without its sentences that say the passages do not answer (a model often adds one after answering
    what it could); empty when nothing else is said."""
    kept = [s for s in split_sentences(text) if not is_refusal(s)]
    return " ".join(kept) if any(content_words(re.sub(r"\[[\d,\s-]+\]", "", s)) for s in kept) else ""


#: How a small model opens a sentence about its sources instead of stating the fact: "The passage states that",
#: "According to passage [2],", "Passage 1 mentions that".
_LEAD_IN = re.compile(
    r"^(?:(?:according to|as (?:stated|described|noted) in) (?:the )?(?:passages?|sources?|text)(?: \[?\d+\]?)?,?\s+"
    r"|(?:the )?(?:passages?|sources?|text)(?: \[?\d+\]?)? (?:states?|says?|notes?|mentions?|indicates?|explains?"
    r"|suggests?|reports?)(?: that)?,?\s+)",
    re.I,
)


def without_lead_ins(text: str) -> str:
    """``text`` with each sentence's opening about its source ("The passage states that ...", "According to the
    passages, ...") removed and the rest capitalised: the citation marker already says where a fact comes from."""
    sentences = split_sentences(text)
    out = []
    for sentence in sentences:
        rest = _LEAD_IN.sub("", sentence, count=1)
        out.append(rest[:1].upper() + rest[1:] if rest != sentence and rest else sentence)
    return " ".join(out) if out != sentences else text


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stop words, cut to 6 characters so that inflections meet
    (``diagnosed`` / ``diagnosis``, ``contraindicated`` / ``contraindications``)."""
    return {w[:6] for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in _STOP}


def split_sentences(text: str) -> list[str]:
    """Sentences, with markers written after a full stop (``... disease. [2]``) kept on their sentence."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        lead = _LEADING_MARKERS.match(piece)
        if lead and sentences:
            sentences[-1] += " " + lead.group(1).strip()
            piece = piece[lead.end() :]
        if piece.strip():
            sentences.append(piece.strip())
    return sentences


def ground(raw: str, hits: list[Hit], question: str, *, min_support: float = 0.6, extract: bool = True) -> Grounded:
    """Keep, attribute or drop each sentence of ``raw`` (see the module docstring); ``extract=False`` returns an
    empty text instead of falling back to the passage sentences (for a caller with its own fallback)."""
    text = _strip_copied_headers(raw, hits)
    passages = [content_words(h.text) for h in hits]
    kept: list[str] = []
    warnings: list[str] = []
    for sentence in split_sentences(text):
        words = content_words(_MARKER.sub("", sentence).replace("]", ""))
        valid = [int(n) for n in _MARKER.findall(sentence) if 1 <= int(n) <= len(hits)]
        if not words:
            continue  # markers alone carry no claim
        if valid:
            kept.append(sentence)
            continue
        support = [len(words & p) / len(words) for p in passages]
        best = max(range(len(hits)), key=support.__getitem__) if hits else -1
        if best >= 0 and support[best] >= min_support:
            kept.append(_cite(sentence, best + 1))
        else:
            warnings.append(f"dropped a sentence no passage supports: {sentence[:120]!r}")
    if kept or not extract:
        return Grounded(" ".join(kept), warnings)
    extracted = extract_answer(question, hits)
    if not extracted:
        return Grounded("", warnings)
    warnings.append("the generator gave no supported text; the answer quotes the best-matching passage sentences")
    return Grounded(extracted, warnings, extractive=True)


def extract_answer(
    question: str,
    hits: list[Hit],
    *,
    sentences: int = 3,
    embedder: Embedder | None = None,
    span: str = "sentences",
) -> str:
    """The sentences that best match ``question`` in those of the first three passages that hold the most of its
    words (title included: "How is type 2 diabetes diagnosed?" quotes the passages on diagnosis, not those on
    treatment), cited; empty when none shares a word with it. With an ``embedder`` they are ranked by cosine to the
    question, and one more than 0.15 under the best is left out; without one, by the number of words they share
    with it. ``span="paragraph"`` quotes instead the run of the best sentence's paragraph around it, up to
    `PARAGRAPH_SENTENCES` sentences: the criteria a passage lists one per sentence come together."""
    if span not in QUOTE_SPANS:
        raise ValueError(f"quote span {span!r}: expected one of {', '.join(QUOTE_SPANS)}")
    asked = content_words(question)
    coverage = [len(asked & content_words(f"{hit.title} {hit.text}")) for hit in hits[:3]]
    candidates = []
    for number, hit in enumerate(hits[:3], start=1):
        if coverage[number - 1] < max(coverage):
            continue
        for order, sentence in enumerate(split_sentences(hit.text)):
            shared = len(asked & content_words(sentence))
            if shared:
                candidates.append((float(shared), number, order, sentence))
    if candidates and embedder is not None:
        vectors = embedder.embed_documents([question] + [c[3] for c in candidates])
        cosines = vectors[1:] @ vectors[0]
        top = float(cosines.max())
        candidates = [
            (float(cosine), *rest)
            for cosine, (_, *rest) in zip(cosines, candidates, strict=True)
            if cosine >= top - 0.15
        ]
    best = sorted(candidates, key=lambda c: (-c[0], c[1], c[2]))[:sentences]
    if span == "paragraph" and best:
        return _paragraph_around(hits[best[0][1] - 1].text, best[0][3], best[0][1])
    best.sort(key=lambda c: (c[1], c[2]))
    cited: dict[str, list[int]] = {}  # the same sentence in several passages is quoted once, citing each
    for _, number, _, sentence in best:
        cited.setdefault(sentence, []).append(number)
    return " ".join(_cite(sentence, *numbers) for sentence, numbers in cited.items())


def _paragraph_around(text: str, sentence: str, number: int) -> str:
    """Up to `PARAGRAPH_SENTENCES` sentences of the paragraph of ``text`` that holds ``sentence``, from the one
    before it on, each cited to passage ``number``."""
    found = text.find(sentence)
    if found < 0:
        return _cite(sentence, number)
    end = found + len(sentence)  # a sentence after a heading starts in the heading's paragraph: go by its end
    starts = [0, *(m.end() for m in _PARAGRAPH_BREAK.finditer(text))]
    paragraph_start = max(start for start in starts if start < end)
    paragraph = _PARAGRAPH_BREAK.split(text[paragraph_start:], maxsplit=1)[0]
    run = split_sentences(paragraph)
    at = next((i for i, s in enumerate(run) if s in sentence or sentence in s), 0)
    first = max(0, min(at - 1, len(run) - PARAGRAPH_SENTENCES))
    return " ".join(_cite(s, number) for s in run[first : first + PARAGRAPH_SENTENCES])


def _cite(sentence: str, *numbers: int) -> str:
    end = sentence[-1] if sentence[-1] in ".!?。！？" else ""
    body = sentence[:-1] if end else sentence
    return f"{body.rstrip()} {''.join(f'[{n}]' for n in numbers)}{end or '.'}"


def _strip_copied_headers(text: str, hits: list[Hit]) -> str:
    """Remove passage headings (``Title - Section``) that a model copied into its answer."""
    for hit in hits:
        for head in (" - ".join(p for p in (hit.title, hit.section) if p), hit.title):
            if head and len(head) > 12:
                text = text.replace(head, " ")
    return text
