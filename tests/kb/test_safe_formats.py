"""A knowledge base received from someone else can be opened safely: nothing in it is unpickled or executed, and
model weights load from safetensors (or GGUF) only."""

from __future__ import annotations

import ast
import json
import pickle
import shutil
from pathlib import Path

import pytest

from kb import Document, KnowledgeBase, Settings

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kb", "ingest", "retrieval", "generation", "corpora")
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "marshal", "shelve", "cloudpickle"}


class _Payload:
    """Unpickling this creates ``marker``: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _evil(marker: Path) -> bytes:
    return pickle.dumps(_Payload(marker))


def test_no_library_module_unpickles_or_evaluates() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module.split(".")[0]]
                if UNSAFE_MODULES & set(names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {names}")
                if isinstance(node, ast.Call):
                    func = ast.unparse(node.func)
                    if func in ("eval", "exec", "torch.load") or (
                        func.endswith("np.load") and any(k.arg == "allow_pickle" for k in node.keywords)
                    ):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {func}")
    assert offenders == []


def test_planted_pickles_in_a_knowledge_base_are_never_loaded(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    docs = [Document(text=f"the note {i} is about gout and urate.", source=f"mem#{i}") for i in range(5)]
    with KnowledgeBase.create(
        kb_dir, Settings(embedder="hashing", cross_lingual_embedder="hashing", index_type="hnsw")
    ) as kb:
        kb.ingest(docs)
        kb.reindex()
    marker = tmp_path / "pwned"
    vectors = kb_dir / "vectors"
    for name in ("flat-000000.faiss", "hnsw.faiss", "index.pkl", "vectors.faiss", "xl/flat-000000.faiss"):
        (vectors / name).write_bytes(_evil(marker))
    (kb_dir / "vectors.pkl").write_bytes(_evil(marker))
    with KnowledgeBase.open(kb_dir) as kb:
        hits = kb.search("gout urate", k=3)
        assert len(hits) == 3  # the flat shard was rebuilt from kb.sqlite; the HNSW file was refused
        assert kb.storage.cross_lingual is not None and kb.storage.cross_lingual.ntotal() == 5  # rebuilt too
        kb.check()
        kb.stats()
    assert not marker.exists()
    manifest = json.loads((kb_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["index_type"] == "hnsw"


def test_model_weights_in_pickle_format_are_refused(tmp_path: Path) -> None:
    from kb.core.model_registry import resolve_model
    from retrieval.embedders import SentenceTransformerEmbedder

    model = tmp_path / "model"
    shutil.copytree(resolve_model("all-MiniLM-L6-v2"), model)
    (model / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    (model / "pytorch_model.bin").write_bytes(_evil(marker))
    with pytest.raises(OSError, match="no file named model.safetensors"):
        SentenceTransformerEmbedder(str(model)).embed_query("aspirin")
    assert not marker.exists()
