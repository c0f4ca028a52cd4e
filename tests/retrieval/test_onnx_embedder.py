"""OnnxEmbedder against sentence-transformers on the real bundled model: same vectors, same token counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="OnnxEmbedder needs onnxruntime")
pytest.importorskip("onnx", reason="exporting to ONNX needs the onnx package")

from kb.core.errors import MedkbError  # noqa: E402
from kb.core.model_registry import resolve_model  # noqa: E402
from retrieval.onnx_embedder import OnnxEmbedder  # noqa: E402

TEXTS = [
    "Metformin is contraindicated when eGFR is below 30 mL/min/1.73 m2.",
    "asthma",
    "",
    "   leading and trailing spaces   ",
    "What is the first-line treatment for community-acquired pneumonia in adults?",
    "Warfarin bleeding risk rises with NSAIDs such as ibuprofen; monitor the INR closely.",
    "糖尿病患者应该如何控制血糖？",
    "高血压是心血管疾病的主要危险因素之一。",
    "Le paracétamol est contre-indiqué en cas d'insuffisance hépatique sévère.",
    "HbA1c ≥ 6.5 % (48 mmol/mol) — diagnostic threshold; β-blockers & α-agonists.",
    "COVID-19 mRNA vaccines: BNT162b2 and mRNA-1273 efficacy > 90%.",
    "Amoxicillin is a penicillin antibiotic. Patients with penicillin allergy should not receive it. " * 30,
    "Randomised controlled trial of statins in the elderly. " * 60,
    "Spirometry shows variable expiratory airflow limitation.",
    "Q: Does aspirin reduce colorectal cancer risk?\nA: Long-term use may lower it.",
    "🩺 stethoscope emoji and symbols ±×÷",
    "Hypokalaemia, hyponatraemia and hypomagnesaemia after loop diuretics.",
    "The patient (72 y, male) presented with dyspnoea, orthopnoea and bilateral ankle oedema.",
    "x",
    "Lorem ipsum dolor sit amet " * 100,
]


@pytest.mark.e2e
def test_matches_sentence_transformers(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    emb = OnnxEmbedder(cache_dir=tmp_path, batch_size=4)
    assert emb.name == "all-MiniLM-L6-v2"
    assert emb.dim == 384
    assert (tmp_path / "onnx" / "all-MiniLM-L6-v2" / "model.onnx").is_file()

    st = SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2")), device="cpu", local_files_only=True)
    assert max(emb.count_tokens(t) for t in TEXTS) > st.max_seq_length  # truncation is exercised
    for text in TEXTS:
        expected = len(st.tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])
        assert emb.count_tokens(text) == expected, text

    vecs = emb.embed_documents(TEXTS)
    assert vecs.shape == (len(TEXTS), 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)

    # Rows come back in input order although batches are formed by length.
    one_by_one = np.stack([emb.embed_query(t) for t in TEXTS])
    assert float((vecs * one_by_one).sum(axis=1).min()) >= 0.9999

    reference = st.encode(TEXTS, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    assert float((vecs * reference).sum(axis=1).min()) >= 0.9999
    assert emb.embed_documents([]).shape == (0, 384)

    # A current export is reused; one recorded for other weights is redone.
    export = tmp_path / "onnx" / "all-MiniLM-L6-v2"
    stamp = (export / "model.onnx").stat().st_mtime_ns
    assert OnnxEmbedder(cache_dir=tmp_path).dim == 384
    assert (export / "model.onnx").stat().st_mtime_ns == stamp
    manifest = json.loads((export / "export.json").read_text(encoding="utf-8"))
    (export / "export.json").write_text(json.dumps({**manifest, "source_sha256": "0" * 64}), encoding="utf-8")
    again = OnnxEmbedder(cache_dir=tmp_path)
    assert float(again.embed_query(TEXTS[0]) @ vecs[0]) >= 0.9999
    assert json.loads((export / "export.json").read_text(encoding="utf-8")) == manifest
    assert sorted(p.name for p in export.iterdir()) == ["export.json", "model.onnx"]  # no temp files left


def test_rejects_models_that_are_not_mean_pooled(tmp_path: Path) -> None:
    model = tmp_path / "cls-model"
    (model / "1_Pooling").mkdir(parents=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (model / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    pooling = {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}
    (model / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    emb = OnnxEmbedder(str(model), cache_dir=tmp_path)  # construction reads nothing
    with pytest.raises(MedkbError, match="mean-pooling BERT-style"):
        _ = emb.dim

    modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
    (model / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    with pytest.raises(MedkbError, match="mean-pooling BERT-style"):
        OnnxEmbedder(str(model), cache_dir=tmp_path).embed_documents(["x"])
