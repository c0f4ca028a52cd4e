"""Patient-aware retrieval: the question is searched alone and with the patient's terms, and the two are merged.

Adding "warfarin; penicillin allergy; chronic kidney disease" to a question finds the passages about the patient's
medicines and conditions, but on its own it would pull every passage towards them and away from what was asked.
So the question's own hits keep the top ranks, and only the lowest ``share`` of the ``k`` places go to passages that
the expanded query alone found.

Example::

    hits = merge_expanded(kb.search(question, k), kb.search(expanded_query(question, terms), k), k)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kb.core.types import Hit

#: The share of the ``k`` places that passages found only through the patient's terms may take (at least one).
EXPANSION_SHARE = 1 / 3


def expanded_query(question: str, terms: Sequence[str]) -> str:
    """``question`` followed by the patient's ``terms``."""
    return " ".join([question.strip(), *terms]) if terms else question.strip()


def merge_expanded(
    primary: Sequence[Hit], expanded: Sequence[Hit], k: int, *, share: float = EXPANSION_SHARE
) -> list[Hit]:
    """The question's hits (``primary``, best first) with up to ``max(1, int(k * share))`` hits that only the
    expanded query found in place of its lowest-ranked ones (more when ``primary`` holds fewer than ``k``), ranked
    again from 1.

    >>> [h.chunk_id for h in merge_expanded([Hit("a", "d", "", 1), Hit("b", "d", "", 1)], [Hit("c", "d", "", 1)], 2)]
    ['a', 'c']
    """
    seen = {hit.chunk_id for hit in primary}
    extra = [hit for hit in expanded if hit.chunk_id not in seen]
    slots = min(max(1, int(k * share)), len(extra))
    kept = list(primary[: max(k - slots, 0)])
    merged = kept + extra[: k - len(kept)]
    return [replace(hit, rank=rank) for rank, hit in enumerate(merged, start=1)]
