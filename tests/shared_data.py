"""The evaluation data sets and data corpora the tests read, from ``$MEDKB_DATA_DIR`` only (CI sets it). Without it
``SHARED_DATA`` names a folder that does not exist, so ``SHARED_DATA / name`` is still a path and the tests that need
the data skip, saying what to set."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MEDKB_DATA_DIR") or ROOT / ".medkb-data-dir-not-set")
NEEDS_DATA = (
    "needs $MEDKB_DATA_DIR, the folder of evaluation data sets (CI sets it; `medkb corpus fetch NAME` fetches "
    "scifact, pubmedqa and medquad from their public releases)"
)
