"""``medkb eval conversations``: does rewriting a follow-up into a standalone question help retrieval find its passage?

Each conversation (``kb/evaluation/conversations/conversations.jsonl``, over MedQuAD's passages) is a first question
and a follow-up that cannot be answered alone ("What is gout?" then "How is it treated?"). The follow-up's gold
passages are searched three ways, and recall@k counts a follow-up whose top k hold at least one gold passage:

- ``follow-up``: the follow-up as typed (what a service without conversation memory searches);
- ``concatenated``: the previous question and the follow-up joined (the simplest use of the first turn);
- ``rewritten``: the standalone question of `retrieval.followup` (what ``medkb serve`` searches).

The rewriting rules were written before the set and adjusted on half A; half B is the one to report.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.core.model_registry import default_cache_dir
from kb.core.settings import Settings
from kb.evaluation.datasets import EvalError, load_dataset, read_jsonl
from kb.evaluation.splits import half
from kb.evaluation.systems import default_kb_dir, open_kb
from kb.knowledge_base import KnowledgeBase

CONVERSATIONS = Path(__file__).with_name("conversations") / "conversations.jsonl"
SYSTEMS = ("follow-up", "concatenated", "rewritten")


@dataclass(frozen=True)
class Conversation:
    id: str
    language: str
    first: str
    follow_up: str
    gold: frozenset[str]
    kind: str

    @property
    def half(self) -> str:
        return half(self.id)


def load_conversations(path: Path = CONVERSATIONS) -> list[Conversation]:
    out = []
    for obj in read_jsonl(path):
        turns = obj.get("turns")
        if not (isinstance(turns, list) and len(turns) == 2 and all(isinstance(t, str) and t.strip() for t in turns)):
            raise EvalError(f"{path}: conversation {obj.get('id')!r}: expected 'turns' to be two questions")
        if not obj.get("gold"):
            raise EvalError(f"{path}: conversation {obj.get('id')!r}: expected a non-empty 'gold' list")
        out.append(Conversation(obj["id"], obj["language"], turns[0], turns[1], frozenset(obj["gold"]), obj["kind"]))
    return out


def query(conversation: Conversation, system: str, kb: KnowledgeBase) -> str:
    """What ``system`` searches for the conversation's follow-up."""
    if system == "follow-up":
        return conversation.follow_up
    if system == "concatenated":
        return f"{conversation.first} {conversation.follow_up}"
    return kb.standalone_question(conversation.follow_up, [conversation.first])


def evaluate(kb: KnowledgeBase, conversations: Sequence[Conversation], k: int = 5) -> dict[str, Any]:
    """Recall@k of each system, overall and by half, language and kind, with standard errors; and the rewrites."""
    found: dict[str, list[bool]] = {s: [] for s in SYSTEMS}
    rows = []
    for conv in conversations:
        row: dict[str, Any] = {"id": conv.id, "half": conv.half, "language": conv.language, "kind": conv.kind}
        for system in SYSTEMS:
            text = query(conv, system, kb)
            hits = kb.search(text, k)
            # a passage is known by its key (``hit.source``); a stored copy of the same text counts as it
            hit = any(h.source in conv.gold or any(c.get("source") in conv.gold for c in h.copies) for h in hits)
            found[system].append(hit)
            row[system] = hit
        row["rewritten_question"] = query(conv, "rewritten", kb)
        rows.append(row)

    def group(keep: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        chosen = [r for r in rows if keep(r)]
        return {"n": len(chosen), **{s: _share([r[s] for r in chosen]) for s in SYSTEMS}}

    return {
        "k": k,
        "conversations": len(rows),
        "all": group(lambda r: True),
        "halves": {h: group(lambda r, h=h: r["half"] == h) for h in ("A", "B")},
        "languages": {lang: group(lambda r, lang=lang: r["language"] == lang) for lang in ("en", "zh")},
        "kinds": {kind: group(lambda r, kind=kind: r["kind"] == kind) for kind in ("same-subject", "new-subject")},
        "rows": rows,
    }


def _share(values: Sequence[bool]) -> dict[str, float | None]:
    if not values:
        return {"recall": None, "se": None}
    p = sum(values) / len(values)
    return {"recall": round(p, 4), "se": round(math.sqrt(p * (1 - p) / len(values)), 4)}


def add_conversations_parser(eval_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``conversations`` to the subparsers of ``medkb eval``."""
    p: argparse.ArgumentParser = eval_subparsers.add_parser(
        "conversations",
        help="two-turn conversations: recall@k of the follow-up's passage with and without rewriting",
        description="Searches the follow-up of each two-turn conversation (kb/evaluation/conversations) in the "
        "MedQuAD knowledge base of `medkb eval retrieval --dataset medquad` (built on first use from "
        "$MEDKB_DATA_DIR/medquad): as typed, joined to the first question, and rewritten as a standalone question.",
    )
    p.add_argument("--k", type=int, default=5, help="passages per search (default 5)")
    p.add_argument("--conversations", type=Path, default=CONVERSATIONS, help="another file in the same format")
    p.add_argument("--rows", action="store_true", help="include each conversation's outcome and rewrite")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_conversations)
    return p


def run_conversations(args: argparse.Namespace) -> int:
    settings = Settings()
    directory = default_kb_dir(default_cache_dir(), "medquad", settings.embedder, None, None)
    with open_kb(load_dataset("medquad"), directory, settings, None) as kb:
        result = evaluate(kb, load_conversations(args.conversations), args.k)
    if not args.rows:
        result.pop("rows")
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(f"{result['conversations']} two-turn conversations, recall@{result['k']} of the follow-up's gold passage")
    print(f"{'group':22s} {'n':>3s} " + " ".join(f"{s:>16s}" for s in SYSTEMS))
    groups = {"all": result["all"], **{f"half {h}": g for h, g in result["halves"].items()}}
    groups |= {f"language {lang}": g for lang, g in result["languages"].items()}
    groups |= {kind: g for kind, g in result["kinds"].items()}
    for name, g in groups.items():
        cells = " ".join(f"{g[s]['recall']:.3f} ± {g[s]['se']:.3f}".rjust(16) for s in SYSTEMS)
        print(f"{name:22s} {g['n']:3d} {cells}")
    return 0
