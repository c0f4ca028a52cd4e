"""``medkb corpus list | show NAME | fetch NAME``: the named corpora on the command line; ``fetch`` also downloads
and converts an evaluation data set missing from ``$MEDKB_DATA_DIR`` from its public release (`corpora.upstream`).

``kb.cli`` calls :func:`add_corpus_parser` on its sub-command table; the parser it adds dispatches to
:func:`run_corpus`, which returns the exit status and turns library errors into one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpora.catalog import CorpusEntry, CorpusError, get_corpus, load_registry
from kb.core.data_dir import DATA_DIR_ENV, FETCHABLE, fetched_data_dir
from kb.core.errors import MedkbError

if TYPE_CHECKING:
    from corpora.fetch import Progress

EXIT_ERROR = 2


def add_corpus_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``corpus`` and its sub-commands to ``subparsers`` (what ``ArgumentParser.add_subparsers`` returns)."""
    parser = subparsers.add_parser("corpus", help="list, show and download the named corpora")
    sub = parser.add_subparsers(dest="corpus_command", required=True, metavar="{list,show,fetch}")

    def with_registry(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--registry",
            type=Path,
            default=None,
            metavar="FILE",
            help="TOML file of extra corpora that override bundled ones by name (default: $MEDKB_CORPUS_REGISTRY)",
        )
        return p

    p = with_registry(sub.add_parser("list", help="the registered corpora and whether they are here"))
    p.add_argument("--json", action="store_true", help="print JSON")

    p = with_registry(sub.add_parser("show", help="everything the registry says about one corpus"))
    p.add_argument("name")
    p.add_argument("--dest", type=Path, default=None, metavar="DIR", help="where it was fetched to")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = with_registry(
        sub.add_parser(
            "fetch",
            help="download a corpus, resuming and verifying checksums (an evaluation data set missing from "
            "$MEDKB_DATA_DIR: from its public release, converted into <cache>/data/NAME)",
        )
    )
    p.add_argument("name")
    p.add_argument("--dest", type=Path, default=None, metavar="DIR", help="default: <cache>/corpora/NAME")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="per network operation")
    p.add_argument("--retries", type=int, default=3, help="more attempts after a failed or dropped request")
    parser.set_defaults(func=run_corpus)
    return parser


def run_corpus(args: argparse.Namespace) -> int:
    """Run ``medkb corpus ...``; 0 on success, 2 with a one-line message on stderr on error."""
    commands = {"list": _list, "show": _show, "fetch": _fetch}
    try:
        return commands[args.corpus_command](args)
    except MedkbError as exc:
        print(f"medkb: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _status(entry: CorpusEntry, dest: Path | None = None) -> str:
    """``present``/``missing`` for local corpora; ``fetched (N files)``/``not fetched`` for downloads."""
    try:
        files = entry.local_files(dest)
    except CorpusError:
        return "missing" if entry.kind == "path" else "not fetched"
    return "present" if entry.kind == "path" else f"fetched ({len(files)} file{'s' if len(files) != 1 else ''})"


def _present(entry: CorpusEntry) -> bool:
    try:
        entry.resolve_path()
    except CorpusError:
        return False
    return True


def _list(args: argparse.Namespace) -> int:
    entries = sorted(load_registry(args.registry).values(), key=lambda e: e.name)
    if args.json:
        print(json.dumps([{**e.to_dict(), "status": _status(e)} for e in entries], ensure_ascii=False, indent=2))
        return 0
    rows = [("name", "reader", "records", "status", "licence", "source")]
    for e in entries:
        licence = e.licence if len(e.licence) <= 40 else e.licence[:37] + "..."
        records = f"{e.records:,}" if e.records is not None else "-"
        rows.append((e.name, e.reader, records, _status(e), licence, e.source))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    print()
    for line in _where_hints([e for e in entries if _status(e) in ("missing", "not fetched")]):
        print(line)
    return 0


def _where_hints(missing: list[CorpusEntry]) -> list[str]:
    """Where `list` looked for the corpora named by path, and how to get the missing ones."""
    given = os.environ.get(DATA_DIR_ENV)
    looked = f"${DATA_DIR_ENV} = {given}" if given else f"${DATA_DIR_ENV} is not set"
    lines = [f"data directory: {looked}; fetched data sets go to {fetched_data_dir()}"]
    local = [e.name for e in missing if e.kind == "path"]
    if local:
        fetchable = [name for name in local if name in FETCHABLE]
        lines.append(
            f"missing ({', '.join(local)}): set ${DATA_DIR_ENV} to the folder that holds them (one sub-folder each)"
            + (f", or fetch: {' ; '.join(f'medkb corpus fetch {n}' for n in fetchable)}" if fetchable else "")
        )
    if any(e.kind != "path" for e in missing):
        lines.append("not fetched: `medkb corpus fetch NAME` downloads one (resumable, checksums verified)")
    return lines


def _show(args: argparse.Namespace) -> int:
    entry = get_corpus(args.name, extra=args.registry)
    data = entry.to_dict()
    data["status"] = _status(entry, args.dest)
    if entry.kind != "path":
        data["dest"] = str(args.dest or entry.default_dest())
    elif data["status"] == "present":
        data["local"] = str(entry.resolve_path())
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for key, value in data.items():
        if isinstance(value, list):
            value = "\n" + "\n".join(f"    {v}" for v in value)
        print(f"{key}: {value}")
    return 0


class _Printer:
    """Per-file progress lines on stderr: start, done or skipped, and a percentage every few seconds."""

    def __init__(self, every: float = 5.0) -> None:
        self.every, self.last = every, 0.0

    def __call__(self, event: Progress) -> None:
        now = time.monotonic()
        if event.event == "data" and now - self.last < self.every:
            return
        self.last = now
        size = f"{event.total:,} bytes" if event.total is not None else "size unknown"
        message = {
            "start": f"downloading {event.file} ({size}" + (f", from byte {event.done:,})" if event.done else ")"),
            "data": f"  {event.file}: {event.done:,} bytes"
            + (f" ({100 * event.done / event.total:.0f}%)" if event.total else ""),
            "skip": f"present   {event.file} (already verified)",
            "done": f"verified  {event.file} ({event.done:,} bytes)",
        }[event.event]
        print(message, file=sys.stderr, flush=True)


def _fetch(args: argparse.Namespace) -> int:
    from corpora.fetch import fetch

    entry = get_corpus(args.name, extra=args.registry)
    if entry.kind == "path" and entry.upstream and not _present(entry):
        from corpora.upstream import fetch_data_set

        report = fetch_data_set(entry, args.dest, progress=_Printer(), timeout=args.timeout, retries=args.retries)
        print(f"{report.summary()}\n{entry.name}: converted into {report.dest}")
        return 0
    report = fetch(entry, args.dest, progress=_Printer(), timeout=args.timeout, retries=args.retries)
    if entry.kind == "path":
        print(f"{entry.name}: local corpus at {report.dest}; nothing to download")
    else:
        print(report.summary())
    return 0
