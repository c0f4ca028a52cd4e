"""`KnowledgeBase.search` end to end with the real bundled encoders (MiniLM and the multilingual USE): hybrid fusion,
exact terms, filters before fusion, Chinese questions over English evidence and the reverse, and MMR."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kb import Document, KnowledgeBase, Settings

METFORMIN = Document(
    title="Metformin and the kidneys",
    text="Metformin should not be used in patients with severe kidney disease; reduce the dose when kidney "
    "function is impaired.",
    source="label#metformin",
    metadata={"source_name": "DailyMed", "published": "2021"},
)
HYPERTENSION_ZH = Document(
    title="高血压",
    text="高血压患者应限制食盐摄入，并定期监测血压。",
    source="zh#hypertension",
    metadata={"published": "2020"},
)
CLOPIDOGREL = Document(
    title="Clopidogrel pharmacogenomics",
    text="Carriers of the CYP2C19*2 loss-of-function allele form less active metabolite of clopidogrel.",
    source="pgx#clopidogrel",
    metadata={"source_name": "PubMed", "published": "2015"},
)
OTHERS = [
    Document(
        title=f"Note {i} on {topic}",
        text=f"{topic.capitalize()} is discussed here: {detail}",
        source=f"pubmed:{i}",
        metadata={"source_name": "PubMed", "published": str(2000 + i)},
    )
    for i, (topic, detail) in enumerate(
        [
            ("warfarin", "bleeding risk rises with NSAIDs such as ibuprofen."),
            ("asthma", "it is diagnosed from variable expiratory airflow limitation on spirometry."),
            ("influenza", "annual vaccination is recommended for adults over 65 years."),
            ("gout", "acute flares are treated with colchicine, NSAIDs or corticosteroids."),
            ("heart failure", "loop diuretics relieve congestion; ACE inhibitors improve survival."),
            ("kidney disease", "chronic kidney disease is staged by eGFR and albuminuria."),
            ("migraine", "triptans abort attacks; beta blockers prevent them."),
        ]
    )
]
CORPUS = [METFORMIN, HYPERTENSION_ZH, CLOPIDOGREL, *OTHERS]


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    with KnowledgeBase.create(tmp_path_factory.mktemp("search") / "kb", Settings()) as knowledge_base:
        knowledge_base.ingest(CORPUS)
        yield knowledge_base


@pytest.mark.e2e  # a bundled model
def test_hybrid_is_the_default_and_hits_carry_both_scores(kb: KnowledgeBase) -> None:
    hits = kb.search("Can metformin be used in kidney disease?", 3)
    assert kb.settings.retrieval == "hybrid"
    assert hits[0].source == "label#metformin"
    assert all(h.scores.keys() >= {"hybrid", "dense"} for h in hits)
    assert "lexical" in hits[0].scores and hits[0].evidence_score == hits[0].scores["dense"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.e2e  # a bundled model
def test_an_exact_term_finds_its_passage(kb: KnowledgeBase) -> None:
    assert kb.search("CYP2C19*2", 1)[0].source == "pgx#clopidogrel"


@pytest.mark.e2e  # a bundled model
def test_filters_apply_before_fusion_and_k_results_come_back(kb: KnowledgeBase) -> None:
    pubmed = kb.search("kidney", 8, {"source_name": "PubMed"})
    assert len(pubmed) == 8  # eight PubMed documents, one chunk each: all of them, though few mention kidneys
    assert {h.metadata["source_name"] for h in pubmed} == {"PubMed"}
    recent = kb.search("kidney function", 10, {"published_from": "2015"})
    assert {h.source for h in recent} == {"label#metformin", "zh#hypertension", "pgx#clopidogrel"}


@pytest.mark.e2e  # a bundled model
def test_a_chinese_question_finds_english_evidence(kb: KnowledgeBase) -> None:
    hits = kb.search("二甲双胍在肾功能不全时可以使用吗？", 3)
    assert hits[0].source == "label#metformin"
    assert kb.search("二甲双胍在肾功能不全时可以使用吗？", 3, mode="dense")[0].source == "label#metformin"


@pytest.mark.e2e  # a bundled model
def test_an_english_question_finds_chinese_evidence(kb: KnowledgeBase) -> None:
    hits = kb.search("How should patients with high blood pressure limit salt?", 2)
    assert "zh#hypertension" in {h.source for h in hits}


@pytest.mark.e2e  # a bundled model
def test_rank_fusion_remains_available(kb: KnowledgeBase, tmp_path: Path) -> None:
    with KnowledgeBase.open(kb.directory, replace(kb.settings, fusion="rrf")) as other:
        hits = other.search("Can metformin be used in kidney disease?", 3)
    assert hits[0].source == "label#metformin"


@pytest.mark.e2e  # a bundled model
def test_mmr_spreads_the_top_over_documents(tmp_path: Path) -> None:
    paragraphs = [
        "Metformin is first-line therapy for type 2 diabetes and lowers HbA1c.",
        "Metformin lowers HbA1c and is the first-line drug in type 2 diabetes.",
        "In type 2 diabetes, metformin is first-line and reduces HbA1c.",
    ]
    long_doc = Document(title="Metformin", text="\n\n".join(paragraphs), source="long")
    others = [
        Document(
            title="Sulfonylureas",
            text="Sulfonylureas lower HbA1c in type 2 diabetes but cause hypoglycaemia.",
            source="su",
        ),
        Document(
            title="SGLT2 inhibitors",
            text="SGLT2 inhibitors lower HbA1c in type 2 diabetes and protect the kidney.",
            source="sglt2",
        ),
    ]
    settings = Settings(chunk_tokens=24, chunk_overlap=0, cross_lingual_embedder="", mmr_lambda=0.3)
    with KnowledgeBase.create(tmp_path / "kb", settings) as small:
        small.ingest([long_doc, *others])
        plain = small.search("first-line metformin HbA1c type 2 diabetes", 3)
        diverse = small.search("first-line metformin HbA1c type 2 diabetes", 3, mmr=True)
    assert [h.source for h in plain].count("long") >= 2
    assert len({h.source for h in diverse}) == 3 and diverse[0].chunk_id == plain[0].chunk_id
    with KnowledgeBase.open(tmp_path / "kb", replace(settings, mmr_lambda=1.0)) as same:
        assert [h.chunk_id for h in same.search("first-line metformin HbA1c type 2 diabetes", 3, mmr=True)] == [
            h.chunk_id for h in plain
        ]
