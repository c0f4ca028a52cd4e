"""Training pairs made from a knowledge base's own text, with no labelled questions.

Each stored document yields (anchor, positive) pairs of three kinds:

* ``title``: the document title -> its first chunk (documents without section headings, e.g. abstracts);
* ``heading``: ``"<title> <section heading>"`` -> the first chunk of that section (e.g. MedQuAD's "Gout symptoms");
* ``sentence``: a chunk's first sentence -> the rest of that chunk, under the document title.

Pairs are deduplicated (by normalised anchor and by positive) and split train / validation / test **by document**:
a document's bucket is a hash of its id and the seed, so a document, its pairs and its negatives are on one side
only. Hard negatives are mined per pair by BM25 and by the current embedder among the chunks of *other* documents
of the *same* split (never the pair's own document, never another split).

Example::

    corpus = read_corpus(Path("my-kb"))
    split = split_pairs(build_pairs(corpus), seed=42)
    mine_negatives(split.train, corpus, storage, embedder)
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from kb.core.errors import MedkbError
from kb.core.protocols import ChunkSearch, Embedder
from kb.storage.sqlite.read_only import read_titles_and_chunks

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
PAIR_KINDS = ("title", "heading", "sentence")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_SPACE = re.compile(r"\s+")
#: A first sentence shorter or longer than this (characters) makes a poor query.
_SENTENCE_CHARS = (30, 300)
#: Sentence pairs taken per document (its first chunks), so long documents do not dominate.
_SENTENCES_PER_DOC = 2


@dataclass(frozen=True)
class CorpusChunk:
    """One stored chunk: its FAISS row id, document, section heading and text."""

    rowid: int
    doc_id: str
    section: str
    text: str


@dataclass
class Corpus:
    """A knowledge base's documents as training data: titles and chunks (in order) by document id."""

    titles: dict[str, str]
    chunks: dict[str, list[CorpusChunk]]
    by_rowid: dict[int, CorpusChunk] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.by_rowid:
            self.by_rowid = {c.rowid: c for chunks in self.chunks.values() for c in chunks}


@dataclass(frozen=True)
class TrainingPair:
    """A query-like ``anchor`` and the ``positive`` passage it came from (in document ``doc_id``), with mined
    ``negatives``: passages of other documents of the same split that BM25 or the embedder rank high."""

    anchor: str
    positive: str
    doc_id: str
    kind: str
    negatives: tuple[str, ...] = ()


@dataclass
class PairSplit:
    """Pairs by split; ``documents`` maps each document id to its split."""

    train: list[TrainingPair]
    validation: list[TrainingPair]
    test: list[TrainingPair]
    documents: dict[str, str]

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}

    def by_name(self, name: str) -> list[TrainingPair]:
        if name not in SPLITS:
            raise MedkbError(f"split {name!r}: expected one of {', '.join(SPLITS)}")
        return list(getattr(self, name))


def read_corpus(directory: Path) -> Corpus:
    """Every document's title and chunks from ``directory/kb.sqlite``, read through a read-only connection (the
    knowledge base may be open elsewhere)."""
    titles, rows = read_titles_and_chunks(directory)
    chunks: dict[str, list[CorpusChunk]] = {}
    for rowid, doc_id, section, text in rows:
        chunks.setdefault(doc_id, []).append(CorpusChunk(rowid, doc_id, section, text))
    if not chunks:
        raise MedkbError(f"{directory}: the knowledge base holds no chunks; ingest documents before training")
    return Corpus(titles, chunks)


def passage(title: str, text: str) -> str:
    """A passage as the reranker reads it: the title (when any) on its own line, then the text."""
    return f"{title}\n{text}" if title else text


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _sentence_pair(title: str, chunk: CorpusChunk) -> tuple[str, str] | None:
    parts = _SENTENCE_END.split(_SPACE.sub(" ", chunk.text).strip(), maxsplit=1)
    if len(parts) != 2:
        return None
    first, rest = parts
    if not _SENTENCE_CHARS[0] <= len(first) <= _SENTENCE_CHARS[1] or len(_SENTENCE_END.split(rest)) < 2:
        return None
    return first, passage(title, rest)


def build_pairs(corpus: Corpus) -> list[TrainingPair]:
    """Every (anchor, positive) pair of the corpus (see the module doc), deduplicated: an anchor that several
    documents share is ambiguous and dropped; a repeated positive is kept once."""
    raw: list[TrainingPair] = []
    for doc_id in sorted(corpus.chunks):
        chunks = corpus.chunks[doc_id]
        title = _SPACE.sub(" ", corpus.titles.get(doc_id, "")).strip()
        first_of_section: dict[str, CorpusChunk] = {}
        for chunk in chunks:
            first_of_section.setdefault(chunk.section, chunk)
        for section, chunk in first_of_section.items():
            if section and title:
                raw.append(TrainingPair(f"{title} {section}", chunk.text, doc_id, "heading"))
            elif title:
                raw.append(TrainingPair(title, chunk.text, doc_id, "title"))
        for chunk in chunks[:_SENTENCES_PER_DOC]:
            if (found := _sentence_pair(title, chunk)) is not None:
                raw.append(TrainingPair(found[0], found[1], doc_id, "sentence"))
    docs_of_anchor: dict[str, set[str]] = {}
    for pair in raw:
        docs_of_anchor.setdefault(_norm(pair.anchor), set()).add(pair.doc_id)
    pairs: list[TrainingPair] = []
    seen: set[tuple[str, str]] = set()
    seen_positive: set[str] = set()
    for pair in raw:
        key = (_norm(pair.anchor), _norm(pair.positive))
        if len(docs_of_anchor[key[0]]) > 1 or key in seen or key[1] in seen_positive or not key[0] or not key[1]:
            continue
        seen.add(key)
        seen_positive.add(key[1])
        pairs.append(pair)
    log.info("%d training pairs from %d documents (%d before deduplication)", len(pairs), len(corpus.chunks), len(raw))
    return pairs


def document_split(doc_id: str, seed: int, validation: float = 0.05, test: float = 0.05) -> str:
    """The split of a document: a hash of its id and the seed, so it is stable and independent of the others."""
    bucket = int.from_bytes(hashlib.sha256(f"{seed}:{doc_id}".encode()).digest()[:8], "big") / 2**64
    return "validation" if bucket < validation else "test" if bucket < validation + test else "train"


def split_pairs(
    pairs: Iterable[TrainingPair],
    *,
    seed: int = 42,
    validation: float = 0.05,
    test: float = 0.05,
    max_train: int | None = None,
    max_eval: int | None = 300,
) -> PairSplit:
    """Pairs split by document (see `document_split`); each split is shuffled with ``seed`` and cut to
    ``max_train`` (train) or ``max_eval`` (validation, test) pairs."""
    if not 0 <= validation < 1 or not 0 <= test < 1 or validation + test >= 1:
        raise MedkbError(f"validation={validation}, test={test}: expected fractions summing to less than 1")
    split: dict[str, list[TrainingPair]] = {name: [] for name in SPLITS}
    documents: dict[str, str] = {}
    for pair in pairs:
        name = documents.setdefault(pair.doc_id, document_split(pair.doc_id, seed, validation, test))
        split[name].append(pair)
    rng = random.Random(seed)
    for name, limit in (("train", max_train), ("validation", max_eval), ("test", max_eval)):
        rng.shuffle(split[name])
        if limit is not None:
            del split[name][limit:]
    return PairSplit(split["train"], split["validation"], split["test"], documents)


def mine_negatives(
    pairs: Sequence[TrainingPair],
    corpus: Corpus,
    storage: ChunkSearch,
    embedder: Embedder | None,
    documents: dict[str, str],
    *,
    per_retriever: int = 1,
    depth: int = 30,
    seed: int = 42,
    max_relative: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[TrainingPair]:
    """``pairs`` with hard negatives: the best ``per_retriever`` chunks by BM25 and by ``embedder`` (if given) that
    belong to another document of the pair's own split (``documents``: document id -> split) and differ from the
    positive. A pair for which none is found gets a random chunk of its split, so every pair has one.

    ``max_relative`` (with an embedder) then drops a negative whose cosine to the anchor reaches that share of the
    positive's: a passage the embedder finds about as close to the anchor as the anchor's own passage is more
    likely another answer to it (a false negative) than a negative, and with such negatives a reranker learns to
    score down exactly the passages that restate the question. A dropped negative is not replaced by the next
    candidate (the next ones are as close, measured: docs/training.md); a pair left without any gets the random
    chunk."""
    by_split: dict[str, list[CorpusChunk]] = {}
    for chunk in corpus.by_rowid.values():
        if chunk.doc_id in documents:
            by_split.setdefault(documents[chunk.doc_id], []).append(chunk)
    rng = random.Random(seed)
    vectors = embedder.embed_documents([p.anchor for p in pairs]) if embedder is not None and pairs else None
    mined: list[list[str]] = []
    for index, pair in enumerate(pairs):
        side = documents.get(pair.doc_id)
        seen_texts = {_norm(pair.positive)}
        chosen: list[str] = []
        rankings = [storage.lexical(pair.anchor, depth)[0].tolist()]
        if vectors is not None:
            rankings.append(storage.dense(vectors[index], depth)[0].tolist())
        for ranking in rankings:
            taken = 0
            for rowid in ranking:
                chunk = corpus.by_rowid.get(int(rowid))
                if taken >= per_retriever or chunk is None:
                    continue
                if chunk.doc_id == pair.doc_id or documents.get(chunk.doc_id) != side:
                    continue
                text = _render_like(pair, corpus, chunk)
                if _norm(text) in seen_texts:
                    continue
                seen_texts.add(_norm(text))
                chosen.append(text)
                taken += 1
        mined.append(chosen)
        if progress is not None:
            progress(1)
    if max_relative is not None and embedder is not None and vectors is not None:
        similar = _too_similar(pairs, mined, embedder, vectors, max_relative)
        log.info("%d of %d mined negatives dropped as too close to their anchor", len(similar), sum(map(len, mined)))
        mined = [[t for t in chosen if (index, t) not in similar] for index, chosen in enumerate(mined)]
    out: list[TrainingPair] = []
    for pair, chosen in zip(pairs, mined, strict=True):
        side = documents.get(pair.doc_id)
        if not chosen and (pool := [c for c in by_split.get(side or "", []) if c.doc_id != pair.doc_id]):
            chosen = [_render_like(pair, corpus, rng.choice(pool))]
        out.append(replace(pair, negatives=tuple(chosen)))
    return out


def _too_similar(
    pairs: Sequence[TrainingPair],
    mined: list[list[str]],
    embedder: Embedder,
    anchors: np.ndarray,
    max_relative: float,
) -> set[tuple[int, str]]:
    """(pair index, negative) of the negatives whose cosine to the anchor is at least ``max_relative`` times the
    positive's; every text is embedded once, in one batch."""
    texts = list(dict.fromkeys([p.positive for p in pairs] + [t for chosen in mined for t in chosen]))
    row = {text: i for i, text in enumerate(texts)}
    embedded = embedder.embed_documents(texts)
    out: set[tuple[int, str]] = set()
    for index, pair in enumerate(pairs):
        limit = max_relative * float(anchors[index] @ embedded[row[pair.positive]])
        out.update((index, t) for t in mined[index] if float(anchors[index] @ embedded[row[t]]) >= limit)
    return out


def _render_like(pair: TrainingPair, corpus: Corpus, chunk: CorpusChunk) -> str:
    """A negative rendered as the pair's positive is: under its title for sentence pairs, bare text otherwise (a
    title or heading anchor must not be matchable by copying the title)."""
    return passage(corpus.titles.get(chunk.doc_id, ""), chunk.text) if pair.kind == "sentence" else chunk.text
