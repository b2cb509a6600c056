"""Character-level ROUGE for Chinese summaries (Lin 2004), our own small tested code.

Chinese has no spaces, and word segmentation (jieba or another) would make scores
depend on the segmenter; characters are the usual unit for Chinese ROUGE. Both texts
are first reduced to a sequence of characters by `chars`:

- every whitespace character (`str.isspace`) is removed;
- every punctuation character, i.e. every character whose Unicode general category is
  P* (Pc Pd Ps Pe Pi Pf Po: ASCII and full-width alike, e.g. ，。、；：？！“”‘’《》（）【】…—·
  and , . ; : ? ! " ' ( ) - % @ #), is removed;
- ASCII and other cased letters are lower-cased (`str.lower`), as ROUGE-1.5.5 does;
- everything else is kept as is: Han characters, letters, digits, and symbols of the
  S* categories (¥ + = < > ~ emoji), which carry meaning.

Scores:

- ROUGE-N counts n-grams *with clipping*: the overlap is the size of the multiset
  intersection, Σ_g min(count_cand(g), count_ref(g)), and precision and recall divide
  by the total number of candidate and reference n-grams (repeats included), as in
  Lin (2004). A candidate that repeats a reference n-gram gains nothing for the repeat.
- ROUGE-L takes the longest common subsequence of the two *whole* character sequences
  (one LCS over the whole summary, not the union-LCS over sentence pairs of ROUGE-1.5.5's
  summary-level variant): P = LCS/len(candidate), R = LCS/len(reference).
- F1 = 2PR/(P+R) (β = 1); a side with nothing to count (an empty text, or one shorter
  than n for ROUGE-N) gives 0 for the ratio it divides, and P = R = 0 gives F1 = 0.

How this differs from the rouge-chinese package (`Rouge().get_scores`, which expects
space-separated tokens, so callers pass " ".join(characters)): by default
(`exclusive=True`) it counts *distinct* n-grams for ROUGE-1/ROUGE-2, sets rather than
multisets, so "AAAA" vs "AA" is R1 = 1.0 there and P = 0.5, R = 1.0 here; its
`exclusive=False` mode clips like ours. Its ROUGE-L is, like ours, one LCS over the whole
token sequences. It adds 1e-8 to the F1 denominator, hence differences below 1e-7. It
does not remove punctuation: that is the caller's job.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float


def chars(text: str) -> str:
    """The characters that ROUGE compares: no whitespace, no punctuation, lower case."""
    return "".join(c.lower() for c in text if not c.isspace() and not unicodedata.category(c).startswith("P"))


def _score(overlap: int, candidate_total: int, reference_total: int) -> Score:
    precision = overlap / candidate_total if candidate_total else 0.0
    recall = overlap / reference_total if reference_total else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Score(precision, recall, f1)


def ngrams(sequence: str, n: int) -> Counter[str]:
    """The multiset of character n-grams of an already reduced sequence."""
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    return Counter(sequence[i : i + n] for i in range(len(sequence) - n + 1))


def rouge_n(candidate: str, reference: str, n: int) -> Score:
    """ROUGE-N over characters, n-gram counts clipped (multiset overlap)."""
    cand, ref = ngrams(chars(candidate), n), ngrams(chars(reference), n)
    overlap = sum((cand & ref).values())  # Counter & Counter keeps min counts: the clipping
    return _score(overlap, sum(cand.values()), sum(ref.values()))


def lcs_length(a: str, b: str) -> int:
    """Length of the longest common subsequence, O(len(a)·len(b)) time, one row of memory."""
    if len(a) < len(b):
        a, b = b, a  # the row runs over the shorter sequence
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0  # row[j-1] of the previous line
        for j, y in enumerate(b, 1):
            above = row[j]
            row[j] = diagonal + 1 if x == y else max(above, row[j - 1])
            diagonal = above
    return row[-1]


def rouge_l(candidate: str, reference: str) -> Score:
    """ROUGE-L over characters: one LCS of the two whole sequences."""
    cand, ref = chars(candidate), chars(reference)
    return _score(lcs_length(cand, ref), len(cand), len(ref))


def mean_f1(candidates: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean F1 × 100 of ROUGE-1, ROUGE-2 and ROUGE-L over pairs (candidate i, reference i).

    Scores are averaged per pair (macro average), the usual way of reporting ROUGE for
    summarization sets. An empty list gives NaN: there is nothing to average.
    """
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
    if not candidates:
        return {"R1": float("nan"), "R2": float("nan"), "RL": float("nan")}
    pairs = list(zip(candidates, references))
    n = len(pairs)
    return {
        "R1": 100 * sum(rouge_n(c, r, 1).f1 for c, r in pairs) / n,
        "R2": 100 * sum(rouge_n(c, r, 2).f1 for c, r in pairs) / n,
        "RL": 100 * sum(rouge_l(c, r).f1 for c, r in pairs) / n,
    }
