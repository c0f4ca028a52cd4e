"""``manifest.json``: what a knowledge base directory holds and how its index was shaped."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kb.core.errors import KnowledgeBaseNotFound, SettingsMismatch
from kb.core.settings import Settings

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: What a chunk's embedding text holds: 1 = document title + text; 2 = title and section heading + text. A
#: knowledge base keeps the version it was created with, so its vectors are never a mix of the two.
EMBEDDING_TEXT_VERSION = 2


@dataclass
class Manifest:
    settings: Settings
    embedder_dim: int
    format_version: int = FORMAT_VERSION
    embedding_text: int = EMBEDDING_TEXT_VERSION
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    #: Models trained on this knowledge base's own text (``medkb train``), by kind (``embedder``, ``reranker``):
    #: ``path`` (relative to the directory), ``base``, ``seed``, ``pairs``, ``metrics``, ``seconds``. They do not
    #: shape the index, so they are not hashed into it.
    trained: dict[str, dict[str, Any]] = field(default_factory=dict)

    def trained_path(self, directory: Path, kind: str) -> Path | None:
        """The directory of the trained model of ``kind`` (``embedder`` or ``reranker``), or None if none is
        recorded."""
        entry = self.trained.get(kind)
        return directory / entry["path"] if entry and entry.get("path") else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "created": self.created,
            "embedder": {"name": self.settings.embedder, "dim": self.embedder_dim},
            "chunking": {
                "chunk_tokens": self.settings.chunk_tokens,
                "chunk_overlap": self.settings.chunk_overlap,
                "chunker_version": self.settings.index_shape()["chunker_version"],
                "embedding_text": self.embedding_text,
            },
            "index_hash": self.settings.index_hash(),
            "settings": self.settings.to_dict(),
            **({"trained": self.trained} if self.trained else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, directory: Path) -> None:
        tmp = directory / (MANIFEST + ".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, directory / MANIFEST)

    def same_index(self, other: Manifest) -> bool:
        """Whether ``other`` describes the same index: embedder, dimension, chunking and embedding text."""
        return (self.settings.index_hash(), self.embedder_dim, self.embedding_text) == (
            other.settings.index_hash(),
            other.embedder_dim,
            other.embedding_text,
        )

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not path.is_file():
            raise KnowledgeBaseNotFound(f"{directory}: not a medkb knowledge base (no {MANIFEST})")
        return cls.from_json(path.read_text(encoding="utf-8"), str(path))

    @classmethod
    def from_json(cls, text: str, path: str) -> Manifest:
        """The manifest in ``text``; ``path`` names it in errors."""
        try:
            data = json.loads(text)
            settings = Settings.from_dict(data["settings"])
            manifest = cls(
                settings=settings,
                embedder_dim=int(data["embedder"]["dim"]),
                format_version=int(data["format_version"]),
                embedding_text=int(data.get("chunking", {}).get("embedding_text", 1)),
                created=str(data.get("created", "")),
                trained=dict(data.get("trained") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KnowledgeBaseNotFound(f"{path}: unreadable manifest ({exc})") from exc
        if manifest.format_version > FORMAT_VERSION:
            raise KnowledgeBaseNotFound(
                f"{path}: format version {manifest.format_version} is newer than this medkb understands "
                f"({FORMAT_VERSION}); upgrade medkb"
            )
        if data.get("index_hash") != settings.index_hash():
            raise KnowledgeBaseNotFound(f"{path}: index_hash does not match its settings (edited by hand?)")
        return manifest

    def check_compatible(self, requested: Settings) -> None:
        """Raise SettingsMismatch naming every index-shaping value that differs from ``requested``."""
        have, want = self.settings.index_shape(), requested.index_shape()
        diffs = [f"{k}: knowledge base has {have[k]!r}, requested {want[k]!r}" for k in have if have[k] != want[k]]
        if diffs:
            raise SettingsMismatch(
                "knowledge base was built with other index settings (" + "; ".join(diffs) + "); "
                "open it without those settings or build a new knowledge base"
            )
