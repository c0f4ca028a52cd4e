"""Bad input files: wrong encodings, empty and binary files, huge files and lines, hostile and broken archives.

Every failure is a one-line `ReaderError` or `RecordError` that names the file.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

import ingest.readers.archive as archive_module
from ingest.readers import RecordError, read_path
from kb.core.errors import ReaderError
from kb.core.types import Document

GIB = 2**30
NOT_NUL = b"x" * (70 * 2**10)  # more than the 64 KiB sniffed for NUL bytes, so the sparse hole after it passes


def read_all(path: Path) -> list[Document | RecordError]:
    return list(read_path(path))


def one_line_naming(message: str, path: Path | str) -> str:
    name = path.name if isinstance(path, Path) else path
    assert "\n" not in message and name in message, message
    return message


def refused(path: Path) -> str:
    """The one-line message of the `ReaderError` reading ``path`` raises."""
    with pytest.raises(ReaderError) as info:
        read_all(path)
    return one_line_naming(str(info.value), path)


def sparse(path: Path, head: bytes, size: int, tail: bytes = b"") -> Path:
    """A file of ``size`` bytes (plus ``tail``) that takes no disk space beyond ``head`` and ``tail``."""
    with path.open("wb") as handle:
        handle.write(head)
        handle.truncate(size)
        handle.seek(size)
        handle.write(tail)
    return path


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tempdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- encodings --------------------------------------------------------------------------------------------------

LATIN1 = "caf\u00e9 au lait, na\u00efve".encode("latin-1")


def test_the_wrong_encoding_sample_is_invalid_in_both_encodings() -> None:
    for encoding in ("utf-8", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            LATIN1.decode(encoding)


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.html", "a.csv"])
def test_wrong_encoding_latin1(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"text\n" + LATIN1 if name.endswith(".csv") else LATIN1)
    offset = 8 if name.endswith(".csv") else 3
    assert refused(path) == f"{path}: not UTF-8 or GB18030 text (first bad byte at offset {offset})"


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.html", "a.csv", "a.jsonl"])
def test_wrong_encoding_utf16(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('text\n{"text": "asthma"}\n', encoding="utf-16")
    assert refused(path) == (
        f"{path}: not UTF-8 or GB18030 text (first bad byte at offset 0); it looks like UTF-16, re-save it as UTF-8"
    )


# --- empty and binary files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.txt", "a.md", "a.jsonl", "a.csv"])
@pytest.mark.parametrize("content", [b"", b"\n \n", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert refused(path) == f"{path}: empty file"


@pytest.mark.parametrize("name", ["image.txt", "image.md", "image.jsonl", "image.csv", "image.html"])
def test_binary_file_with_a_text_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert refused(path) == f"{path}: binary data (NUL bytes) in a text file; expected UTF-8 or GB18030 text"


# --- huge files and lines ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["huge.txt", "huge.md", "huge.html"])
def test_huge_text_file_is_refused_by_size(tmp_path: Path, name: str) -> None:
    path = sparse(tmp_path / name, b"Title\n", GIB)
    tracemalloc.start()
    try:
        message = refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == (
        f"{path}: file is 1.0 GiB; text files over 64 MiB are not read whole (split it, or use JSON Lines/CSV)"
    )
    assert peak < 10 * 2**20


@pytest.mark.parametrize(
    ("name", "head", "tail", "bad_line", "second"),
    [
        ("big.jsonl", b'{"text": "', b'"}\n{"text": "second line"}\n', 1, "second line"),
        ("big.csv", b"id,text\n1,", b"\n2,second row\n", 2, "second row"),
    ],
)
def test_one_gigabyte_line(tmp_path: Path, name: str, head: bytes, tail: bytes, bad_line: int, second: str) -> None:
    path = sparse(tmp_path / name, head + NOT_NUL, GIB, tail)
    assert os.stat(path).st_blocks * 512 < 10 * 2**20  # sparse: the test costs no disk
    tracemalloc.start()
    try:
        items = read_all(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    error, doc = items
    assert isinstance(error, RecordError) and isinstance(doc, Document)
    assert (error.source, error.reason) == (f"{path}#L{bad_line}", "line is longer than 16 MiB")
    assert doc.text == second
    assert peak < 100 * 2**20


# --- archives: unsafe members -----------------------------------------------------------------------------------


def test_zip_member_escaping_the_archive(tmp_path: Path, private_tmp: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "evil.zip"
    absolute = str(tmp_path / "absolute.txt")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../evil.txt", "overwrite me")
        archive.writestr("docs/../../evil.txt", "overwrite me")
        archive.writestr(absolute, "overwrite me")
        archive.writestr("good.txt", "Good member.")
        symlink = zipfile.ZipInfo("link.txt")
        symlink.external_attr = 0o120777 << 16
        archive.writestr(symlink, "/etc/passwd")
    items = read_all(path)
    errors = [item for item in items if isinstance(item, RecordError)]
    assert [d.text for d in items if isinstance(d, Document)] == ["Good member."]
    assert [(e.source, e.reason) for e in errors] == [
        (f"{path}!../evil.txt", "unsafe member path '../evil.txt' (escapes the archive); skipped"),
        (f"{path}!docs/../../evil.txt", "unsafe member path 'docs/../../evil.txt' (escapes the archive); skipped"),
        (f"{path}!{absolute}", f"unsafe member path {absolute!r} (escapes the archive); skipped"),
        (f"{path}!link.txt", "unsafe member 'link.txt' (a symbolic link, not a file); skipped"),
    ]
    for error in errors:
        one_line_naming(error.source, path)
    for target in (tmp_path / "evil.txt", folder.parent / "evil.txt", private_tmp.parent / "evil.txt", Path(absolute)):
        assert not target.exists()
    assert list(private_tmp.iterdir()) == []


def test_tar_gz_member_escaping_the_archive(tmp_path: Path, private_tmp: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in [("../evil.txt", b"overwrite me"), ("good.txt", b"Good member.")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, kind in [("link.txt", tarfile.SYMTYPE), ("hard.txt", tarfile.LNKTYPE), ("dev.txt", tarfile.CHRTYPE)]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, "../../etc/passwd"
            archive.addfile(info)
    items = read_all(path)
    assert [d.text for d in items if isinstance(d, Document)] == ["Good member."]
    assert [(e.source, e.reason) for e in items if isinstance(e, RecordError)] == [
        (f"{path}!../evil.txt", "unsafe member path '../evil.txt' (escapes the archive); skipped"),
        (f"{path}!link.txt", "unsafe member 'link.txt' (a symbolic link, not a file); skipped"),
        (f"{path}!hard.txt", "unsafe member 'hard.txt' (a hard link, not a file); skipped"),
        (f"{path}!dev.txt", "unsafe member 'dev.txt' (a device or special file, not a file); skipped"),
    ]
    assert not (tmp_path / "evil.txt").exists() and not (private_tmp.parent / "evil.txt").exists()
    assert list(private_tmp.iterdir()) == []


# --- archives: broken and bombs ---------------------------------------------------------------------------------


def test_truncated_zip(tmp_path: Path) -> None:
    path = tmp_path / "cut.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "First member. " * 100)
        archive.writestr("b.txt", "Second member. " * 100)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert refused(path).startswith(f"{path}: not a readable zip archive (BadZipFile: ")


def test_truncated_tar_gz_keeps_the_documents_before_the_cut(tmp_path: Path, private_tmp: Path) -> None:
    path = tmp_path / "cut.tar.gz"
    second = os.urandom(300_000).hex().encode()  # hard to compress, so the cut lands inside it
    with tarfile.open(path, "w:gz") as archive:
        for name, data in [("a.txt", b"First member."), ("b.txt", second)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    read: list[Document | RecordError] = []
    with pytest.raises(ReaderError) as info:
        for item in read_path(path):
            read.append(item)
    assert [d.text for d in read if isinstance(d, Document)] == ["First member."]
    assert one_line_naming(str(info.value), path).startswith(f"{path}: truncated or corrupt tar archive (")
    assert list(private_tmp.iterdir()) == []


def test_not_an_archive_at_all(tmp_path: Path) -> None:
    for name in ("fake.zip", "fake.tar.gz"):
        path = tmp_path / name
        path.write_bytes(b"just some text, not an archive\n" * 10)
        assert refused(path).startswith(f"{path}: not a readable ")


def test_zip_member_declaring_a_huge_size_is_refused(tmp_path: Path, private_tmp: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", "small")
        archive.writestr("ok.txt", "Fine member.")
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first central directory entry: bomb.txt
    data[central + 24 : central + 28] = (3 * GIB).to_bytes(4, "little")  # its uncompressed size
    path.write_bytes(bytes(data))
    items = read_all(path)
    assert [d.text for d in items if isinstance(d, Document)] == ["Fine member."]
    [error] = [e for e in items if isinstance(e, RecordError)]
    assert error.source == f"{path}!bomb.txt"
    assert error.reason == "member is 3.0 GiB uncompressed, over the 2 GiB limit (possible archive bomb); skipped"
    assert list(private_tmp.iterdir()) == []


def test_zip_member_with_a_bomb_like_compression_ratio_is_refused(tmp_path: Path, private_tmp: Path) -> None:
    path = tmp_path / "ratio.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.txt", b"0" * (20 * 2**20))
        archive.writestr("ok.txt", "Fine member.")
    assert path.stat().st_size < 100_000
    items = read_all(path)
    assert [d.text for d in items if isinstance(d, Document)] == ["Fine member."]
    [error] = [e for e in items if isinstance(e, RecordError)]
    assert error.source == f"{path}!zeros.txt"
    assert error.reason.startswith("member expands ") and "over the 200x limit (possible archive bomb)" in error.reason
    assert list(private_tmp.iterdir()) == []


def test_tar_gz_bombs_are_refused(tmp_path: Path, private_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in [("zeros.txt", b"0" * (20 * 2**20)), ("big.txt", b"word " * 300_000), ("ok.txt", b"Fine.")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(archive_module, "MAX_MEMBER_BYTES", 2**20)
    items = read_all(path)
    assert [d.text for d in items if isinstance(d, Document)] == ["Fine."]
    assert [(e.source, e.reason.split(",")[0].split(" (")[0]) for e in items if isinstance(e, RecordError)] == [
        (f"{path}!zeros.txt", "member is 20.0 MiB uncompressed"),
        (f"{path}!big.txt", "member is 1.4 MiB uncompressed"),
    ]
    monkeypatch.setattr(archive_module, "MAX_MEMBER_BYTES", GIB)
    [ratio_error, _big, _ok] = read_all(path)
    assert isinstance(ratio_error, RecordError) and "possible archive bomb" in ratio_error.reason
    assert list(private_tmp.iterdir()) == []


def test_huge_pdf_is_refused_by_size(tmp_path: Path) -> None:
    path = sparse(tmp_path / "huge.pdf", b"%PDF-1.4\n", GIB)
    message = refused(path)
    assert "1.0 GiB" in message and "512 MiB" in message
