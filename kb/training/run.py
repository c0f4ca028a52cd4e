"""Train a model on a knowledge base's own text and record it in the knowledge base (``medkb train``).

A run: read the corpus -> build pairs -> split by document -> mine hard negatives (BM25 and the knowledge base's
embedder) -> train (`retrieval.training.loop`) -> keep the best epoch as ``<kb>/models/<kind>/model`` -> score it
and the untrained start on the test split -> write ``report.json`` (and ``loss.png`` when matplotlib is installed)
beside it -> record it under ``trained`` in ``manifest.json``.

Example::

    from kb.training.run import TrainOptions, train_model
    report = train_model("reranker", Path("my-kb"), TrainOptions(epochs=1, max_pairs=500))
    report["metrics"]["test"]
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from kb.core.errors import MedkbError
from kb.core.manifest import Manifest
from kb.core.model_registry import DEFAULT_EMBEDDER, resolve_model
from kb.knowledge_base import KnowledgeBase
from retrieval.training import loop
from retrieval.training.models import (
    embedder_task,
    encode,
    load_bi_encoder,
    load_cross_encoder,
    reranker_examples,
    reranker_task,
)
from retrieval.training.pairs import PairSplit, build_pairs, mine_negatives, read_corpus, split_pairs
from retrieval.training.validation import dense_metrics, held_out, rerank_metrics

log = logging.getLogger(__name__)
_T = TypeVar("_T")

KINDS = ("embedder", "reranker")
MODELS_DIR = "models"
MODEL = "model"
REPORT = "report.json"


@dataclass(frozen=True)
class TrainOptions:
    """What ``medkb train`` may change. ``max_pairs`` caps the training pairs (the time budget: see
    docs/training.md); ``max_length`` is the model's token limit (bi-encoder: per text; cross-encoder: per pair);
    ``base`` is the starting weights (registry name or directory; default the bundled all-MiniLM-L6-v2). An option
    left ``None`` takes its kind's default (``_DEFAULTS``; epochs: 1 for the embedder, 2 for the reranker)."""

    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    max_pairs: int | None = None
    max_length: int | None = None
    seed: int = 42
    base: str = DEFAULT_EMBEDDER
    threads: int = 2
    checkpoint_every: int = 25


#: Defaults by kind (for the options left None), chosen so that a 5,000-document knowledge base trains in under 30
#: minutes on 2 cores (SciFact's 5,183 abstracts: embedder 6 min, reranker 23 min; docs/training.md).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "embedder": {"epochs": 1, "batch_size": 32, "learning_rate": 3e-5, "max_pairs": 2000, "max_length": 128},
    "reranker": {"epochs": 2, "batch_size": 16, "learning_rate": 1e-4, "max_pairs": 2000, "max_length": 128},
}
#: A mined negative is dropped when its cosine to the anchor reaches this share of the positive's (likely another
#: answer to the anchor, not a negative), by kind; see `mine_negatives`.
_NEGATIVE_SCREEN: dict[str, float | None] = {"embedder": None, "reranker": 0.95}


def model_dir(directory: Path, kind: str) -> Path:
    """``<kb>/models/<kind>``: the trained model (``model/``), its checkpoint and its report."""
    if kind not in KINDS:
        raise MedkbError(f"model kind {kind!r}: expected one of {', '.join(KINDS)}")
    return directory / MODELS_DIR / kind


def train_model(
    kind: str,
    directory: Path,
    options: TrainOptions | None = None,
    *,
    resume: bool = False,
    progress: bool = False,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train the ``kind`` model (``embedder`` or ``reranker``) on the knowledge base at ``directory``, save it in
    ``<kb>/models/<kind>/model``, record it in the manifest and return the report (also written to
    ``report.json``). ``resume`` continues an interrupted run with the same options."""
    options = options or TrainOptions()
    out = model_dir(directory, kind)
    filled = replace(options, **{k: v for k, v in _DEFAULTS[kind].items() if getattr(options, k) is None})
    # Checked before any reading or mining, so a bad option is refused at once, not minutes in.
    config = loop.LoopConfig(
        epochs=_given(filled.epochs),
        batch_size=_given(filled.batch_size),
        learning_rate=_given(filled.learning_rate),
        seed=filled.seed,
        threads=filled.threads,
        checkpoint_every=filled.checkpoint_every,
    )
    length = _given(filled.max_length)
    if length < 1:
        raise MedkbError(f"max_length={length}: expected a positive number of tokens")
    say = on_stage or (lambda message: log.info("%s", message))
    started = time.perf_counter()
    base = resolve_model(filled.base)
    with KnowledgeBase.open(directory) as kb:
        say(f"reading {directory}")
        corpus = read_corpus(directory)
        split = split_pairs(build_pairs(corpus), seed=filled.seed, max_train=filled.max_pairs)
        say(f"pairs: {split.counts()} from {len(corpus.chunks)} documents; mining hard negatives")
        split = _with_negatives(split, corpus, kb, kind, filled.seed, progress)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, kind, filled, resume)
    if kind == "embedder":
        task: Any = embedder_task(base, split.validation, max_seq_length=length, seed=filled.seed)
        examples: list[Any] = list(split.train)
        result = loop.train(task, examples, config, out, group=lambda p: p.doc_id, resume=resume, progress=progress)
    else:
        task = reranker_task(base, split.validation, max_length=length, seed=filled.seed)
        examples = reranker_examples(split.train)
        result = loop.train(task, examples, config, out, group=lambda e: e[3], resume=resume, progress=progress)
    _publish(out)
    say("scoring the untrained start and the trained model on the test split")
    test = _test_metrics(kind, base, out / MODEL, split, length, filled.seed)
    report = {
        "kind": kind,
        "path": str((out / MODEL).relative_to(directory)),
        "base": filled.base,
        "options": asdict(filled),
        "pairs": {**split.counts(), "examples": len(examples), "documents": len(split.documents)},
        "steps": result.steps,
        "resumed_at_step": result.resumed_at_step,
        "best_epoch": result.best_epoch,
        "loss": result.losses,
        "validation": result.evaluations,
        "metrics": {"validation": _best(result), "test": test["trained"], "test_untrained": test["untrained"]},
        "train_seconds": round(result.seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "threads": filled.threads,
    }
    (out / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plot_loss(result.losses, out / "loss.png")
    record(directory, kind, report)
    return report


def record(directory: Path, kind: str, report: dict[str, Any]) -> None:
    """Record a trained model in ``manifest.json`` (read afresh, so nothing another session saved is lost)."""
    manifest = Manifest.load(directory)
    manifest.trained[kind] = {
        "path": report["path"],
        "base": report["base"],
        "seed": report["options"]["seed"],
        "pairs": report["pairs"],
        "metrics": report["metrics"],
        "seconds": report["seconds"],
    }
    manifest.save(directory)


def _with_negatives(
    split: PairSplit, corpus: Any, kb: KnowledgeBase, kind: str, seed: int, progress: bool
) -> PairSplit:
    from tqdm import tqdm

    everything = [*split.train, *split.validation, *split.test]
    per = 1 if kind == "embedder" else 2
    with tqdm(total=len(everything), unit="pair", disable=not progress, desc="hard negatives") as bar:
        mined = mine_negatives(
            everything,
            corpus,
            kb.storage,
            kb.embedder,
            split.documents,
            per_retriever=per,
            seed=seed,
            max_relative=_NEGATIVE_SCREEN[kind],
            progress=bar.update,
        )
    n, v = len(split.train), len(split.validation)
    return PairSplit(mined[:n], mined[n : n + v], mined[n + v :], split.documents)


def _given(value: _T | None) -> _T:
    """An option after ``_DEFAULTS`` filled it in: every kind sets every option that may be left None."""
    if value is None:
        raise MedkbError("a training option has neither a value nor a default for its kind")
    return value


def _check_resume(out: Path, kind: str, options: TrainOptions, resume: bool) -> None:
    """Refuse to resume a checkpoint made with other options; remember the options of a new run."""
    recorded = out / "options.json"
    wanted = asdict(options)
    if resume and recorded.is_file() and json.loads(recorded.read_text(encoding="utf-8")) != wanted:
        raise MedkbError(
            f"{out}: the checkpoint was made with other options ({recorded.read_text(encoding='utf-8').strip()}); "
            f"run `medkb train {kind}` without --resume to start afresh"
        )
    recorded.write_text(json.dumps(wanted) + "\n", encoding="utf-8")


def _publish(out: Path) -> None:
    """Move the best epoch's weights to ``out/model``."""
    best = out / loop.BEST
    if not best.is_dir():
        raise MedkbError(f"{out}: training ended without a best model")
    target = out / MODEL
    old = out / (MODEL + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    shutil.copytree(best, target)
    shutil.rmtree(old, ignore_errors=True)


def _best(result: loop.LoopResult) -> dict[str, float]:
    return next((m for m in result.evaluations if int(m["epoch"]) == result.best_epoch), {})


def _test_metrics(kind: str, base: Path, trained: Path, split: PairSplit, length: int, seed: int) -> dict[str, Any]:
    import torch

    data = held_out(split.test, seed)
    scores = {}
    with torch.no_grad():
        for name, path in (("untrained", base), ("trained", trained)):
            if kind == "embedder":
                model = load_bi_encoder(path, length)
                scores[name] = dense_metrics(data, lambda texts, m=model: encode(m, texts))
            else:
                cross = load_cross_encoder(path, length)
                scores[name] = rerank_metrics(
                    data, lambda pairs, m=cross: m.predict(pairs, batch_size=32, show_progress_bar=False)
                )
    return scores


def _plot_loss(losses: list[float], path: Path) -> None:
    """A PNG of the loss curve, when matplotlib is installed (it is optional)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.plot(range(1, len(losses) + 1), losses)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
