"""What the command-line tests pass to make a new knowledge base with the fakes: the hashing embedder for the main
and the cross-lingual index, so that no bundled model loads (``make test-fast`` refuses one)."""

from __future__ import annotations

from pathlib import Path

from kb.cli import main

FAKE_MODELS = ("--embedder", "hashing", "--cross-lingual-embedder", "hashing")


def ingest_with_fakes(kb: Path, *paths: Path, extra: tuple[str, ...] = ()) -> int:
    """``medkb ingest PATHS --kb KB`` with the fakes and no progress bar; its exit status."""
    return main(["ingest", *map(str, paths), "--kb", str(kb), *FAKE_MODELS, "--no-progress", *extra])
