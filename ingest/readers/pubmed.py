"""PubMed XML (``PubmedArticleSet``: efetch output, baseline and update files, plain or ``.xml.gz``).

One `Document` per ``PubmedArticle``: the title, and the abstract as text with one section per ``AbstractText``
(labelled ``BACKGROUND``, ``METHODS`` ... in structured abstracts). Records are keyed ``pubmed:<PMID>`` and carry
the ``DateRevised`` as an integer ``version`` (``20240115``), so a revised record from an update file replaces the
baseline copy. ``DeleteCitation`` entries in update files become `Deletion` items.

Example::

    for item in PubmedReader().read(Path("pubmed25n0001.xml.gz")):
        ...
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.readers.base import Deletion, ReadItem, RecordError
from ingest.readers.xmlsafe import assemble, drop_empty, flatten, iso_date, iter_elements, root_tag, unique
from kb.core.errors import ReaderError
from kb.core.types import Document

logger = logging.getLogger(__name__)

ROOT = "PubmedArticleSet"
_RECORDS = ("PubmedArticle", "PubmedBookArticle", "DeleteCitation")
_DATE_PART = re.compile(r"[0-9]{1,4}")


class PubmedReader:
    """Streams a PubMed XML file record by record; a record without a PMID is yielded as a `RecordError`."""

    def read(self, path: Path) -> Iterator[ReadItem]:
        root = root_tag(path)
        if root != ROOT:
            raise ReaderError(f"{path}: not a PubMed XML file (root <{root}>); expected <{ROOT}>")
        number = 0
        for elem in iter_elements(path, _RECORDS):
            if elem.tag == "DeleteCitation":
                for pmid in elem.iterfind("PMID"):
                    if (pmid.text or "").strip():
                        yield Deletion(source=f"pubmed:{pmid.text.strip()}", reason=f"DeleteCitation in {path}")
                continue
            number += 1
            if elem.tag == "PubmedArticle":
                item = _article(path, number, elem)
            else:
                item = _book_article(path, number, elem)
            if isinstance(item, RecordError):
                logger.debug("%s: %s", item.source, item.reason)
            yield item


def _article(path: Path, number: int, elem: Any) -> Document | RecordError:
    citation = elem.find("MedlineCitation")
    pmid = (citation.findtext("PMID") if citation is not None else None) or ""
    if not pmid.strip():
        return RecordError(source=f"{path}#record{number}", reason="PubmedArticle without a PMID")
    article = citation.find("Article")
    if article is None:
        return RecordError(source=f"{path}#record{number}", reason=f"PMID {pmid.strip()} has no <Article>")
    journal = article.find("Journal")
    ids = {aid.get("IdType"): (aid.text or "").strip() for aid in elem.iterfind("PubmedData/ArticleIdList/ArticleId")}
    doi = ids.get("doi") or next(
        (
            (loc.text or "").strip()
            for loc in article.iterfind("ELocationID")
            if loc.get("EIdType") == "doi" and loc.get("ValidYN") != "N"
        ),
        "",
    )
    headings = citation.findall("MeshHeadingList/MeshHeading")
    metadata = {
        "pmid": pmid.strip(),
        "doi": doi,
        "pmcid": ids.get("pmc"),
        "journal": flatten(journal.find("Title")) if journal is not None else "",
        "journal_abbrev": (flatten(journal.find("ISOAbbreviation")) if journal is not None else "")
        or flatten(citation.find("MedlineJournalInfo/MedlineTA")),
        "published": _published(journal.find("JournalIssue/PubDate") if journal is not None else None)
        or _published(article.find("ArticleDate")),
        "publication_types": unique(flatten(t) for t in article.iterfind("PublicationTypeList/PublicationType")),
        "mesh": unique(flatten(h.find("DescriptorName")) for h in headings),
        "mesh_major": unique(flatten(h.find("DescriptorName")) for h in headings if _is_major(h)),
        "keywords": unique(flatten(k) for k in citation.iterfind("KeywordList/Keyword")),
        "authors": _authors(article.find("AuthorList")),
        "language": (article.findtext("Language") or "").strip(),
        "version": _revised(citation.find("DateRevised")),
    }
    title = flatten(article.find("ArticleTitle")) or flatten(article.find("VernacularTitle"))
    return _document(path, number, pmid.strip(), title, article.find("Abstract"), metadata)


def _book_article(path: Path, number: int, elem: Any) -> Document | RecordError:
    """A ``PubmedBookArticle`` (a book chapter on the NCBI Bookshelf), read the same way as an article."""
    book_doc = elem.find("BookDocument")
    pmid = ((book_doc.findtext("PMID") if book_doc is not None else None) or "").strip()
    if not pmid:
        return RecordError(source=f"{path}#record{number}", reason="PubmedBookArticle without a PMID")
    book = book_doc.find("Book")
    book_title = flatten(book.find("BookTitle")) if book is not None else ""
    metadata = {
        "pmid": pmid,
        "book_title": book_title,
        "publisher": flatten(book.find("Publisher/PublisherName")) if book is not None else "",
        "published": _published(book.find("PubDate") if book is not None else None),
        "publication_types": unique(flatten(t) for t in book_doc.iterfind("PublicationType")),
        "keywords": unique(flatten(k) for k in book_doc.iterfind("KeywordList/Keyword")),
        "authors": _authors(book_doc.find("AuthorList")),
        "language": (book_doc.findtext("Language") or "").strip(),
        "version": _revised(book_doc.find("DateRevised")),
    }
    title = flatten(book_doc.find("ArticleTitle")) or book_title
    return _document(path, number, pmid, title, book_doc.find("Abstract"), metadata)


def _document(
    path: Path, number: int, pmid: str, title: str, abstract: Any, metadata: dict[str, Any]
) -> Document | RecordError:
    found = abstract.iterfind("AbstractText") if abstract is not None else ()
    parts = [(_label(part), flatten(part)) for part in found]
    text, sections = assemble(parts)
    metadata["has_abstract"] = bool(text)
    if not text:
        if not title:
            return RecordError(source=f"{path}#record{number}", reason=f"PMID {pmid} has neither title nor abstract")
        text = title
    metadata["source_name"] = "PubMed"
    return Document(text=text, source=f"pubmed:{pmid}", title=title, sections=sections, metadata=drop_empty(metadata))


def _label(part: Any) -> str:
    label = (part.get("Label") or "").strip()
    if label:
        return label
    category = (part.get("NlmCategory") or "").strip()
    return "" if category.upper() == "UNASSIGNED" else category.capitalize()


def _published(date: Any) -> str | None:
    """``PubDate``/``ArticleDate`` as ISO text; a ``MedlineDate`` such as ``1998 Dec-1999 Jan`` gives its year."""
    if date is None:
        return None
    if date.findtext("Year"):
        return iso_date(date.findtext("Year"), date.findtext("Month"), date.findtext("Day"))
    found = re.search(r"\b(1[6-9]|20)\d\d\b", date.findtext("MedlineDate") or "")
    return found.group(0) if found else None


def _revised(date: Any) -> int | None:
    if date is None:
        return None
    parts = [(date.findtext(name) or "").strip() for name in ("Year", "Month", "Day")]
    if not all(_DATE_PART.fullmatch(part) for part in parts):  # not isdigit(): it admits "²", which int() refuses
        return None
    year, month, day = (int(part) for part in parts)
    return year * 10000 + month * 100 + day


def _is_major(heading: Any) -> bool:
    """MEDLINE stars a heading when its descriptor or any of its qualifiers is a major topic."""
    return any(node.get("MajorTopicYN") == "Y" for node in heading.iter("DescriptorName", "QualifierName"))


def _authors(author_list: Any) -> list[str]:
    if author_list is None:
        return []
    names = []
    for author in author_list.iterfind("Author"):
        if author.get("ValidYN") == "N":
            continue
        last = flatten(author.find("LastName"))
        initials = flatten(author.find("Initials")) or flatten(author.find("ForeName"))
        names.append(f"{last} {initials}".strip() if last else flatten(author.find("CollectiveName")))
    return unique(names)
