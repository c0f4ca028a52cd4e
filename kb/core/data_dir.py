"""Where medkb finds the data sets it evaluates on and the corpora its catalog names by path: ``$MEDKB_DATA_DIR``,
a folder holding one sub-folder per data set (``scifact/``, ``pubmedqa/``, ``medquad/``, ...), each with a
``SOURCE.md`` saying where its files come from; or, for the data sets with a public release medkb can convert
(`FETCHABLE`), ``<cache>/data/<name>``, which ``medkb corpus fetch NAME`` makes. medkb looks nowhere else."""

from __future__ import annotations

import os
from pathlib import Path

from kb.core.errors import MedkbError
from kb.core.model_registry import default_cache_dir

DATA_DIR_ENV = "MEDKB_DATA_DIR"
#: The data sets ``medkb corpus fetch`` can download from their public release and convert (the corpus catalog's
#: entries with ``upstream`` URLs).
FETCHABLE = ("medquad", "pubmedqa", "scifact")


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


def fetched_data_dir() -> Path:
    """``<cache>/data``: where ``medkb corpus fetch`` puts the data sets it converts from their public releases."""
    return default_cache_dir() / "data"


def data_set_dir(name: str, root: Path | None = None) -> Path:
    """The folder of the data set ``name``: ``root/name`` when ``root`` is given; else ``$MEDKB_DATA_DIR/name``, else
    ``<cache>/data/name`` when a fetch made it; :class:`DataDirNotSet` naming both places and the fetch command
    when neither holds it."""
    if root is not None:
        return root / name
    given = os.environ.get(DATA_DIR_ENV)
    if given and (Path(given).expanduser() / name).is_dir():
        return Path(given).expanduser() / name
    fetched = fetched_data_dir() / name
    if fetched.is_dir():
        return fetched
    where = f"${DATA_DIR_ENV}={given} has no {name}/" if given else f"${DATA_DIR_ENV} is not set"
    how = (
        f"run `medkb corpus fetch {name}` to download it from its public release into {fetched}"
        if name in FETCHABLE
        else f"it has no public download medkb can convert: put it in ${DATA_DIR_ENV}/{name}/"
    )
    raise DataDirNotSet(f"data set {name!r} not found ({where}, and nothing fetched into {fetched}); {how}")
