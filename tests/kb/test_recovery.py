"""Recovering a knowledge base from a lost or altered manifest and from a vector-index write cut short, and the exit
statuses that tell "some inputs failed" from "error" (issue 23, items 4, 5 and 8). Hashing embedder, no models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase, Settings
from kb.cli import EXIT_ERROR, EXIT_FAILURES, main
from kb.core.errors import KnowledgeBaseExists, KnowledgeBaseNotFound
from kb.core.manifest import MANIFEST
from kb.storage.faiss_index import CROSS_LINGUAL_DIR, VECTOR_DIR
from tests.fakes import ingest_with_fakes


@pytest.fixture()
def built(tmp_path: Path, docs_dir: Path) -> Path:
    kb = tmp_path / "kb"
    assert ingest_with_fakes(kb, docs_dir, extra=("--chunk-tokens", "200")) == 0
    return kb


# -- item 4: a lost manifest -----------------------------------------------------------------------------------------


def test_a_lost_manifest_is_refused_by_ingest_not_started_over(
    built: Path, docs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (built / MANIFEST).unlink()
    more = tmp_path / "more"
    more.mkdir()
    (more / "gout.txt").write_text("Gout\n\nColchicine treats acute gout flares.\n")
    capsys.readouterr()
    assert ingest_with_fakes(built, more, extra=("--chunk-tokens", "100")) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "no manifest.json" in err and "medkb check --repair" in err
    assert not (built / MANIFEST).exists()
    with pytest.raises(KnowledgeBaseNotFound, match="check --repair"):
        KnowledgeBase.open(built)
    with pytest.raises(KnowledgeBaseExists, match="check --repair"):
        KnowledgeBase.create(built, Settings(embedder="hashing", chunk_tokens=100, cross_lingual_embedder=""))


def test_check_repair_restores_the_manifest_and_ingest_goes_on(
    built: Path, docs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = json.loads((built / MANIFEST).read_text())
    (built / MANIFEST).unlink()
    assert main(["check", "--kb", str(built)]) == EXIT_ERROR
    assert main(["check", "--repair", "--kb", str(built)]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "ok:" in out
    restored = json.loads((built / MANIFEST).read_text())
    assert restored["index_hash"] == original["index_hash"] and restored["embedder"] == original["embedder"]
    more = tmp_path / "more"
    more.mkdir()
    (more / "gout.txt").write_text("Gout\n\nColchicine treats acute gout flares.\n")
    assert (
        ingest_with_fakes(built, more, extra=("--chunk-tokens", "100")) == 0
    )  # the override is ignored, with a warning
    assert KnowledgeBase.open(built).manifest.settings.chunk_tokens == 200


def test_reindex_restores_the_manifest_too(built: Path) -> None:
    (built / MANIFEST).unlink()
    assert main(["reindex", "--kb", str(built), "--no-progress"]) == 0
    assert main(["check", "--kb", str(built)]) == 0


def test_a_manifest_claiming_another_index_is_refused_and_repairable(
    built: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest rewritten, hash and all, to claim another embedder: a clear error, not a FAISS assertion."""
    forged = KnowledgeBase.open(built).manifest
    forged.settings = Settings.from_dict({**forged.settings.to_dict(), "chunk_tokens": 100})
    forged.save(built)
    with pytest.raises(KnowledgeBaseNotFound, match="another index"):
        KnowledgeBase.open(built)
    assert main(["search", "asthma", "--kb", str(built)]) == EXIT_ERROR
    assert "another index" in capsys.readouterr().err
    assert main(["check", "--repair", "--kb", str(built)]) == 0
    assert KnowledgeBase.open(built).manifest.settings.chunk_tokens == 200


def test_a_manifest_of_another_dimension_is_refused(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((built / MANIFEST).read_text())
    data["embedder"]["dim"] = 512
    (built / MANIFEST).write_text(json.dumps(data))
    assert main(["search", "asthma", "--kb", str(built)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "another index" in err and "Traceback" not in err


def test_a_knowledge_base_from_before_the_copy_gets_one_when_opened(built: Path) -> None:
    import sqlite3

    with sqlite3.connect(built / "kb.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'manifest'")
    with KnowledgeBase.open(built) as kb:
        assert kb.storage.store.meta.manifest_record() is not None
    (built / MANIFEST).unlink()
    assert main(["check", "--repair", "--kb", str(built)]) == 0


def test_an_interrupted_create_leaves_nothing_in_the_way(tmp_path: Path) -> None:
    """Killed before manifest.json was written, nothing stored yet: the next create starts over, with its own
    settings."""
    kb = tmp_path / "kb"
    KnowledgeBase.create(kb, Settings(embedder="hashing", chunk_tokens=100, cross_lingual_embedder="")).close()
    (kb / MANIFEST).unlink()
    KnowledgeBase.create(kb, Settings(embedder="hashing", chunk_tokens=200, cross_lingual_embedder="")).close()
    with KnowledgeBase.open(kb) as opened:
        assert opened.manifest.settings.chunk_tokens == 200
        assert opened.storage.store.meta.manifest_record() is not None


# -- item 5: a vector-index write cut short ------------------------------------------------------------------------


def test_rerunning_an_ingest_finishes_an_interrupted_index_write(built: Path, docs_dir: Path) -> None:
    """What a kill between the SQLite commit and the shard write leaves: shards that miss the last batch, a
    half-written temporary file, and kb.sqlite recording the unsaved write."""
    kb = KnowledgeBase.open(built, Settings(embedder="hashing", cross_lingual_embedder=""))
    (docs_dir / "gout.txt").write_text("Gout\n\nColchicine treats acute gout flares.\n")
    kb.storage.flush = lambda: None  # type: ignore[method-assign]  # killed before saving
    kb.ingest([docs_dir])
    kb.storage.store.close()
    shard = built / VECTOR_DIR / "flat-000000.faiss"
    (shard.parent / (shard.name + ".tmp")).write_bytes(shard.read_bytes()[:100])
    assert main(["check", "--kb", str(built)]) == EXIT_FAILURES

    assert ingest_with_fakes(built, docs_dir) == 0  # nothing left to read, but the index write is finished
    assert not list((built / VECTOR_DIR).rglob("*.tmp"))
    assert main(["check", "--kb", str(built)]) == 0


def test_check_repair_fixes_a_stale_shard(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shard = built / VECTOR_DIR / "flat-000000.faiss"
    shard.unlink()
    assert main(["check", "--kb", str(built)]) == EXIT_FAILURES
    assert main(["check", "--repair", "--kb", str(built)]) == 0
    assert "repaired: vector shard 0" in capsys.readouterr().out
    assert shard.is_file()


def test_the_unsaved_write_marker_is_cleared_once_saved(built: Path, docs_dir: Path) -> None:
    with KnowledgeBase.open(built, Settings(embedder="hashing", cross_lingual_embedder="")) as kb:
        assert kb.storage.store.meta.index_pending() == 0
        (docs_dir / "gout.txt").write_text("Gout\n\nColchicine treats acute gout flares.\n")
        kb.ingest([docs_dir])
        assert kb.storage.store.meta.index_pending() == 0
        assert kb.storage.store.xvectors.add([], np.zeros((0, 32), np.float32)).size == 0  # nothing changed
        assert kb.storage.store.meta.index_pending() == 0


def test_a_cross_lingual_shard_cut_short_is_repaired(tmp_path: Path, docs_dir: Path) -> None:
    from retrieval.embedders import HashingEmbedder

    def multilingual() -> HashingEmbedder:
        encoder = HashingEmbedder(dim=32)
        encoder.name = "hashing-xl"
        return encoder

    settings = Settings(embedder="hashing", cross_lingual_embedder="")
    with KnowledgeBase.create(tmp_path / "kb", settings, cross_embedder=multilingual()) as kb:
        kb.ingest([docs_dir])
    xl = tmp_path / "kb" / CROSS_LINGUAL_DIR
    shard = xl / "flat-000000.faiss"
    shutil.copy(shard, xl / "flat-000000.faiss.tmp")
    shard.unlink()
    with KnowledgeBase.open(tmp_path / "kb", settings, cross_embedder=multilingual()) as kb:
        assert kb.check()
        kb.ingest([docs_dir])
        assert kb.check() == []
    assert shard.is_file() and not list(xl.glob("*.tmp"))


# -- item 8: exit statuses ---------------------------------------------------------------------------------------


def test_exit_statuses_tell_failed_inputs_from_errors(
    tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path / "kb"
    (docs_dir / "scan.pdf").write_bytes(b"%PDF-1.4 garbage")
    assert ingest_with_fakes(kb, docs_dir) == EXIT_FAILURES == 1
    assert main(["search", "asthma", "--kb", str(tmp_path / "nowhere")]) == EXIT_ERROR == 2

    def crash(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(KnowledgeBase, "search", crash)
    capsys.readouterr()
    assert main(["search", "asthma", "--kb", str(kb)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "ZeroDivisionError: boom" in err and "a bug in medkb" in err


def test_unsupported_files_of_a_walked_folder_are_skipped(
    tmp_path: Path, docs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (docs_dir / "README").write_text("how this folder was made\n")
    (docs_dir / "site.conf").write_text("key = value\n")
    kb = tmp_path / "kb"
    assert ingest_with_fakes(kb, docs_dir) == 0
    captured = capsys.readouterr()
    assert "2 skipped (unsupported type)" in captured.out and "0 failed" in captured.out
    assert f"skipped: {docs_dir / 'README'}" in captured.err
    assert ingest_with_fakes(kb, docs_dir / "site.conf") == EXIT_FAILURES  # named explicitly: a failure
    assert "site.conf" in capsys.readouterr().err
