"""The LangChain adapters over a small knowledge base built with the hashing embedder: provenance, k, filters,
the vector store's search and additions, and an LCEL chain whose prompt must carry the retrieved passage."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document as LCDocument
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompt_values import PromptValue
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough

from generation.base import EchoGenerator
from kb import KnowledgeBase, MedkbError, Settings
from kb.langchain_adapters import MedkbEmbeddings, MedkbRetriever, MedkbVectorStore
from retrieval.embedders import HashingEmbedder

FAKE = Settings(embedder="hashing", cross_lingual_embedder="")


@pytest.fixture
def kb(tmp_path: Path, docs_dir: Path) -> Iterator[KnowledgeBase]:
    """The shared ``docs_dir`` files (metformin label, two PubMed-like records, an asthma note), ingested."""
    with KnowledgeBase.create(tmp_path / "kb", FAKE, generator=EchoGenerator()) as knowledge_base:
        report = knowledge_base.ingest([docs_dir])
        assert report.failed == 0
        yield knowledge_base


def test_retriever_returns_documents_with_provenance(kb: KnowledgeBase) -> None:
    retriever = MedkbRetriever(kb=kb, k=2, mode="lexical")
    assert isinstance(retriever, MedkbRetriever)
    docs = retriever.invoke("penicillin allergy amoxicillin")
    hits = kb.search("penicillin allergy amoxicillin", 2, mode="lexical")
    assert [d.page_content for d in docs] == [h.text for h in hits]
    top, hit = docs[0], hits[0]
    assert "penicillin" in top.page_content.lower()
    meta = top.metadata
    assert (meta["chunk_id"], meta["doc_id"], meta["title"], meta["source"]) == (
        hit.chunk_id,
        hit.doc_id,
        "Amoxicillin allergy",
        hit.source,
    )
    assert (meta["pmid"], meta["published"], meta["rank"]) == ("111", "2019-05-01", 1)
    assert meta["score"] == pytest.approx(hit.score) and meta["scores"]["lexical"] == pytest.approx(hit.score)
    assert meta["document_metadata"]["source"] == "pubmed"
    document = kb.storage.store.documents.get_document(meta["doc_id"])
    assert document is not None and document.text[meta["start"] : meta["end"]] == top.page_content
    assert top.id == hit.chunk_id
    json.dumps([d.metadata for d in docs])  # provenance must survive serialisation (tracing, caches)


def test_retriever_respects_k_filters_and_mode(kb: KnowledgeBase) -> None:
    query = "risk of bleeding, allergy or acidosis"
    assert len(MedkbRetriever(kb=kb, k=1).invoke(query)) == 1
    assert len(MedkbRetriever(kb=kb, k=3).invoke(query)) == 3
    default = MedkbRetriever(kb=kb).invoke(query)
    assert len(default) == min(kb.settings.top_k, kb.stats()["chunks"])
    filtered = MedkbRetriever(kb=kb, k=5, filters={"source": "pubmed", "published_from": "2015"}).invoke(query)
    assert [d.metadata["title"] for d in filtered] == ["Amoxicillin allergy"]
    dense = MedkbRetriever(kb=kb, k=2, mode="dense").invoke(query)
    assert all(set(d.metadata["scores"]) == {"dense"} for d in dense)
    with pytest.raises(ValueError):  # pydantic validates the mode when the retriever is made
        MedkbRetriever(kb=kb, mode="semantic")


def test_vector_store_search_with_score_and_filter(kb: KnowledgeBase) -> None:
    store = MedkbVectorStore(kb)
    assert isinstance(store, MedkbVectorStore)
    scored = store.similarity_search_with_score("warfarin ibuprofen bleeding", k=2, mode="dense")
    assert len(scored) == 2
    assert scored[0][0].metadata["title"] == "Warfarin and NSAIDs"
    assert scored[0][1] >= scored[1][1]
    assert scored[0][1] == pytest.approx(scored[0][0].metadata["scores"]["dense"])
    only_label = store.similarity_search_with_score("warfarin ibuprofen bleeding", k=3, filter={"source": "label"})
    assert only_label and {d.metadata["title"] for d, _ in only_label} == {"Metformin"}
    plain = store.similarity_search("warfarin ibuprofen bleeding", k=1)
    assert [d.metadata["title"] for d in plain] == ["Warfarin and NSAIDs"]
    with pytest.raises(MedkbError, match="unexpected arguments"):
        store.similarity_search("warfarin", k=1, fetch_k=20)


def test_vector_store_by_vector_matches_dense_search(kb: KnowledgeBase) -> None:
    store = MedkbVectorStore(kb)
    query = "spirometry airflow limitation"
    vector = store.embeddings.embed_query(query)
    assert isinstance(vector, list) and all(isinstance(x, float) for x in vector) and len(vector) == kb.embedder.dim
    by_vector = store.similarity_search_by_vector(vector, k=2)
    assert [d.metadata["chunk_id"] for d in by_vector] == [h.chunk_id for h in kb.search(query, 2, mode="dense")]
    with pytest.raises(MedkbError, match="expected 64 numbers"):
        store.similarity_search_by_vector([0.1, 0.2], k=2)


def test_add_texts_then_found_and_readable(kb: KnowledgeBase) -> None:
    store = MedkbVectorStore(kb)
    text = "Zolbrotinib causes photosensitivity; patients should avoid direct sunlight."
    ids = store.add_texts([text], [{"title": "Zolbrotinib label", "journal": "J Test"}], ids=["note-1"])
    assert len(ids) == 1
    found = store.similarity_search_with_score("zolbrotinib photosensitivity", k=1, filter={"journal": "J Test"})
    assert [(d.page_content, d.metadata["doc_id"], d.metadata["source"]) for d, _ in found] == [
        (text, ids[0], "note-1")
    ]
    assert [d.page_content for d in store.get_by_ids(ids)] == [text]
    # The same id with a new text replaces the old one, as a changed file's record does.
    newer = store.add_texts(["Zolbrotinib: photosensitivity is rare."], ids=["note-1"])
    assert newer != ids and store.get_by_ids(ids) == []
    assert store.add_documents([LCDocument(page_content="Another note on zolbrotinib.")]) != []
    with pytest.raises(MedkbError, match="expected some text"):
        store.add_texts(["   "])
    assert store.delete(newer) is True
    assert store.get_by_ids(newer) == []
    assert store.similarity_search("zolbrotinib photosensitivity", k=5, filter={"source": "note-1"}) == []
    with pytest.raises(ValueError, match="give the document ids"):
        store.delete()


def test_from_texts_creates_a_knowledge_base(tmp_path: Path) -> None:
    with pytest.raises(MedkbError, match="path="):
        MedkbVectorStore.from_texts(["x"], None)
    store = MedkbVectorStore.from_texts(
        ["Hypertension is treated with thiazides.", "Asthma is treated with inhaled steroids."],
        MedkbEmbeddings(HashingEmbedder()),
        path=tmp_path / "fresh",
        settings=FAKE,
    )
    try:
        assert (tmp_path / "fresh" / "manifest.json").exists()
        assert store.similarity_search("inhaled steroids asthma", k=1)[0].page_content.startswith("Asthma")
        assert len(store.embeddings.embed_documents(["a b", "c"])) == 2
    finally:
        store.kb.close()


def test_lcel_chain_prompt_carries_the_retrieved_passage(kb: KnowledgeBase) -> None:
    retriever = MedkbRetriever(kb=kb, k=1, mode="lexical")
    prompts: list[str] = []

    def spy(prompt: PromptValue) -> PromptValue:
        prompts.append(prompt.to_string())
        return prompt

    def format_docs(docs: list[LCDocument]) -> str:
        return "\n\n".join(f"[{d.metadata['rank']}] {d.page_content}" for d in docs)

    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from these passages only:\n{context}"), ("human", "{question}")]
    )
    model = FakeListChatModel(responses=["Metformin is contraindicated below eGFR 30 [1]."])
    chain = (
        {"context": retriever | format_docs, "question": RunnablePassthrough()}
        | prompt
        | RunnableLambda(spy)
        | model
        | StrOutputParser()
    )
    answer = chain.invoke("When is metformin contraindicated by eGFR?")
    assert answer == "Metformin is contraindicated below eGFR 30 [1]."
    (seen,) = prompts
    (passage,) = retriever.invoke("When is metformin contraindicated by eGFR?")
    assert "eGFR is below 30" in passage.page_content
    assert f"[1] {passage.page_content}" in seen
    assert "When is metformin contraindicated by eGFR?" in seen


def test_missing_langchain_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core", None)  # makes `import langchain_core` fail
    monkeypatch.delitem(sys.modules, "kb.langchain_adapters")
    with pytest.raises(MedkbError, match=r"pip install 'medkb\[langchain\]'") as raised:
        importlib.import_module("kb.langchain_adapters")
    assert isinstance(raised.value, ImportError) and "langchain-core" in str(raised.value)
