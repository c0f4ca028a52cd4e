"""``medkb eval qa``: answer quality (see `kb.evaluation.qa`) as a table or JSON.

Example::

    medkb eval qa --dataset pubmedqa --limit 100 --json
    medkb eval qa --dataset medicationqa --limit 20 --judge qwen2.5-coder-1.5b-instruct
    medkb eval qa --dataset clinical --limit 4 --json
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from generation.backends import make_generator, resolve_backend
from generation.decide import YES_NO_MAYBE, Chooser
from kb.core.model_registry import default_cache_dir
from kb.core.settings import Settings
from kb.evaluation import clinical, entailment_eval, qa, reference_answers
from kb.evaluation.datasets import EvalError
from retrieval.embedders import make_embedder

log = logging.getLogger(__name__)

#: The judge of citation support for ``medicationqa`` and ``support``: a larger model than the default generator.
DEFAULT_JUDGE = "qwen2.5-coder-1.5b-instruct"


def add_qa_parser(eval_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``qa`` to the subparsers of ``medkb eval``."""
    p: argparse.ArgumentParser = eval_subparsers.add_parser(
        "qa",
        help="answer quality: yes/no accuracy, citation precision and recall, abstention",
        description="The quality of medkb's answers on a development set, with retrieval over its corpus; "
        "thresholds and biases are fitted on half A of the questions and reported on half B (see docs/answers.md).",
    )
    p.add_argument("--dataset", required=True, choices=qa.QA_DATASETS)
    p.add_argument("--limit", type=int, default=None, help="the first N questions (or pairs) only")
    p.add_argument(
        "--generator-model",
        default=None,
        help="the local generator (default: the settings' own: the 1.5B model on llama.cpp where medkb[llama] is "
        "installed, else the 0.5B model on transformers)",
    )
    p.add_argument(
        "--judge",
        default=DEFAULT_JUDGE,
        help=f"the model that judges citation support (medicationqa, support; default {DEFAULT_JUDGE}; "
        "'none' skips the judge)",
    )
    p.add_argument(
        "--judge-threshold",
        type=float,
        default=0.5,
        help="the judge's probability of 'yes' that counts as support (medicationqa; fit it with --dataset support)",
    )
    p.add_argument("--k", type=int, default=None, help="passages per question (default: 3 closed, settings open)")
    p.add_argument(
        "--rows",
        default=None,
        help="clinical: write one JSON line per question to this file as it is answered; a rerun with the same file "
        "keeps the questions already there and asks the rest",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a setting for this run (repeatable), e.g. --set subject_match=false --set entailment=false",
    )
    p.add_argument(
        "--systems",
        default="top-passage,default",
        help="medicationqa-answers, liveqa: comma-separated, of top-passage, medkb-0.5b, medkb-1.5b and default (the "
        "shipped generator); default: top-passage,default",
    )
    p.add_argument(
        "--split", default="B", choices=("A", "B", "all"), help="medicationqa-answers, liveqa: which half (default B)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_qa)
    return p


def run_qa(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise EvalError(f"--limit {args.limit}: expected a positive number")
    settings = with_overrides(Settings(), args.set or [])
    if args.generator_model:
        settings.generator_model = args.generator_model
    name = args.dataset
    runtime, model = resolve_backend(settings.generator, settings.generator_model)
    result: dict[str, Any] = {"dataset": name, "generator": model, "runtime": runtime}
    if name in ("pubmedqa", "bioasq-yesno"):
        items = qa.pubmedqa_items() if name == "pubmedqa" else qa.bioasq_yesno_items()
        options = YES_NO_MAYBE if name == "pubmedqa" else ("yes", "no")
        kb = qa.closed_kb("pubmedqa" if name == "pubmedqa" else "bioasq", settings)
        try:
            generator = _generator(settings)
            result |= qa.evaluate_closed(kb, items[: args.limit], generator, options, k=args.k or qa.CLOSED_K)
        finally:
            kb.close()
    elif name == "unanswerable":
        kb = qa.unanswerable_kb(qa.cache_dir("pubmedqa-unanswerable", settings), settings)
        try:
            result |= qa.evaluate_unanswerable(kb, qa.pubmedqa_items()[: args.limit], k=args.k or settings.top_k)
        finally:
            kb.close()
    elif name == "medicationqa-quote":
        kb, items = qa.medicationqa_kb(qa.cache_dir("medicationqa", settings), settings)
        try:
            result |= qa.evaluate_quote_threshold(kb, items[: args.limit], k=args.k or settings.top_k)
        finally:
            kb.close()
    elif name == "medicationqa":
        kb, items = qa.medicationqa_kb(qa.cache_dir("medicationqa", settings), settings)
        try:
            if args.k:
                kb.settings.top_k = args.k
            judge = _judge(args.judge)
            if judge is None:
                raise EvalError("--dataset medicationqa needs a judge: expected --judge MODEL")
            result["judge"] = args.judge
            result |= qa.evaluate_answers(kb, items[: args.limit], judge, judge_threshold=args.judge_threshold)
        finally:
            kb.close()
    elif name in reference_answers.DATASETS:
        judge = _judge(args.judge)
        counts = qa.citation_counts(judge, args.judge_threshold) if judge else None
        systems = [s.strip() for s in args.systems.split(",") if s.strip()]
        result = reference_answers.evaluate(
            name, systems, settings, split=args.split, limit=args.limit, k=args.k, judge=counts
        ) | {"judge": args.judge}
    elif name == "clinical":
        if args.k:
            settings.top_k = args.k
        rows = Path(args.rows) if args.rows else None
        result |= clinical.run(settings, qa.cache_dir("clinical", settings), limit=args.limit, rows=rows)
        if args.set:
            result["settings"] = list(args.set)
        if not args.json:
            result.pop("rows")
    elif name == "entailment":
        generator = _generator(settings)
        if not isinstance(generator, Chooser):
            raise EvalError(f"generator {model}: expected a local model that gives probabilities")
        embedder = make_embedder(settings.embedder, backend=settings.embedder_backend)
        result |= entailment_eval.evaluate(generator, embedder, scifact_limit=args.limit)
        if not args.json:
            for part in ("support", "answer"):
                result[part].pop("scores")
    else:  # support
        kb = qa.closed_kb("scifact", settings)
        try:
            result["judge"] = args.judge
            result |= qa.evaluate_support(qa.support_pairs()[: args.limit], kb, _judge(args.judge))
        finally:
            kb.close()
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0


def with_overrides(settings: Settings, pairs: list[str]) -> Settings:
    """``settings`` with each ``KEY=VALUE`` of ``pairs`` applied, the value read as the setting's own type."""
    values = settings.to_dict()
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or key not in values:
            raise EvalError(f"--set {pair!r}: expected KEY=VALUE with KEY one of {', '.join(values)}")
        current = values[key]
        try:
            if isinstance(current, bool):
                if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                values[key] = raw.lower() in ("true", "1", "yes")
            else:
                values[key] = type(current)(raw)
        except ValueError as exc:
            raise EvalError(f"--set {pair!r}: expected a {type(current).__name__} for {key}") from exc
    return Settings.from_dict(values)


def _generator(settings: Settings) -> Any:
    return make_generator(
        settings.generator,
        model=settings.generator_model,
        cache_dir=default_cache_dir(),
        threads=settings.generator_threads or None,
    )


def _judge(model: str) -> qa.Judge | None:
    if model == "none":
        return None
    generator = make_generator("auto", model=model, cache_dir=default_cache_dir())
    if not isinstance(generator, Chooser):
        raise EvalError(f"--judge {model}: expected a local model that gives option probabilities")
    return qa.model_judge(generator)


def _table(result: dict[str, Any]) -> str:
    """One ``key: value`` line per figure, nested keys joined by dots."""
    lines: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            lines.append(f"{prefix}: {value}")

    walk("", result)
    return "\n".join(lines)
