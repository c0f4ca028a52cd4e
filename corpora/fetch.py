"""Download a registered corpus: resumable, checksum-verified, and only ever inside its destination directory.

Each file is written to ``<dest>/<name>.part``, resumed with an HTTP ``Range`` request after an interruption,
checked against the entry's ``sha256`` or the listing's checksum sidecar, and only then renamed to ``<name>``.
A small JSON state file in ``dest`` remembers each verified file's digest by size and mtime, so a second fetch
neither downloads nor re-hashes what is already there.

Example::

    from corpora.fetch import fetch
    from corpora.catalog import get_corpus
    report = fetch(get_corpus("pubmed-updates"), None)  # into ~/.cache/medkb/corpora/pubmed-updates
    print(report.summary())
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from html.parser import HTMLParser
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urljoin, urlsplit

from corpora.catalog import SIDECARS, CorpusEntry, CorpusError, safe_file_name, url_file_name
from corpora.fetch_state import load_state, save_state, unchanged
from kb.core.model_registry import file_sha256

logger = logging.getLogger(__name__)

USER_AGENT = f"medkb/{version('medkb')}"
_BLOCK = 1 << 20
_T = TypeVar("_T")


@dataclass(frozen=True)
class Progress:
    """One progress event: a file started, received bytes, was skipped as already verified, or finished."""

    file: str
    event: Literal["start", "data", "skip", "done"]
    done: int = 0
    total: int | None = None


ProgressFn = Callable[[Progress], None]


@dataclass
class FetchReport:
    """What a fetch did: every file now present, which were downloaded, which were already there."""

    corpus: str
    dest: Path
    files: list[Path] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0

    def summary(self) -> str:
        """One line for the CLI."""
        line = (
            f"{self.corpus}: {len(self.files)} file(s) in {self.dest}: {len(self.downloaded)} downloaded "
            f"({_size(self.bytes_downloaded)}), {len(self.skipped)} already present and verified"
        )
        if self.unverified:
            line += f"; {len(self.unverified)} with no published checksum (their sha256 is recorded)"
        return line


@dataclass(frozen=True)
class _Target:
    name: str
    url: str
    algorithm: str | None  # "sha256" or "md5"; None when nothing is published to check against
    expected: str | None


class _Interrupted(Exception):
    """The connection ended before the whole body arrived; the ``.part`` file keeps what did."""

    def __init__(self, done: int, total: int | None, received: int, cause: BaseException | None = None) -> None:
        super().__init__(f"{done:,} of {f'{total:,}' if total is not None else 'unknown'} bytes")
        self.done, self.total, self.received, self.cause = done, total, received, cause


def fetch(
    entry: CorpusEntry,
    dest: Path | None = None,
    *,
    progress: ProgressFn | None = None,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
) -> FetchReport:
    """Download ``entry``'s files into ``dest`` (default ``entry.default_dest()``), skipping verified ones.

    ``retries`` more attempts follow a failed request or an interrupted transfer (which resumes), waiting
    ``backoff * 2**n`` seconds. Raises :class:`CorpusError` naming the file on a checksum mismatch (the download
    is deleted), on HTTP errors, and when the connection keeps dropping (the ``.part`` is kept for next time).
    """
    if entry.kind == "path":
        files = entry.local_files()
        logger.info("%s is a local corpus at %s; nothing to download", entry.name, files[0])
        return FetchReport(entry.name, files[0], files=files)
    dest = Path(dest) if dest is not None else entry.default_dest()
    dest.mkdir(parents=True, exist_ok=True)
    client = _Client(timeout=timeout, retries=retries, backoff=backoff)
    report = FetchReport(entry.name, dest)
    state = load_state(dest)
    for target in _targets(entry, client):
        final = _inside(dest, target.name)
        if _already_verified(final, target, state, dest):
            logger.info("%s: already present and verified", target.name)
            report.skipped.append(target.name)
            if progress:
                progress(Progress(target.name, "skip", final.stat().st_size, final.stat().st_size))
        else:
            report.bytes_downloaded += _download(client, target, final, state, dest, progress)
            report.downloaded.append(target.name)
        if target.expected is None:
            report.unverified.append(target.name)
        report.files.append(final)
    return report


# -- what to download ---------------------------------------------------------------------------------------------


def _targets(entry: CorpusEntry, client: _Client) -> list[_Target]:
    if entry.kind == "url":
        algorithm = "sha256" if entry.sha256 else None
        return [_Target(url_file_name(url), url, algorithm, entry.sha256) for url in entry.urls]
    assert entry.listing is not None and entry.pattern is not None  # guaranteed by the registry's validation
    names = listing_names(client.get_text(entry.listing), entry.listing, entry.pattern)
    if not names:
        raise CorpusError(f"corpus {entry.name!r}: no file in {entry.listing} matches {entry.pattern!r}")
    logger.info("%s: %d file(s) in %s match %s", entry.name, len(names), entry.listing, entry.pattern)
    targets = []
    for name in names:
        url = urljoin(entry.listing, quote(name))
        expected = None
        if entry.sidecar:
            sidecar_url = f"{url}.{entry.sidecar}"
            expected = parse_sidecar(client.get_text(sidecar_url), SIDECARS[entry.sidecar], sidecar_url)
        targets.append(_Target(name, url, entry.sidecar if expected else None, expected))
    return targets


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for key, value in attrs if key == "href" and value)


def listing_names(html: str, base: str, pattern: str) -> list[str]:
    """The file names linked from a directory index page that match ``pattern``.

    Only links to files directly inside ``base`` count: parent (``../``) and sub-directories, other hosts,
    query links (Apache's sort links) and names that are not plain file names are ignored.
    """
    parser = _Links()
    parser.feed(html)
    parser.close()
    root = urlsplit(base)
    names = set()
    for href in parser.hrefs:
        link = urlsplit(urljoin(base, href))
        if (link.scheme, link.netloc) != (root.scheme, root.netloc) or link.query or link.fragment:
            continue
        if not link.path.startswith(root.path):
            continue
        name = unquote(link.path[len(root.path) :])
        try:
            safe_file_name(name, base)
        except CorpusError:
            continue
        if fnmatchcase(name, pattern):
            names.add(name)
        else:
            logger.debug("listing %s: skipping %s (does not match %s)", base, name, pattern)
    return sorted(names)


def parse_sidecar(text: str, length: int, url: str) -> str:
    """The one hex digest of ``length`` digits in a checksum file (``MD5(f)= ...`` or ``<digest>  f``)."""
    found = set(re.findall(rf"(?<![0-9a-fA-F])[0-9a-fA-F]{{{length}}}(?![0-9a-fA-F])", text))
    if len(found) != 1:
        raise CorpusError(f"cannot read a {length}-digit checksum from {url}: {text[:200]!r}")
    return found.pop().lower()


def _inside(dest: Path, name: str) -> Path:
    path = dest / safe_file_name(name, str(dest))
    if path.resolve().parent != dest.resolve():
        raise CorpusError(f"refusing to write {name!r}: it would land outside {dest}")
    return path


def _record(path: Path, target: _Target, algorithm: str, digest: str) -> dict[str, Any]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "url": target.url, algorithm: digest}


def _digest(path: Path, algorithm: str) -> str:
    if algorithm == "sha256":
        return file_sha256(path)
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with path.open("rb") as src:
        while block := src.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _already_verified(final: Path, target: _Target, state: dict[str, dict[str, Any]], dest: Path) -> bool:
    """Whether ``final`` holds ``target`` already; hashes it only when the state file does not vouch for it."""
    if not final.is_file():
        return False
    record = state.get(target.name, {})
    algorithm = target.algorithm or "sha256"
    if unchanged(final, record) and algorithm in record:
        if target.expected is None or record[algorithm] == target.expected:
            return True
        logger.info("%s: its %s changed upstream; downloading it again", target.name, algorithm)
        return False
    # Final names appear only by an atomic rename after a complete download, so with nothing to check
    # against, the file is complete; with a checksum, it must match.
    actual = _digest(final, algorithm)
    if target.expected is not None and actual != target.expected:
        logger.info(
            "%s: %s %s is not the published %s; downloading it again", final, algorithm, actual, target.expected
        )
        return False
    state[target.name] = _record(final, target, algorithm, actual)
    save_state(dest, state)
    return True


# -- transfer ---------------------------------------------------------------------------------------------------


def _download(
    client: _Client,
    target: _Target,
    final: Path,
    state: dict[str, dict[str, Any]],
    dest: Path,
    progress: ProgressFn | None,
) -> int:
    """Fetch ``target`` into ``final`` via ``<final>.part``, verify it, record it; returns the bytes received."""
    part = final.with_name(final.name + ".part")
    received = 0

    def attempt() -> None:
        nonlocal received
        try:
            received += _transfer(client, target, part, progress)
        except _Interrupted as exc:
            received += exc.received
            raise

    try:
        client.retrying(target.url, attempt)
    except _Interrupted as exc:
        raise CorpusError(
            f"{target.name}: the connection dropped after {exc} ({exc.cause or 'short body'}); "
            f"kept {part.name} ({part.stat().st_size if part.exists() else 0:,} bytes) - fetch again to resume"
        ) from None
    algorithm = target.algorithm or "sha256"
    actual = _digest(part, algorithm)
    if target.expected is not None and actual != target.expected:
        part.unlink(missing_ok=True)
        raise CorpusError(
            f"{target.name}: {algorithm} mismatch: expected {target.expected}, got {actual}; deleted the download"
        )
    if target.expected is None:
        logger.info("%s: no checksum is published; recorded its sha256 %s", target.name, actual)
    os.replace(part, final)
    state[target.name] = _record(final, target, algorithm, actual)
    save_state(dest, state)
    logger.info("%s: verified (%s %s)", target.name, algorithm, actual)
    if progress:
        progress(Progress(target.name, "done", final.stat().st_size, final.stat().st_size))
    return received


def _transfer(client: _Client, target: _Target, part: Path, progress: ProgressFn | None) -> int:
    """One request: resume ``part`` from its size (or restart it); raises `_Interrupted` on a short body."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = client.open(target.url, {"Range": f"bytes={offset}-"} if offset else {})
    except HTTPError as exc:
        if exc.code != 416 or not offset:
            raise
        remote = _content_range_total(exc.headers.get("Content-Range"))
        exc.close()
        if remote is None or remote == offset:
            logger.info("%s: the partial download is already complete (%s bytes)", target.name, f"{offset:,}")
            return 0
        logger.info(
            "%s: the partial file (%d bytes) is not a prefix of the remote (%d); restarting",
            target.name,
            offset,
            remote,
        )
        part.unlink()
        return _transfer(client, target, part, progress)
    with response:
        if offset and (response.status != 206 or _content_range_start(response.headers) != offset):
            logger.info(
                "%s: the server did not resume at byte %d (HTTP %d); restarting", target.name, offset, response.status
            )
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        done = offset
        logger.info("%s: downloading%s", target.name, f" (resuming at {offset:,} bytes)" if offset else "")
        if progress:
            progress(Progress(target.name, "start", done, total))
        with part.open("ab" if offset else "wb") as out:
            try:
                while block := response.read(_BLOCK):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(Progress(target.name, "data", done, total))
            except (OSError, http.client.HTTPException) as exc:
                raise _Interrupted(done, total, done - offset, exc) from exc
        if total is not None and done < total:
            raise _Interrupted(done, total, done - offset)
    return done - offset


def _content_range_start(headers: Any) -> int | None:
    match = re.match(r"\s*bytes\s+(\d+)-", headers.get("Content-Range") or "")
    return int(match.group(1)) if match else None


def _content_range_total(value: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


class _Client:
    """urllib with a User-Agent, a timeout, and retries with exponential backoff for transient failures."""

    def __init__(self, *, timeout: float, retries: int, backoff: float) -> None:
        self.timeout, self.retries, self.backoff = timeout, max(0, retries), backoff

    def open(self, url: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
        return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 - the registry allows http(s) only

    def get_text(self, url: str) -> str:
        def attempt() -> str:
            with self.open(url, {}) as response:
                return response.read().decode(response.headers.get_content_charset() or "utf-8", "replace")

        return self.retrying(url, attempt)

    def retrying(self, url: str, attempt: Callable[[], _T]) -> _T:
        """``attempt()``, tried again on transient errors; HTTP and network failures become `CorpusError`."""
        for n in range(self.retries + 1):
            try:
                return attempt()
            except HTTPError as exc:
                exc.close()
                if not _transient(exc) or n == self.retries:
                    raise CorpusError(f"{url}: HTTP {exc.code} {exc.reason}") from None
                problem: object = f"HTTP {exc.code}"
            except _Interrupted as exc:
                if n == self.retries:
                    raise
                problem = f"connection dropped after {exc}"
            except (URLError, OSError, http.client.HTTPException) as exc:
                reason = exc.reason if isinstance(exc, URLError) else exc
                if n == self.retries:
                    raise CorpusError(f"cannot download {url}: {reason}") from None
                problem = reason
            delay = self.backoff * 2**n
            logger.warning("%s: %s; retrying in %.1f s (%d of %d)", url, problem, delay, n + 1, self.retries)
            time.sleep(delay)
        raise AssertionError("unreachable")


def _transient(exc: HTTPError) -> bool:
    return exc.code in (408, 425, 429) or exc.code >= 500


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"
