"""Words: the form text is matched in, jieba's cuts, stop words, the terms of a question.

Words come from rjieba (jieba's algorithm and dictionary in Rust): it is ready in 0.1 s
where jieba.initialize() takes 0.6 s, and cuts the same words (on 1,898 paragraphs
of government reports they differed only in keeping "2011-2020" whole). jieba itself
serves its IDF table and part-of-speech tags, which document summaries and their
keywords (summary/keywords.py) need, and its word model, which reading/encoding.py uses
to tell GB18030 from Big5 when a file does not say its encoding.

Everything that cuts or matches words imports this module, and it imports nothing of
the pipeline above it (cleaning re-joins lines broken inside a word with its cuts).
"""

from __future__ import annotations

import logging
import re
import sys
import warnings
from collections.abc import Callable
from functools import lru_cache

from retriever.config import user_cache_dir
from retriever.text.lexicon import lexicon
from retriever.text.query import understand

# Function words and question words: they match everywhere and rank nothing.
STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 等 也 都 就 而 并 对 把 将 被 为 以 于 由 从 向 之 其 这 那 个 一 些 有 没有 不
    要 会 能 可 可以 应 应该 该 需要 如何 怎么 怎样 怎么样 什么 哪些 哪个 哪里 为什么 为何 是否 吗 呢 吧 啊 呀
    我 我们 你 你们 他 他们 她 它 大家 自己 这个 那个 这些 那些 这样 那样 还 又 再 很 更 最 太 让 给 着 过
    中 上 下 里 多 少 如果 但 但是 因为 所以 因此 如此 进行 通过 关于 问题 方面 工作 一下 一些 什么样 有关 相关
    做 搞 干 去 来 到 说 讲 请问 具体 主要""".split()
)
_WORDLIKE = re.compile(r"[\w\u4e00-\u9fff]")
_NOT_WORD = re.compile(r"[\W_]+")


def word_characters(text: str) -> str:
    """The text without spaces and punctuation, so that what it says is matched across them."""
    return _NOT_WORD.sub("", text)


def character_pairs(text: str) -> tuple[str, ...]:
    """The distinct pairs of adjacent characters of word_characters(text), in order: they
    match what jieba cuts apart, and a sentence's wording in another text."""
    chars = word_characters(text)
    return tuple(dict.fromkeys(chars[i : i + 2] for i in range(len(chars) - 1)))


@lru_cache(maxsize=1)
def load_jieba():
    with warnings.catch_warnings():
        # jieba imports pkg_resources, which recent setuptools warns about on stderr, and
        # reads its IDF table from a file it leaves to the garbage collector to close.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ResourceWarning)
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
    tfidf = load_jieba().analyse.default_tfidf
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
        cutter = lexicon()
        if cutter is not None:
            return cutter.cut_for_search
    return _rjieba().cut_for_search


def cut(text: str, hmm: bool = True) -> list[str]:
    """jieba's precise-mode words, as written. Without `hmm`, only the words of its
    dictionary: a word it makes up from unknown characters (「表为」 of 「…分工表」
    「为确保」) is no word there."""
    return _rjieba().cut(text, hmm=hmm)


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
    return tuple(terms(understand(question).text, question_cutter()))


@lru_cache(maxsize=1)
def _to_simplified():
    import opencc

    return opencc.OpenCC("t2s")


def for_matching(text: str) -> str:
    """The form in which text is matched, never shown: traditional characters become
    simplified (OpenCC t2s), so that 「攻擊」 finds 「攻击」 in BM25 and in the model.

    Simplified text passes through unchanged; lengths are kept for all but a few
    phrases, which is why highlights check before they reuse offsets.
    """
    return _to_simplified().convert(text)
