"""One hit per product text: repackaged or relabelled copies of a drug label say the same words, and a reader is
better served by one source that lists the others than by the same sentence cited twice.

Two hits are copies when both come from drug labels (DailyMed SPL documents), their labels share an active
ingredient, they sit in sections of the same name, and their texts share at least `SAME_TEXT` of their words
(Jaccard). The better-ranked hit stays and lists the others in `Hit.copies`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from kb.core.drugs import is_drug_label_metadata, name_keys
from kb.core.types import Hit

#: Word-set overlap (Jaccard) above which two label passages are the same text.
SAME_TEXT = 0.8
_WORD = re.compile(r"\w+")


def collapse_copies(hits: Sequence[Hit]) -> list[Hit]:
    """``hits`` with each copy of an earlier hit's label text folded into that hit's ``copies``."""
    kept: list[tuple[Hit, frozenset[str], frozenset[str]]] = []
    out: list[Hit] = []
    for hit in hits:
        if not is_drug_label_metadata(hit.source, hit.metadata):
            out.append(hit)
            continue
        words = frozenset(w.lower() for w in _WORD.findall(hit.text))
        ingredients = _ingredients(hit)
        first = next(
            (k for k, k_words, k_ingredients in kept if _same(hit, k, words, k_words, ingredients, k_ingredients)),
            None,
        )
        if first is None:
            kept.append((hit, words, ingredients))
            out.append(hit)
        else:
            first.copies.append({"doc_id": hit.doc_id, "title": hit.title, "source": hit.source})
    return out


def _same(
    hit: Hit,
    other: Hit,
    words: frozenset[str],
    other_words: frozenset[str],
    mine: frozenset[str],
    theirs: frozenset[str],
) -> bool:
    if hit.doc_id == other.doc_id or hit.section != other.section or not (mine & theirs):
        return False
    union = len(words | other_words)
    return union > 0 and len(words & other_words) / union >= SAME_TEXT


def _ingredients(hit: Hit) -> frozenset[str]:
    names: list[str] = []
    for key in ("active_moieties", "active_ingredients", "generic_names"):
        value = hit.metadata.get(key)
        names += [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
    return frozenset(k for name in names for k in name_keys(name))
