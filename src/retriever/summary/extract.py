"""Extractive summaries: every sentence is copied from its document, never written.

Two kinds share one selection routine (rate sentences, then pick greedily with MMR
within a character budget):
- for a question, sentences of the hits, rated by closeness to the question and by the
  question words they contain, each cited with its document and heading path; the one
  that answers best comes first, and two editions of one kind of document never give
  figures on one subject side by side (`_rival_figures`);
- for a document, sentences rated by centrality (closeness to the document's centre,
  see `centre`), salience and key figures, returned in document order.

Neither quotes a heading, a title or a line that is no sentence, and a quote cut from
its sentence is marked at the cut (`_shown`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from retriever.config import SummaryConfig
from retriever.embedding.embedders import Embedder
from retriever.ranking.features import SHORT_CHARS, compact
from retriever.search import Hit, minmax
from retriever.text.metadata import answers_years, document_years
from retriever.text.numerals import ARABIC, ASKS_AMOUNT, ASKS_DATE, COUNTING, DIGITS, FIGURE, KEY_FIGURE, counting_value
from retriever.text.official import ADDRESSEES
from retriever.text.outline import ENUMERATION_RANK, LEADING_MARKER, MAX_STANDALONE_CHARS, detect_heading, strip_title
from retriever.text.punctuation import (
    CLOSERS,
    ELLIPSIS,
    FULL_STOPS,
    QUOTE_CLOSERS,
    QUOTE_OPENERS,
    SEMICOLONS,
    SOFT_BREAKS,
    char_class,
)
from retriever.text.query import understand
from retriever.text.segment import Passage, Sentence, cap_sentence, list_items, paragraphs
from retriever.text.words import character_pairs, content_words, for_matching, general_idf, query_terms, word_characters


@dataclass(frozen=True)
class SummarySentence:
    """A quote of a summary: verbatim text of a document (`text == cleaned[start:end]`),
    which document and where in its outline, the rank of the hit it cites (question
    summaries; None in a document summary), and how the summary's text shows it."""

    text: str
    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    start: int  # offsets in the cleaned document
    end: int
    cites: int | None  # rank of the hit it comes from (question summaries)
    # Where it comes from, said when a summary quotes several documents (「2024年」, or
    # the title where years do not tell them apart); "" when it quotes one.
    source: str = ""
    # The quote begins inside its sentence (a long one is quoted clause by clause): the
    # summary's text marks it with 「…」, as it marks a quote that ends inside one.
    cut_start: bool = False
    # The quote as the summary's text shows it: with those marks and its source where
    # a run of quotes from one document begins (set by Summary.of).
    shown: str = ""

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "doc_id": self.doc_id,
            "title": self.title,
            "heading_path": list(self.heading_path),
            "start": self.start,
            "end": self.end,
            "cites": self.cites,
            "source": self.source,
            "shown": self.shown or self.text,
        }


@dataclass(frozen=True)
class Summary:
    """An extractive summary: its text as shown (the quotes joined, with 「…」 where one is
    cut and their sources where several documents are quoted) and the quotes themselves."""

    text: str
    sentences: tuple[SummarySentence, ...]

    @classmethod
    def of(cls, chosen: Sequence[SummarySentence]) -> Summary:
        quotes = tuple(replace(s, shown=shown) for s, shown in zip(chosen, _shown(chosen)))
        return cls("".join(s.shown for s in quotes), quotes)

    def to_dict(self) -> dict:
        return {"text": self.text, "sentences": [s.to_dict() for s in self.sentences]}


# A quote that ends inside its sentence (at a comma, a colon, a semicolon: where
# cap_sentence cuts, or where a clause of a long sentence ends) and is not continued by
# the next quote ends in an ellipsis instead of that mark, one character for one; one
# cut with no mark at all gets an ellipsis added. A quote that begins inside its
# sentence opens with one. Two pieces must never read as one sentence, nor a piece as
# a whole one.
_CUT_MARKS = "".join(SOFT_BREAKS) + SEMICOLONS
_WHOLE_END = FULL_STOPS + ELLIPSIS


def _ends_whole(text: str) -> bool:
    return text.rstrip(CLOSERS)[-1:] in _WHOLE_END


def _unmarked_end(text: str) -> bool:
    """Ends neither a sentence nor a clause: no punctuation at all (a hard cut, a title)."""
    return not _ends_whole(text) and text[-1:] not in _CUT_MARKS


def shown_length(s: Sentence | SummarySentence, cut_start: bool) -> int:
    """Characters a quote takes in the summary's text, its marks included (at most)."""
    return len(s.text) + cut_start + _unmarked_end(s.text)


def _shown(chosen: Sequence[SummarySentence]) -> list[str]:
    """Each quote as the summary's text shows it: exactly as in the document but for the
    marks of a cut and, where it quotes several documents, the source of each run of
    quotes from one of them (「〔2024年〕」)."""
    out = []
    for before, s, after in zip([None, *chosen[:-1]], chosen, [*chosen[1:], None]):
        continues = before is not None and (before.doc_id, before.end) == (s.doc_id, s.start)
        continued = after is not None and (after.doc_id, after.start) == (s.doc_id, s.end)
        text = s.text
        if not continued and not _ends_whole(text):
            text = text[:-1] + ELLIPSIS if text[-1] in _CUT_MARKS else text + ELLIPSIS
        if s.cut_start and not continues:
            text = ELLIPSIS + text
        if s.source and (before is None or before.doc_id != s.doc_id):
            text = f"〔{s.source}〕{text}"
        out.append(text)
    return out


# Connectives that open a sentence and lean on the one before it (「然后」「所以」「其实」,
# 「对,」): out of context they say nothing, and the summary's budget is better spent.
# One-character ones only before a comma, where they cannot begin a content word.
_LEADING_CONNECTIVE = re.compile(
    r"^(?:(?:然后|然後|随后|隨後|那么|那麼|所以|但是|其实|其實|就是说|就是說|就是|另外|而且|当然|當然|反正"
    r"|我觉得|我覺得|我认为|我認為|我想)[，,、]?"
    # Before a comma only: 「同时要…」 and 「因此项目…」 go on as they are.
    r"|(?:同时|同時|此外|因此|总之|總之|总而言之|總而言之|综上所述|綜上所述|同志们|同志們)[，,]"
    r"|[那对嗯好哦啊][，,、])+\s*"
)


def _strip_marker(sentence: Sentence) -> Sentence:
    """The sentence without a leading outline marker or connective (「一要」「然后，」):
    what is left is still a verbatim span; too short a rest is then not quoted at all."""
    for pattern in (LEADING_MARKER, _LEADING_CONNECTIVE):
        m = pattern.match(sentence.text)
        if m and m.end() < len(sentence.text):
            sentence = Sentence(sentence.text[m.end() :], sentence.start + m.end(), sentence.end)
    return sentence


# A resolution or a decision (its title ends 「决议」 or 「决定」) says what its meeting resolved
# in a sentence the meeting is the subject of: 「会议充分肯定……，决定批准这个报告。」, 「大会同意……」.
# That is its gist, however far its wording lies from the centre of the calls around it.
_RESOLUTION_TITLE = re.compile(r"(?:决议|決議|决定|決定)(?:[（(][^）)]*[）)])?$")
_RESOLVES = re.compile(
    r"^(?:本次|这次|這次)?(?:会议|會議|大会|大會|全会|全會)[^。！？!?]{0,80}?"
    r"(?:决定|決定|批准|同意|通过了|通過了|审议通过|審議通過|一致通过|一致通過)"
)
# A document that sets targets states them in one sentence: 「今年发展主要预期目标是：国内生产
# 总值增长5%左右；城镇新增就业1200万人以上……」, 「宏观调控的主要目标是：经济增长速度8％……」.
# What a plan or a report is read for, as a resolution is for its decision (_gist).
_STATES_TARGETS = re.compile(r"(?:目标|目標|指标|指標)(?:是|为|為)[：:]")
# 「关于……」 with no clause and nothing after it names a topic: a heading that ends in a stop.
_TOPIC = re.compile(r"^(?:关于|關於)[^，,；;：:。！？!?]{1,24}[。．.！!]?$")


# A sentence, or the clause a long one is cut at, that announces what follows and says
# nothing itself: 「要把握好以下三点。」, 「主要做了以下工作：」, 「作如下的说明。」. Quoted, it points at
# points the summary does not hold. (「百分之二以下。」 and 「省以下财政体制」 say something.)
_ANNOUNCED = r"(?:方面|点|工作|问题|原则|方针|要点|措施|政策|意见|规定|说明|办法|事项|任务|内容|建议|要求|重点|报告|关系|情况|事实|体会|取向)"
_ANNOUNCES = re.compile(
    r"(?:如下|(?:以下|下列|下面)(?=\S*?" + _ANNOUNCED + r"))的?(?:[一二三四五六七八九十几两\d]+|一些|各)?(?:个|项|条|件)?"
    rf"(?:重要|主要|重大|重点|指导)*(?:{_ANNOUNCED}的?[和、]?)*[。：:；;]$"
)


def _no_sentence(text: str, loose: bool = False) -> bool:
    """A short line that no punctuation ends: a title, a byline (「——在……上的报告」), a
    signature, an unnumbered heading (「结束语」), unless the text leaves most of its lines
    so (`loose`: _unpunctuated); a bare topic (「关于经济增长目标。」), a notice's addressees,
    or what announces the points that follow (「要把握好以下三点。」)."""
    if _TOPIC.match(text) or ADDRESSEES.match(text) or _ANNOUNCES.search(text):
        return True
    return not loose and _unmarked_end(text) and len(text) <= MAX_STANDALONE_CHARS


Quote = tuple[Sentence, bool]  # a piece of a sentence and whether it begins inside it


def _candidates(
    sentences: list[Sentence],
    config: SummaryConfig,
    budget: int,
    longest: int | None = None,
    headings: Collection[str] = (),
    whole: bool = False,
    items: Collection[int] = (),
    loose: bool = False,
) -> list[Quote]:
    """Sentences worth quoting: not a bare heading, not too short, within the budget;
    with `longest`, sentences longer than that cut at commas where they have them;
    `whole`: sentences only as they are, none cut (one longer than the budget is left).
    Each comes with whether it begins inside its sentence (a piece after a cut).
    `headings`: the titles of the document's outline (or the passage's heading path),
    whose sentences are never quoted, however they were found; `items`: where sentences
    start that are items of a list (segment._list_items), never taken for headings
    although they begin with a number; `loose`: the text leaves its lines unpunctuated
    (_unpunctuated), and a line with no stop is a sentence like any other."""
    out = []
    for s in sentences:
        if strip_title(s.text) in headings:  # 「第四,乡村治理效能更加彰显。」 heads its paragraph
            continue
        if s.text.startswith("|"):  # a table row: passages hold it, a summary does not quote it
            continue
        # A heading names a topic; the outline shows it, the summary quotes content. A
        # run-in heading (「(二)聚焦群众需求,践行宗旨使命。正文……」) is a sentence of its own.
        # Enumerations (「一是……」「首先……」) are content, never titles.
        bare = s.text.rstrip("。．.！!；;")
        heading = detect_heading(bare)
        if (
            heading
            and heading.end >= len(bare)
            and (heading.end == len(s.text) or heading.rank < ENUMERATION_RANK)
            and s.start not in items
        ):
            continue
        if _no_sentence(s.text, loose):
            continue
        stripped = _strip_marker(s)
        if whole:
            if config.min_sentence_chars <= len(stripped.text) <= budget:
                out.append((stripped, False))
            continue
        for part in cap_sentence(stripped, budget):
            for piece in cap_sentence(part, longest, hard=False) if longest else [part]:
                if len(piece.text) >= config.min_sentence_chars and not _ANNOUNCES.search(piece.text):
                    out.append((piece, piece.start > stripped.start))
    return out


def _unpunctuated(sentences: Iterable[Sentence], config: SummaryConfig) -> bool:
    """Does a text leave its lines unpunctuated (minutes, notes, points typed without
    「。」)? Then three in four of its sentences long enough to quote, or more, end with no
    mark at all, where in prose only titles, headings and signatures do (a passage that
    opens a document with its title, byline and date has about half), and a summary that
    took such lines for titles had nothing to quote."""
    ends = [_unmarked_end(s.text) for s in sentences if len(s.text) >= config.min_sentence_chars]
    return bool(ends) and sum(ends) >= 0.75 * len(ends)


def _heads_its_paragraph(text: str, a: int, b: int, path: Sequence[str]) -> bool:
    """Is text[a:b], a sentence of a passage, a heading of the outline (as
    segment._Paragraph.outline_heading decides, from the passage alone): one of its
    heading path's titles, and a numbered section heading or an enumeration that its
    paragraph goes on after (more text on the same line)."""
    sentence = text[a:b]
    if strip_title(sentence) not in path:
        return False
    heading = detect_heading(sentence)
    rest = text[b:].split("\n", 1)[0]
    return heading is not None and (heading.rank < ENUMERATION_RANK or bool(rest.strip()))


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


def _matched(sentence: str) -> str:
    """A sentence as a question's words are matched in it: the question's words are in
    matching form and lower-cased (words.query_terms), so that gdp meets GDP and 国家
    meets 國家."""
    return for_matching(sentence).lower()


def _covered(matched: str, words: Sequence[str]) -> float:
    """Share of the question's distinct words that a sentence (`_matched`) contains."""
    distinct = set(words)
    return sum(1 for w in distinct if w in matched) / len(distinct) if distinct else 0.0


def _coverage(sentence: str, words: Sequence[str]) -> float:
    """Share of the question's distinct words that the sentence contains, in either script
    and case."""
    return _covered(_matched(sentence), words)


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

# What tells documents of one kind apart: years, ordinals and numbering in the title.
_EDITION_MARKS = re.compile(rf"[{ARABIC}{DIGITS}十百]+|[年届屆次第\s()（）〔〕\[\]]")


def _edition_kind(passage: Passage) -> str:
    """Documents of one kind share this: the title without its years, ordinals and
    numbering (the 2023 and 2024 work reports, the resolutions of two sessions). A title
    of nothing else (「2023」, none at all) says no kind: the document is its own."""
    return _EDITION_MARKS.sub("", passage.title) or f"\0{passage.doc_id}"


def _rival_figures(
    pool: list[tuple[Sentence, bool, Hit]],
    vectors: np.ndarray,
    figures: np.ndarray,
    relevance: np.ndarray,
    of_year: np.ndarray,
    similarity: float,
) -> set[int]:
    """The quotes to leave out so that no two documents of one kind (two years' work
    reports) give figures on the same subject (sentences this close): the figure of the
    year the question names stays (`of_year`), else the one that answers the question
    better (`relevance`), whichever hit it comes from.
    Side by side, two editions' figures read as two current ones. `figures` says which
    quotes hold one. On the dev half, keeping the better answer rather than the better
    hit's figure put the answer in 64.4% of summaries instead of 61.9%."""
    kinds = {hit.passage.doc_id: _edition_kind(hit.passage) for _, _, hit in pool}

    def preference(i: int) -> tuple[bool, float]:
        return (not of_year[i], -float(relevance[i]))

    kept: list[int] = []
    rivals = set()
    for i in sorted(np.flatnonzero(figures).tolist(), key=preference):
        doc = pool[i][2].passage.doc_id
        if any(
            pool[j][2].passage.doc_id != doc
            and kinds[pool[j][2].passage.doc_id] == kinds[doc]
            and float(vectors[i] @ vectors[j]) >= similarity
            for j in kept
        ):
            rivals.add(i)
        else:
            kept.append(i)
    return rivals


# A label takes room from the quotes: the start of a title says which result it is.
_LABEL_CHARS = 9


def _labels(hits: dict[str, Hit], asked: frozenset[int]) -> dict[str, str]:
    """What says where each quote comes from when a summary quotes several documents, or
    one that is not of the year the question asks (「2020年GDP增长目标」 answered from the
    2013 report should say so): the year of a document of one year no other of them is
    of (its title's or its date's), else its title (cut short: the results list it whole)."""
    years = {doc: document_years(hit.passage.title, hit.meta) for doc, hit in hits.items()}
    if len(hits) < 2 and (not asked or all(ys & asked for ys in years.values())):
        return {}
    named = Counter(y for ys in years.values() for y in ys)
    labels = {}
    for doc, hit in hits.items():
        title = hit.passage.title
        if len(years[doc]) == 1 and named[next(iter(years[doc]))] == 1:
            labels[doc] = f"{next(iter(years[doc]))}年"
        else:
            labels[doc] = title if len(title) <= _LABEL_CHARS else title[: _LABEL_CHARS - 1] + ELLIPSIS
    return labels


def _restates_title(text: str, title: str, share: float) -> bool:
    """Is `share` or more of the sentence's character pairs in its document's title? A
    resolution opens with 「第十三届全国人民代表大会第二次会议听取和审议了……政府工作报告」,
    which says what the document is, not what it says; every edition opens alike."""
    pairs, title = character_pairs(text), word_characters(title)
    return bool(pairs) and sum(p in title for p in pairs) >= share * len(pairs)


def _search_term(question: str) -> str | None:
    """The term a search-box query names (「党政分开」), in matching form; None for a
    question, or for several terms typed apart (「五加二 白加黑」)."""
    term = compact(question)
    return term if 2 <= len(term) <= SHORT_CHARS and len(question.split()) == 1 else None


def _term_mentions(term: str) -> Callable[[str], float]:
    """How a sentence (`_matched`) speaks of the term: 1 where it says what the term means
    (「X即」「X就是」「X是指」, 「所谓X」「（即《X》）」, 「…（X）」 after a full name, or the list
    a numbered term sums up: _lists_items), plus 0.5 where it sets it in quotation marks or
    a title's marks (「实施“X”」, 「《X（草案）》」)."""
    t, opener, closer = re.escape(term), char_class(QUOTE_OPENERS), char_class(QUOTE_CLOSERS)
    quoted = re.compile(f"{opener}{t}(?:{closer}|[（(])")
    defined = re.compile(
        f"{t}{closer}?[，,]?(?:即|就是|是指|指的是)|(?:所谓|即|简称|又称){opener}?{t}|[（(]{opener}?{t}{closer}?[）)]"
    )
    lists = _lists_items(term)

    def mentions(matched: str) -> float:
        return float(bool(defined.search(matched) or lists(matched))) + 0.5 * bool(quoted.search(matched))

    return mentions


# Chinese sums up a list in a numbered term: 「三条保障线」, 「两免一补」 (2 + 1), 「干部四化」,
# 「四个全面」. A numeral counts the character after it, past a measure word (四个全面: 全);
# one inside a longer numeral or after 第 (「第十三届」) counts nothing, nor does a plan's
# name (「十四五」); a list of one, or of more than ten, is no list a sentence gives.
_TERM_NUMERAL = re.compile(
    f"(?<![第{COUNTING}两百千])([{COUNTING}两]+)(?![百千万亿])(?:个|项|条|大|年|届|种|位|点|次|字|件)?([^{COUNTING}两百千])?"
)
_COUNT = re.compile("[一二三四五六七八九]?十[一二三四五六七八九]?|[一二三四五六七八九两]")
_CLAUSES = re.compile("[，,；;。：:！？!?\n]")
_LAST_JOIN = re.compile("以及|和|及|与")
_BEFORE_TERM = "的" + QUOTE_OPENERS


def _items(text: str) -> list[str]:
    """The items of a list written 「甲、乙和丙」: apart by 「、」, the last two by 「和」 (及,
    与, 以及) too. The first item holds what comes before the list in its clause."""
    items = text.split("、")
    joins = list(_LAST_JOIN.finditer(items[-1]))
    if joins and (len(items) > 1 or len(joins) == 1):
        last, j = items[-1], joins[-1]
        items[-1:] = [last[: j.start()], last[j.end() :]]
    return items


def _lists_items(term: str) -> Callable[[str], bool]:
    """Does a sentence give the list a numbered term sums up? As many items as its numerals
    count, the whole list of a clause: right before the term (「下岗职工基本生活保障、失业保险
    和城镇居民最低生活保障的“三条保障线”」; of more than two, which are too often two verbs:
    「坚持和完善“一带一路”」), after it and a colon (「“约法三章”：甲，乙，丙。」), or alone
    where the clause holds the rest of the term, each item with the character its one
    numeral counts (「实现干部队伍的革命化、年轻化、知识化、专业化」 for 「干部四化」, not
    「工业化、信息化、城镇化和农业现代化」). Of a term of several numerals each item holds the
    character its numeral counts, in order (两免一补: 免, 免, 补; 「香港、澳门和台湾的“一国两制”」
    is no list of it). Always False for a term without a numeral."""
    numerals = _TERM_NUMERAL.findall(term)
    if not numerals or not all(_COUNT.fullmatch(n) for n, _ in numerals):
        return lambda matched: False
    values = [2 if n == "两" else counting_value(n) for n, _ in numerals]
    count = sum(values)
    if not 2 <= count <= 10 or (len(numerals) > 1 and not all(c for _, c in numerals)):
        return lambda matched: False
    holds = [c for (_, c), v in zip(numerals, values) for _ in range(v)] if len(numerals) > 1 else None
    counted = numerals[0][1] if len(numerals) == 1 else ""
    rest = set(_TERM_NUMERAL.sub("", term))
    after = re.compile(f"{re.escape(term)}{char_class(QUOTE_CLOSERS)}?[：:]([^。！？!?]*)")

    def fits(items: list[str]) -> bool:
        return len(items) == count and (holds is None or all(h in item for h, item in zip(holds, items)))

    def lists(matched: str) -> bool:
        for clause in _CLAUSES.split(matched):
            at = clause.find(term)
            if at >= 0:
                if count > 2 and fits(_items(clause[:at].rstrip(_BEFORE_TERM))):
                    return True
            elif counted and rest <= set(clause) and fits(items := _items(clause)):
                if all(counted in item for item in items):
                    return True
        m = after.search(matched)
        return m is not None and (fits(re.split("[，,；;]", m.group(1))) or fits(_items(m.group(1))))

    return lists


def _answer_relevance(
    question: str,
    pool: list[tuple[Sentence, bool, Hit]],
    vectors: np.ndarray,
    query_vector: np.ndarray | None,
    figures: np.ndarray,
    of_year: np.ndarray,
    config: SummaryConfig,
) -> np.ndarray:
    """How well each quote of the pool answers the question (see SummaryConfig); -inf for
    one a search-box query never quotes."""
    words = query_terms(question)
    closeness = minmax(vectors @ query_vector) if query_vector is not None else np.zeros(len(pool))
    matched = [_matched(s.text) for s, _, _ in pool]  # OpenCC once a sentence, for the words and the term
    coverage = np.array([_covered(m, words) for m in matched])
    # Sentences of better hits are likelier to answer: a gentle prior by hit rank.
    prior = np.array([1.0 / (1 + 0.5 * (hit.rank - 1)) for _, _, hit in pool])
    # A short quote that says again what the question asks (「扩大退耕还林规模。」) rarely
    # answers it: the answer says more. Full marks from answer_full_chars on.
    fullness = np.array([min(1.0, len(s.text) / config.answer_full_chars) for s, _, _ in pool])
    echoes = np.array([_restates_title(s.text, hit.passage.title, config.title_echo_share) for s, _, hit in pool])
    relevance = (
        config.answer_closeness * closeness
        + config.answer_coverage * coverage
        + config.answer_prior * prior
        + config.answer_length * fullness
        - config.answer_title_echo * echoes
    )
    asked = for_matching(question)  # 幾 is 几
    if ASKS_AMOUNT.search(asked):
        answers = figures if ASKS_DATE.search(asked) else np.array([bool(KEY_FIGURE.search(s.text)) for s, _, _ in pool])
        relevance += config.answer_figure * answers
    term = _search_term(question)
    if term:
        mentions = _term_mentions(term)
        relevance += config.answer_term * np.array([mentions(m) for m in matched])
    relevance = relevance + config.answer_year * of_year
    names = coverage > 0
    if len(compact(question)) <= SHORT_CHARS and names.any():
        # A search-box query (「印花税」, 「养老 医保」) is answered by sentences that name it:
        # near ones that do not (「改革个人所得税。」) are padding. On the 40 dev and check
        # queries, 62 of 232 quotes named none of their words, 9 after (where no sentence
        # names them: 「全运会」 is written 全国运动会), and no answer was lost.
        relevance = np.where(names, relevance, -np.inf)
    return relevance


def summarize_hits(
    question: str,
    hits: list[Hit],
    query_vector: np.ndarray | None,
    sentence_vectors: SentenceLookup,
    max_chars: int,
    config: SummaryConfig = SummaryConfig(),
) -> Summary:
    """A summary for the question from the sentences of its hits, each one cited: the
    sentence that answers best first, then the rest by document.

    `sentence_vectors` gives the index's stored vectors of a passage's sentences, so
    no model runs here.
    """
    if max_chars <= 0:
        return Summary("", ())
    pool: list[tuple[Sentence, bool, Hit]] = []
    rows: list[np.ndarray] = []
    for hit in hits:
        # The index's own sentences of the passage (segment.sentence_spans), each with
        # its stored vector: a quoted piece of a sentence takes the sentence's vector.
        p = hit.passage
        spans, vectors = sentence_vectors(hit.passage_id)
        offsets = spans.tolist()
        items = {p.start + a for a in list_items(p.text)}
        sentences = [Sentence(p.text[a:b], p.start + a, p.start + b) for a, b in offsets]
        loose = _unpunctuated(sentences, config)
        for (a, b), sentence, vector in zip(offsets, sentences, vectors):
            heads = _heads_its_paragraph(p.text, a, b, p.heading_path)
            for s, cut in _candidates([sentence], config, max_chars, items=items, loose=loose) if not heads else []:
                pool.append((s, cut, hit))
                rows.append(vector)
    if not pool:
        return Summary("", ())
    vectors = np.stack(rows)
    figures = np.array([bool(FIGURE.search(s.text)) for s, _, _ in pool])
    understood = understand(question)
    years = understood.years
    # The quotes of the edition the question's year names (its title's year or its
    # date; the year after's look back on it too for how it turned out), but not where
    # it looks back on another year (metadata.answers_years).
    of_year = np.array(
        [bool(years) and answers_years(hit.passage, hit.meta, years, understood.answered_in) for _, _, hit in pool]
    )
    relevance = _answer_relevance(question, pool, vectors, query_vector, figures, of_year, config)
    rivals = _rival_figures(pool, vectors, figures, relevance, of_year, config.rival_similarity)
    if rivals:
        keep = [i for i in range(len(pool)) if i not in rivals]
        pool, vectors, relevance = [pool[i] for i in keep], vectors[keep], relevance[keep]
    if len(years) == 1 and config.one_document_for_one_year:
        # A question about one year is answered from one document: the best quote's.
        best_doc = pool[int(np.argmax(relevance))][2].passage.doc_id
        relevance = np.where([hit.passage.doc_id == best_doc for _, _, hit in pool], relevance, -np.inf)
    lengths = [shown_length(s, cut) for s, cut, _ in pool]
    # Unlike a document summary, an answer need not fill its budget: stop before
    # sentences that have little to do with the question.
    order = select(relevance, vectors, lengths, max_chars, config, config.answer_floor)
    while order:
        summary = Summary.of(_answer_order(pool, order, years))
        if len(summary.text) <= max_chars or len(order) == 1:
            return summary
        order = order[:-1]  # the sources' labels took room: the least relevant quote goes
    return Summary("", ())


def _answer_order(pool: list[tuple[Sentence, bool, Hit]], picked: list[int], asked: frozenset[int]) -> list[SummarySentence]:
    """The best quote (picked first) first; then the other quotes of its hit, of its
    document's other hits, then of each other document, documents by their best hit,
    each hit's quotes in document order: a summary that jumps back and forth within a
    passage, or between documents, reads badly."""
    best = picked[0]
    best_hit = pool[best][2]
    docs = [best_hit.passage.doc_id]
    for i in sorted(picked, key=lambda i: pool[i][2].rank):
        if pool[i][2].passage.doc_id not in docs:
            docs.append(pool[i][2].passage.doc_id)

    def place(i: int) -> tuple[int, bool, int, int]:
        s, _, hit = pool[i]
        return (docs.index(hit.passage.doc_id), hit is not best_hit, hit.rank, s.start)

    order = [best] + sorted((i for i in picked if i != best), key=place)
    labels = _labels({pool[i][2].passage.doc_id: pool[i][2] for i in order}, asked)
    out = []
    for i in order:
        s, cut, hit = pool[i]
        p = hit.passage
        out.append(
            SummarySentence(s.text, p.doc_id, p.title, p.heading_path, s.start, s.end, hit.rank, labels.get(p.doc_id, ""), cut)
        )
    return out


def _gist(sentences: Iterable[Sentence], title: str) -> Iterator[tuple[int, int]]:
    """Where a document says what it is for, as spans of its text, first first: what a
    resolution's meeting resolved, or where another document states its targets with
    figures (after 「目标是：」, not in a title's 《》; or, where the statement's sentence has
    none and goes on, 「目标是：」 ending its paragraph or 「目标是：经济稳中向好；」, the two
    sentences together)."""
    if _RESOLUTION_TITLE.search(title.strip().rstrip(CLOSERS)):
        yield from ((s.start, s.end) for s in sentences if _RESOLVES.match(_strip_marker(s).text))
        return
    announced: Sentence | None = None
    for s in sentences:
        m = _STATES_TARGETS.search(s.text)
        if m and s.text.count("《", 0, m.start()) > s.text.count("》", 0, m.start()):
            m = None
        stated = bool(m and KEY_FIGURE.search(s.text, m.end()))
        if stated:
            yield s.start, s.end
        elif announced and KEY_FIGURE.search(s.text):
            yield announced.start, s.end
        announced = s if m and not stated and s.text.rstrip().endswith(("：", ":", "；", ";")) else None


def summarize_document(
    text: str,
    doc_id: str,
    title: str,
    embedder: Embedder,
    max_chars: int,
    config: SummaryConfig = SummaryConfig(),
    query: str | None = None,
    whole: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Summary:
    """A summary of one cleaned document, in document order: generic, or focused on
    `query` when one is given. `whole`: whole sentences only, never a piece of one.
    `progress(done, total)` follows the embedding of its sentences, nearly all the time."""
    if max_chars <= 0:
        return Summary("", ())
    pool: list[tuple[Sentence, bool, tuple[str, ...], float]] = []
    paras = paragraphs(text)
    headings = {h.title for p in paras if (h := p.outline_heading)}
    # A paragraph that heads nothing, though numbered, is content (a list's item).
    items = {p.sentences[0].start for p in paras if p.heading is None and p.sentences}
    loose = _unpunctuated((s for p in paras if not p.outline_heading for s in p.sentences), config)
    longest_quote = max(config.min_sentence_chars, int(max_chars * config.max_quote_share))
    for n, para in enumerate(paras):
        quotes = _candidates(para.sentences, config, max_chars, longest_quote, headings, whole, items, loose)
        for j, (s, cut) in enumerate(quotes):
            # Openings carry the point: the start of the document and the first
            # sentence of each paragraph weigh more.
            position = 0.5 * (1 - n / max(1, len(paras))) + (0.5 if j == 0 else 0.0)
            pool.append((s, cut, para.path, position))
    if not pool:
        return Summary("", ())
    # Salience, figures and position do not depend on the centre: rated once, over the
    # whole document (its recurring vocabulary).
    salient = salience([s.text for s, *_ in pool])
    words = query_terms(query) if query else []
    coverage = np.array([_coverage(s.text, words) for s, *_ in pool])
    lengths = np.array([shown_length(s, cut) for s, cut, *_ in pool])
    if lengths.sum() > config.max_embedded_chars:
        # Embedding is nearly all the cost, and it grows with the characters embedded (a
        # million characters: 17,000 sentences, 29 of 36 s): a long document's
        # sentences are first shortlisted by the signals that need no model, the
        # question's words before salience.
        best = np.argsort(-(minmax(salient) + 2 * coverage), kind="stable")
        fits = int(np.searchsorted(np.cumsum(lengths[best]), config.max_embedded_chars, side="right"))
        keep = np.sort(best[: max(1, fits)])
        pool, salient, coverage, lengths = [pool[i] for i in keep], salient[keep], coverage[keep], lengths[keep]
    vectors = embedder.encode([for_matching(s.text) for s, *_ in pool], progress=progress)
    positions = np.array([p for *_, p in pool])
    # A document's own figures (targets, amounts, dates) say more than its exhortations.
    figures = np.array([bool(KEY_FIGURE.search(s.text)) for s, *_ in pool], dtype=float)
    fixed = config.salience_weight * minmax(salient) + config.position_weight * positions + config.figure_weight * figures
    relevance = rate(vectors, centre(vectors, fixed, config), fixed, config)
    if not query:
        # A resolution's first sentence of what its meeting resolved, or a document's first
        # statement of its targets with their figures (that it can quote), is picked first,
        # whole or as many of its pieces as the budget holds, in order (a summary focused
        # on a question answers the question instead).
        for start, end in _gist((s for p in paras for s in p.sentences), title):
            pieces = [i for i, (s, *_) in enumerate(pool) if start <= s.start and s.end <= end]
            if pieces:
                relevance[pieces] = relevance.max() + 1.0 - 0.01 * np.arange(len(pieces))
                break
    if query:
        # What the question asks for first, what the document is about second.
        query_vector = embedder.encode([for_matching(query)])[0]
        own = 1 - config.focus_closeness - config.focus_coverage
        relevance = config.focus_closeness * minmax(vectors @ query_vector) + config.focus_coverage * coverage + own * relevance
    order = select(relevance, vectors, lengths.tolist(), max_chars, replace(config, redundancy=config.document_redundancy))
    chosen = [
        SummarySentence(s.text, doc_id, title, path, s.start, s.end, None, cut_start=cut)
        for s, cut, path, _ in (pool[i] for i in sorted(order))
    ]
    return Summary.of(chosen)
