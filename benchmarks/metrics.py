"""Ranking metrics with binary relevance, as in TREC and BEIR.

`ranked` is a list of ids, best first; `relevant` the set of ids that answer the
question. Each function scores one question; average over questions yourself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def recall_at(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Share of the relevant ids found in the top k."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / len(relevant)


def mrr_at(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """1 / rank of the first relevant id within the top k, else 0."""
    for rank, pid in enumerate(ranked[:k], 1):
        if pid in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Normalized discounted cumulative gain: gain 1 per relevant id, discount log2(rank + 1)."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, pid in enumerate(ranked[:k], 1) if pid in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def summarize_runs(runs: Sequence[tuple[Sequence[int], set[int]]]) -> dict[str, float]:
    """Mean R@1, R@5, R@10, MRR@10 and nDCG@10 over (ranked, relevant) pairs."""
    n = len(runs)
    if n == 0:
        return {}
    return {
        "R@1": sum(recall_at(r, g, 1) for r, g in runs) / n,
        "R@5": sum(recall_at(r, g, 5) for r, g in runs) / n,
        "R@10": sum(recall_at(r, g, 10) for r, g in runs) / n,
        "MRR@10": sum(mrr_at(r, g, 10) for r, g in runs) / n,
        "nDCG@10": sum(ndcg_at(r, g, 10) for r, g in runs) / n,
    }


def paired_bootstrap(a: Sequence[float], b: Sequence[float], rounds: int = 10_000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b over paired per-question scores, and its 95% bootstrap interval
    (questions resampled with replacement): an interval that excludes 0 is a difference
    the question sample supports."""
    import numpy as np

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not len(diff):
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(rounds, len(diff)))].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
