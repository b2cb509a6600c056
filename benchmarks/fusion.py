"""How to fuse dense and BM25 scores: the study behind SearchConfig's default.

For each question set, every method ranks the same passages with the same vectors and
BM25 index; hit@1 and MRR@10 are printed as a Markdown table.

Question sets: the labelled questions over corpus/ (benchmarks/questions.jsonl; needs
indexes/default), and CMRC 2018 and DRCD from ../shared/data when present (a sample of
--queries questions each, fixed seed). Note that m3e-small was trained on CMRC 2018,
which flatters the dense side there.

    python benchmarks/fusion.py [--queries 600]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

from retriever import Retriever
from retriever.bm25 import BM25, terms
from retriever.search import minmax

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
CANDIDATES = 100


def labelled() -> tuple[list[str], list[str], list[set[int]]]:
    passages = Retriever.open().index.passages
    questions = [json.loads(line) for line in (HERE / "questions.jsonl").open(encoding="utf-8")]
    gold = [{i for i, p in enumerate(passages) if any(g in p.text for g in q["gold"])} for q in questions]
    return [p.text for p in passages], [q["question"] for q in questions], gold


def qa_set(name: str, n: int) -> tuple[list[str], list[str], list[set[int]]] | None:
    folder = DATA / name
    if not (folder / "passages.jsonl").exists():
        print(f"{name}: not found at {folder}, skipped", file=sys.stderr)
        return None
    passages = [json.loads(line) for line in (folder / "passages.jsonl").open(encoding="utf-8")]
    queries = [json.loads(line) for line in (folder / "queries.jsonl").open(encoding="utf-8")]
    random.Random(0).shuffle(queries)
    index_of = {p["passage_id"]: i for i, p in enumerate(passages)}
    queries = queries[:n]
    return [p["text"] for p in passages], [q["query"] for q in queries], [{index_of[q["passage_id"]]} for q in queries]


def fused(method: tuple[str, float], cos: np.ndarray, bm: np.ndarray) -> np.ndarray:
    kind, w = method
    if kind == "bm25":
        return bm
    if kind == "dense":
        return cos
    dense_top = np.argsort(-cos)[:CANDIDATES]
    bm_top = [i for i in np.argsort(-bm)[:CANDIDATES] if bm[i] > 0]
    union = np.union1d(dense_top, bm_top).astype(int)
    out = np.full(len(cos), -np.inf)
    if kind == "cos+w·mm(bm25)":
        out[union] = cos[union] + w * minmax(bm[union])
    elif kind == "(1-w)·mm(cos)+w·mm(bm25)":
        out[union] = (1 - w) * minmax(cos[union]) + w * minmax(bm[union])
    elif kind == "rrf k=60":
        dense_rank = {i: r for r, i in enumerate(dense_top, 1)}
        bm_rank = {i: r for r, i in enumerate(bm_top, 1)}
        for i in union:
            out[i] = 1 / (60 + dense_rank.get(i, np.inf)) + 1 / (60 + bm_rank.get(i, np.inf))
    return out


METHODS = (
    [("bm25", 0.0), ("dense", 0.0), ("rrf k=60", 0.0)]
    + [("cos+w·mm(bm25)", w) for w in (0.1, 0.2, 0.25, 0.3, 0.5)]
    + [("(1-w)·mm(cos)+w·mm(bm25)", w) for w in (0.2, 0.3, 0.4, 0.5, 0.6)]
)


def evaluate(embedder, texts, queries, gold) -> dict[tuple[str, float], tuple[float, float]]:
    vectors = embedder.encode(texts)
    qvecs = embedder.encode(queries)
    bm25 = BM25.build([terms(t) for t in texts])
    ranks: dict[tuple[str, float], list[int | None]] = {m: [] for m in METHODS}
    for q, qv, g in zip(queries, qvecs, gold):
        cos, bm = vectors @ qv, bm25.scores(terms(q))
        for m in METHODS:
            top = np.argsort(-fused(m, cos, bm), kind="stable")[:10]
            ranks[m].append(next((r for r, i in enumerate(top, 1) if i in g), None))
    return {
        m: (sum(r == 1 for r in rs) / len(rs), sum(1 / r for r in rs if r) / len(rs)) for m, rs in ranks.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=600, help="questions sampled from each QA set")
    args = parser.parse_args()
    embedder = Retriever.open().embedder
    sets = {"labelled (corpus/)": labelled()}
    for name in ("cmrc2018", "drcd"):
        data = qa_set(name, args.queries)
        if data:
            sets[name] = data
    results = {}
    for name, data in sets.items():
        print(f"{name}: {len(data[0])} passages, {len(data[1])} questions", file=sys.stderr)
        results[name] = evaluate(embedder, *data)
    print("| method | w | " + " | ".join(f"{n} hit@1 / MRR@10" for n in results) + " |")
    print("|---|---|" + "---|" * len(results))
    for m in METHODS:
        cells = " | ".join(f"{results[n][m][0]:.3f} / {results[n][m][1]:.3f}" for n in results)
        print(f"| {m[0]} | {m[1]:g} | {cells} |")


if __name__ == "__main__":
    main()
