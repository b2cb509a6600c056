"""Chinese outline numbering: which lines are headings, and how deep.

Official Chinese documents number their structure 一、 → (一) → 1. → (1) → ①, with
第一章/第一节 above and enumerations such as 一是/二是, 第一， or 首先/其次 below. A
heading stands on its own line (「一、铸牢政治之魂」, 「（一）着力稳定宏观经济大盘，保持
经济运行在合理区间。」), runs into its paragraph as the first sentence (「(一)正确政绩观是
镇工作的行动航标。正确的政绩观是……」), or is a bare number on a line of its own (「一」,
「（一）」) above its title or its text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from retriever.text.numerals import COUNTING, SECTION_NUMERALS
from retriever.text.punctuation import BULLETS, COLONS, COMMAS, FULL_STOPS, SEMICOLONS, char_class

# 一是/二是, 第一， and 首先/其次: the lowest level, points within a paragraph.
ENUMERATION_RANK = 6
# 第一章, 第一节, 一、 and （一） (ranks 0-2) are the skeleton of a document. Prose does not
# open a paragraph with them, so a paragraph that does is a section even when its first
# sentence is long. 1. (1) ① also number list items and steps in ordinary prose.
STRUCTURAL_RANK = 2

# (rank, pattern): a lower rank is a higher level. The ranks follow the order that
# government style guides prescribe; Markdown '#' headings rank by their depth. A
# number followed by 是 or 的 is the subject of a sentence (「第二部分是……」), not a
# heading. Traditional-script documents write 編 and 節.
_MARKERS: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(rf"第[{SECTION_NUMERALS}\d]+(?:部分|[编編篇部章])(?![是的分\d{SECTION_NUMERALS}])")),
    (1, re.compile(rf"第[{SECTION_NUMERALS}\d]+[节節](?![是的])")),
    (1, re.compile(rf"[{SECTION_NUMERALS}]+\s*[、.．]")),
    (2, re.compile(rf"[(（]\s*[{SECTION_NUMERALS}]+\s*[)）]\s*[、.．]?")),
    (3, re.compile(r"\d{1,2}\s*[、.．](?![\d.．])")),
    (4, re.compile(r"[(（]\s*\d{1,2}\s*[)）]\s*[、.．]?")),
    (5, re.compile(r"[①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]")),
    (ENUMERATION_RANK, re.compile(rf"第[{SECTION_NUMERALS}]{{1,3}}(?=[，,、:：])|[{SECTION_NUMERALS}]{{1,3}}是(?=[^\s，,。])")),
]
# Outline markers and list bullets that open a sentence (「(一)」, 「一是」, 「1.」,
# 「- 」): a summary quotes the sentence from just after them, still a verbatim span.
LEADING_MARKER = re.compile(
    rf"^(?:[{COUNTING}]+[、.．]|[(（][{COUNTING}\d]+[)）][、.．]?|\d{{1,2}}[、.．](?!\d)"
    rf"|第[{COUNTING}]+[，,、]|[{COUNTING}]+[是要](?=\S)|[①-⑳]|{char_class(BULLETS)}(?=\s))\s*"
)
# A section number without punctuation alone on its line (「一」, 「二」 in older reports).
_BARE_NUMBER = re.compile(f"[{COUNTING}]{{1,3}}")
# Discourse markers that only count as headings on a short line of their own.
_WEAK_MARKER = re.compile(r"(首先|其次|再次|然后|然後|最后|最後|此外|另外)(?=[，,、:：]?\S)")
_MARKDOWN = re.compile(r"(#{1,6})\s+\S")

# A heading is short: longer run-in first sentences are body text. Structural headings
# run longer (「（一）坚持稳中求进工作总基调，着力创新和完善宏观调控，经济运行保持在合理
# 区间、实现稳中向好。」 has 45 characters, the longest in 87 government and congress
# reports 52); past 60, their numbered paragraphs were items of lists.
MAX_HEADING_CHARS = 40
MAX_STRUCTURAL_HEADING_CHARS = 60
MAX_STANDALONE_CHARS = 50

_SENTENCE_END = FULL_STOPS + SEMICOLONS
_RUN_IN_END = re.compile(char_class(FULL_STOPS, COLONS))
_CLAUSE = re.compile(char_class(COMMAS, SEMICOLONS))
_TOC = re.compile(r"^(目\s*[录錄]|提\s*[纲綱]|目[录錄]\s*/\s*提[纲綱]|[内內]容提要)\s*[:：]?\s*[…\.。·]*\s*$")


@dataclass(frozen=True)
class Heading:
    rank: int  # 0 is the top level
    title: str  # the heading as written, marker included, without closing punctuation
    end: int  # offset in the line where the heading ends (a run-in heading's body follows)
    marked: bool = False  # marked as a heading by the file (Markdown's '#', a Word style, <h2>), not by its number

    def kept_in(self, marked_document: bool) -> bool:
        """Is it a heading of a document that does (or does not) mark its headings? One
        that does makes headings of its marked lines, of the skeleton's numbers (一、,
        （一）: often typed under a styled heading) and of enumerations; a line numbered
        1. (1) ① there is an item of a list (Word numbers lists so), not a heading."""
        return self.marked or not marked_document or not STRUCTURAL_RANK < self.rank < ENUMERATION_RANK


def strip_title(text: str) -> str:
    return text.strip().rstrip("。" + COLONS + SEMICOLONS + COMMAS).strip()


def detect_heading(line: str) -> Heading | None:
    """The heading that starts `line`, or None for a body line."""
    stripped = line.lstrip(" \t\u3000")
    lead = len(line) - len(stripped)
    body = stripped.rstrip()
    if not body:
        return None
    whole = len(line.rstrip())

    md = _MARKDOWN.match(body)
    if md:
        return Heading(len(md.group(1)) - 1, strip_title(body[len(md.group(1)) :]), whole, marked=True)

    weak = _WEAK_MARKER.match(body)
    if weak:
        if len(body) <= 30 and body[-1] not in _SENTENCE_END:
            return Heading(ENUMERATION_RANK, strip_title(body), whole)
        return None

    if _BARE_NUMBER.fullmatch(body):
        return Heading(1, body, whole)

    for rank, pattern in _MARKERS:
        m = pattern.match(body)
        if not m:
            continue
        structural = rank <= STRUCTURAL_RANK
        if m.end() >= len(body):
            # 「（一）」 alone on its line numbers the title or the text on the next.
            return Heading(rank, strip_title(body), whole) if structural else None
        if len(body) <= MAX_STANDALONE_CHARS and not _RUN_IN_END.search(body[:-1]):
            # A line of its own with clauses and a full stop is a heading after a
            # structural number (「（一）着力稳定宏观经济大盘，保持经济运行在合理区间。」)
            # or an enumeration (「一是……，……。」: in the reports, 70 of 77 such lines are
            # followed by their body). After 1. (1) ① it is a numbered sentence, an item
            # of a list (「（９）在国家的辅导下，积极开展群众性的文化活动。」).
            if STRUCTURAL_RANK < rank < ENUMERATION_RANK and body[-1] in FULL_STOPS and _CLAUSE.search(body[m.end() :]):
                return None
            return Heading(rank, strip_title(body), whole)
        stop = _RUN_IN_END.search(body, m.end())
        if not stop:
            return None
        title = body[: stop.start()]
        if "；" in title or ";" in title:
            return None  # a first sentence that lists items (「……；……。」) is no title
        # A longer first sentence heads a section only after a structural number, and if
        # the paragraph goes on after it: one long numbered sentence is an item of a list.
        long_ok = structural and stop.start() <= MAX_STRUCTURAL_HEADING_CHARS and stop.end() < len(body)
        if stop.start() <= MAX_HEADING_CHARS or long_ok:
            return Heading(rank, strip_title(title), lead + stop.end())
        return None
    return None


def reads_as_item(line: str, heading: Heading) -> bool:
    """Is a numbered line one whole sentence with clauses (「一、健全社区党组织领导的居民
    自治机制，推动社区居委会规范化建设。」)? Such a line heads a section where text
    follows it, and is an item of a numbered list where the next item does (a notice's
    points): see segment.paragraphs."""
    body = line.strip()
    m = LEADING_MARKER.match(body)
    rest = body[m.end() :] if m else body
    return (
        not heading.marked
        and heading.rank < ENUMERATION_RANK
        and heading.end >= len(line.rstrip())  # the whole line: no run-in body after it
        and body[-1:] in _SENTENCE_END
        and _CLAUSE.search(rest[:-1]) is not None
        and _RUN_IN_END.search(rest[:-1]) is None
    )


def numbered_rank(line: str) -> int | None:
    """The rank of the number a line opens with (「二、」 1, 「（三）」 2), however long the
    line: a numbered paragraph too long to head anything is still one of its list."""
    body = line.lstrip(" \t\u3000")
    return next((rank for rank, pattern in _MARKERS if pattern.match(body)), None)


def is_marked_heading(line: str) -> bool:
    """A heading line as Markdown marks it (and the readers mark Word's and HTML's)."""
    return bool(_MARKDOWN.match(line.lstrip(" \t\u3000")))


def is_toc_marker(line: str) -> bool:
    """A line that opens a table of contents (目录, 提纲, 目录/提纲:……)."""
    return bool(_TOC.match(line.strip()))
