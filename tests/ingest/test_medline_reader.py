"""The MEDLINE text reader (``.nbib``, and ``.txt`` exports told apart by their first line) gives the documents the
PubMed XML reader gives for the same articles."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.readers import read_path, reader_for
from ingest.readers.base import ReadItem, RecordError
from ingest.readers.medline import MedlineReader
from ingest.readers.pubmed import PubmedReader
from kb.core.errors import ReaderError
from kb.core.types import Document
from kb.knowledge_base import KnowledgeBase
from tests.fakes import ingest_with_fakes

SAMPLE = Path(__file__).parent / "data" / "medline_sample.nbib"

#: The sample's two good records as PubMed XML: what ``efetch`` gives for them with ``retmode=xml``.
SAMPLE_AS_XML = """<?xml version="1.0" encoding="UTF-8"?>
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">99000001</PMID>
<DateRevised><Year>2024</Year><Month>01</Month><Day>15</Day></DateRevised>
<Article PubModel="Print-Electronic"><Journal><JournalIssue CitedMedium="Internet"><Volume>12</Volume><Issue>9</Issue>
<PubDate><Year>2019</Year><Month>Sep</Month><Day>3</Day></PubDate></JournalIssue><Title>Synthetic test journal</Title>
<ISOAbbreviation>Synth Test J</ISOAbbreviation></Journal>
<ArticleTitle>Synthetic test record one: metformin and lactic acidosis in chronic kidney disease.</ArticleTitle>
<Pagination><MedlinePgn>101-109</MedlinePgn></Pagination>
<ELocationID EIdType="doi" ValidYN="Y">10.9999/synthetic.2019.001</ELocationID>
<Abstract>
<AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Metformin is first-line therapy for type 2 diabetes.
</AbstractText>
<AbstractText Label="METHODS" NlmCategory="METHODS">A synthetic cohort was described for a reader test.</AbstractText>
<AbstractText Label="RESULTS" NlmCategory="RESULTS">Lactic acidosis was rare when eGFR was above 30.</AbstractText>
<AbstractText Label="CONCLUSIONS" NlmCategory="CONCLUSIONS">This record is a synthetic test fixture.</AbstractText>
</Abstract>
<AuthorList CompleteYN="Y">
<Author ValidYN="Y"><LastName>Smith</LastName><ForeName>Alice B</ForeName><Initials>AB</Initials></Author>
<Author ValidYN="Y"><LastName>Jones</LastName><ForeName>Carl</ForeName><Initials>C</Initials></Author>
<Author ValidYN="Y"><CollectiveName>Synthetic Kidney Group</CollectiveName></Author>
</AuthorList><Language>eng</Language>
<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>
<PublicationType UI="D016449">Randomized Controlled Trial</PublicationType></PublicationTypeList>
<ArticleDate DateType="Electronic"><Year>2019</Year><Month>08</Month><Day>15</Day></ArticleDate>
</Article>
<MedlineJournalInfo><Country>England</Country><MedlineTA>Synth Test J</MedlineTA></MedlineJournalInfo>
<MeshHeadingList>
<MeshHeading><DescriptorName MajorTopicYN="N">Aged</DescriptorName></MeshHeading>
<MeshHeading><DescriptorName MajorTopicYN="Y">Metformin</DescriptorName>
<QualifierName MajorTopicYN="N">adverse effects</QualifierName>
<QualifierName MajorTopicYN="N">therapeutic use</QualifierName></MeshHeading>
<MeshHeading><DescriptorName MajorTopicYN="N">Acidosis, Lactic</DescriptorName>
<QualifierName MajorTopicYN="Y">chemically induced</QualifierName></MeshHeading>
<MeshHeading><DescriptorName MajorTopicYN="N">Renal Insufficiency, Chronic</DescriptorName></MeshHeading>
</MeshHeadingList>
<KeywordList Owner="NOTNLM"><Keyword MajorTopicYN="N">eGFR</Keyword><Keyword MajorTopicYN="N">biguanides</Keyword>
</KeywordList></MedlineCitation>
<PubmedData><ArticleIdList><ArticleId IdType="pubmed">99000001</ArticleId>
<ArticleId IdType="doi">10.9999/synthetic.2019.001</ArticleId><ArticleId IdType="pii">S0000-0000(19)00001-1</ArticleId>
<ArticleId IdType="pmc">PMC9000001</ArticleId></ArticleIdList></PubmedData></PubmedArticle>
<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">99000003</PMID>
<DateRevised><Year>2023</Year><Month>03</Month><Day>01</Day></DateRevised>
<Article PubModel="Print"><Journal><JournalIssue CitedMedium="Print">
<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate></JournalIssue>
<Title>Synthetic respiratory reviews</Title><ISOAbbreviation>Synth Resp Rev</ISOAbbreviation></Journal>
<ArticleTitle>Synthetic test record three: inhaled corticosteroids and asthma control in children, a title
written over two lines.</ArticleTitle>
<Abstract><AbstractText>Inhaled corticosteroids reduce asthma attacks in children. This synthetic abstract is written
over several continuation lines, each indented with six spaces, so that the reader must join them into one
paragraph.</AbstractText></Abstract>
<AuthorList><Author><LastName>Okafor</LastName><ForeName>Ada</ForeName><Initials>A</Initials></Author></AuthorList>
<Language>eng</Language>
<PublicationTypeList><PublicationType>Journal Article</PublicationType><PublicationType>Review</PublicationType>
</PublicationTypeList></Article>
<MedlineJournalInfo><MedlineTA>Synth Resp Rev</MedlineTA></MedlineJournalInfo>
<MeshHeadingList>
<MeshHeading><DescriptorName MajorTopicYN="Y">Asthma</DescriptorName>
<QualifierName MajorTopicYN="N">drug therapy</QualifierName></MeshHeading>
<MeshHeading><DescriptorName MajorTopicYN="N">Adrenal Cortex Hormones</DescriptorName>
<QualifierName MajorTopicYN="N">administration &amp; dosage</QualifierName>
<QualifierName MajorTopicYN="Y">therapeutic use</QualifierName></MeshHeading>
<MeshHeading><DescriptorName MajorTopicYN="N">Child</DescriptorName></MeshHeading>
</MeshHeadingList></MedlineCitation>
<PubmedData><ArticleIdList><ArticleId IdType="pubmed">99000003</ArticleId></ArticleIdList></PubmedData>
</PubmedArticle>
</PubmedArticleSet>
"""

TITLES = [
    "Synthetic test record one: metformin and lactic acidosis in chronic kidney disease.",
    "Synthetic test record three: inhaled corticosteroids and asthma control in children, a title written over two "
    "lines.",
]


def documents(items: list[ReadItem]) -> list[Document]:
    return [item for item in items if isinstance(item, Document)]


def test_each_record_gives_what_the_xml_reader_gives(tmp_path: Path) -> None:
    xml = tmp_path / "same.xml"
    xml.write_text(SAMPLE_AS_XML, encoding="utf-8")
    expected = list(PubmedReader().read(xml))
    got = documents(list(MedlineReader().read(SAMPLE)))
    assert len(got) == len(expected) == 2
    for doc, want in zip(got, expected, strict=True):
        assert isinstance(want, Document)
        assert (doc.source, doc.title, doc.text) == (want.source, want.title, want.text)
        assert doc.sections == want.sections
        assert doc.metadata == want.metadata
        assert doc.id == want.id


def test_structured_abstract_and_metadata() -> None:
    doc = documents(list(MedlineReader().read(SAMPLE)))[0]
    assert doc.source == "pubmed:99000001"
    assert [section.title for section in doc.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    methods = doc.sections[1]
    assert doc.text[methods.start : methods.end] == "A synthetic cohort was described for a reader test."
    assert doc.metadata == {
        "pmid": "99000001",
        "doi": "10.9999/synthetic.2019.001",
        "pmcid": "PMC9000001",
        "journal": "Synthetic test journal",
        "journal_abbrev": "Synth Test J",
        "published": "2019-09-03",
        "publication_types": ["Journal Article", "Randomized Controlled Trial"],
        "mesh": ["Aged", "Metformin", "Acidosis, Lactic", "Renal Insufficiency, Chronic"],
        "mesh_major": ["Metformin", "Acidosis, Lactic"],
        "keywords": ["eGFR", "biguanides"],
        "authors": ["Smith AB", "Jones C", "Synthetic Kidney Group"],
        "language": "eng",
        "version": 20240115,
        "has_abstract": True,
        "source_name": "PubMed",
    }


def test_continuation_lines_are_joined() -> None:
    doc = documents(list(MedlineReader().read(SAMPLE)))[1]
    assert doc.title == TITLES[1]
    assert "\n" not in doc.text and "  " not in doc.text
    assert doc.text.endswith("so that the reader must join them into one paragraph.")
    assert doc.metadata["mesh"] == ["Asthma", "Adrenal Cortex Hormones", "Child"]
    assert doc.metadata["mesh_major"] == ["Asthma", "Adrenal Cortex Hormones"]
    assert doc.metadata["published"] == "1998"


def test_a_record_without_a_pmid_is_a_record_error_and_the_next_is_still_read() -> None:
    items = list(MedlineReader().read(SAMPLE))
    assert [type(item) for item in items] == [Document, RecordError, Document]
    error = items[1]
    assert isinstance(error, RecordError)
    assert error.source == f"{SAMPLE}#record2"
    assert "has no PMID" in error.reason and "line 47" in error.reason


def test_a_record_with_neither_title_nor_abstract_is_a_record_error(tmp_path: Path) -> None:
    path = tmp_path / "bare.nbib"
    path.write_text("PMID- 1\nLA  - eng\n\nPMID- 2\nTI  - Kept\n", encoding="utf-8")
    items = list(MedlineReader().read(path))
    assert isinstance(items[0], RecordError) and "PMID 1 has neither title" in items[0].reason
    assert isinstance(items[1], Document) and items[1].text == "Kept" and items[1].source == "pubmed:2"


def test_a_stray_line_spoils_only_its_record(tmp_path: Path) -> None:
    path = tmp_path / "stray.nbib"
    path.write_text("PMID- 1\nTI  - One\nnot a tag line\n\nPMID- 2\nTI  - Two\n", encoding="utf-8")
    items = list(MedlineReader().read(path))
    assert isinstance(items[0], RecordError) and "line 3 is neither a tagged line" in items[0].reason
    assert isinstance(items[1], Document) and items[1].title == "Two"


def test_a_txt_export_is_read_as_medline_and_other_text_as_text(tmp_path: Path) -> None:
    export = tmp_path / "pubmed-asthma-set.txt"
    shutil.copyfile(SAMPLE, export)  # its first line is blank, as in PubMed's own exports
    from_txt = list(read_path(export))
    assert [doc.title for doc in documents(from_txt)] == TITLES
    assert [type(item) for item in from_txt] == [Document, RecordError, Document]

    note = tmp_path / "note.txt"
    note.write_text("Asthma diagnosis\n\nPMID- 12345 is cited below.\n", encoding="utf-8")
    [doc] = list(read_path(note))
    assert isinstance(doc, Document)
    assert (doc.source, doc.title) == (str(note), "Asthma diagnosis")


def test_nbib_and_medline_extensions_are_registered(tmp_path: Path) -> None:
    assert isinstance(reader_for(tmp_path / "a.nbib"), MedlineReader)
    assert isinstance(reader_for(tmp_path / "a.MEDLINE"), MedlineReader)


@pytest.mark.parametrize(
    "content",
    ["Asthma diagnosis\n\nNot a MEDLINE record.\n", '<?xml version="1.0"?><PubmedArticleSet/>\n'],
    ids=["prose", "xml"],
)
def test_a_nbib_that_is_not_medline_is_a_reader_error_naming_it(tmp_path: Path, content: str) -> None:
    path = tmp_path / "notes.nbib"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReaderError, match=r"notes\.nbib: not a MEDLINE file \(line 1 is .*\); expected tagged lines"):
        list(read_path(path))


def test_ingest_stores_the_article_titles(tmp_path: Path) -> None:
    export = tmp_path / "docs" / "export.txt"
    export.parent.mkdir()
    shutil.copyfile(SAMPLE, export)
    assert ingest_with_fakes(tmp_path / "kb", export) == 1  # the record without a PMID is a recorded failure
    with KnowledgeBase.open(tmp_path / "kb") as kb:
        hits = kb.search("metformin lactic acidosis", k=10)
        assert hits and hits[0].title == TITLES[0] and hits[0].source == "pubmed:99000001"
        assert {hit.title for hit in hits} <= set(TITLES)
        assert not any(hit.title.startswith("PMID-") for hit in hits)
        assert any("record2" in source for source, _ in kb.failures())
