"""Corpus downloads against a local HTTP server: checksums, resume, listings, skipping, and the CLI."""

from __future__ import annotations

import argparse
import gzip
import hashlib
from pathlib import Path

import pytest

from corpora import fetch as fetch_module
from corpora.catalog import CorpusEntry, CorpusError, get_corpus, load_registry
from corpora.cli import add_corpus_parser, run_corpus
from corpora.fetch import USER_AGENT, fetch, listing_names, parse_sidecar
from corpora.fetch_state import STATE_FILE
from tests.http_server import Server, put


def _payload(n: int = 300_000, seed: int = 1) -> bytes:
    """Incompressible-looking bytes, gzipped: what a real corpus file looks like on the wire."""
    raw = b"".join(hashlib.sha256(f"{seed}-{i}".encode()).digest() for i in range(n // 32))
    return gzip.compress(raw, compresslevel=1)


def _url_entry(server: Server, name: str = "labels.zip", sha256: str | None = None) -> CorpusEntry:
    return CorpusEntry(
        name="demo", title="Demo", reader="archive", licence="test", urls=(f"{server.url}/{name}",), sha256=sha256
    )


def _listing_entry(server: Server, sidecar: str | None = "md5") -> CorpusEntry:
    return CorpusEntry(
        name="demo-pubmed",
        title="Demo PubMed",
        reader="pubmed",
        licence="test",
        listing=f"{server.url}/pubmed/baseline/",
        pattern="pubmed*n*.xml.gz",
        sidecar=sidecar,
    )


FAST = {"retries": 0, "backoff": 0.0, "timeout": 5.0}


def test_single_url_is_downloaded_and_verified(server: Server, tmp_path: Path) -> None:
    data = _payload()
    sha = put(server, "labels.zip", data)
    dest = tmp_path / "dest"
    events = []
    report = fetch(_url_entry(server, sha256=sha), dest, progress=events.append, **FAST)
    assert (dest / "labels.zip").read_bytes() == data
    assert not (dest / "labels.zip.part").exists()
    assert report.downloaded == ["labels.zip"] and report.skipped == [] and report.unverified == []
    assert report.files == [dest / "labels.zip"] and report.bytes_downloaded == len(data)
    assert [e.event for e in events][0] == "start" and events[-1].event == "done" and events[-1].done == len(data)
    assert server.gets("labels.zip")[0].user_agent == USER_AGENT and USER_AGENT.startswith("medkb/")
    assert _url_entry(server).local_files(dest) == [dest / "labels.zip"]
    assert "1 downloaded" in report.summary() and "0 already present" in report.summary()


def test_dropped_connection_keeps_the_part_and_the_next_fetch_resumes(server: Server, tmp_path: Path) -> None:
    data = _payload()
    sha = put(server, "labels.zip", data)
    server.drop_after["/labels.zip"] = 100_000
    dest = tmp_path / "dest"
    entry = _url_entry(server, sha256=sha)
    with pytest.raises(CorpusError, match=r"labels\.zip: the connection dropped after 100,000 of [\d,]+ bytes") as info:
        fetch(entry, dest, **FAST)
    assert "labels.zip.part (100,000 bytes)" in str(info.value)
    assert (dest / "labels.zip.part").stat().st_size == 100_000
    assert not (dest / "labels.zip").exists()
    with pytest.raises(CorpusError, match="no verified files"):
        entry.local_files(dest)

    report = fetch(entry, dest, **FAST)
    assert [r.range for r in server.gets("labels.zip")] == [None, "bytes=100000-"]
    assert hashlib.sha256((dest / "labels.zip").read_bytes()).hexdigest() == sha
    assert not (dest / "labels.zip.part").exists()
    assert report.bytes_downloaded == len(data) - 100_000


def test_retries_resume_within_one_fetch(server: Server, tmp_path: Path) -> None:
    data = _payload()
    sha = put(server, "labels.zip", data)
    server.drop_after["/labels.zip"] = 50_000
    report = fetch(_url_entry(server, sha256=sha), tmp_path / "dest", retries=2, backoff=0.0, timeout=5.0)
    assert report.bytes_downloaded == len(data)
    assert [r.range for r in server.gets("labels.zip")] == [None, "bytes=50000-"]
    assert (tmp_path / "dest" / "labels.zip").read_bytes() == data


def test_server_ignoring_range_restarts_the_file(server: Server, tmp_path: Path) -> None:
    data = _payload()
    sha = put(server, "labels.zip", data)
    server.drop_after["/labels.zip"] = 70_000
    server.ignore_range.add("/labels.zip")
    dest = tmp_path / "dest"
    with pytest.raises(CorpusError, match="dropped"):
        fetch(_url_entry(server, sha256=sha), dest, **FAST)
    fetch(_url_entry(server, sha256=sha), dest, **FAST)
    assert [r.range for r in server.gets("labels.zip")] == [None, "bytes=70000-"]  # asked, got 200, started over
    assert (dest / "labels.zip").read_bytes() == data


def test_complete_part_answered_416_is_verified_and_published(server: Server, tmp_path: Path) -> None:
    data = _payload()
    sha = put(server, "labels.zip", data)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "labels.zip.part").write_bytes(data)
    report = fetch(_url_entry(server, sha256=sha), dest, **FAST)
    assert [r.range for r in server.gets("labels.zip")] == [f"bytes={len(data)}-"]
    assert (dest / "labels.zip").read_bytes() == data and report.bytes_downloaded == 0


def test_checksum_mismatch_raises_and_leaves_no_file(server: Server, tmp_path: Path) -> None:
    data = _payload()
    actual = put(server, "labels.zip", data)
    dest = tmp_path / "dest"
    wrong = "0" * 64
    with pytest.raises(CorpusError, match=rf"labels\.zip: sha256 mismatch: expected {wrong}, got {actual}"):
        fetch(_url_entry(server, sha256=wrong), dest, **FAST)
    assert list(dest.iterdir()) == []


def test_http_error_names_the_url_and_status(server: Server, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"/missing\.zip: HTTP 404"):
        fetch(_url_entry(server, "missing.zip"), tmp_path / "dest", retries=2, backoff=0.0)
    assert len(server.gets("missing.zip")) == 1  # a 404 is not retried


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = CorpusEntry(name="demo", title="t", reader="text", licence="l", urls=(f"http://127.0.0.1:{port}/a.txt",))
    with pytest.raises(CorpusError, match=r"cannot download http://127\.0\.0\.1:\d+/a\.txt"):
        fetch(entry, tmp_path / "dest", retries=1, backoff=0.0, timeout=2.0)


def _index(*hrefs: str) -> str:
    links = "\n".join(f'<a href="{href}">{href}</a>' for href in hrefs)
    return f"<html><body><h1>Index of /pubmed/baseline</h1><pre>{links}</pre></body></html>"


def _md5_sidecar(name: str, data: bytes) -> bytes:
    return f"MD5({name})= {hashlib.md5(data).hexdigest()}\n".encode()


def _publish_listing(server: Server, *extra_hrefs: str) -> dict[str, bytes]:
    files = {f"pubmed26n000{i}.xml.gz": _payload(40_000, seed=i) for i in (1, 2)}
    for name, data in files.items():
        put(server, f"pubmed/baseline/{name}", data)
        put(server, f"pubmed/baseline/{name}.md5", _md5_sidecar(name, data))
    put(server, "pubmed/baseline/README.txt", b"read me")
    put(server, "pubmed/secret.xml.gz", b"secret")
    put(server, "pubmed/baseline/sub/pubmed26n0009.xml.gz", b"nested")
    hrefs = ["?C=N;O=D", "../", "README.txt", *files, *(f"{n}.md5" for n in files), *extra_hrefs]
    server.listings["/pubmed/baseline/"] = _index(*hrefs)
    return files


def test_listing_fetches_matching_files_and_checks_md5_sidecars(server: Server, tmp_path: Path) -> None:
    files = _publish_listing(server)
    dest = tmp_path / "dest"
    entry = _listing_entry(server)
    report = fetch(entry, dest, **FAST)
    assert sorted(report.downloaded) == sorted(files)
    assert sorted(p.name for p in dest.iterdir()) == sorted([*files, STATE_FILE])
    for name, data in files.items():
        assert (dest / name).read_bytes() == data
    assert server.gets("README.txt") == []
    assert entry.local_files(dest) == sorted(dest / name for name in files)


def test_listing_md5_mismatch_is_an_error(server: Server, tmp_path: Path) -> None:
    files = _publish_listing(server)
    name = sorted(files)[0]
    put(server, f"pubmed/baseline/{name}.md5", _md5_sidecar(name, b"other bytes"))
    dest = tmp_path / "dest"
    with pytest.raises(CorpusError, match=rf"{name}: md5 mismatch: expected {hashlib.md5(b'other bytes').hexdigest()}"):
        fetch(_listing_entry(server), dest, **FAST)
    assert not (dest / name).exists() and not (dest / f"{name}.part").exists()


def test_listing_never_follows_links_outside_the_directory(server: Server, tmp_path: Path) -> None:
    outside = [
        "../secret.xml.gz",
        "..%2Fsecret.xml.gz",
        "%2e%2e/secret.xml.gz",
        "/pubmed/secret.xml.gz",
        "http://evil.example/pubmed/baseline/pubmed26n0003.xml.gz",
        "//evil.example/pubmed26n0004.xml.gz",
        "sub/pubmed26n0009.xml.gz",
        ".pubmed26n0005.xml.gz",
    ]
    files = _publish_listing(server, *outside)
    report = fetch(_listing_entry(server), tmp_path / "dest", **FAST)  # the network guard fails any off-host request
    assert sorted(report.downloaded) == sorted(files)
    requested = {r.path for r in server.log}
    assert not any("secret" in p or "0009" in p or "0005" in p for p in requested), requested
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == sorted([*files, STATE_FILE])


def test_listing_names_parses_only_plain_names_in_the_directory() -> None:
    base = "https://ftp.example.org/pubmed/baseline/"
    html = _index(
        "pubmed26n0001.xml.gz",
        "https://ftp.example.org/pubmed/baseline/pubmed26n0002.xml.gz",  # absolute, same directory: fine
        "pubmed26n0001.xml.gz",  # duplicate
        "pubmed26n0003.xml.gz.md5",
        "https://other.example/pubmed/baseline/pubmed26n0004.xml.gz",
        "../pubmed26n0005.xml.gz",
        "pubmed26n0006.xml.gz#frag",
    )
    assert listing_names(html, base, "pubmed*n*.xml.gz") == ["pubmed26n0001.xml.gz", "pubmed26n0002.xml.gz"]


def test_parse_sidecar_reads_both_common_formats() -> None:
    digest = hashlib.md5(b"x").hexdigest()
    assert parse_sidecar(f"MD5(pubmed26n0001.xml.gz)= {digest}\n", 32, "u") == digest
    assert parse_sidecar(f"{digest.upper()}  pubmed26n0001.xml.gz\n", 32, "u") == digest
    with pytest.raises(CorpusError, match="cannot read a 32-digit checksum from u"):
        parse_sidecar("<html>not found</html>", 32, "u")


def test_refetch_downloads_and_hashes_nothing(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = _publish_listing(server)
    sha = put(server, "labels.zip", _payload())
    dest = tmp_path / "dest"
    fetch(_listing_entry(server), dest, **FAST)
    fetch(_url_entry(server, sha256=sha), dest, **FAST)
    server.log.clear()

    def no_hashing(*args: object) -> str:
        raise AssertionError("a verified, unchanged file was hashed again")

    monkeypatch.setattr(fetch_module, "_digest", no_hashing)
    report = fetch(_listing_entry(server), dest, **FAST)
    assert report.downloaded == [] and sorted(report.skipped) == sorted(files)
    assert fetch(_url_entry(server, sha256=sha), dest, **FAST).skipped == ["labels.zip"]
    data_gets = [r.path for r in server.log if r.path.endswith((".gz", ".zip"))]
    assert data_gets == []  # only the index and the .md5 sidecars were read


def test_present_file_without_state_is_hashed_once_then_trusted(server: Server, tmp_path: Path) -> None:
    data = _payload()
    sha = put(server, "labels.zip", data)
    dest = tmp_path / "dest"
    fetch(_url_entry(server, sha256=sha), dest, **FAST)
    (dest / STATE_FILE).unlink()
    report = fetch(_url_entry(server, sha256=sha), dest, **FAST)
    assert report.skipped == ["labels.zip"] and len(server.gets("labels.zip")) == 1
    assert (dest / STATE_FILE).exists()


def test_changed_upstream_file_is_downloaded_again(server: Server, tmp_path: Path) -> None:
    files = _publish_listing(server)
    dest = tmp_path / "dest"
    fetch(_listing_entry(server), dest, **FAST)
    name = sorted(files)[0]
    new = _payload(40_000, seed=99)
    put(server, f"pubmed/baseline/{name}", new)
    put(server, f"pubmed/baseline/{name}.md5", _md5_sidecar(name, new))
    report = fetch(_listing_entry(server), dest, **FAST)
    assert report.downloaded == [name] and (dest / name).read_bytes() == new


def test_listing_without_sidecar_records_sha256(server: Server, tmp_path: Path) -> None:
    files = _publish_listing(server)
    report = fetch(_listing_entry(server, sidecar=None), tmp_path / "dest", **FAST)
    assert sorted(report.unverified) == sorted(files)
    assert not [r for r in server.log if r.path.endswith(".md5")]
    assert "no published checksum" in report.summary()


def test_empty_listing_match_is_an_error(server: Server, tmp_path: Path) -> None:
    server.listings["/pubmed/baseline/"] = _index("README.txt")
    with pytest.raises(CorpusError, match=r"no file in .*/pubmed/baseline/ matches 'pubmed\*n\*\.xml\.gz'"):
        fetch(_listing_entry(server), tmp_path / "dest", **FAST)


def test_local_corpus_fetch_downloads_nothing() -> None:
    report = fetch(get_corpus("sample"))
    assert report.downloaded == [] and report.files == get_corpus("sample").local_files()


# -- the CLI ----------------------------------------------------------------------------------------------------


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="medkb")
    add_corpus_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["corpus", *argv])
    assert args.func is run_corpus
    return run_corpus(args)


def _registry(tmp_path: Path, server: Server, sha: str) -> Path:
    path = tmp_path / "corpora.toml"
    path.write_text(
        f'[demo]\ntitle = "Demo"\nurl = "{server.url}/labels.zip"\nsha256 = "{sha}"\nreader = "archive"\n'
        f'licence = "test"\n\n[demo-pubmed]\ntitle = "Demo PubMed"\nlisting = "{server.url}/pubmed/baseline/"\n'
        f'pattern = "pubmed*n*.xml.gz"\nsidecar = "md5"\nreader = "pubmed"\nlicence = "NLM terms"\n',
        encoding="utf-8",
    )
    return path


def test_cli_fetch_prints_progress_and_a_summary(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _publish_listing(server)
    registry = _registry(tmp_path, server, "0" * 64)
    dest = tmp_path / "dest"
    assert _cli("fetch", "demo-pubmed", "--dest", str(dest), "--registry", str(registry), "--retries", "0") == 0
    out, err = capsys.readouterr()
    assert f"demo-pubmed: 2 file(s) in {dest}: 2 downloaded" in out
    for name in files:
        assert f"downloading {name}" in err and f"verified  {name}" in err
    assert _cli("fetch", "demo-pubmed", "--dest", str(dest), "--registry", str(registry)) == 0
    out, err = capsys.readouterr()
    assert "0 downloaded" in out and "2 already present" in out and "present   pubmed26n0001.xml.gz" in err


def test_cli_fetch_error_is_one_line_and_exit_2(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put(server, "labels.zip", _payload())
    registry = _registry(tmp_path, server, "0" * 64)
    assert _cli("fetch", "demo", "--dest", str(tmp_path / "dest"), "--registry", str(registry)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("medkb: error: labels.zip: sha256 mismatch")
    assert _cli("fetch", "nope", "--registry", str(registry)) == 2
    assert capsys.readouterr().err.startswith("medkb: error: unknown corpus 'nope'")


def test_cli_list_and_show(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    registry = _registry(tmp_path, server, "0" * 64)
    assert _cli("list", "--json", "--registry", str(registry)) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert set(listed) == set(load_registry(registry))
    assert listed["demo"]["status"] == "not fetched" and listed["sample"]["status"] == "present"
    assert _cli("list", "--registry", str(registry)) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "reader", "records", "status", "licence", "source"]
    assert any(line.startswith("sample ") and " 40 " in line for line in table)
    assert _cli("show", "sample") == 0
    out = capsys.readouterr().out
    assert "reader: markdown" in out and "status: present" in out and "corpora/sample" in out


def test_part_longer_than_the_remote_file_starts_over(server: Server, tmp_path: Path) -> None:
    data = _payload()
    sha = put(server, "labels.zip", data)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "labels.zip.part").write_bytes(data + b"stale tail")
    fetch(_url_entry(server, sha256=sha), dest, **FAST)
    assert [r.range for r in server.gets("labels.zip")] == [f"bytes={len(data) + 10}-", None]
    assert (dest / "labels.zip").read_bytes() == data


@pytest.mark.parametrize("name", ["%2E%2E", "..%2Fescape.zip", "%2Fetc%2Fpasswd", ".hidden"])
def test_url_names_that_could_escape_dest_are_refused(server: Server, tmp_path: Path, name: str) -> None:
    with pytest.raises(CorpusError, match="refusing file name"):
        fetch(_url_entry(server, name), tmp_path / "dest", **FAST)
    assert server.log == []
