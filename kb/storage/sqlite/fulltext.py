"""The lexical (BM25) index: an FTS5 table with one row per chunk under the chunk's row id."""

from __future__ import annotations

import sqlite3

import numpy as np

from kb.core.filters import Filters
from kb.storage.sqlite.metadata_filter import ChunkFilter

#: Deepest unfiltered BM25 prefix that filtered lexical search reads before it joins the filter into the query.
_PREFIX_MAX = 2000


class FullText:
    """BM25 search over ``chunks_fts``, filtered through ``filters``."""

    def __init__(self, db: sqlite3.Connection, filters: ChunkFilter) -> None:
        self._db = db
        self._filters = filters

    def lexical_search(self, expression: str, k: int, filters: Filters | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (chunk row ids, BM25 scores; higher is better) for an FTS5 ``MATCH`` expression (see
        `kb.core.lexical.match_expression`), among the chunks whose documents pass ``filters``."""
        filters = filters or Filters()
        if filters.empty:  # every row of the lexical index is a stored chunk: no join needed (3x faster)
            rows = self._db.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts)"
                " LIMIT ?",
                [expression, k],
            ).fetchall()
        else:
            rows = self._filtered(expression, k, filters)
        return np.asarray([r[0] for r in rows], dtype=np.int64), np.asarray([r[1] for r in rows], dtype=np.float32)

    def _filtered(self, expression: str, k: int, filters: Filters) -> list[tuple[int, float]]:
        """BM25 top ``k`` among the chunks passing ``filters``. When the filter passes enough chunks that the
        unfiltered top `_PREFIX_MAX` is expected to hold ``2k`` of them, that prefix is filtered by the chunk ids of
        `ChunkFilter.matching_ids`: exact, since any passing chunk outside the prefix scores below every chunk in
        it. Otherwise, or when the prefix holds fewer than ``k``, every match is read unsorted and filtered the same
        way. (Joining the filter into the FTS5 query instead made the broad filter's p95 113 ms against 72: SQLite
        evaluates the join for every match before it sorts; ``benchmarks/search.py``.)"""
        allowed = self._filters.matching_ids(filters)
        if not allowed.size:
            return []
        largest = self._db.execute("SELECT coalesce(max(rowid), 1) FROM chunks").fetchone()[0]
        depth = int(2 * k * largest / allowed.size) + 1
        if depth <= _PREFIX_MAX:
            rows = self._db.execute(
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts)"
                " LIMIT ?",
                [expression, depth],
            ).fetchall()
            kept = [row for row, passes in zip(rows, np.isin([r[0] for r in rows], allowed), strict=True) if passes]
            if len(kept) >= k or len(rows) < depth:  # enough, or the prefix was every match there is
                return kept[:k]
        rows = self._db.execute(
            "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?", [expression]
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        scores = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        passing = np.isin(ids, allowed)
        ids, scores = ids[passing], scores[passing]
        top = np.lexsort((ids, -scores))[:k]  # best score first; ties by row id
        return [(int(ids[i]), float(scores[i])) for i in top]

    def purge_deleted_text(self) -> None:
        """Rewrite the lexical index so that terms of deleted chunks leave the file too (FTS5 otherwise keeps them
        in old segments until a merge). Costs a pass over the whole lexical index."""
        self._db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def problems(self) -> list[str]:
        """Differences between the lexical index and the chunks (empty when consistent)."""
        have = self._db.execute("SELECT count(*), coalesce(sum(rowid), 0) FROM chunks_fts").fetchone()
        want = self._db.execute("SELECT count(*), coalesce(sum(rowid), 0) FROM chunks").fetchone()
        if tuple(have) != tuple(want):
            return [
                f"lexical index holds {have[0]} rows (id sum {have[1]}), kb.sqlite {want[0]} chunks (id sum {want[1]})"
            ]
        return []
