"""``medkb eval retrieval``: retrieval quality of each system on a named data set, as a table or JSON.

Example::

    medkb eval retrieval --dataset scifact --systems bm25,dense,hybrid,rrf --limit 50 --corpus-limit 500 --json
    medkb eval retrieval --data path/to/beir/nfcorpus --split test
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from kb.core.settings import Settings
from kb.evaluation import langchain_baseline
from kb.evaluation.datasets import DATASETS, EvalDataset, EvalError, load_beir, load_dataset
from kb.evaluation.metrics import MEASURES, evaluate
from kb.evaluation.systems import (
    DEPTH,
    SYSTEMS,
    TRAINED_SYSTEMS,
    TUNED_SYSTEMS,
    default_kb_dir,
    open_kb,
    require_trained,
    run_system,
    tuned_kb,
)

log = logging.getLogger(__name__)


def add_eval_parser(subparsers: Any) -> Any:
    """Add ``eval retrieval`` to a ``medkb`` subparsers object; returns the subparsers of ``eval``, to which other
    stages add their own evaluations (``eval qa``)."""
    parser = subparsers.add_parser("eval", help="measure retrieval or answer quality on a data set")
    sub = parser.add_subparsers(dest="eval_command", required=True)
    p = sub.add_parser(
        "retrieval",
        help="nDCG@10, Recall@10/100, MRR@10 and queries per second of each retrieval system",
        description="Builds (once, cached) a knowledge base of the data set's corpus and scores each system's "
        f"top-{DEPTH} chunks, judged per document (a document ranks where its best chunk ranks).",
    )
    p.add_argument("--dataset", choices=DATASETS, help="named data set (beir: give --data)")
    p.add_argument("--data", type=Path, help="a BEIR directory: corpus.jsonl, queries.jsonl, qrels.tsv")
    p.add_argument("--split", default=None, help="dev for scifact/pubmedqa/medquad, all for bioasq, BEIR: test")
    p.add_argument(
        "--systems",
        default=None,
        help=f"comma-separated, of {', '.join(SYSTEMS)} (default: all but {', '.join(TRAINED_SYSTEMS)}, which need "
        "`medkb train` on the evaluated knowledge base; langchain when its extra is installed)",
    )
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N queries only")
    p.add_argument(
        "--translate",
        metavar="MODEL",
        default=None,
        help="search Chinese questions as their English translation by this local generator (Settings.translate_model)",
    )
    p.add_argument(
        "--corpus-limit",
        type=int,
        default=None,
        help="index only the queries' relevant documents plus the first M others (default: the whole corpus)",
    )
    p.add_argument(
        "--queries",
        type=Path,
        default=None,
        help="JSON Lines of {id, question} replacing the data set's query texts (a translation), same qrels",
    )
    p.add_argument(
        "--with-original",
        action="store_true",
        help="with --queries: also run every system on the original text of the same queries (SYSTEM@original)",
    )
    p.add_argument("--embedder", default=None, help="embedder of the knowledge base (default: settings)")
    p.add_argument("--kb-cache", type=Path, default=None, help="knowledge base directory (default: in the cache)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--print-kb-dir",
        action="store_true",
        help="print the knowledge base directory this evaluation uses (to `medkb train` on) and exit",
    )
    p.set_defaults(func=run_eval)
    return sub


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate the systems named in ``args`` and print the results; returns the exit status."""
    if args.systems is None:
        systems = [
            s for s in SYSTEMS if s not in TRAINED_SYSTEMS and (s != "langchain" or langchain_baseline.available())
        ]
    else:
        systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown or not systems:
        raise EvalError(f"--systems {args.systems!r}: expected a comma-separated list of {', '.join(SYSTEMS)}")
    if args.with_original and args.queries is None:
        raise EvalError("--with-original needs --queries FILE")
    if args.queries is None:
        dataset = _dataset(args, args.limit)
        runs = [("", dataset)]
    else:
        original = _dataset(args, None)
        dataset = original.with_queries(args.queries).limited(args.limit)
        runs = [("", dataset)]
        if args.with_original:
            runs.append(("@original", original.with_queries_of(dataset)))
    settings = Settings(embedder=args.embedder) if args.embedder else Settings()
    directory = args.kb_cache
    if directory is None:
        from kb.core.model_registry import default_cache_dir

        fingerprint = dataset.corpus.fingerprint() if args.data is not None else ""
        directory = default_kb_dir(
            default_cache_dir(), dataset.name, settings.embedder, args.limit, args.corpus_limit, fingerprint
        )
    if args.print_kb_dir:
        print(directory / "kb")
        return 0
    kb = open_kb(dataset, directory, settings, args.corpus_limit)
    tuned = None
    try:
        require_trained(kb, systems)
        if any(system in TUNED_SYSTEMS for system in systems):
            tuned = tuned_kb(kb, dataset, directory, args.corpus_limit)
        if args.translate:
            kb.settings = replace(kb.settings, translate_model=args.translate)
            if tuned is not None:
                tuned.settings = replace(tuned.settings, translate_model=args.translate)
                tuned.translator = kb.translator  # one model and one cache of translations (it loads on first use)
        documents = kb.stats()["documents"]
        results = {}
        for suffix, queries in runs:
            for system in systems:
                target = tuned if system in TUNED_SYSTEMS and tuned is not None else kb
                run, seconds = run_system(target, system, queries.queries)
                scores = evaluate(queries.qrels, run)
                scores["qps"] = len(queries.queries) / seconds if seconds > 0 else 0.0
                results[system + suffix] = {name: round(value, 4) for name, value in scores.items()}
                log.info("%s: %s", system + suffix, results[system + suffix])
    finally:
        kb.close()
        if tuned is not None:
            tuned.close()
    out = {
        "dataset": dataset.name,
        "kb": str(directory / "kb"),
        "split": dataset.split,
        "queries": len(runs[0][1].queries),
        "documents": documents,
        "systems": results,
    }
    print(json.dumps(out, indent=2) if args.json else _table(out))
    return 0


def _dataset(args: argparse.Namespace, limit: int | None) -> EvalDataset:
    if args.data is not None:
        if args.dataset not in (None, "beir"):
            raise EvalError(f"--data is a BEIR directory; it cannot be combined with --dataset {args.dataset}")
        return load_beir(args.data, split=args.split, limit=limit)
    if args.dataset in (None, "beir"):
        raise EvalError("expected --dataset NAME, or --data DIR for a BEIR directory")
    return load_dataset(args.dataset, split=args.split, limit=limit)


def _table(out: dict[str, Any]) -> str:
    columns = [*MEASURES, "qps"]
    lines = [
        f"{out['dataset']} ({out['split']}): {out['queries']} queries, {out['documents']} documents",
        f"{'system':<14}" + "".join(f"{c:>12}" for c in columns),
    ]
    for system, scores in out["systems"].items():
        lines.append(
            f"{system:<14}" + "".join(f"{scores[c]:>12.4f}" if c != "qps" else f"{scores[c]:>12.1f}" for c in columns)
        )
    return "\n".join(lines)
