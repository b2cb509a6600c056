"""Retrieval quality on the labelled questions over corpus/ (benchmarks/questions.jsonl).

A passage is relevant when it contains one of the question's gold phrases, so the
labels survive any change of segmentation. Reports hit@1, hit@5 and MRR@10 for BM25,
dense and hybrid search, and for the fusion variants the default was chosen from.

    python benchmarks/eval_corpus.py [--index-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from retriever import Retriever
from retriever.bm25 import terms
from retriever.config import SearchConfig
from retriever.search import _top, search

HERE = Path(__file__).parent


def load_questions(path: Path = HERE / "questions.jsonl") -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def first_relevant(ranked: list[int], passages, gold: list[str]) -> int | None:
    """1-based rank of the first passage that contains a gold phrase."""
    for rank, pid in enumerate(ranked, 1):
        if any(g in passages[pid].text for g in gold):
            return rank
    return None


def rrf(index, question: str, qvec: np.ndarray, k: int, c: int = 60) -> list[int]:
    """Reciprocal rank fusion of the dense and BM25 top-100 (a baseline, not the default)."""
    n = len(index.passages)
    _, ids = index.vectors.search(qvec.reshape(1, -1), min(100, n))
    bm = index.bm25.scores(terms(question))
    fused: dict[int, float] = {}
    for ranking in (ids[0].tolist(), [int(i) for i in _top(bm, 100) if bm[i] > 0]):
        for r, pid in enumerate(ranking, 1):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (c + r)
    return sorted(fused, key=lambda p: -fused[p])[:k]


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "hit@1": sum(1 for r in ranks if r == 1) / n,
        "hit@5": sum(1 for r in ranks if r and r <= 5) / n,
        "MRR@10": sum(1.0 / r for r in ranks if r and r <= 10) / n,
    }


def evaluate(retriever: Retriever, questions: list[dict]) -> dict[str, dict[str, float]]:
    index = retriever.index
    missing = [(q["id"], g) for q in questions for g in q["gold"] if not any(g in p.text for p in index.passages)]
    if missing:
        print(f"warning: {len(missing)} gold phrases are in no passage: {missing[:5]}", file=sys.stderr)
    qvecs = retriever.embedder.encode([q["question"] for q in questions])
    base = SearchConfig()
    methods = {
        "bm25": lambda q, v: search(index, q, v, 10, "bm25"),
        "dense": lambda q, v: search(index, q, v, 10, "dense"),
        **{
            f"hybrid w={w:g}" + (" (default)" if w == base.bm25_weight else ""): (
                lambda q, v, w=w: search(index, q, v, 10, "hybrid", replace(base, bm25_weight=w))
            )
            for w in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)
        },
    }
    results = {}
    for name, run in methods.items():
        ranks = [
            first_relevant([h.passage_id for h in run(q["question"], v)], index.passages, q["gold"])
            for q, v in zip(questions, qvecs)
        ]
        results[name] = metrics(ranks)
    results["rrf k=60"] = metrics(
        [first_relevant(rrf(index, q["question"], v, 10), index.passages, q["gold"]) for q, v in zip(questions, qvecs)]
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    args = parser.parse_args()
    questions = load_questions()
    results = evaluate(Retriever.open(args.index_dir), questions)
    print(f"{len(questions)} questions over corpus/\n")
    print(f"| method | hit@1 | hit@5 | MRR@10 |\n|---|---|---|---|")
    for name, m in results.items():
        print(f"| {name} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['MRR@10']:.3f} |")


if __name__ == "__main__":
    main()
