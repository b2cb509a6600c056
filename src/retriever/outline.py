"""Chinese outline numbering: which lines are headings, and how deep.

Official Chinese documents number their structure 一、 → (一) → 1. → (1) → ①, with
第一章/第一节 above and enumerations such as 一是/二是, 第一， or 首先/其次 below. A
heading stands on its own line (「一、铸牢政治之魂」) or runs into its paragraph as the
first sentence (「(一)正确政绩观是镇工作的行动航标。正确的政绩观是……」).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CN = "一二三四五六七八九十百零〇两"
# 一是/二是, 第一， and 首先/其次: the lowest level, points within a paragraph.
ENUMERATION_RANK = 6

# (rank, pattern): a lower rank is a higher level. The ranks follow the order that
# government style guides prescribe; Markdown '#' headings rank by their depth.
_MARKERS: list[tuple[int, re.Pattern[str]]] = [
    (0, re.compile(rf"第[{_CN}\d]+[编篇部章](?=\s|[，,、:：]|[^\d{_CN}])")),
    (1, re.compile(rf"第[{_CN}\d]+节")),
    (1, re.compile(rf"[{_CN}]+\s*[、.．]")),
    (2, re.compile(rf"[(（]\s*[{_CN}]+\s*[)）]\s*[、.．]?")),
    (3, re.compile(r"\d{1,2}\s*[、.．](?![\d.．])")),
    (4, re.compile(r"[(（]\s*\d{1,2}\s*[)）]\s*[、.．]?")),
    (5, re.compile(r"[①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳]")),
    (ENUMERATION_RANK, re.compile(rf"第[{_CN}]{{1,3}}(?=[，,、:：])|[{_CN}]{{1,3}}是(?=[^\s，,。])")),
]
# Discourse markers that only count as headings on a short line of their own.
_WEAK_MARKER = re.compile(r"(首先|其次|再次|然后|最后|此外|另外)(?=[，,、:：]?\S)")
_MARKDOWN = re.compile(r"(#{1,6})\s+\S")

# A heading is short: longer run-in first sentences are body text.
MAX_HEADING_CHARS = 40
MAX_STANDALONE_CHARS = 50

_SENTENCE_END = "。！？!?；;"
_RUN_IN_END = re.compile(r"[。！？!?：:]")
_TOC = re.compile(r"^(目\s*录|提\s*纲|目录\s*/\s*提纲|内容提要)\s*[:：]?\s*[…\.。·]*\s*$")


@dataclass(frozen=True)
class Heading:
    rank: int  # 0 is the top level
    title: str  # the heading as written, marker included, without closing punctuation
    end: int  # offset in the line where the heading ends (a run-in heading's body follows)


def _strip_title(text: str) -> str:
    return text.strip().rstrip("。：:；;，,").strip()


def detect_heading(line: str) -> Heading | None:
    """The heading that starts `line`, or None for a body line."""
    stripped = line.lstrip(" \t\u3000")
    lead = len(line) - len(stripped)
    body = stripped.rstrip()
    if not body:
        return None

    md = _MARKDOWN.match(body)
    if md:
        return Heading(len(md.group(1)) - 1, _strip_title(body[len(md.group(1)) :]), len(line.rstrip()))

    weak = _WEAK_MARKER.match(body)
    if weak:
        if len(body) <= 30 and body[-1] not in _SENTENCE_END:
            return Heading(ENUMERATION_RANK, _strip_title(body), len(line.rstrip()))
        return None

    for rank, pattern in _MARKERS:
        m = pattern.match(body)
        if not m or m.end() >= len(body):
            continue
        if len(body) <= MAX_STANDALONE_CHARS and not _RUN_IN_END.search(body[:-1]):
            # 「一是……,……。」 is a numbered sentence: a heading has no clauses and end stop.
            if body[-1] in "。！？!?" and re.search("[，,；;]", body[m.end() :].lstrip("，,、:： ")):
                return None
            return Heading(rank, _strip_title(body), len(line.rstrip()))
        stop = _RUN_IN_END.search(body, m.end())
        if stop and stop.start() <= MAX_HEADING_CHARS:
            return Heading(rank, _strip_title(body[: stop.start()]), lead + stop.end())
        return None
    return None


def is_toc_marker(line: str) -> bool:
    """A line that opens a table of contents (目录, 提纲, 目录/提纲:……)."""
    return bool(_TOC.match(line.strip()))
