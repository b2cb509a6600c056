"""Bytes → raw text, one reader per format: plain text in any common Chinese encoding,
HTML (the main text only), .docx and .pdf.

The readers return raw text with one paragraph, heading or table row per line; the load
stage cleans it. Every failure is an InputError with a one-line cause: format libraries
raise all kinds of exceptions on malformed files, and a batch must be able to report a
bad file and go on. Format libraries are imported inside their reader, so that start-up
does not pay for formats it does not read.
"""

from __future__ import annotations

import codecs
import io
import itertools
import logging
import math
import posixpath
import re
import time
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NoReturn

from retriever.config import ENV_MAX_CHARS, ReadLimits, max_document_chars
from retriever.errors import InputError, TooMuchText
from retriever.text.outline import detect_heading
from retriever.text.punctuation import PARAGRAPH_ENDS
from retriever.text.words import for_matching, load_jieba

# --- text encodings ----------------------------------------------------------------

# Share of decoded characters that must be ordinary text for a legacy-encoding guess to
# stand: arbitrary bytes often decode without error, but into rare characters.
_PLAUSIBLE_SHARE = 0.9
# What Chinese text is made of: whitespace, ASCII, Latin-1 (·, °, ×), general
# punctuation, currency signs (€), number forms and arrows (Ⅰ, →), enclosed numbers (①), box drawing and
# shapes (■, ☆), CJK punctuation, kana (Japanese names), enclosed CJK (㈠), ideographs
# (extensions A to H too) and full-width forms.
_ORDINARY = re.compile(
    r"[\s -~\u00a0-\u00ff\u2010-\u206f\u20a0-\u20cf\u2150-\u21ff\u2460-\u27bf\u3000-\u30ff\u3200-\u32ff"
    r"\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef\U00020000-\U0003ffff]"
)
# Big5 as Python's big5 codec maps it (the standard table), then the supersets that
# Windows (cp950: €, a few extra characters) and Hong Kong (HKSCS) files use.
_BIG5_FAMILY = ("big5", "cp950", "big5hkscs")
# Declared charsets that GB18030 (a superset of GB2312 and GBK) reads correctly.
_GB_FAMILY = frozenset({"gb2312", "gbk", "gb18030", "cp936", "x-gbk", "euc-cn", "x-euc-cn"})
_BIG5_NAMES = frozenset({"big5", "big5-hkscs", "big5hkscs", "cp950", "x-x-big5", "ms950"})
# Characters scored for the encoding guess: at most this many (plenty to decide).
_SCORE_CHARS = 3000
_HAN = re.compile(r"[\u4e00-\u9fd5]")  # the range jieba's dictionary covers
# Common Chinese punctuation: as likely as a common character. A wrong decoding turns
# the punctuation of the right one into kana, symbols or rare ideographs.
_COMMON_PUNCT = frozenset("，。、；：？！“”‘’（）《》〈〉「」『』【】—…·．％～／\u3000")
_PUNCT_LOGP = -7.0  # about the log-probability of a common character in jieba's model


def _decode_strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _decode_big5(data: bytes) -> str | None:
    for encoding in _BIG5_FAMILY:
        text = _decode_strict(data, encoding)
        if text is not None:
            return text
    return None


def _plausible(text: str) -> bool:
    # Counted by what removing them leaves: findall made a list of every character.
    ordinary = len(text) - len(_ORDINARY.sub("", text))
    return ordinary >= _PLAUSIBLE_SHARE * len(text)


@lru_cache(maxsize=1)
def _word_model():
    """jieba's word frequencies (its dictionary loads once per process, ~0.6 s)."""
    jieba = load_jieba()
    if not jieba.dt.initialized:
        jieba.initialize()
    return jieba, jieba.dt.FREQ, math.log(jieba.dt.total)


def language_score(text: str) -> float:
    """How much `text` reads like Chinese: the mean log-probability per character under
    jieba's word-frequency model, after converting traditional to simplified.

    Real text segments into frequent, mostly multi-character words; a wrong decoding
    of the same bytes gives rare characters that stand alone as improbable one-character
    words. ASCII is left out: every candidate decodes it alike.
    """
    jieba, freq, log_total = _word_model()
    sample = for_matching("".join(itertools.islice((c for c in text if not c.isascii() or c.isspace()), _SCORE_CHARS)))
    total, n = 0.0, 0
    for word in jieba.lcut(sample, HMM=False):
        if _HAN.search(word):
            total += math.log(freq.get(word) or 1) - log_total
            n += len(word)
        else:
            for c in word:
                if not c.isspace():
                    total += _PUNCT_LOGP if c in _COMMON_PUNCT else -log_total
                    n += 1
    return total / n if n else 0.0


def _candidates(data: bytes) -> dict[str, str]:
    """The plausible decodings of bytes that are neither UTF-8 nor marked by a BOM.

    NUL bytes occur in no legacy Chinese encoding: with them the bytes can only be
    BOM-less UTF-16, whose ASCII characters (a newline will do) have a NUL high byte.
    UTF-16 without a single ASCII character is not recognised: it is rare, and its
    bytes also decode as GB18030 or Big5 into a mix of ASCII and ideographs that no
    score tells reliably from real text.
    """
    if b"\x00" in data:
        found = {enc: _decode_strict(data, enc) for enc in ("utf-16-le", "utf-16-be")} if len(data) % 2 == 0 else {}
    else:
        found = {"gb18030": _decode_strict(data, "gb18030"), "big5": _decode_big5(data)}
    return {enc: text for enc, text in found.items() if text and "\x00" not in text and _plausible(text)}


def guess_encoding(data: bytes) -> tuple[str, str] | None:
    """(encoding, text) of bytes that are neither UTF-8 nor marked by a BOM: GB18030,
    Big5 or BOM-less UTF-16, whichever decoding reads most like Chinese; None if no
    decoding is plausible text.

    GB18030 decodes almost any Big5 byte string without error and Big5 decodes many GB
    strings, so decoding alone cannot tell them apart: the words can.
    """
    candidates = _candidates(data)
    if not candidates:
        return None
    if len(candidates) == 1:
        return next(iter(candidates.items()))
    # max() keeps the first of equal scores: GB18030, the most common legacy encoding.
    best = max(candidates, key=lambda enc: language_score(candidates[enc]))
    return best, candidates[best]


def _codec_for(charset: str) -> str | None:
    name = charset.strip().lower()
    if name in _GB_FAMILY:
        return "gb18030"
    if name in _BIG5_NAMES:
        return "big5"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _without_cut_tail(data: bytes, encoding: str, error: UnicodeDecodeError, notes: list[str] | None) -> str | None:
    """The text of a file cut short inside its last character (a download or a copy
    that stopped early): all but the incomplete character, with a note saying so.
    None if the error is anywhere else."""
    if error.end != len(data) or error.reason not in ("unexpected end of data", "truncated data"):
        return None
    if notes is not None:
        n = len(data) - error.start
        notes.append(f"the file ends inside a character (cut short?): its last {n} byte{'s' * (n > 1)} were left out")
    return data[: error.start].decode(encoding)


def decode(data: bytes, path: Path | str, declared: str | None = None, notes: list[str] | None = None) -> str:
    """Decode a text file: a BOM (UTF-8, UTF-16, UTF-32) decides; else UTF-8; else the
    `declared` charset (an HTML page's); else GB18030, Big5 or BOM-less UTF-16, chosen by
    which decoding reads most like Chinese. Traditional text stays as written. A file
    cut inside its last character is read without it; `notes` gets a line saying so.
    """
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as e:
                text = _without_cut_tail(data[len(bom) :], encoding, e, notes)
                if text is not None:
                    return text
                name = encoding.upper().removesuffix("-LE").removesuffix("-BE")
                raise InputError(path, f"invalid {name} at byte {len(bom) + e.start}") from None
    if b"\x00" in data:
        guess = guess_encoding(data)
        if guess is None:
            raise InputError(path, "binary file (contains NUL bytes), not text")
        return guess[1]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        utf8_error = e
    text = _without_cut_tail(data, "utf-8", utf8_error, notes)
    if text is not None:
        return text
    codec = _codec_for(declared) if declared else None
    if codec:
        text = _decode_big5(data) if codec == "big5" else _decode_strict(data, codec)
        if text is not None:
            return text
    guess = guess_encoding(data)
    if guess:
        return guess[1]
    bad = data[utf8_error.start : utf8_error.start + 1].hex()
    raise InputError(
        path,
        f"cannot decode: not UTF-8 (byte 0x{bad} at offset {utf8_error.start}) and not GB18030 or Big5 text; convert it to UTF-8",
    )


# --- what the readers return -------------------------------------------------------


@dataclass(frozen=True)
class Extracted:
    """Raw text, one paragraph, heading or table row per line, and a title if the
    format names one (an HTML page's <h1> or <title>, a .docx Title paragraph)."""

    text: str
    title: str | None = None
    notes: tuple[str, ...] = ()  # what was repaired on the way (a character cut off at the end)


# What a library's message may hold of this process's memory: an object's address
# (「at 0x7f…」) or pypdf's IndirectObject(5, 0, 140077810786320), whose third number
# is the id() of the reader. Neither is the user's business, nor an attacker's.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|(IndirectObject\(\d+, \d+), \d+\)")


def reason(e: Exception) -> str:
    """The first line of an exception, for a one-line cause, without memory addresses."""
    message = str(e).strip().splitlines()[0] if str(e).strip() else ""
    message = _ADDRESS.sub(lambda m: f"{m.group(1)})" if m.group(1) else "", message)[:300]
    return f"{type(e).__name__}: {message}" if message else type(e).__name__


# Magic numbers that tell a file's format whatever its name says.
_PDF_MAGIC = b"%PDF-"
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc/.xls/.ppt, and password-protected .docx
_HTML_START = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL
)


def sniff(data: bytes) -> str:
    """The format of bytes without a name: "pdf", "docx", "ole", "html" or "text"."""
    if data.startswith(_PDF_MAGIC):
        return "pdf"
    if data.startswith(_ZIP_MAGIC):
        return "docx"
    if data.startswith(_OLE_MAGIC):
        return "ole"
    return "html" if _HTML_START.match(data[:1024].removeprefix(codecs.BOM_UTF8)) else "text"


def refuse_ole(path: Path | str) -> NoReturn:
    raise InputError(
        path,
        "a legacy Office file (.doc/.xls/.ppt) or a password-protected .docx: save it as .docx without a password",
    )


# --- HTML --------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")

# Never rendered: dropped before anything is measured.
_UNRENDERED = ("script", "style", "noscript", "template", "head", "title", "meta", "link", "base")
# Page chrome by element: navigation, page header and footer, sidebars, forms, embeds.
_CHROME_TAGS = frozenset(
    {"nav", "aside", "footer", "menu", "form", "button", "select", "input", "textarea", "label",
     "dialog", "iframe", "frame", "frameset", "object", "embed", "svg", "canvas", "math",
     "audio", "video", "map", "datalist", "option"}
)  # fmt: skip
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"})
# Page chrome by class or id: whole words of the class/id names (nav, top-menu, share_box,
# commentList...), matched in lower case once camelCase is split. Header-like names are
# chrome only outside <article>/<main>, where an article's own header holds its title.
_NAME_WORD = r"(?:^|(?<=[\s_-]))(?:{})\d*(?=$|[\s_-])"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CHROME_NAME = re.compile(
    _NAME_WORD.format(
        "nav|navbar|navigation|menus?|submenu|footer|foot|sidebar|side|aside|breadcrumbs?|crumbs?|bread|"
        "position|location|share|sharing|social|comments?|reply|related|recommend|hot|popular|rank|"
        "ads?|advert|advertisement|banner|toolbar|tools?|print|copyright|login|search|subscribe|"
        "qr|qrcode|ewm|pager|pagination|friendlink|links|bottom|editor|meta|byline|source|info"
    )
)
_HEADER_NAME = re.compile(_NAME_WORD.format("header|head|top|topbar|masthead|logo"))
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
# A block of at least this many links whose text is mostly link text is a menu or a
# list of other articles.
_LINK_LIST_MIN = 3
_LINK_SHARE = 0.5
# Elements whose start and end break the line.
_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog",
     "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
     "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre",
     "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul"}
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_HEADINGS = {f"h{n}": "#" * n + " " for n in range(1, 7)}
_BREAK = "\u2029"  # stands for a line break until whitespace is collapsed
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"
# A source line break between two CJK characters is layout (browsers show nothing there);
# elsewhere it is a space.
_CJK_NEWLINE = re.compile(rf"(?<=[{_CJK}])[ \t\r\n\f]*\n[ \t\r\n\f]*(?=[{_CJK}])")
_WHITESPACE = re.compile(r"[ \t\r\n\f]+")
# Chrome lines that no element marks: breadcrumbs (当前位置:首页 > …), button rows
# (【打印】【关闭】), font-size pickers, publishing meta and credits (发布日期:… 点击数:…,
# 审核:…) and the site footer (版权所有, ICP备…, 主办:…). Short lines only: body text is
# longer.
_HTML_CHROME_LINE_MAX = 100
_HTML_CHROME_LINE = re.compile(
    r"^(?:(?:当前|您的|您当前的|您现在的|现在|所在)位置\s*[:：]|字号\s*[:：]|(?:\s*[【\[][^】\]]{1,8}[】\]])+\s*$"
    r"|(?:发布|发文|更新|发表)(?:日期|时间)\s*[:：]|(?:责编|审核|初审|复审|终审|校对|监制|排版|美编)\s*[:：])"
    r"|(?:点击数|点击量|浏览量|浏览次数|阅读数|阅读量|访问量)\s*[:：]"
    r"|版权所有|copyright|©|ICP备|ICP证|公网安备|网站标识码|技术支持\s*[:：]|(?:主办|承办)(?:单位)?\s*[:：]",
    re.IGNORECASE,
)
# <title> often carries the site name: 「标题_某某县人民政府」, 「标题 - 新华网」.
_TITLE_SEPARATOR = re.compile(r"\s*[_|｜]\s*|\s+[-–—]+\s+")


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML page declares (<meta charset>, http-equiv or XML declaration)."""
    head = data[:4096]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii") if m else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Measure:
    """Text and link-text lengths of every element, counted once, bottom up."""

    def __init__(self, root) -> None:
        from lxml import etree

        self.text: dict = {}
        self.links: dict = {}
        self.n_links: dict = {}
        for _, el in etree.iterwalk(root, events=("end",)):
            own = _visible_len(el.text) + sum(_visible_len(child.tail) for child in el)
            text = own + sum(self.text[child] for child in el)
            self.text[el] = text
            if el.tag == "a":
                self.links[el], self.n_links[el] = text, 1
            else:
                self.links[el] = sum(self.links[child] for child in el)
                self.n_links[el] = sum(self.n_links[child] for child in el)

    def plain(self, el) -> int:
        """Characters of text outside links."""
        return self.text.get(el, 0) - self.links.get(el, 0)


def _visible_len(s: str | None) -> int:
    return len(s) - sum(1 for c in s if c.isspace()) if s else 0


def _anchor(root, measure: _Measure):
    """The innermost element that holds most of the text outside links: the article
    body on any page whose article is longer than its chrome. It and its ancestors are
    never dropped as chrome (an ASP.NET page wraps everything in a <form>)."""
    node = root
    while True:
        children = [c for c in node if isinstance(c.tag, str)]
        if not children:
            return node
        best = max(children, key=measure.plain)
        if measure.plain(best) * 2 < measure.plain(node) or not measure.plain(best):
            return node
        node = best


def _is_main(el) -> bool:
    return el.tag in ("article", "main") or el.get("role") == "main" or el.get("itemprop") == "articleBody"


def _content_root(body, anchor, measure: _Measure):
    """The element that holds the article: the innermost <article>/<main> (or role=main,
    itemprop=articleBody) around the main text; else the page's only <main> or only
    <article>, if it has text; else the whole body. Several <article>s away from the
    main text are teaser cards, not the article."""
    for el in [anchor, *anchor.iterancestors()]:
        if el is body:
            break
        if _is_main(el):
            return el
    for tag in ("main", "article"):
        found = list(body.iter(tag))
        if len(found) == 1 and measure.plain(found[0]):
            return found[0]
    return body


def _is_chrome(el, measure: _Measure, in_article: bool) -> bool:
    tag = el.tag
    if tag in _CHROME_TAGS or el.get("role") in _CHROME_ROLES:
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true" or _HIDDEN_STYLE.search(el.get("style", "")):
        return True
    names = _CAMEL.sub(" ", f"{el.get('class', '')} {el.get('id', '')}").lower()
    if _CHROME_NAME.search(names):
        return True
    if not in_article and (tag == "header" or _HEADER_NAME.search(names)):
        return True
    n_links = measure.n_links.get(el, 0)
    return n_links >= _LINK_LIST_MIN and measure.links[el] >= _LINK_SHARE * measure.text[el]


def _render(root) -> list[str]:
    """The text of `root`: block elements and <br> break lines, table cells are
    separated by tabs, inline elements run on; whitespace collapses as a browser shows it."""
    from lxml import etree

    parts: list[str] = []
    pre = 0
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag
        if event == "start":
            if tag in _BLOCKS or tag == "br":
                parts.append(_BREAK)
            elif tag in _CELLS:
                parts.append("\t")
            if tag in _HEADINGS and not pre:
                parts.append(_HEADINGS[tag])  # marked as Markdown marks it: the outline reads it so
            if tag == "pre":
                pre += 1
            if el.text and tag != "br":
                parts.append(el.text.replace("\n", _BREAK) if pre else el.text)
        else:
            if tag == "pre":
                pre -= 1
            if tag in _BLOCKS:
                parts.append(_BREAK)
            if el.tail and el is not root:
                parts.append(el.tail.replace("\n", _BREAK) if pre else el.tail)
    text = _WHITESPACE.sub(" ", _CJK_NEWLINE.sub("", "".join(parts)))
    lines = (line.strip() for line in text.split(_BREAK))
    return [
        line
        for line in lines
        if line.strip("# ")  # an empty heading leaves its marks alone
        and not (len(line) <= _HTML_CHROME_LINE_MAX and _HTML_CHROME_LINE.search(line.lstrip("# ")))
    ]


def _head_title(root) -> str | None:
    """The page's title as its head names it: og:title, else <title> without the site name."""
    for meta in root.iter("meta"):
        if meta.get("property") == "og:title" and meta.get("content", "").strip():
            return _one_line(meta.get("content"))
    for el in root.iter("title"):
        parts = [p for p in _TITLE_SEPARATOR.split(_one_line(el.text_content())) if p]
        if parts:
            # The title comes first; a very short first part is a section (「新闻 - 标题」).
            return max(parts[:2], key=len) if len(parts[0]) < 4 else parts[0]
    return None


def read_html(data: bytes, path: Path | str, limits: ReadLimits = ReadLimits()) -> Extracted:
    """The main text of a web page: navigation, headers, footers, sidebars, share and
    comment widgets, scripts, styles and forms left out."""
    import lxml.html
    from lxml import etree

    tags = data.count(b"<")
    if tags > limits.max_tags:
        raise InputError(path, f"over {limits.max_tags:,} tags ({tags:,}): not a page this tool reads")
    notes: list[str] = []
    text = _XML_DECLARATION.sub("", decode(data, path, declared_charset(data), notes), count=1)
    if not text.strip():
        raise InputError(path, "empty file")
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError) as e:
        raise InputError(path, f"not a readable HTML page ({reason(e)})") from None
    head_title = _head_title(root)  # before <head> goes
    etree.strip_elements(root, etree.Comment, etree.ProcessingInstruction, *_UNRENDERED, with_tail=False)
    body = root.find("body")
    if body is None:
        body = root
    measure = _Measure(body)
    anchor = _anchor(body, measure)
    content = _content_root(body, anchor, measure)
    in_article = content is not body
    if not any(a is content for a in anchor.iterancestors()) and anchor is not content:
        anchor = _anchor(content, measure)
    keep = {anchor, *anchor.iterancestors()}
    for el in list(content.iter()):
        if el in keep or not isinstance(el.tag, str) or el.getparent() is None:
            continue
        # Skip what an earlier drop took away with its ancestor.
        if not any(a is content for a in el.iterancestors()):
            continue
        if _is_chrome(el, measure, in_article):
            el.drop_tree()
    # The first <h1> of the main text names the article better than <title>.
    h1 = next((t for t in (_one_line(h.text_content()) for h in content.iter("h1")) if t), None)
    return Extracted("\n".join(_render(content)), h1 or head_title, tuple(notes))


# --- .docx -------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Subtrees whose text is not the paragraph's own: deleted revisions, text boxes (their
# paragraphs are their own), the fallback copy of alternate content; and properties,
# which hold no text.
_DOCX_SKIP = frozenset({f"{_W}del", f"{_W}txbxContent", _MC_FALLBACK, f"{_W}pPr", f"{_W}rPr"})
_DOCX_TITLE_STYLE = re.compile(r"^(?:title|标题)$", re.IGNORECASE)
# Word's heading styles by name (stored in English whatever Word shows, but some tools
# write localized names): "heading 2", "标题 2".
_DOCX_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)
_BODY_TEXT_LEVEL = 9  # w:outlineLvl 9: body text, no heading


@dataclass(frozen=True)
class _Style:
    name: str
    outline_level: int | None  # 0 for a top heading (Heading 1), None where the style sets none
    based_on: str | None


def _paragraph_style(paragraph, styles: dict[str, _Style]) -> _Style | None:
    style_id = paragraph.find(f"{_W}pPr/{_W}pStyle")
    return styles.get(style_id.get(f"{_W}val", "")) if style_id is not None else None


def _heading_level(paragraph, style: _Style | None, styles: dict[str, _Style]) -> int | None:
    """A paragraph's heading level (1 for Heading 1), by its own outline level, else its
    style's or the style it is based on, else the style's name; None for body text.
    Many Word documents mark their headings so, without numbers in the text."""
    own = paragraph.find(f"{_W}pPr/{_W}outlineLvl")
    if own is not None:
        level = _int_or_none(own.get(f"{_W}val"))
        return level + 1 if level is not None and level < _BODY_TEXT_LEVEL else None
    current = style
    for _ in range(10):  # a chain of based-on styles; a loop in a hostile file ends here
        if current is None:
            return None
        if current.outline_level is not None:
            return current.outline_level + 1 if current.outline_level < _BODY_TEXT_LEVEL else None
        named = _DOCX_HEADING_STYLE.match(current.name.strip())
        if named:
            return int(named.group(1))
        current = styles.get(current.based_on) if current.based_on else None
    return None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _paragraph_text(p) -> str:
    parts: list[str] = []
    stack = [p]
    while stack:
        el = stack.pop()
        tag = el.tag
        if tag == f"{_W}t":
            parts.append(el.text or "")
        elif tag == f"{_W}tab":
            parts.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
        if tag not in _DOCX_SKIP:
            stack.extend(reversed([c for c in el if isinstance(c.tag, str)]))
    return "".join(parts)


def _docx_blocks(parent):
    """Paragraphs and tables in document order, through content controls."""
    for el in parent:
        if el.tag in (f"{_W}p", f"{_W}tbl"):
            yield el
        elif el.tag in (f"{_W}sdt", f"{_W}customXml"):
            content = el.find(f"{_W}sdtContent")
            yield from _docx_blocks(content if content is not None else el)


def _table_rows(tbl) -> list[str]:
    """One line per row, its non-empty cells separated by tabs. A merged cell is one
    cell; a nested table's rows are part of their cell's text."""
    rows = []
    for tr in tbl.iter(f"{_W}tr"):
        if next(tr.iterancestors(f"{_W}tbl")) is not tbl:
            continue
        cells = []
        for tc in tr.iter(f"{_W}tc"):
            if next(tc.iterancestors(f"{_W}tr")) is not tr:
                continue
            # A cell's paragraphs (and nested tables) run together in one cell.
            text = " ".join(t for t in (_one_line(_paragraph_text(p)) for p in tc.iter(f"{_W}p")) if t)
            if text:
                cells.append(text)
        if cells:
            rows.append("\t".join(cells))
    return rows


class ReadBudget:
    """What reading one file has cost so far: characters of text, paragraphs or rows,
    seconds. Each reader counts as it goes, so that a hostile file is refused when it
    passes a bound (config.ReadLimits), not after it has filled the memory."""

    def __init__(self, path: Path | str, limits: ReadLimits = ReadLimits()):
        self.path, self.limits = path, limits
        self.max_chars = max_document_chars(limits.max_chars)
        self.chars = self.blocks = 0
        self.deadline = time.monotonic() + limits.max_seconds

    def text(self, text: str) -> str:
        self.chars += len(text)
        if self.chars > self.max_chars:
            raise TooMuchText(self.path, self.max_chars, ENV_MAX_CHARS)
        return text

    def block(self, what: str) -> None:
        self.blocks += 1
        if self.blocks > self.limits.max_blocks:
            raise InputError(self.path, f"more than {self.limits.max_blocks:,} {what}: not a document this tool reads")
        if self.blocks % 1024 == 1:  # the clock costs more than a paragraph
            self.check_time()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise InputError(self.path, f"reading it took over {self.limits.max_seconds:.0f} s: given up")


_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_OFFICE_DOCUMENT = "/officeDocument"
_STYLES = "/styles"
# What the main part's folder says an Office archive is, when it is not Word.
_NOT_WORD = {"xl": "an Excel workbook (.xlsx)", "ppt": "a PowerPoint presentation (.pptx)"}


def _check_inflation(archive: zipfile.ZipFile, names: list[str], path: Path | str, limits: ReadLimits) -> None:
    """Refuse a zip bomb before anything is inflated: the parts to read must not claim
    more than limits.max_inflated_bytes in all, nor inflate more than
    limits.max_inflate_ratio times. zipfile never inflates a part beyond the size it
    claims (and checks the CRC), so the claims bound what reading costs."""
    infos = [archive.getinfo(name) for name in names]
    total = sum(i.file_size for i in infos)
    if total > limits.max_inflated_bytes:
        raise InputError(
            path,
            f"a zip bomb? its text parts would inflate to {total / 2**20:,.0f} MB "
            f"(the limit is {limits.max_inflated_bytes / 2**20:.0f} MB)",
        )
    for i in infos:
        if i.file_size > limits.inflate_grace_bytes and i.file_size > limits.max_inflate_ratio * max(1, i.compress_size):
            raise InputError(
                path,
                f"a zip bomb? {i.filename} inflates {i.file_size / max(1, i.compress_size):,.0f} times "
                f"(to {i.file_size / 2**20:,.0f} MB; real documents: under {limits.max_inflate_ratio})",
            )


def _part_target(archive: zipfile.ZipFile, rels: str, kind: str, base: str) -> str | None:
    """The part a relationships file points to for `kind` (a type URI ending), as a
    name in the archive."""
    from lxml import etree

    try:
        root = etree.fromstring(archive.read(rels))
    except (KeyError, etree.XMLSyntaxError):
        return None
    for rel in root.iter(_RELS):
        if rel.get("Type", "").endswith(kind) and rel.get("TargetMode") != "External":
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
    return None


def _docx_parts(archive: zipfile.ZipFile, path: Path | str) -> tuple[str, str | None]:
    """The names of the main document part and of its styles."""
    main = _part_target(archive, "_rels/.rels", _OFFICE_DOCUMENT, "")
    if main is None:
        main = "word/document.xml"
    folder = main.split("/")[0]
    if folder in _NOT_WORD:
        raise InputError(path, f"{_NOT_WORD[folder]}, not a Word document: not supported (formats: .txt .md .html .docx .pdf)")
    if main not in archive.namelist():
        raise InputError(path, "not a readable .docx file (a zip archive without a Word document in it)")
    directory, name = posixpath.split(main)
    styles = _part_target(archive, f"{directory}/_rels/{name}.rels", _STYLES, directory)
    return main, styles if styles in archive.namelist() else None


def _styles(archive: zipfile.ZipFile, part: str | None) -> dict[str, _Style]:
    """The document's paragraph styles by id: name, outline level, the style each is based on."""
    from lxml import etree

    if part is None:
        return {}
    styles = {}
    for _, style in etree.iterparse(archive.open(part), tag=f"{_W}style"):
        name, level, based = style.find(f"{_W}name"), style.find(f"{_W}pPr/{_W}outlineLvl"), style.find(f"{_W}basedOn")
        styles[style.get(f"{_W}styleId", "")] = _Style(
            name.get(f"{_W}val", "") if name is not None else "",
            _int_or_none(level.get(f"{_W}val")) if level is not None else None,
            based.get(f"{_W}val") if based is not None else None,
        )
        style.clear()
    return styles


def _body_blocks(stream, budget: ReadBudget):
    """The children of <w:body>, one at a time, each dropped once used: the body is
    parsed as a stream, so memory holds one paragraph or table, not the document."""
    from lxml import etree

    depth = inside = 0
    for event, el in etree.iterparse(stream, events=("start", "end")):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        inside += 1
        if inside > budget.limits.max_block_elements:  # one paragraph or table, held whole until it ends
            raise InputError(
                budget.path,
                f"a paragraph or table of over {budget.limits.max_block_elements:,} XML elements: not a document this tool reads",
            )
        if depth == 2:  # <w:document> is depth 1, <w:body> 2: its children end at 2
            budget.block("paragraphs")
            inside = 0
            yield el
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]


def read_docx(data: bytes, path: Path | str, limits: ReadLimits = ReadLimits()) -> Extracted:
    """Paragraphs and table rows (cells separated by tabs) of a Word document, in order;
    headers, footers, comments and deleted revisions left out. Read as a stream, within
    `limits` (a zip bomb is refused before it is inflated)."""
    from lxml import etree

    if data.startswith(_OLE_MAGIC):
        refuse_ole(path)
    if not data.startswith(_ZIP_MAGIC):
        raise InputError(path, "not a .docx file (not a zip archive)")
    budget = ReadBudget(path, limits)
    lines: list[str] = []
    title = None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            main, styles_part = _docx_parts(archive, path)
            _check_inflation(archive, [main, *([styles_part] if styles_part else [])], path, limits)
            styles = _styles(archive, styles_part)
            for element in _body_blocks(archive.open(main), budget):
                for block in _docx_blocks([element]):
                    if block.tag == f"{_W}tbl":
                        lines.extend(budget.text(row) for row in _table_rows(block))
                        continue
                    text = budget.text(_paragraph_text(block))
                    style = _paragraph_style(block, styles)
                    if title is None and text.strip() and style and _DOCX_TITLE_STYLE.match(style.name.strip()):
                        title = _one_line(text)
                    level = _heading_level(block, style, styles) if text.strip() else None
                    # A heading marked by its style is written as Markdown marks it: the
                    # outline reads it as it reads a .md file's.
                    lines.append(f"{'#' * min(level, 6)} {_one_line(text)}" if level else text)
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, etree.XMLSyntaxError, KeyError, OSError, EOFError, ValueError) as e:
        raise InputError(path, f"not a readable .docx file ({reason(e)})") from None
    return Extracted("\n".join(lines), title)


# --- PDF ---------------------------------------------------------------------------

# Lines looked at for running headers and footers at the top and bottom of each page.
_MARGIN_LINES = 3
_PAGE_NUMBER = re.compile(
    r"^(?:[-—–\s]*\d+[-—–\s]*|第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|\d+\s*/\s*\d+|page\s*\d+(?:\s*of\s*\d+)?)$",
    re.IGNORECASE,
)
# Spaces that PDF text extraction puts between CJK characters (letter-spaced titles,
# character spacing) are not in the text.
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}\u3000-\u303f]) +(?=[{_CJK}\u3000-\u303f])")
# A line this close to the full line width was wrapped by the layout.
_FULL_LINE = 0.9
_MIN_FULL_WIDTH = 30  # columns (a CJK character is two): shorter "full" lines are a list


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _margin_key(line: str) -> str:
    return re.sub(r"\d+", "0", re.sub(r"\s+", "", line))


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
            cjk = re.match(rf"[{_CJK}\u3000-\u303f]", text) or re.search(rf"[{_CJK}\u3000-\u303f]$", out[-1][-1])
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
        pages: list[str] = []
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
    lines = [line for page in _drop_running_lines(page_lines) for line in page]
    if not any(c.isalpha() for line in lines for c in line):
        raise InputError(path, "; ".join(["no text layer (a scanned PDF? run OCR first)", *notes]))
    return Extracted("\n".join(_join_wrapped(lines)), notes=tuple(notes))


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
