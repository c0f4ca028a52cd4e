"""The fixed split of an evaluation set's questions into halves A and B: thresholds and weights are fitted on half A
and reported on half B, so no figure is tuned on the questions it is reported on."""

from __future__ import annotations

import hashlib


def half(query_id: str) -> str:
    """``"A"`` or ``"B"``: a fixed split of query ids, by the md5 of the id, that does not depend on their order."""
    return "A" if int(hashlib.md5(query_id.encode("utf-8")).hexdigest(), 16) % 2 == 0 else "B"
