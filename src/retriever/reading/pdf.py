"""A PDF to raw text: its text layer, page by page, running heads and page numbers
dropped, wrapped lines joined, the headings its bookmarks name marked as Markdown marks
them; bounded in time and in what one page may draw."""

from __future__ import annotations

import io
import logging
import math
import re
import unicodedata
from collections import Counter
from pathlib import Path

from retriever.config import ReadLimits
from retriever.errors import InputError
from retriever.reading.extracted import CJK, Extracted, ReadBudget, one_line, reason
from retriever.text.metadata import FileProperties
from retriever.text.outline import detect_heading
from retriever.text.punctuation import PARAGRAPH_ENDS

# Lines looked at for running headers and footers at the top and bottom of each page.
_MARGIN_LINES = 3
_PAGE_NUMBER = re.compile(
    r"^(?:[-—–\s]*\d+[-—–\s]*|第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|page\s*\d+(?:\s*of\s*\d+)?)$",
    re.IGNORECASE,
)
# Spaces that PDF text extraction puts between CJK characters (letter-spaced titles,
# character spacing) are not in the text.
_CJK_SPACE = re.compile(rf"(?<=[{CJK}\u3000-\u303f]) +(?=[{CJK}\u3000-\u303f])")
# A line this close to the full line width was wrapped by the layout.
_FULL_LINE = 0.9
_MIN_FULL_WIDTH = 30  # columns (a CJK character is two): shorter "full" lines are a list


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _margin_key(line: str) -> str:
    return re.sub(r"\d+", "0", _squash(line))


def _drop_running_lines(pages: list[list[str]]) -> list[list[str]]:
    """Drop running headers, footers and page numbers: lines in the top or bottom
    margin that repeat (digits aside) on most pages, and bare page numbers there."""

    def margins(lines: list[str]) -> set[int]:
        n = len(lines)
        return set(range(min(_MARGIN_LINES, n))) | set(range(max(0, n - _MARGIN_LINES), n))

    counts = Counter(k for lines in pages for k in {_margin_key(lines[i]) for i in margins(lines)})
    running = {k for k, n in counts.items() if n >= max(2, math.ceil(len(pages) / 2))}
    return [
        [
            line
            for i, line in enumerate(lines)
            if i not in margins(lines) or (_margin_key(line) not in running and not _PAGE_NUMBER.match(line.strip()))
        ]
        for lines in pages
    ]


_MAX_BOOKMARKS = 10_000  # more is no table of contents a reader uses
_MAX_BOOKMARK_DEPTH = 6  # as many levels as Markdown marks
_MAX_PAGE_BOOKMARKS = 100


def _bookmarks(reader, budget: ReadBudget) -> dict[int, list[tuple[int, str]]]:
    """The PDF's outline (its bookmarks): per page index, (level, title) in order, level
    1 at the top. A damaged or hostile outline gives what could be read of it."""
    found: dict[int, list[tuple[int, str]]] = {}
    count = 0

    def walk(items: list, level: int) -> None:
        nonlocal count
        for item in items:
            if count >= _MAX_BOOKMARKS:
                return
            if isinstance(item, list):  # the children of the entry before
                if level < _MAX_BOOKMARK_DEPTH:
                    walk(item, level + 1)
                continue
            count += 1
            page = reader.get_destination_page_number(item)
            title = one_line(str(item.title or ""))
            if title and page is not None and page >= 0:
                found.setdefault(page, []).append((level, title))
        budget.check_time()

    try:
        walk(reader.outline, 1)
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - a damaged outline: the text is still worth reading
        pass
    return found


def _mark_bookmarked(lines: list[str], bookmarks: list[tuple[int, str]]) -> list[str]:
    """A page's lines with those its bookmarks name (in order; the title on one line or
    on two the layout wrapped) marked as headings: 「# 总体要求」. A bookmark whose title
    is not found on its page marks nothing; past _MAX_PAGE_BOOKMARKS a page's are not
    looked for (each costs a pass over the page)."""
    squashed = [_squash(line) for line in lines]
    marked: list[str | None] = list(lines)  # None: the second line of a wrapped heading
    at = 0
    for level, title in bookmarks[:_MAX_PAGE_BOOKMARKS]:
        want = _squash(title)
        for i in range(at, len(lines)):
            two = i + 1 < len(lines) and want == squashed[i] + squashed[i + 1]
            if want == squashed[i] or two:
                marked[i] = f"{'#' * level} {lines[i].strip()}{lines[i + 1].strip() if two else ''}"
                if two:
                    marked[i + 1] = None
                at = i + 2 if two else i + 1
                break
    return [line for line in marked if line is not None]


def _join_wrapped(lines: list[str]) -> list[str]:
    """Re-join lines that the page layout wrapped: a line as wide as a full line that
    does not close a sentence continues on the next, unless that starts a paragraph
    (indented) or either is an outline heading.

    A full line is as wide as the widest lines but a few (a stray wide line must not
    set the measure); a document without lines of some length has none, so that a
    list of short items is never run together.
    """
    widths = sorted((_width(line.strip()) for line in lines), reverse=True)
    full = widths[min(len(widths) - 1, max(2, len(widths) // 20))] if widths else 0
    out: list[list[str]] = []  # each paragraph's pieces, joined at the end (+= on a long one copies it)
    wrapped = False
    for line in lines:
        text = line.strip()
        if out and wrapped and line[:1] not in " \t\u3000" and not detect_heading(text):
            cjk = re.match(rf"[{CJK}\u3000-\u303f]", text) or re.search(rf"[{CJK}\u3000-\u303f]$", out[-1][-1])
            out[-1].append(("" if cjk else " ") + text)
        else:
            out.append([text])
        wrapped = (
            full >= _MIN_FULL_WIDTH
            and _width(text) >= _FULL_LINE * full
            and text[-1] not in PARAGRAPH_ENDS
            and not detect_heading(text)
        )
    return ["".join(pieces) for pieces in out]


def read_pdf(data: bytes, path: Path | str, limits: ReadLimits = ReadLimits()) -> Extracted:
    """The text layer of a PDF: pages in order, running headers, footers and page
    numbers dropped, lines wrapped by the layout joined again. Within `limits`: pypdf
    bounds what one stream may inflate to (75 MB), the pages and the text are counted
    here."""
    import pypdf
    from pypdf.errors import DependencyError, LimitReachedError

    logger = logging.getLogger("pypdf")
    level = logger.level
    # pypdf logs every repair it makes to a damaged file and every font it cannot map,
    # on stderr: the cause we raise, or the text we return, says enough.
    logger.setLevel(logging.CRITICAL)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(path, "encrypted PDF: it needs a password to open")
        if len(reader.pages) > limits.max_pages:
            raise InputError(path, f"{len(reader.pages):,} pages: more than the {limits.max_pages:,} this tool reads")
        budget = ReadBudget(path, limits)
        bookmarks = _bookmarks(reader, budget)
        properties = _info(reader)
        pages: list[str] = []
        numbers: list[int] = []  # each read page's index
        notes: list[str] = []
        content, heavy = 0, []  # heavy: (page number, MB) of the pages left out
        for number, page in enumerate(reader.pages, 1):
            budget.check_time()
            size = _content_bytes(page)
            if size > limits.max_page_content_bytes:
                heavy.append((number, size / 2**20))
                continue
            content += size
            if content > limits.max_pdf_content_bytes:
                notes.append(
                    f"pages {number}-{len(reader.pages)} left out: the pages before hold {limits.max_pdf_content_bytes / 2**20:.0f} MB of drawing instructions, all that is read"
                )
                break
            pages.append(budget.text(page.extract_text() or ""))
            numbers.append(number - 1)
    except InputError:
        raise
    except DependencyError:
        raise InputError(path, "encrypted PDF: decrypting it needs the 'cryptography' package") from None
    except LimitReachedError as e:
        raise InputError(path, f"a PDF bomb? {reason(e)}") from None
    except Exception as e:  # noqa: BLE001 - pypdf raises many kinds on damaged files
        raise InputError(path, f"not a readable PDF ({reason(e)})") from None
    finally:
        logger.setLevel(level)
    if heavy:
        most = max(mb for _, mb in heavy)
        notes.insert(
            0,
            f"{'page' if len(heavy) == 1 else 'pages'} {_ranges([n for n, _ in heavy])} left out: up to {most:.1f} MB "
            f"of drawing instructions each, over the {limits.max_page_content_bytes / 2**20:.0f} MB read",
        )
    page_lines = [[_CJK_SPACE.sub("", line.rstrip()) for line in page.splitlines() if line.strip()] for page in pages]
    lines = [
        line
        for number, page in zip(numbers, _drop_running_lines(page_lines), strict=True)
        for line in _mark_bookmarked(page, bookmarks.get(number, []))
    ]
    if not any(c.isalpha() for line in lines for c in line):
        raise InputError(path, "; ".join(["no text layer (a scanned PDF? run OCR first)", *notes]))
    return Extracted("\n".join(_join_wrapped(lines)), notes=tuple(notes), properties=properties)


def _info(reader) -> FileProperties:
    """Title, author and creation date from the document information dictionary."""
    try:
        info = reader.metadata or {}
        found = {key: one_line(str(info.get(key) or "")[:1000])[:200] or None for key in ("/Title", "/CreationDate", "/Author")}
    except Exception:  # noqa: BLE001 - a damaged dictionary says nothing, the text is still read
        return FileProperties()
    return FileProperties(found["/Title"], found["/CreationDate"], found["/Author"])


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 7 as "1-3, 7"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


def _content_bytes(page) -> int:
    """The inflated size of a page's content streams (pypdf bounds each inflation)."""
    contents = page.get_contents()
    return 0 if contents is None else len(contents.get_data())
