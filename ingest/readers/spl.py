"""FDA Structured Product Labels (SPL: HL7 v3 XML, namespace ``urn:hl7-org:v3``), as DailyMed publishes them.

One `Document` per label, keyed ``dailymed:<set id>`` with the label's integer ``versionNumber`` as
``metadata["version"]``, so a newer version of a label replaces the older one. Each top-level section becomes a
`Section` named by its LOINC code (``Boxed Warning``, ``Adverse Reactions``; see `ingest.readers.loinc`); nested
subsections stay in their parent's text under their own title lines, and tables are flattened row by row. The
product data elements give the drug's names: ``products`` (brand names), ``generic_names``, ``active_ingredients``
(as the label names them, salts included), ``active_moieties`` (``ATORVASTATIN``), and ``pharmacologic_classes``
(the Established Pharmacologic Class names, "Penicillin-class Antibacterial", without their ``[EPC]`` suffix;
found wherever the label carries them, which DailyMed's full labels mostly do not).

Example::

    for item in SplReader().read(Path("humira.xml")):
        ...
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import TITLE_MAX_CHARS, ReadItem, RecordError
from ingest.readers.loinc import SECTION_NAMES, UNCLASSIFIED, section_name
from ingest.readers.xmlsafe import assemble, drop_empty, flatten, iter_elements, local_name, root_tag, unique
from kb.core.errors import ReaderError
from kb.core.types import Document

logger = logging.getLogger(__name__)

V3 = "urn:hl7-org:v3"
ROOT = f"{{{V3}}}document"
_NS = {"v": V3}
_ACTIVE = "@classCode='ACTIB' or @classCode='ACTIM' or @classCode='ACTIR'"
_PRODUCT_NAMES = (
    ".//v:manufacturedProduct/v:manufacturedProduct/v:name | .//v:manufacturedProduct/v:manufacturedMedicine/v:name"
)
_INGREDIENT_NAMES = (
    f".//v:ingredient[{_ACTIVE}]/v:ingredientSubstance/v:name"
    " | .//v:activeIngredient/v:activeIngredientSubstance/v:name"
)
_MOIETY_NAMES = f".//v:ingredient[{_ACTIVE}]/v:ingredientSubstance/v:activeMoiety/v:activeMoiety/v:name"
# The products' own generic names (not those of a kit's parts, such as its alcohol swabs).
_GENERIC_NAMES = (
    ".//v:manufacturedProduct/v:manufacturedProduct/v:asEntityWithGeneric/v:genericMedicine/v:name"
    " | .//v:manufacturedProduct/v:manufacturedMedicine/v:asEntityWithGeneric/v:genericMedicine/v:name"
)
# Pharmacologic classes (FDA SPL indexing: NDF-RT / MED-RT codes whose display names end in a kind, "[EPC]").
_CLASS_CODES = ".//v:asSpecializedKind/v:generalizedMaterialKind/v:code/@displayName"
_EPC = "[EPC]"
# How much of a title is searched for boilerplate: its lazy patterns take time quadratic in the length (a second for a
# 130 KB title); real titles, boilerplate included, are a few hundred characters.
_TITLE_SCAN_CHARS = 4000
# ASCII digits, as many as an integer column holds: str.isdigit() admits "²", which int() refuses.
_VERSION = re.compile(r"[0-9]{1,18}")
# The highlights boilerplate around the product line of a title; matched on flattened text, whatever the line breaks.
_BOILERPLATE = re.compile(
    r"these highlights do not include all the information needed to use .*? safely and effectively\.?"
    r"|see full prescribing information for .*?\.(?=\s|$)"
    r"|initial u\.s\. approval:?\s*\d{4}",
    re.IGNORECASE,
)


class SplReader:
    """Reads one SPL file; a label with no text to index (an indexing SPL) is yielded as a `RecordError`."""

    def read(self, path: Path) -> Iterator[ReadItem]:
        root = root_tag(path)
        if root != ROOT:
            raise ReaderError(f"{path}: not an HL7 SPL label (root <{root}>); expected <document xmlns='{V3}'>")
        for document in iter_elements(path, (ROOT,)):
            item = _label(path, document)
            if isinstance(item, RecordError):
                logger.debug("%s: %s", item.source, item.reason)
            yield item


def _label(path: Path, doc: Any) -> Document | RecordError:
    set_id = _attr(doc, "v:setId", "root")
    if not set_id:
        return RecordError(source=str(path), reason="SPL without a setId")
    version = _attr(doc, "v:versionNumber", "value")
    effective = _attr(doc, "v:effectiveTime", "value")
    products = unique(flatten(name) for name in doc.xpath(_PRODUCT_NAMES, namespaces=_NS))
    document_type = _attr(doc, "v:code", "displayName")
    parts: list[tuple[str, str]] = []
    codes: dict[str, str] = {}
    for section in doc.iterfind("v:component/v:structuredBody/v:component/v:section", _NS):
        code = _attr(section, "v:code", "code")
        own_title = flatten(section.find("v:title", _NS))
        body = _body_lines(section, codes)
        if body:  # a section with a title but no text (a package label's picture) is left out
            title = section_name(code, own_title)
            parts.append((title, "\n".join([own_title, *body] if own_title else body)))
            codes.setdefault(title, code)
    text, sections = assemble(parts)
    if not text:
        kind = f" ({document_type})" if document_type else ""
        return RecordError(source=str(path), reason=f"SPL {set_id}{kind} has no label text to index")
    metadata = {
        "set_id": set_id,
        "version": int(version) if _VERSION.fullmatch(version) else None,
        "effective": _iso(effective),
        "published": _iso(effective),
        "document_id": _attr(doc, "v:id", "root"),
        "products": products,
        "generic_names": unique(flatten(name) for name in doc.xpath(_GENERIC_NAMES, namespaces=_NS)),
        "active_ingredients": unique(flatten(name) for name in doc.xpath(_INGREDIENT_NAMES, namespaces=_NS)),
        "active_moieties": unique(flatten(name) for name in doc.xpath(_MOIETY_NAMES, namespaces=_NS)),
        "pharmacologic_classes": _classes(doc),
        "manufacturer": flatten(doc.find("v:author/v:assignedEntity/v:representedOrganization/v:name", _NS)),
        "document_type": document_type,
        "section_codes": {title: code for title, code in codes.items() if code},
        "source_name": "DailyMed",
    }
    title = _title(doc.find("v:title", _NS), products) or document_type or path.stem
    source = f"dailymed:{set_id}"
    return Document(text=text, source=source, title=title, sections=sections, metadata=drop_empty(metadata))


def _body_lines(section: Any, codes: dict[str, str]) -> list[str]:
    """The section's paragraphs, list items and table rows, then each subsection's title line and body in turn
    (or else its highlights excerpt); the LOINC codes of named subsections are added to ``codes``."""
    lines = []
    highlights = []
    for child in section:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child.tag)
        if name == "text":
            lines.extend(_text_lines(child))
        elif name == "excerpt":
            for text in child.iterfind("v:highlight/v:text", _NS):
                highlights.extend(_text_lines(text))
        elif name == "component":
            for sub in child.iterfind("v:section", _NS):
                code = _attr(sub, "v:code", "code")
                if code in SECTION_NAMES and code != UNCLASSIFIED:
                    codes.setdefault(SECTION_NAMES[code], code)
                sub_title = flatten(sub.find("v:title", _NS))
                sub_body = _body_lines(sub, codes)
                lines.extend([sub_title, *sub_body] if sub_title and sub_body else sub_body)
    # Highlights repeat the full text in short; they are kept only where they are all there is ("Recent Major Changes").
    return lines or highlights


def _text_lines(text: Any) -> list[str]:
    lines = [" ".join((text.text or "").split())]
    for child in text:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child.tag)
        if name == "list":
            lines.extend(f"- {item}" for item in (flatten(li) for li in child.iterfind("v:item", _NS)) if item)
        elif name == "table":
            lines.extend(_table_lines(child))
        elif name != "renderMultiMedia":
            lines.append(flatten(child))
        if child.tail and child.tail.strip():
            lines.append(" ".join(child.tail.split()))
    return [line for line in lines if line]


def _table_lines(table: Any) -> list[str]:
    lines = [flatten(table.find("v:caption", _NS))]
    for row in table.iter(f"{{{V3}}}tr"):
        cells = [flatten(cell) for cell in row if isinstance(cell.tag, str) and local_name(cell.tag) in ("td", "th")]
        if any(cells):
            lines.append(" | ".join(cells))
    return lines


def _title(title: Any, products: list[str]) -> str:
    """The label's title without the highlights boilerplate ("HUMIRA (adalimumab) injection, for subcutaneous
    use"); "<products> label" when it has none, and the products put before a bare "Drug Facts"."""
    text = " ".join(_BOILERPLATE.sub(" ", flatten(title)[:_TITLE_SCAN_CHARS]).split())
    if not text:
        return f"{', '.join(products)} label" if products else ""
    if text.casefold() == "drug facts" and products:
        text = f"{', '.join(products)} Drug Facts"
    return text if len(text) <= TITLE_MAX_CHARS else text[: TITLE_MAX_CHARS - 3].rstrip() + "..."


def _classes(doc: Any) -> list[str]:
    """The label's Established Pharmacologic Classes, without the ``[EPC]`` suffix, deduplicated."""
    names = (str(name).rstrip() for name in doc.xpath(_CLASS_CODES, namespaces=_NS))
    # str methods, not a regex: r"\s*\[EPC\]\s*$" takes time quadratic in a long run of blanks (minutes for 1 MB)
    return unique(name.removesuffix(_EPC) for name in names if name.endswith(_EPC))


def _attr(elem: Any, child: str, name: str) -> str:
    found = elem.find(child, _NS)
    return (found.get(name) or "").strip() if found is not None else ""


def _iso(value: str) -> str | None:
    """An HL7 timestamp (``20130930`` or ``20130930120000-0500``) as ``2013-09-30``."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if re.match(r"\d{8}", value) else None
