"""Archives (``.zip``, ``.tar.gz``, ``.tgz``, ``.tar``): every supported member read by its own reader.

Members are streamed one at a time into a private temporary file (deleted right after) and never extracted under
their own names, so a hostile member name cannot write outside it; such names, links and devices are reported as
`RecordError` and skipped. Archives inside archives (a DailyMed release zip holds one zip per label) are read
recursively. A member that cannot be read is a `RecordError` naming ``archive!member``; the other members are read.

Example::

    for item in DAILYMED.read(Path("dm_spl_release_human_rx_part1.zip")):
        ...  # Documents from every label's SPL XML, images skipped
"""

from __future__ import annotations

import fnmatch
import logging
import re
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ingest.readers.base import Deletion, Reader, ReadItem, RecordError, format_limit, format_size
from kb.core.errors import ReaderError

logger = logging.getLogger(__name__)

#: A member larger than this uncompressed is refused as a possible archive bomb.
MAX_MEMBER_BYTES = 2 * 2**30
#: A member over `RATIO_CHECK_BYTES` that expands more than this many times is refused as a possible bomb.
MAX_COMPRESSION_RATIO = 200
RATIO_CHECK_BYTES = 10 * 2**20
#: Archives inside archives are read down to this many levels of nesting.
MAX_DEPTH = 3

_COPY_BLOCK = 2**20
_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9_-]{1,16}")
_MAX_NAME_BYTES = 150


class MemberRefused(Exception):
    """A member that is read no further; the message is the `RecordError` reason."""


@dataclass(frozen=True)
class ArchiveReader:
    """Reads the members of an archive whose names match ``pattern`` (``*.xml``), each with the reader for its
    extension, or with the reader named ``reader`` (see `ingest.readers.reader_names`) for all of them.

    Documents keep a stable ``source`` (``pubmed:...``, ``dailymed:...``); others are named ``archive!member``.
    """

    pattern: str = "*"
    reader: str | None = None

    def read(self, path: Path) -> Iterator[ReadItem]:
        yield from self._read_archive(path, str(path), depth=0)

    def _read_archive(self, path: Path, label: str, depth: int) -> Iterator[ReadItem]:
        with tempfile.TemporaryDirectory(prefix="medkb-archive-") as scratch:
            is_zip = path.name.lower().endswith(".zip") or zipfile.is_zipfile(path)
            members = _zip_members if is_zip else _tar_members
            for name, kind, extract in members(path, label, Path(scratch)):
                member = f"{label}!{name}"
                if _escapes(name):
                    yield _refused(member, f"unsafe member path {name!r} (escapes the archive); skipped")
                elif kind != "directory" and self._wanted(label, name):
                    if kind != "file":
                        yield _refused(member, f"unsafe member {name!r} (a {kind}, not a file); skipped")
                        continue
                    try:
                        target = extract()
                    except MemberRefused as exc:
                        yield _refused(member, str(exc))
                        continue
                    yield from self._read_member(target, member, depth)

    def _wanted(self, label: str, name: str) -> bool:
        """Whether member ``name`` is to be read: not hidden, and a nested archive or a match with a reader."""
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not parts or parts[-1].startswith(".") or "__MACOSX" in parts:
            logger.debug("%s!%s: hidden member skipped", label, name)
            return False
        if _is_archive(name):
            return True
        pattern = self.pattern.lower()
        if not fnmatch.fnmatchcase(name.lower(), pattern) and not fnmatch.fnmatchcase(parts[-1].lower(), pattern):
            logger.debug("%s!%s: does not match %r; skipped", label, name, self.pattern)
            return False
        if self.reader is None and not _has_reader(parts[-1]):
            logger.debug("%s!%s: no reader for this file type; skipped", label, name)
            return False
        return True

    def _read_member(self, target: Path, member: str, depth: int) -> Iterator[ReadItem]:
        """Every item read from ``target`` (a member's temporary copy, deleted afterwards) with ``member`` in
        place of the temporary path; a member that cannot be read at all becomes one `RecordError`."""
        try:
            if _is_archive(target.name):
                if depth >= MAX_DEPTH:
                    yield _refused(member, f"archive nested more than {MAX_DEPTH} levels deep; skipped")
                else:
                    yield from self._read_archive(target, member, depth + 1)
                return
            for item in self._reader_for(target).read(target):
                yield _relabel(item, target, member)
        except ReaderError as exc:
            yield _refused(member, str(exc).replace(str(target), member).removeprefix(f"{member}: "))
        finally:
            target.unlink(missing_ok=True)

    def _reader_for(self, target: Path) -> Reader:
        from ingest.readers import reader_for, reader_named  # the registry imports this module lazily

        return reader_named(self.reader) if self.reader is not None else reader_for(target)


#: ``(name, kind, extract)`` for each member, in archive order; ``extract()`` copies it into the scratch folder.
Members = Iterator[tuple[str, str, Callable[[], Path]]]


def _zip_members(path: Path, label: str, scratch: Path) -> Members:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ReaderError(f"{label}: not a readable zip archive ({_why(exc)})") from exc
    with archive:
        for info in archive.infolist():

            def extract(info: zipfile.ZipInfo = info) -> Path:
                _check_size(info.file_size, info.compress_size)
                try:
                    with archive.open(info) as source:
                        return _copy(source, scratch / _local_name(info.filename), lambda: info.compress_size)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, zlib.error) as exc:
                    # the central directory lets the other members be read: one bad member is not fatal
                    raise MemberRefused(f"cannot extract ({_why(exc)}); skipped") from exc

            mode = info.external_attr >> 16
            kind = "directory" if info.is_dir() else "symbolic link" if stat.S_ISLNK(mode) else "file"
            yield info.filename, kind, extract


def _tar_members(path: Path, label: str, scratch: Path) -> Members:
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ReaderError(f"{label}: cannot read ({exc.strerror or exc})") from exc
    broken = (tarfile.TarError, OSError, EOFError, zlib.error)
    with raw:
        try:
            archive = tarfile.open(fileobj=raw, mode="r|*")  # a stream: members are read in order, never seeked
            members = iter(archive)
        except broken as exc:
            raise ReaderError(f"{label}: not a readable tar archive ({_why(exc)})") from exc
        with archive:
            while True:
                try:
                    info = next(members, None)
                except broken as exc:
                    raise ReaderError(f"{label}: truncated or corrupt tar archive ({_why(exc)})") from exc
                if info is None:
                    return

                def extract(info: tarfile.TarInfo = info) -> Path:
                    _check_size(info.size, None)
                    start = raw.tell()
                    try:
                        source = archive.extractfile(info)
                        if source is None:
                            raise MemberRefused("not a regular file; skipped")
                        return _copy(source, scratch / _local_name(info.name), lambda: raw.tell() - start)
                    except broken as exc:
                        raise ReaderError(f"{label}: truncated or corrupt tar archive ({_why(exc)})") from exc

                yield info.name, _tar_kind(info), extract


def _copy(source: IO[bytes], target: Path, compressed: Callable[[], int]) -> Path:
    """``source`` written to ``target`` in blocks, stopping (and deleting it) when a size limit is crossed;
    ``compressed()`` is how many archive bytes have been read for it so far."""
    written = 0
    try:
        with target.open("wb") as out:
            while block := source.read(_COPY_BLOCK):
                written += len(block)
                _check_size(written, compressed())
                out.write(block)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _is_archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def _has_reader(name: str) -> bool:
    from ingest.readers import extension_of, supported_extensions

    return extension_of(Path(name)) in supported_extensions()


def _tar_kind(info: tarfile.TarInfo) -> str:
    if info.isdir():
        return "directory"
    if info.isfile():
        return "file"
    return "symbolic link" if info.issym() else "hard link" if info.islnk() else "device or special file"


def _escapes(name: str) -> bool:
    """Whether extracting ``name`` as a path could land outside the extraction directory."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or re.match(r"[A-Za-z]:", posix) is not None or ".." in posix.split("/")


def _check_size(size: int, compressed: int | None) -> None:
    if size > MAX_MEMBER_BYTES:
        raise MemberRefused(
            f"member is {format_size(size)} uncompressed, over the {format_limit(MAX_MEMBER_BYTES)} limit "
            "(possible archive bomb); skipped"
        )
    if compressed is not None and size > RATIO_CHECK_BYTES and size > MAX_COMPRESSION_RATIO * max(compressed, 1):
        raise MemberRefused(
            f"member expands {size // max(compressed, 1)} times ({format_size(size)} uncompressed), over the "
            f"{MAX_COMPRESSION_RATIO}x limit (possible archive bomb); skipped"
        )


def _local_name(name: str) -> str:
    """A harmless file name that keeps the member's stem (a fallback title) and its last suffixes (its reader)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    kept: list[str] = []
    for suffix in reversed(PurePosixPath(base).suffixes[-2:]):
        if not _SAFE_SUFFIX.fullmatch(suffix):
            break
        kept.insert(0, suffix)
    suffix = "".join(kept)
    stem = re.sub(r"[\x00-\x1f\x7f:]", "_", base[: len(base) - len(suffix)]).strip(". ")
    stem = stem.encode()[:_MAX_NAME_BYTES].decode("utf-8", "ignore")  # file systems allow 255 bytes
    return (stem or "member") + suffix


def _relabel(item: ReadItem, target: Path, member: str) -> ReadItem:
    temp = str(target)
    if isinstance(item, RecordError):
        return RecordError(source=item.source.replace(temp, member), reason=item.reason.replace(temp, member))
    if isinstance(item, Deletion):
        return replace(item, reason=item.reason.replace(temp, member))
    source = item.source
    if temp in source:
        source = source.replace(temp, member)
    elif ":" not in source:
        source = member
    return replace(item, source=source, metadata=_scrub(item.metadata, temp, member))


def _scrub(metadata: dict[str, Any], temp: str, member: str) -> dict[str, Any]:
    return {key: value.replace(temp, member) if isinstance(value, str) else value for key, value in metadata.items()}


def _refused(member: str, reason: str) -> RecordError:
    logger.debug("%s: %s", member, reason)
    return RecordError(source=member, reason=reason)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


#: DailyMed release zips (zips of per-label zips holding the SPL XML and images).
DAILYMED = ArchiveReader(pattern="*.xml")
#: PMC Open Access packages (tar.gz of the article's JATS ``.nxml``, figures and PDF).
PMC_OA = ArchiveReader(pattern="*.nxml")
