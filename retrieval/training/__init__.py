"""Training on a knowledge base's own text: a domain-adapted embedder and a cross-encoder reranker (``medkb train``).

`pairs` makes (anchor, positive, hard negatives) from the stored documents and splits them by document; `loop` is
the shared, resumable training loop; `models` holds the two models' losses and validations. The command that ties
them together and records the result in the knowledge base's manifest is `kb.training.run`, above the facade. See
docs/training.md.
"""
