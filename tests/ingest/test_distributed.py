"""Distributed ingestion on a Dask LocalCluster stores exactly what a local run stores.

The cluster's workers are separate processes on 127.0.0.1; they make the real bundled encoders (all-MiniLM-L6-v2
and the cross-lingual USEM) from their names, as workers on other machines would.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.chunking import Chunker
from ingest.distributed import DASK_EXTRA, DaskIngestor, EmbedderRecipe, connect
from ingest.pipeline import IngestAborted
from kb import KnowledgeBase, Settings
from kb.core.errors import MedkbError
from kb.storage.store import XVECTOR_TABLE
from retrieval.embedders import make_embedder
from tests.fakes import FAKE_MODELS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "corpora" / "sample"


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a two-worker LocalCluster (one thread each, separate processes), for the whole module."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def _inputs(root: Path) -> list[Path]:
    """A copy of the sample corpus, a directory of awkward files and a path that does not exist, all relative to
    ``root`` (the current directory; the workers have another one)."""
    shutil.copytree(SAMPLE, root / "sample")
    extra = root / "extra"
    extra.mkdir()
    (extra / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    (extra / "empty.txt").write_text("", encoding="utf-8")
    (extra / "papers.jsonl").write_text(
        '{"text": "Amoxicillin is a penicillin antibiotic.", "title": "Amoxicillin", "pmid": "111"}\n'
        "{not json\n"
        '{"title": "no text here"}\n'
        '{"text": "Warfarin bleeding risk rises with NSAIDs such as ibuprofen.", "title": "Warfarin and NSAIDs"}\n',
        encoding="utf-8",
    )
    shutil.copy(SAMPLE / "metformin.md", extra / "metformin-copy.md")  # stored once: same content hash
    return [Path("sample"), Path("extra"), Path("missing")]


def _snapshot(kb_dir: Path) -> dict[str, Any]:
    """Everything ingestion stored, from kb.sqlite, in a comparable form; vectors by chunk id."""
    db = sqlite3.connect(f"file:{kb_dir / 'kb.sqlite'}?mode=ro", uri=True)
    try:
        vectors = {cid: np.frombuffer(v, np.float32) for cid, v in db.execute("SELECT id, embedding FROM chunks")}
        rows = db.execute(f"SELECT c.id, x.embedding FROM chunks c JOIN {XVECTOR_TABLE} x ON x.rowid = c.rowid")
        xvectors = {cid: np.frombuffer(v, np.float32) for cid, v in rows}
        return {
            "documents": db.execute(
                "SELECT id, source, title, text, sections, metadata, published, origin, version FROM documents "
                "ORDER BY id"
            ).fetchall(),
            "chunks": db.execute(
                "SELECT id, doc_id, ord, section, start, end, page, text, token_count FROM chunks ORDER BY id"
            ).fetchall(),
            "failures": db.execute("SELECT source, reason FROM failures ORDER BY source").fetchall(),
            "files": db.execute("SELECT path, size, mtime_ns, sha256, records FROM files ORDER BY path").fetchall(),
            "vectors": vectors,
            "xvectors": xvectors,
        }
    finally:
        db.close()


def _assert_same(local: dict[str, Any], dask: dict[str, Any]) -> None:
    for table in ("documents", "chunks", "failures", "files"):
        assert dask[table] == local[table], table
    for kind in ("vectors", "xvectors"):
        assert dask[kind].keys() == local[kind].keys(), kind
        for chunk_id, vector in local[kind].items():
            np.testing.assert_allclose(dask[kind][chunk_id], vector, atol=1e-5, err_msg=f"{kind} of {chunk_id}")


def _embedding_here_fails(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make this process's encoders refuse to embed documents: the workers must have done it."""

    def refuse(texts: object) -> None:
        raise AssertionError("the coordinator embedded documents; the workers should have")

    for embedder in (kb.embedder, kb.cross_embedder):
        monkeypatch.setattr(embedder, "embed_documents", refuse)


@pytest.mark.e2e
def test_dask_ingest_stores_what_a_local_run_stores(
    tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inputs = _inputs(tmp_path)
    with KnowledgeBase.create(tmp_path / "local") as local, KnowledgeBase.create(tmp_path / "dask") as remote:
        _embedding_here_fails(remote, monkeypatch)
        expected = local.ingest(inputs)
        got = remote.ingest(inputs, dask_scheduler=scheduler)
        assert got.failed == expected.failed >= 5  # pdf, empty file, two bad lines, missing path
        assert got.failures == expected.failures
        assert (got.added, got.unchanged, got.duplicates, got.chunks, got.files_read) == (
            expected.added,
            expected.unchanged,
            expected.duplicates,
            expected.chunks,
            expected.files_read,
        )
        assert got.duplicates >= 1  # the copy of metformin.md
        assert remote.check() == []
        stored = _snapshot(tmp_path / "dask")
        _assert_same(_snapshot(tmp_path / "local"), stored)
        assert "sample/metformin.md" in {row[1] for row in stored["documents"]}  # named as given, not absolute

        again = remote.ingest(inputs, dask_scheduler=scheduler)  # nothing changed: nothing sent, nothing stored
        assert (again.files_read, again.chunks, again.added) == (0, 0, 0)
        assert again.files_unchanged == expected.files_read

        # A changed file is read again through the cluster: its new records replace the old, the rest is deleted.
        papers = tmp_path / "extra" / "papers.jsonl"
        papers.write_text('{"text": "Amoxicillin may cause a rash.", "title": "Amoxicillin", "pmid": "111"}\n')
        assert local.ingest(inputs).files_read == remote.ingest(inputs, dask_scheduler=scheduler).files_read == 1
        assert remote.check() == []
    _assert_same(_snapshot(tmp_path / "local"), _snapshot(tmp_path / "dask"))


@pytest.mark.e2e
def test_deidentified_dask_ingest_matches_local(
    tmp_path: Path, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = tmp_path / "notes" / "note.txt"
    note.parent.mkdir()
    note.write_text("Seen by Dr. Okonkwo on 03/14/2023, MRN 00482913. Metformin 500 mg twice daily.\n")
    with KnowledgeBase.create(tmp_path / "local") as local, KnowledgeBase.create(tmp_path / "dask") as remote:
        _embedding_here_fails(remote, monkeypatch)
        local.ingest([note.parent], deidentify=True)
        remote.ingest([note.parent], deidentify=True, dask_scheduler=scheduler)
    got = _snapshot(tmp_path / "dask")
    _assert_same(_snapshot(tmp_path / "local"), got)
    assert "Okonkwo" not in got["documents"][0][3] and "[NAME]" in got["documents"][0][3]


def test_a_worker_without_the_model_stops_the_run(tmp_path: Path, docs_dir: Path, scheduler: str) -> None:
    """Not the files' fault: nothing is recorded as failed, and a rerun with working workers does everything."""
    with KnowledgeBase.create(tmp_path / "kb", Settings(embedder="hashing", cross_lingual_embedder="")) as kb:
        broken = EmbedderRecipe("broken", partial(make_embedder, "no_such_module:Embedder"))
        ingestor = DaskIngestor(
            kb.storage,
            kb.embedder,
            Chunker(kb.embedder.count_tokens, 200, 32),
            scheduler=scheduler,
            worker_embedder=broken,
            chunk_tokens=200,
            chunk_overlap=32,
        )
        with pytest.raises(IngestAborted, match="a Dask worker failed.*no_such_module"):
            ingestor.run([docs_dir])
        assert kb.failures() == []
        report = kb.ingest([docs_dir], dask_scheduler=scheduler)
        assert (report.files_read, report.failed) == (3, 0) and report.added == 4


def test_unreachable_scheduler_is_a_clear_error() -> None:
    pytest.importorskip("distributed")
    with pytest.raises(MedkbError, match=r"tcp://127\.0\.0\.1:9"):
        connect("tcp://127.0.0.1:9", timeout=1)


def test_missing_dask_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` raise ImportError
    with pytest.raises(MedkbError) as raised:
        connect("tcp://127.0.0.1:8786")
    assert DASK_EXTRA in str(raised.value) and DASK_EXTRA == "pip install 'medkb[dask]'"


def test_cli_reports_an_unreachable_scheduler(
    tmp_path: Path, docs_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed")
    import ingest.distributed
    from kb.cli import EXIT_ERROR, main

    monkeypatch.setattr(ingest.distributed, "CONNECT_TIMEOUT_S", 1.0)
    argv = [
        "ingest",
        str(docs_dir),
        "--kb",
        str(tmp_path / "kb"),
        *FAKE_MODELS,
        "--no-progress",
    ]
    assert main([*argv, "--dask-scheduler", "tcp://127.0.0.1:9"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("medkb: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
