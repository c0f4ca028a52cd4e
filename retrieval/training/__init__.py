"""Training on a knowledge base's own text: a domain-adapted embedder and a cross-encoder reranker (``medkb train``).

`pairs` makes (anchor, positive, hard negatives) from the stored documents and splits them by document; `loop` is
the shared, resumable training loop; `models` holds the two models' losses and validations; `run` ties them together
and records the result in the knowledge base's manifest. See docs/training.md.
"""
