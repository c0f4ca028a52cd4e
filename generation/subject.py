"""What a question is about, and which passages are about it: only those are given to the generator, quoted or cited.

A passage is about the question's subject when its document says so in its own description, its *header*: the
title (MedQuAD's focus), MeSH headings, a label's product and generic names. Words of the passage's text do not
count, since a passage that mentions a disease in passing is not about it. Each header phrase is scored by the share
of its distinctive words (`subject_terms.GENERIC` left out) that the question names, at least `MIN_SHARE` when the
question names its first word: "How is high blood pressure diagnosed?" names all of ``High Blood Pressure`` and three
quarters of ``High Blood Pressure and Kidney Disease``. A phrase that names another kind of what the question names
scores 0: ``Diabetes mellitus type 1`` for a question on type 2 diabetes, ``Hepatitis B`` for one on hepatitis A.
A hit's score is its best phrase's; the hits scoring at least `MIN_SHARE` are kept, those in the question's
language first, then the best.

A Chinese question (or title) is read through `subject_terms.CHINESE_TERMS` into the English words titles use. A
drug that the question names and that neither the knowledge base's labels nor any retrieved passage mention, or a
Chinese drug name the table cannot put in English, means the subject is not there: nothing is kept, and medkb
abstains rather than answer from another drug.

Example::

    found = on_subject("How is hepatitis B diagnosed?", hits)
    found.hits  # the hits about hepatitis B, best first; found.reason says why none when empty
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from generation.safety import CHINESE_NAMES, find_drugs
from generation.subject_terms import CHINESE_TERMS, GENERIC, PHRASES, QUALIFIED, SPELLINGS
from kb.core.lexical import is_chinese
from kb.core.types import Hit

#: The share of a header phrase's words that the question must name when no phrase is named whole.
MIN_SHARE = 0.5

#: Metadata keys whose values describe what a document is about.
HEADER_KEYS = ("focus", "mesh", "products", "generic_names", "active_moieties")

_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")
_MESH_QUALIFIER = re.compile(r"/.*$")
# Drug-name endings (INN stems) for names no table knows: nirmatrelvir, semaglutide, empagliflozin.
_DRUG_STEM = re.compile(
    r"\b[a-z]{3,}(?:vir|(?<!pep)(?<!nucleo)tide|gliflozin|gliptin|mab|nib|pril|sartan|olol|dipine|statin|floxacin"
    r"|cycline|cillin|mycin|azole|xaban|gatran|parin|profen|oxetine|triptan|formin)\b"
)
# Common endings of Chinese drug names (列净 gliflozins, 鲁肽 glutides, 拉韦/韦 -virs, 他汀 statins, 沙坦 sartans, ...).
_CHINESE_DRUG = re.compile(
    r"[\u4e00-\u9fff]{1,4}?(?:列净|格列汀|鲁肽|拉韦|韦|他汀|沙坦|普利|洛尔|地平|昔布|单抗|替尼|霉素|沙星|西林|唑仑|西泮|帕明|噻嗪|沙班)"
)
# "allergic to penicillin", "penicillin allergy": a drug named as the patient's allergy is not what is asked about.
_ALLERGIES = (re.compile(r"\ballerg\w*\s+(?:to\s+)?(\w+)", re.I), re.compile(r"\b(\w+)\s+allerg", re.I))
_CJK = re.compile(r"[\u4e00-\u9fff]")
_CHINESE_VOCABULARY = {**CHINESE_NAMES, **CHINESE_TERMS}


@dataclass
class Subject:
    """The hits about the question's subject, best first, each hit's subject score, and why none when empty."""

    hits: list[Hit]
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""


def words(text: str) -> list[str]:
    """Lower-cased words with spellings unified and plurals folded; a single letter or digit after a word such as
    ``type`` or ``hepatitis`` is joined to it (``type-2``, ``hepatitis-a``)."""
    text = text.lower()
    for phrase, replacement in PHRASES.items():
        text = text.replace(phrase, replacement)
    out: list[str] = []
    for raw in _WORD.findall(text):
        word = SPELLINGS.get(raw, raw).replace("’", "'").removesuffix("'s")
        if len(word) == 1 or (word.isdigit() and len(word) <= 2):
            if out and out[-1] in QUALIFIED:
                out[-1] = f"{out[-1]}-{word}"
                continue
        out.append(_singular(word))
    return out


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "is", "us", "as")):
        return word[:-1]
    return word


def question_words(question: str) -> set[str]:
    """The words of ``question`` that may name a subject; a Chinese question's are the English words of the
    medical terms it holds."""
    if is_chinese(question):
        english = " ".join(e for _, e in _chinese_terms(question))
        latin = " ".join(re.findall(r"[A-Za-z][A-Za-z0-9-]+", question))
        return {w for w in words(f"{english} {latin}") if w not in GENERIC}
    return {w for w in words(question) if w not in GENERIC}


def _chinese_terms(text: str) -> list[tuple[str, str]]:
    """The (Chinese, English) terms found in ``text``, longest first, each place of the text used once."""
    found: list[tuple[str, str]] = []
    taken = [False] * len(text)
    for term in sorted(_CHINESE_VOCABULARY, key=len, reverse=True):
        start = text.find(term)
        while start >= 0:
            end = start + len(term)
            if not any(taken[start:end]):
                found.append((term, _CHINESE_VOCABULARY[term]))
                taken[start:end] = [True] * len(term)
            start = text.find(term, end)
    return found


def header_phrases(hit: Hit) -> list[list[str]]:
    """The distinctive words of each phrase that says what ``hit``'s document is about (see the module docstring);
    the passage's first sentence stands in for a document with no title and no such metadata."""
    phrases: list[str] = [hit.title] if hit.title else []
    for key in HEADER_KEYS:
        value = hit.metadata.get(key)
        values: Iterable[object] = value if isinstance(value, list) else [value] if value else []
        phrases += [_MESH_QUALIFIER.sub("", str(v)) for v in values]
    if not phrases:
        phrases = [re.split(r"(?<=[.!?])\s", hit.text.strip(), maxsplit=1)[0][:200]]
    out = []
    for phrase in phrases:
        if _CJK.search(phrase):  # a Chinese title is read through the same table as a Chinese question
            phrase = " ".join([e for _, e in _chinese_terms(phrase)] + re.findall(r"[A-Za-z][A-Za-z0-9-]+", phrase))
        distinct = [w for w in dict.fromkeys(words(phrase)) if w not in GENERIC]
        if distinct:
            out.append(distinct)
    return out


def subject_score(hit: Hit, asked: set[str]) -> float:
    """The largest share of a header phrase's words that ``asked`` (the question's words) holds; 0 for a phrase that
    names another kind of what the question names (``type-1`` against ``type-2``, ``hepatitis-a`` against
    ``hepatitis-b``)."""
    return max((_share(p, asked) for p in header_phrases(hit)), default=0.0)


def _share(phrase: list[str], asked: set[str]) -> float:
    """The share of ``phrase``'s words in ``asked``, at least `MIN_SHARE` when ``asked`` names its first word (the
    head of "Amoxicillin in penicillin allergy"); 0 when a word names another kind than ``asked`` does."""
    kinds = {w.split("-")[0]: w for w in asked if _is_qualified(w)}
    if any(_is_qualified(w) and kinds.get(w.split("-")[0], w) != w for w in phrase):
        return 0.0
    share = len(set(phrase) & asked) / len(set(phrase))
    return max(share, MIN_SHARE) if len(phrase[0]) >= 4 and phrase[0] in asked else share


def other_kinds(question: str, sentence: str) -> list[str]:
    """The kinds ``sentence`` names that differ from those ``question`` names (``type-1`` in an answer about type 2
    diabetes): such a sentence is about something else, however well its passage states it."""
    asked = {w.split("-")[0]: w for w in question_words(question) if _is_qualified(w)}
    said = [w for w in dict.fromkeys(question_words(sentence)) if _is_qualified(w)]
    return [w for w in said if asked.get(w.split("-")[0], w) != w]


def _is_qualified(word: str) -> bool:
    head, _, tail = word.partition("-")
    return head in QUALIFIED and bool(tail)


def named_drugs(question: str, known: Iterable[str] = ()) -> list[str]:
    """The drugs ``question`` names (English words), by the class table, ``known`` label names and INN stems; a
    Chinese question's through its Chinese drug names."""
    if is_chinese(question):
        english = " ".join(e for c, e in _chinese_terms(question) if c in CHINESE_NAMES or _DRUG_STEM.search(e))
        text = english + " " + " ".join(re.findall(r"[A-Za-z][A-Za-z0-9-]+", question))
    else:
        text = question
    names = [n for n in find_drugs(text, known) if not is_chinese(n)]
    names += _DRUG_STEM.findall(text.lower())
    allergies = {m.group(1).lower() for pattern in _ALLERGIES for m in pattern.finditer(text)}
    return [n for n in dict.fromkeys(n.lower() for n in names) if not any(n in a for a in allergies)]


def on_subject(question: str, hits: Sequence[Hit], known_drugs: Iterable[str] = ()) -> Subject:
    """The hits of ``hits`` about ``question``'s subject (see the module docstring): those scoring at least
    `MIN_SHARE`, those in the question's language first, then the best scores, in retrieval order among equals.
    None when the question names a drug that neither the knowledge base's labels (``known_drugs``) nor any hit
    mentions, or a Chinese drug name that `subject_terms.CHINESE_TERMS` cannot put in English (so nothing can be
    matched to it)."""
    asked = question_words(question)
    scores = {hit.chunk_id: subject_score(hit, asked) for hit in hits}
    known = {name.lower() for name in known_drugs}
    held = set(
        words(" ".join(f"{h.title} {' '.join(map(str, h.metadata.get('generic_names', [])))} {h.text}" for h in hits))
    )
    missing = [d for d in named_drugs(question, known) if d not in known and not set(words(d)) <= held]
    missing += unknown_chinese_drugs(question)
    if missing:
        return Subject([], scores, f"nothing retrieved is about {', '.join(missing)}")
    chinese = is_chinese(question)
    kept = sorted(  # passages in the question's language first (a quotation is read as written), then the best
        (hit for hit in hits if scores[hit.chunk_id] >= MIN_SHARE),
        key=lambda h: (is_chinese(h.text) != chinese, -scores[h.chunk_id]),
    )
    if not kept:
        return Subject([], scores, "no retrieved passage is about the question's subject")
    return Subject(kept, scores)


def unknown_chinese_drugs(question: str) -> list[str]:
    """Chinese words of ``question`` shaped like a drug name (by common endings) that no table puts in English."""
    if not is_chinese(question):
        return []
    covered = [term for term, _ in _chinese_terms(question)]
    found = [m.group(0) for m in _CHINESE_DRUG.finditer(question)]
    return [name for name in found if not any(name in term or term in name for term in covered)]
