"""Embedders: the real sentence-transformers one, a deterministic fake for tests, and a registry by name.

>>> emb = make_embedder("hashing")
>>> emb.embed_query("metformin").shape
(64,)
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.errors import MedkbError
from kb.core.protocols import Embedder
from retrieval.usem_embedder import NAME as USEM_NAME
from retrieval.usem_embedder import UsemEmbedder

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)


class SentenceTransformerEmbedder:
    """A sentence-transformers bi-encoder loaded from local weights (registry name or directory).

    The model loads on first use; construction is free.
    """

    def __init__(self, model: str, *, batch_size: int = 64, device: str = "cpu") -> None:
        self.name = model
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            from kb.core.model_registry import resolve_model

            path = resolve_model(self.name)
            log.info("loading embedder %s from %s", self.name, path)
            self._model = SentenceTransformer(
                str(path), device=self.device, local_files_only=True, model_kwargs={"use_safetensors": True}
            )
        return self._model

    @property
    def dim(self) -> int:
        return int(self._load().get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self._load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        tokenizer = self._load().tokenizer
        return len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class HashingEmbedder:
    """Deterministic bag-of-words hashing embedder: no model, no randomness. For tests and smoke runs only;
    it matches words, not meaning."""

    def __init__(self, dim: int = 64) -> None:
        self.name = "hashing"
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dim, dtype=np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest[:4], "little") % self._dim] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


#: Built-in embedders by name; anything else is a registry model name or a local directory.
EMBEDDERS: dict[str, Callable[..., Embedder]] = {"hashing": HashingEmbedder, USEM_NAME: UsemEmbedder}


def make_embedder(name: str, *, batch_size: int = 64, backend: str = "onnx") -> Embedder:
    """An embedder for ``name``: a built-in (``EMBEDDERS``: "hashing", "usem-multilingual-v3"), a dotted path
    ``package.module:Class`` to a user's own, or a model registry name / local directory for sentence-transformers,
    run by ONNX Runtime (``backend="onnx"``, the default) or PyTorch (``backend="torch"``)."""
    if name in EMBEDDERS:
        return EMBEDDERS[name]()
    if ":" in name and not Path(name).exists():
        module_name, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise MedkbError(f"embedder {name!r}: cannot import {attr} from {module_name} ({exc})") from exc
        embedder = factory()
        if not isinstance(embedder, Embedder):
            raise MedkbError(f"embedder {name!r}: {attr} does not implement the Embedder protocol")
        return embedder
    if backend == "onnx":
        from retrieval.onnx_embedder import OnnxEmbedder

        return OnnxEmbedder(name, batch_size=min(batch_size, 16))
    return SentenceTransformerEmbedder(name, batch_size=batch_size)
