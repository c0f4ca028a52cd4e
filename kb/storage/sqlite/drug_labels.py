"""The drug table: one row per DailyMed label document and every name it is found by (a
`kb.core.protocols.DrugTable`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from kb.core.drugs import DrugLabel, drug_label_from_document, name_keys
from kb.core.types import Document


class DrugLabels:
    """The drug rows of the stored labels, found by brand, generic or ingredient name."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def drug_labels_for(self, names: Iterable[str]) -> list[DrugLabel]:
        """The drug rows of the labels found by any of ``names`` (brand, generic or ingredient names, any case), in
        the order of the names, each once."""
        keys = list(dict.fromkeys(key for name in names for key in name_keys(name)))
        doc_ids: dict[str, None] = {}
        for key in keys:
            rows = self._db.execute("SELECT doc_id FROM drug_names WHERE name = ? ORDER BY doc_id", (key,))
            doc_ids.update(dict.fromkeys(r[0] for r in rows))
        labels = []
        for doc_id in doc_ids:
            row = self._db.execute(
                "SELECT d.source, d.title, l.label FROM drug_labels l JOIN documents d ON d.id = l.doc_id"
                " WHERE l.doc_id = ?",
                (doc_id,),
            ).fetchone()
            if row:
                labels.append(DrugLabel.from_json(doc_id, row[0], row[1], json.loads(row[2])))
        return labels

    def drug_names(self) -> set[str]:
        """Every name (lower case) that finds a drug label in this knowledge base."""
        return {r[0] for r in self._db.execute("SELECT DISTINCT name FROM drug_names")}


def write_drug_label(db: sqlite3.Connection, doc: Document) -> None:
    """Store the drug row of ``doc`` (already stored) if it is a drug label; inside the caller's transaction."""
    label = drug_label_from_document(doc)
    if label is None:
        return
    db.execute(
        "INSERT OR REPLACE INTO drug_labels(doc_id, label) VALUES (?, ?)",
        (label.doc_id, json.dumps(label.to_json(), ensure_ascii=False)),
    )
    db.executemany(
        "INSERT OR IGNORE INTO drug_names(name, doc_id) VALUES (?, ?)",
        [(name, label.doc_id) for name in sorted(label.lookup_names())],
    )
