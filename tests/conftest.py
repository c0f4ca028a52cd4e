"""Shared fixtures: offline environment, a network guard, and small knowledge bases built with fakes."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpora" / "sample"


class NetworkBlocked(RuntimeError):
    pass


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class RealModelInFastRun(RuntimeError):
    """A test of the fast run (``make test-fast``) reached for a bundled model: it belongs to the full run (mark it
    ``e2e``)."""


@pytest.fixture(autouse=True)
def no_real_models_in_the_fast_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``MEDKB_TEST_FAST=1`` (``make test-fast``), loading a bundled model's weights fails the test: the ONNX and
    sentence-transformers embedders, the local generator and the USEM encoder refuse a registered model name. A
    test's own model directory still loads, and resolving names (the registry's own tests) is left alone."""
    if os.environ.get("MEDKB_TEST_FAST") != "1":
        return
    from generation.llama import LlamaCppGenerator
    from generation.local import TransformersGenerator
    from retrieval import usem_embedder
    from retrieval.embedders import SentenceTransformerEmbedder
    from retrieval.onnx_embedder import OnnxEmbedder

    def guarded(cls: type, requested: Callable[[Any], str]) -> None:
        real = cls._load  # type: ignore[attr-defined]

        def load(self: Any) -> Any:
            if not Path(requested(self)).is_dir():
                raise RealModelInFastRun(f"the fast run loads no bundled model ({requested(self)!r}); mark it e2e")
            return real(self)

        monkeypatch.setattr(cls, "_load", load)

    guarded(OnnxEmbedder, lambda embedder: str(embedder._model))
    guarded(SentenceTransformerEmbedder, lambda embedder: str(embedder.name))
    guarded(TransformersGenerator, lambda generator: str(generator.name))
    # a GGUF file a test names (its folder exists) may load; a registered name may not
    guarded(
        LlamaCppGenerator,
        lambda generator: str(Path(generator.name).parent) if generator.name.endswith(".gguf") else generator.name,
    )

    def no_usem(threads: int) -> object:
        raise RealModelInFastRun("the fast run loads no bundled model ('usem-multilingual-v3'); mark this test e2e")

    monkeypatch.setattr(usem_embedder, "_model", no_usem)


@pytest.fixture(autouse=True)
def block_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any socket connection to a non-loopback address fails the test."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if not _is_loopback(address):
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    yield


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    """A few small input files of different kinds."""
    d = tmp_path / "docs"
    d.mkdir()
    (d / "metformin.md").write_text(
        "---\ntitle: Metformin\npublished: 2024\nlanguage: en\nsource: label\n---\n# Metformin\n\n"
        "## Contraindications\nMetformin is contraindicated when eGFR is below 30 mL/min/1.73 m2. "
        "It raises the risk of lactic acidosis.\n\n## Dosing\nStart at 500 mg once daily with meals.\n",
        encoding="utf-8",
    )
    (d / "papers.jsonl").write_text(
        '{"text": "Amoxicillin is a penicillin antibiotic. Patients with penicillin allergy should not receive it.",'
        ' "title": "Amoxicillin allergy", "pmid": "111", "published": "2019-05-01", "source": "pubmed"}\n'
        '{"text": "Warfarin bleeding risk rises with NSAIDs such as ibuprofen.", "title": "Warfarin and NSAIDs",'
        ' "doi": "10.1000/xyz", "published": "2012", "source": "pubmed", "language": "en"}\n',
        encoding="utf-8",
    )
    (d / "asthma.txt").write_text(
        "Asthma diagnosis\n\nAsthma is diagnosed from variable expiratory airflow limitation on spirometry.\n",
        encoding="utf-8",
    )
    return d
