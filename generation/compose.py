"""Cited, verified answers: prompt the generator with quoted evidence, then keep only what the evidence supports.

1. With ``Checking.subject``, only the passages about the question's subject are kept (`generation.subject`); none
   left, or no passage reaching the evidence threshold: abstain without generating. (With it, too, a question that
   asks for a number is not answered by text that states none: step 6 abstains instead.)
2. Generate with the task's prompt in the question's language (`generation.prompts`; the answer style decides
   whether the model reads whole passages or only their sentences closest to the question, `generation.selection`),
   the patient on one line. Openings about the source ("The passage states that") are removed. A
   sentence saying the passages do not answer is dropped; a draft that says nothing else is an abstention, unless
   the best passage's evidence score reaches ``quote_score``: then the answer quotes, as in step 5.
3. `grounding.ground` cites the uncited sentences that a passage plainly holds and drops the others;
   `verify.verify_answer` and `verify.apply` keep a sentence only when a passage it cites supports it (words, numbers,
   meaning, negation), and with ``Checking.entailment`` only when the generator also agrees that the passage states
   it (`generation.entailment`); a sentence that repeats the prompt or reads as an instruction is dropped whatever it
   cites, and a passage's own instructions support nothing (`generation.injection`).
4. A sentence removed: regenerate once with a stricter instruction and keep the better of the two drafts.
5. Too little left (no sentence, or under half of those generated): quote instead the passage sentences that best
   match the question, from the passages about its subject, each verified (and checked by the generator) and
   cited; when there are none either, abstain.
6. Markers are renumbered in order of first use, so ``[1]`` is always the first citation; the drugs the question or
   the answer names are checked against the patient (`generation.safety`).

Every step draws on one wall-clock budget (``budget_s``, `generation.budget`): a step it leaves no time for is
skipped and the answer says so. Structure and citations are enforced here, in code, so an instruction planted in a
passage changes neither.
Abstentions are written in the question's language and list the closest sources.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from generation.base import Generator, StreamingGenerator, accepts_max_time
from generation.budget import Budget
from generation.decide import Chooser
from generation.entailment import SUPPORT_YES, supports
from generation.grounding import (
    content_words,
    extract_answer,
    ground,
    split_sentences,
    without_lead_ins,
    without_refusals,
)
from generation.injection import echoes, is_instruction, strip_delimiters, without_instructions
from generation.prompts import build_messages, instructions
from generation.safety import check_drugs, find_drugs, lookup_names
from generation.selection import select_sentences
from generation.subject import on_subject, other_kinds
from generation.tasks import asks_for_number, classify_task, question_language, states_number
from generation.verify import (
    MARKER_RUN,
    SentenceCheck,
    apply,
    cited_numbers,
    marker_numbers,
    strip_markers,
    verify_answer,
)
from kb.core.protocols import DrugTable, Embedder
from kb.core.types import Answer, AnswerSentence, Citation, DrugWarning, Hit, Language, PatientContext, Task

log = logging.getLogger(__name__)

#: Why an answer abstains when the generator only says the passages do not answer; a quotation given instead
#: starts its warning with it, followed by ``;``.
REFUSED = "the generator found the passages insufficient"

_FULL_WIDTH_MARKER = re.compile(r"[【［]\s*(\d+)\s*[】］]")
#: How a finished sentence ends: with its punctuation or its marker.
_FINISHED = re.compile(r"(?:[.!?。！？]|\])[\s\"'”’)）]*$")

_ABSTAIN: dict[Language, tuple[str, str]] = {
    "en": ("There is not enough evidence in the knowledge base to answer this question reliably.", "Closest sources:"),
    "zh": ("知识库中没有足够的证据来可靠地回答这个问题。", "最接近的来源："),
}


@dataclass
class Checking:
    """What composition checks the answer with, all optional: the embedders for verification (``cross_embedder``
    for pairs involving Chinese), the drug labels for the safety checks, ``subject`` to keep only the passages
    about the question's subject (`generation.subject`), and ``entailment``, a generator whose probability of "yes"
    must agree that a cited passage states each sentence, quoted ones included (`generation.entailment`)."""

    embedder: Embedder | None = None
    cross_embedder: Embedder | None = None
    drugs: DrugTable | None = None
    subject: bool = False
    entailment: Chooser | None = None


@dataclass(frozen=True)
class _Style:
    """How the answer is written: the prompt's style and what a quotation spans."""

    answer: str = "passages"
    quote_span: str = "sentences"


@dataclass
class _Draft:
    """One answer text after grounding and verification: its supported sentences and what was lost."""

    text: str
    kept: list[SentenceCheck]
    generated: int
    warnings: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return max(self.generated - len(self.kept), 0)


def compose_answer(
    question: str,
    hits: list[Hit],
    generator: Generator,
    *,
    min_score: float,
    quote_score: float = 1.0,
    max_tokens: int = 200,
    task: Task | None = None,
    patient: PatientContext | None = None,
    checking: Checking | None = None,
    on_text: Callable[[str], None] | None = None,
    k: int | None = None,
    budget_s: float | None = None,
    style: str = "passages",
    quote_span: str = "sentences",
) -> Answer:
    """Answer ``question`` from ``hits`` (best first) with verified citations, or abstain saying why (see the
    module docstring). With ``checking.subject``, only the hits about the question's subject are used, the first
    ``k`` of them (all by default); with none, the answer abstains and lists the closest of ``hits``. ``task``
    overrides the classification of the question; ``patient`` goes into the prompt and the drug checks. When the
    generator finds the passages insufficient and the best evidence score is at least ``quote_score`` (1, the
    default, never), the best-matching passage sentences are quoted instead of abstaining.
    ``on_text`` receives the first draft piece by piece while a `StreamingGenerator` writes it
    (unverified: the returned answer is what verification kept). ``budget_s`` bounds the whole answer's wall-clock
    time (`generation.budget`); ``max_tokens`` bounds each generation. ``style`` is the answer style
    (`generation.prompts.STYLES`; ``selected`` shows the model the passages cut by `generation.selection`), and
    ``quote_span`` what a quotation spans (`generation.grounding.QUOTE_SPANS`).

    Example::

        answer = compose_answer(question, hits, generator, min_score=0.3, checking=Checking(embedder=embedder))
    """
    budget = Budget(budget_s)
    checking = checking or Checking()
    language = question_language(question)
    task = task or classify_task(question)
    timings: dict[str, float] = {}
    retrieved = list(hits)
    reason = ""
    if checking.subject:
        started = time.perf_counter()
        found = on_subject(question, hits, checking.drugs.drug_names() if checking.drugs else ())
        hits, reason = found.hits, found.reason
        timings["subject_s"] = time.perf_counter() - started
    hits = hits[:k] if k else hits
    best_score = max((hit.evidence_score for hit in hits), default=None)
    if reason:
        answer = _abstain(question, retrieved, task, language, timings, reason)
    elif best_score is None or best_score < min_score:
        best = "none" if best_score is None else f"{best_score:.3f}"
        reason = f"no passage scored above the evidence threshold {min_score} (best: {best})"
        answer = _abstain(question, retrieved, task, language, timings, reason)
    else:
        quote = quote_score < 1.0 and best_score >= quote_score
        answer = _compose(
            question,
            hits,
            generator,
            task,
            language,
            patient,
            checking,
            timings,
            max_tokens,
            on_text,
            quote,
            budget,
            _Style(style, quote_span),
        )
        if checking.subject and not answer.abstained and asks_for_number(question):
            stated = " ".join(strip_markers(s) for s in split_sentences(answer.text))
            if not states_number(stated):
                reason = "the question asks for a number, and no verified sentence states one"
                warnings = answer.warnings
                answer = _abstain(question, hits, task, language, timings, reason)
                answer.warnings = warnings
    started = time.perf_counter()
    answer.drug_warnings = drug_warnings(question, "" if answer.abstained else answer.text, patient, checking.drugs)
    timings["safety_s"] = time.perf_counter() - started
    return answer


def _compose(
    question: str,
    hits: list[Hit],
    generator: Generator,
    task: Task,
    language: Language,
    patient: PatientContext | None,
    checking: Checking,
    timings: dict[str, float],
    max_tokens: int,
    on_text: Callable[[str], None] | None = None,
    quote_on_refusal: bool = False,
    budget: Budget | None = None,
    style: _Style | None = None,
) -> Answer:
    budget = budget or Budget()
    style = style or _Style()
    ranker = (checking.cross_embedder if language == "zh" else checking.embedder) or checking.embedder
    shown = select_sentences(question, hits, ranker) if style.answer == "selected" and ranker else hits

    def generate(strict: bool) -> str:
        started = time.perf_counter()
        messages = build_messages(
            question, shown, task, language=language, patient=patient, strict=strict, style=style.answer
        )
        left = budget.left()

        def limit(method: str) -> dict[str, float]:
            return {"max_time": left} if left is not None and accepts_max_time(generator, method) else {}

        if on_text is not None and not strict and isinstance(generator, StreamingGenerator):
            pieces = []
            for piece in generator.stream(messages, max_tokens=max_tokens, **limit("stream")):
                pieces.append(piece)
                on_text(piece)
            raw = "".join(pieces).strip()
        else:
            raw = generator.generate(messages, max_tokens=max_tokens, **limit("generate"))
        timings["generate_s"] = timings.get("generate_s", 0.0) + time.perf_counter() - started
        if not budget.allows():
            budget.skip("the end of the generated text (cut at the deadline)")
        return raw

    # What a passage tells the model to do is not evidence: it supports nothing and is never quoted.
    evidence = [replace(hit, text=without_instructions(hit.text)) for hit in hits]

    def check(raw: str, *, generated: bool = True) -> _Draft:
        started = time.perf_counter()
        draft = _check(raw, question, evidence, checking, generated=generated, timings=timings, budget=budget)
        timings["verify_s"] = timings.get("verify_s", 0.0) + time.perf_counter() - started
        return draft

    def quotation() -> _Draft:
        return check(extract_answer(question, evidence, embedder=ranker, span=style.quote_span), generated=False)

    if not budget.allows():
        budget.skip("generation")
        return _abstain(question, hits, task, language, timings, budget.message)
    raw = without_refusals(generate(strict=False))
    if not raw:
        extract = quotation() if quote_on_refusal and budget.allows() else None
        if extract is None or not extract.kept:
            return _abstain(question, hits, task, language, timings, REFUSED)
        note = (
            f"{REFUSED}; the best passage matches the question closely, so the answer quotes the best-matching passages"
        )
        return _answer(question, hits, task, language, timings, extract, [*extract.warnings, note], budget)
    draft = check(raw)
    notes = list(draft.warnings)
    if draft.removed and not budget.allows(estimate=timings.get("generate_s", 0.0)):
        budget.skip("the regeneration")
    elif draft.removed:
        log.info("verification removed %d of %d sentence(s); regenerating once", draft.removed, draft.generated)
        retry_raw = without_refusals(generate(strict=True))
        if retry_raw:
            retry = check(retry_raw)
            notes += retry.warnings
            notes.append(f"regenerated once with a stricter instruction after {draft.removed} unsupported sentence(s)")
            if (len(retry.kept), -retry.removed) > (len(draft.kept), -draft.removed):
                draft = retry
    if not draft.kept or 2 * len(draft.kept) < draft.generated:
        if budget.allows():
            extract = quotation()
            if extract.kept:
                notes.append(
                    "too little of the generated text was supported; the answer quotes the best-matching passages"
                )
                draft = extract
        else:
            budget.skip("quoting the passages")
    if not draft.kept:
        reason = budget.message if budget.skipped else "no sentence of the generated answer rests on a given passage"
        answer = _abstain(question, hits, task, language, timings, reason)
        answer.warnings = notes
        return answer
    return _answer(question, hits, task, language, timings, draft, notes, budget)


def _answer(
    question: str,
    hits: list[Hit],
    task: Task,
    language: Language,
    timings: dict[str, float],
    draft: _Draft,
    notes: list[str],
    budget: Budget | None = None,
) -> Answer:
    if budget is not None and budget.skipped:
        notes = [*notes, budget.message]
    text, citations, sentences = _finish(draft, hits)
    return Answer(
        question=question,
        text=text,
        citations=citations,
        task=task,
        evidence=hits,
        timings=timings,
        warnings=notes,
        sentences=sentences,
        language=language,
    )


def _normalise(raw: str) -> str:
    """Generated text with full-width markers (【2】, ［2］) written as ``[2]``, copied delimiters removed, openings
    about the source ("The passage states that") removed, and a last sentence cut off by the token limit (no end
    punctuation, no marker) left out."""
    text = without_lead_ins(strip_delimiters(_FULL_WIDTH_MARKER.sub(r"[\1]", raw)).strip())
    sentences = split_sentences(text)
    if len(sentences) > 1 and not _FINISHED.search(sentences[-1]):
        text = text[: text.rindex(sentences[-1])].rstrip()
    return text


def _check(
    raw: str,
    question: str,
    hits: list[Hit],
    checking: Checking,
    *,
    generated: bool,
    timings: dict[str, float] | None = None,
    budget: Budget | None = None,
) -> _Draft:
    """Ground and verify ``raw``; a sentence that repeats the prompt or an instruction counts as unsupported, and
    with ``checking.entailment`` a citation counts only when the generator agrees that its passage states the
    sentence."""
    raw = _normalise(raw)
    count = sum(1 for s in split_sentences(raw) if content_words(strip_markers(s))) if generated else 0
    grounded = ground(raw, hits, question, extract=False)
    warnings = list(grounded.warnings)
    checks = verify_answer(
        grounded.text, hits, embedder=checking.embedder, cross_embedder=checking.cross_embedder, question=question
    )
    checks = [c for c in checks if not c.exempt]
    elsewhere: list[SentenceCheck] = []  # about another kind than asked: type 1 diabetes for a type 2 question
    if checking.subject:
        for c in checks:
            if c.supported and (kinds := other_kinds(question, strip_markers(c.text))):
                c.supported = False
                elsewhere.append(c)
                warnings.append(f"dropped a sentence about {', '.join(kinds)}, not what was asked: {c.text[:80]!r}")
    prompt = instructions()
    obeyed = [c for c in checks if c.supported and (is_instruction(c.text) or echoes(c.text, prompt))]
    for c in obeyed:
        c.supported = False
        warnings.append(f"dropped a sentence that repeats the prompt or an instruction: {c.text[:80]!r}")
    if checking.entailment is not None:  # last: a forward pass per pair, spent only on what is still standing
        started = time.perf_counter()
        _entail(checks, hits, checking.entailment, budget or Budget())
        if timings is not None:
            timings["entail_s"] = timings.get("entail_s", 0.0) + time.perf_counter() - started
    text, removed = apply(checks)
    unsupported = [c for c in removed if all(c is not o for o in [*obeyed, *elsewhere])]
    warnings += [f"dropped a sentence its cited passages do not support: {c.text[:120]!r}" for c in unsupported]
    kept = [c for c in checks if c.supported]
    return _Draft(text, kept, count or len(kept), warnings)


def _entail(checks: list[SentenceCheck], hits: list[Hit], chooser: Chooser, budget: Budget) -> None:
    """Withdraw each citation whose passage the generator does not agree states its sentence (`entailment.supports`
    under `SUPPORT_YES`); a sentence left with no supporting citation is unsupported, and so is one whose check the
    ``budget`` left no time for."""
    for check in checks:
        if not check.supported:
            continue
        claim = strip_markers(check.text)
        for number in check.supporting:
            score = check.scores[number]
            if not budget.allows():
                budget.skip("checking some sentences against their passages (not shown)")
                score.supported = False
                continue
            score.entailment = round(supports(chooser, claim, hits[number - 1].text), 4)
            if score.entailment < SUPPORT_YES:
                score.supported = False
        check.supported = bool(check.supporting)


def _finish(draft: _Draft, hits: list[Hit]) -> tuple[str, list[Citation], list[AnswerSentence]]:
    """The final text with markers renumbered, its citations, and each sentence with its markers and support."""
    text, citations = resolve_citations(draft.text, hits)
    by_claim = {strip_markers(c.text): c for c in draft.kept}
    sentences = []
    for sentence in split_sentences(text):
        check = by_claim.get(strip_markers(sentence))
        support = max((check.scores[n].score for n in check.supporting), default=0.0) if check else 0.0
        sentences.append(AnswerSentence(sentence, list(dict.fromkeys(cited_numbers(sentence))), support))
    return text, citations, sentences


def drug_warnings(
    question: str, text: str, patient: PatientContext | None, drugs: DrugTable | None
) -> list[DrugWarning]:
    """Warnings for the drugs ``question``, ``text`` or the patient's medications name against ``patient``'s
    allergies, medications, pregnancy, conditions and age, from the knowledge base's drug labels (``drugs``) and the
    built-in class table, in the question's language, with a "not checked" entry for whatever could not be checked.
    A drug the question names only as the patient's allergy ("penicillin" in "penicillin allergy: can I give X?") is
    not warned about unless the answer names it too."""
    if patient is None or not (
        patient.allergies
        or patient.medications
        or patient.pregnant
        or patient.breastfeeding
        or patient.conditions
        or patient.age is not None
    ):
        return []
    known = drugs.drug_names() if drugs else set()
    recorded = [item.casefold() for item in patient.allergies]
    asked = [name for name in find_drugs(question, known) if not any(name.casefold() in a for a in recorded)]
    taken = find_drugs("\n".join(patient.medications), known)
    names = list(dict.fromkeys(asked + find_drugs(text, known) + taken))
    if not names:
        return []
    labels = drugs.drug_labels_for(lookup_names(names, patient)) if drugs else []
    return check_drugs(names, patient, labels, language=question_language(question))


def resolve_citations(raw: str, hits: list[Hit]) -> tuple[str, list[Citation]]:
    """Drop markers that point at no given passage and renumber the rest in order of first use."""
    renumber: dict[int, int] = {}
    citations: list[Citation] = []

    def replace(match: re.Match[str]) -> str:
        kept = []
        for number in marker_numbers(match.group(0)):
            if not 1 <= number <= len(hits):
                continue
            if number not in renumber:
                renumber[number] = len(renumber) + 1
                citations.append(Citation.from_hit(renumber[number], hits[number - 1]))
            if renumber[number] not in kept:
                kept.append(renumber[number])
        return (" " + "".join(f"[{n}]" for n in kept)) if kept else ""

    text = MARKER_RUN.sub(replace, raw.strip())
    return text.strip(), citations


def _abstain(
    question: str, hits: list[Hit], task: Task, language: Language, timings: dict[str, float], reason: str
) -> Answer:
    """An abstention in the question's language that lists the closest sources."""
    statement, heading = _ABSTAIN[language]
    lines = [statement]
    if hits:
        lines.append(heading)
        for h in hits[:3]:
            if language == "zh":
                lines.append(f"- {h.title or h.source}（{h.section or '正文'}；相关度 {h.evidence_score:.2f}）")
            else:
                lines.append(f"- {h.title or h.source} ({h.section or 'text'}; score {h.evidence_score:.2f})")
    return Answer(
        question=question,
        text="\n".join(lines),
        citations=[],
        task=task,
        abstained=True,
        reason=reason,
        evidence=hits,
        timings=timings,
        language=language,
    )
