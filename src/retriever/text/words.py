"""BM25 over jieba words, stored as plain numpy arrays.

Words come from rjieba (jieba's algorithm and dictionary in Rust): it is ready in 0.1 s
where jieba.initialize() takes 0.6 s, and cuts the same words (on 1,898 paragraphs
of government reports they differed only in keeping "2011-2020" whole). jieba itself
serves its IDF table and part-of-speech tags, which document summaries and their
keywords (keywords.py) need, and its word model, which formats.py uses to tell GB18030
from Big5 when a file does not say its encoding.

Postings are kept by term (CSC layout): scoring a query touches only the postings of
its terms. Term weights are precomputed at build time, so a query is a few numpy
additions.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from retriever.config import user_cache_dir
from retriever.text.clean import for_matching

# Function words and question words: they match everywhere and rank nothing.
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 等 也 都 就 而 并 对 把 将 被 为 以 于 由 从 向 之 其 这 那 个 一 些 有 没有 不
    要 会 能 可 可以 应 应该 该 需要 如何 怎么 怎样 怎么样 什么 哪些 哪个 哪里 为什么 为何 是否 吗 呢 吧 啊 呀
    我 我们 你 你们 他 他们 她 它 大家 自己 这个 那个 这些 那些 这样 那样 还 又 再 很 更 最 太 让 给 着 过
    中 上 下 里 多 少 如果 但 但是 因为 所以 因此 如此 进行 通过 关于 问题 方面 工作 一下 一些 什么样 有关 相关
    做 搞 干 去 来 到 说 讲 请问 具体 主要""".split()
)
_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")


@lru_cache(maxsize=1)
def _jieba():
    with warnings.catch_warnings():
        # jieba imports pkg_resources, which recent setuptools warns about on stderr.
        warnings.simplefilter("ignore", UserWarning)
        import jieba
        import jieba.analyse  # noqa: F401 - the IDF table of summaries and keywords

    jieba.setLogLevel(logging.WARNING)
    if jieba.dt.tmp_dir is None:  # its dictionary cache goes with ours, not into the system's temporary folder
        cache = user_cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        jieba.dt.tmp_dir = str(cache)
    return jieba


def content_words(text: str) -> list[str]:
    """jieba's precise-mode words of two characters or more, in matching form, without
    stopwords: the words that say what a sentence is about."""
    return [w for w in cut(for_matching(text)) if len(w) > 1 and w not in STOPWORDS and _WORDLIKE.search(w)]


def general_idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table (from a large general Chinese corpus) and its median, the IDF
    of a word the table lacks."""
    tfidf = _jieba().analyse.default_tfidf
    return tfidf.idf_freq, tfidf.median_idf


@lru_cache(maxsize=1)
def _rjieba():
    import rjieba

    return rjieba


def warm_up_tokenizer() -> None:
    """Load rjieba's dictionary now (about 0.1 s, once per process): a process that
    answers many questions then cuts each in microseconds (see question_cutter)."""
    _rjieba().cut("")


def question_cutter() -> Callable[[str], list[str]]:
    """What cuts questions into search-mode words here: rjieba once this process has
    loaded it (3 µs a question); before that, the lexicon (lexicon.py: the same words,
    0.2 ms a question, no 0.1 s of loading), so that a process asking one question
    never loads rjieba."""
    if "rjieba" not in sys.modules:
        from retriever.text.lexicon import lexicon

        cutter = lexicon()
        if cutter is not None:
            return cutter.cut_for_search
    return _rjieba().cut_for_search


def cut(text: str) -> list[str]:
    """jieba's precise-mode words, as written."""
    return _rjieba().cut(text)


def words(text: str, cutter: Callable[[str], list[str]] | None = None) -> list[str]:
    """jieba search-mode words (long words also give their parts), lower-cased."""
    return [w.lower() for w in (cutter or _rjieba().cut_for_search)(text) if w.strip()]


def terms(text: str, cutter: Callable[[str], list[str]] | None = None) -> list[str]:
    """The words BM25 indexes, in their matching form (simplified): no stopwords, no
    punctuation."""
    return [w for w in words(for_matching(text), cutter) if w not in STOPWORDS and _WORDLIKE.search(w)]


@lru_cache(maxsize=16)  # search and summary of one question both ask for its words
def query_terms(question: str) -> tuple[str, ...]:
    """terms() of a question and of the full forms of the years, congresses and bodies it
    names in short (query.understand), cut by question_cutter."""
    from retriever.text.query import understand

    return tuple(terms(understand(question).text, question_cutter()))


def passage_terms(title: str, heading_path: Sequence[str], text: str) -> list[str]:
    """What BM25 indexes for a passage: its words and those of its document's title and
    heading path. A passage alone often lacks what a question names (the year and body
    of a report are in its title, the subject of a section in its heading), while the
    shown passage stays its own text."""
    return terms(" ".join([title, *heading_path, text]))


# How passage_terms builds a passage's terms, recorded in the manifest: an index built
# otherwise gets its BM25 made again.
BM25_FIELDS = ("title", "heading_path", "text")


@dataclass
class BM25:
    vocab: dict[str, int]
    idf: np.ndarray  # float32 (terms,)
    indptr: np.ndarray  # int64 (terms + 1,): postings of term t are [indptr[t], indptr[t+1])
    docs: np.ndarray  # int32 passage ids
    weights: np.ndarray  # float32 saturated, length-normalized term frequencies
    n_docs: int
    k1: float
    b: float

    @classmethod
    def build(cls, token_lists: list[list[str]], k1: float = 1.2, b: float = 0.75) -> BM25:
        n = len(token_lists)
        lengths = np.array([len(t) for t in token_lists], dtype=np.float32)
        avg = float(lengths.mean()) if n and lengths.sum() else 1.0
        vocab: dict[str, int] = {}
        postings: list[list[tuple[int, int]]] = []
        for doc, tokens in enumerate(token_lists):
            for term, count in Counter(tokens).items():
                tid = vocab.setdefault(term, len(vocab))
                if tid == len(postings):
                    postings.append([])
                postings[tid].append((doc, count))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(p) for p in postings])
        docs = np.fromiter((d for p in postings for d, _ in p), dtype=np.int32, count=int(indptr[-1]))
        tf = np.fromiter((f for p in postings for _, f in p), dtype=np.float32, count=int(indptr[-1]))
        weights = tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[docs] / avg))
        df = np.diff(indptr).astype(np.float32)
        # Lucene's idf: never negative, so a very common word still adds a little.
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        return cls(vocab, idf, indptr, docs, weights.astype(np.float32), n, k1, b)

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for the query (0 where no term matches)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in query_terms:
            tid = self.vocab.get(term)
            if tid is not None:
                lo, hi = self.indptr[tid], self.indptr[tid + 1]
                # A term lists each passage once, so plain fancy indexing adds correctly.
                out[self.docs[lo:hi]] += self.idf[tid] * self.weights[lo:hi]
        return out

    def save(self, directory: Path) -> list[str]:
        np.savez(
            directory / "bm25.npz",
            idf=self.idf,
            indptr=self.indptr,
            docs=self.docs,
            weights=self.weights,
            params=np.array([self.n_docs, self.k1, self.b], dtype=np.float64),
        )
        terms_by_id = sorted(self.vocab, key=self.vocab.__getitem__)
        (directory / "bm25_vocab.json").write_text(json.dumps(terms_by_id, ensure_ascii=False), encoding="utf-8")
        return ["bm25.npz", "bm25_vocab.json"]

    @classmethod
    def load_idf(cls, directory: Path) -> tuple[dict[str, float], int]:
        """The IDF of each term and the number of passages, without the postings: all
        that keywords.Reference needs (npz members are read one by one)."""
        arrays = np.load(directory / "bm25.npz")
        terms_by_id = json.loads((directory / "bm25_vocab.json").read_text(encoding="utf-8"))
        idf = arrays["idf"]
        if len(idf) != len(terms_by_id):
            raise ValueError(f"{len(terms_by_id)} terms but {len(idf)} IDF values")
        return dict(zip(terms_by_id, idf.tolist())), int(arrays["params"][0])

    @classmethod
    def load(cls, directory: Path) -> BM25:
        arrays = np.load(directory / "bm25.npz")
        terms_by_id = json.loads((directory / "bm25_vocab.json").read_text(encoding="utf-8"))
        n_docs, k1, b = arrays["params"]
        return cls(
            vocab={t: i for i, t in enumerate(terms_by_id)},
            idf=arrays["idf"],
            indptr=arrays["indptr"],
            docs=arrays["docs"],
            weights=arrays["weights"],
            n_docs=int(n_docs),
            k1=float(k1),
            b=float(b),
        )
