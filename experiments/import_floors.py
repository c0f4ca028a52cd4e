"""Which floor of medkb imports which, at package level: the list the structure's note shows.

    python -m experiments.import_floors

Builds the import graph of the shipped packages with grimp (what ``lint-imports`` reads), folds every module into its
floor (kb.core, kb.storage, the four stages, the facade and what stands on it) and prints, for each floor, the
floors it imports directly. ``lint-imports`` is the check; this is the picture.
"""

from __future__ import annotations

import grimp

FLOORS = (
    "kb.core",
    "kb.storage",
    "ingest",
    "retrieval",
    "generation",
    "corpora",
    "kb.knowledge_base",
    "kb.langchain_adapters",
    "kb.evaluation",
    "kb.training",
    "kb.cli",
    "kb",
)


def floor(module: str) -> str:
    return next((f for f in FLOORS if module == f or module.startswith(f + ".")), module)


def main() -> None:
    graph = grimp.build_graph("kb", "ingest", "retrieval", "generation", "corpora")
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if floor(module) != floor(imported):
                edges.setdefault(floor(module), set()).add(floor(imported))
    for name in FLOORS:
        print(f"{name:24s} -> {', '.join(sorted(edges.get(name, ()))) or '(nothing of medkb)'}")


if __name__ == "__main__":
    main()
