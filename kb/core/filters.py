"""Metadata filters for search, compiled to SQL over the documents table.

A filtered search first asks SQLite for the chunks that pass, then searches only among them, so ``k`` results come
back whenever ``k`` matching chunks exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kb.core.errors import InvalidFilter

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass(frozen=True)
class Filters:
    """Conditions a document must meet; all given conditions must hold.

    ``source`` matches the document's ``source`` metadata value exactly, or its origin path by prefix.
    ``published_from`` / ``published_to`` are inclusive ``YYYY[-MM[-DD]]`` bounds; a document without a
    publication date fails them unless ``include_undated``. ``metadata`` holds exact equality conditions on any
    other metadata key (compared as text).
    """

    source: str | None = None
    published_from: str | None = None
    published_to: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    include_undated: bool = False

    def __post_init__(self) -> None:
        for name in ("published_from", "published_to"):
            value = getattr(self, name)
            if value is not None and not _DATE.match(value):
                raise InvalidFilter(f"{name}={value!r}: expected a date YYYY, YYYY-MM or YYYY-MM-DD")
        for key in self.metadata:
            if not _KEY.match(key):
                raise InvalidFilter(f"metadata key {key!r}: expected letters, digits, '_', '.' or '-'")

    @property
    def empty(self) -> bool:
        return not (self.source or self.published_from or self.published_to or self.metadata)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | Filters | None) -> Filters:
        """Build from a dict such as ``{"source": "dailymed", "published_from": "2019", "language": "en"}``:
        ``source``, ``published_from`` and ``published_to`` are recognised, every other key is a metadata
        equality."""
        if data is None:
            return cls()
        if isinstance(data, Filters):
            return data
        if not isinstance(data, Mapping):
            raise InvalidFilter(f"filters={data!r}: expected a mapping of key to value")
        known = ("source", "published_from", "published_to", "include_undated")
        rest = {str(k): str(v) for k, v in data.items() if k not in known}
        undated = data.get("include_undated", False)
        if not isinstance(undated, bool) and str(undated).lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidFilter(f"include_undated={undated!r}: expected true or false")
        return cls(
            source=_opt_str(data.get("source")),
            published_from=_opt_str(data.get("published_from")),
            published_to=_opt_str(data.get("published_to")),
            metadata=rest,
            include_undated=undated if isinstance(undated, bool) else str(undated).lower() in ("true", "1", "yes"),
        )

    @property
    def dated(self) -> bool:
        """Whether a date bound is set (and so undated documents are left out, unless ``include_undated``)."""
        return bool(self.published_from or self.published_to)

    def without_dates(self) -> Filters:
        """The same conditions without the date bounds."""
        return Filters(source=self.source, metadata=dict(self.metadata))

    @classmethod
    def parse(cls, expressions: list[str]) -> Filters:
        """Parse CLI ``key=value`` expressions (``published_from=2019`` and ``source=...`` included)."""
        data: dict[str, str] = {}
        for expr in expressions:
            key, sep, value = expr.partition("=")
            if not sep or not key.strip():
                raise InvalidFilter(f"filter {expr!r}: expected key=value")
            data[key.strip()] = value.strip()
        return cls.from_mapping(data)

    def to_sql(self) -> tuple[str, list[Any]]:
        """A WHERE clause over documents aliased ``d``, and its parameters.

        Every condition can be answered from an index: metadata values from the ``document_metadata`` table (one
        row per document and top-level key, the value as text), the source prefix and the dates as ranges over
        ``documents.source`` and ``documents.published``.
        """
        clauses: list[str] = ["1"]
        params: list[Any] = []
        if self.source:
            clauses.append(f"({_HAS_VALUE} OR (d.source >= ? AND d.source < ?))")
            params += ["source", self.source, self.source, self.source + _AFTER_PREFIX]
        dates: list[str] = []
        if self.published_from:  # the first len(from) characters >= from, as strings
            dates.append("d.published >= ?")
            params.append(self.published_from)
        if self.published_to:  # the first len(to) characters <= to: below every string that extends ``to``
            dates.append("d.published < ?")
            params.append(self.published_to + _AFTER_PREFIX)
        if dates:
            within = " AND ".join(dates)
            clauses.append(f"(d.published IS NULL OR ({within}))" if self.include_undated else within)
        for key, value in self.metadata.items():
            clauses.append(_HAS_VALUE)
            params += [key, value]
        return " AND ".join(clauses), params


#: A document has metadata ``key`` (first parameter) with text value (second).
_HAS_VALUE = "d.id IN (SELECT doc_id FROM document_metadata WHERE key = ? AND value = ?)"
#: Sorts after every string that starts with a given prefix (the largest code point), as SQLite compares text.
_AFTER_PREFIX = "\U0010ffff"


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
