"""The bottom floor: medkb's data model (`types`), the protocols of every extension point (`protocols`), errors,
metadata filters, settings, the manifest, the lexical tokenizer, drug-label records, the model registry and the
offline environment. It imports nothing else of medkb; every other floor builds on it."""
