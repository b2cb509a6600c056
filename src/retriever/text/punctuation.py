"""Punctuation classes, each defined once: what ends a sentence, what closes a quotation
or a bracket, where a long sentence may be cut. Both Chinese (full-width) and Latin forms, since documents mix them.
"""

from __future__ import annotations

import re

FULL_STOPS = "。！？!?"  # end a sentence for certain
SEMICOLONS = "；;"
COLONS = "：:"
COMMAS = "，,"
ENUMERATION_COMMA = "、"  # between the items of a list
ELLIPSIS = "…"
# Where sentences end: a semicolon ends one of the parallel clauses that Chinese
# official prose chains, each a sentence of its own to quote.
SENTENCE_ENDS = FULL_STOPS + SEMICOLONS + ELLIPSIS
# Closing quotes and brackets: they stay with the sentence they close.
CLOSERS = "”’」』）)】》"
# Marks around a quotation or a title, as official prose sets a name it introduces
# (「实行“费改税”」, 「《国防法》」).
QUOTE_OPENERS = '“‘「『《"'
QUOTE_CLOSERS = '”’」』》"'
# Where a paragraph may end: a line that ends otherwise was broken inside a sentence.
PARAGRAPH_ENDS = SENTENCE_ENDS + COLONS + CLOSERS
# What opens an item of a bulleted list (「- 」 as Markdown writes it, 「• 」 as editors draw it).
BULLETS = "-*+•●▪■◆"
# Where a sentence longer than the limit is cut, best first: after a comma, else after an
# enumeration comma or a colon.
SOFT_BREAKS = (COMMAS, ENUMERATION_COMMA + COLONS)


def char_class(*marks: str) -> str:
    """A regular-expression class of the given marks: char_class(FULL_STOPS, COLONS)."""
    return "[" + "".join(re.escape(c) for c in dict.fromkeys("".join(marks))) + "]"
