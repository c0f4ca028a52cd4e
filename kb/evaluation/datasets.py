"""Evaluation data sets as BEIR-style ``queries / qrels`` plus the corpus to index, keyed by document ``source``.

The named sets live read-only under ``$MEDKB_DATA_DIR``, or in the cache where ``medkb corpus fetch NAME`` converted
them from their public release (`kb.core.data_dir.data_set_dir`); each folder's ``SOURCE.md`` describes its files.
Document keys are the ``source`` that ingestion gives each document
(``scifact:<doc_id>``, ``pubmedqa:<pmid>``, ``medquad:<passage_id>``, ``bioasq:<snippet hash>``, ``beir:<_id>``), so a
retrieved hit is judged by ``hit.source``.

Example::

    dataset = load_dataset("scifact", limit=5)
    keep = dataset.corpus.keep(dataset.qrels, corpus_limit=100)  # the 5 claims' cited docs + 100 others
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.core.data_dir import data_set_dir
from kb.core.errors import MedkbError
from kb.core.model_registry import file_sha256
from kb.core.types import Document, content_hash

#: The named data sets; ``beir`` needs a directory (``--data``).
DATASETS = ("scifact", "pubmedqa", "medquad", "bioasq", "beir")

Qrels = dict[str, dict[str, int]]


class EvalError(MedkbError):
    """A data set, split or system that cannot be evaluated as asked."""


@dataclass(frozen=True)
class JsonlCorpus:
    """A JSON Lines corpus ingested through the named ``reader``; ``key_of`` gives a line's document key."""

    path: Path
    reader: str
    key_of: Callable[[dict[str, Any]], str]

    def keys(self) -> Iterator[str]:
        for _, key in self._lines():
            yield key

    def items(self, keep: set[str] | None, workdir: Path) -> list[Path]:
        """The file(s) to ingest: the corpus itself, or a copy of just the lines whose key is in ``keep``."""
        if keep is None:
            return [self.path]
        workdir.mkdir(parents=True, exist_ok=True)
        subset = workdir / "corpus.jsonl"
        lines = [line for line, key in self._lines() if key in keep]
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        if not subset.exists() or subset.read_text(encoding="utf-8") != text:
            subset.write_text(text, encoding="utf-8")
        return [subset]

    def fingerprint(self) -> str:
        """The sha256 of the corpus file: a knowledge base built from it serves only this content."""
        return file_sha256(self.path)

    def _lines(self) -> Iterator[tuple[str, str]]:
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield line, self.key_of(json.loads(line))


@dataclass(frozen=True)
class DocumentCorpus:
    """A corpus built in memory (BEIR directories, BioASQ snippets), ingested as `Document` objects."""

    documents: list[Document]
    reader: None = None

    def keys(self) -> Iterator[str]:
        for doc in self.documents:
            yield doc.source

    def items(self, keep: set[str] | None, workdir: Path) -> list[Document]:
        return [doc for doc in self.documents if keep is None or doc.source in keep]

    def fingerprint(self) -> str:
        """The sha256 of every document's key, title and text, in order."""
        digest = hashlib.sha256()
        for doc in self.documents:
            for part in (doc.source, doc.title, doc.text):
                digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return digest.hexdigest()


Corpus = JsonlCorpus | DocumentCorpus


@dataclass
class EvalDataset:
    """Queries (in file order), their relevant documents, and the corpus that holds them."""

    name: str
    split: str
    queries: dict[str, str]
    qrels: Qrels
    corpus: Corpus = field(repr=False)

    def limited(self, limit: int | None) -> EvalDataset:
        """The first ``limit`` queries (all when ``None``)."""
        if limit is None:
            return self
        if limit < 1:
            raise EvalError(f"limit={limit}: expected a positive number of queries")
        ids = list(self.queries)[:limit]
        return EvalDataset(
            self.name,
            self.split,
            {q: self.queries[q] for q in ids},
            {q: self.qrels.get(q, {}) for q in ids},
            self.corpus,
        )

    def with_queries(self, path: Path) -> EvalDataset:
        """The queries of ``path`` (JSON Lines of ``{"id", "question"}``, such as a translation of some of this data
        set's queries) in place of this data set's, judged by this data set's qrels; an id it does not know is an
        error. The corpus is unchanged, so the same knowledge base serves both."""
        queries: dict[str, str] = {}
        for lineno, obj in enumerate(read_jsonl(path), start=1):
            qid, text = str(obj.get("id", "")), obj.get("question")
            if qid not in self.queries:
                raise EvalError(f"{path}:{lineno}: query id {qid!r} is not a {self.name} {self.split} query")
            if not isinstance(text, str) or not text.strip():
                raise EvalError(f"{path}:{lineno}: expected a non-empty 'question' string")
            queries[qid] = text
        if not queries:
            raise EvalError(f"{path}: no queries")
        return EvalDataset(self.name, self.split, queries, {q: self.qrels.get(q, {}) for q in queries}, self.corpus)

    def with_queries_of(self, other: EvalDataset) -> EvalDataset:
        """This data set restricted to the query ids of ``other`` (the originals of a translation)."""
        ids = [q for q in self.queries if q in other.queries]
        queries = {q: self.queries[q] for q in ids}
        return EvalDataset(self.name, self.split, queries, {q: self.qrels.get(q, {}) for q in ids}, self.corpus)

    def keep(self, corpus_limit: int | None) -> set[str] | None:
        """The documents to index: all (``None``) when ``corpus_limit`` is ``None``, else the relevant documents of
        the queries plus the first ``corpus_limit`` other documents of the corpus."""
        if corpus_limit is None:
            return None
        if corpus_limit < 0:
            raise EvalError(f"corpus_limit={corpus_limit}: expected a non-negative number of documents")
        keep = {doc for docs in self.qrels.values() for doc in docs}
        others = 0
        for key in self.corpus.keys():
            if others >= corpus_limit:
                break
            if key not in keep:
                keep.add(key)
                others += 1
        return keep


def load_dataset(
    name: str, *, split: str | None = None, limit: int | None = None, root: Path | None = None
) -> EvalDataset:
    """The named data set (see `DATASETS`; for ``beir`` use `load_beir`), its first ``limit`` queries."""
    loaders: dict[str, Callable[[Path, str], EvalDataset]] = {
        "scifact": _scifact,
        "pubmedqa": _pubmedqa,
        "medquad": _medquad,
        "bioasq": _bioasq,
    }
    if name not in loaders:
        raise EvalError(f"unknown data set {name!r}; expected one of {', '.join(loaders)} (or a BEIR directory)")
    folder = data_set_dir(name, root)
    if not folder.is_dir():
        raise EvalError(f"{folder}: no such data set folder")
    default = "all" if name == "bioasq" else "dev"
    split = split or default
    if split != default:
        raise EvalError(f"{name}: split {split!r} not available; expected {default!r}")
    return loaders[name](folder, split).limited(limit)


def load_beir(
    directory: Path, *, name: str = "beir", split: str | None = None, limit: int | None = None
) -> EvalDataset:
    """A BEIR directory: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (``_id``, ``text``) and
    ``qrels/<split>.tsv`` or ``qrels.tsv`` (query-id, corpus-id, score; with a header line)."""
    split = split or "test"
    qrels_path = directory / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        qrels_path = directory / "qrels.tsv"
    for path in (directory / "corpus.jsonl", directory / "queries.jsonl", qrels_path):
        if not path.exists():
            raise EvalError(f"{path}: missing; expected a BEIR directory (corpus.jsonl, queries.jsonl, qrels.tsv)")
    qrels: Qrels = {}
    with qrels_path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows, None)
        for row in rows:
            if len(row) < 3:
                continue
            qrels.setdefault(row[0], {})[f"beir:{row[1]}"] = int(float(row[2]))
    queries = {str(q["_id"]): q["text"] for q in read_jsonl(directory / "queries.jsonl") if str(q["_id"]) in qrels}
    documents = []
    for obj in read_jsonl(directory / "corpus.jsonl"):
        doc_id, title, text = str(obj["_id"]), (obj.get("title") or "").strip(), (obj.get("text") or "").strip()
        documents.append(
            Document(
                text=text or title, title=title if text else "", source=f"beir:{doc_id}", metadata={"beir_id": doc_id}
            )
        )
    return EvalDataset(name, split, queries, {q: qrels[q] for q in queries}, DocumentCorpus(documents)).limited(limit)


def _scifact(folder: Path, split: str) -> EvalDataset:
    queries, qrels = {}, {}
    for claim in read_jsonl(folder / "claims_dev.jsonl"):
        qid = str(claim["id"])
        queries[qid] = claim["claim"]
        qrels[qid] = {f"scifact:{doc}": 1 for doc in claim["cited_doc_ids"]}
    corpus = JsonlCorpus(folder / "corpus.jsonl", "scifact", lambda obj: f"scifact:{obj['doc_id']}")
    return EvalDataset("scifact", split, queries, qrels, corpus)


def _pubmedqa(folder: Path, split: str) -> EvalDataset:
    items = list(read_jsonl(folder / "dev.jsonl"))
    queries = {str(item["pmid"]): item["question"] for item in items}
    qrels = {str(item["pmid"]): {f"pubmedqa:{item['pmid']}": 1} for item in items}
    corpus = JsonlCorpus(folder / "corpus.jsonl", "pubmedqa", lambda obj: f"pubmedqa:{obj['pmid']}")
    return EvalDataset("pubmedqa", split, queries, qrels, corpus)


def _medquad(folder: Path, split: str) -> EvalDataset:
    queries, qrels = {}, {}
    for item in read_jsonl(folder / "dev.jsonl"):
        qid = str(item["id"])
        queries[qid] = item["question"]
        qrels[qid] = {f"medquad:{pid}": 1 for pid in item["gold_passage_ids"]}
    corpus = JsonlCorpus(folder / "corpus.jsonl", "medquad", lambda obj: f"medquad:{obj['passage_id']}")
    return EvalDataset("medquad", split, queries, qrels, corpus)


def _bioasq(folder: Path, split: str) -> EvalDataset:
    """Every Task*BGoldenEnriched question; the corpus is all their gold snippets, deduplicated by text, and a
    question's relevant documents are its own snippets."""
    queries: dict[str, str] = {}
    qrels: Qrels = {}
    documents: dict[str, Document] = {}
    for path in sorted(folder.glob("Task*BGoldenEnriched/*.json")):
        for question in json.loads(path.read_text(encoding="utf-8")).get("questions", []):
            qid = str(question["id"])
            if qid in queries:
                continue
            relevant: dict[str, int] = {}
            for snippet in question.get("snippets", []):
                text = " ".join(str(snippet.get("text", "")).split())
                if not text:
                    continue
                key = f"bioasq:{content_hash(text)[:16]}"
                relevant[key] = 1
                if key not in documents:
                    pmid = str(snippet.get("document", "")).rstrip("/").rsplit("/", 1)[-1]
                    documents[key] = Document(text=text, source=key, metadata={"pmid": pmid} if pmid else {})
            if relevant:
                queries[qid] = question["body"]
                qrels[qid] = relevant
    return EvalDataset("bioasq", split, queries, qrels, DocumentCorpus(list(documents.values())))


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSON Lines file, blank lines skipped; a missing file or a line that is not JSON is an
    `EvalError` naming the file (and line)."""
    if not path.exists():
        raise EvalError(f"{path}: missing")
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise EvalError(f"{path}:{lineno}: not JSON ({exc})") from exc
