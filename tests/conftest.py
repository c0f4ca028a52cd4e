"""Shared fixtures: offline environment, a network guard, and small knowledge bases built with fakes."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

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
