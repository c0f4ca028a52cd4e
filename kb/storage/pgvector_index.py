"""The PostgreSQL + pgvector backend (``Settings.vector_store = "pgvector"``): each chunk's vector in a table of a
PostgreSQL server, searched through an HNSW index over inner products.

``Settings.dsn`` names the server (``postgresql://user@host:5432/db``; keep passwords in ``PGPASSWORD`` or
``~/.pgpass`` rather than in the manifest). With no DSN, medkb starts an embedded server in the knowledge base
directory (``pgdata/``, from the ``pgserver`` package, which bundles PostgreSQL 16 with pgvector 0.6), listening on
a Unix socket only. The table is ``Settings.pg_table`` (named once when the knowledge base is created), so many
knowledge bases can share one database.

Filtered search returns ``k`` results whenever ``k`` chunks pass. pgvector before 0.8 filters the rows an HNSW scan
returns (at most ``hnsw.ef_search`` of them) rather than searching on until ``k`` pass, so a filtered query can come
back short. Here a narrow filter (at most :attr:`PgvectorIndex.exact_limit` allowed rows) is answered exactly over
those rows. A wide one over-fetches from the index, four times more each round, and ends with the exact search if
the index runs out (``ef_search`` is at most 1000).
Install with ``pip install 'medkb[pgvector]'``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kb.core.errors import MedkbError, SettingsMismatch
from kb.storage.sqlite.vector_tables import VectorTable
from kb.storage.synced_index import SyncedIndex, top_k

log = logging.getLogger(__name__)

PGDATA_DIR = "pgdata"
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: pgvector's largest hnsw.ef_search.
_MAX_EF = 1000


def embedded_server_dsn(directory: Path) -> str:
    """The DSN of the embedded PostgreSQL server of the knowledge base in ``directory`` (started if it is not)."""
    try:
        import pgserver
    except ImportError as exc:
        raise MedkbError(
            "the pgvector store without --dsn runs an embedded PostgreSQL server: pip install 'medkb[pgvector]'"
        ) from exc
    server = pgserver.get_server(directory / PGDATA_DIR, cleanup_mode="stop")
    return str(server.get_uri())


class PgvectorIndex(SyncedIndex):
    """Chunk vectors in the table ``table`` of the PostgreSQL server at ``dsn`` (embedded when ``dsn`` is empty)."""

    name = "pgvector"
    #: Filters allowing at most this many rows are answered by an exact scan of those rows (an exact scan of 10,000
    #: rows took 20 ms here, an over-fetching HNSW search 2 ms: benchmarks/backends.py).
    exact_limit = 5000
    #: hnsw.ef_search at least (pgvector's default, 40, gave recall@10 0.97 on 111,384 chunks).
    min_ef_search = 100

    def __init__(self, directory: Path, dim: int, vectors: VectorTable, *, dsn: str, table: str) -> None:
        super().__init__(vectors, dim)
        if not _TABLE.match(table):
            raise MedkbError(f"pg_table={table!r}: expected a lower-case SQL name (letters, digits, '_')")
        try:
            import psycopg
            from pgvector.psycopg import register_vector
        except ImportError as exc:
            raise MedkbError("the pgvector store needs psycopg and pgvector: pip install 'medkb[pgvector]'") from exc
        self.table = table
        self.dsn = dsn or embedded_server_dsn(directory)
        try:
            self._db: Any = psycopg.connect(self.dsn, autocommit=True)
        except psycopg.Error as exc:
            raise MedkbError(f"cannot connect to PostgreSQL at {_safe(self.dsn)}: {exc}".strip()) from exc
        self._db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(self._db)
        self._create()

    def _create(self) -> None:
        t = self.table
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {t} (id bigint PRIMARY KEY, embedding vector({self.dim}) NOT NULL)"
        )
        stored = self._db.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
            "AND attname = 'embedding'",
            (t,),
        ).fetchone()
        if stored and stored[0] != f"vector({self.dim})":
            raise SettingsMismatch(
                f"{self.location}: its vectors are {stored[0]}, this knowledge base's are {self.dim}-d"
            )
        self._create_index()

    def _create_index(self) -> None:
        # A graph that fits in maintenance_work_mem builds several times faster than one spilled to disk.
        with self._db.transaction():
            self._db.execute("SET LOCAL maintenance_work_mem = '512MB'")
            self._db.execute(
                f"CREATE INDEX IF NOT EXISTS {self.table}_hnsw ON {self.table} USING hnsw (embedding vector_ip_ops)"
            )

    @property
    def location(self) -> str:
        return f"table {self.table} at {_safe(self.dsn)}"

    def _upsert(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if vectors.shape[1] != self.dim:
            raise MedkbError(f"{self.location}: vectors of dimension {vectors.shape[1]}, expected {self.dim}")
        with self._db.transaction():
            self._db.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS medkb_staging (id bigint, embedding vector({self.dim})) "
                "ON COMMIT DELETE ROWS"
            )
            with self._db.cursor().copy("COPY medkb_staging (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "vector"])
                for rowid, vector in zip(ids.tolist(), vectors, strict=True):
                    copy.write_row((rowid, vector))
            self._db.execute(
                f"INSERT INTO {self.table} SELECT id, embedding FROM medkb_staging "
                "ON CONFLICT (id) DO UPDATE SET embedding = excluded.embedding"
            )

    def _delete(self, ids: np.ndarray) -> None:
        self._db.execute(f"DELETE FROM {self.table} WHERE id = ANY(%s::bigint[])", (ids.tolist(),))

    def _ids(self) -> np.ndarray:
        rows = self._db.execute(f"SELECT id FROM {self.table} ORDER BY id").fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def _checksum(self) -> tuple[int, int]:
        n, total = self._db.execute(f"SELECT count(*), coalesce(sum(id), 0) FROM {self.table}").fetchone()
        return int(n), int(total)

    def _clear(self) -> None:
        self._db.execute(f"TRUNCATE {self.table}")

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Load every vector again, with the HNSW index dropped during the load and built once after it (several
        times faster than maintaining it row by row)."""
        self._db.execute(f"DROP INDEX IF EXISTS {self.table}_hnsw")
        try:
            return super().rebuild(progress)
        finally:
            self._create_index()

    def status(self) -> dict[str, int | str]:
        size = self._db.execute("SELECT pg_total_relation_size(%s::regclass)", (self.table,)).fetchone()[0]
        return {**super().status(), "vector_bytes": int(size)}

    def _search(self, query: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None and allowed.size <= self.exact_limit:
            return self._exact(query, k, allowed)
        fetch = 4 * k if allowed is not None else k
        while True:
            ef = min(max(fetch, self.min_ef_search), _MAX_EF)
            with self._db.transaction():
                self._db.execute(f"SET LOCAL hnsw.ef_search = {ef}")
                rows = self._db.execute(
                    f"SELECT id, embedding <#> %s AS d FROM {self.table} ORDER BY embedding <#> %s LIMIT %s",
                    (query, query, min(fetch, ef)),
                ).fetchall()
            ids = np.asarray([r[0] for r in rows], dtype=np.int64)
            scores = -np.asarray([r[1] for r in rows], dtype=np.float32)
            if allowed is not None:
                keep = np.isin(ids, allowed)
                ids, scores = ids[keep], scores[keep]
            if ids.size >= k or allowed is None:
                return top_k(ids, scores, k)
            if fetch >= _MAX_EF:
                log.debug(
                    "%s: the HNSW scan found %d of %d allowed rows; searching them exactly", self.table, ids.size, k
                )
                return self._exact(query, k, allowed)
            fetch *= 4

    def _exact(self, query: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # MATERIALIZED keeps the planner from answering the ORDER BY with the HNSW index (which may stop short).
        rows = self._db.execute(
            f"WITH c AS MATERIALIZED (SELECT id, embedding <#> %s AS d FROM {self.table} WHERE id = ANY(%s::bigint[])) "
            "SELECT id, d FROM c ORDER BY d LIMIT %s",
            (query, allowed.tolist(), k),
        ).fetchall()
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        return ids, -np.asarray([r[1] for r in rows], dtype=np.float32)

    def close(self) -> None:
        self._db.close()


def _safe(dsn: str) -> str:
    """``dsn`` without its password."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1@", dsn)
