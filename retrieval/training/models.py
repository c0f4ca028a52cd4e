"""The two trainable models: a bi-encoder fine-tuned with in-batch negatives, and a cross-encoder reranker.

Both start from the same local sentence-transformers weights (the bundled all-MiniLM-L6-v2 by default; never a
hub). The embedder learns with MultipleNegativesRankingLoss over (anchor, positive, hard negative) columns: every
other positive and negative of the batch is a negative too. The reranker is a cross-encoder (one logit) over
(anchor, passage), trained with binary cross-entropy on positives (1) and mined hard negatives (0).

Example::

    task = embedder_task(base_dir, split.validation, max_seq_length=128)
    result = loop.train(task, split.train, LoopConfig(), out, group=lambda p: p.doc_id)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.training.loop import TrainingTask
from retrieval.training.pairs import TrainingPair
from retrieval.training.validation import dense_metrics, held_out, rerank_metrics

log = logging.getLogger(__name__)

#: Modules that ``modules.json`` names by their classic ``sentence_transformers.models`` path.
_CLASSIC_MODULES = ("Transformer", "Pooling", "Normalize", "Dense")
_MEAN_POOLING = {
    "pooling_mode_cls_token": False,
    "pooling_mode_mean_tokens": True,
    "pooling_mode_max_tokens": False,
    "pooling_mode_mean_sqrt_len_tokens": False,
}
#: The metric on the validation split that picks the best epoch.
SELECTION_METRIC = "ndcg@10"


def load_bi_encoder(path: Path, max_seq_length: int | None = None) -> Any:
    """A sentence-transformers bi-encoder from a local directory, on the CPU."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(path), device="cpu", local_files_only=True, model_kwargs={"use_safetensors": True})
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def load_cross_encoder(path: Path, max_length: int | None = None) -> Any:
    """A one-logit sentence-transformers cross-encoder from a local directory (a bi-encoder's weights give a new,
    untrained head), on the CPU."""
    import transformers
    from sentence_transformers.cross_encoder import CrossEncoder

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # a bi-encoder start reports its new head as "missing" weights
    try:
        model = CrossEncoder(str(path), num_labels=1, device="cpu", local_files_only=True, max_length=max_length)
    finally:
        transformers.logging.set_verbosity(verbosity)
    return model


def save_bi_encoder(model: Any, path: Path, max_seq_length: int) -> None:
    """Save a bi-encoder as a sentence-transformers directory in the classic layout (module paths such as
    ``sentence_transformers.models.Pooling``, ``pooling_mode_mean_tokens``, ``max_seq_length``), which every
    sentence-transformers version and medkb's ONNX runner (`retrieval.onnx_embedder`) read; sentence-transformers 6
    writes a newer layout. ``max_seq_length`` is the token limit the saved model serves with."""
    model.save(str(path))
    modules_file = path / "modules.json"
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    for module in modules:
        name = str(module.get("type", "")).rsplit(".", 1)[-1]
        if name in _CLASSIC_MODULES:
            module["type"] = f"sentence_transformers.models.{name}"
        config_file = path / str(module.get("path", "")) / "config.json"
        if name == "Pooling" and config_file.is_file():
            config = json.loads(config_file.read_text(encoding="utf-8"))
            if config.get("pooling_mode") == "mean":
                classic = {"word_embedding_dimension": config.get("embedding_dimension"), **_MEAN_POOLING}
                config_file.write_text(json.dumps(classic, indent=2) + "\n", encoding="utf-8")
    modules_file.write_text(json.dumps(modules, indent=2) + "\n", encoding="utf-8")
    classic_st = {"max_seq_length": max_seq_length, "do_lower_case": False}
    (path / "sentence_bert_config.json").write_text(json.dumps(classic_st, indent=2) + "\n", encoding="utf-8")


def encode(model: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalised float32 vectors of ``texts`` by a bi-encoder."""
    return np.asarray(
        model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        ),
        dtype=np.float32,
    )


def embedder_task(
    base: Path, validation: Sequence[TrainingPair], *, max_seq_length: int = 128, seed: int = 42
) -> TrainingTask[TrainingPair]:
    """The bi-encoder at ``base`` with its loss (MultipleNegativesRankingLoss over anchor, positive and the first
    hard negative when a batch has one for every pair) and its validation (dense ranking of held-out passages)."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model = load_bi_encoder(base)
    serving_length = int(model.max_seq_length)
    model.max_seq_length = max_seq_length
    mnrl = MultipleNegativesRankingLoss(model)
    data = held_out(validation, seed)

    def loss(batch: Sequence[TrainingPair]) -> Any:
        columns = [[p.anchor for p in batch], [p.positive for p in batch]]
        if all(p.negatives for p in batch):
            columns.append([p.negatives[-1] for p in batch])
        return mnrl([model.preprocess(column) for column in columns], torch.zeros(len(batch)))

    def evaluate() -> dict[str, float]:
        with torch.no_grad():
            return dense_metrics(data, lambda texts: encode(model, texts))

    def save(path: Path) -> None:
        save_bi_encoder(model, path, serving_length)

    return TrainingTask(model, loss, evaluate, SELECTION_METRIC, save)


def reranker_examples(pairs: Sequence[TrainingPair]) -> list[tuple[str, str, float, str]]:
    """(anchor, passage, label, document id) examples: each pair's positive (1) and each of its negatives (0)."""
    out = []
    for pair in pairs:
        out.append((pair.anchor, pair.positive, 1.0, pair.doc_id))
        out.extend((pair.anchor, negative, 0.0, pair.doc_id) for negative in pair.negatives)
    return out


def reranker_task(
    base: Path, validation: Sequence[TrainingPair], *, max_length: int = 256, seed: int = 42
) -> TrainingTask[tuple[str, str, float, str]]:
    """A cross-encoder initialised from ``base`` with its loss (binary cross-entropy on the logit) and its
    validation (each held-out anchor's candidates re-ranked)."""
    import torch
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    model = load_cross_encoder(base, max_length)
    bce = BinaryCrossEntropyLoss(model)
    data = held_out(validation, seed)

    def loss(batch: Sequence[tuple[str, str, float, str]]) -> Any:
        labels = torch.tensor([label for _, _, label, _ in batch])
        return bce([[a for a, _, _, _ in batch], [p for _, p, _, _ in batch]], labels)

    def evaluate() -> dict[str, float]:
        return rerank_metrics(data, lambda pairs: model.predict(pairs, batch_size=32, show_progress_bar=False))

    return TrainingTask(model, loss, evaluate, SELECTION_METRIC, lambda path: model.save(str(path)))
