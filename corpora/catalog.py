"""Named corpora: where each comes from, how to check it, which reader ingests it.

The entries live in ``registry.toml`` next to this module; a second TOML file (``extra``, or the one named by
``$MEDKB_CORPUS_REGISTRY``) adds entries or replaces bundled ones by name. Nothing is read until asked.

Example::

    from corpora.catalog import get_corpus
    entry = get_corpus("medquad")
    entry.local_files()  # [PosixPath('$MEDKB_DATA_DIR/medquad/corpus.jsonl')]
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from corpora.fetch_state import verified_files
from kb.core.data_dir import DATA_DIR_ENV, DataDirNotSet, data_set_dir
from kb.core.errors import MedkbError
from kb.core.model_registry import default_cache_dir

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_REGISTRY = PACKAGE_DIR / "registry.toml"
REGISTRY_ENV = "MEDKB_CORPUS_REGISTRY"

#: The reader names of ``ingest.readers`` (kept as strings so that loading the registry imports no reader).
READERS: tuple[str, ...] = (
    "text",
    "markdown",
    "jsonl",
    "pdf",
    "html",
    "xml",
    "pubmed",
    "jats",
    "spl",
    "medquad-xml",
    "medquad",
    "pubmedqa",
    "scifact",
    "csv",
    "archive",
    "dailymed",
    "pmc-oa",
)

#: Checksum files a listing may publish next to each file: sidecar suffix -> hex digest length.
SIDECARS: dict[str, int] = {"md5": 32, "sha256": 64}

SourceKind = Literal["url", "listing", "path"]
_ROOTS = ("data", "package")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CorpusError(MedkbError):
    """A corpus registry entry is invalid, unknown, missing locally, or failed to download or verify."""


@dataclass(frozen=True)
class CorpusEntry:
    """One named corpus. Exactly one of ``urls``, ``listing`` or ``path`` says where its files come from."""

    name: str
    title: str
    reader: str
    licence: str
    description: str = ""
    urls: tuple[str, ...] = ()
    listing: str | None = None
    pattern: str | None = None
    sidecar: str | None = None
    path: str | None = None
    root: str = "data"
    sha256: str | None = None
    records: int | None = None
    homepage: str | None = None
    notes: str = ""
    #: For a ``path`` entry under the data directory: the public release it can be fetched and converted from
    #: (``medkb corpus fetch NAME``, see `corpora.upstream`), when it has one.
    upstream: tuple[str, ...] = ()
    origin: Path = field(default=BUNDLED_REGISTRY, compare=False)

    @property
    def kind(self) -> SourceKind:
        """``"url"``, ``"listing"`` or ``"path"``."""
        return "path" if self.path is not None else "listing" if self.listing is not None else "url"

    @property
    def source(self) -> str:
        """Where the files come from, in one short string."""
        if self.kind == "path":
            return f"package:{self.path}" if self.root == "package" else str(self.path)
        if self.kind == "listing":
            return f"{self.listing}{self.pattern}"
        return self.urls[0] + (f" (+{len(self.urls) - 1} more)" if len(self.urls) > 1 else "")

    def resolve_path(self) -> Path:
        """The local file or directory of a ``path`` entry; :class:`CorpusError` naming it when it is missing."""
        if self.path is None:
            raise CorpusError(f"corpus {self.name!r} is downloaded, not local; use local_files() after fetching")
        given = Path(self.path).expanduser()
        if given.is_absolute():
            resolved = given
        elif self.root == "package":
            resolved = PACKAGE_DIR / given
        else:  # under the data set's folder: $MEDKB_DATA_DIR/<set>/..., or <cache>/data/<set>/... once fetched
            first, *rest = given.parts
            try:
                resolved = data_set_dir(first).joinpath(*rest)
            except DataDirNotSet as exc:
                raise CorpusError(f"corpus {self.name!r} ({self.path}): {exc}") from exc
        if not resolved.exists():
            hint = f"; set ${DATA_DIR_ENV} to the directory holding {self.path}" if self.root == "data" else ""
            hint += f", or run `medkb corpus fetch {self.name}`" if self.upstream else ""
            raise CorpusError(f"corpus {self.name!r}: {resolved} does not exist{hint}")
        return resolved

    def default_dest(self) -> Path:
        """``<cache>/corpora/<name>``, where downloads go unless told otherwise."""
        return default_cache_dir() / "corpora" / self.name

    def file_names(self) -> tuple[str, ...]:
        """The local names of a ``url`` entry's files (the last segment of each URL)."""
        return tuple(url_file_name(url) for url in self.urls)

    def local_files(self, dest: Path | None = None) -> list[Path]:
        """The files to ingest: a ``path`` entry's file or directory, or the verified downloads under ``dest``."""
        if self.kind == "path":
            return [self.resolve_path()]
        dest = dest or self.default_dest()
        names = set(self.file_names())
        pattern = self.pattern or ""
        files = verified_files(
            dest, lambda name: fnmatchcase(name, pattern) if self.kind == "listing" else name in names
        )
        if not files:
            where = "" if dest == self.default_dest() else f" --dest {dest}"
            raise CorpusError(
                f"corpus {self.name!r} has no verified files in {dest} yet; run `medkb corpus fetch {self.name}{where}`"
            )
        return files

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (``origin`` as a string, empty fields left out)."""
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "source": self.source}
        for key in (
            "title",
            "description",
            "reader",
            "licence",
            "urls",
            "listing",
            "pattern",
            "sidecar",
            "path",
            "root",
            "sha256",
            "records",
            "homepage",
            "notes",
            "upstream",
        ):
            value = getattr(self, key)
            if value not in (None, "", ()) and not (key == "root" and self.path is None):
                data[key] = list(value) if isinstance(value, tuple) else value
        data["origin"] = str(self.origin)
        return data


def url_file_name(url: str) -> str:
    """The last path segment of ``url``, checked to be a plain file name (see :func:`safe_file_name`)."""
    return safe_file_name(unquote(urlsplit(url).path.rsplit("/", 1)[-1]), url)


def safe_file_name(name: str, origin: str) -> str:
    """``name`` when it can only ever mean a file directly inside a directory; :class:`CorpusError` otherwise."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise CorpusError(f"refusing file name {name!r} from {origin}: not a plain file name")
    return name


def load_registry(extra: Path | None = None) -> dict[str, CorpusEntry]:
    """The bundled entries, then those of ``extra`` (default ``$MEDKB_CORPUS_REGISTRY``), which win by name."""
    entries = _load_file(BUNDLED_REGISTRY)
    if extra is None and (env := os.environ.get(REGISTRY_ENV)):
        extra = Path(env).expanduser()
    if extra is not None:
        entries.update(_load_file(Path(extra)))
    return entries


def get_corpus(name: str, *, extra: Path | None = None) -> CorpusEntry:
    """The entry called ``name``; :class:`CorpusError` listing the known names when there is none."""
    entries = load_registry(extra)
    try:
        return entries[name]
    except KeyError:
        raise CorpusError(f"unknown corpus {name!r}; known corpora: {', '.join(sorted(entries))}") from None


def _load_file(path: Path) -> dict[str, CorpusEntry]:
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise CorpusError(f"corpus registry {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CorpusError(f"cannot read corpus registry {path}: {exc}") from None
    entries: dict[str, CorpusEntry] = {}
    for name, table in data.items():
        if not isinstance(table, dict):
            raise CorpusError(f"{path}: {name!r} must be a table ([{name}]), not a {type(table).__name__}")
        entries[name] = _entry(path, name, table)
    return entries


_STR_FIELDS = (
    "title",
    "description",
    "reader",
    "licence",
    "listing",
    "pattern",
    "sidecar",
    "path",
    "root",
    "sha256",
    "homepage",
    "notes",
)
_KEYS = frozenset((*_STR_FIELDS, "url", "records", "upstream"))


def _entry(path: Path, name: str, table: dict[str, Any]) -> CorpusEntry:
    def bad(problem: str) -> CorpusError:
        return CorpusError(f"{path}: corpus [{name}]: {problem}")

    if not _NAME.match(name):
        raise bad("the name must be lower-case letters, digits, '.', '_' or '-'")
    if unknown := sorted(set(table) - _KEYS):
        raise bad(f"unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(_KEYS))}")
    for key in _STR_FIELDS:
        if key in table and not isinstance(table[key], str):
            raise bad(f"{key} must be a string, not {table[key]!r}")
    for key in ("reader", "licence"):
        if not table.get(key):
            raise bad(f"missing {key}")
    if table["reader"] not in READERS:
        raise bad(f"unknown reader {table['reader']!r}; expected one of {', '.join(READERS)}")
    url = table.get("url", ())
    urls = (url,) if isinstance(url, str) else url
    if (
        not isinstance(urls, list | tuple)
        or not all(isinstance(u, str) and u for u in urls)
        or ("url" in table and not urls)
    ):
        raise bad(f"url must be a URL or a list of URLs, not {url!r}")
    sources = [key for key in ("url", "listing", "path") if key in table]
    if len(sources) != 1:
        found = f"found {' and '.join(sources)}" if sources else "found none"
        raise bad(f"needs exactly one of url, listing or path to say where its files come from ({found})")
    for u in (*urls, table.get("listing") or ""):
        if u and urlsplit(u).scheme not in ("http", "https"):
            raise bad(f"{u!r} is not an http(s) URL")
    if "listing" in table:
        if not table["listing"].endswith("/"):
            raise bad(f"listing {table['listing']!r} must be a directory URL ending in '/'")
        if not table.get("pattern"):
            raise bad("a listing needs a pattern (a glob such as 'pubmed*.xml.gz')")
    elif "pattern" in table or "sidecar" in table:
        raise bad("pattern and sidecar apply only to a listing")
    if "sidecar" in table and table["sidecar"] not in SIDECARS:
        raise bad(f"unknown sidecar {table['sidecar']!r}; expected one of {', '.join(SIDECARS)}")
    if "sha256" in table:
        if len(urls) != 1:
            raise bad("sha256 applies only to a single url")
        if not _SHA256.match(table["sha256"]):
            raise bad(f"sha256 must be 64 lower-case hex digits, not {table['sha256']!r}")
    if table.get("root", "data") not in _ROOTS:
        raise bad(f"root must be one of {', '.join(_ROOTS)}, not {table['root']!r}")
    upstream = table.get("upstream", [])
    if not isinstance(upstream, list) or not all(isinstance(u, str) and u for u in upstream):
        raise bad(f"upstream must be a list of URLs, not {upstream!r}")
    if upstream and ("path" not in table or table.get("root", "data") != "data"):
        raise bad("upstream applies only to a path under the data directory (a data set medkb converts)")
    for u in upstream:
        if urlsplit(u).scheme not in ("http", "https"):
            raise bad(f"upstream {u!r} is not an http(s) URL")
    records = table.get("records")
    if records is not None and (not isinstance(records, int) or isinstance(records, bool) or records < 0):
        raise bad(f"records must be a non-negative integer, not {records!r}")
    try:
        for u in (*urls, *upstream):
            url_file_name(u)
    except CorpusError as exc:
        raise bad(str(exc)) from None
    fields = {"title": name, **{key: table[key] for key in _STR_FIELDS if key in table}}
    return CorpusEntry(name=name, urls=tuple(urls), records=records, upstream=tuple(upstream), origin=path, **fields)
