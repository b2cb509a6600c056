"""Keywords of a document: the words that set it apart from others, not the words it
uses most.

jieba's TF-IDF (extract_tags, with its IDF table from general Chinese) gave the 87
official reports of ../shared/data/gov_reports the same verbs: 发展 was in the top
eight of 59 of them, 建设 of 56, 加强 of 33, 推进 of 27, and reports of adjacent years
shared 4.6 of their 8 keywords. Three changes make generic words lose:

- only content words count: nouns, names, verbal and adjectival nouns (发展 and 建设 are
  `vn` and stay candidates), set phrases, abbreviations and Latin words, by jieba's
  dictionary tags; verbs (推进, 加强, 推动, 加快, 实施), adverbs, numbers, time words and
  idioms are left out, and so are words the dictionary lacks (the segmenter's guesses:
  on the reports mostly fragments such as 用党 or 所县, at the cost of a few real new
  words such as 新质);
- frequency counts sublinearly (1 + ln tf): a word said 200 times is not ten times as
  telling as one said 20 times, which is how generic words won;
- with a Reference (an index's passages), a word common across the collection scores
  low, whatever general Chinese thinks of it.

On the 87 reports: the seven generic verbs take 5 of 696 places (建设, in 1950s
reports) instead of 199, and adjacent years share 2.5 keywords; against a reference of
the reports' own passages (about 5,000), none and 1.0. A 20,000-character report takes 13 ms
(extract_tags took 51 ms).

Adjacent candidates that the text writes together each time are one keyword (_terms):
of the 696, those that nearly always stand beside the same character (80% of three or
more occurrences: 特色 of 中国特色社会主义, 工商户 of 个体工商户) fell from 70 to 37, and
adjacent years share 2.2 keywords.

Words are scored in matching form (traditional characters as simplified, so that the
1954 report's 我們 meets the stop word 我们 and 國家 the IDF of 国家) and shown as the
document writes them, taken from the same character offsets.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from retriever.errors import BadIndexError
from retriever.index.bm25 import BM25
from retriever.index.folder import read_manifest
from retriever.text.official import DOCUMENT_NUMBER, is_furniture
from retriever.text.words import STOPWORDS, cut, for_matching, general_idf, load_jieba

# jieba's part-of-speech tags of words that name what a text is about.
CONTENT_TAGS = frozenset({"n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "vn", "an", "l", "j"})
# A Latin word or model name (GDP, 5G, PM2.5, C919): not in jieba's tag table, kept;
# numbers and ranges (2018, 2011-2020) are not.
_LATIN = re.compile(r"(?=[0-9.+\-]*[a-z])[a-z0-9][a-z0-9.+\-]*")
# How many passages a reference needs before its counts weigh as much as jieba's general
# table: an index of a few documents (62 passages) says little about which words are
# common, and alone ranked 常态、层面、数据 first; 87 reports (about 5,000) say much.
REFERENCE_TRUST = 1000
# Adjacent candidate words are one term (_terms) where the run recurs at least MIN_TERM
# times and holds at least TERM_SHARE of one word's occurrences; up to MAX_TERM_WORDS
# words and MAX_TERM_CHARS characters (全面建成小康社会 rather than a sentence's worth).
MIN_TERM = 2
TERM_SHARE = 0.6
MAX_TERM_WORDS = 4
MAX_TERM_CHARS = 10


@dataclass(frozen=True)
class Reference:
    """How common words are in a collection: the BM25 IDF over its passages, by term in
    matching form (bm25.terms)."""

    idf: Mapping[str, float]
    passages: int

    @property
    def unseen(self) -> float:
        """The IDF of a word no passage holds (BM25.build's formula at df = 0)."""
        return math.log1p((self.passages + 0.5) / 0.5)

    @property
    def weight(self) -> float:
        """The share of this reference in a word's IDF; jieba's general table has the rest."""
        return self.passages / (self.passages + REFERENCE_TRUST)

    @classmethod
    def of_bm25(cls, bm25: BM25) -> Reference:
        return cls({term: float(bm25.idf[i]) for term, i in bm25.vocab.items()}, bm25.n_docs)

    @classmethod
    def of_index(cls, directory: Path) -> Reference:
        """The reference of the index in `directory`, reading its BM25 terms and IDF
        only (not its vectors, postings or model). BadIndexError names what is wrong."""
        manifest = read_manifest(directory)  # names the directory when it is no index
        generation = directory / manifest.generation
        try:
            idf, passages = BM25.load_idf(generation)
        except Exception as e:  # noqa: BLE001 - numpy, zipfile and json each raise their own
            raise BadIndexError.unreadable(f"{generation}/bm25.npz or bm25_vocab.json", e) from None
        return cls(idf, passages)


def keywords(text: str, n: int = 8, reference: Reference | None = None) -> list[str]:
    """The n words that best set the text apart, as written in it (see the module).

    Without a reference a word's rarity is jieba's general IDF; with one, a blend of the
    two weighted by the reference's size (Reference.weight).
    """
    matching, written = _aligned(text)
    matching = _without_furniture(matching)
    tags = _tags()
    keys: list[str | None] = []  # each word of the text: a candidate's key, or None
    spans: list[tuple[int, int]] = []
    start = 0
    for word in cut(matching):  # the words concatenate to the text: offsets follow
        end = start + len(word)
        key = word.lower()  # BM25 terms are lower-cased
        candidate = len(key) > 1 and key not in STOPWORDS and (tags.get(key) in CONTENT_TAGS or _is_latin(key, tags))
        keys.append(key if candidate else None)
        spans.append((start, end))
        start = end
    counts: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    parts: dict[str, tuple[str, ...]] = {}
    for unit, a, b in _terms(keys, spans):
        key = "".join(unit)
        counts[key] += 1
        forms.setdefault(key, Counter())[written[a:b]] += 1
        parts[key] = unit
    general, median = general_idf()

    def rarity(word: str) -> float:
        idf = general.get(word, median)
        if reference is None:
            return idf
        return reference.weight * reference.idf.get(word, reference.unseen) + (1 - reference.weight) * idf

    # A term of several words is as telling as its most telling word (特色 of 中国特色社会主义).
    scores = {key: (1 + math.log(count)) * max(map(rarity, parts[key])) for key, count in counts.items()}
    # sorted() is stable and counts are in order of first occurrence: ties go to the earlier word.
    # A keyword inside a better one, or holding it, says it again (习近平 and 习近平同志,
    # 基本路线 and 党的基本路线).
    best: list[str] = []
    for key in sorted(scores, key=lambda key: -scores[key]):
        if len(best) == n:
            break
        if not any(key in other or other in key for other in best):
            best.append(key)
    return [forms[key].most_common(1)[0][0] for key in best]


def _terms(keys: list[str | None], spans: list[tuple[int, int]]) -> list[tuple[tuple[str, ...], int, int]]:
    """The candidate words of the text (`keys`, None for a word that is none; `spans`,
    their offsets) in order, each as (its words, start, end): where
    adjacent candidates recur together (MIN_TERM times) and make up most occurrences
    (TERM_SHARE) of one of them, joined into one term. jieba's dictionary cuts
    中国特色社会主义 into 中国 / 特色 / 社会主义 and 个体工商户 into 个体 / 工商户, whose
    fragments 特色 and 工商户 were keywords of reports that write the whole term
    throughout; longer terms are joined first."""
    count = Counter(key for key in keys if key)
    taken = [False] * len(keys)
    terms: list[tuple[tuple[str, ...], int, int]] = []
    for n in range(MAX_TERM_WORDS, 1, -1):
        at: dict[tuple[str, ...], list[int]] = {}
        for i in range(len(keys) - n + 1):
            run = keys[i : i + n]
            if all(run) and not any(taken[i : i + n]):
                at.setdefault(tuple(key for key in run if key), []).append(i)
        for unit, starts in sorted(at.items(), key=lambda item: -len(item[1])):
            if len(starts) < MIN_TERM or sum(map(len, unit)) > MAX_TERM_CHARS:
                continue
            if max(len(starts) / count[w] for w in unit) < TERM_SHARE:
                continue
            for i in starts:
                if not any(taken[i : i + n]):  # a run of one word repeated overlaps itself
                    taken[i : i + n] = [True] * n
                    terms.append((unit, spans[i][0], spans[i + n - 1][1]))
    terms += [((key,), *span) for key, span, t in zip(keys, spans, taken) if key and not t]
    return sorted(terms, key=lambda term: term[1])


# A citation in brackets: 「（《列宁全集》中文版，第三十二卷，第七十二页）」 names a source, not what
# the text is about (列宁全集 was a keyword of a report that quotes Lenin eight times).
_CITATION = re.compile(r"[（(]《[^》\n]{1,40}》[^（）()\n]{0,40}?第[^（）()\n]{1,12}?[卷页頁][^（）()\n]{0,30}[）)]")


def _without_furniture(text: str) -> str:
    """The text with its official furniture (official.py: masthead, addressees, 版记, the
    fields of minutes, document numbers) and its citations blanked out, its length kept."""

    def blank(m: re.Match[str]) -> str:
        return " " * len(m.group(0))

    lines = [
        " " * len(line) if is_furniture(line.strip()) else _CITATION.sub(blank, DOCUMENT_NUMBER.sub(blank, line))
        for line in text.split("\n")
    ]
    return "\n".join(lines)


def _is_latin(key: str, tags: Mapping[str, str]) -> bool:
    return key not in tags and _LATIN.fullmatch(key) is not None


def _aligned(text: str) -> tuple[str, str]:
    """The text in matching form and as written, of equal length, so that an offset into
    one is the same word in the other. for_matching keeps lengths but for a few OpenCC
    phrases; a line that holds one is shown in its matching form."""
    matching = for_matching(text)
    if len(matching) == len(text):
        return matching, text
    lines = [(for_matching(line), line) for line in text.splitlines(keepends=True)]
    return "".join(m for m, _ in lines), "".join(w if len(m) == len(w) else m for m, w in lines)


@lru_cache(maxsize=1)
def _tags() -> dict[str, str]:
    """jieba's dictionary words and their part-of-speech tags (loaded with jieba)."""
    load_jieba()
    import jieba.posseg

    return jieba.posseg.dt.word_tag_tab
