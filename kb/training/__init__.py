"""``medkb train``: train an embedder or a reranker on a knowledge base's own text and record it in its manifest.
The training machinery (pairs, loop, models) is `retrieval.training`; this is the command above the facade."""
