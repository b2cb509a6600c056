"""Train the question adapter of the default model (src/retriever/embedding/adapters/)
and show what it does to the dense side alone.

    python -m benchmarks.train_adapter [--write]

It learns from public question-passage pairs only, the ones the shipped ranker learns
from too (never a set the benchmarks report): CMRC 2018's trial split and DRCD's
questions on half of its articles (benchmarks.common.ranker_learned_from). Each set
weighs the same. A question's vector v becomes v + (v·down)·up, of unit length again
(embedding/adapter.py); down and up (rank RANK) minimize the softmax loss of each
question's passage against the other passages of its set's training articles (not the
held-out articles, which it would learn to avoid), with L2 on down·up so that what the
pairs do not show stays as the model has it. Adam over all pairs at every step, in
numpy, from a fixed seed: the same adapter every run (about 3 minutes on two cores).

The table compares the dense side (passage cosines, as the index stores them) with and
without the adapter: on the dev half of the user questions (which it never sees, and on
which RANK, L2 and TEMPERATURE were chosen), on the check questions, and on the held-out
halves of CMRC 2018 and DRCD.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retriever.config import DEFAULT_MODEL
from retriever.embedding.adapter import Adapter, adapter_file

from .common import ROOT, data_file, log, question_vectors, ranker_learned_from, read_jsonl
from .retrieval_quality import in_memory_index
from .train_ranker import CHECK
from .user_questions import QUESTIONS, build, relevant_passages

# Chosen on the dev half of the user questions, dense MRR@10 (0.256 without), with a first
# version that sampled 256 pairs of each set a step: rank 4 / 16 / 32 / 64 at L2 0.1 gave
# 0.267-0.282; L2 0.01 / 0.1 / 1 0.266 / 0.275 / 0.264; a temperature of 0.02 / 0.05 /
# 0.1 0.263 / 0.275 / 0.275; 600 steps as 200. Over all pairs, 0.276.
RANK = 32
L2 = 0.1
TEMPERATURE = 0.05
STEPS = 200
LEARNING_RATE = 0.01
SEED = 0


@dataclass
class Pairs:
    """Questions, the passage vectors they are ranked against, and each one's passages."""

    questions: np.ndarray  # (n, dim) as search embeds them, unadapted
    passages: np.ndarray  # (m, dim) unit rows
    relevant: list[list[int]]  # rows of `passages`


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def public_pairs(name: str, embedder) -> tuple[Pairs, Pairs] | None:
    """A public set's training pairs (against its training articles' passages) and its
    held-out pairs (against all its passages, as the benchmarks rank them)."""
    passages_file, queries_file = data_file(name, "passages.jsonl"), data_file(name, "queries.jsonl")
    if not (passages_file and queries_file):
        return None
    passages = read_jsonl(passages_file)
    at = {p["passage_id"]: i for i, p in enumerate(passages)}
    article = {p["passage_id"]: p["article_id"] for p in passages}
    queries = read_jsonl(queries_file)
    learned = [ranker_learned_from(name, q, article[q["passage_id"]]) for q in queries]
    index = in_memory_index([p["text"] for p in passages], embedder)
    vectors = _unit(index.vectors.reconstruct_n(0, len(passages)))
    train = [q for q, t in zip(queries, learned) if t]
    held = [q for q, t in zip(queries, learned) if not t]
    own = sorted({at[q["passage_id"]] for q in train})
    row = {p: i for i, p in enumerate(own)}
    log(f"train_adapter: {name}: {len(train)} training questions over {len(own)} passages, {len(held)} held out")
    return (
        Pairs(
            question_vectors(embedder, [q["query"] for q in train]),
            vectors[own],
            [[row[at[q["passage_id"]]]] for q in train],
        ),
        Pairs(question_vectors(embedder, [q["query"] for q in held]), vectors, [[at[q["passage_id"]]] for q in held]),
    )


def user_pairs(retriever, rows: list[dict]) -> Pairs:
    vectors = _unit(retriever.index.vectors.reconstruct_n(0, len(retriever.index.passages)))
    relevant = [sorted(relevant_passages(retriever, r)) for r in rows]
    keep = [i for i, rel in enumerate(relevant) if rel]
    questions = question_vectors(retriever.embedder, [rows[i]["question"] for i in keep])
    return Pairs(questions, vectors, [relevant[i] for i in keep])


def _loss_and_grads(sets: Sequence[Pairs], batches: Sequence[np.ndarray], down, up) -> tuple[float, np.ndarray, np.ndarray]:
    """The mean softmax loss over the sets (each weighing the same) plus L2 on down·up,
    and its gradients with respect to down and up."""
    g_down, g_up, loss = np.zeros_like(down), np.zeros_like(up), 0.0
    for pairs, batch in zip(sets, batches):
        q = pairs.questions[batch]
        low = q @ down
        moved = q + low @ up
        norm = np.linalg.norm(moved, axis=1, keepdims=True)
        z = moved / norm
        logits = z @ pairs.passages.T / TEMPERATURE
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        target = np.zeros_like(p)
        for j, i in enumerate(batch):
            rel = pairs.relevant[i]
            target[j, rel] = p[j, rel] / p[j, rel].sum()  # several relevant passages: their softmax
            loss -= np.log(p[j, rel].sum()) / len(batch) / len(sets)
        d_logits = (p - target) / len(batch) / len(sets)
        d_z = d_logits @ pairs.passages / TEMPERATURE
        d_moved = (d_z - z * np.sum(d_z * z, axis=1, keepdims=True)) / norm
        g_up += low.T @ d_moved
        g_down += q.T @ (d_moved @ up.T)
    product = down @ up
    loss += L2 * float(np.sum(product**2))
    g_down += 2 * L2 * product @ up.T
    g_up += 2 * L2 * down.T @ product
    return loss, g_down, g_up


def train(sets: Sequence[Pairs], about: dict | None = None) -> Adapter:
    rng = np.random.default_rng(SEED)
    dim = sets[0].questions.shape[1]
    params = [np.zeros((dim, RANK)), rng.normal(0.0, 0.01, (RANK, dim))]  # down, up: starts as the identity
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, STEPS + 1):
        batches = [np.arange(len(s.relevant)) for s in sets]  # every pair, every step: no sampling noise
        loss, *grads = _loss_and_grads(sets, batches, *params)
        for p, g, m in zip(params, grads, moments):
            m[0] = beta1 * m[0] + (1 - beta1) * g
            m[1] = beta2 * m[1] + (1 - beta2) * g * g
            p -= LEARNING_RATE * (m[0] / (1 - beta1**step)) / (np.sqrt(m[1] / (1 - beta2**step)) + eps)
        if step % 50 == 0:
            log(f"train_adapter: step {step}, loss {loss:.4f}")
    return Adapter(params[0].astype(np.float32), params[1].astype(np.float32), about or {})


def dense_scores(pairs: Pairs, adapter: Adapter | None) -> dict[str, float]:
    """hit@1 and MRR@10 of the passages' cosines to the (moved) questions."""
    questions = adapter(pairs.questions) if adapter else pairs.questions
    cosines = questions @ pairs.passages.T
    hits, mrr = 0, 0.0
    for row, rel in zip(cosines, pairs.relevant):
        top = np.argsort(-row)[:10]
        ranks = [r for r, i in enumerate(top) if i in rel]
        if ranks:
            hits += ranks[0] == 0
            mrr += 1 / (ranks[0] + 1)
    return {"hit@1": round(hits / len(pairs.relevant), 3), "MRR@10": round(mrr / len(pairs.relevant), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"install the adapter as {adapter_file(DEFAULT_MODEL).name}")
    args = parser.parse_args()
    retriever = build()
    if retriever is None or retriever.embedder.name != DEFAULT_MODEL:
        log("train_adapter: needs ../shared/data (gov_reports, cmrc2018, drcd) and the default model")
        return
    public = {name: public_pairs(name, retriever.embedder) for name in ("cmrc2018", "drcd")}
    if any(p is None for p in public.values()):
        log("train_adapter: ../shared/data has no cmrc2018 or drcd: nothing to learn from")
        return
    checks = {
        "user questions, dev half": user_pairs(
            retriever, [r for r in read_jsonl(QUESTIONS) if r["kind"] != "off_topic" and r["split"] == "dev"]
        ),
        "check questions": user_pairs(retriever, read_jsonl(CHECK)),
        **{f"{name}, held out": pairs[1] for name, pairs in public.items()},
    }
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    about = {
        "trained": datetime.date.today().isoformat(),
        "commit": commit,
        "by": "python -m benchmarks.train_adapter --write",
        "model": DEFAULT_MODEL,
        "questions": {name: len(pairs[0].relevant) for name, pairs in public.items()},
        "rank": RANK, "l2": L2, "temperature": TEMPERATURE, "steps": STEPS, "seed": SEED,
    }  # fmt: skip
    adapter = train([pairs[0] for pairs in public.values()], about)
    print("| dense side | n | hit@1 as embedded | hit@1 adapted | MRR@10 as embedded | MRR@10 adapted |")
    print("|---|---|---|---|---|---|")
    for name, pairs in checks.items():
        before, after = dense_scores(pairs, None), dense_scores(pairs, adapter)
        about.setdefault("dense", {})[name] = {"as embedded": before, "adapted": after}
        print(
            f"| {name} | {len(pairs.relevant)} | {before['hit@1']:.3f} | {after['hit@1']:.3f} | "
            f"{before['MRR@10']:.3f} | {after['MRR@10']:.3f} |"
        )
    if args.write:
        path = adapter_file(DEFAULT_MODEL)
        path.parent.mkdir(exist_ok=True)
        adapter.save(path)
        log(f"train_adapter: wrote {path}")


if __name__ == "__main__":
    main()
