"""Where medkb finds the data sets it evaluates on and the corpora its catalog names by path: ``$MEDKB_DATA_DIR``,
a folder holding one sub-folder per data set (``scifact/``, ``pubmedqa/``, ``medquad/``, ...), each with a
``SOURCE.md`` saying where its files come from. medkb never looks for it anywhere else."""

from __future__ import annotations

import os
from pathlib import Path

from kb.core.errors import MedkbError

DATA_DIR_ENV = "MEDKB_DATA_DIR"


class DataDirNotSet(MedkbError):
    """``$MEDKB_DATA_DIR`` is not set, or names no folder."""


def data_dir() -> Path:
    """The folder ``$MEDKB_DATA_DIR`` names; :class:`DataDirNotSet` saying so when it is unset or missing."""
    given = os.environ.get(DATA_DIR_ENV)
    if not given:
        raise DataDirNotSet(
            f"${DATA_DIR_ENV} is not set: point it at the folder holding the evaluation data sets and data corpora "
            "(scifact/, pubmedqa/, medquad/, ..., each with its SOURCE.md)"
        )
    folder = Path(given).expanduser()
    if not folder.is_dir():
        raise DataDirNotSet(f"${DATA_DIR_ENV}={given}: no such folder")
    return folder
