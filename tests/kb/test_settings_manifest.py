from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.core.errors import KnowledgeBaseNotFound, MedkbError, SettingsMismatch
from kb.core.manifest import Manifest
from kb.core.settings import Settings


def test_index_hash_depends_only_on_index_shaping_settings() -> None:
    base = Settings()
    assert base.index_hash() == Settings(top_k=9, generator="echo", min_score=0.9).index_hash()
    assert base.index_hash() != Settings(chunk_tokens=128).index_hash()
    assert base.index_hash() != Settings(embedder="hashing", cross_lingual_embedder="hashing").index_hash()


@pytest.mark.parametrize(
    "kwargs", [{"chunk_tokens": 8}, {"chunk_overlap": 300}, {"chunk_overlap": -1}, {"top_k": 0}, {"batch_size": 0}]
)
def test_bad_settings_name_the_value(kwargs: dict[str, int]) -> None:
    with pytest.raises(MedkbError, match=next(iter(kwargs))):
        Settings(**kwargs)


def test_manifest_round_trip_and_mismatch(tmp_path: Path) -> None:
    Manifest(settings=Settings(embedder="hashing", cross_lingual_embedder="hashing"), embedder_dim=64).save(tmp_path)
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data["embedder"] == {"name": "hashing", "dim": 64}
    assert data["chunking"]["chunk_tokens"] == 200
    loaded = Manifest.load(tmp_path)
    loaded.check_compatible(Settings(embedder="hashing", cross_lingual_embedder="hashing", top_k=3))
    with pytest.raises(SettingsMismatch, match="chunk_tokens: knowledge base has 200, requested 100"):
        loaded.check_compatible(Settings(embedder="hashing", cross_lingual_embedder="hashing", chunk_tokens=100))


def test_hand_edited_manifest_is_refused(tmp_path: Path) -> None:
    Manifest(settings=Settings(), embedder_dim=384).save(tmp_path)
    data = json.loads((tmp_path / "manifest.json").read_text())
    data["settings"]["chunk_tokens"] = 50
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(KnowledgeBaseNotFound, match="index_hash"):
        Manifest.load(tmp_path)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseNotFound, match="not a medkb knowledge base"):
        Manifest.load(tmp_path)
