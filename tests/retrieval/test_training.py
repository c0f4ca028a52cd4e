"""`medkb train`: pairs from a knowledge base's own text, the document-level split, hard negatives, the resumable
loop, and tiny real training runs of both models (a tiny BERT with MiniLM's tokenizer, a few steps, 32 tokens)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from kb.core.errors import MedkbError
from kb.core.manifest import Manifest
from kb.core.settings import Settings
from kb.core.types import Document
from kb.evaluation.retrieval_cli import add_eval_parser
from kb.knowledge_base import KnowledgeBase
from kb.training.run import TrainOptions, train_model
from retrieval.training import loop
from retrieval.training.pairs import (
    Corpus,
    CorpusChunk,
    TrainingPair,
    build_pairs,
    document_split,
    mine_negatives,
    read_corpus,
    split_pairs,
)

TOPICS = [
    ("Metformin", "Metformin lowers hepatic glucose output in type 2 diabetes"),
    ("Aspirin", "Aspirin irreversibly inhibits platelet cyclooxygenase"),
    ("Warfarin", "Warfarin antagonises vitamin K dependent clotting factors"),
    ("Asthma", "Asthma is diagnosed from variable expiratory airflow limitation"),
    ("Gout", "Gout flares follow urate crystal deposition in the joints"),
    ("Statins", "Statins lower LDL cholesterol by inhibiting HMG-CoA reductase"),
    ("Migraine", "Triptans abort acute migraine attacks with or without aura"),
    ("Sepsis", "Early antibiotics reduce mortality in septic shock"),
    ("Anaemia", "Iron deficiency is the commonest cause of anaemia worldwide"),
    ("Hypertension", "Thiazide diuretics lower blood pressure in older adults"),
    ("Psoriasis", "Biologic agents clear plaque psoriasis in many patients"),
    ("Epilepsy", "Valproate is effective against generalised seizures"),
]


def _documents() -> list[Document]:
    docs = []
    for i, (title, claim) in enumerate(TOPICS):
        text = (
            f"{claim}. The effect was measured in a cohort of {100 + i} adults over two years. "
            f"Adverse events were recorded at every visit. {title} outcomes improved in most participants."
        )
        docs.append(Document(text=text, title=f"{title} study {i}", source=f"t:{i}"))
    return docs


@pytest.fixture(scope="module")
def tiny_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("train") / "kb"
    with KnowledgeBase.create(directory, Settings(embedder="hashing", cross_lingual_embedder="")) as kb:
        kb.ingest(_documents())
    return directory


# -- pairs and the split ---------------------------------------------------------------------------------------------


def _corpus() -> Corpus:
    chunks = {
        "a": [CorpusChunk(1, "a", "", "Alpha one. Alpha two follows here. Alpha three ends it.")],
        "b": [CorpusChunk(2, "b", "symptoms", "Beta symptoms are many."), CorpusChunk(3, "b", "causes", "Beta cause.")],
        "c": [CorpusChunk(4, "c", "", "Gamma text.")],
        "d": [CorpusChunk(5, "d", "", "Gamma text.")],  # same text as c: kept once
        "e": [CorpusChunk(6, "e", "", "Shared title text one.")],
        "f": [CorpusChunk(7, "f", "", "Shared title text two.")],
    }
    titles = {"a": "Alpha", "b": "Beta", "c": "Gamma", "d": "Delta", "e": "Same", "f": "Same"}
    return Corpus(titles, chunks)


def test_pairs_of_each_kind_deduplicated() -> None:
    pairs = build_pairs(_corpus())
    got = {(p.kind, p.anchor, p.doc_id) for p in pairs}
    assert ("title", "Alpha", "a") in got
    assert ("heading", "Beta symptoms", "b") in got and ("heading", "Beta causes", "b") in got
    assert ("sentence", "Alpha one.", "a") not in got  # too short for a query
    assert sum(p.positive == "Gamma text." for p in pairs) == 1  # a repeated positive is kept once
    assert not [p for p in pairs if p.anchor == "Same"]  # an anchor two documents share is ambiguous


def test_sentence_pairs_are_first_sentence_to_rest() -> None:
    text = "Metformin lowers hepatic glucose output in diabetes. It is first-line. It is cheap."
    corpus = Corpus({"m": "Metformin"}, {"m": [CorpusChunk(1, "m", "", text)]})
    sentence = [p for p in build_pairs(corpus) if p.kind == "sentence"]
    assert sentence and sentence[0].anchor == "Metformin lowers hepatic glucose output in diabetes."
    assert sentence[0].positive == "Metformin\nIt is first-line. It is cheap."


def test_split_is_by_document_and_deterministic() -> None:
    corpus = Corpus(
        {f"d{i}": f"Title number {i}" for i in range(400)},
        {
            f"d{i}": [CorpusChunk(i, f"d{i}", "", f"Text of document {i}. It has words. Many of them.")]
            for i in range(400)
        },
    )
    pairs = build_pairs(corpus)
    split = split_pairs(pairs, seed=7, validation=0.1, test=0.1, max_eval=None)
    sides = {name: {p.doc_id for p in split.by_name(name)} for name in ("train", "validation", "test")}
    assert sides["train"] and sides["validation"] and sides["test"]
    assert not sides["train"] & sides["validation"] and not sides["train"] & sides["test"]
    assert not sides["validation"] & sides["test"]
    assert all(split.documents[p.doc_id] == name for name in sides for p in split.by_name(name))
    again = split_pairs(pairs, seed=7, validation=0.1, test=0.1, max_eval=None)
    assert again.train == split.train
    assert document_split("d1", 7) == document_split("d1", 7)
    with pytest.raises(MedkbError, match="fractions"):
        split_pairs(pairs, validation=0.6, test=0.5)


def test_hard_negatives_stay_in_their_split_and_off_their_document(tiny_kb: Path) -> None:
    corpus = read_corpus(tiny_kb)
    split = split_pairs(build_pairs(corpus), seed=3, validation=0.3, test=0.3, max_eval=None)
    everything = [*split.train, *split.validation, *split.test]
    texts: dict[str, set[str]] = {}
    for chunk in corpus.by_rowid.values():
        texts.setdefault(chunk.doc_id, set()).add(chunk.text)
    with KnowledgeBase.open(tiny_kb) as kb:
        mined = mine_negatives(everything, corpus, kb.storage, kb.embedder, split.documents, per_retriever=2)
    assert len(mined) == len(everything)
    for pair in mined:
        assert pair.negatives, pair
        for negative in pair.negatives:
            body = negative.split("\n", 1)[-1]
            owners = [doc for doc, bodies in texts.items() if body in bodies]
            assert owners and pair.doc_id not in owners
            assert all(split.documents[o] == split.documents[pair.doc_id] for o in owners)


class _Vectors:
    """A fake embedder: fixed unit vectors by text (unknown texts get the last axis)."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    @property
    def dim(self) -> int:
        return 3

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        rows = [self.table.get(text, [0.0, 0.0, 1.0]) for text in texts]
        return np.asarray([np.asarray(r) / np.linalg.norm(r) for r in rows], dtype=np.float32)


class _Rankings:
    """A fake storage: BM25 and the vector index both rank the given row ids, best first."""

    def __init__(self, rowids: list[int]) -> None:
        self.rowids = np.asarray(rowids)

    def lexical(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.rowids[:k], np.ones(min(k, len(self.rowids)))

    def dense(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.rowids[:k], np.ones(min(k, len(self.rowids)))


def test_screen_drops_negatives_as_close_to_the_anchor_as_its_positive() -> None:
    """A passage that restates the anchor (cosine above 0.95 of the positive's) is a likely false negative: with
    ``max_relative`` it is dropped (not replaced); without it, it is the first negative."""
    chunks = {
        "own": [CorpusChunk(1, "own", "", "Gout flares follow urate deposition.")],
        "copy": [CorpusChunk(2, "copy", "", "Gout flares come from urate crystals.")],
        "other": [CorpusChunk(3, "other", "", "Asthma is variable airflow limitation.")],
        "far": [CorpusChunk(4, "far", "", "Statins lower cholesterol.")],
    }
    corpus = Corpus({d: "" for d in chunks}, chunks)
    pair = TrainingPair("gout", "Gout flares follow urate deposition.", "own", "title")
    embedder = _Vectors(
        {
            "gout": [1.0, 0.0, 0.0],
            "Gout flares follow urate deposition.": [0.8, 0.6, 0.0],  # cosine 0.8 to the anchor
            "Gout flares come from urate crystals.": [0.9, 0.1, 0.1],  # cosine 0.99: restates it
            "Asthma is variable airflow limitation.": [0.5, 0.0, 0.87],  # cosine 0.5
        }
    )
    documents = dict.fromkeys(chunks, "train")
    storage = _Rankings([1, 2, 3, 4])
    plain = mine_negatives([pair], corpus, storage, embedder, documents)  # type: ignore[arg-type]
    screened = mine_negatives([pair], corpus, storage, embedder, documents, max_relative=0.95)  # type: ignore[arg-type]
    assert plain[0].negatives[0] == "Gout flares come from urate crystals."
    assert screened[0].negatives == ("Asthma is variable airflow limitation.",)
    alone = mine_negatives([pair], corpus, _Rankings([2]), embedder, documents, max_relative=0.95)  # type: ignore[arg-type]
    assert len(alone[0].negatives) == 1  # none left: a random chunk of the split, as for a pair with no candidates


# -- the loop: determinism and resume, on a toy model -----------------------------------------------------------------


def _toy_task() -> loop.TrainingTask[tuple[float, float]]:
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Dropout(0.2), torch.nn.Linear(4, 1))

    def loss(batch: list[tuple[float, float]]) -> torch.Tensor:
        x = torch.tensor([[a] for a, _ in batch])
        y = torch.tensor([[b] for _, b in batch])
        return torch.nn.functional.mse_loss(model(x), y)

    def save(path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path / "toy.pt")

    return loop.TrainingTask(model, loss, lambda: {"score": 0.0}, "score", save)


_EXAMPLES = [(float(i) / 10, float(i) / 5) for i in range(24)]


def test_loop_is_deterministic_and_resumes_exactly(tmp_path: Path) -> None:
    config = loop.LoopConfig(epochs=2, batch_size=4, learning_rate=0.05, checkpoint_every=1, seed=5)
    group = str
    loop.seed_everything(5, 1)
    first = loop.train(_toy_task(), _EXAMPLES, config, tmp_path / "a", group=group, progress=False)
    loop.seed_everything(5, 1)
    second = loop.train(_toy_task(), _EXAMPLES, config, tmp_path / "b", group=group, progress=False)
    assert first.losses == second.losses and len(first.losses) == 12

    # Interrupt after 5 steps, then resume: the same losses as the uninterrupted run.
    calls = {"n": 0}
    loop.seed_everything(5, 1)
    task = _toy_task()
    real_loss = task.loss

    def dying(batch: list[tuple[float, float]]) -> object:
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real_loss(batch)

    with pytest.raises(KeyboardInterrupt):
        loop.train(
            loop.TrainingTask(task.model, dying, task.evaluate, "score", task.save),
            _EXAMPLES,
            config,
            tmp_path / "c",
            group=group,
            progress=False,
        )
    resumed = loop.train(_toy_task(), _EXAMPLES, config, tmp_path / "c", group=group, resume=True, progress=False)
    assert resumed.resumed_at_step == 5
    assert resumed.losses == first.losses


def test_validation_metrics_of_known_rankings() -> None:
    from retrieval.training.validation import ranking_metrics

    first = (0, {0: 0.1, 1: 0.9, 2: 0.5})  # relevant passage third
    second = (1, {0: 0.2, 1: 0.8})  # relevant first
    beyond = (0, {0: 0.0, **{i: 1.0 + i for i in range(1, 12)}})  # relevant twelfth: outside the top 10
    metrics = ranking_metrics([first, second, beyond])
    assert metrics["ndcg@10"] == pytest.approx((0.5 + 1) / 3, abs=1e-4)
    assert metrics["mrr@10"] == pytest.approx((1 / 3 + 1) / 3, abs=1e-4)
    assert (metrics["recall@1"], metrics["recall@10"]) == (
        pytest.approx(1 / 3, abs=1e-4),
        pytest.approx(2 / 3, abs=1e-4),
    )
    assert ranking_metrics([]) == {"ndcg@10": 0.0, "mrr@10": 0.0, "recall@1": 0.0, "recall@10": 0.0}


def test_batches_never_hold_two_examples_of_one_document() -> None:
    examples = [(f"doc{i % 5}", i) for i in range(40)]
    for batch in loop.epoch_batches(examples, 0, loop.LoopConfig(batch_size=4), group=lambda e: e[0]):
        assert len({doc for doc, _ in batch}) == len(batch)


# -- tiny real runs ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deliberately tiny BERT bi-encoder (2 layers, 32-d, random weights) with the bundled MiniLM's tokenizer:
    training, saving and checkpointing the real 90 MB weights takes minutes on 2 shared cores, this takes seconds.
    The real weights are exercised by the measured runs in docs/training.md."""
    import shutil

    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel

    from kb.core.model_registry import resolve_model

    source = resolve_model("all-MiniLM-L6-v2")
    folder = tmp_path_factory.mktemp("tiny-base")
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64
    )
    BertModel(config).save_pretrained(folder / "hf")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copy(source / name, folder / "hf" / name)
    modules = [Transformer(str(folder / "hf"), max_seq_length=32), Pooling(32, "mean"), Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder / "st"))
    return folder / "st"


@pytest.fixture(scope="module")
def trained_kb(tiny_kb: Path, tiny_base: Path) -> Path:
    # Epochs left to the per-kind defaults (embedder 1, reranker 2), which the first test checks.
    tiny = TrainOptions(batch_size=4, max_pairs=8, max_length=32, checkpoint_every=100, base=str(tiny_base))
    train_model("embedder", tiny_kb, tiny)
    train_model("reranker", tiny_kb, tiny)
    return tiny_kb


def test_trained_models_load_and_are_recorded(trained_kb: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.cross_encoder import CrossEncoder

    manifest = Manifest.load(trained_kb)
    assert set(manifest.trained) == {"embedder", "reranker"}
    for kind in ("embedder", "reranker"):
        entry = manifest.trained[kind]
        assert entry["path"] == f"models/{kind}/model" and entry["seed"] == 42
        assert entry["pairs"]["train"] <= 8 and entry["seconds"] > 0
        report = json.loads((trained_kb / "models" / kind / "report.json").read_text(encoding="utf-8"))
        assert len(report["loss"]) == report["steps"] > 0
        epochs = {"embedder": 1, "reranker": 2}[kind]
        assert report["options"]["epochs"] == epochs
        assert [m["epoch"] for m in report["validation"]] == [float(e) for e in range(epochs + 1)]
    vectors = SentenceTransformer(str(trained_kb / "models/embedder/model"), device="cpu").encode(["gout"])
    assert vectors.shape == (1, 32)
    scores = CrossEncoder(str(trained_kb / "models/reranker/model"), device="cpu").predict([("gout", "urate")])
    assert np.isfinite(scores).all()


def test_reranked_search(trained_kb: Path) -> None:
    query = "urate crystals in joints"
    with KnowledgeBase.open(trained_kb) as kb:
        pool = kb.search(query, k=kb.settings.rerank_candidates)
        reranked = kb.search(query, k=5, rerank=True)
    assert len(reranked) == 5 and {h.chunk_id for h in reranked} <= {h.chunk_id for h in pool}
    assert all("rerank" in h.scores and "dense" in h.scores for h in reranked)
    assert [h.rank for h in reranked] == [1, 2, 3, 4, 5]
    assert [h.score for h in reranked] == sorted((h.score for h in reranked), reverse=True)


def test_rerank_without_a_trained_reranker_names_the_command(tiny_kb: Path, tmp_path: Path) -> None:
    from kb.cli import main

    directory = tmp_path / "plain"
    with KnowledgeBase.create(directory, Settings(embedder="hashing", cross_lingual_embedder="")) as kb:
        kb.ingest(_documents()[:3])
        with pytest.raises(MedkbError, match="medkb train reranker --kb"):
            kb.search("gout", rerank=True)
    assert main(["search", "gout", "--kb", str(directory), "--rerank"]) == 2


def test_apply_refuses_before_training(tiny_kb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kb.cli import main

    assert main(["train", "embedder", "--kb", str(tiny_kb), "--apply"]) == 2
    assert "medkb ingest" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (TrainOptions(epochs=0), "epochs=0"),
        (TrainOptions(batch_size=0), "batch_size=0"),
        (TrainOptions(max_length=0), "max_length=0"),
    ],
)
def test_bad_options_are_refused_before_training(tiny_kb: Path, options: TrainOptions, named: str) -> None:
    """A zero is an error naming the option (not replaced by the default), raised before the corpus is read."""
    with pytest.raises(MedkbError, match=named):
        train_model("reranker", tiny_kb, options)


def test_small_knowledge_base_reports_no_test_figures(
    tiny_kb: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A knowledge base too small for a test split gets a line saying so, not test figures of 0.000."""
    from kb.cli import main
    from kb.training import cli

    zeros = dict.fromkeys(("ndcg@10", "mrr@10", "recall@1", "recall@10"), 0.0)
    report = {
        "path": "models/reranker/model",
        "steps": 4,
        "seconds": 1.0,
        "pairs": {"train": 9, "validation": 1, "test": 0},
        "best_epoch": 1,
        "metrics": {"validation": {"epoch": 1.0, **zeros}, "test": zeros, "test_untrained": zeros},
    }
    monkeypatch.setattr(cli, "train_model", lambda *args, **kwargs: report)
    assert main(["train", "reranker", "--kb", str(tiny_kb), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "test: no held-out pairs" in out and "test, trained" not in out


@pytest.mark.e2e  # a bundled model
def test_eval_systems_with_trained_models(trained_kb: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The harness refuses hybrid+rerank without a reranker, naming the command; with both models trained on the
    evaluated knowledge base it runs hybrid+rerank, tuned-dense and tuned-hybrid."""
    folder = tmp_path / "beir"
    folder.mkdir()
    docs = _documents()
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": str(i), "title": d.title, "text": d.text}) + "\n" for i, d in enumerate(docs)),
        encoding="utf-8",
    )
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "urate crystals in joints"}) + "\n", encoding="utf-8"
    )
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t4\t1\n", encoding="utf-8")
    parser = argparse.ArgumentParser(prog="medkb")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    base = [
        "eval",
        "retrieval",
        "--data",
        str(folder),
        "--embedder",
        "hashing",
        "--kb-cache",
        str(tmp_path / "c"),
    ]
    args = parser.parse_args([*base, "--print-kb-dir"])
    assert args.func(args) == 0
    kb_dir = Path(capsys.readouterr().out.strip())
    assert kb_dir == tmp_path / "c" / "kb"
    args = parser.parse_args([*base, "--systems", "hybrid+rerank"])
    with pytest.raises(MedkbError, match=f"medkb train reranker --kb {kb_dir}"):
        args.func(args)
    # Train on the evaluated knowledge base's corpus: copying the trained models' records is the same as training.
    import shutil

    shutil.copytree(trained_kb / "models", kb_dir / "models")
    manifest = Manifest.load(kb_dir)
    manifest.trained = Manifest.load(trained_kb).trained
    manifest.save(kb_dir)
    args = parser.parse_args([*base, "--systems", "hybrid,hybrid+rerank,tuned-dense,tuned-hybrid", "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["systems"]) == {"hybrid", "hybrid+rerank", "tuned-dense", "tuned-hybrid"}
    assert out["systems"]["tuned-dense"]["recall@10"] == 1.0  # 12 documents: the relevant one is in the top 10
    assert out["systems"]["tuned-hybrid"]["recall@10"] == 1.0
