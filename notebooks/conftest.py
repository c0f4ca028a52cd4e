"""When the notebooks run as tests (nbmake): skip the ones that read the shared evaluation data where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The data sets each notebook reads from ``$MEDKB_DATA_DIR`` or ``<repo>/../shared/data``.
_NEEDS = {
    "02_explore.ipynb": ("pubmedqa", "scifact", "medquad"),
    "03_evaluate.ipynb": ("scifact", "medquad", "bioasq"),
}


def _data_dirs() -> list[Path]:
    given = os.environ.get("MEDKB_DATA_DIR")
    return ([Path(given)] if given else []) + [Path(__file__).resolve().parents[2] / "shared" / "data"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = _NEEDS.get(item.path.name)
    if needs and not any(all((d / name).is_dir() for name in needs) for d in _data_dirs()):
        pytest.skip(f"{item.path.name} needs {', '.join(needs)} under $MEDKB_DATA_DIR or ../shared/data")
