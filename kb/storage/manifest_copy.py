"""The copy of ``manifest.json`` that ``kb.sqlite`` keeps, so that a lost or altered manifest is noticed and restored.

A knowledge base's manifest says how its vectors were made (embedder, dimension, chunking). Without it a directory
holding ``kb.sqlite`` could be taken for an empty one and filled again with other settings, mixing chunks and vectors
of two shapes. So ``kb.sqlite`` records the manifest too, before ``manifest.json`` is written:

- opening a knowledge base compares the two (and the manifest's dimension with the stored vectors') and refuses one
  that disagrees, naming ``medkb check --repair``;
- :func:`restore_manifest` (``medkb check --repair``, ``medkb reindex``) writes ``manifest.json`` again from the copy.

Knowledge bases made before the copy existed get one from their manifest when next opened.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kb.core.errors import KnowledgeBaseNotFound
from kb.core.manifest import MANIFEST, Manifest
from kb.storage.store import DB_NAME, Store

log = logging.getLogger(__name__)

#: What a directory holding kb.sqlite but no manifest is told to run.
REPAIR_HINT = "`medkb check --repair --kb {directory}` restores it from the copy kb.sqlite keeps"


def record_manifest(store: Store, manifest: Manifest) -> None:
    """Keep ``manifest`` in ``store`` (before saving it as manifest.json, so that the copy is never the older)."""
    store.meta.set_manifest_record(manifest.to_json())


def verify_manifest(directory: Path, manifest: Manifest, store: Store) -> None:
    """Raise :class:`~kb.core.errors.KnowledgeBaseNotFound` if ``manifest`` (read from manifest.json) describes another
    index than the copy in ``store``, or another dimension than the stored vectors have; record it when it agrees
    and the copy is missing or older (trained models are recorded in manifest.json only)."""
    recorded = _recorded(directory, store)
    if recorded is not None and not recorded.same_index(manifest):
        raise KnowledgeBaseNotFound(
            f"{directory / MANIFEST}: describes another index ({_shape(manifest)}) than kb.sqlite records "
            f"({_shape(recorded)}); {REPAIR_HINT.format(directory=directory)}"
        )
    stored_dim = store.vectors.dim()
    if stored_dim is not None and stored_dim != manifest.embedder_dim:
        raise KnowledgeBaseNotFound(
            f"{directory / MANIFEST}: says the vectors are {manifest.embedder_dim}-d ({manifest.settings.embedder}), "
            f"but kb.sqlite stores {stored_dim}-d vectors; the manifest was altered or belongs to another knowledge "
            "base" + (f"; {REPAIR_HINT.format(directory=directory)}" if recorded is not None else "")
        )
    if recorded is None or recorded.to_dict() != manifest.to_dict():
        record_manifest(store, manifest)


def restore_manifest(directory: Path) -> bool:
    """Write ``directory``'s manifest.json again from the copy in its kb.sqlite when it is missing or describes
    another index; returns whether it was written. Raises :class:`~kb.core.errors.KnowledgeBaseNotFound` when there is
    no kb.sqlite, or it keeps no copy (it was made before medkb kept one) and the manifest is missing."""
    if not (directory / DB_NAME).is_file():
        raise KnowledgeBaseNotFound(f"{directory}: not a medkb knowledge base (no {DB_NAME})")
    store = Store(directory / DB_NAME)
    try:
        recorded = _recorded(directory, store)
    finally:
        store.close()
    path = directory / MANIFEST
    if recorded is None:
        if path.is_file():
            return False
        raise KnowledgeBaseNotFound(
            f"{directory}: no {MANIFEST}, and its kb.sqlite keeps no copy of one (it was made by an older medkb), so "
            "the embedder and chunking it was built with are unknown; ingest its sources into a new knowledge base"
        )
    current = None
    if path.is_file():
        try:
            current = Manifest.load(directory)
        except KnowledgeBaseNotFound as exc:
            log.warning("%s", exc)
    if current is not None and current.same_index(recorded):
        return False
    recorded.save(directory)
    log.warning("%s: restored from the copy in kb.sqlite (%s)", path, _shape(recorded))
    return True


def holds_knowledge_base(directory: Path) -> bool:
    """Whether ``directory`` holds a kb.sqlite with documents or chunks stored; an empty one (an interrupted create
    leaves one) does not count: creating there again mixes nothing."""
    if not (directory / DB_NAME).is_file():
        return False
    store = Store(directory / DB_NAME)
    try:
        counts = store.counts()
        return counts["documents"] > 0 or counts["chunks"] > 0
    finally:
        store.close()


def _recorded(directory: Path, store: Store) -> Manifest | None:
    text = store.meta.manifest_record()
    return None if text is None else Manifest.from_json(text, f"{directory / DB_NAME} (its copy of {MANIFEST})")


def _shape(manifest: Manifest) -> str:
    shape = manifest.settings.index_shape()
    return (
        f"embedder {manifest.settings.embedder}, {manifest.embedder_dim}-d, chunk_tokens {shape['chunk_tokens']}, "
        f"chunk_overlap {shape['chunk_overlap']}"
    )
