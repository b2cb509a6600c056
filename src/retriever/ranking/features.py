"""The signals a ranker weighs for each candidate passage of a question.

search() gathers candidates from both sides (the passages nearest the question's vector
and BM25's best) and scores them by the hand-set blend; these are the further facts a
learned ranker sees about each: how the two sides rank it, how much of the question's
words, characters and whole phrase its text and its title hold, whether its document is
of the year asked, whether it holds a figure when the question asks an amount, its
length and place in its document, and how strongly the rest of its document matches.
Each costs a few microseconds: a substring test or an array operation per candidate.

The question's own kind (a short search-box query, a question that names a year or asks
an amount) is the same for all its candidates; a linear ranker sees it through terms
that multiply a signal by it (`short*bm25`), so that the weight of a signal can differ
by kind of question.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from retriever.index.folder import Index
from retriever.text.metadata import answers_years
from retriever.text.numerals import ASKS_AMOUNT, FIGURE, KEY_FIGURE
from retriever.text.query import title_years, understand
from retriever.text.words import character_pairs, for_matching, word_characters

# Signals of a candidate, in the columns of signals()' matrix.
SIGNALS = (
    "blend",  # the hand-set score: (1-w)·minmax(dense) + w·minmax(BM25) + the year bonus
    "dense",  # dense score (passage and best-sentence cosines blended), minmax over the candidates
    "bm25",  # BM25 over text, title and headings, minmax over the candidates
    "cos_passage",  # the passage's cosine, less the best passage cosine among the candidates
    "cos_sentence",  # its best sentence's cosine, less the best among the candidates
    "dense_rank",  # log(1 + rank) on the dense side (log(1 + candidates) when not in its list)
    "bm25_rank",  # the same on the BM25 side
    "words_text",  # IDF-weighted share of the question's words found in the passage's text
    "words_sentence",  # the highest such share in one of its sentences
    "words_title",  # the same in its title and heading path
    "bigrams",  # share of the question's character pairs found in the text (words jieba cuts apart)
    "phrase",  # the whole question (as typed, without spaces and punctuation) is in the text or title
    "year_title",  # its document's title names a year that answers the question (Understood.answered_in; no look back on another)
    "year_date",  # its document's date is of a year that answers the question (likewise)
    "year_text",  # the passage speaks of a year the question names (「2019年」, or 「今年」 in a report of that year)
    "year_other",  # the question names years and its document is of one that does not answer it (by title or date)
    "figure",  # the question asks an amount and the passage holds a figure
    "figure_sentence",  # the question asks an amount and a sentence holding most of its words has a key figure
    "length",  # log of its length in characters
    "position",  # where it starts in its document (0 first, towards 1 last)
    "doc_bm25",  # the best BM25 (minmax) among its document's candidates
    "doc_dense",  # the best dense score (minmax) among its document's candidates
    "doc_passages",  # log(1 + its document's passages among the candidates)
)
# The kind of question, the same for all its candidates.
KINDS = (
    "short",  # a search-box query: at most SHORT_CHARS characters
    "year",  # names a year
    "amount",  # asks an amount (多少, 几, 比例)
)
SHORT_CHARS = 6


@dataclass(frozen=True)
class Candidates:
    """The fused candidate list of one question, as search() scored it."""

    ids: np.ndarray  # int64 passage ids
    cosine: np.ndarray  # cosine of each passage vector to the question
    sentence: np.ndarray  # the best cosine of one of its sentences (its own cosine when it has none)
    dense: np.ndarray  # the dense score search() ranks by
    bm25: np.ndarray  # raw BM25
    blend: np.ndarray  # the hand-set fused score
    dense_rank: np.ndarray  # 1-based rank on the dense side, 0 when not in its list
    bm25_rank: np.ndarray  # the same on the BM25 side

    def subset(self, rows: np.ndarray) -> Candidates:
        return Candidates(*(getattr(self, f.name)[rows] for f in fields(self)))


@dataclass(frozen=True)
class Question:
    """What the signals need of a question, computed once."""

    compact: str  # matching form, lower case, no spaces or punctuation
    terms: tuple[str, ...]
    term_weights: np.ndarray  # IDF of each term in the index (normalized to sum 1)
    bigrams: tuple[str, ...]
    years: frozenset[int]  # the years it names
    answered_in: frozenset[int]  # the years whose documents answer it (query.Understood)
    year_forms: tuple[str, ...]  # how a text writes the years it names: 2019, １９９６, 二〇一九, 19年
    kinds: dict[str, float]


def compact(query: str) -> str:
    """The question as matched whole: matching form, lower case, no spaces or punctuation."""
    return word_characters(for_matching(query).lower())


def question(index: Index, query: str, terms: tuple[str, ...]) -> Question:
    compact_query = compact(query)
    idf = np.array([_idf(index, t) for t in terms], dtype=np.float64)
    weights = idf / idf.sum() if idf.sum() > 0 else idf
    bigrams = character_pairs(compact_query)
    understood = understand(query)
    years = understood.years
    kinds = {
        "short": float(len(compact_query) <= SHORT_CHARS),
        "year": float(bool(years)),
        "amount": float(bool(ASKS_AMOUNT.search(compact_query))),  # 幾 is 几
    }
    return Question(compact_query, terms, weights, bigrams, years, understood.answered_in, _year_forms(years), kinds)


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_CN_DIGITS = (str.maketrans("0123456789", "〇一二三四五六七八九"), str.maketrans("0123456789", "零一二三四五六七八九"))


def _year_forms(years: frozenset[int]) -> tuple[str, ...]:
    """The ways a Chinese text writes each year: four digits (half- or full-width, or
    written out), or two and 年."""
    forms: set[str] = set()
    for year in years:
        for digits in (str(year), f"{year % 100:02d}年"):
            forms |= {digits, digits.translate(_FULL_WIDTH), *(digits.translate(t) for t in _CN_DIGITS)}
    return tuple(sorted(forms))


def _idf(index: Index, term: str) -> float:
    tid = index.bm25.vocab.get(term)
    return float(index.bm25.idf[tid]) if tid is not None else math.log1p(index.bm25.n_docs + 0.5)


@dataclass(frozen=True)
class _Facts:
    """What the signals read of a passage, whatever the question."""

    text: str  # matching form, lower case
    title: str  # its title and headings, likewise
    sentences: tuple[tuple[int, int], ...]  # character spans of its sentences
    figure: bool  # holds a figure (an amount, a share, a date)
    key_figures: tuple[bool, ...]  # each sentence holds a key figure (a share, an amount; not a year)
    own_year: int | None  # its document's year: its date's, or its title's one year
    relative: tuple[int, ...]  # years relative to its own it speaks of (今年 0, 去年 -1, 明年 1)
    length: float  # log of its length in characters
    position: float  # where it starts in its document (0 when the index keeps no document)


# Years a text names relative to its own: a report of 2019 says 「今年」 for 2019,
# 「去年」 for 2018, 「明年」 for 2020.
_RELATIVE_YEARS = {"今年": 0, "本年": 0, "去年": -1, "上年": -1, "明年": 1}
_CACHED = 100_000  # passages whose facts are kept while the index is open


def _facts(index: Index, pid: int) -> _Facts:
    """A passage's facts, kept while the index is open: OpenCC and the figure pattern
    cost more than all the tests they serve."""
    cache = index.derived.setdefault("ranking_facts", {})
    facts = cache.get(pid)
    if facts is None:
        if len(cache) >= _CACHED:
            cache.clear()
        p = index.passages[pid]
        document = index.documents.get(p.doc_id)
        meta = index.meta(p.doc_id)
        in_title = title_years(p.title)
        own_year = meta.year
        if own_year is None and len(in_title) == 1:
            own_year = next(iter(in_title))
        spans = tuple(index.sentences.spans_of(pid))
        facts = _Facts(
            for_matching(p.text).lower(),
            for_matching(" ".join([p.title, *p.heading_path])).lower(),
            spans,
            bool(FIGURE.search(p.text)),
            tuple(bool(KEY_FIGURE.search(p.text, a, b)) for a, b in spans),
            own_year,
            tuple(shift for word, shift in _RELATIVE_YEARS.items() if word in p.text),
            math.log1p(len(p.text)),
            p.start / len(document.text) if document is not None and document.text else 0.0,
        )
        cache[pid] = facts
    return facts


def _minmax(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


@dataclass(frozen=True)
class Ranked:
    """What a ranker scores for one question: the blend's best candidates, their
    signals and the question's kind."""

    rows: np.ndarray  # positions in the Candidates, best of the blend first
    signals: np.ndarray  # (rows, SIGNALS)
    kinds: dict[str, float]


def for_ranker(index: Index, query: str, terms: tuple[str, ...], c: Candidates, depth: int, keep: int | None = None) -> Ranked:
    """The signals of the blend's `depth` best candidates, computed among those alone
    (what the ranker was trained on is what it sees when it ranks). `keep`, a row of
    `c`, is among them in any case (in the last place's stead): a judged passage."""
    rows = np.argsort(-c.blend, kind="stable")[:depth]
    if keep is not None and keep not in rows:
        rows[-1] = keep
    q = question(index, query, terms)
    return Ranked(rows, signals(index, q, c.subset(rows)), q.kinds)


def signals(index: Index, q: Question, c: Candidates) -> np.ndarray:
    """The SIGNALS of each candidate, one row each (float64)."""
    n = len(c.ids)
    out = np.zeros((n, len(SIGNALS)), dtype=np.float64)
    if n == 0:
        return out
    col = {name: i for i, name in enumerate(SIGNALS)}
    dense = _minmax(c.dense.astype(np.float64))
    bm25 = _minmax(c.bm25.astype(np.float64))
    out[:, col["blend"]] = c.blend
    out[:, col["dense"]] = dense
    out[:, col["bm25"]] = bm25
    out[:, col["cos_passage"]] = c.cosine - c.cosine.max()
    out[:, col["cos_sentence"]] = c.sentence - c.sentence.max()
    missing = math.log1p(n)
    out[:, col["dense_rank"]] = np.where(c.dense_rank > 0, np.log1p(c.dense_rank), missing)
    out[:, col["bm25_rank"]] = np.where(c.bm25_rank > 0, np.log1p(c.bm25_rank), missing)

    asks_amount = bool(q.kinds["amount"])
    phrase = q.compact if len(q.compact) >= 2 else None
    doc_rows: dict[str, list[int]] = {}
    for row, pid in enumerate(c.ids.tolist()):
        passage = index.passages[pid]
        facts = _facts(index, pid)
        text = facts.text
        found = [(t, w) for t, w in zip(q.terms, q.term_weights) if t in text]
        out[row, col["words_text"]] = sum(w for _, w in found)
        # One word found is in one sentence: its share there is its share in the text.
        shares = [sum(w for t, w in found if t in text[a:b]) for a, b in facts.sentences] if found else []
        most = max(shares, default=0.0)
        out[row, col["words_sentence"]] = most if len(found) > 1 and shares else out[row, col["words_text"]]
        if asks_amount and most > 0:
            out[row, col["figure_sentence"]] = float(any(k for share, k in zip(shares, facts.key_figures) if share == most))
        out[row, col["words_title"]] = sum(w for t, w in zip(q.terms, q.term_weights) if t in facts.title)
        if q.bigrams:
            out[row, col["bigrams"]] = sum(b in text for b in q.bigrams) / len(q.bigrams)
        out[row, col["phrase"]] = float(phrase is not None and (phrase in text or phrase in facts.title))
        if q.years:
            own, answering = facts.own_year, q.answered_in
            in_title = bool(title_years(passage.title) & answering)
            answers = answers_years(passage, index.meta(passage.doc_id), q.years, answering)
            out[row, col["year_title"]] = float(in_title and answers)
            out[row, col["year_date"]] = float(own in answering and answers)
            spoken = any(form in text for form in q.year_forms) or (
                own is not None and any(own + shift in q.years for shift in facts.relative)
            )
            out[row, col["year_text"]] = float(spoken)
            out[row, col["year_other"]] = float(own is not None and not in_title and own not in answering)
        out[row, col["figure"]] = float(asks_amount and facts.figure)
        out[row, col["length"]] = facts.length
        out[row, col["position"]] = facts.position
        doc_rows.setdefault(passage.doc_id, []).append(row)
    for rows in doc_rows.values():
        out[rows, col["doc_bm25"]] = bm25[rows].max()
        out[rows, col["doc_dense"]] = dense[rows].max()
        out[rows, col["doc_passages"]] = math.log1p(len(rows))
    return out
