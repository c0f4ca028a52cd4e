"""A sentence-transformers bi-encoder run by ONNX Runtime instead of PyTorch: same weights, same vectors.

The model's BERT encoder is exported once to ``<cache>/onnx/<name>/model.onnx`` (the only step that imports
torch); later processes load that file with onnxruntime and tokenise with the ``tokenizers`` library, so
embedding needs neither torch nor transformers. Pooling (mean over the attention mask) and L2 normalisation
happen in numpy, exactly as sentence-transformers does them.

Example::

    from retrieval.onnx_embedder import OnnxEmbedder

    emb = OnnxEmbedder("all-MiniLM-L6-v2")
    vectors = emb.embed_documents(["Metformin lowers glucose.", "Asthma is diagnosed by spirometry."])
    vectors.shape  # (2, 384)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.errors import MedkbError, ModelNotAvailable
from kb.core.model_registry import file_sha256

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
#: Written next to the ONNX file after it is complete; a mismatch with the current source means re-export.
EXPORT_MANIFEST = "export.json"
#: Bump when the export recipe changes, so files written by an older recipe are redone.
EXPORT_FORMAT = 1
_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_SUPPORTED_MODEL_TYPES = ("bert",)


@dataclass(frozen=True)
class _Source:
    """The parts of a sentence-transformers directory that this embedder reads."""

    transformer_dir: Path
    weights: Path
    max_seq_length: int
    dim: int


@dataclass
class _Runtime:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer, truncating to max_seq_length
    counter: Any  # tokenizers.Tokenizer, no truncation (for count_tokens)
    pad_id: int
    dim: int


class OnnxEmbedder:
    """A mean-pooling BERT-style sentence-transformers model (registry name or directory) run by onnxruntime.

    Construction is free; the first call resolves the model, exports it to ONNX if the cache lacks a current
    export (a few seconds, needs torch and the ``onnx`` package), and opens the session. Texts are sorted by
    token length and padded per batch, so a batch of short passages costs little.
    """

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        cache_dir: Path | None = None,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise MedkbError(f"batch_size must be a positive integer, got {batch_size!r}")
        if threads is not None and threads < 1:
            raise MedkbError(f"threads must be a positive integer or None, got {threads!r}")
        from kb.core.model_registry import get_spec

        try:
            self.name = get_spec(model).name
            self._folder = self.name
        except ModelNotAvailable:
            self.name = model  # a local directory; resolve_model checks it on first use
            self._folder = _folder_for_directory(model)
        self._model = model
        self.batch_size = batch_size
        self.threads = threads
        self._cache_dir = cache_dir
        self._runtime: _Runtime | None = None

    @property
    def dim(self) -> int:
        return self._load().dim

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` without special tokens and without truncation."""
        return len(self._load().counter.encode(text, add_special_tokens=False).ids)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order given."""
        rt = self._load()
        out = np.zeros((len(texts), rt.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = rt.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")  # longest first, like sentence-transformers
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            ids = np.full((len(rows), width), rt.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                enc = encodings[row]
                n = len(enc.ids)
                ids[i, :n] = enc.ids
                mask[i, :n] = 1
                types[i, :n] = enc.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = rt.session.run(None, feeds)[0]
            out[rows] = _mean_pool_normalise(hidden, mask)
        return out

    def _load(self) -> _Runtime:
        if self._runtime is None:
            from kb.core.model_registry import default_cache_dir, resolve_model

            model_dir = resolve_model(self._model, cache_dir=self._cache_dir)
            source = _read_source(model_dir)
            onnx_path = _ensure_export(source, (self._cache_dir or default_cache_dir()) / "onnx" / self._folder)
            self._runtime = _open(source, onnx_path, self.threads)
            log.info("loaded ONNX embedder %s from %s", self.name, onnx_path)
        return self._runtime


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' mean pooling (sum over unmasked tokens / their count) then L2 normalisation."""
    weights = mask.astype(np.float32)
    summed = np.einsum("bsh,bs->bh", hidden, weights)
    pooled = summed / np.clip(weights.sum(axis=1, keepdims=True), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def _folder_for_directory(path: str) -> str:
    """A cache folder name for a user's model directory: its base name plus a hash of its absolute path."""
    resolved = str(Path(path).expanduser().resolve())
    return f"{Path(resolved).name}-{hashlib.sha256(resolved.encode()).hexdigest()[:10]}"


def _read_source(model_dir: Path) -> _Source:
    """Check that ``model_dir`` is Transformer + mean Pooling (+ Normalize) and find its parts."""
    unsupported = "OnnxEmbedder supports mean-pooling BERT-style sentence-transformers models only"
    modules_file = model_dir / "modules.json"
    if not modules_file.is_file():
        raise MedkbError(f"{model_dir}: no modules.json; {unsupported}")
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    types = [m.get("type", "") for m in modules]
    if types not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
        raise MedkbError(f"{model_dir}: modules {types}; {unsupported} (Transformer, Pooling, optional Normalize)")
    pooling_file = model_dir / modules[1].get("path", "") / "config.json"
    pooling = json.loads(pooling_file.read_text(encoding="utf-8")) if pooling_file.is_file() else {}
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode_") and v is True)
    if modes != ["pooling_mode_mean_tokens"]:
        raise MedkbError(f"{model_dir}: pooling {modes or 'unknown'}; {unsupported}")
    transformer_dir = model_dir / modules[0].get("path", "")
    config_file = transformer_dir / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    if config.get("model_type") not in _SUPPORTED_MODEL_TYPES:
        raise MedkbError(
            f"{model_dir}: model_type {config.get('model_type')!r}, expected one of {_SUPPORTED_MODEL_TYPES}; "
            f"{unsupported}"
        )
    for required in ("tokenizer.json", "model.safetensors"):
        if not (transformer_dir / required).is_file():
            raise MedkbError(f"{transformer_dir}: missing {required}; {unsupported} with a fast tokenizer")
    st_config_file = transformer_dir / "sentence_bert_config.json"
    st_config = json.loads(st_config_file.read_text(encoding="utf-8")) if st_config_file.is_file() else {}
    max_seq_length = int(st_config.get("max_seq_length") or 512)
    return _Source(transformer_dir, transformer_dir / "model.safetensors", max_seq_length, int(config["hidden_size"]))


def _ensure_export(source: _Source, folder: Path) -> Path:
    """``folder/model.onnx``, exported from ``source`` unless a current export is already there.

    An export is current when its manifest records the same weights sha256 and recipe version. Files appear
    atomically (temp file + ``os.replace``), so a killed export leaves nothing half-written.
    """
    target = folder / MODEL_FILE
    manifest_path = folder / EXPORT_MANIFEST
    wanted = {"format": EXPORT_FORMAT, "source_sha256": file_sha256(source.weights)}
    if target.is_file() and manifest_path.is_file():
        try:
            recorded = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = {}
        if all(recorded.get(k) == v for k, v in wanted.items()):
            return target
        log.info("ONNX export in %s is stale (source or recipe changed); exporting again", folder)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".model.", suffix=".onnx.tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        versions = _export(source, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    manifest = {**wanted, "source": str(source.transformer_dir), "opset": _OPSET, **versions}
    _write_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    log.info("exported %s to %s in %.1f s", source.transformer_dir, target, time.perf_counter() - started)
    return target


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _export(source: _Source, path: Path) -> dict[str, str]:
    """Write the encoder (inputs -> last_hidden_state) to ``path`` as fp32 ONNX and check it against torch."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it; importing here gives a clear message)
        import torch
        from transformers import AutoModel
    except ImportError as exc:
        raise MedkbError(f"exporting to ONNX needs torch, transformers and onnx ({exc}); pip install onnx") from exc

    # Eager attention traces to plain MatMul/Softmax. ORT's offline BERT fusions (onnxruntime.transformers
    # .optimizer) were measured here and left out: 5-9% slower than ORT_ENABLE_ALL on the plain graph.
    model = AutoModel.from_pretrained(
        source.transformer_dir,
        attn_implementation="eager",
        dtype=torch.float32,
        local_files_only=True,
        use_safetensors=True,  # never unpickle weights
    ).eval()

    class _Encoder(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    # Trace with padding present, so the attention mask cannot be optimised away as all-ones.
    example = _example_inputs()
    check = _example_inputs(batch=3, length=37)
    dynamic = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")}
    with torch.no_grad(), warnings.catch_warnings():
        # Known and harmless here, checked numerically below: the legacy exporter's deprecation notice; a traced
        # `padding_length > 0` test that is always false (the mask is as long as the ids); aten::index over
        # non-negative arange indices.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        # Reference first: the exporter restores the wrapper's train/eval mode afterwards, so a wrapper left
        # in training mode would switch dropout on in the model it wraps.
        expected = model(**{k: torch.from_numpy(v) for k, v in check.items()}).last_hidden_state.numpy()
        torch.onnx.export(
            _Encoder(model).eval(),
            tuple(torch.from_numpy(example[name]) for name in _INPUTS),
            str(path),
            dynamo=False,
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=dynamic,
            opset_version=_OPSET,
            do_constant_folding=True,
        )
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before onnxruntime is imported
    import onnxruntime as ort  # type: ignore[import-untyped]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, check)[0]
    keep = check["attention_mask"].astype(bool)
    error = float(np.abs(got[keep] - expected[keep]).max())
    if error > 1e-3:
        raise MedkbError(f"ONNX export of {source.transformer_dir} differs from torch by {error:.2e} (max abs)")
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__, "onnxruntime": ort.__version__}


def _example_inputs(batch: int = 2, length: int = 16) -> dict[str, np.ndarray]:
    """Token ids with a padded tail on every row but the first."""
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 5000, size=(batch, length), dtype=np.int64)
    mask = np.ones((batch, length), dtype=np.int64)
    for row in range(1, batch):
        mask[row, length - 3 * row :] = 0
    ids[mask == 0] = 0
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _open(source: _Source, onnx_path: Path, threads: int | None) -> _Runtime:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")  # before onnxruntime is imported
    import onnxruntime as ort  # type: ignore[import-untyped]
    from tokenizers import Tokenizer

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or _cpu_count()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    names = sorted(i.name for i in session.get_inputs())
    if names != sorted(_INPUTS):
        raise MedkbError(f"{onnx_path}: inputs {names}, expected {sorted(_INPUTS)}; delete it to export again")

    tokenizer_file = str(source.transformer_dir / "tokenizer.json")
    tokenizer = Tokenizer.from_file(tokenizer_file)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=source.max_seq_length)
    counter = Tokenizer.from_file(tokenizer_file)
    counter.no_padding()
    counter.no_truncation()
    pad_id = tokenizer.token_to_id("[PAD]")
    return _Runtime(session, tokenizer, counter, 0 if pad_id is None else int(pad_id), source.dim)


def _cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1
