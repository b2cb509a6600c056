"""The benchmark's ranking metrics on cases small enough to compute by hand."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.metrics import mrr_at, ndcg_at, recall_at, summarize_runs  # noqa: E402


def test_recall():
    assert recall_at([3, 1, 2], {1, 9}, 1) == 0.0
    assert recall_at([3, 1, 2], {1, 9}, 2) == 0.5
    assert recall_at([3, 1, 9], {1, 9}, 10) == 1.0
    assert recall_at([1], set(), 1) == 0.0


def test_mrr():
    assert mrr_at([5, 6, 7], {7}, 10) == pytest.approx(1 / 3)
    assert mrr_at([5, 6, 7], {7}, 2) == 0.0
    assert mrr_at([7, 6, 5], {5, 7}, 10) == 1.0


def test_ndcg():
    # Relevant at ranks 2 and 3 of two relevant ids: DCG = 1/log2(3) + 1/log2(4);
    # the ideal puts them at ranks 1 and 2: 1 + 1/log2(3).
    got = ndcg_at([0, 1, 2], {1, 2}, 10)
    assert got == pytest.approx((1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3)))
    assert ndcg_at([1, 2], {1, 2}, 10) == 1.0
    assert ndcg_at([0], {1}, 10) == 0.0
    # Only the top k count, and the ideal is cut at k too.
    assert ndcg_at([0, 1], {0, 1, 2}, 1) == 1.0


def test_summarize_runs():
    got = summarize_runs([([1, 2], {1}), ([2, 1], {1})])
    assert got == pytest.approx({"R@1": 0.5, "R@5": 1.0, "R@10": 1.0, "MRR@10": 0.75, "nDCG@10": (1 + 1 / math.log2(3)) / 2})


def test_paired_bootstrap():
    from benchmarks.metrics import paired_bootstrap

    mean, lo, hi = paired_bootstrap([1, 1, 1, 1, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 1])
    assert mean == 0.75 and 0.3 < lo <= mean <= hi <= 1.0
    assert paired_bootstrap([1, 0], [1, 0]) == (0.0, 0.0, 0.0)  # no difference, no spread
