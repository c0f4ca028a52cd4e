"""``medkb train embedder|reranker --kb DIR``: train a model on a knowledge base's own text (no labelled questions).

Example::

    medkb train embedder --kb my-kb --epochs 1 --max-pairs 2000
    medkb train reranker --kb my-kb
    medkb search "metformin lactic acidosis" --kb my-kb --rerank
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kb.core.errors import MedkbError
from kb.training.run import KINDS, REPORT, TrainOptions, train_model


def add_train_parser(subparsers: Any) -> Any:
    """Add ``train embedder`` and ``train reranker`` to a ``medkb`` subparsers object."""
    parser = subparsers.add_parser("train", help="train a domain-adapted embedder or a reranker on a knowledge base")
    sub = parser.add_subparsers(dest="train_command", required=True)
    for kind, what in (
        ("embedder", "fine-tune the bundled bi-encoder (in-batch negatives + hard negatives)"),
        ("reranker", "train a cross-encoder reranker from the same weights (used by search --rerank)"),
    ):
        p = sub.add_parser(
            kind,
            help=what,
            description=f"{what}. Pairs come from the knowledge base itself (title -> text, section heading -> "
            "section, first sentence -> rest), split by document; the model is saved in DIR/models/"
            f"{kind}/model with report.json beside it, and recorded in DIR/manifest.json.",
        )
        p.add_argument("--kb", required=True, type=_path, help="knowledge base directory")
        p.add_argument("--epochs", type=int, default=None, help="default: 1 (embedder), 2 (reranker)")
        p.add_argument("--batch-size", type=int, default=None, help="default: 32 (embedder), 16 (reranker)")
        p.add_argument(
            "--lr", type=float, default=None, help="AdamW learning rate (default 3e-5 embedder, 1e-4 reranker)"
        )
        p.add_argument("--max-pairs", type=int, default=None, help="training pairs at most (default 2000)")
        p.add_argument("--max-length", type=int, default=None, help="token limit (default 128)")
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--base", default=None, help="starting weights: registry name or directory (default MiniLM)")
        p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
        p.add_argument("--resume", action="store_true", help="continue the interrupted run of the same options")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        if kind == "embedder":
            p.add_argument(
                "--apply",
                action="store_true",
                help="make the trained embedder the knowledge base's own (not supported in place: see the message)",
            )
        p.set_defaults(func=run_train, kind=kind)
    return sub


def _path(value: str) -> Any:
    from pathlib import Path

    return Path(value)


def run_train(args: argparse.Namespace) -> int:
    """Train the model ``args.kind`` names and print where it went and how it scored; returns the exit status."""
    if args.kind not in KINDS:
        raise MedkbError(f"train {args.kind!r}: expected one of {', '.join(KINDS)}")
    if getattr(args, "apply", False):
        # Checked before training, so nobody waits half an hour for a refusal.
        raise MedkbError(
            f"--apply: re-embedding {args.kb} in place is not supported; train without --apply, then build a "
            f"knowledge base with the tuned embedder: medkb ingest PATH... --kb NEW_DIR --embedder "
            f"{args.kb.resolve()}/models/embedder/model"
        )
    options = TrainOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        max_pairs=args.max_pairs,
        max_length=args.max_length,
        seed=args.seed,
        threads=args.threads,
        **({"base": args.base} if args.base else {}),
    )
    report = train_model(
        args.kind,
        args.kb,
        options,
        resume=args.resume,
        progress=not args.no_progress,
        on_stage=lambda message: print(message, file=sys.stderr),
    )
    metrics = report["metrics"]
    print(f"trained {args.kind}: {args.kb / report['path']} ({report['steps']} steps, {report['seconds']:.0f} s)")
    print(f"pairs: {report['pairs']}")
    kept = "the untrained start: no epoch beat it" if report["best_epoch"] == 0 else f"epoch {report['best_epoch']}"
    print(f"validation (kept {kept}): {_fmt(metrics['validation'])}")
    if report["pairs"]["test"]:
        print(f"test, trained:   {_fmt(metrics['test'])}")
        print(f"test, untrained: {_fmt(metrics['test_untrained'])}")
    else:
        print("test: no held-out pairs (too few documents for a test split), so no test figures")
    print(f"report: {(args.kb / report['path']).parent / REPORT}")
    return 0


def _fmt(metrics: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k != "epoch")
