"""When the notebooks run as tests (nbmake): skip the ones that read the shared evaluation data where it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The data sets each notebook reads from ``$MEDKB_DATA_DIR``.
_NEEDS = {
    "02_explore.ipynb": ("pubmedqa", "scifact", "medquad"),
    "03_evaluate.ipynb": ("scifact", "medquad", "bioasq"),
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    needs = _NEEDS.get(item.path.name)
    data = Path(os.environ.get("MEDKB_DATA_DIR") or "MEDKB_DATA_DIR-not-set")
    if needs and not all((data / name).is_dir() for name in needs):
        pytest.skip(
            f"{item.path.name} needs {', '.join(needs)} under $MEDKB_DATA_DIR (CI sets it; the notebooks read only "
            "that folder, which `medkb corpus fetch NAME` does not fill)"
        )
