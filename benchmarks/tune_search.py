"""How the hybrid weights were chosen: a grid on the dev half of the user questions.

    python -m benchmarks.tune_search [--split dev]

Prints MRR@10, hit@1 and hit@5 of the product's own search() for each weight of BM25,
of a passage's best sentence and of the year a question names (SearchConfig), on the
dev half of benchmarks/user_questions.jsonl only; the test half is reported by
benchmarks/user_questions.py and never tuned on.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace

from retriever.config import SearchConfig
from retriever.search import search

from .common import log, question_vectors, read_jsonl
from .metrics import mrr_at
from .user_questions import QUESTIONS, build, relevant_passages

# Search-box queries keep their own BM25 weight (SearchConfig.short_bm25_weight, chosen on
# the 40 such dev and check queries alone).
GRID = {"bm25_weight": (0.2, 0.3, 0.4, 0.5), "sentence_weight": (0.0, 0.3, 0.5, 0.7), "year_weight": (0.0, 0.15, 0.25, 0.35)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    args = parser.parse_args()
    retriever = build()
    if retriever is None:
        return
    rows = [r for r in read_jsonl(QUESTIONS) if r["kind"] != "off_topic" and r["split"] == args.split]
    relevant = [relevant_passages(retriever, r) for r in rows]
    vectors = question_vectors(retriever.embedder, [r["question"] for r in rows])
    log(f"tune_search: {len(rows)} {args.split} questions")
    results = []
    for values in itertools.product(*GRID.values()):
        config = replace(SearchConfig(), **dict(zip(GRID, values)))
        mrr = hit1 = hit5 = 0.0
        for row, rel, vector in zip(rows, relevant, vectors):
            ranked = [h.passage_id for h in search(retriever.index, row["question"], vector, 10, "hybrid", config)]
            mrr += mrr_at(ranked, rel, 10)
            hit1 += bool(ranked[:1] and ranked[0] in rel)
            hit5 += bool(set(ranked[:5]) & rel)
        results.append((values, mrr / len(rows), hit1 / len(rows), hit5 / len(rows)))
    print("| " + " | ".join(GRID) + " | MRR@10 | hit@1 | hit@5 |")
    print("|" + "---|" * (len(GRID) + 3))
    for values, mrr, hit1, hit5 in sorted(results, key=lambda r: -r[1]):
        print("| " + " | ".join(f"{v:g}" for v in values) + f" | {mrr:.3f} | {hit1:.3f} | {hit5:.3f} |")


if __name__ == "__main__":
    main()
