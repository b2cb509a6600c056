"""Search-box terms: a query that is one term (「党政分开」, 「家电下乡」), and how a
sentence speaks of it.

People type a programme's or a policy's name into a search box. The passage that
answers such a query is the one that says what the term is: official prose defines a
name where it coins it (「党政分开即党政职能分开」, 「所谓“三农”」, 「……（即《十六条》）」) or
sets it in quotation or title marks (「实施“家电下乡”」). Search ranks by it
(ranking.features' `defines`) and a question summary leads with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from retriever.text.punctuation import QUOTE_CLOSERS, QUOTE_OPENERS, char_class
from retriever.text.words import for_matching, word_characters

# A search-box query: at most this many characters (matching form, no punctuation).
SHORT_CHARS = 6


def compact(query: str) -> str:
    """The question as matched whole: matching form, lower case, no spaces or punctuation."""
    return word_characters(for_matching(query).lower())


def search_term(query: str) -> str | None:
    """The term a search-box query names (「党政分开」), in matching form; None for a
    question, or for several terms typed apart (「五加二 白加黑」)."""
    term = compact(query)
    return term if 2 <= len(term) <= SHORT_CHARS and len(query.split()) == 1 else None


def term_mentions(term: str) -> Callable[[str], float]:
    """How a text in matching form and lower case speaks of the term: 1 where it says
    what the term means (「X即」「X就是」「X是指」, 「所谓X」「（即《X》）」, 「…（X）」 after a
    full name), plus 0.5 where it sets it in quotation marks or a title's marks
    (「实施“X”」, 「《X（草案）》」)."""
    t, opener, closer = re.escape(term), char_class(QUOTE_OPENERS), char_class(QUOTE_CLOSERS)
    quoted = re.compile(f"{opener}{t}(?:{closer}|[（(])")
    defined = re.compile(
        f"{t}{closer}?[，,]?(?:即|就是|是指|指的是)|(?:所谓|即|简称|又称){opener}?{t}|[（(]{opener}?{t}{closer}?[）)]"
    )

    def mentions(matched: str) -> float:
        return float(bool(defined.search(matched))) + 0.5 * bool(quoted.search(matched))

    return mentions
