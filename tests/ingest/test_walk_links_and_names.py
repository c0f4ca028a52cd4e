"""Walking an input folder: links that leave it are refused with a line each and links inside it are read once;
a file name that is not valid UTF-8 is one failure, and the rest goes in (a rerun too)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb import KnowledgeBase, Settings
from tests.fakes import ingest_with_fakes

FAKE = Settings(embedder="hashing", cross_lingual_embedder="")


def _kb(path: Path) -> KnowledgeBase:
    return KnowledgeBase.create(path, FAKE)


@pytest.mark.skipif(not Path("/etc/passwd").exists(), reason="no /etc/passwd to link to")
def test_links_out_of_the_folder_are_refused_and_links_inside_read_once(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("Asthma\n\nAsthma is diagnosed by spirometry.\n", encoding="utf-8")
    (d / "passwd.txt").symlink_to("/etc/passwd")
    (d / "etcdir").symlink_to("/etc")
    (d / "b.txt").symlink_to(d / "a.txt")  # inside the folder: the same file, read once
    with _kb(tmp_path / "kb") as kb:
        report = kb.ingest([d])
        assert report.added == 1
        failed = dict(kb.failures())
        assert set(failed) == {str(d / "passwd.txt"), str(d / "etcdir")}
        assert all("outside the folder" in reason for reason in failed.values())
        assert not any("root:" in hit.text for hit in kb.search("root bash", 10))


def test_a_file_name_that_is_not_utf8_is_one_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "aaa.txt").write_text("Gout\n\nGout is treated with colchicine.\n", encoding="utf-8")
    try:
        fd = os.open(os.fsencode(d) + b"/zzz\xff.txt", os.O_CREAT | os.O_WRONLY)
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    os.write(fd, b"Some text.\n")
    os.close(fd)
    kb = tmp_path / "kb"
    for _ in range(2):  # the rerun neither crashes nor loses the good file
        code = ingest_with_fakes(kb, d)
        assert code == 1  # done, with a failed input
        err = capsys.readouterr().err
        assert "zzz\\xff.txt: file name is not valid UTF-8" in err
        assert "not valid UTF-8" in err
    with KnowledgeBase.open(kb) as opened:
        assert opened.stats()["documents"] == 1
