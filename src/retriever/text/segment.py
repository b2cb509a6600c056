"""Cut a cleaned document into sentences and passages.

Every sentence and passage carries its character offsets in the cleaned text, so that
`text[start:end]` gives it back exactly. Passages carry their heading path (「三、… ›
(二)…」), skip the table of contents and the title line, stay within the size bounds of
SegmentConfig and never cross a top-level heading.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from retriever.config import SegmentConfig
from retriever.text.official import MASTHEAD
from retriever.text.outline import (
    ENUMERATION_RANK,
    Heading,
    detect_heading,
    is_marked_heading,
    is_toc_marker,
    numbered_rank,
    reads_as_item,
)
from retriever.text.punctuation import CLOSERS, COLONS, COMMAS, FULL_STOPS, SEMICOLONS, SENTENCE_ENDS, SOFT_BREAKS

# A run of sentence-final punctuation ends one sentence (「！？」, 「……」); closing quotes
# and brackets stay with the sentence they close, straight quotes when they close one.
_ASCII_QUOTES = frozenset("\"'")
_TITLE_MAX_CHARS = 60


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Passage:
    """A retrievable unit: `text == document_text[start:end]` of the cleaned document
    `doc_id` (its path from the folder the index was built in), under `heading_path`
    (the outline's headings above it, top first) of the document titled `title`."""

    doc_id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    start: int
    end: int

    def to_dict(self) -> dict:
        """The passage fields of the JSON contract and of the passage store."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "heading_path": list(self.heading_path),
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Passage:
        return cls(d["doc_id"], d["title"], tuple(d["heading_path"]), d["text"], d["start"], d["end"])


@dataclass
class _Paragraph:
    sentences: list[Sentence]
    path: tuple[str, ...]
    heading: Heading | None

    @property
    def outline_heading(self) -> Heading | None:
        """Its heading as the document's outline lists it (and summaries never quote it):
        a numbered section heading always; an enumeration (一是…, 第一,…) only when it
        leads a paragraph that goes on after it: alone it is a point of the text."""
        h = self.heading
        if h is None or (h.rank == ENUMERATION_RANK and len(self.sentences) < 2):
            return None
        return h


@dataclass
class _Pack:
    sentences: list[Sentence] = field(default_factory=list)
    path: tuple[str, ...] | None = None  # path of its first body sentence
    last_path: tuple[str, ...] = ()
    section: int = 0  # index of the top-level section it lies in

    @property
    def chars(self) -> int:
        return self.sentences[-1].end - self.sentences[0].start if self.sentences else 0


def split_sentences(text: str, offset: int = 0) -> list[Sentence]:
    """Split one paragraph into sentences, offsets shifted by `offset`.

    Ends at 。！？；… (and ASCII !?;), keeping closing quotes with their sentence; an
    ASCII quote closes a sentence only if the sentence opened it.
    """
    spans: list[tuple[int, int]] = []
    start, i, n = 0, 0, len(text)
    while i < n:
        if text[i] not in SENTENCE_ENDS:
            i += 1
            continue
        j = i + 1
        while j < n and text[j] in SENTENCE_ENDS:
            j += 1
        while j < n and (text[j] in CLOSERS or (text[j] in _ASCII_QUOTES and text[start:j].count(text[j]) % 2 == 1)):
            j += 1
        spans.append((start, j))
        start = i = j
    if start < n:
        spans.append((start, n))

    sentences = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            sentences.append(Sentence(text[a:b], a + offset, b + offset))
    return sentences


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Offsets of a passage's sentences in its text: the sentences its summary quotes,
    each of which the index keeps a vector for. A line ends a sentence too: in cleaned
    text a line is a paragraph or a heading, never half a sentence."""
    spans, offset = [], 0
    for line in text.split("\n"):
        spans += [(s.start, s.end) for s in split_sentences(line, offset)]
        offset += len(line) + 1
    return spans


def cap_sentence(sentence: Sentence, max_chars: int, hard: bool = True) -> list[Sentence]:
    """Cut a sentence longer than max_chars into pieces, each at the last comma of its
    second half. Where that half has none: a hard cut at max_chars, or, if not `hard`,
    the first comma after it (the piece is then longer, but no clause is broken)."""
    out = []
    text, base = sentence.text, sentence.start
    max_chars = max(1, max_chars)  # each piece takes at least one character: the loop ends
    # Offsets into the one string, never a slice of the rest: a sentence of millions of
    # characters (a text without punctuation) is cut in linear time.
    start, n = 0, len(text)
    while n - start > max_chars:
        cut = None
        low, high = start + max_chars // 2, start + max_chars
        for marks in SOFT_BREAKS:
            pos = max(text.rfind(m, low, high) for m in marks)
            if pos >= 0:
                cut = pos + 1
                break
        if cut is None and hard:
            cut = high
        elif cut is None:
            later = [p for p in (text.find(m, high) for m in SOFT_BREAKS[0]) if p >= 0]
            if not later or min(later) + 1 >= n:
                break
            cut = min(later) + 1
        out.append(Sentence(text[start:cut], base + start, base + cut))
        start = cut
    out.append(Sentence(text[start:], base + start, base + n))
    return out


def _lines(text: str) -> list[tuple[str, int]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((line, pos))
        pos += len(line) + 1
    return out


def _toc_lines(lines: list[tuple[str, int]]) -> set[int]:
    """Indices of table-of-contents lines: a 目录/提纲 line and the heading lines after it."""
    toc: set[int] = set()
    i = 0
    while i < len(lines):
        if is_toc_marker(lines[i][0]):
            toc.add(i)
            i += 1
            while i < len(lines):
                line = lines[i][0].strip()
                heading = detect_heading(line)
                entry = heading is not None and heading.end >= len(line)  # a standalone heading
                if not (entry or re.fullmatch(r"[\W\d_]*", line)):
                    break
                toc.add(i)
                i += 1
        else:
            i += 1
    return toc


def _title_like(s: str) -> bool:
    return 0 < len(s) <= _TITLE_MAX_CHARS and s[-1] not in FULL_STOPS + SEMICOLONS + COLONS + COMMAS and not detect_heading(s)


def _title_lines(lines: list[tuple[str, int]], skip: set[int]) -> list[int]:
    """The indices of the title's lines: the first line, past a masthead, if it reads like
    a title; with the next where a title is set on two (the issuing body, then
    「关于……的通知」)."""
    rest = [i for i, (line, _) in enumerate(lines) if i not in skip and line.strip()]
    while rest and MASTHEAD.match(lines[rest[0]][0].strip()):
        rest = rest[1:]
    if not rest:
        return []
    first = lines[rest[0]][0].strip()
    if first.startswith("# "):
        return [rest[0]]
    if not _title_like(first):
        return []
    if len(rest) > 1 and not first.startswith(("关于", "關於")):
        second = lines[rest[1]][0].strip()
        if second.startswith(("关于", "關於")) and _title_like(second):
            return rest[:2]
    return rest[:1]


# A page saved without line breaks glues its title to the first sentence
# (「乡镇干部学习习近平讲话体会精选在新时代新征程的背景下,…」). Such a title names the
# document's genre at its end (讲话, 报告, 通知…); it holds no punctuation and no 是, and
# the genre word ends it rather than going on into a sentence (「…讲话中强调」, 「…通知要求」).
# On 2,104 one-line CMRC 2018 and DRCD paragraphs and the 87 reports it finds none.
_GLUED_TITLE = re.compile(
    r"([^\s，,。；;：:！？!?、“”\"《》()（）是]{4,28}"
    r"(?:讲话|讲话稿|讲稿|发言|发言稿|致辞|报告|体会|心得|心得体会|精选|范文|汇编|党课|通知|意见|方案|总结|决定|办法|规定|纲要|公报|提纲)"
    r"(?:\d+篇)?)"
    r"(?![中时后的上里和与及是为]|精神|指出|强调|要求|提出)(?=[^，,。；;：:！？!?、]{6,}[，,。；;：:！？!?])"
)
_ONE_LINE_MIN_CHARS = 200  # a first line this long is the whole text run together


def unglue_title(text: str) -> str:
    """The text with a line break after a title glued to its first sentence (_GLUED_TITLE),
    in a text without line breaks: the title is then its first line, as in any other, and
    no passage or summary reads 「…体会精选在新时代新征程的背景下…」 as one sentence."""
    first = text.split("\n", 1)[0]
    glued = _GLUED_TITLE.match(first) if len(first) >= _ONE_LINE_MIN_CHARS else None
    return text if glued is None else f"{glued.group(1)}\n{text[glued.end(1) :]}"


def find_title(text: str, fallback: str) -> str:
    """The document's title: its first line if that is short and not a sentence (see
    unglue_title for a text without line breaks), else `fallback`."""
    lines = _lines(text)
    title = _title_lines(lines, _toc_lines(lines))
    if title:
        return "".join(lines[i][0].strip().removeprefix("# ").strip() for i in title)
    return fallback


def _list_items(body: list[int], headings: dict[int, Heading], lines: list[tuple[str, int]]) -> set[int]:
    """The numbered lines that are items of a list, not headings: whole sentences with
    clauses (outline.reads_as_item) next to another such line of the same rank, or to a
    numbered paragraph of that rank too long to be a heading, with no text between them
    to head (a notice's 「一、健全…机制，推动…建设。」「二、完善…」; a report's 「二、适当提高
    铁路短途运价，…；」 between two longer points). A heading is followed by what it
    heads; these were outline entries, and summaries never quoted them."""
    items = {i for i in body if i in headings and reads_as_item(lines[i][0], headings[i])}

    def rank(i: int) -> int | None:  # of an item or of a numbered paragraph, else None
        if i in headings:
            return headings[i].rank if i in items else None
        return numbered_rank(lines[i][0])

    listed = set()
    for a, b in itertools.pairwise(body):
        if (a in items or b in items) and rank(a) is not None and rank(a) == rank(b):
            listed |= {a, b} & items
    return listed


def _outline_lines(lines: list[tuple[str, int]], skip: Collection[int] = ()) -> tuple[list[int], dict[int, Heading], set[int]]:
    """The body lines (neither skipped nor blank), the headings among them, and the
    numbered lines that are items of a list instead (_list_items). A file that marks its
    headings (Word's styles, <h1>-<h6>, Markdown) keeps numbered lines for its lists:
    Heading.kept_in."""
    body = [i for i, (line, _) in enumerate(lines) if i not in skip and line.strip()]
    marked = any(is_marked_heading(lines[i][0]) for i in body)
    headings = {i: h for i in body if (h := detect_heading(lines[i][0])) and h.kept_in(marked)}
    items = _list_items(body, headings, lines)
    return body, {i: h for i, h in headings.items() if i not in items}, items


def _enumerates(sentence: str) -> bool:
    """Does a sentence open with an enumeration (「二是」, 「第二，」, 「其次，」)?"""
    heading = detect_heading(sentence)
    return heading is not None and heading.rank == ENUMERATION_RANK


def list_items(text: str) -> set[int]:
    """Where the lines that are list items (_list_items) start in `text`, a passage: what
    a summary of it may quote though each begins with a number."""
    lines = _lines(text)
    return {lines[i][1] for i in _outline_lines(lines)[2]}


def paragraphs(text: str) -> list[_Paragraph]:
    """The body paragraphs of a cleaned document with their heading paths."""
    lines = _lines(text)
    skip = _toc_lines(lines)
    skip.update(_title_lines(lines, skip))
    body, headings, _ = _outline_lines(lines, skip)
    stack: list[Heading] = []
    out = []
    for i in body:
        line, offset = lines[i]
        heading = headings.get(i)
        sentences = split_sentences(line, offset)
        if heading and heading.rank == ENUMERATION_RANK and len(sentences) > 1 and _enumerates(sentences[1].text):
            # 「一是……。二是……。三是……。」: points one after the other, none heading the rest.
            heading = None
        if heading:
            while stack and stack[-1].rank >= heading.rank:
                stack.pop()
            stack.append(heading)
        elif stack and stack[-1].rank == ENUMERATION_RANK:
            # 一是/第一， enumerate points within a paragraph: the next unmarked
            # paragraph no longer belongs to the last point.
            stack.pop()
        path = tuple(h.title for h in stack)
        out.append(_Paragraph(sentences, path, heading))
    return out


def segment(text: str, doc_id: str, title: str, config: SegmentConfig = SegmentConfig()) -> list[Passage]:
    """Pack the sentences of a cleaned document into passages."""
    paras = paragraphs(text)
    ranks = [p.heading.rank for p in paras if p.heading]
    top_rank = min(ranks) if ranks else None

    packs: list[_Pack] = []
    current = _Pack()
    section = 0

    def flush() -> None:
        nonlocal current
        if current.sentences:
            prev = packs[-1] if packs else None
            # A short tail joins the passage before it, within the same section.
            if (
                current.chars < config.min_chars
                and prev is not None
                and prev.section == current.section
                and current.sentences[-1].end - prev.sentences[0].start <= config.max_chars
            ):
                prev.sentences.extend(current.sentences)
                prev.last_path = current.last_path
            else:
                packs.append(current)
        current = _Pack(section=section)

    for para in paras:
        if para.heading:
            if para.heading.rank == top_rank:
                flush()
                section += 1
                current.section = section
            elif current.chars >= config.min_chars:
                flush()
        for i, long_sentence in enumerate(para.sentences):
            is_heading = para.heading is not None and i == 0
            for sentence in cap_sentence(long_sentence, config.max_chars):
                if current.sentences and sentence.end - current.sentences[0].start > config.max_chars:
                    flush()
                current.sentences.append(sentence)
                if current.path is None and not is_heading:
                    current.path = para.path
                current.last_path = para.path
        if current.chars >= config.target_chars:
            flush()
    flush()
    if not packs and text.strip():
        # A document that is all title (or all table of contents) is still findable.
        first = next(s for line, offset in _lines(text) for s in split_sentences(line, offset))
        packs.append(_Pack(sentences=[first], path=()))

    return [
        Passage(
            doc_id=doc_id,
            title=title,
            heading_path=pack.path if pack.path is not None else pack.last_path,
            text=text[pack.sentences[0].start : pack.sentences[-1].end],
            start=pack.sentences[0].start,
            end=pack.sentences[-1].end,
        )
        for pack in packs
    ]
