"""How much the bundled generators know about PubMedQA answers: prompt variants and a linear probe, measured.

    python -m experiments.decide_variants [--dataset pubmedqa|bioasq-yesno]
        [--variants shipped,question-first] [--hidden] [--limit N] [--generator-model NAME] [--json]

`medkb eval qa --dataset pubmedqa` misses its 0.65 target; this script measures the routes tried to close the gap,
on the PubMedQA dev questions with the retrieval-evaluation knowledge base (the gold abstract is not handed over:
the evidence is what the question retrieves), and, with ``--dataset bioasq-yesno``, whether the same prompt forms
carry over to MIRAGE's BioASQ-Y/N questions over the snippet corpus (options yes and no; ``shipped`` and
``question-first`` only, the latter over the top 3 snippets, since there is no abstract to hand over whole). For
each question and variant it reads the generator's probability of each option as its next word:

- ``shipped``: `generation.decide.decision_messages` over the top 3 passages, in the chat template (what
  ``medkb eval qa`` does);
- ``whole``: the same chat, with the whole top-ranked abstract as one passage;
- ``lmeval``: no chat template, ``Abstract: ... Question: ... Answer:`` over the whole top-ranked abstract (the
  form language-model benchmark harnesses use);
- ``question-first``: no chat template, the question, then the top-ranked abstract with its section labels, then
  the question again and ``Answer (yes, no or maybe):``.
- ``rationale``: the question-first text, but the model first writes up to `RATIONALE_TOKENS` tokens (greedy)
  after ``Reasoning:``, and the answer is read after its reasoning and ``Answer (yes, no or maybe):``.
- ``few-shot``: the question-first text after three worked examples in the same form, each with its answer: for each
  option, the dev question with the shortest abstract of the *other* half (`shots`), so no question sees its own
  label, and a half's examples come from the half its bias is not fitted on.

With ``--hidden``, the hidden state at the answer position of the last variant (at half, three quarters and all of
the layers) is kept too, and a logistic regression (scikit-learn, standardised features) fitted on half A of the
questions is scored on half B and the reverse: a probe that asks whether the answer is linearly readable from the
model even where its next-word probabilities miss it.

Per variant it reports the area under the ROC curve of log p(yes) - log p(no) on the yes/no questions, raw
accuracy, and accuracy and macro-F1 with the bias of `generation.decide.fit_bias` fitted on one half and scored on
the other (both directions), beside always answering the most common option of the fitting half. Halves are
`kb.evaluation.qa.half`, as in ``medkb eval qa``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generation.decide import YES_NO_MAYBE, decision_messages, fit_bias
from generation.local import TransformersGenerator
from generation.options import first_tokens, option_probabilities
from kb.core.data_dir import data_dir
from kb.core.model_registry import DEFAULT_GENERATOR
from kb.core.offline import use_offline_environment
from kb.core.settings import Settings
from kb.core.types import Hit
from kb.evaluation.datasets import read_jsonl
from kb.evaluation.qa import (
    CLOSED_K,
    ClosedItem,
    bioasq_yesno_items,
    closed_kb,
    closed_scores,
    half,
    pubmedqa_items,
    round_figure,
)
from kb.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)

VARIANTS = ("shipped", "whole", "lmeval", "question-first", "rationale", "few-shot")
#: The most tokens of reasoning the ``rationale`` variant writes before its answer is read.
RATIONALE_TOKENS = 64
#: Data set -> (its options, the variants that apply to it).
DATASETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pubmedqa": (YES_NO_MAYBE, VARIANTS),
    "bioasq-yesno": (("yes", "no"), ("shipped", "question-first")),
}
#: Inverse regularisation strengths of the probe.
PROBE_C = (0.001, 0.01, 0.1, 1.0)


def abstracts() -> dict[str, tuple[list[str], list[str]]]:
    """PMID -> (passages, section labels) of the PubMedQA corpus."""
    rows = read_jsonl(data_dir() / "pubmedqa" / "corpus.jsonl")
    return {str(o["pmid"]): (o["contexts"], o.get("section_labels") or [""] * len(o["contexts"])) for o in rows}


def _text(abstract: tuple[list[str], list[str]], *, labels: bool) -> str:
    return "\n".join(f"{label}: {c}" if label and labels else c for c, label in zip(*abstract, strict=True))


class Reader:
    """The generator's option probabilities (and hidden states) for a prompt given as chat messages or raw text."""

    def __init__(self, model: str, options: Sequence[str] = YES_NO_MAYBE) -> None:
        self.generator = TransformersGenerator(model)
        self.model, self.tokenizer = self.generator._load()
        count = int(self.model.config.num_hidden_layers)
        self.layers = sorted({count // 2, (3 * count) // 4, count})
        self.tokens = {
            o: first_tokens(lambda t: self.tokenizer.encode(t, add_special_tokens=False), o) for o in options
        }

    def read(
        self, prompt: str | list[dict[str, str]] | Rationale, *, hidden: bool = False
    ) -> tuple[dict[str, float], Any]:
        import torch

        if isinstance(prompt, Rationale):
            prompt = prompt.before + self.reason(prompt.before) + prompt.after
        if isinstance(prompt, str):
            inputs = self.tokenizer(prompt, return_tensors="pt")
        else:
            inputs = self.generator._prompt(prompt)
        with torch.inference_mode():
            output = self.model(**inputs, output_hidden_states=hidden)
        probabilities = option_probabilities(output.logits[0, -1].float().numpy(), self.tokens)
        states = [output.hidden_states[layer][0, -1].float().numpy() for layer in self.layers] if hidden else None
        return probabilities, states

    def reason(self, prefix: str) -> str:
        """The model's greedy continuation of ``prefix``: at most `RATIONALE_TOKENS` tokens, cut at a blank line."""
        import torch

        inputs = self.tokenizer(prefix, return_tensors="pt")
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=RATIONALE_TOKENS,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        text = self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return text.split("\n\n")[0].rstrip()


@dataclass(frozen=True)
class Rationale:
    """A prompt in two parts: the model writes its reasoning after ``before``; the answer is read after ``after``."""

    before: str
    after: str


def _framed(question: str, abstract: str) -> str:
    return f"Question: {question}\n\nAbstract:\n{abstract}\n\nQuestion: {question}\n"


def shots(items: Sequence[ClosedItem], corpus: dict[str, tuple[list[str], list[str]]]) -> dict[str, str]:
    """Half -> the worked examples shown to a question of that half: one per option of `YES_NO_MAYBE`, each the
    question of the other half with that gold answer and the shortest abstract, in the question-first form."""
    out = {}
    for own, other in (("A", "B"), ("B", "A")):
        examples = []
        for option in YES_NO_MAYBE:
            pool = [i for i in items if half(i.qid) == other and i.gold == option and i.qid in corpus]
            example = min(pool, key=lambda i: (len(_text(corpus[i.qid], labels=True)), i.qid))
            framed = _framed(example.question, _text(corpus[example.qid], labels=True))
            examples.append(f"{framed}Answer (yes, no or maybe): {option}\n\n")
        out[own] = "".join(examples)
    return out


def prompts(
    item: ClosedItem,
    kb: KnowledgeBase,
    corpus: dict[str, tuple[list[str], list[str]]] | None,
    examples: dict[str, str] | None = None,
) -> dict[str, Callable[[], str | list[dict[str, str]] | Rationale]]:
    """Each variant's prompt for ``item`` (built lazily; ``examples`` are `shots`'s, for ``few-shot``); with no
    ``corpus`` of abstracts (BioASQ), the two variants that need none, with options yes and no."""
    hits = kb.search(item.question, CLOSED_K)
    q = item.question
    if corpus is None:
        snippets = "\n".join(f"[{n}] {hit.text}" for n, hit in enumerate(hits, start=1))
        return {
            "shipped": lambda: decision_messages(q, hits, ("yes", "no")),
            "question-first": lambda: f"Question: {q}\n\nPassages:\n{snippets}\n\nQuestion: {q}\nAnswer (yes or no):",
        }
    top = str(hits[0].metadata["pmid"])
    whole = Hit(chunk_id="", doc_id=hits[0].doc_id, text=_text(corpus[top], labels=True), score=1.0)
    framed = _framed(q, whole.text)
    shown = (examples or {}).get(half(item.qid), "")
    return {
        "shipped": lambda: decision_messages(q, hits, YES_NO_MAYBE),
        "whole": lambda: decision_messages(q, [whole], YES_NO_MAYBE),
        "lmeval": lambda: f"Abstract: {_text(corpus[top], labels=False)}\nQuestion: {q}\nAnswer:",
        "question-first": lambda: framed + "Answer (yes, no or maybe):",
        "rationale": lambda: Rationale(framed + "Reasoning:", "\nAnswer (yes, no or maybe):"),
        "few-shot": lambda: shown + framed + "Answer (yes, no or maybe):",
    }


def score(
    rows: Sequence[tuple[dict[str, float], str, str]],
    grid: Sequence[float] | None = None,
    options: Sequence[str] = YES_NO_MAYBE,
) -> dict[str, Any]:
    """AUC, raw and calibrated accuracy of (probabilities, gold, question id) rows over ``options``; ``grid`` is
    `fit_bias`'s."""
    from sklearn.metrics import roc_auc_score

    yes_no = [(p, g) for p, g, _ in rows if g != "maybe"]
    out: dict[str, Any] = {
        "questions": len(rows),
        "auc_yes_vs_no": round(
            float(
                roc_auc_score(
                    [g == "yes" for _, g in yes_no],
                    [math.log(max(p["yes"], 1e-12)) - math.log(max(p["no"], 1e-12)) for p, _ in yes_no],
                )
            ),
            3,
        ),
        "raw_accuracy": closed_scores([(p, g) for p, g, _ in rows], None, options)["accuracy"],
    }
    for fit_half, test_half in (("A", "B"), ("B", "A")):
        fit = [(p, g) for p, g, q in rows if half(q) == fit_half]
        test = [(p, g) for p, g, q in rows if half(q) == test_half]
        bias = fit_bias(fit, options, **({} if grid is None else {"grid": grid}))
        majority = statistics.mode(g for _, g in fit)
        out[f"calibrated_{fit_half}_to_{test_half}"] = closed_scores(test, bias, options) | {
            "majority_accuracy": round_figure(sum(g == majority for _, g in test) / len(test))
        }
    return out


def probe(states: np.ndarray, gold: Sequence[str], qids: Sequence[str]) -> dict[str, Any]:
    """Accuracy of a logistic regression on ``states`` fitted on one half and scored on the other, per C."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = np.array(gold)
    in_a = np.array([half(q) == "A" for q in qids])
    out: dict[str, Any] = {}
    for c in PROBE_C:
        for name, fit in (("A_to_B", in_a), ("B_to_A", ~in_a)):
            if len(set(labels[fit])) < 2:
                out[f"C={c} {name}"] = None  # too few questions: one option only in the fitting half
                continue
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
            classifier.fit(states[fit], labels[fit])
            out[f"C={c} {name}"] = round(float((classifier.predict(states[~fit]) == labels[~fit]).mean()), 3)
    return out


def run(
    variants: Sequence[str], model: str, limit: int | None, hidden: bool, dataset: str = "pubmedqa"
) -> dict[str, Any]:
    options = DATASETS[dataset][0]
    examples = None
    if dataset == "pubmedqa":
        every, corpus = pubmedqa_items(), abstracts()
        items, examples = every[:limit], shots(every, corpus)  # examples from all dev questions, whatever the limit
    else:
        items, corpus = bioasq_yesno_items()[:limit], None
    kb = closed_kb("bioasq" if dataset == "bioasq-yesno" else dataset, Settings())
    reader = Reader(model, options)
    probabilities: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    states: list[list[np.ndarray]] = []
    started = time.perf_counter()
    try:
        for done, item in enumerate(items, start=1):
            built = prompts(item, kb, corpus, examples)
            for variant in variants:
                keep = hidden and variant == variants[-1]
                p, s = reader.read(built[variant](), hidden=keep)
                probabilities[variant].append(p)
                if keep:
                    states.append(s)
            if done % 25 == 0:
                log.info("%d/%d (%.1f s/question)", done, len(items), (time.perf_counter() - started) / done)
    finally:
        kb.close()
    gold = [i.gold for i in items]
    qids = [i.qid for i in items]
    result: dict[str, Any] = {
        "dataset": dataset,
        "generator": model,
        "questions": len(items),
        "seconds_per_question": round((time.perf_counter() - started) / max(len(items), 1), 2),
        "variants": {v: score(list(zip(probabilities[v], gold, qids, strict=True)), options=options) for v in variants},
    }
    if hidden:
        result["probe"] = {
            f"{variants[-1]} layer {layer}": probe(np.stack([s[n] for s in states]), gold, qids)
            for n, layer in enumerate(reader.layers)
        }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="pubmedqa", choices=sorted(DATASETS))
    parser.add_argument("--variants", default="shipped,question-first", help=f"comma-separated, of {VARIANTS}")
    parser.add_argument("--generator-model", default=DEFAULT_GENERATOR)
    parser.add_argument("--limit", type=int, default=None, help="the first N dev questions only")
    parser.add_argument("--hidden", action="store_true", help="also probe the last variant's hidden states")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    allowed = DATASETS[args.dataset][1]
    if not variants or any(v not in allowed for v in variants):
        parser.error(
            f"--variants {args.variants!r}: expected a comma-separated list of {', '.join(allowed)} for {args.dataset}"
        )
    if args.limit is not None and args.limit < 4:
        parser.error(f"--limit {args.limit}: expected at least 4 questions (two per half)")
    use_offline_environment()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = run(variants, args.generator_model, args.limit, args.hidden, args.dataset)
    json.dump(result, sys.stdout, indent=None if args.json else 2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
