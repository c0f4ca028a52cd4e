"""The parts of ``kb.sqlite``, one concern per module, each a small class over the shared connection:

- `schema`: the tables, opening the file, and the upgrades from older schema versions;
- `meta`: the key-value table (schema version, cross-lingual encoder, manifest copy, unsaved index writes);
- `documents`: documents and chunks as the stages read them (hits, lookups by source and file);
- `metadata_filter`: the chunk ids whose documents pass a `~kb.core.filters.Filters`;
- `fulltext`: the FTS5 lexical (BM25) index;
- `vector_tables`: the chunk embeddings and the cross-lingual ones, by chunk row id;
- `drug_labels`: the drug table of DailyMed labels;
- `files`: files read completely, and ingest failures;
- `writer`: one `~kb.core.batch.Batch` written in one transaction across all of them.

`kb.storage.store.Store` puts them together.
"""
