"""FAISS vector indexes derived from ``kb.sqlite``, keyed by chunk row id; always rebuildable from it.

Two kinds, chosen by ``Settings.index_type``:

``flat`` (default)
    Exact inner-product search over *shards*: shard ``s`` holds the ids in ``[s * SHARD_SIZE, (s + 1) * SHARD_SIZE)``
    in ``vectors/flat-<s>.faiss``. Row ids only grow (SQLite AUTOINCREMENT), so ingestion writes to the last shard
    and touches an older one only to delete from it; it holds a bounded number of shards in memory whatever the
    size of the knowledge base. Each shard is checked against SQLite (count and sum of ids) when loaded and brought
    back in step from the stored embeddings if they differ (after a crash, say).

``hnsw``
    For large knowledge bases (millions of chunks): an HNSW graph over every chunk up to a *watermark* row id,
    ``vectors/hnsw.faiss``, memory-mapped on open, built by ``medkb reindex``. Chunks added after it was built are
    searched exactly in the flat shards above the watermark, and chunks deleted since are filtered out, so results
    stay correct between rebuilds.

The cross-lingual index is a second set of flat shards, ``vectors/xl/flat-<s>.faiss``, over the cross-lingual
vectors (``chunk_xvectors``): the same class, reading another table.

The files are FAISS's own binary format and JSON: nothing in a knowledge base directory is unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from kb.storage.sqlite.vector_tables import VectorTable

log = logging.getLogger(__name__)

VECTOR_DIR = "vectors"
#: The cross-lingual shards, inside ``VECTOR_DIR``.
CROSS_LINGUAL_DIR = f"{VECTOR_DIR}/xl"
SHARD_SIZE = 16384
#: Shards kept in memory while writing (appends fill the last one); searching loads them all.
MAX_LOADED_WHILE_WRITING = 1
HNSW_FILE = "hnsw.faiss"
HNSW_META = "hnsw.json"
INDEX_TYPES = ("flat", "hnsw")
_SHARD_FILE = re.compile(r"flat-(\d{6})\.faiss")

#: FAISS's SWIG classes; its type stubs miss most of their attributes (id_map, hnsw, search parameters).
FaissIndex = Any


def _flat(dim: int) -> FaissIndex:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def _ids_of(index: FaissIndex) -> np.ndarray:
    return faiss.vector_to_array(index.id_map).astype(np.int64) if index.ntotal else np.zeros(0, np.int64)


def _write_atomic(index: FaissIndex, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    os.replace(tmp, path)


def _top_k(parts: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    scores = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.float32)
    order = np.argsort(-scores, kind="stable")[:k]
    return ids[order], scores[order]


class FlatShards:
    """Exact search over shard files, loaded lazily and kept in step with SQLite.

    ``vectors`` is the stored table the shards hold (``Store.vectors``, or ``Store.xvectors`` for the cross-lingual
    index), ``subdir`` where the shard files live in the knowledge base directory, and ``label`` how
    :meth:`check` names them.
    """

    def __init__(
        self,
        directory: Path,
        dim: int,
        vectors: VectorTable,
        *,
        subdir: str = VECTOR_DIR,
        label: str = "vector",
    ) -> None:
        self.dir = directory / subdir
        self.dim = dim
        self.vectors = vectors
        self.label = label
        self._loaded: OrderedDict[int, FaissIndex] = OrderedDict()
        self._dirty: set[int] = set()
        self._all_loaded = False  # set once a search has loaded every shard; writes then keep them all
        self._stale: set[int] = set()  # shards deleted from while not loaded; brought in step on flush

    def _path(self, shard: int) -> Path:
        return self.dir / f"flat-{shard:06d}.faiss"

    def shard_files(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.dir.iterdir() if (m := _SHARD_FILE.fullmatch(p.name)))

    def wanted_shards(self, lo_id: int = 0) -> list[int]:
        """Shards that should exist: every one overlapping a stored chunk id at or above ``lo_id``."""
        top = self.vectors.max_rowid()
        if lo_id > top:
            return []
        return [s for s in range(lo_id // SHARD_SIZE, top // SHARD_SIZE + 1) if self._expected(s)[0]]

    def _expected(self, shard: int) -> tuple[int, int]:
        return self.vectors.range_checksum(shard * SHARD_SIZE, (shard + 1) * SHARD_SIZE)

    def _read(self, shard: int) -> FaissIndex | None:
        path = self._path(shard)
        if not path.is_file():
            return None
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            log.warning("%s: unreadable (%s); rebuilding it from kb.sqlite", path, exc)
            return None
        if index.d != self.dim or not isinstance(index, faiss.IndexIDMap2):
            log.warning("%s: not a %d-d id-mapped flat index; rebuilding it from kb.sqlite", path, self.dim)
            return None
        return index

    def shard(self, shard: int, *, keep: int | None = None) -> FaissIndex:
        """Shard ``shard`` in step with SQLite; at most ``keep`` shards stay loaded (unlimited if None)."""
        if shard in self._loaded:
            self._loaded.move_to_end(shard)
            return self._loaded[shard]
        index = self._read(shard) or _flat(self.dim)
        self._loaded[shard] = index
        if (int(index.ntotal), int(_ids_of(index).sum())) != self._expected(shard):
            self.sync(shard)
        while keep is not None and len(self._loaded) > keep:
            old, _ = next(iter(self._loaded.items()))
            self._save(old)
            del self._loaded[old]
        return index

    def sync(self, shard: int) -> tuple[int, int]:
        """Bring a loaded shard in step with SQLite: (vectors added, vectors removed)."""
        index = self._loaded[shard]
        have = _ids_of(index)
        want = self.vectors.rowids(shard * SHARD_SIZE, (shard + 1) * SHARD_SIZE)
        extra = np.setdiff1d(have, want, assume_unique=True)
        missing = np.setdiff1d(want, have, assume_unique=True)
        if extra.size:
            index.remove_ids(extra)
        for start in range(0, missing.size, 4096):
            ids, vectors = self.vectors.vectors_for(missing[start : start + 4096].tolist())
            if ids.size:
                index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        if extra.size or missing.size:
            self._dirty.add(shard)
        return int(missing.size), int(extra.size)

    def apply(self, added: np.ndarray, removed: np.ndarray) -> None:
        """After a committed batch: bring the shards it touched in step. Shards written to are loaded (appends go to
        the last one); shards only deleted from are marked and brought in step on :meth:`flush`, one at a time, so
        writing holds a bounded number of shards in memory."""
        keep = None if self._all_loaded else MAX_LOADED_WHILE_WRITING
        for shard in sorted({int(i) // SHARD_SIZE for i in added}):
            was_loaded = shard in self._loaded
            self.shard(shard, keep=keep)
            if was_loaded:
                self.sync(shard)
        for shard in sorted({int(i) // SHARD_SIZE for i in removed}):
            if shard in self._loaded:
                self.sync(shard)
            else:
                self._stale.add(shard)

    def _save(self, shard: int) -> None:
        if shard not in self._dirty:
            return
        index = self._loaded[shard]
        self.dir.mkdir(parents=True, exist_ok=True)
        if index.ntotal:
            _write_atomic(index, self._path(shard))
        else:
            self._path(shard).unlink(missing_ok=True)
        self._dirty.discard(shard)

    def flush(self) -> None:
        for shard in sorted(self._stale):
            if shard not in self._loaded:
                self.shard(shard)
                self._save(shard)
                del self._loaded[shard]
        self._stale.clear()
        for shard in list(self._loaded):
            self._save(shard)

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None, lo_id: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` over the shards with ids ``>= lo_id`` (restricted to ``allowed`` when given)."""
        parts = []
        for shard in self._all_shards() if lo_id == 0 else self.wanted_shards(lo_id):
            if (shard + 1) * SHARD_SIZE <= lo_id:
                continue
            index = self.shard(shard)
            sel: faiss.IDSelector | None = None
            if allowed is not None:
                inside = allowed[(allowed >= max(lo_id, shard * SHARD_SIZE)) & (allowed < (shard + 1) * SHARD_SIZE)]
                if not inside.size:
                    continue
                sel = faiss.IDSelectorBatch(inside)
            elif lo_id > shard * SHARD_SIZE:
                sel = faiss.IDSelectorRange(lo_id, (shard + 1) * SHARD_SIZE)
            n = min(k, int(index.ntotal))
            if n < 1:
                continue
            scores, ids = index.search(query, n, params=faiss.SearchParameters(sel=sel) if sel else None)  # type: ignore[call-arg]
            keep = ids[0] >= 0
            parts.append((ids[0][keep], scores[0][keep]))
        return _top_k(parts, k)

    def check(self) -> list[str]:
        """Differences between the shard files on disk and SQLite, without changing anything."""
        problems = []
        wanted = set(self.wanted_shards())
        for shard in sorted(wanted | set(self.shard_files())):
            index = self._loaded.get(shard) or self._read(shard)
            have = (int(index.ntotal), int(_ids_of(index).sum())) if index is not None else (0, 0)
            want = self._expected(shard)
            if have != want:
                what = "chunks" if self.vectors.table == "chunks" else f"rows of {self.vectors.table}"
                problems.append(
                    f"{self.label} shard {shard} ({self._path(shard)}) holds {have[0]} vectors (id sum {have[1]}), "
                    f"kb.sqlite has {want[0]} {what} in its id range (id sum {want[1]})"
                )
        return problems

    def repair(self) -> list[str]:
        """Bring every shard file in step with SQLite and save it; returns the differences found (:meth:`check`).
        Reads each shard once to compare it. (`kb.storage.facade.Storage.repair` deletes temporary files.)"""
        problems = self.check()
        if problems:
            for shard in sorted(set(self.wanted_shards()) | set(self.shard_files())):
                was_loaded = shard in self._loaded
                self.shard(shard)
                if was_loaded:
                    self.sync(shard)
                self._save(shard)
                if not was_loaded and not self._all_loaded:
                    del self._loaded[shard]
        return problems

    def _all_shards(self) -> list[int]:
        if not self._all_loaded:
            for shard in self.wanted_shards():
                self.shard(shard)
            self._all_loaded = True
        return sorted(self._loaded)

    def ntotal(self) -> int:
        return sum(int(self._loaded[s].ntotal) for s in self._all_shards())

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Delete this set's shard files and write them again from SQLite, one shard in memory at a time; returns
        the number of vectors."""
        for shard in self.shard_files():
            self._path(shard).unlink()
        self._loaded.clear()
        self._dirty.clear()
        self._stale.clear()
        self._all_loaded = False
        total = 0
        for shard in self.wanted_shards():
            total += int(self.shard(shard, keep=1).ntotal)
            if progress:
                progress(total)
        self.flush()
        return total


def cross_lingual_shards(directory: Path, dim: int, xvectors: VectorTable) -> FlatShards:
    """The flat shards of the cross-lingual index of the knowledge base in ``directory``."""
    return FlatShards(directory, dim, xvectors, subdir=CROSS_LINGUAL_DIR, label="cross-lingual vector")


@dataclass
class _Hnsw:
    index: FaissIndex
    watermark: int
    deleted: np.ndarray


class VectorIndex:
    """The knowledge base's FAISS vector index (the ``faiss`` `kb.core.protocols.VectorBackend`): flat shards, plus an
    HNSW graph when ``kind == "hnsw"``."""

    name = "faiss"

    def __init__(
        self, directory: Path, dim: int, vectors: VectorTable, kind: str = "flat", ef_search: int = 128
    ) -> None:
        if kind not in INDEX_TYPES:
            raise ValueError(f"index type {kind!r}: expected one of {', '.join(INDEX_TYPES)}")
        self.directory = directory
        self.dim = dim
        self.kind = kind
        self.ef_search = ef_search
        self.vectors = vectors
        self.flat = FlatShards(directory, dim, vectors)
        self._hnsw: _Hnsw | None = None
        self._hnsw_loaded = False

    # -- writing ---------------------------------------------------------------------------------------------------

    def apply(self, added: np.ndarray, removed: np.ndarray) -> None:
        self.flat.apply(added, removed)
        if self._hnsw is not None and removed.size:
            gone = removed[removed <= self._hnsw.watermark]
            self._hnsw.deleted = np.union1d(self._hnsw.deleted, gone)

    def flush(self) -> None:
        self.flat.flush()

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Rebuild every shard (and the HNSW graph for ``hnsw``) from SQLite; returns the number of vectors."""
        vdir = self.directory / VECTOR_DIR
        vdir.mkdir(exist_ok=True)
        for path in vdir.glob("*.faiss"):
            path.unlink()
        self.flat = FlatShards(self.directory, self.dim, self.vectors)
        total = self.flat.rebuild(progress)
        (vdir / HNSW_META).unlink(missing_ok=True)
        self._hnsw, self._hnsw_loaded = None, False
        if self.kind == "hnsw":
            self.build_hnsw()
        return total

    def build_hnsw(self, m: int = 32, ef_construction: int = 128) -> None:
        """Build the HNSW graph over every stored chunk and save it; reads vectors from SQLite in batches."""
        watermark = self.vectors.max_rowid()
        graph: FaissIndex = faiss.IndexHNSWFlat(self.dim, m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = ef_construction
        index = faiss.IndexIDMap2(graph)
        for ids, vectors in self.vectors.iter_vectors(batch=16384, hi=watermark + 1):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        vdir = self.directory / VECTOR_DIR
        vdir.mkdir(exist_ok=True)
        _write_atomic(index, vdir / HNSW_FILE)
        meta = {"watermark": watermark, "count": int(index.ntotal), "m": m, "ef_construction": ef_construction}
        tmp = vdir / (HNSW_META + ".tmp")
        tmp.write_text(json.dumps(meta) + "\n", encoding="utf-8")
        os.replace(tmp, vdir / HNSW_META)
        self._hnsw, self._hnsw_loaded = None, False
        log.info("built HNSW index over %d vectors (M=%d)", index.ntotal, m)

    # -- reading ---------------------------------------------------------------------------------------------------

    def _load_hnsw(self) -> _Hnsw | None:
        if self._hnsw_loaded:
            return self._hnsw
        self._hnsw_loaded = True
        vdir = self.directory / VECTOR_DIR
        if self.kind != "hnsw" or not (vdir / HNSW_META).is_file():
            return None
        try:
            meta = json.loads((vdir / HNSW_META).read_text(encoding="utf-8"))
            # MMAP_IFC maps the stored vectors (the bulk of the file) instead of reading them; plain IO_FLAG_MMAP
            # reads HNSW indexes whole in this FAISS version.
            index: FaissIndex = faiss.read_index(str(vdir / HNSW_FILE), faiss.IO_FLAG_MMAP_IFC)
            watermark = int(meta["watermark"])
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            log.warning("%s: unreadable HNSW index (%s); searching exactly until `medkb reindex`", vdir, exc)
            return None
        if index.d != self.dim:
            log.warning("%s: HNSW index has dimension %d, expected %d; ignored", vdir, index.d, self.dim)
            return None
        deleted = np.setdiff1d(_ids_of(index), self.vectors.rowids(0, watermark + 1), assume_unique=True)
        graph: FaissIndex = faiss.downcast_index(index.index)
        graph.hnsw.efSearch = self.ef_search
        self._hnsw = _Hnsw(index, watermark, deleted)
        return self._hnsw

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (ids, scores) for one query vector; with ``allowed``, only among those ids."""
        if k < 1 or (allowed is not None and allowed.size == 0):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        hnsw = self._load_hnsw()
        # A narrow filter is answered exactly: a graph walk restricted to few ids misses some of them.
        if hnsw is None or (allowed is not None and allowed.size <= 20000):
            return self.flat.search(q, k, allowed)
        parts = [self.flat.search(q, k, allowed, lo_id=hnsw.watermark + 1)]
        if allowed is not None:
            sel: faiss.IDSelector | None = faiss.IDSelectorBatch(allowed[allowed <= hnsw.watermark])
        elif hnsw.deleted.size:
            sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(hnsw.deleted))
        else:
            sel = None
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k), sel=sel)  # type: ignore[attr-defined]
        scores, ids = hnsw.index.search(q, min(k, int(hnsw.index.ntotal)), params=params)
        keep = ids[0] >= 0
        parts.append((ids[0][keep], scores[0][keep]))
        return _top_k(parts, k)

    def ntotal(self) -> int:
        return self.flat.ntotal()

    def check(self) -> list[str]:
        """Differences with SQLite. An HNSW graph that lags behind is not one: newer chunks are searched exactly."""
        return self.flat.check()

    def repair(self) -> list[str]:
        """Bring the flat shards in step with SQLite and save them (the HNSW graph is rebuilt by `medkb reindex`)."""
        return self.flat.repair()

    def hnsw_lag(self) -> float | None:
        """Share of the stored chunks the HNSW graph does not cover (None for a flat index); 1.0 if never built."""
        if self.kind != "hnsw":
            return None
        total = self.vectors.count()
        hnsw = self._load_hnsw()
        if hnsw is None:
            return 1.0 if total else 0.0
        newer = int(self.vectors.rowids(hnsw.watermark + 1).size)
        return (newer + int(hnsw.deleted.size)) / max(total, 1)

    def close(self) -> None:
        self.flush()

    def status(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {"vector_store": self.name, "index_type": self.kind}
        hnsw = self._load_hnsw()
        if self.kind == "hnsw" and hnsw is None:
            out["hnsw_vectors"] = 0
        if hnsw is not None:
            out["hnsw_vectors"] = int(hnsw.index.ntotal)
            out["hnsw_watermark"] = hnsw.watermark
            out["hnsw_deleted_since_build"] = int(hnsw.deleted.size)
            out["newer_than_hnsw"] = int(self.vectors.rowids(hnsw.watermark + 1).size)
        return out
