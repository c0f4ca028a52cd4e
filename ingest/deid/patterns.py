"""Regular expressions for the structured Safe Harbor identifiers: dates, ages over 89, numbers, addresses, contacts.

Each rule yields ``(start, end, kind)`` candidates; a rule whose pattern has a group named ``v`` reports that group
only, so a cue ("MRN:", "aged") can anchor a match without being redacted itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

Candidate = tuple[int, int, str]

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}"
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|"
    "OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR"
)
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Drive|Dr|Lane|Ln|Court|Ct|Way|Boulevard|Blvd|Place|Pl|Terrace|Ter|Circle|Cir|"
    r"Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Row|Close|Crescent)\.?"
)
_CAP_WORD = r"(?:[A-Z]|d'[A-Z])[a-zA-Z'’.-]+"
_CITY = rf"{_CAP_WORD}(?:[ ]{_CAP_WORD}){{0,2}}"
# an identifier after a label: letters, digits and dashes, at least four characters and at least one digit
_ID = (
    r"(?P<v>(?!(?:19|20)\d\d-\d\d?-\d\d?\b|\d\d?-\d\d?-\d\d(?:\d\d)?\b)"  # not a date
    r"(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{2,}[A-Za-z0-9])"
)
_SEP = r"(?i:(?:\s*(?:[:#]|no\.|num(?:ber)?\.?|is)){0,3}\s*)"


def _labelled(label: str) -> str:
    return rf"(?i:\b(?:{label})(?![A-Za-z])){_SEP}{_ID}\b"


_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")),
    (
        "URL",
        re.compile(
            r"\b(?:https?://|www\.)[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]"
            r"|(?<![@\w.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io|health|info|us|me)(?:/[^\s,;)]*)?\b",
            re.IGNORECASE,
        ),
    ),
    (
        "IP",
        re.compile(
            r"(?<![\d.])(?<!EC )(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}"
            r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]\d)"
        ),
    ),
    ("IP", re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b")),
    ("SSN", re.compile(_labelled(r"SSN|SS#|social security(?: number)?"))),
    ("SSN", re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")),
    (
        "MRN",
        re.compile(
            _labelled(
                r"MRN|MR|med(?:ical)?\.? ?rec(?:ord)?s?\.?(?: number)?|chart (?:no\.?|number|#)|"
                r"hospital number|patient id"
            )
        ),
    ),
    ("ACCOUNT", re.compile(_labelled(r"account|acct\.?|billing account|encounter|visit id|invoice"))),
    ("LICENSE", re.compile(_labelled(r"licen[cs]e|lic\.|DEA|NPI|driver'?s licen[cs]e|certificate"))),
    ("DEVICE", re.compile(_labelled(r"serial|S/N|SN|device id|device identifier|UDI|model/serial|implant id"))),
    (
        "HEALTHPLAN",
        re.compile(
            _labelled(
                r"member id|medicare(?: id)?|medicaid(?: id)?|policy|subscriber id|insurance(?: member)? id|"
                r"group (?:no\.?|number|#)|beneficiary(?: id)?|health plan(?: id)?|plan id"
            )
        ),
    ),
    (
        "PHONE",
        re.compile(
            r"(?<![\w/.-])(?:\+?1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
            r"(?:[ ]?(?:x|ext\.?)[ ]?\d{1,5})?(?![\w/-])"
        ),
    ),
    # dates: numeric with a year, ISO, month names with a day and/or year
    (
        "DATE",
        re.compile(
            r"(?<![\d/.-])(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|(?:19|20)\d{2}[/-]\d{1,2}[/-]\d{1,2})(?![\d/-]|\.\d)"
        ),
    ),
    ("DATE", re.compile(rf"\b{_MONTH}[ ]{_DAY}\b(?:,?[ ]{_YEAR}\b)?")),
    ("DATE", re.compile(rf"\b{_DAY}[ ](?:of[ ])?{_MONTH}(?:,?[ ]{_YEAR})?\b")),
    ("DATE", re.compile(rf"\b{_DAY}-{_MONTH}-(?:{_YEAR}|\d{{2}})\b")),
    ("DATE", re.compile(rf"\b{_MONTH},?[ ]{_YEAR}\b")),
    (
        "DATE",
        re.compile(
            r"(?i:\b(?:on|since|from|until|till|through|after|before|visit|seen|dated|around|DOS|DOB)[: ]+)"
            r"(?P<v>(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?![\d/])"
        ),
    ),
    # ages over 89: "92-year-old", "97 y/o", "94yo", "aged 91", "Age: 93"
    (
        "AGE",
        re.compile(
            r"(?<![\d.-])(?<!T )(?<!temp )(?<!Temp )(?<!to )(?<!– )"
            r"(?P<v>9\d|1[0-2]\d)(?=[ -]?(?:years?|yrs?)\b|[ -]?(?:yo|y/o|y\.o\.|yom|yof)\b|(?-i:[MF])\b)",
            re.IGNORECASE,
        ),
    ),
    ("AGE", re.compile(r"(?i:\b(?:age|aged)\b[: ]*)(?P<v>9\d|1[0-2]\d)\b(?![.,]\d)")),
    # street address with optional unit, then the city when a state follows
    (
        "ADDRESS",
        re.compile(
            rf"\b\d{{1,6}}[ ](?:(?:[NSEW]\.?|North|South|East|West)[ ])?(?:[A-Z][A-Za-z'’-]*[ ]){{1,4}}{_STREET_SUFFIX}"
            rf"(?:,?[ ](?:Apt|Apartment|Unit|Suite|Ste|Room|Floor|Fl|#)\.?[ ]?#?[A-Za-z0-9-]+)?"
            rf"(?:,[ ]{_CITY}(?=,?[ ](?:{_STATES})\b))?(?![A-Za-z])"
        ),
    ),
    (
        "ADDRESS",
        re.compile(
            rf"(?i:\b(?:lives|living|resides|residing|resident|moved|relocated)(?:[ ]alone)?[ ](?:in|of|to|at)[ ])"
            rf"(?P<v>{_CITY})"
        ),
    ),
    ("ADDRESS", re.compile(rf"(?P<v>{_CITY})(?=,[ ](?:{_STATES})[ ]\d{{5}})")),
    ("ZIP", re.compile(rf"(?<=\b(?:{_STATES})[ ])\d{{5}}(?:-\d{{4}})?\b")),
    ("ZIP", re.compile(r"(?i:\b(?:zip|zip code|postal code|postcode)[: ]+)(?P<v>\d{5}(?:-\d{4})?)\b")),
]

_FAX_CUE = re.compile(r"(?i)\b(fax|facsimile|tel|phone|ph|call|pager|cell|mobile|callback|contact)\b[^\n\d]{0,20}$")


def _date_ok(text: str) -> bool:
    """Reject numeric "dates" that cannot be one (13/45/2020) so doses and ratios stay."""
    parts = re.split(r"[/.-]", text)
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return True
    a, b, c = (int(p) for p in parts)
    if len(parts[0]) == 4:
        return 1 <= b <= 12 and 1 <= c <= 31
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)


def find_structured(text: str) -> Iterator[Candidate]:
    """Every candidate span of the structured identifier kinds in ``text`` (may overlap)."""
    for kind, pattern in _RULES:
        for m in pattern.finditer(text):
            start, end = m.span("v") if "v" in pattern.groupindex else m.span()
            value = text[start:end]
            if kind == "DATE" and not _date_ok(value):
                continue
            if kind == "PHONE":
                cue = _FAX_CUE.search(text, max(0, start - 30), start)
                if cue and cue.group(1).lower() in ("fax", "facsimile"):
                    kind_out = "FAX"
                else:
                    kind_out = "PHONE"
                yield start, end, kind_out
                continue
            yield start, end, kind
