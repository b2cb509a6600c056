"""Extractive summaries: every sentence is copied from its document, never written.

Two kinds share one selection routine (rate sentences, then pick greedily with MMR
within a character budget):
- for a question, sentences of the hits, rated by closeness to the question and by the
  question words they contain, each cited with its document and heading path;
- for a document, sentences rated by centrality (closeness to the document's centre,
  see `centre`) and salience, returned in document order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .bm25 import content_words, general_idf, query_terms
from .clean import for_matching
from .config import SummaryConfig
from .embed import Embedder
from .outline import ENUMERATION_RANK, detect_heading
from .search import Hit, minmax
from .segment import SOFT_BREAKS, Sentence, cap_sentence, paragraphs

# Outline markers that open a sentence (「(一)」, 「一是」, 「1.」): the summary quotes the
# sentence from just after them, which is still a verbatim span of the document.
_LEADING_MARKER = re.compile(
    r"^(?:[一二三四五六七八九十]+[、.．]|[(（][一二三四五六七八九十\d]+[)）][、.．]?|\d{1,2}[、.．](?!\d)"
    r"|第[一二三四五六七八九十]+[，,、]|[一二三四五六七八九十]+是(?=\S)|[①-⑳])\s*"
)


@dataclass(frozen=True)
class SummarySentence:
    text: str
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    start: int  # offsets in the cleaned document
    end: int
    cites: int | None  # rank of the hit it comes from (question summaries)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "doc_id": self.doc_id,
            "title": self.title,
            "heading_path": list(self.heading_path),
            "start": self.start,
            "end": self.end,
            "cites": self.cites,
        }


@dataclass(frozen=True)
class Summary:
    text: str
    sentences: tuple[SummarySentence, ...]

    @classmethod
    def of(cls, chosen: Sequence[SummarySentence]) -> Summary:
        return cls(_join(chosen), tuple(chosen))

    def to_dict(self) -> dict:
        return {"text": self.text, "sentences": [s.to_dict() for s in self.sentences]}


# A quote cut from its sentence at one of these marks (where cap_sentence cuts), and not
# continued by the next quote, ends in an ellipsis instead: two pieces must not read as
# one sentence. One character for one, so the text stays within the budget its quotes
# were chosen for.
_CUT_MARKS = "".join(SOFT_BREAKS)


def _join(chosen: Sequence[SummarySentence]) -> str:
    """The summary's text: its quotes in order, each exactly as in the document except
    for the mark a cut piece ends with."""
    out = []
    for s, after in zip(chosen, [*chosen[1:], None]):
        continued = after is not None and (after.doc_id, after.start) == (s.doc_id, s.end)
        out.append(s.text[:-1] + "…" if s.text[-1:] in _CUT_MARKS and not continued else s.text)
    return "".join(out)


# Connectives that open a sentence and lean on the one before it (「然后」「所以」「其实」,
# 「对,」): out of context they say nothing, and the summary's budget is better spent.
# One-character ones only before a comma, where they cannot begin a content word.
_LEADING_CONNECTIVE = re.compile(
    r"^(?:(?:然后|那么|所以|但是|其实|就是说|就是|另外|而且|当然|反正|我觉得|我认为|我想)[，,、]?"
    r"|[那对嗯好哦啊][，,、])+\s*"
)


def _strip_marker(sentence: Sentence, min_chars: int) -> Sentence:
    """The sentence without a leading outline marker or connective, if enough is left."""
    for pattern in (_LEADING_MARKER, _LEADING_CONNECTIVE):
        m = pattern.match(sentence.text)
        if m and len(sentence.text) - m.end() >= min_chars:
            sentence = Sentence(sentence.text[m.end() :], sentence.start + m.end(), sentence.end)
    return sentence


def _candidates(sentences: list[Sentence], config: SummaryConfig, budget: int, longest: int | None = None) -> list[Sentence]:
    """Sentences worth quoting: not a bare heading, not too short, within the budget;
    with `longest`, sentences longer than that cut at commas where they have them."""
    out = []
    for s in sentences:
        # A heading names a topic; the outline shows it, the summary quotes content. A
        # run-in heading (「(二)聚焦群众需求,践行宗旨使命。正文……」) is a sentence of its own.
        # Enumerations (「一是……」「首先……」) are content, never titles.
        bare = s.text.rstrip("。．.！!；;")
        heading = detect_heading(bare)
        if heading and heading.end >= len(bare) and (heading.end == len(s.text) or heading.rank < ENUMERATION_RANK):
            continue
        for part in cap_sentence(_strip_marker(s, config.min_sentence_chars), budget):
            for piece in cap_sentence(part, longest, hard=False) if longest else [part]:
                if len(piece.text) >= config.min_sentence_chars:
                    out.append(piece)
    return out


def select(
    relevance: np.ndarray,
    vectors: np.ndarray,
    lengths: Sequence[int],
    budget: int,
    config: SummaryConfig,
    floor: float = 0.0,
) -> list[int]:
    """Greedy MMR within a character budget: indices in the order they were picked.

    Each step takes the sentence with the best relevance minus redundancy (its highest
    cosine to a sentence already taken) that still fits; near-repeats never qualify,
    nor do sentences whose relevance is below `floor` times the best one.
    """
    chosen: list[int] = []
    used = 0
    cutoff = floor * float(np.max(relevance)) if len(relevance) else 0.0
    remaining = {i for i in range(len(lengths)) if relevance[i] >= cutoff}
    lam = config.redundancy
    while remaining:
        best, best_score = None, -np.inf
        for i in remaining:
            if used + lengths[i] > budget:
                continue
            overlap = float(np.max(vectors[chosen] @ vectors[i])) if chosen else 0.0
            if overlap >= config.max_similarity:
                continue
            score = lam * relevance[i] - (1 - lam) * overlap
            if score > best_score:
                best, best_score = i, score
        if best is None:
            break
        chosen.append(best)
        used += lengths[best]
        remaining.discard(best)
    return chosen


def _coverage(sentence: str, words: Sequence[str]) -> float:
    """Share of the question's distinct words that the sentence contains."""
    distinct = set(words)
    return sum(1 for w in distinct if w in sentence) / len(distinct) if distinct else 0.0


def salience(sentences: Sequence[str]) -> np.ndarray:
    """How much of the document's salient vocabulary each sentence carries.

    A word's weight is the number of sentences that use it times its general IDF
    (TF-IDF, as in classic keyword extraction); a sentence scores the sum over its
    distinct words, divided by the square root of its length so that long sentences
    do not win by size alone.
    """
    idf, median = general_idf()
    words = [set(content_words(s)) for s in sentences]
    tf = Counter(w for ws in words for w in ws)
    weight = {w: n * idf.get(w, median) for w, n in tf.items()}
    return np.array([sum(weight[w] for w in ws) / math.sqrt(max(1, len(s))) for ws, s in zip(words, sentences)])


def rate(vectors: np.ndarray, centre_vector: np.ndarray, fixed: np.ndarray, config: SummaryConfig) -> np.ndarray:
    """Each sentence's rating for a document summary: centrality plus the rest."""
    return config.centrality_weight * minmax(vectors @ centre_vector) + fixed


def centre(vectors: np.ndarray, fixed: np.ndarray, config: SummaryConfig) -> np.ndarray:
    """The vector a document's best sentences surround: what it is mainly about.

    The mean of all its sentence vectors is pulled as much by greetings, procedure and
    asides as by the subject, and in a meeting they are many. So each round rates the
    sentences against the current centre and moves it to the mean of the better half,
    each sentence weighted by how far its rating is above the median (a few steps of
    mean shift). On VCSum dev, three rounds raised ROUGE-2 by 0.35-0.8 and ROUGE-L by
    0.7-0.8 over the plain mean, without and with the cap on a quote's length
    (benchmarks/tune_summary.py).
    """
    point = vectors.mean(axis=0)
    point /= np.linalg.norm(point) or 1.0
    for _ in range(config.centre_rounds):
        ratings = rate(vectors, point, fixed, config)
        weights = np.clip(ratings - np.median(ratings), 0.0, None)
        moved = weights @ vectors
        norm = np.linalg.norm(moved)
        if norm == 0:  # all sentences rate alike: nothing to move towards
            break
        point = moved / norm
    return point


SentenceLookup = Callable[[int], tuple[np.ndarray, np.ndarray]]  # passage id → (spans, vectors)


def summarize_hits(
    question: str,
    hits: list[Hit],
    query_vector: np.ndarray | None,
    sentence_vectors: SentenceLookup,
    max_chars: int,
    config: SummaryConfig = SummaryConfig(),
) -> Summary:
    """A summary for the question from the sentences of its hits, each one cited.

    `sentence_vectors` gives the index's stored vectors of a passage's sentences, so
    no model runs here.
    """
    pool: list[tuple[Sentence, Hit]] = []
    rows: list[np.ndarray] = []
    for hit in hits:
        # The index's own sentences of the passage (segment.sentence_spans), each with
        # its stored vector: a quoted piece of a sentence takes the sentence's vector.
        p = hit.passage
        spans, vectors = sentence_vectors(hit.passage_id)
        for (a, b), vector in zip(spans.tolist(), vectors):
            for s in _candidates([Sentence(p.text[a:b], p.start + a, p.start + b)], config, max_chars):
                pool.append((s, hit))
                rows.append(vector)
    if not pool or max_chars <= 0:
        return Summary("", ())
    vectors = np.stack(rows)
    words = query_terms(question)
    closeness = minmax(vectors @ query_vector) if query_vector is not None else np.zeros(len(pool))
    coverage = np.array([_coverage(s.text, words) for s, _ in pool])
    # Sentences of better hits are likelier to answer: a gentle prior by hit rank.
    prior = np.array([1.0 / (1 + 0.5 * (hit.rank - 1)) for _, hit in pool])
    relevance = 0.5 * closeness + 0.35 * coverage + 0.15 * prior
    # Unlike a document summary, an answer need not fill its budget: stop before
    # sentences that have little to do with the question.
    order = select(relevance, vectors, [len(s.text) for s, _ in pool], max_chars, config, config.answer_floor)
    # Read best hit first, each hit's sentences in document order: a summary that
    # jumps back and forth within a passage reads badly.
    order.sort(key=lambda i: (pool[i][1].rank, pool[i][0].start))
    chosen = [
        SummarySentence(s.text, hit.passage.doc_id, hit.passage.title, hit.passage.heading_path, s.start, s.end, hit.rank)
        for s, hit in (pool[i] for i in order)
    ]
    return Summary.of(chosen)


def summarize_document(
    text: str,
    doc_id: str,
    title: str,
    embedder: Embedder,
    max_chars: int,
    config: SummaryConfig = SummaryConfig(),
    query: str | None = None,
) -> Summary:
    """A summary of one cleaned document, in document order: generic, or focused on
    `query` when one is given."""
    pool: list[tuple[Sentence, tuple[str, ...], float]] = []
    paras = paragraphs(text)
    longest_quote = max(config.min_sentence_chars, int(max_chars * config.max_quote_share))
    for n, para in enumerate(paras):
        for j, s in enumerate(_candidates(para.sentences, config, max_chars, longest_quote)):
            # Openings carry the point: the start of the document and the first
            # sentence of each paragraph weigh more.
            position = 0.5 * (1 - n / max(1, len(paras))) + (0.5 if j == 0 else 0.0)
            pool.append((s, para.path, position))
    if not pool or max_chars <= 0:
        return Summary("", ())
    # Salience and position do not depend on the centre: rated once, over the whole
    # document (its recurring vocabulary).
    salient = salience([s.text for s, _, _ in pool])
    words = query_terms(query) if query else []
    coverage = np.array([_coverage(s.text, words) for s, _, _ in pool])
    lengths = np.array([len(s.text) for s, _, _ in pool])
    if lengths.sum() > config.max_embedded_chars:
        # Embedding is nearly all the cost, and it grows with the characters embedded (a
        # million characters: 17,000 sentences, 29 of 36 s): a long document's
        # sentences are first shortlisted by the signals that need no model, the
        # question's words before salience.
        best = np.argsort(-(minmax(salient) + 2 * coverage), kind="stable")
        fits = int(np.searchsorted(np.cumsum(lengths[best]), config.max_embedded_chars, side="right"))
        keep = np.sort(best[: max(1, fits)])
        pool, salient, coverage = [pool[i] for i in keep], salient[keep], coverage[keep]
    vectors = embedder.encode([for_matching(s.text) for s, _, _ in pool])
    positions = np.array([p for _, _, p in pool])
    fixed = config.salience_weight * minmax(salient) + config.position_weight * positions
    relevance = rate(vectors, centre(vectors, fixed, config), fixed, config)
    if query:
        # What the question asks for first, what the document is about second.
        query_vector = embedder.encode([for_matching(query)])[0]
        relevance = 0.5 * minmax(vectors @ query_vector) + 0.3 * coverage + 0.2 * relevance
    order = select(
        relevance, vectors, [len(s.text) for s, _, _ in pool], max_chars, replace(config, redundancy=config.document_redundancy)
    )
    chosen = [
        SummarySentence(s.text, doc_id, title, path, s.start, s.end, None) for s, path, _ in (pool[i] for i in sorted(order))
    ]
    return Summary.of(chosen)
