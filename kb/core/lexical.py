"""The lexical side of the index: how chunk text is prepared for SQLite FTS5 (BM25) and how a question becomes an
FTS5 query.

FTS5's ``porter unicode61`` tokenizer stems English and lowercases. Chinese has no spaces, so runs of Chinese
characters are segmented with jieba (search mode) before they reach FTS5, at indexing and at query time alike.
Tokens joined by ``-``, ``*``, ``/`` or ``.`` (``IL-6``, ``CYP2C19*2``, ``HbA1c``) are searched as exact phrases
of their parts, so they match only where the parts stand together. English stop words are dropped from queries.

Example::

    >>> match_expression("Is IL-6 raised in sepsis?")
    '"il 6" OR "raised" OR "sepsis"'
"""

from __future__ import annotations

import importlib.util
import logging
import re
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

#: The FTS5 tokenizer of the lexical index; changing it changes what is stored (see the store's schema version).
TOKENIZER = "porter unicode61 remove_diacritics 2"

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_TOKEN = re.compile(r"\w+(?:[-*/.]\w+)*")
_PART = re.compile(r"[^\W_]+")


@cache
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


@cache
def _stop_words() -> frozenset[str]:
    """scikit-learn's English stop-word list, read from its module alone: importing it the usual way runs
    scikit-learn's package import (scipy, pandas), about 1.5 s of the first search (``benchmarks/startup.py``)."""
    found = importlib.util.find_spec("sklearn")
    if found is not None and found.submodule_search_locations:
        path = Path(next(iter(found.submodule_search_locations))) / "feature_extraction" / "_stop_words.py"
        spec = importlib.util.spec_from_file_location("_medkb_sklearn_stop_words", path)
        if path.is_file() and spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return frozenset(module.ENGLISH_STOP_WORDS)
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # a layout without that file

    return frozenset(ENGLISH_STOP_WORDS)


def segment(text: str) -> str:
    """``text`` with every run of Chinese characters split into space-separated words; other text unchanged."""
    if not _CJK_RUN.search(text):
        return text
    jieba = _jieba()
    return _CJK_RUN.sub(lambda m: " " + " ".join(w for w in jieba.cut_for_search(m.group()) if w.strip()) + " ", text)  # type: ignore[attr-defined]


def is_chinese(text: str) -> bool:
    """Whether ``text`` is mostly Chinese: at least as many Han characters as Latin-script words (so a Chinese
    question that names ``HbA1c`` or ``BRCA1`` is still Chinese).

    >>> is_chinese("二甲双胍会影响 HbA1c 吗？"), is_chinese("Does metformin lower HbA1c?")
    (True, False)
    """
    han = sum(len(run) for run in _CJK_RUN.findall(text))
    return han > 0 and han >= len(_LATIN_WORD.findall(text))


def index_text(title: str, text: str) -> str:
    """What the lexical index holds for a chunk: its document's title and its text, Chinese segmented."""
    return segment(f"{title}\n{text}" if title and not text.startswith(title) else text)


def match_expression(query: str) -> str | None:
    """An FTS5 ``MATCH`` expression for ``query``: its terms, OR-ed, each quoted (so no word is read as FTS5
    syntax); None when nothing searchable remains."""
    stop = _stop_words()
    terms: dict[str, None] = {}
    for token in _TOKEN.findall(segment(query)):
        parts = [p.lower() for p in _PART.findall(token)]
        if not parts:
            continue
        if len(parts) == 1:
            word = parts[0]
            if word in stop or (len(word) == 1 and word.isascii()):
                continue
        terms['"' + " ".join(parts) + '"'] = None
    return " OR ".join(terms) or None
