"""Rank passages for a question: dense (FAISS), BM25, both blended, or the blend's best
reordered by a learned ranker (hybrid, the default).

The dense score of a passage is (1 - s) · the cosine of its vector + s · the best cosine
of one of its sentences (each embedded on its own), over the candidates FAISS finds by
passage vector. The blend = (1 - w) · minmax(dense) + w · minmax(BM25), over the union
of the two top lists (w higher for a search-box query): each side is rescaled to [0, 1]
within the candidates, so that w means the same for every question (m3e-small's cosines
bunch between 0.6 and 0.85, BM25 has no fixed scale); plus year_weight where the
question names a year its document is of (by its title or its date). The weights were
chosen on the dev half of benchmarks/user_questions.jsonl and checked on the other sets
of benchmarks/retrieval_quality.py; README "Benchmarks" says why. Hybrid search reorders
the blend's best candidates by the signals a ranker learned to weigh (ranking/; README
"How results are ranked").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from retriever.arguments import check_mode
from retriever.config import SearchConfig
from retriever.errors import UsageError
from retriever.index.folder import Index, nearest
from retriever.index.scope import Selection
from retriever.ranking.features import SHORT_CHARS, Candidates, compact, for_ranker
from retriever.ranking.model import Ranker
from retriever.ranking.store import shipped
from retriever.text.metadata import Metadata, answers_years
from retriever.text.query import Understood, understand
from retriever.text.segment import Passage
from retriever.text.words import for_matching, query_terms

SCORE_NAMES = {
    "hybrid": "the learned ranker's score over the blend's {n} best candidates, rescaled among them (1 the best, 0 the "
    "last; README 'How results are ranked'); below them, the blend's order (below 0)",
    "blend": "{d:g}·minmax(dense) + {w:g}·minmax(BM25) over the union of both top lists (0–1; {sd:g} and {sw:g} "
    "for a query of {short} characters or fewer), +{y:g} for a document of the year asked; dense = {p:g}·cosine(passage) + {s:g}·cosine(its best sentence)",
    "dense": "{p:g}·cosine(passage) + {s:g}·cosine(its best sentence), question and text vectors",
    "bm25": "BM25 over jieba words of the passage, its title and headings",
}


@dataclass(frozen=True)
class Hit:
    """One result: a passage (its text, document, title, heading path, offsets) with its
    rank (1 is best) and score (Answer.score says what it means in the mode asked), the
    dense and BM25 scores where computed, the spans of the question's words in its text
    (`highlights`, offsets into passage.text), its document's metadata, and with
    `explain=True` what each of the ranker's signals added."""

    rank: int
    score: float
    passage_id: int
    passage: Passage
    dense: float | None  # dense score (passage and best-sentence cosines blended), when computed
    bm25: float | None  # raw BM25, when computed
    highlights: tuple[tuple[int, int], ...]  # spans of question terms in passage.text
    meta: Metadata = Metadata()  # its document's date and issuers
    # What each of the ranker's terms added to its score, against the average candidate
    # (ask --explain; hybrid mode, the reordered candidates only).
    explain: dict[str, float] | None = None

    def to_dict(self) -> dict:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            **self.passage.to_dict(),
            "date": self.meta.date,
            "issuer": self.meta.issuer,
            "passage_id": self.passage_id,
            "scores": {
                "dense": None if self.dense is None else round(self.dense, 6),
                "bm25": None if self.bm25 is None else round(self.bm25, 6),
            },
            "highlights": [list(span) for span in self.highlights],
            **({} if self.explain is None else {"explain": self.explain}),
        }


@dataclass(frozen=True)
class Verdict:
    """Whether the index seems to answer a question at all."""

    answered: bool | None  # None: not judged (no question vector)
    confidence: float | None  # 0-1: how likely the best passage answers (SearchConfig)
    reason: str | None = None  # why not, when not answered, in words
    reason_code: str | None = None  # the same as one of REASON_CODES, for programs (the page says it in Chinese)

    def to_dict(self) -> dict:
        out: dict[str, object] = {
            "answered": self.answered,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
        }
        if self.reason:
            out["reason"] = self.reason
            out["reason_code"] = self.reason_code
        return out


REASON_CODES = ("no_words", "no_match", "below_threshold")
JUDGED_HITS = 5  # the hits an answer is judged by when its best is close to the threshold: what `ask` shows


NO_WORDS = "the question has no words to search for, only punctuation, symbols or function words"


_HAN = re.compile("[\u3400-\u9fff\uf900-\ufaff]")


def judge(
    index: Index,
    question: str,
    hits: list[Hit],
    query_vector: np.ndarray | None,
    threshold: float | None,
    config: SearchConfig = SearchConfig(),
) -> Verdict:
    """Does anything in the index answer the question? By the dense score of the best hit:
    off-topic questions ("明天北京天气怎么样", "qwertyzxcv") get passages too, but none
    as close as an answer is. Just above the threshold (config.answer_margin), one of the
    first JUDGED_HITS hits must also hold a share of the question's words; below it, the
    best hit every word. Judged in every mode where the question has a vector and the model a
    threshold (config.ANSWER_THRESHOLDS).

    A question without a word (「？？？」, 「😀」, 「的的的」) answers nothing, whatever the
    model: its vector is the model's idea of punctuation, and scored 0.71-0.73 against
    corpus/, above the threshold."""
    words = query_terms(question)
    if not words:
        return Verdict(False, 0.0, NO_WORDS, "no_words")
    if query_vector is None or threshold is None:
        return Verdict(None, None)
    if not _HAN.search(question) and not any(w in index.bm25.vocab for w in words):
        # 「qwertyzxcv」, 「How to cook pasta」: letters the Chinese model has no meaning for,
        # no word of them in any passage; against a small index their vector still came
        # out 0.72 from a short page, above the threshold. A Latin term the documents use
        # (「CPTPP」) is a word of the index and judged as any question.
        return Verdict(False, 0.0, "no passage holds any word of the question, which has no Chinese", "no_match")
    if not hits:
        return Verdict(False, 0.0, "no passage matches the question", "no_match")
    # The dense scores search() computed (hybrid, dense); in BM25 mode, computed here.
    known = [h.dense for h in hits if h.dense is not None]
    lacking = np.array([h.passage_id for h in hits if h.dense is None], dtype=np.int64)
    if len(lacking):
        cosines = index.vectors.reconstruct_batch(lacking) @ query_vector
        known += dense_scores(index, lacking, cosines, query_vector, config).tolist()
    best = float(max(known))

    def confidence_above(line: float) -> float:  # 0.5 at the line, by the fitted slope
        return 1.0 / (1.0 + math.exp(-(best - line) / config.confidence_scale))

    confidence = confidence_above(threshold)
    if best >= threshold + config.answer_margin or (
        best >= threshold and holds_a_share(question, hits[:JUDGED_HITS], config.answer_word_share)
    ):
        return Verdict(True, confidence)
    if best >= threshold:
        # Judged against the threshold raised by the margin, which it stays below.
        return Verdict(
            False,
            confidence_above(threshold + config.answer_margin),
            f"the closest passage scores {best:.2f} on the dense side, within {config.answer_margin:.2f} of "
            f"{threshold:.2f}, and none of the best holds {config.answer_word_share:.0%} of the question's words",
            "below_threshold",
        )
    if holds_every_word(index, question, hits[0].passage):
        # A search-box query (「五加二 白加黑」) can be far from any passage on the dense
        # side and still be in one word for word: the passage is what was asked for.
        return Verdict(True, max(confidence, 0.5))
    return Verdict(
        False,
        confidence,
        f"the closest passage scores {best:.2f} on the dense side, below {threshold:.2f}, and the best one lacks "
        "some of the question's words",
        "below_threshold",
    )


def _words_in(passage: Passage) -> str:
    """A passage with its title and headings, in the form question words are matched in."""
    return for_matching("\n".join((passage.title, *passage.heading_path, passage.text))).lower()


# A Chinese abbreviation keeps characters of the full name in order: 个税 of 个人所得税, 人大 of
# 人民代表大会, 发改委 of 发展和改革委员会, 医保 of 医疗保险; up to three left out between two
# kept ones, within a clause.
_ABBREVIATED_GAP = 3


@lru_cache(maxsize=256)
def _full_name(word: str) -> re.Pattern[str]:
    gap = f"[^，。；！？,.;!?\n]{{0,{_ABBREVIATED_GAP}}}?"
    return re.compile(gap.join(map(re.escape, word)))


def _holds(text: str, word: str) -> bool:
    return word in text or (len(word) >= 2 and _full_name(word).search(text) is not None)


def holds_a_share(question: str, hits: list[Hit], share: float) -> bool:
    """Does one of the hits hold at least that share of the question's words, each as written
    or as a full name it may abbreviate (「北京证券交易所」 holds 「北交所」)?"""
    words = set(query_terms(question))
    return any(sum(_holds(text, w) for w in words) >= share * len(words) for text in (_words_in(h.passage) for h in hits))


def holds_every_word(index: Index, question: str, passage: Passage) -> bool:
    """Does the passage (with its title and headings) hold every word of the question,
    each a word the index knows? Off-topic questions (「稻香 歌词」, 「python怎么读取excel
    文件」) nearly always have a word no passage has."""
    words = set(query_terms(question))
    if not words or any(w not in index.bm25.vocab for w in words):
        return False
    text = _words_in(passage)
    return all(w in text for w in words)


def score_name(mode: str, config: SearchConfig, depth: int | None = None) -> str:
    return SCORE_NAMES[mode].format(
        d=1 - config.bm25_weight, w=config.bm25_weight, y=config.year_weight, short=SHORT_CHARS,
        sd=1 - config.short_bm25_weight, sw=config.short_bm25_weight,
        p=1 - config.sentence_weight, s=config.sentence_weight, n=depth,
    )  # fmt: skip


def best_sentences(
    index: Index, ids: np.ndarray, cosines: np.ndarray, query_vector: np.ndarray, config: SearchConfig
) -> np.ndarray:
    """The cosine of each candidate's best sentence (its own cosine when it has no
    sentence long enough)."""
    if not config.sentence_weight or not len(ids):
        return cosines
    best = index.sentences.best(ids, query_vector, config.min_sentence_chars)
    return np.where(np.isnan(best), cosines, best)


def dense_scores(
    index: Index, ids: np.ndarray, cosines: np.ndarray, query_vector: np.ndarray, config: SearchConfig
) -> np.ndarray:
    """The dense side of the candidates `ids`: their passage cosines blended with their
    best sentence's."""
    best = best_sentences(index, ids, cosines, query_vector, config)
    return (1 - config.sentence_weight) * cosines + config.sentence_weight * best


def minmax(values: np.ndarray) -> np.ndarray:
    lo, hi = float(values.min()), float(values.max())
    return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest scores, best first."""
    n = min(n, len(scores))
    idx = np.argpartition(-scores, n - 1)[:n] if n < len(scores) else np.arange(len(scores))
    return idx[np.argsort(-scores[idx], kind="stable")]


def _trigrams(text: str) -> set[str]:
    compact = re.sub(r"\s+", "", text)
    return {compact[i : i + 3] for i in range(max(1, len(compact) - 2))}


def _near_duplicate(a: set[str], b: set[str], threshold: float) -> bool:
    """Overlap coefficient: one text (mostly) contained in the other."""
    return len(a & b) >= threshold * min(len(a), len(b))


def highlight_spans(text: str, words: Sequence[str]) -> tuple[tuple[int, int], ...]:
    """Spans of the question's words (two characters or more) in `text`, merged.

    The words are in matching form (simplified); so is the text searched, when that
    keeps its length, so that the spans fall on traditional characters too.
    """
    matched = for_matching(text)
    if len(matched) == len(text):
        text = matched
    # The words are lower-cased; so is the text, where that keeps every offset.
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = text
    spans = []
    for word in {w for w in words if len(w) >= 2}:
        at = lowered.find(word)
        while at >= 0:
            spans.append((at, at + len(word)))
            at = lowered.find(word, at + len(word))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return tuple(merged)


def search(
    index: Index,
    query: str,
    query_vector: np.ndarray | None,
    k: int,
    mode: str = SearchConfig.mode,
    config: SearchConfig = SearchConfig(),
    within: Selection | None = None,
    ranker: Ranker | None = None,
    explain: bool = False,
) -> list[Hit]:
    """The k best passages for `query`, near-duplicates removed; only among the
    passages `within` selects, when given (the vector store filters as it searches).

    `query_vector` (unit length) is needed in all modes but bm25. Hybrid mode reorders
    the best of the blend's candidates by `ranker` (the shipped one when None); with
    `explain`, each of those hits says what each signal added to its score.
    """
    check_mode(mode)
    n = len(index.passages) if within is None else within.passages
    if n == 0 or k <= 0:
        return []
    words = query_terms(query)
    wanted = max(config.candidates, 3 * k)  # room for near-duplicates to drop out
    if mode != "bm25" and query_vector is None:
        raise UsageError(f"{mode} search needs the question's vector")
    if mode == "dense":
        assert query_vector is not None
        ids, cosines = _dense_side(index, query_vector, min(wanted, n), within)
        ranked = dense = dict(zip(ids.tolist(), dense_scores(index, ids, cosines, query_vector, config).tolist()))
        bm25: dict[int, float] = {}
    elif mode == "bm25":
        ids, all_bm25 = _bm25_side(index, words, wanted, within)
        ranked = bm25 = {int(i): float(all_bm25[i]) for i in ids}
        dense = {}
    else:
        assert query_vector is not None
        found = candidates(index, query, query_vector, k, config, within)
        dense = dict(zip(found.ids.tolist(), found.dense.tolist()))
        bm25 = dict(zip(found.ids.tolist(), found.bm25.tolist()))
        ranked = dict(zip(found.ids.tolist(), found.blend.tolist()))
        if mode == "hybrid":
            ranked, why = rerank(index, query, words, found, ranker or shipped(), explain)
            hits = _distinct_hits(index, ranked, dense, bm25, words, k, config)
            return [replace(h, explain=why.get(h.passage_id)) for h in hits] if explain else hits
    return _distinct_hits(index, ranked, dense, bm25, words, k, config)


def _dense_side(index: Index, query_vector: np.ndarray, n: int, within: Selection | None) -> tuple[np.ndarray, np.ndarray]:
    """The n passages nearest the question's vector, nearest first, and their cosines."""
    scores, found = nearest(index, query_vector, n, None if within is None else within.mask)
    kept = found[0] >= 0
    return found[0][kept].astype(np.int64), scores[0][kept].astype(np.float32)


def _bm25_side(index: Index, words: Sequence[str], n: int, within: Selection | None) -> tuple[np.ndarray, np.ndarray]:
    """The n best passages by BM25 (those with a word of the question), best first,
    and the BM25 of every passage."""
    all_bm25 = index.bm25.scores(words)
    if within is not None:
        all_bm25[~within.mask] = 0  # the word statistics stay the whole index's
    return np.array([i for i in _top(all_bm25, n) if all_bm25[i] > 0], dtype=np.int64), all_bm25


def candidates(
    index: Index,
    query: str,
    query_vector: np.ndarray,
    k: int = SearchConfig.k,
    config: SearchConfig = SearchConfig(),
    within: Selection | None = None,
) -> Candidates:
    """Hybrid search's candidates for `query`, scored by the hand-set blend: what a
    ranker reorders, and learns from."""
    n = len(index.passages) if within is None else within.passages
    wanted = max(config.candidates, 3 * k)
    found_ids, found_cos = _dense_side(index, query_vector, min(wanted, n), within)
    bm25_ids, all_bm25 = _bm25_side(index, query_terms(query), wanted, within)
    return _fused(index, query, query_vector, found_ids, found_cos, bm25_ids, all_bm25, config)


def _fused(
    index: Index,
    query: str,
    query_vector: np.ndarray,
    found_ids: np.ndarray,
    found_cos: np.ndarray,
    bm25_ids: np.ndarray,
    all_bm25: np.ndarray,
    config: SearchConfig,
) -> Candidates:
    """The union of both top lists, scored by the hand-set blend. The cosines of the
    candidates only BM25 found come from the stored vectors; the BM25 of those only the
    dense side found from the full score array."""
    ids = np.union1d(found_ids, bm25_ids).astype(np.int64)
    cosine = np.empty(len(ids), dtype=np.float32)
    at = np.searchsorted(ids, found_ids)
    cosine[at] = found_cos
    dense_rank = np.zeros(len(ids), dtype=np.int64)
    dense_rank[at] = np.arange(1, len(found_ids) + 1)
    bm25_rank = np.zeros(len(ids), dtype=np.int64)
    bm25_rank[np.searchsorted(ids, bm25_ids)] = np.arange(1, len(bm25_ids) + 1)
    missing = dense_rank == 0
    if missing.any():
        cosine[missing] = index.vectors.reconstruct_batch(ids[missing]) @ query_vector
    sentence = best_sentences(index, ids, cosine, query_vector, config)
    dense = (1 - config.sentence_weight) * cosine + config.sentence_weight * sentence
    lexical = all_bm25[ids].astype(np.float32)
    w = config.short_bm25_weight if len(compact(query)) <= SHORT_CHARS else config.bm25_weight
    fused = (1 - w) * minmax(dense) + w * minmax(lexical)
    understood = understand(query)
    if understood.years:
        # A question that names a year prefers the documents of that year (by their title
        # or their date; of the year after too for how it turned out), but for their parts
        # on other years: reports of several years say nearly the same things, the year
        # decides.
        fused += config.year_weight * np.array([_answers_years(index, int(i), understood) for i in ids])
    return Candidates(ids, cosine, sentence, dense, lexical, fused, dense_rank, bm25_rank)


def rerank(
    index: Index, query: str, words: tuple[str, ...], found: Candidates, ranker: Ranker, explain: bool = False
) -> tuple[dict[int, float], dict[int, dict[str, float]]]:
    """The ranker's order of the blend's `ranker.depth` best candidates, its scores
    rescaled over them (1 the best, 0 the last); the candidates below keep the blend's
    order under them (scores below 0). With `explain`, what each term adds to each
    reordered candidate's score against the average of those candidates."""
    ranked = for_ranker(index, query, words, found, ranker.depth)
    parts = ranker.contributions(ranked.signals, ranked.kinds)
    ids = found.ids[ranked.rows].tolist()
    out = dict(zip(ids, minmax(parts.sum(axis=1)).tolist()))
    rest = [int(i) for i in found.ids[np.argsort(-found.blend, kind="stable")] if int(i) not in out]
    out.update((pid, -(r + 1) / (len(rest) + 1)) for r, pid in enumerate(rest))
    why: dict[int, dict[str, float]] = {}
    if explain:
        relative = parts - parts.mean(axis=0)
        for pid, row in zip(ids, relative):
            order = np.argsort(-np.abs(row), kind="stable")
            why[pid] = {ranker.terms[j]: round(float(row[j]), 4) for j in order}
    return out, why


def _answers_years(index: Index, pid: int, understood: Understood) -> bool:
    passage = index.passages[pid]
    return answers_years(passage, index.meta(passage.doc_id), understood.years, understood.answered_in)


def _distinct_hits(
    index: Index,
    ranked: dict[int, float],
    dense: dict[int, float],
    bm25: dict[int, float],
    words: Sequence[str],
    k: int,
    config: SearchConfig,
) -> list[Hit]:
    """The k best of `ranked`, best first (ties by passage order), each passage that
    repeats one already kept (near-duplicate trigrams) left out."""
    hits: list[Hit] = []
    kept_grams: list[set[str]] = []
    for pid in sorted(ranked, key=lambda i: (-ranked[i], i)):
        passage = index.passages[pid]
        grams = _trigrams(passage.text)
        if any(_near_duplicate(grams, g, config.duplicate_overlap) for g in kept_grams):
            continue
        kept_grams.append(grams)
        hits.append(
            Hit(
                rank=len(hits) + 1,
                score=ranked[pid],
                passage_id=pid,
                passage=passage,
                dense=dense.get(pid),
                bm25=bm25.get(pid),
                highlights=highlight_spans(passage.text, words),
                meta=index.meta(passage.doc_id),
            )
        )
        if len(hits) == k:
            break
    return hits
