"""The corpus registry: bundled entries, data-directory resolution, override files, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpora.catalog import (
    BUNDLED_REGISTRY,
    DATA_DIR_ENV,
    PACKAGE_DIR,
    READERS,
    REGISTRY_ENV,
    CorpusError,
    get_corpus,
    load_registry,
)
from kb.core.data_dir import DataDirNotSet, data_dir
from tests.shared_data import SHARED_DATA

ROOT = Path(__file__).resolve().parents[2]

REQUIRED = {
    "pubmed-baseline": ("listing", "pubmed"),
    "pubmed-updates": ("listing", "pubmed"),
    "dailymed": ("url", "dailymed"),
    "pmc-oa": ("listing", "pmc-oa"),
    "medquad": ("path", "medquad"),
    "pubmedqa": ("path", "pubmedqa"),
    "scifact": ("path", "scifact"),
    "sample": ("path", "markdown"),
}
LOCAL = {"medquad": 15217, "pubmedqa": 1000, "scifact": 5183}


@pytest.fixture(autouse=True)
def no_user_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REGISTRY_ENV, raising=False)


def test_bundled_registry_has_every_required_entry() -> None:
    entries = load_registry()
    assert set(REQUIRED) <= set(entries)
    for name, (kind, reader) in REQUIRED.items():
        entry = entries[name]
        assert (entry.name, entry.kind, entry.reader) == (name, kind, reader)
        assert entry.reader in READERS
        assert entry.title and entry.licence
        assert entry.origin == BUNDLED_REGISTRY
    assert entries["pubmed-baseline"].listing == "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/"
    assert entries["pubmed-baseline"].pattern == "pubmed*n*.xml.gz"
    assert entries["pubmed-baseline"].sidecar == "md5"
    assert entries["pubmed-updates"].listing == "https://ftp.ncbi.nlm.nih.gov/pubmed/updatefiles/"
    assert entries["pmc-oa"].pattern == "oa_comm_xml.*.baseline.*.tar.gz"
    assert entries["dailymed"].file_names()[0] == "dm_spl_release_human_rx_part1.zip"
    assert {name: entries[name].records for name in LOCAL} == LOCAL


def test_reader_names_match_ingest() -> None:
    from ingest.readers import reader_names

    assert set(READERS) <= set(reader_names())


def test_sample_resolves_to_the_bundled_directory() -> None:
    entry = get_corpus("sample")
    (path,) = entry.local_files()
    assert path == PACKAGE_DIR / "sample" == ROOT / "corpora" / "sample"
    assert len(list(path.glob("*.md"))) == entry.records == 40


def test_local_entries_resolve_under_medkb_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    for name in LOCAL:
        (tmp_path / name).mkdir()
        (tmp_path / name / "corpus.jsonl").write_text("{}\n", encoding="utf-8")
    assert data_dir() == tmp_path
    for name in LOCAL:
        assert get_corpus(name).local_files() == [tmp_path / name / "corpus.jsonl"]


def test_missing_local_data_names_the_path_and_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(CorpusError, match=r"medquad/corpus\.jsonl.*MEDKB_DATA_DIR=.* has no medquad/") as info:
        get_corpus("medquad").local_files()
    assert str(tmp_path) in str(info.value) and "`medkb corpus fetch medquad`" in str(info.value)
    (tmp_path / "medquad").mkdir()  # the folder is there, the file is not
    with pytest.raises(CorpusError, match=r"medquad/corpus\.jsonl does not exist.*MEDKB_DATA_DIR"):
        get_corpus("medquad").local_files()


def test_without_medkb_data_dir_nothing_outside_the_repository_is_assumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path))
    with pytest.raises(DataDirNotSet, match="MEDKB_DATA_DIR is not set"):
        data_dir()
    with pytest.raises(CorpusError, match=r"corpus 'medquad' \(medquad/corpus\.jsonl\).*MEDKB_DATA_DIR is not set"):
        get_corpus("medquad").local_files()
    assert get_corpus("sample").local_files() == [PACKAGE_DIR / "sample"]  # bundled: no data folder needed


@pytest.mark.skipif(
    not SHARED_DATA.is_dir(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)
@pytest.mark.parametrize("name", sorted(LOCAL))
def test_shared_data_has_the_registered_record_counts(name: str) -> None:
    (path,) = get_corpus(name).local_files()
    with path.open("rb") as f:
        assert sum(1 for line in f if line.strip()) == LOCAL[name]


def test_downloaded_corpus_needs_a_fetch_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path / "cache"))
    entry = get_corpus("pubmed-baseline")
    assert entry.default_dest() == tmp_path / "cache" / "corpora" / "pubmed-baseline"
    with pytest.raises(CorpusError, match=r"run `medkb corpus fetch pubmed-baseline`"):
        entry.local_files()
    with pytest.raises(CorpusError, match=r"fetch pubmed-baseline --dest .*elsewhere"):
        entry.local_files(tmp_path / "elsewhere")


OVERRIDE = """
[medquad]
title = "My MedQuAD"
path = "/somewhere/medquad.jsonl"
reader = "jsonl"
licence = "CC BY 4.0"

[my-labels]
title = "Some labels"
url = "https://example.org/labels.zip"
sha256 = "{sha}"
reader = "archive"
licence = "public domain"
"""


def test_override_file_replaces_and_adds_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "corpora.toml"
    extra.write_text(OVERRIDE.format(sha="ab" * 32), encoding="utf-8")
    for entries in (load_registry(extra), _with_env(monkeypatch, extra)):
        assert entries["medquad"].title == "My MedQuAD"
        assert entries["medquad"].reader == "jsonl"
        assert entries["medquad"].records is None  # replaced whole, not merged
        assert entries["medquad"].origin == extra
        assert entries["my-labels"].urls == ("https://example.org/labels.zip",)
        assert entries["my-labels"].sha256 == "ab" * 32
        assert entries["sample"].origin == BUNDLED_REGISTRY
    assert get_corpus("my-labels", extra=extra).kind == "url"


def _with_env(monkeypatch: pytest.MonkeyPatch, extra: Path) -> dict:
    monkeypatch.setenv(REGISTRY_ENV, str(extra))
    return load_registry()


def test_unknown_corpus_lists_the_known_names() -> None:
    with pytest.raises(CorpusError, match=r"unknown corpus 'pubmed'; known corpora: .*pubmed-baseline.*sample"):
        get_corpus("pubmed")


def test_missing_override_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"nope\.toml does not exist"):
        load_registry(tmp_path / "nope.toml")


BASE = 'title = "t"\nlicence = "l"\n'


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (BASE + 'reader = "pubmed"\npath = "x"\ncolour = "red"', "unknown key.*colour"),
        (BASE + 'path = "x"', "missing reader"),
        (BASE + 'reader = "nope"\npath = "x"', "unknown reader 'nope'; expected one of text, markdown"),
        (BASE + 'reader = "pubmed"', "needs exactly one of url, listing or path.*found none"),
        (BASE + 'reader = "pubmed"\npath = "x"\nurl = "https://a.org/x.gz"', "found url and path"),
        (BASE + 'reader = "pubmed"\nlisting = "https://a.org/dir/"', "needs a pattern"),
        (BASE + 'reader = "pubmed"\nlisting = "https://a.org/dir"\npattern = "*"', "ending in '/'"),
        (BASE + 'reader = "pubmed"\nlisting = "https://a.org/d/"\npattern = "*"\nsidecar = "crc"', "sidecar 'crc'"),
        (BASE + 'reader = "pubmed"\nurl = "ftp://a.org/x.gz"', "not an http"),
        (BASE + 'reader = "pubmed"\nurl = "https://a.org/dir/"', "not a plain file name"),
        (BASE + 'reader = "pubmed"\nurl = []', "url must be a URL or a list"),
        (BASE + 'reader = "pubmed"\nurl = "https://a.org/x.gz"\nsha256 = "abc"', "64 lower-case hex"),
        (BASE + 'reader = "pubmed"\npath = "x"\nrecords = "many"', "records must be a non-negative integer"),
        (BASE + 'reader = "pubmed"\npath = "x"\nroot = "home"', "root must be one of data, package"),
        (BASE + 'reader = 3\npath = "x"', "reader must be a string"),
    ],
)
def test_invalid_entries_name_the_file_entry_and_problem(tmp_path: Path, body: str, problem: str) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text(f"[broken]\n{body}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=problem) as info:
        load_registry(extra)
    assert str(extra) in str(info.value) and "[broken]" in str(info.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text("[broken\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"cannot read corpus registry .*bad\.toml"):
        load_registry(extra)


def test_to_dict_is_json_ready() -> None:
    import json

    data = get_corpus("dailymed").to_dict()
    assert json.loads(json.dumps(data))["urls"][0].endswith("part1.zip")
    assert "root" not in data and data["kind"] == "url"
