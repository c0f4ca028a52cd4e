"""Verified citations: after generation, check that each cited passage supports the sentence that cites it.

A (sentence, passage) pair is judged on three kinds of evidence, entailment-style:

- lexical: the share of the sentence's content words (``grounding.content_words``, numbers left out) that occur in
  the passage;
- numeric: every number in the sentence, with its unit when it has one, occurs in the passage (``1,000 mg`` =
  ``1000 mg`` = ``1 g``; ranges and lists such as ``2-3 days`` or ``500 or 850 mg`` give each number the unit);
- similarity: the cosine of the two texts' vectors from an :class:`~kb.core.protocols.Embedder`.

A negation mismatch (``not recommended`` against ``recommended``) lowers the score and vetoes support. So does a
term of the question that the sentence repeats but the passage lacks (``Diabetes is diagnosed with lifestyle measures
[1]`` citing a passage about treatment): the model has joined the question to a passage that does not address it.
A sentence is supported when at least one of the passages it cites supports it; the others lose their markers,
and sentences that no cited passage supports are removed by :func:`apply`.

Example::

    checks = verify_answer(text, hits, embedder=kb.embedder, cross_embedder=kb.cross_embedder)
    text, removed = apply(checks)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence, Set
from dataclasses import dataclass, field, replace

from generation.grounding import content_words, split_sentences
from kb.core.errors import MedkbError
from kb.core.protocols import Embedder
from kb.core.types import Hit

log = logging.getLogger(__name__)

# Provisional values, chosen by reasoning rather than measurement: they must be calibrated on development data
# (pairs labelled supported / unsupported) before anyone relies on them.

#: ``score`` a pair needs (with numbers in agreement and no negation conflict) to count as supported.
SUPPORT_THRESHOLD = 0.5
#: Weight of the lexical share in ``score`` when a similarity is known for a same-language pair; the similarity
#: gets the rest. Cross-language pairs use the similarity alone, since shared words mean nothing across scripts.
LEXICAL_WEIGHT = 0.5
#: Cosines at or below ``SIMILARITY_FLOOR`` count as no support and at or above ``SIMILARITY_CEILING`` as full
#: support; in between they are scaled linearly. Raw cosines of a sentence against a whole chunk run low.
SIMILARITY_FLOOR = 0.2
SIMILARITY_CEILING = 0.7
#: Factor applied to ``score`` when the sentence and the passage clause it matches disagree on negation.
NEGATION_PENALTY = 0.5
#: Share of a sentence clause's content words that a passage clause must hold before their polarities are compared.
NEGATION_MIN_OVERLAP = 0.5


@dataclass
class SupportScore:
    """How well one passage supports one sentence (see the module docstring and :func:`support`)."""

    lexical: float
    numeric_ok: bool
    missing_numbers: list[str]
    similarity: float | None
    negation_conflict: bool
    score: float
    supported: bool
    missing_terms: list[str] = field(default_factory=list)
    #: The generator's probability that the passage states the sentence, when that check ran
    #: (`generation.entailment`).
    entailment: float | None = None


@dataclass
class SentenceCheck:
    """One sentence of an answer, the passages it cites (numbers into ``hits``, from 1) and how each supports it.

    ``exempt`` sentences state nothing (no content words) and are kept without checking.
    """

    text: str
    cited: list[int]
    scores: dict[int, SupportScore] = field(default_factory=dict)
    supported: bool = False
    best: float = 0.0
    exempt: bool = False

    @property
    def supporting(self) -> list[int]:
        """The cited passages that support the sentence, in citation order."""
        return [n for n in self.cited if n in self.scores and self.scores[n].supported]


def support(
    sentence: str,
    passage_text: str,
    *,
    embedder: Embedder | None = None,
    cross_embedder: Embedder | None = None,
    threshold: float = SUPPORT_THRESHOLD,
    question: str = "",
) -> SupportScore:
    """How well ``passage_text`` supports ``sentence`` (its markers are ignored).

    ``score`` is ``LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * scaled similarity`` for a same-language pair,
    the scaled similarity alone for a Chinese/English pair, and ``lexical`` alone when no embedder applies; it is
    multiplied by ``NEGATION_PENALTY`` on a negation conflict. ``supported`` needs ``numeric_ok``, no negation
    conflict, no ``missing_terms`` (words of ``question`` that the sentence repeats and the passage lacks; same-language
    pairs only) and ``score >= threshold``. Pairs involving Chinese are embedded with ``cross_embedder`` (falling back
    to ``embedder``), English pairs with ``embedder`` (falling back to ``cross_embedder``).

    >>> support("Start at 500 mg daily [1].", "Start at 850 mg once daily.").missing_numbers
    ['500 mg']
    """
    _check_threshold(threshold)
    claim = strip_markers(sentence)
    similarity = _similarities([claim], [passage_text], [(0, 0)], embedder, cross_embedder).get((0, 0))
    return _score(claim, passage_text, similarity, threshold, _terms(question))


def verify_answer(
    text: str,
    hits: Sequence[Hit],
    *,
    embedder: Embedder | None = None,
    cross_embedder: Embedder | None = None,
    threshold: float = SUPPORT_THRESHOLD,
    question: str = "",
) -> list[SentenceCheck]:
    """Check every (sentence, cited passage) pair of ``text``, whose markers ``[n]`` number ``hits`` from 1, for the
    ``question`` it answers (see :func:`support`).

    Markers outside ``hits`` are ignored; a sentence with content but no valid marker is unsupported. Each embedder
    embeds, in one batch each, the sentences and the cited passages it is used for.
    """
    _check_threshold(threshold)
    checks: list[SentenceCheck] = []
    claims: list[str] = []
    pairs: list[tuple[int, int]] = []  # (index into claims, hit number)
    check_of_claim: list[SentenceCheck] = []
    for sentence in split_sentences(text):
        claim = strip_markers(sentence)
        numbers = [n for n in dict.fromkeys(cited_numbers(sentence)) if 1 <= n <= len(hits)]
        check = SentenceCheck(text=sentence, cited=numbers)
        checks.append(check)
        if not content_words(claim):
            check.exempt = check.supported = True
            continue
        claims.append(claim)
        check_of_claim.append(check)
        pairs += [(len(claims) - 1, n) for n in numbers]
    passages = [hit.text for hit in hits]
    similarities = _similarities(claims, passages, [(i, n - 1) for i, n in pairs], embedder, cross_embedder)
    asked = _terms(question)
    for i, number in pairs:
        result = _score(claims[i], passages[number - 1], similarities.get((i, number - 1)), threshold, asked)
        check_of_claim[i].scores[number] = result
    for check in check_of_claim:
        check.best = max((s.score for s in check.scores.values()), default=0.0)
        check.supported = bool(check.supporting)
        log.debug("sentence %r: cited %s, supported by %s", check.text[:80], check.cited, check.supporting)
    return checks


def apply(checks: Sequence[SentenceCheck]) -> tuple[str, list[SentenceCheck]]:
    """The answer rebuilt from the supported sentences, each keeping only its supporting markers, and the removed
    (unsupported) sentences. Markers keep the numbering of the ``hits`` that were checked."""
    kept: list[str] = []
    removed: list[SentenceCheck] = []
    for check in checks:
        if check.exempt:
            sentence = strip_markers(check.text)
        elif check.supported:
            sentence = _keep_markers(check.text, set(check.supporting))
        else:
            removed.append(check)
            continue
        if sentence:
            kept.append(sentence)
    if removed:
        log.info("removed %d sentence(s) that no cited passage supports", len(removed))
    text = ""
    for sentence in kept:
        text += sentence if not text or text[-1] in "。！？" else " " + sentence
    return text, removed


# --- markers ---------------------------------------------------------------------------------------------------

_GROUP = r"\[\d+(?:\s*[,;\u2013-]\s*\d+)*\]"
#: A run of adjacent marker groups such as ``[1][3]`` or ``[2, 4-5]``, with the space before it.
MARKER_RUN = re.compile(rf"\s*{_GROUP}(?:\s*{_GROUP})*")
_DIGITS = re.compile(r"\d+")


def cited_numbers(sentence: str) -> list[int]:
    """The passage numbers that the markers of ``sentence`` cite, in order: ``"a [1][3]. b [2, 4-5]"`` ->
    ``[1, 3, 2, 4, 5]`` (ranges capped at 20 numbers)."""
    numbers: list[int] = []
    for run in MARKER_RUN.finditer(sentence):
        numbers += marker_numbers(run.group(0))
    return numbers


def strip_markers(sentence: str) -> str:
    """``sentence`` without its citation markers."""
    return MARKER_RUN.sub("", sentence).strip()


def marker_numbers(run: str) -> list[int]:
    """``"[1, 3-4][6]"`` -> ``[1, 3, 4, 6]`` (ranges capped at 20 numbers)."""
    numbers: list[int] = []
    for part in re.split(r"\s*[,;\]]\s*", run.replace("[", "")):
        bounds = [int(n) for n in _DIGITS.findall(part)]
        if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < 20:
            numbers += list(range(bounds[0], bounds[1] + 1))
        else:
            numbers += bounds
    return numbers


def _keep_markers(sentence: str, keep: set[int]) -> str:
    def replace(match: re.Match[str]) -> str:
        numbers = [n for n in dict.fromkeys(marker_numbers(match.group(0))) if n in keep]
        return (" " + "".join(f"[{n}]" for n in numbers)) if numbers else ""

    return MARKER_RUN.sub(replace, sentence).strip()


# --- scoring ---------------------------------------------------------------------------------------------------

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_NUMERIC_TOKEN = re.compile(r"[\d.,]+")


def _is_chinese(text: str) -> bool:
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk >= len(_LATIN_WORD.findall(text))


def _terms(text: str) -> set[str]:
    """The content words of ``text`` without numbers."""
    return {w for w in content_words(text) if not _NUMERIC_TOKEN.fullmatch(w)}


def _score(
    claim: str, passage: str, similarity: float | None, threshold: float, asked: Set[str] = frozenset()
) -> SupportScore:
    words = _terms(claim)
    held = content_words(passage)
    lexical = len(words & held) / len(words) if words else 1.0
    cross_lingual = _is_chinese(claim) != _is_chinese(passage)
    off_topic = [] if cross_lingual else sorted((words & asked) - held)
    missing = missing_numbers(claim, passage)
    if similarity is None:
        score = lexical
    else:
        scaled = min(max((similarity - SIMILARITY_FLOOR) / (SIMILARITY_CEILING - SIMILARITY_FLOOR), 0.0), 1.0)
        score = scaled if cross_lingual else LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * scaled
    conflict = not cross_lingual and _negation_conflict(claim, passage)
    if conflict:
        score *= NEGATION_PENALTY
    return SupportScore(
        lexical=round(lexical, 4),
        numeric_ok=not missing,
        missing_numbers=missing,
        similarity=None if similarity is None else round(similarity, 4),
        negation_conflict=conflict,
        score=round(score, 4),
        supported=not missing and not conflict and not off_topic and score >= threshold,
        missing_terms=off_topic,
    )


def _similarities(
    claims: Sequence[str],
    passages: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    embedder: Embedder | None,
    cross_embedder: Embedder | None,
) -> dict[tuple[int, int], float]:
    """Cosine of each (claim index, passage index) pair; each embedder embeds its distinct claims in one batch and
    its distinct passages in another."""
    plan: dict[int, tuple[Embedder, list[tuple[int, int]]]] = {}
    for i, j in pairs:
        chinese = _is_chinese(claims[i]) or _is_chinese(passages[j])
        chosen = (cross_embedder or embedder) if chinese else (embedder or cross_embedder)
        if chosen is not None:
            plan.setdefault(id(chosen), (chosen, []))[1].append((i, j))
    out: dict[tuple[int, int], float] = {}
    for chosen, chosen_pairs in plan.values():
        rows = {text: r for r, text in enumerate(dict.fromkeys(claims[i] for i, _ in chosen_pairs))}
        cols = {text: c for c, text in enumerate(dict.fromkeys(passages[j] for _, j in chosen_pairs))}
        claim_vecs = chosen.embed_documents(list(rows))
        passage_vecs = chosen.embed_documents(list(cols))
        for i, j in chosen_pairs:
            out[(i, j)] = float(claim_vecs[rows[claims[i]]] @ passage_vecs[cols[passages[j]]])
    return out


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise MedkbError(f"threshold={threshold!r}: expected a number between 0 and 1")


# --- negation --------------------------------------------------------------------------------------------------

# Cues of negative polarity; an odd count makes a clause negative ("not contraindicated" is positive). Words that
# merely contain a cue character are excluded: 不良 (adverse), 不同, 不适, 无论, 未成年, 非甾体 (NSAID).
_NEGATION = re.compile(
    r"\b(?:not|no|never|neither|nor|without|cannot|none)\b|n't\b|\bcontraindicat\w*|\bavoid\w*"
    r"|不(?!良|同|适)|没有|无(?!论)|未(?!成年)|勿|禁止|禁用|禁忌|避免|非(?!甾)",
    re.I,
)
_IDIOMS = re.compile(r"\bwith or without\b", re.I)
_CLAUSE = re.compile(r"[;:!?。；：！？]|\.(?!\d)|,\s*(?:but|whereas|although|however)\b|，\s*(?:但|而|然而)")
_SENTENCE = re.compile(r"[!?。！？]|\.(?!\d)")
#: A clause of a sentence and the separator after it (as `_CLAUSE` splits them; sentence ends are split off first).
_LIST_ITEM = re.compile(
    r"(?P<clause>.*?)(?P<sep>[;:；：]|,\s*(?:but|whereas|although|however)\b|，\s*(?:但|而|然而)|$)", re.S
)


def _negative(clause: str) -> bool:
    return len(_NEGATION.findall(_IDIOMS.sub(" ", clause))) % 2 == 1


def _passage_clauses(passage: str) -> list[tuple[set[str], set[bool]]]:
    """Each clause of ``passage`` with its content words and the polarities it may be read with: its own, and, for
    an item of a list that a colon introduces ("three contraindications: A; B; and C"), that of the lead-in with
    the item."""
    out: list[tuple[set[str], set[bool]]] = []
    for sentence in _SENTENCE.split(passage):
        lead = ""
        for match in _LIST_ITEM.finditer(sentence):
            clause = match.group("clause")
            if clause.strip():
                polarities = {_negative(clause)} | ({_negative(f"{lead} {clause}")} if lead else set())
                out.append((content_words(clause), polarities))
            if match.group("sep") in (":", "："):
                lead = sentence[: match.end()]
    return out


def _negation_conflict(claim: str, passage: str) -> bool:
    """Whether a clause of ``claim`` disagrees on negation with every passage clause that matches it best."""
    passage_clauses = _passage_clauses(passage)
    for clause in _CLAUSE.split(claim):
        words = content_words(clause)
        if not words or not passage_clauses:
            continue
        overlaps = [len(words & p) / len(words) for p, _ in passage_clauses]
        best = max(overlaps)
        if best < NEGATION_MIN_OVERLAP:
            continue
        polarities = set().union(*(neg for (_, neg), o in zip(passage_clauses, overlaps, strict=True) if o == best))
        if _negative(clause) not in polarities:
            return True
    return False


# --- numbers ---------------------------------------------------------------------------------------------------

#: Unit spellings -> (dimension, factor to the dimension's base unit), so that 0.5 g = 500 mg.
_UNITS: dict[str, tuple[str, float]] = {
    **dict.fromkeys(("kg", "千克", "公斤"), ("mass", 1e6)),
    **dict.fromkeys(("g", "克"), ("mass", 1e3)),
    **dict.fromkeys(("mg", "毫克"), ("mass", 1.0)),
    **dict.fromkeys(("mcg", "µg", "μg", "ug", "微克"), ("mass", 1e-3)),
    **dict.fromkeys(("ng", "纳克"), ("mass", 1e-6)),
    **dict.fromkeys(("l", "升"), ("volume", 1e3)),
    **dict.fromkeys(("dl",), ("volume", 100.0)),
    **dict.fromkeys(("ml", "毫升"), ("volume", 1.0)),
    **dict.fromkeys(("%", "％", "percent", "per cent"), ("percent", 1.0)),
    **dict.fromkeys(("mmhg", "mm hg", "毫米汞柱"), ("pressure", 1.0)),
    **dict.fromkeys(("mmol", "毫摩尔"), ("mmol", 1.0)),
    **dict.fromkeys(("meq",), ("meq", 1.0)),
    **dict.fromkeys(("iu", "u", "unit", "units", "国际单位", "单位"), ("iu", 1.0)),
    **dict.fromkeys(("mm", "毫米"), ("length", 1.0)),
    **dict.fromkeys(("cm", "厘米"), ("length", 10.0)),
    **dict.fromkeys(("min", "mins", "minute", "minutes", "分钟"), ("time", 1.0)),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours", "小时"), ("time", 60.0)),
    **dict.fromkeys(("d", "day", "days", "天"), ("time", 1440.0)),
    **dict.fromkeys(("wk", "wks", "week", "weeks", "周", "星期"), ("time", 10080.0)),
    **dict.fromkeys(("mo", "month", "months", "个月"), ("time", 43200.0)),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years", "年", "岁"), ("time", 525600.0)),
}
#: Dimensions in which a sentence's quantity may match the bare number in the passage ("65 years" / "aged 65").
_LENIENT = frozenset({"time"})
#: Dimensions whose quantities count when written in Chinese numerals; time words such as 一天 are idioms.
_MEASURES = frozenset({"mass", "volume", "percent", "pressure", "mmol", "meq", "iu", "length"})

_CN_DIGITS = "零〇一二两三四五六七八九"
_CN_NUM = rf"[{_CN_DIGITS}十百千万]+(?:点[{_CN_DIGITS}]+)?"
_NUM = r"(?:\d+(?:[,\u2009\u202f]\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_UNIT = "|".join(
    re.escape(u).replace(r"\ ", r"\s?") + ("" if _CJK.search(u) or u in "%％" else r"(?![A-Za-z])")
    for u in sorted(_UNITS, key=len, reverse=True)
)
_RANGE = r"[-\u2013\u2014~～/]|至|到|\sto\s"
_LIST = r",|或|和|\s(?:or|and)\s"


def _quantity_pattern(separators: str) -> re.Pattern[str]:
    """A number, or numbers joined by ``separators``, with an optional unit that applies to all of them; never a
    digit inside a name (HbA1c, COX-2, CYP2C19*2, m2)."""
    sep = rf"\s*(?:{separators})\s*"
    return re.compile(
        rf"(?<![A-Za-z\u0370-\u03ff*_\d])(?<![A-Za-z\u0370-\u03ff]-)(?P<nums>(?:{_NUM})(?:{sep}(?:{_NUM}))*)"
        rf"\s*(?P<unit>{_UNIT})?",
        re.I,
    )


# A sentence's unit spreads over a range only ("2-3 days"); a passage's also over a list ("500 or 850 mg"), since
# reading the passage generously can only confirm more. A bare number in a sentence matches any use of it.
_SENTENCE_QUANTITY = _quantity_pattern(_RANGE)
_PASSAGE_QUANTITY = _quantity_pattern(f"{_RANGE}|{_LIST}")
_CN_QUANTITY = re.compile(rf"(?P<pct>百分之)?(?P<nums>{_CN_NUM})\s*(?P<unit>{_UNIT})?")
_WORD_NUMBERS = re.compile(r"\b(once|twice|thrice|one|two|three|four|five|six|seven|eight|nine|ten)\b", re.I)
_WORD_VALUES = {"once": 1, "one": 1, "twice": 2, "two": 2, "thrice": 3, "three": 3, "four": 4, "five": 5}
_WORD_VALUES |= {"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


@dataclass(frozen=True)
class _Quantity:
    surface: str
    value: float
    dimension: str | None  # None: a bare number
    base: float  # value in the dimension's base unit


def missing_numbers(claim: str, passage: str) -> list[str]:
    """The numbers of ``claim`` (with their units) that ``passage`` does not state, as written in ``claim``."""
    stated = _quantities(passage, passage_side=True)
    bare = {_key(q.value) for q in stated}
    measured = {(q.dimension, _key(q.base)) for q in stated if q.dimension}
    unitless = {_key(q.value) for q in stated if q.dimension is None}
    missing: list[str] = []
    for q in _quantities(claim, passage_side=False):
        if q.dimension is None:
            found = _key(q.value) in bare
        else:
            found = (q.dimension, _key(q.base)) in measured or (q.dimension in _LENIENT and _key(q.value) in unitless)
        if not found and q.surface not in missing:
            missing.append(q.surface)
    return missing


def _key(value: float) -> float:
    return float(f"{value:.9g}")


def _quantities(text: str, *, passage_side: bool) -> list[_Quantity]:
    """Numbers in ``text``; Chinese numerals only before a unit of measure (or after 百分之). The passage side also
    reads number words (twice, three) and every Chinese numeral, so that it can confirm more, never less."""
    found: list[_Quantity] = []
    for match in (_PASSAGE_QUANTITY if passage_side else _SENTENCE_QUANTITY).finditer(text):
        unit = match.group("unit")
        for number in re.findall(_NUM, match.group("nums")):
            found.append(_quantity(number, float(re.sub(r"[,\u2009\u202f]", "", number)), unit))
    for match in _CN_QUANTITY.finditer(text):
        value = _chinese_number(match.group("nums"))
        unit = "%" if match.group("pct") else match.group("unit")
        is_measure = unit is not None and _UNITS[_unit_key(unit)][0] in _MEASURES
        if value is not None and (is_measure or passage_side):
            quantity = _quantity(match.group("nums"), value, unit if is_measure else None)
            found.append(replace(quantity, surface=match.group(0).strip()) if match.group("pct") else quantity)
    if passage_side:
        found += [_quantity(w, _WORD_VALUES[w.lower()], None) for w in _WORD_NUMBERS.findall(text)]
    return found


def _unit_key(unit: str) -> str:
    return re.sub(r"\s+", " ", unit.lower())


def _quantity(number: str, value: float, unit: str | None) -> _Quantity:
    if unit is None:
        return _Quantity(number, value, None, value)
    dimension, factor = _UNITS[_unit_key(unit)]
    glue = "" if unit in "%％" or _CJK.search(unit) else " "
    return _Quantity(f"{number}{glue}{unit}", value, dimension, value * factor)


def _chinese_number(text: str) -> float | None:
    """二十五 -> 25, 一千五百 -> 1500, 零点五 -> 0.5, 三五 -> 35; None for text that is not a number, or one of over
    30 characters (no dose or count is written so, and Python refuses to read integers of over 4,300 digits)."""
    if len(text) > 30:
        return None
    whole, _, fraction = text.partition("点")
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
    scales = {"十": 10, "百": 100, "千": 1000, "万": 10000}
    total = section = 0
    number: int | None = None
    if whole and all(c in digits for c in whole):
        total = int("".join(str(digits[c]) for c in whole))
    else:
        for char in whole:
            if char in digits:
                number = digits[char]
            elif char == "万":
                total = (total + section + (number or 0)) * 10000
                section, number = 0, None
            else:
                section += (1 if number is None else number) * scales[char]
                number = None
        total += section + (number or 0)
    if fraction:
        if not all(c in digits for c in fraction):
            return None
        return total + float("0." + "".join(str(digits[c]) for c in fraction))
    return float(total)
