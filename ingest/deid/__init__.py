"""HIPAA Safe Harbor de-identification of clinical notes before they are chunked, embedded and stored.

Identifiers are found by regular expressions (dates, ages over 89, phone and fax numbers, e-mail and web addresses,
record, account, licence, device, health-plan and social security numbers, street addresses, ZIP codes, IP
addresses) and, for person names, by context cues plus the US Census name lists of the ``names`` package. Each is
replaced by a typed placeholder such as ``[NAME]`` or ``[AGE>89]``.

>>> from ingest.deid import Deidentifier
>>> Deidentifier().redact("Mrs. Kowalczyk, 94 y/o, call (415) 555-0132").text
'Mrs. [NAME], [AGE>89] y/o, call [PHONE]'
"""

from __future__ import annotations

from ingest.deid.core import (
    KINDS,
    PLACEHOLDERS,
    DeidentificationError,
    Deidentifier,
    PhiSpan,
    Redaction,
    deidentify_document,
)

__all__ = [
    "KINDS",
    "PLACEHOLDERS",
    "DeidentificationError",
    "Deidentifier",
    "PhiSpan",
    "Redaction",
    "deidentify_document",
]
