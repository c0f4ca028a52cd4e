"""Documents and their chunks, as the stages read them: lookups by id, source and file, and hits by chunk row id."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from kb.core.errors import DocumentNotFound
from kb.core.filters import Filters
from kb.core.types import Chunk, Document, Hit, Section

_SENTENCE_MARK = re.compile(r"[.!?。！？]\s|[.!?。！？]$")


def is_heading_only(text: str) -> bool:
    """Whether a chunk is only heading lines ("4 CONTRAINDICATIONS" and "4.3 Pregnancy"): short, without a sentence."""
    return len(text) <= 120 and not _SENTENCE_MARK.search(text) and all(len(line) <= 80 for line in text.splitlines())


class Documents:
    """Reads of the ``documents`` and ``chunks`` tables (writes go through `kb.storage.sqlite.writer`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def has_document(self, doc_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None

    def get_document(self, doc_id: str) -> Document | None:
        row = self._db.execute(
            "SELECT text, source, title, sections, metadata FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()
        if row is None:
            return None
        sections = [Section(**s) for s in json.loads(row[3])]
        return Document(text=row[0], source=row[1], title=row[2], sections=sections, metadata=json.loads(row[4]))

    def chunks_of(self, doc_id: str) -> list[Chunk]:
        """The stored chunks of one document, in reading order (``document.text[start:end] == chunk.text``)."""
        rows = self._db.execute(
            "SELECT text, start, end, section, page, token_count FROM chunks WHERE doc_id = ? ORDER BY ord", (doc_id,)
        )
        return [Chunk(doc_id, r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def locate(self, identifier: str) -> tuple[str, Chunk | None]:
        """(document id, chunk or None) of what ``identifier`` names; see `KnowledgeBase.locate`."""
        wanted = identifier.strip()
        if not wanted:
            raise DocumentNotFound("an empty id: expected a document or chunk id, a PMID, a DOI or a source key")
        if self.has_document(wanted):
            return wanted, None
        if (chunk := self.chunk(wanted)) is not None:
            return chunk.doc_id, chunk
        pmid = wanted.removeprefix("pmid:").removeprefix("PMID:").strip()
        lookups = [("pmid", pmid)] if pmid.isdigit() else []
        lookups += (
            [("doi", wanted.removeprefix("doi:"))] if wanted.lower().removeprefix("doi:").startswith("10.") else []
        )
        lookups += [("source", wanted)]
        for key, value in lookups:
            found = self.ids_with_value(key, value)
            if len(found) == 1:
                return found[0], None
            if len(found) > 1:
                raise DocumentNotFound(f"{identifier!r}: {key} of several documents ({', '.join(found)})")
        if len(wanted) >= 6:
            docs = self.ids_starting(wanted)
            chunks = self.ids_starting(wanted, chunks=True)
            if len(docs) + len(chunks) == 1:
                return (docs[0], None) if docs else self.locate(chunks[0])
            if docs or chunks:
                raise DocumentNotFound(
                    f"{identifier!r}: starts several ids ({', '.join(docs + chunks)}); give more of it"
                )
        short = " (a prefix needs at least 6 characters)" if len(wanted) < 6 else ""
        raise DocumentNotFound(
            f"{identifier!r}: no document or passage in this knowledge base has this id, PMID, DOI or source key{short}"
        )

    def chunk(self, chunk_id: str) -> Chunk | None:
        """One stored chunk by its id."""
        row = self._db.execute(
            "SELECT doc_id, text, start, end, section, page, token_count FROM chunks WHERE id = ?", (chunk_id,)
        ).fetchone()
        return None if row is None else Chunk(*row)

    def ids_starting(self, prefix: str, *, chunks: bool = False, limit: int = 3) -> list[str]:
        """Up to ``limit`` document (or chunk) ids that start with ``prefix``, by the primary key's index."""
        table = "chunks" if chunks else "documents"
        rows = self._db.execute(
            f"SELECT id FROM {table} WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "\U0010ffff", limit),
        )
        return [r[0] for r in rows]

    def ids_with_value(self, key: str, value: str, limit: int = 3) -> list[str]:
        """Up to ``limit`` documents whose metadata ``key`` is ``value`` (as text): a PMID, DOI or source key."""
        rows = self._db.execute(
            "SELECT doc_id FROM document_metadata WHERE key = ? AND value = ? LIMIT ?", (key, value, limit)
        )
        found = [r[0] for r in rows]
        if not found and key == "source":
            rows = self._db.execute("SELECT id FROM documents WHERE source = ? LIMIT ?", (value, limit))
            found = [r[0] for r in rows]
        return found

    def facets(self, key: str | None = None, limit: int = 50) -> dict[str, int]:
        """Without ``key``: every metadata key and how many documents carry it. With it: its values (as text, as
        the filters compare them) and how many documents have each, most frequent first."""
        if key is None:
            rows = self._db.execute(
                "SELECT key, count(DISTINCT doc_id) AS n FROM document_metadata GROUP BY key ORDER BY n DESC, key"
            )
        else:
            rows = self._db.execute(
                "SELECT value, count(*) AS n FROM document_metadata WHERE key = ? GROUP BY value"
                " ORDER BY n DESC, value LIMIT ?",
                (key, limit),
            )
        return {r[0]: r[1] for r in rows}

    def count_undated(self, filters: Filters) -> int:
        """How many documents without a publication date pass ``filters``' other conditions."""
        where, params = filters.without_dates().to_sql()
        row = self._db.execute(f"SELECT count(*) FROM documents d WHERE d.published IS NULL AND {where}", params)
        return int(row.fetchone()[0])

    def versions_for_source(self, source: str) -> dict[str, int | None]:
        """{document id: version} of the stored documents with this ``source``."""
        return dict(self._db.execute("SELECT id, version FROM documents WHERE source = ?", (source,)).fetchall())

    def document_ids_for_origin(self, origin: str) -> list[str]:
        """The stored documents read from the file ``origin``."""
        return [r[0] for r in self._db.execute("SELECT id FROM documents WHERE origin = ?", (origin,))]

    def origins_of(self, doc_ids: Iterable[str]) -> list[str]:
        """The files the given documents were read from (documents given as objects have none)."""
        found: set[str] = set()
        ids = list(doc_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT DISTINCT origin FROM documents WHERE origin IS NOT NULL AND id IN ({marks})", part
            )
            found.update(r[0] for r in rows)
        return sorted(found)

    def chunk_table_state(self) -> tuple[int, int]:
        """(largest chunk row id, number of chunks): changes whenever chunks are added or deleted."""
        row = self._db.execute("SELECT coalesce(max(rowid), 0), count(*) FROM chunks").fetchone()
        return int(row[0]), int(row[1])

    def cjk_chunk_ids(self) -> np.ndarray:
        """Row ids of the chunks that hold Chinese (Han) characters, ascending."""
        rows = self._db.execute("SELECT rowid FROM chunks WHERE text GLOB '*[\u4e00-\u9fff]*' ORDER BY rowid")
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def hits(
        self,
        ids: Sequence[int],
        scores: Sequence[float],
        kind: str = "dense",
        extra: Mapping[str, Mapping[int, float]] | None = None,
    ) -> list[Hit]:
        """Hits for chunk row ids, in the order given; ``kind`` names the score (``dense``, ``lexical``, ``hybrid``)
        and ``extra`` adds other scores by id (``{"lexical": {id: bm25}}``) to ``hit.scores``."""
        if not len(ids):
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            "SELECT c.rowid, c.id, c.doc_id, c.text, c.section, c.start, c.end, c.page, d.title, d.source, d.metadata"
            f" FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.rowid IN ({marks})",
            [int(i) for i in ids],
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        out = []
        for rank, (i, score) in enumerate(zip(ids, scores, strict=True), start=1):
            r = by_id.get(int(i))
            if r is None:
                continue
            out.append(
                Hit(
                    chunk_id=r[1],
                    doc_id=r[2],
                    text=r[3],
                    section=r[4],
                    start=r[5],
                    end=r[6],
                    page=r[7],
                    title=r[8],
                    source=r[9],
                    metadata=json.loads(r[10]),
                    score=float(score),
                    scores={kind: float(score)}
                    | {name: float(m[int(i)]) for name, m in (extra or {}).items() if int(i) in m},
                    rank=rank,
                )
            )
        return out

    def with_headed_text(self, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` as evidence: a heading-only chunk ("4 CONTRAINDICATIONS" / "4.3 Pregnancy") runs on to the end of
        the chunk after it in the same section, so that the heading comes with the text it heads, and a later hit
        that such a hit now holds is left out (ranks are kept)."""
        out: list[Hit] = []
        shown: dict[str, list[tuple[int, int]]] = {}  # spans already given, by document
        for hit in hits:
            if is_heading_only(hit.text):
                hit = self._with_body(hit)
            if any(s <= hit.start and hit.end <= e for s, e in shown.get(hit.doc_id, ())):
                continue
            shown.setdefault(hit.doc_id, []).append((hit.start, hit.end))
            out.append(hit)
        return out

    def _with_body(self, hit: Hit) -> Hit:
        following = self._db.execute(
            "SELECT n.end, substr(d.text, ? + 1, n.end - ?) FROM chunks c JOIN chunks n ON n.doc_id = c.doc_id"
            " AND n.ord = c.ord + 1 AND n.section = c.section JOIN documents d ON d.id = c.doc_id WHERE c.id = ?",
            (hit.start, hit.start, hit.chunk_id),
        ).fetchone()
        if following is None or following[0] <= hit.end:
            return hit
        return replace(hit, text=following[1], end=int(following[0]))
