"""Character-level ROUGE (benchmarks/rouge.py) on tiny cases computed by hand."""

from __future__ import annotations

import math

import pytest

from benchmarks.rouge import Score, chars, lcs_length, mean_f1, rouge_l, rouge_n


def close(score: Score, precision: float, recall: float, f1: float) -> bool:
    return (
        math.isclose(score.precision, precision, abs_tol=1e-12)
        and math.isclose(score.recall, recall, abs_tol=1e-12)
        and math.isclose(score.f1, f1, abs_tol=1e-12)
    )


def test_one_character_differs():
    # ABCD vs ABCE: 3 of 4 characters, bigrams {AB, BC, CD} vs {AB, BC, CE}, LCS "ABC".
    assert close(rouge_n("ABCD", "ABCE", 1), 0.75, 0.75, 0.75)
    assert close(rouge_n("ABCD", "ABCE", 2), 2 / 3, 2 / 3, 2 / 3)
    assert close(rouge_l("ABCD", "ABCE"), 0.75, 0.75, 0.75)


def test_repeated_ngrams_are_clipped():
    # AAAA vs AA: unigram overlap min(4, 2) = 2, so P = 2/4, R = 2/2, F = 2/3;
    # bigram AA ×3 vs ×1: overlap 1, P = 1/3, R = 1, F = 2·(1/3)/(4/3) = 1/2.
    assert close(rouge_n("AAAA", "AA", 1), 0.5, 1.0, 2 / 3)
    assert close(rouge_n("AAAA", "AA", 2), 1 / 3, 1.0, 0.5)
    assert close(rouge_l("AAAA", "AA"), 0.5, 1.0, 2 / 3)
    # The other way round: recall is clipped instead.
    assert close(rouge_n("AA", "AAAA", 1), 1.0, 0.5, 2 / 3)


def test_chinese_word_order():
    # 我们今天开会 vs 今天我们开会: same six characters; bigrams 我们 们今 今天 天开 开会 vs
    # 今天 天我 我们 们开 开会 share 我们 今天 开会 (3/5); LCS 我们开会 (4/6).
    assert close(rouge_n("我们今天开会", "今天我们开会", 1), 1.0, 1.0, 1.0)
    assert close(rouge_n("我们今天开会", "今天我们开会", 2), 0.6, 0.6, 0.6)
    assert close(rouge_l("我们今天开会", "今天我们开会"), 2 / 3, 2 / 3, 2 / 3)


def test_unequal_lengths():
    # AB vs ABCD: P = 1, R = 1/2, F = 2/3 for R1 and RL; bigram AB of {AB, BC, CD}: F = 2·1·(1/3)/(4/3) = 1/2.
    assert close(rouge_n("AB", "ABCD", 1), 1.0, 0.5, 2 / 3)
    assert close(rouge_n("AB", "ABCD", 2), 1.0, 1 / 3, 0.5)
    assert close(rouge_l("AB", "ABCD"), 1.0, 0.5, 2 / 3)


def test_empty_inputs_score_zero():
    zero = Score(0.0, 0.0, 0.0)
    for candidate, reference in [("", "AB"), ("AB", ""), ("", ""), ("，。", "AB"), ("  ", "")]:
        assert rouge_n(candidate, reference, 1) == zero
        assert rouge_n(candidate, reference, 2) == zero
        assert rouge_l(candidate, reference) == zero
    # One character has no bigram: nothing to count on either side.
    assert rouge_n("A", "A", 2) == zero
    assert rouge_n("A", "A", 1) == Score(1.0, 1.0, 1.0)


def test_no_overlap():
    assert rouge_n("ABC", "XYZ", 1) == Score(0.0, 0.0, 0.0)
    assert rouge_l("ABC", "XYZ") == Score(0.0, 0.0, 0.0)


def test_punctuation_and_whitespace_ignored():
    assert chars("我爱 北京，天安门。\n“Hello”, World! 100%") == "我爱北京天安门helloworld100"
    assert close(rouge_n("我爱北京。", "我 爱，北京！", 1), 1.0, 1.0, 1.0)
    # Punctuation removed first, so 爱北 is a bigram of both.
    assert close(rouge_n("我爱、北京", "我爱北京", 2), 1.0, 1.0, 1.0)
    assert close(rouge_l("《我爱北京》", "我爱——北京…"), 1.0, 1.0, 1.0)
    # Symbols are content, not punctuation.
    assert chars("¥5+3") == "¥5+3"


def test_lcs_length():
    assert lcs_length("ABCBDAB", "BDCABA") == 4  # the textbook case (CLRS)
    assert lcs_length("", "ABC") == 0
    assert lcs_length("ABC", "ABC") == 3
    assert lcs_length("AXBYC", "ABC") == lcs_length("ABC", "AXBYC") == 3


def test_bad_n():
    with pytest.raises(ValueError):
        rouge_n("A", "A", 0)


def test_mean_f1():
    # (ABCD, ABCE): 75, 66.67, 75; (AB, CD): 0, 0, 0.
    means = mean_f1(["ABCD", "AB"], ["ABCE", "CD"])
    assert means["R1"] == pytest.approx(37.5)
    assert means["R2"] == pytest.approx(100 / 3)
    assert means["RL"] == pytest.approx(37.5)
    assert all(math.isnan(v) for v in mean_f1([], []).values())
    with pytest.raises(ValueError):
        mean_f1(["A"], [])


def _package_scores(candidate: str, reference: str, exclusive: bool) -> dict:
    rouge_chinese = pytest.importorskip("rouge_chinese")
    # rouge-chinese takes space-separated tokens: the characters we compare.
    scores = rouge_chinese.Rouge(exclusive=exclusive).get_scores(" ".join(chars(candidate)), " ".join(chars(reference)))
    return scores[0]


def _agrees(ours: Score, theirs: dict) -> bool:
    # rouge-chinese adds 1e-8 to the F1 denominator.
    return (
        math.isclose(ours.precision, theirs["p"], abs_tol=1e-7)
        and math.isclose(ours.recall, theirs["r"], abs_tol=1e-7)
        and math.isclose(ours.f1, theirs["f"], abs_tol=1e-7)
    )


def test_agrees_with_rouge_chinese_when_no_ngram_repeats():
    # No character repeats on either side, so distinct and clipped counts are the same.
    candidate, reference = "我们今天开会，讨论预算。", "今天开会我们讨论明年的预算"
    theirs = _package_scores(candidate, reference, exclusive=True)
    assert _agrees(rouge_n(candidate, reference, 1), theirs["rouge-1"])
    assert _agrees(rouge_n(candidate, reference, 2), theirs["rouge-2"])
    assert _agrees(rouge_l(candidate, reference), theirs["rouge-l"])


def test_clipping_agrees_with_rouge_chinese_non_exclusive():
    # With repeats its default (distinct n-grams) differs; exclusive=False clips like us.
    candidate, reference = "哈哈哈哈好的好的", "哈哈好的"
    theirs = _package_scores(candidate, reference, exclusive=False)
    assert _agrees(rouge_n(candidate, reference, 1), theirs["rouge-1"])
    assert _agrees(rouge_n(candidate, reference, 2), theirs["rouge-2"])
    assert _agrees(rouge_l(candidate, reference), theirs["rouge-l"])
    distinct = _package_scores(candidate, reference, exclusive=True)
    assert distinct["rouge-1"]["p"] == pytest.approx(1.0)  # {哈, 好, 的} ⊂ reference
    assert rouge_n(candidate, reference, 1).precision == pytest.approx(0.5)  # 4 of 8 clipped
