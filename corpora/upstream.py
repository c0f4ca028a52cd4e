"""Evaluation data sets made from their public releases, for a machine without ``$MEDKB_DATA_DIR``.

``medkb corpus fetch scifact`` (or ``pubmedqa``, ``medquad``) downloads the files the catalog entry lists as
``upstream`` into ``<cache>/corpora/<name>`` (resumable; the sha256 of each download is recorded, and a later fetch
checks the file against it), then converts them into the layout medkb's loaders read, in ``<cache>/data/<name>``
(`kb.core.data_dir.data_set_dir` finds it there when ``$MEDKB_DATA_DIR`` does not hold the set). Each converter checks
the record counts the release is known to have, so a truncated or different release is refused, and writes a
``SOURCE.md`` naming the files, their sha256 and what was done to them.

The converted sets follow each release's own split: SciFact's dev claims, PubMedQA's labelled abstracts outside its
official test set, every answered MedQuAD question. Figures in medkb's docs were measured on held-out splits of the
same releases, so they are not comparable to the digit.

Example::

    from corpora.catalog import get_corpus
    from corpora.upstream import fetch_data_set
    report = fetch_data_set(get_corpus("scifact"))
    print(report.dest)  # ~/.cache/medkb/data/scifact
"""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from lxml import etree

from corpora.catalog import CorpusEntry, CorpusError
from corpora.fetch import FetchReport, ProgressFn, fetch
from kb.core.data_dir import fetched_data_dir
from kb.core.model_registry import file_sha256

logger = logging.getLogger(__name__)

#: What each release is known to hold; a conversion that counts otherwise is refused.
SCIFACT_ABSTRACTS = 5183
PUBMEDQA_LABELLED, PUBMEDQA_TEST = 1000, 500
MEDQUAD_ANSWERED = 16407

_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def fetch_data_set(
    entry: CorpusEntry,
    downloads: Path | None = None,
    *,
    out: Path | None = None,
    progress: ProgressFn | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
) -> FetchReport:
    """Download ``entry``'s upstream files into ``downloads`` (default ``<cache>/corpora/<name>``) and convert them
    into ``out`` (default ``<cache>/data/<name>``), replacing an earlier conversion only once the new one is
    complete; the report's ``dest`` is ``out`` and its ``files`` what was written there."""
    if not entry.upstream:
        raise CorpusError(f"corpus {entry.name!r} has no public release medkb can fetch and convert")
    if entry.name not in CONVERTERS:
        raise CorpusError(f"corpus {entry.name!r}: no converter for its release (known: {', '.join(CONVERTERS)})")
    release = replace(entry, urls=entry.upstream, path=None, upstream=())
    report = fetch(release, downloads, progress=progress, timeout=timeout, retries=retries, backoff=backoff)
    out = out or fetched_data_dir() / entry.name
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        counts = CONVERTERS[entry.name]({path.name: path for path in report.files}, partial)
        _write_source(partial, entry, report.files, counts)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    logger.info("%s: converted into %s (%s)", entry.name, out, ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    report.dest, report.files = out, sorted(out.iterdir())
    return report


# -- SciFact: data.tar.gz of the allenai release --------------------------------------------------------------------


def convert_scifact(files: dict[str, Path], out: Path) -> dict[str, int]:
    """``data.tar.gz`` (``data/corpus.jsonl``, ``data/claims_{train,dev,test}.jsonl``) into ``corpus.jsonl``,
    ``claims_dev.jsonl`` and ``claims_test_unlabeled.jsonl`` (``id`` and ``claim`` only)."""
    archive = _one(files, "data.tar.gz")
    members = _tar_members(archive, {"corpus.jsonl", "claims_dev.jsonl", "claims_test.jsonl"})
    corpus = _jsonl(members["corpus.jsonl"], archive, "corpus.jsonl")
    _expect(archive, "abstracts in corpus.jsonl", len(corpus), SCIFACT_ABSTRACTS)
    for obj in corpus:
        _fields(archive, "corpus.jsonl", obj, ("doc_id", "title", "abstract"))
    dev = _jsonl(members["claims_dev.jsonl"], archive, "claims_dev.jsonl")
    for obj in dev:
        _fields(archive, "claims_dev.jsonl", obj, ("id", "claim", "cited_doc_ids"))
    test = []
    for obj in _jsonl(members["claims_test.jsonl"], archive, "claims_test.jsonl"):
        _fields(archive, "claims_test.jsonl", obj, ("id", "claim"))
        test.append({"id": obj["id"], "claim": obj["claim"]})
    _write_jsonl(out / "corpus.jsonl", corpus)
    _write_jsonl(out / "claims_dev.jsonl", dev)
    _write_jsonl(out / "claims_test_unlabeled.jsonl", test)
    return {"abstracts": len(corpus), "dev claims": len(dev), "test claims": len(test)}


# -- PubMedQA: the labelled set (PQA-L) and its official test PMIDs --------------------------------------------------


def convert_pubmedqa(files: dict[str, Path], out: Path) -> dict[str, int]:
    """``ori_pqal.json`` (PMID -> question, contexts, labels, ...) and ``test_ground_truth.json`` (PMID -> label)
    into ``corpus.jsonl`` (every abstract, without question, conclusion or label) and ``dev.jsonl`` (the labelled
    items outside the official test set)."""
    labelled_path, test_path = _one(files, "ori_pqal.json"), _one(files, "test_ground_truth.json")
    labelled = _json_object(labelled_path)
    test = _json_object(test_path)
    _expect(labelled_path, "labelled items", len(labelled), PUBMEDQA_LABELLED)
    _expect(test_path, "official test items", len(test), PUBMEDQA_TEST)
    corpus, dev = [], []
    for pmid, item in labelled.items():
        if not isinstance(item, dict):
            raise CorpusError(f"{labelled_path}: item {pmid}: expected an object, found {type(item).__name__}")
        _fields(labelled_path, pmid, item, ("QUESTION", "CONTEXTS", "final_decision"))
        abstract = {
            "pmid": str(pmid),
            "contexts": item["CONTEXTS"],
            "section_labels": item.get("LABELS", []),
            "meshes": item.get("MESHES", []),
            "year": item.get("YEAR"),
        }
        corpus.append(abstract)
        if pmid not in test:
            dev.append(
                abstract
                | {
                    "question": item["QUESTION"],
                    "long_answer": item.get("LONG_ANSWER", ""),
                    "final_decision": item["final_decision"],
                    "reasoning_required_pred": item.get("reasoning_required_pred"),
                    "reasoning_free_pred": item.get("reasoning_free_pred"),
                    "in_official_test_split": False,
                }
            )
    _write_jsonl(out / "corpus.jsonl", corpus)
    _write_jsonl(out / "dev.jsonl", dev)
    return {"abstracts": len(corpus), "dev questions": len(dev)}


# -- MedQuAD: the repository's XML files at a pinned commit ----------------------------------------------------------


def convert_medquad(files: dict[str, Path], out: Path) -> dict[str, int]:
    """The repository archive's XML files into ``corpus.jsonl`` (one passage per answered question-answer pair, keyed
    ``<folder>/<file>#<pid>``) and ``dev.jsonl`` (each distinct question, its gold passages every answered pair that
    asks it: same text, case and spacing aside)."""
    archive = _one(files, ".zip", suffix=True)
    passages: list[dict[str, Any]] = []
    questions: dict[str, dict[str, Any]] = {}
    for name, data in _zip_xml(archive):
        for passage, question, qid in _medquad_pairs(archive, name, data):
            passages.append(passage)
            key = " ".join(question.lower().split())
            group = questions.setdefault(
                key,
                {
                    "id": passage["passage_id"],
                    "question": question,
                    "qtype": passage["section"],
                    "focus": passage["focus"],
                    "gold_passage_ids": [],
                    "answers": [],
                },
            )
            group["gold_passage_ids"].append(passage["passage_id"])
            answer = {k: passage[k] for k in ("passage_id", "doc_id", "source", "url", "text")}
            group["answers"].append(answer | {"qid": qid})
    _expect(archive, "answered question-answer pairs", len(passages), MEDQUAD_ANSWERED)
    _write_jsonl(out / "corpus.jsonl", passages)
    _write_jsonl(out / "dev.jsonl", questions.values())
    return {"passages": len(passages), "questions": len(questions)}


_MEDQUAD_FILE = re.compile(r"^[^/]+/(\d+_[A-Za-z_]+QA(?:_XML)?)/([^/]+)\.xml$")


def _zip_xml(archive: Path) -> Iterator[tuple[str, bytes]]:
    """(``<folder>/<file stem>``, bytes) of each MedQuAD XML file in the repository archive, in name order."""
    try:
        with zipfile.ZipFile(archive) as z:
            for info in sorted(z.infolist(), key=lambda i: i.filename):
                if m := _MEDQUAD_FILE.match(info.filename):
                    yield f"{m.group(1)}/{m.group(2)}", z.read(info)
    except zipfile.BadZipFile as exc:
        raise CorpusError(f"{archive}: not a zip archive ({exc})") from exc


def _medquad_pairs(archive: Path, name: str, data: bytes) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(passage, question, upstream qid) for each answered pair of one XML file."""
    try:
        root = etree.fromstring(data, _XML)
    except etree.XMLSyntaxError as exc:
        raise CorpusError(f"{archive}: {name}.xml: not well-formed XML ({exc})") from exc
    focus = " ".join((root.findtext("Focus") or "").split())
    for number, pair in enumerate(root.iterfind("QAPairs/QAPair"), start=1):
        answer = "".join(pair.find("Answer").itertext()).strip() if pair.find("Answer") is not None else ""
        if not answer:  # upstream removed the MedlinePlus answers (licensing)
            continue
        question = pair.find("Question")
        pid = (pair.get("pid") or "").strip() or str(number)
        passage = {
            "passage_id": f"{name}#{pid}",
            "doc_id": name,
            "source": (root.get("source") or "").strip(),
            "url": (root.get("url") or "").strip(),
            "focus": focus,
            "section": (question.get("qtype") or "").strip() if question is not None else "",
            "text": answer,
        }
        text = " ".join("".join(question.itertext()).split()) if question is not None else ""
        yield passage, text, (question.get("qid") or "").strip() if question is not None else ""


# -- shared helpers --------------------------------------------------------------------------------------------------

#: Data set name -> converter of its downloaded files (by file name) into a folder.
CONVERTERS: dict[str, Callable[[dict[str, Path], Path], dict[str, int]]] = {
    "medquad": convert_medquad,
    "pubmedqa": convert_pubmedqa,
    "scifact": convert_scifact,
}


def _one(files: dict[str, Path], name: str, *, suffix: bool = False) -> Path:
    found = [path for file, path in files.items() if (file.endswith(name) if suffix else file == name)]
    if len(found) != 1:
        raise CorpusError(f"expected one downloaded file {'*' if suffix else ''}{name}, found {sorted(files)}")
    return found[0]


def _tar_members(archive: Path, names: set[str]) -> dict[str, bytes]:
    """The bytes of the members of a tar archive whose base names are ``names`` (each must be there once)."""
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if base in names and member.isfile():
                    if base in found:
                        raise CorpusError(f"{archive}: holds {base} more than once")
                    extracted = tar.extractfile(member)
                    found[base] = extracted.read() if extracted is not None else b""
    except tarfile.TarError as exc:
        raise CorpusError(f"{archive}: not a readable tar archive ({exc})") from exc
    if missing := sorted(names - set(found)):
        raise CorpusError(f"{archive}: missing {', '.join(missing)}")
    return found


def _jsonl(data: bytes, archive: Path, name: str) -> list[dict[str, Any]]:
    out = []
    for number, line in enumerate(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{archive}: {name} line {number}: not JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise CorpusError(f"{archive}: {name} line {number}: expected an object")
        out.append(obj)
    return out


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a JSON object keyed by PMID, found {type(data).__name__}")
    return data


def _fields(where: Path, item: str, obj: dict[str, Any], names: Iterable[str]) -> None:
    if missing := [name for name in names if name not in obj]:
        raise CorpusError(f"{where}: {item}: missing {', '.join(missing)}")


def _expect(where: Path, what: str, found: int, expected: int) -> None:
    if found != expected:
        raise CorpusError(f"{where}: {found:,} {what}, but the release medkb converts has {expected:,}")


def _write_jsonl(path: Path, objects: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for obj in objects:
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _write_source(out: Path, entry: CorpusEntry, downloads: list[Path], counts: dict[str, int]) -> None:
    lines = [
        f"# {entry.title}: converted by `medkb corpus fetch {entry.name}`",
        "",
        f"Licence: {entry.licence}. {entry.notes}",
        "",
        "Downloaded (sha256):",
        *(f"- {url}: `{file_sha256(path)}`" for url, path in zip(entry.upstream, downloads, strict=True)),
        "",
        "Records: " + ", ".join(f"{what} {n:,}" for what, n in counts.items()) + ".",
        "",
        "Converted by `corpora/upstream.py` into the files medkb's evaluation reads; the split is the release's own",
        "(see that module), not the held-out split medkb's documented figures were measured on.",
    ]
    (out / "SOURCE.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
