"""`medkb eval retrieval`: data sets, document-level ranking, the metrics wrapper, and whole runs on tiny data."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from kb.core.types import Hit
from kb.evaluation import langchain_baseline
from kb.evaluation.datasets import load_beir, load_dataset
from kb.evaluation.metrics import evaluate, per_query
from kb.evaluation.retrieval_cli import add_eval_parser
from kb.evaluation.systems import document_ranking
from tests.shared_data import NEEDS_DATA, SHARED_DATA

DOCS = [
    ("d1", "Metformin", "Metformin lowers blood glucose in type 2 diabetes."),
    ("d2", "Aspirin", "Aspirin inhibits platelet aggregation and prevents thrombosis."),
    ("d3", "Zolmitriptan", "Zolmitriptan treats acute migraine attacks with or without aura."),
    ("d4", "Warfarin", "Warfarin is an anticoagulant monitored by the INR."),
    ("d5", "Statins", "Statins reduce LDL cholesterol and cardiovascular events."),
]
QUERIES = [("q1", "zolmitriptan"), ("q2", "blood glucose lowering drug"), ("q3", "anticoagulant INR monitoring")]
QRELS = [("q1", "d3", 1), ("q2", "d1", 1), ("q3", "d4", 1), ("q3", "d2", 0)]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="medkb")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS), encoding="utf-8"
    )
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": i, "text": x}) + "\n" for i, x in QUERIES), encoding="utf-8"
    )
    rows = "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    return folder


@pytest.mark.e2e  # a bundled model
def test_beir_run_json(beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(
        ["eval", "retrieval", "--data", str(beir_dir), "--embedder", "hashing"]
        + ["--kb-cache", str(tmp_path / "cache"), "--json"]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "beir" and out["queries"] == 3 and out["documents"] == 5
    baselines = {"langchain"} if langchain_baseline.available() else set()
    assert set(out["systems"]) == {"bm25", "dense", "hybrid", "rrf"} | baselines
    for scores in out["systems"].values():
        assert set(scores) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "qps"}
        assert all(0.0 <= scores[m] <= 1.0 for m in ("ndcg@10", "recall@10", "recall@100", "mrr@10"))
        assert scores["qps"] > 0


def test_bm25_ranks_the_exact_rare_word_first(beir_dir: Path, tmp_path: Path) -> None:
    from kb.core.settings import Settings
    from kb.evaluation.systems import open_kb, run_system

    dataset = load_beir(beir_dir)
    kb = open_kb(dataset, tmp_path / "cache", Settings(embedder="hashing", cross_lingual_embedder="hashing"), None)
    try:
        run, _ = run_system(kb, "bm25", dataset.queries)
    finally:
        kb.close()
    assert next(iter(run["q1"])) == "beir:d3"
    assert per_query(dataset.qrels, run)["q1"]["mrr@10"] == 1.0


@pytest.mark.e2e  # a bundled model
def test_kb_is_reused(beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "eval",
        "retrieval",
        "--data",
        str(beir_dir),
        "--embedder",
        "hashing",
        "--systems",
        "bm25",
    ]
    argv += ["--kb-cache", str(tmp_path / "cache")]
    args = _parse(argv)
    assert args.func(args) == 0
    built = (tmp_path / "cache" / "built.json").stat().st_mtime_ns
    assert args.func(args) == 0
    assert (tmp_path / "cache" / "built.json").stat().st_mtime_ns == built
    assert "bm25" in capsys.readouterr().out


def _hit(source: str, chunk: str) -> Hit:
    return Hit(chunk_id=chunk, doc_id=source, text="", score=0.0, source=source)


def test_document_ranking_keeps_each_document_at_its_best_chunk() -> None:
    hits = [_hit("a", "a1"), _hit("b", "b1"), _hit("a", "a2"), _hit("c", "c1"), _hit("b", "b2")]
    ranking = document_ranking(hits)
    assert list(ranking) == ["a", "b", "c"]
    assert sorted(ranking.values(), reverse=True) == list(ranking.values())


def test_metrics_match_hand_computed_values() -> None:
    # Relevant: a (grade 1) and d (grade 1); ranking b, a, c, d.
    qrels = {"q": {"a": 1, "d": 1}}
    run = {"q": {"b": 4.0, "a": 3.0, "c": 2.0, "d": 1.0}}
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    scores = evaluate(qrels, run)
    assert scores["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-4)
    assert scores["mrr@10"] == pytest.approx(0.5)
    assert scores["recall@10"] == pytest.approx(1.0)


def test_metrics_count_unanswered_queries_as_zero() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    scores = evaluate(qrels, {"q1": {"a": 1.0}, "q2": {}})
    assert scores["mrr@10"] == pytest.approx(0.5)
    assert scores["recall@100"] == pytest.approx(0.5)


def test_mrr_is_cut_at_ten() -> None:
    run = {"q": {f"x{i}": float(100 - i) for i in range(10)} | {"a": 1.0}}
    assert evaluate({"q": {"a": 1}}, run)["mrr@10"] == 0.0


@pytest.mark.skipif(
    not (SHARED_DATA / "scifact" / "corpus.jsonl").exists(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)
@pytest.mark.e2e  # a bundled model
def test_scifact_limit_5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MEDKB_DATA_DIR", str(SHARED_DATA))
    args = _parse(
        [
            "eval",
            "retrieval",
            "--dataset",
            "scifact",
            "--limit",
            "5",
            "--corpus-limit",
            "30",
            "--embedder",
            "hashing",
        ]
        + ["--kb-cache", str(tmp_path / "cache"), "--json"]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "scifact" and out["split"] == "dev" and out["queries"] == 5
    assert 30 < out["documents"] <= 40
    assert out["systems"]["bm25"]["recall@100"] > 0


@pytest.mark.parametrize(("name", "prefix"), [("pubmedqa", "pubmedqa:"), ("medquad", "medquad:")])
def test_shared_loaders(name: str, prefix: str) -> None:
    if not (SHARED_DATA / name / "dev.jsonl").exists():
        pytest.skip(f"{NEEDS_DATA}: no {name} data there")
    dataset = load_dataset(name, limit=3, root=SHARED_DATA)
    assert len(dataset.queries) == 3 and set(dataset.qrels) == set(dataset.queries)
    keep = dataset.keep(5)
    assert keep is not None and all(doc in keep for docs in dataset.qrels.values() for doc in docs)
    assert all(key.startswith(prefix) for key in keep) and len(keep) <= 3 * 2 + 5


def test_bioasq_corpus_is_the_deduplicated_snippets(tmp_path: Path) -> None:
    folder = tmp_path / "bioasq" / "Task7BGoldenEnriched"
    folder.mkdir(parents=True)
    snippet = {"text": "BRCA1 is a tumour suppressor.", "document": "http://www.ncbi.nlm.nih.gov/pubmed/123"}
    questions = [
        {"id": "a", "body": "What is BRCA1?", "snippets": [snippet, {"text": "Other text.", "document": "x/9"}]},
        {"id": "b", "body": "Is BRCA1 bad?", "snippets": [dict(snippet, text=" BRCA1 is a  tumour suppressor.")]},
    ]
    (folder / "7B1_golden.json").write_text(json.dumps({"questions": questions}), encoding="utf-8")
    dataset = load_dataset("bioasq", root=tmp_path)
    assert dataset.split == "all" and list(dataset.queries) == ["a", "b"]
    assert len(list(dataset.corpus.keys())) == 2
    assert set(dataset.qrels["b"]) < set(dataset.qrels["a"])


@pytest.mark.e2e  # a bundled model
def test_translated_queries_run_beside_their_originals(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    translated = tmp_path / "zh.jsonl"
    lines = [{"id": "q1", "question": "佐米曲普坦 zolmitriptan"}, {"id": "q3", "question": "抗凝药 INR 监测"}]
    translated.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    args = _parse(
        [
            "eval",
            "retrieval",
            "--data",
            str(beir_dir),
            "--embedder",
            "hashing",
            "--systems",
            "bm25",
        ]
        + ["--queries", str(translated), "--with-original", "--kb-cache", str(tmp_path / "cache"), "--json"]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["queries"] == 2 and set(out["systems"]) == {"bm25", "bm25@original"}
    assert out["systems"]["bm25@original"]["mrr@10"] == 1.0  # both originals name their document exactly


@pytest.mark.e2e  # a bundled model
def test_translate_searches_chinese_questions_as_their_english(
    beir_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--translate MODEL`` sets ``Settings.translate_model``: the named generator (a fake here) translates each
    Chinese question once, and every system searches the English."""
    english = {"偏头痛急性发作用什么药？": "zolmitriptan", "如何监测抗凝药？": "anticoagulant INR monitoring"}
    asked: list[str] = []
    made: list[str] = []

    class _Generator:
        name = "fake-translator"

        def generate(self, messages, *, max_tokens=256, temperature=0.0):  # type: ignore[no-untyped-def]
            question = messages[-1]["content"].split("\n", 1)[1]
            asked.append(question)
            return english[question]

    def make_generator(spec: str, *, model: str, cache_dir: Path | None = None, threads: int | None = 1) -> _Generator:
        made.append(model)
        return _Generator()

    monkeypatch.setattr("kb.knowledge_base.make_generator", make_generator)
    translated = tmp_path / "zh.jsonl"
    lines = [{"id": "q1", "question": "偏头痛急性发作用什么药？"}, {"id": "q3", "question": "如何监测抗凝药？"}]
    translated.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    base = [
        "eval",
        "retrieval",
        "--data",
        str(beir_dir),
        "--embedder",
        "hashing",
        "--systems",
        "bm25,hybrid",
    ]
    base += ["--queries", str(translated), "--kb-cache", str(tmp_path / "cache"), "--json"]
    args = _parse(base)
    assert args.func(args) == 0
    untranslated = json.loads(capsys.readouterr().out)["systems"]
    args = _parse([*base, "--translate", "some-model"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)["systems"]
    assert made == ["some-model"] and sorted(asked) == sorted(english)  # once per question, for both systems
    assert out["bm25"]["mrr@10"] == out["hybrid"]["mrr@10"] == 1.0
    assert untranslated["bm25"]["mrr@10"] == 0.0  # no English word of the documents in the Chinese questions


def test_a_translation_naming_an_unknown_query_is_refused(beir_dir: Path, tmp_path: Path) -> None:
    from kb.evaluation.datasets import EvalError

    translated = tmp_path / "zh.jsonl"
    translated.write_text(json.dumps({"id": "q9", "question": "不存在"}) + "\n", encoding="utf-8")
    with pytest.raises(EvalError, match="q9"):
        load_beir(beir_dir).with_queries(translated)
    args = _parse(["eval", "retrieval", "--data", str(beir_dir), "--with-original"])
    with pytest.raises(EvalError, match="--queries"):
        args.func(args)


@pytest.mark.parametrize("name", ["scifact", "pubmedqa", "medquad", "bioasq"])
@pytest.mark.e2e  # a bundled model
def test_every_system_on_every_data_set_ci_sized(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The harness end to end on each shared data set, CI-sized (5 questions, their documents and 25 others), with
    the bundled embedder and every system, LangChain's included."""
    if not (SHARED_DATA / name).exists():
        pytest.skip(f"{NEEDS_DATA}: no {name} data there")
    monkeypatch.setenv("MEDKB_DATA_DIR", str(SHARED_DATA))
    systems = ["bm25", "dense", "rrf", "hybrid"] + (["langchain"] if langchain_baseline.available() else [])
    args = _parse(
        ["eval", "retrieval", "--dataset", name, "--limit", "5", "--corpus-limit", "25", "--systems", ",".join(systems)]
        + ["--kb-cache", str(tmp_path / "cache"), "--json"]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == name and out["queries"] == 5 and set(out["systems"]) == set(systems)
    for system, scores in out["systems"].items():
        assert set(scores) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "qps"}, system
        assert all(0.0 <= scores[m] <= 1.0 for m in ("ndcg@10", "recall@10", "recall@100", "mrr@10")), system
    # every relevant document is in this small knowledge base: the fused systems find some in their top 10
    assert out["systems"]["hybrid"]["recall@10"] > 0.5 and out["systems"]["rrf"]["recall@10"] > 0.5


def _beir_copy(beir_dir: Path, folder: Path, prefix: str) -> Path:
    """``beir_dir`` with other document and query ids (the same texts): another data set."""
    folder.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
        text = (beir_dir / name).read_text(encoding="utf-8")
        for old in ("d1", "d2", "d3", "d4", "d5", "q1", "q2", "q3"):
            text = text.replace(f'"{old}"', f'"{prefix}{old}"').replace(f"{old}\t", f"{prefix}{old}\t")
        text = text.replace("\td", f"\t{prefix}d")
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize("cache", ["default", "explicit"])
@pytest.mark.e2e  # a bundled model
def test_a_second_beir_directory_is_not_scored_on_the_first_ones_kb(
    beir_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cache: str
) -> None:
    """Issue 23, item 7: evaluating another BEIR directory reused the first one's knowledge base and scored 0.000."""
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path / "medkb-cache"))
    other = _beir_copy(beir_dir, tmp_path / "other", "x")
    assert "xd3" in (other / "qrels.tsv").read_text()
    scores = []
    for folder in (beir_dir, other):
        argv = [
            "eval",
            "retrieval",
            "--data",
            str(folder),
            "--embedder",
            "hashing",
            "--systems",
            "bm25",
            "--json",
        ]
        argv += ["--kb-cache", str(tmp_path / "cache")] if cache == "explicit" else []
        args = _parse(argv)
        assert args.func(args) == 0
        scores.append(json.loads(capsys.readouterr().out)["systems"]["bm25"]["mrr@10"])
    assert scores[0] > 0.5 and scores[1] == scores[0]
    if cache == "default":  # one knowledge base per corpus, both kept
        assert len(list((tmp_path / "medkb-cache" / "eval").glob("beir-*"))) == 2
