"""JATS / NLM full-text articles (PMC ``.nxml``; root ``article``, or ``pmc-articleset`` from efetch).

One `Document` per article: the abstract, then the body. Sections are ``Abstract`` (``Abstract: Methods`` for a
structured one), each body ``sec`` by its title (``Methods / Statistical analysis`` when nested) and each table or
figure caption (``Table 1``, ``Figure 2``). Back matter (references, acknowledgements, footnotes) is left out.
Articles are keyed ``pmc:PMC1234567`` (else ``doi:...``).

Example::

    for item in JatsReader().read(Path("PMC3166277.nxml")):
        ...
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import TITLE_MAX_CHARS, ReadItem, RecordError
from ingest.readers.xmlsafe import assemble, drop_empty, flatten, iso_date, iter_elements, local_name, root_tag, unique
from kb.core.errors import ReaderError
from kb.core.types import Document

logger = logging.getLogger(__name__)

ROOTS = ("article", "pmc-articleset")
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"

_FLOATS = ("fig", "table-wrap")
# Left out of paragraph text: floats get their own sections; the rest is not prose (tex-math repeats the MathML).
_NOT_PROSE = frozenset(("fig", "fig-group", "table-wrap", "table-wrap-group", "supplementary-material", "tex-math"))
_NOT_CONTENT = frozenset(("title", "label", "sec", "sec-meta", "ref-list", "fn-group", "glossary", "media", "graphic"))
_SKIPPED_ABSTRACTS = ("graphical", "teaser", "toc")
# The publication date to report, most preferred first (JATS 1.0 pub-type, then JATS 1.1+ date-type values).
_DATE_PREFERENCE = ("epub", "ppub", "epub-ppub", "pub", "collection", "pmc-release")


class JatsReader:
    """Reads each ``article`` of a JATS file; an article without any text is yielded as a `RecordError`."""

    def read(self, path: Path) -> Iterator[ReadItem]:
        root = root_tag(path)
        if root not in ROOTS:
            raise ReaderError(f"{path}: not a JATS article (root <{root}>); expected <article> or <pmc-articleset>")
        for number, article in enumerate(iter_elements(path, ("article",)), start=1):
            fallback = str(path) if root == "article" else f"{path}#article{number}"
            item = _article(article, fallback)
            if isinstance(item, RecordError):
                logger.debug("%s: %s", item.source, item.reason)
            yield item


def _article(article: Any, fallback: str) -> Document | RecordError:
    meta = article.find("front/article-meta")
    if meta is None:
        return RecordError(source=fallback, reason="article without <front><article-meta>")
    ids = {aid.get("pub-id-type"): (aid.text or "").strip() for aid in meta.iterfind("article-id")}
    pmcid = _pmcid(ids.get("pmcid") or ids.get("pmc") or "")
    doi = ids.get("doi", "")
    source = f"pmc:{pmcid}" if pmcid else f"doi:{doi}" if doi else fallback
    title = flatten(meta.find("title-group/article-title"))
    parts = list(_abstracts(meta))
    body = article.find("body")
    body_parts = list(_walk(body, "", " / ")) if body is not None else []
    parts.extend(body_parts)
    for group in article.iterfind("floats-group"):
        parts.extend(_float(elem) for elem in group.iter(*_FLOATS))
    text, sections = assemble(parts)
    journal_meta = article.find("front/journal-meta")
    metadata = {
        "pmcid": pmcid,
        "pmid": ids.get("pmid"),
        "doi": doi,
        "journal": flatten(journal_meta.find(".//journal-title")) if journal_meta is not None else "",
        "journal_abbrev": _journal_abbrev(journal_meta),
        "published": _published(meta),
        "authors": _authors(meta),
        "keywords": unique(flatten(kwd) for kwd in meta.iterfind("kwd-group/kwd")),
        "license": _license(meta.find("permissions/license")),
        "article_type": article.get("article-type"),
        "has_body": any(part.strip() for _, part in body_parts),
        "source_name": "PMC",
    }
    if not text:
        if not title:  # named by the file, so that the failure is cleared once the file is read again
            which = "" if source == fallback else f" {source}"
            return RecordError(source=fallback, reason=f"article{which} has no title, abstract or body text")
        text = title
    return Document(
        text=text,
        source=source,
        title=title or text[:TITLE_MAX_CHARS],
        sections=sections,
        metadata=drop_empty(metadata),
    )


def _abstracts(meta: Any) -> Iterator[tuple[str, str]]:
    for abstract in meta.iterfind("abstract"):
        kind = abstract.get("abstract-type")
        if kind in _SKIPPED_ABSTRACTS:
            continue
        name = "Abstract" if not kind else flatten(abstract.find("title")) or f"Abstract ({kind})"
        yield from _walk(abstract, name, ": ")


def _walk(container: Any, title: str, sep: str) -> Iterator[tuple[str, str]]:
    """``(title, text)`` for ``container``'s own paragraphs, then its floats, then each nested ``sec`` in turn."""
    paragraphs: list[str] = []
    floats: list[Any] = []
    for child in container:
        if not isinstance(child.tag, str):
            continue
        name = local_name(child.tag)
        if name in _NOT_CONTENT:
            continue
        floats.extend(child.iter(*_FLOATS))
        if name in _NOT_PROSE:
            continue
        if name in ("list", "def-list"):
            block = "\n".join(flatten(item, _NOT_PROSE) for item in child if isinstance(item.tag, str))
        else:
            block = flatten(child, _NOT_PROSE)
        if block.strip():
            paragraphs.append(block.strip())
    yield title, "\n\n".join(paragraphs)
    for elem in floats:
        yield _float(elem)
    for sec in container.iterfind("sec"):
        heading = flatten(sec.find("title"))
        child_title = f"{title}{sep}{heading}" if title and heading else title or heading
        yield from _walk(sec, child_title, " / ")


def _float(elem: Any) -> tuple[str, str]:
    """A table or figure as ``("Table 1", "Table 1: <caption>")``."""
    label = flatten(elem.find("label")).rstrip(".:") or ("Table" if elem.tag == "table-wrap" else "Figure")
    caption = flatten(elem.find("caption"))
    return label, f"{label}: {caption}" if caption else ""


def _pmcid(value: str) -> str:
    value = value.strip().upper()
    if value.isdigit():
        return f"PMC{value}"
    return value if re.fullmatch(r"PMC\d+", value) else ""


def _journal_abbrev(journal_meta: Any) -> str:
    if journal_meta is None:
        return ""
    ids = {jid.get("journal-id-type"): flatten(jid) for jid in journal_meta.iterfind("journal-id")}
    return ids.get("iso-abbrev") or ids.get("nlm-ta") or ""


def _published(meta: Any) -> str | None:
    dates: dict[str, str | None] = {}
    for date in meta.iterfind("pub-date"):
        kind = date.get("pub-type") or date.get("date-type") or ""
        dates.setdefault(kind, iso_date(date.findtext("year"), date.findtext("month"), date.findtext("day")))
    for kind in _DATE_PREFERENCE:
        if dates.get(kind):
            return dates[kind]
    return next((value for value in dates.values() if value), None)


def _authors(meta: Any) -> list[str]:
    names = []
    for contrib in meta.iterfind("contrib-group/contrib"):
        if contrib.get("contrib-type", "author") != "author":
            continue
        name = contrib.find("name")
        if name is not None:
            given = flatten(name.find("given-names"))
            initials = "".join(part[0] for part in re.split(r"[\s.\-]+", given) if part)
            names.append(f"{flatten(name.find('surname'))} {initials}".strip())
        else:
            names.append(flatten(contrib.find("collab")))
    return unique(names)


def _license(license_elem: Any) -> str:
    """The license's URL when it gives one, else the start of its text."""
    if license_elem is None:
        return ""
    url = license_elem.get(XLINK_HREF) or flatten(license_elem.find(ALI_LICENSE_REF))
    if url:
        return url.strip()
    text = flatten(license_elem, skip=("license_ref",)) or license_elem.get("license-type") or ""
    return text if len(text) <= TITLE_MAX_CHARS else text[: TITLE_MAX_CHARS - 3].rstrip() + "..."
