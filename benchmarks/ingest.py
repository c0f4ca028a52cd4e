"""Ingest throughput and peak memory: medkb against the standard LangChain pipeline, same embedder, one run.

    python benchmarks/ingest.py [--corpus $MEDKB_DATA_DIR/pubmedqa/corpus.jsonl] [--limit N]

Each pipeline runs in its own fresh process (so peak RSS is its own) on the same 1,000 PubMedQA abstracts, with
the same all-MiniLM-L6-v2 weights, after the model is loaded. LangChain: RecursiveCharacterTextSplitter(1000, 200)
+ HuggingFaceEmbeddings + FAISS.from_documents. medkb: KnowledgeBase.create + ingest (token-aware chunking,
SQLite + FAISS, one transaction per batch). Prints a table and the ratios; writes benchmarks/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kb.core.offline import use_offline_environment

use_offline_environment()

ROOT = Path(__file__).resolve().parents[1]
#: PubMedQA abstracts from the evaluation data sets ($MEDKB_DATA_DIR).
DEFAULT_CORPUS = Path(os.environ.get("MEDKB_DATA_DIR", "MEDKB_DATA_DIR-not-set")) / "pubmedqa" / "corpus.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "ingest.json"


def load_abstracts(path: Path, limit: int | None) -> list[dict]:
    """PubMedQA corpus records as ``{"pmid", "text", "year"}`` (the abstract passages joined by blank lines)."""
    records = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            records.append(
                {"pmid": row["pmid"], "text": "\n\n".join(row["contexts"]), "year": str(row.get("year", ""))}
            )
            if limit and len(records) >= limit:
                break
    return records


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_medkb(records: list[dict]) -> dict:
    from kb import Document, KnowledgeBase

    docs = [
        Document(text=r["text"], source=f"pubmedqa#{r['pmid']}", metadata={"pmid": r["pmid"], "published": r["year"]})
        for r in records
    ]
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase.create(Path(tmp) / "kb")  # loads the embedder
        kb.embedder.embed_documents(["warm up"])
        start = time.perf_counter()
        report = kb.ingest(docs)
        seconds = time.perf_counter() - start
        kb.close()
    return {"chunks": report.chunks, "documents": report.added, "seconds": seconds}


def run_langchain(records: list[dict]) -> dict:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document as LCDocument
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from kb.core.model_registry import resolve_model

    embeddings = HuggingFaceEmbeddings(
        model_name=str(resolve_model("all-MiniLM-L6-v2")), encode_kwargs={"normalize_embeddings": True}
    )
    embeddings.embed_documents(["warm up"])
    docs = [LCDocument(page_content=r["text"], metadata={"pmid": r["pmid"], "year": r["year"]}) for r in records]
    start = time.perf_counter()
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    FAISS.from_documents(chunks, embeddings)
    seconds = time.perf_counter() - start
    return {"chunks": len(chunks), "documents": len(docs), "seconds": seconds}


def child(which: str, corpus: Path, limit: int | None) -> None:
    records = load_abstracts(corpus, limit)
    result = {"medkb": run_medkb, "langchain": run_langchain}[which](records)
    result["peak_rss_mb"] = peak_rss_mb()
    result["chars"] = sum(len(r["text"]) for r in records)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None, help="only the first N abstracts")
    parser.add_argument("--child", choices=["medkb", "langchain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.corpus, args.limit)
        return
    results = {}
    for which in ("langchain", "medkb"):
        # -P: do not put benchmarks/ on sys.path, where this file would shadow the ``ingest`` package
        cmd = [sys.executable, "-P", __file__, "--child", which, "--corpus", str(args.corpus)]
        cmd += ["--limit", str(args.limit)] if args.limit else []
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"{which} run failed:\n{done.stderr[-3000:]}")
        results[which] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{'pipeline':<10} {'docs':>6} {'chunks':>7} {'seconds':>8} {'docs/s':>7} {'chunks/s':>9} "
        f"{'chars/s':>8} {'peak RSS MB':>12}"
    )
    for name, r in results.items():
        r["docs_per_s"] = r["documents"] / r["seconds"]
        r["chunks_per_s"] = r["chunks"] / r["seconds"]
        r["chars_per_s"] = r["chars"] / r["seconds"]
        print(
            f"{name:<10} {r['documents']:>6} {r['chunks']:>7} {r['seconds']:>8.1f} {r['docs_per_s']:>7.1f} "
            f"{r['chunks_per_s']:>9.1f} {r['chars_per_s']:>8.0f} {r['peak_rss_mb']:>12.0f}"
        )
    m, lc = results["medkb"], results["langchain"]
    ratios = {
        "docs_per_s": m["docs_per_s"] / lc["docs_per_s"],
        "chunks_per_s": m["chunks_per_s"] / lc["chunks_per_s"],
        "peak_rss": m["peak_rss_mb"] / lc["peak_rss_mb"],
    }
    print("medkb / langchain: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"corpus": str(args.corpus.name), "limit": args.limit, "results": results, "ratios": ratios}, indent=2
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
