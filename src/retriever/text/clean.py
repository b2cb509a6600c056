"""Clean scraped text: remove site chrome and paywall junk, normalize whitespace,
re-join lines broken mid-sentence.

The rules describe *kinds* of junk that Chinese content sites add (paywall notices,
contact and share prompts, navigation, disclaimers, reading-time meta lines, counters,
URLs, mail addresses), not the strings of particular pages. Each rule is named so that
tests can exercise it alone. The output of `clean` is the document text that passages
and summaries point into: their offsets index this string.
"""

from __future__ import annotations

import re
import unicodedata

from retriever.text.numerals import ARABIC, UNITS, alternation
from retriever.text.outline import (
    MAX_HEADING_CHARS,
    MAX_STANDALONE_CHARS,
    MAX_STRUCTURAL_HEADING_CHARS,
    detect_heading,
    is_toc_marker,
)
from retriever.text.punctuation import BULLETS, COMMAS, ENUMERATION_COMMA, FULL_STOPS, PARAGRAPH_ENDS, char_class
from retriever.text.words import cut

# --- character level -------------------------------------------------------------

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
# Control characters except tab and newline.
_CONTROL = re.compile("[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]")
# Terminal colour and cursor codes (ESC [ … m) in logs and captured output: the whole
# sequence goes, not just the ESC, or 「[31m」 would be left in the text.
_ANSI = re.compile(r"\x1b\[[0-9;?]{0,16}[A-Za-z]")
_SPACES = re.compile("[ \t\u00a0\u2000-\u200a\u202f\u205f]+")

# --- inline junk (may sit inside a content line or span a broken line) -------------

# ASCII only: Chinese text runs straight into a URL (「某某网gw.example.com」), and
# ASCII commas and brackets are common separators in Chinese web text.
_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#@!$&*+=%]+", re.IGNORECASE)
# A bare domain is junk on a short chrome line (「某某写作网gw.example.com」) but may be
# a name in running text (「销售网站Getchu.com的销量榜」): removed on short lines only.
_BARE_DOMAIN = re.compile(
    r"(?<![A-Za-z0-9\-.])[A-Za-z0-9][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)*"
    r"\.(?:com|cn|net|org|cc|info|top|vip|xyz)(?![A-Za-z0-9])(?:/[A-Za-z0-9\-._~/?=&%#]*)?",
    re.IGNORECASE,
)
# Runs below are bounded ({1,64}, {0,200}): unbounded, a long line without the
# anchor (48,000 characters without punctuation) took the regex engine 19 s.
_EMAIL = re.compile(r"[A-Za-z0-9.+_\-]{1,64}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# 收藏《标题》 and 分享《标题》: bookmark prompts that repeat the page title.
_BOOKMARK = re.compile(r"(?:加入)?(?:收藏|分享)\s*《[^》\n]{1,80}》")
# Paywall and truncation notices: 「此处省略40%,请登录会员,阅读正文所有内容」,
# 「……(某某网省略877字,正式会员可完整阅读)……」, 「(未完,全文共4678字,当前仅显示2464字…)」,
# 「……试读结束……」. A keyword anchors the match; it runs to the closing bracket or the
# end of the sentence, across a line break if the site broke the line.
# Keys are phrases that only paywalls use, so that real text is never cut.
_PAYWALL_KEY = (
    r"(?:省略\s*\d+\s*[%％字]|全文共\s*\d+\s*字|当前仅显示|仅显示\s*\d+\s*字|试读结束|未完待续|[(（]\s*未完"
    r"|请\s*登录\s*会员|登录\s*后\s*(?:查看|阅读)全文|开通\s*VIP)"
)
_PAYWALL = re.compile(
    # Either inside a bracket (「(某某网省略877字…)」) or right after 此处/以下, never
    # reaching back over text before it.
    r"(?:[…\.·]{2,12}\s*)?(?:[(（][^\n()（）]{0,30}?|(?:此处|以下|下文|后面)?)" + _PAYWALL_KEY + r"[^()（）]{0,60}?"
    r"(?:[)）]|[。！!]|[…\.·]{2,}|\n\n|$)(?:\s*[…\.·]{2,})?",
)
# Site search hints such as 「(可搜索其他更多资料)」.
_SITE_HINT = re.compile(r"[(（][^()（）\n]{0,20}(?:可搜索|搜索更多|更多资料|更多范文|更多精彩)[^()（）\n]{0,20}[)）]")
# A repost site's notice that it "collected this for you" (「以下是网友为您整理分享的“…”相关范文,
# 供您参考!」) goes with everything before it on its line: the site puts its own generated
# summary of the text there. What follows on the line is the text.
_REPOST = re.compile(
    r"^[^\n]{0,400}?(?:(?:网友|小编|本站)?为(?:您|大家)(?:精心)?(?:整理|收集|搜集|精选)|相关范文)[^。！？!?\n]{0,200}[。！？!?]*",
    re.MULTILINE,
)
# Blurbs that introduce a reposted text, where they share a line with text.
_BLURB = re.compile(r"[^。！？!?\n]{0,200}(?:为您整理|为大家整理|供您参考|供大家参考|相关范文)[^。！？!?\n]{0,200}[。！？!?]?")
# Runs of three or more quote marks left over from page markup.
_QUOTE_RUN = re.compile(r"[\"“”'‘’]{3,}")

# --- whole lines ------------------------------------------------------------------

# Chrome that sits on a short line of its own: navigation, share and follow prompts,
# reading meta, site slogans. A content line that merely mentions 分享 is longer.
_CHROME_LINE_MAX = 80
_CHROME = re.compile(
    r"^\s*(?:上一篇|下一篇|上一页|下一页|返回列表|返回首页|相关推荐|推荐阅读|相关文章|热门文章|猜你喜欢|精选图文|"
    r"更多推荐|相关阅读|延伸阅读|责任编辑|本文来源|文章来源|来源[:：]|作者[:：]|编辑[:：]|发布时间|分享到)"
    r"|领取福利|扫码(?:领取|分享|关注|下载|阅读|添加|加入)|扫一扫|加微信|微信号[:：]|关注公众号|加\s*QQ|QQ\s*群"
    r"|记住我|收藏本站|设为首页|加入收藏|阅读时长|共计\s*\d+\s*个?字|(?:阅读量|浏览次数|点击次数|阅读)\s*[:：]?\s*\d+\s*次?$"
    r"|下载文档|复制链接|字体[:：]?\s*[大中小]",
    re.IGNORECASE,
)
# Disclaimers and repost notices: a line of up to _DISCLAIMER_LINE_MAX characters that
# holds one goes whole; in a longer line (a document without line breaks) only the
# sentence that holds it, reaching at most _DISCLAIMER_REACH characters either side, so
# that a text without full stops loses that much of itself, not everything.
_DISCLAIMER_LINE_MAX = 300
_DISCLAIMER_REACH = 200
_SENTENCE_END = FULL_STOPS + "\n"
_DISCLAIMER = re.compile(
    r"本站仅提供信息存储空间|不拥有所有权|不承担相关法律责任|如若转载|转载请注明|请注明出处|版权归原作者|"
    r"涉嫌抄袭侵权|侵权请联系|联系我们删除|仅代表作者本人|由互联网用户自发贡献|"
    # Licence templates of wiki sources: 「本作品来自…属于公有领域。」「本模板所指的…」.
    r"属于公有领域|不适用于该法|本模板所指"
)
# A salutation on a line of its own (「同志们:」「各位代表：」「尊敬的各位领导、同志们:」): it
# opens a speech and says nothing a reader searches for.
_SALUTATION = re.compile(
    r"^[^，。！？,.!?]{0,16}(?:同志|代表|领导|領導|朋友|来宾|來賓|嘉宾|嘉賓|委员|委員|大家|先生|女士)[们們]?[：:]$"
)
_SALUTATION_MAX = 24
# A title printed again near the top, with a placeholder (「在〔...〕镇…的讲话」) or spacing
# of its own: compared without them, it is a copy when this much of it matches.
_PLACEHOLDER = re.compile(r"[〔\[【(（][.…。·\s]*[〕\]】)）]|[\s\W_]")
_SAME_TITLE = 0.85
_TITLE_LINE_MAX = 60
# A line that is only a site name once URLs and hints are gone (「某某写作网」, 「某某文库」).
_SITE_NAME = re.compile(r"^[\w\u4e00-\u9fff]{1,12}(?:网|文库|网站|之家|资料库)$")
# A line of nothing but digits, punctuation and symbols: counters (「221381」), page
# numbers, separators, leftover quotes.
_NO_WORDS = re.compile(r"^[\W\d_]*$")

# Sentence-final and closing punctuation: a line break after it is a real paragraph
# break (clean.py), a wrapped line ending in it may end a paragraph (reading/pdf.py).
_OPEN_QUOTES = {"“": "”", "「": "」", "『": "』", "(": ")", "（": "）", "《": "》"}
_CLAUSE = re.compile(char_class(COMMAS, ENUMERATION_COMMA))
# A number broken from its unit (「达到74.4」 / 「万亿元」).
_NUMBER_END = re.compile(f"[{ARABIC}][{ARABIC}.．]*$")
_UNIT_START = re.compile("^" + alternation(UNITS))
_WORD_SPLIT_MIN = 8  # a shorter line may be a name or a signature (「习近平」)

# Digits each followed by a space (「1 9 9 7 年」, 「增长8 ．8 ％」): a converter's padding of
# full-width digits to their width. Joined where the run ends before Chinese text, and a
# lone digit between Chinese characters (「年3 月」); numbers apart (「2019 2020」) stay.
_SPACED_DIGITS = re.compile(r"(?:[.．]?[0-9] ){2,}(?=[^\x00-\x7f])")
_SPACED_DIGIT = re.compile(r"(?<=[^\x00-\x7f])([0-9]) (?=[^\x00-\x7f\s])")

# Markdown syntax that would otherwise leak into passages.
# A link's target may hold parentheses of its own (…/wiki/Foo_(bar)), one level deep,
# and a title ("…").
_MD_TARGET = r"\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"\n]*\")?\)"
_MD_IMAGE = re.compile(r"!\[[^\]]*\]" + _MD_TARGET)
_MD_LINK = re.compile(r"\[([^\]]+)\]" + _MD_TARGET)
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_MD_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_MD_RULE = re.compile(r"^\s*([-*_]\s*){3,}$", re.MULTILINE)
_MD_QUOTE = re.compile(r"^\s*>\s?", re.MULTILINE)
_MD_TABLE_RULE = re.compile(r"^\s*\|?(?:\s*:?-{3,}:?\s*\|)+\s*(?::?-{3,}:?\s*)?$", re.MULTILINE)
# A list item (「- 」, 「1. 」) or a table row (「| 任务 | 时限 |」), as Markdown and plain
# text write them and as the .docx and .html readers write theirs: a line of its own,
# never the rest of the line before it.
_ITEM = re.compile(char_class(BULLETS) + r"\s|\d{1,3}[.)．]\s|\|")


def normalize(text: str) -> str:
    """Unify newlines and spaces; drop zero-width and control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ZERO_WIDTH.sub("", text)
    text = _CONTROL.sub("", _ANSI.sub("", text))
    # NFC only: NFKC would turn full-width punctuation into ASCII and change the text
    # that users read and that summaries quote.
    text = unicodedata.normalize("NFC", text)
    return "\n".join(_SPACES.sub(" ", line).rstrip() for line in text.split("\n"))


def strip_markdown(text: str) -> str:
    """Plain text from Markdown, keeping '#' heading markers for the outline."""
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_FENCE.sub("", text)
    text = _MD_TABLE_RULE.sub("", text)
    text = _MD_RULE.sub("", text)
    text = _MD_QUOTE.sub("", text)
    return _MD_EMPHASIS.sub(r"\2", text)


# Where a paywall cut text out, the text on either side does not belong together:
# this marker line keeps reflow from joining across the gap, then goes.
_GAP = "\ue000"


def remove_inline_junk(text: str) -> str:
    text = _PAYWALL.sub(f"\n{_GAP}\n", _URL.sub("", _EMAIL.sub("", _BOOKMARK.sub("", text))))
    for pattern in (_SITE_HINT, _BLURB, _QUOTE_RUN):
        text = pattern.sub("", text)
    return _drop_disclaimers(text)


def _drop_disclaimers(text: str) -> str:
    """In lines longer than _DISCLAIMER_LINE_MAX, cut the sentences that hold a
    disclaimer: from the sentence end before it to the one after it, at most
    _DISCLAIMER_REACH characters either side. (Shorter lines go whole: is_junk_line.)"""
    kept, at = [], 0
    for m in _DISCLAIMER.finditer(text):
        if m.start() < at:  # inside the sentence already cut
            continue
        line_end = text.find("\n", m.end())
        if (len(text) if line_end < 0 else line_end) - (text.rfind("\n", 0, m.start()) + 1) <= _DISCLAIMER_LINE_MAX:
            continue
        start, floor = m.start(), max(at, m.start() - _DISCLAIMER_REACH)
        while start > floor and text[start - 1] not in _SENTENCE_END:
            start -= 1
        end, ceiling = m.end(), min(len(text), m.end() + _DISCLAIMER_REACH)
        while end < ceiling and text[end] not in _SENTENCE_END:
            end += 1
        if end < len(text) and text[end] in FULL_STOPS:
            end += 1  # its full stop
        kept.append(text[at:start])
        at = end
    kept.append(text[at:])
    return "".join(kept)


def _strip_bare_domains(line: str) -> str:
    return _BARE_DOMAIN.sub("", line) if len(line) <= _CHROME_LINE_MAX else line


def is_junk_line(line: str) -> bool:
    s = line.strip()
    if not s:
        return False
    if _NO_WORDS.match(s) or _SITE_NAME.match(s) or (len(s) <= _DISCLAIMER_LINE_MAX and _DISCLAIMER.search(s)):
        return True
    if len(s) <= _SALUTATION_MAX and _SALUTATION.match(s):
        return True
    return len(s) <= _CHROME_LINE_MAX and bool(_CHROME.search(s))


def _copy_of_title(line: str, title: str) -> bool:
    """Is `line` the title printed again (placeholders, spaces and punctuation aside)?"""
    from difflib import SequenceMatcher

    if len(line) > _TITLE_LINE_MAX or len(title) > _TITLE_LINE_MAX:
        return False
    a, b = _PLACEHOLDER.sub("", line), _PLACEHOLDER.sub("", title)
    return bool(a and b) and SequenceMatcher(None, a, b, autojunk=False).ratio() >= _SAME_TITLE


def _splits_a_word(a: str, b: str) -> bool:
    """Does the break fall inside a word (「…深化各领域改」 / 「革，加快…」)? A word of the
    dictionary: jieba's guess at an unknown one joins a title to the first sentence under
    it (「…任务分工表」 / 「为确保…」 as 「表为」)."""
    left = a[-4:]
    at = 0
    for word in cut(left + b[:4], hmm=False):
        if at < len(left) < at + len(word):
            return True
        at += len(word)
    return False


# Whether a paragraph opens with a heading or a table-of-contents marker is told by its
# first characters: past these, no heading is found (outline.MAX_* bound them).
_HEAD_PROBE = 2 * max(MAX_HEADING_CHARS, MAX_STRUCTURAL_HEADING_CHARS, MAX_STANDALONE_CHARS)


class _Paragraph:
    """Lines joined into a paragraph, with what _broken() asks of it kept up to date as
    lines are added: asking the joined text anew after each line took time that grew
    with the square of a paragraph's length (a million characters without a full stop:
    minutes)."""

    def __init__(self, line: str):
        self.parts = [line]
        self.length = len(line)
        self.opened = {q: line.count(q) - line.count(c) for q, c in _OPEN_QUOTES.items()}
        self.ascii_quotes = line.count('"')
        self.clause = bool(_CLAUSE.search(line))
        self.head = line[:_HEAD_PROBE]
        self.tail = line[-8:]

    def add(self, line: str) -> None:
        self.parts.append(line)
        self.length += len(line)
        for q, c in _OPEN_QUOTES.items():
            self.opened[q] += line.count(q) - line.count(c)
        self.ascii_quotes += line.count('"')
        self.clause = self.clause or bool(_CLAUSE.search(line))
        if len(self.head) < _HEAD_PROBE:
            self.head = (self.head + line)[:_HEAD_PROBE]
        self.tail = (self.tail + line)[-8:]

    def text(self) -> str:
        return "".join(self.parts)

    def unclosed(self) -> bool:
        """True if an opening quote or bracket in it is not closed in it."""
        return any(n > 0 for n in self.opened.values()) or self.ascii_quotes % 2 == 1

    def broken_before(self, nxt: str, stops: bool = True) -> bool:
        """Was it cut mid-sentence, so that `nxt` continues it?

        A paragraph ends with closing punctuation; a title or heading is short and has
        no clause commas. A long clause-bearing line without closing punctuation, one
        that leaves a quote open, one that ends inside a word or a number, was broken by
        the site (or by a page break of the source, with a blank line between the halves).
        In a text that ends no sentence with a stop (`stops` False: minutes typed a
        decision a line), a long line with commas is a whole line like the others.
        """
        a_end, b = self.tail[-1], nxt
        if _GAP in (self.head, b) or a_end in PARAGRAPH_ENDS:
            return False
        head_only = self.length <= _HEAD_PROBE
        if detect_heading(self.head) or detect_heading(b) or (head_only and is_toc_marker(self.head)):
            return False
        if _ITEM.match(b) or (self.head[0] == "|" and a_end == "|"):  # an item or a whole row
            return False
        if b[0] in PARAGRAPH_ENDS + COMMAS + ENUMERATION_COMMA:
            return True
        if _NUMBER_END.search(self.tail) and _UNIT_START.match(b):
            return True
        return (
            self.unclosed()
            or (stops and self.length >= 30 and self.clause)
            or (self.length >= _WORD_SPLIT_MIN and _splits_a_word(self.tail, b))
        )


def _join_padded_digits(line: str) -> str:
    """「1 9 9 7 年3 月」 -> 「1997年3月」 (see _SPACED_DIGITS)."""
    line = _SPACED_DIGITS.sub(lambda m: m.group(0).replace(" ", ""), line)
    return _SPACED_DIGIT.sub(r"\1", line)


def reflow(lines: list[str]) -> list[str]:
    """Re-join lines broken mid-sentence (lines stripped, blank ones already gone)."""
    out: list[str] = []
    paragraph: _Paragraph | None = None
    stops = any(c in line for line in lines for c in FULL_STOPS)
    for line in lines:
        if paragraph is not None and paragraph.broken_before(line, stops):
            paragraph.add(line)
            continue
        if paragraph is not None:
            out.append(paragraph.text())
        paragraph = _Paragraph(line)
    if paragraph is not None:
        out.append(paragraph.text())
    return out


def clean(text: str, markdown: bool = False) -> str:
    """The cleaned document text: junk removed, broken lines re-joined.

    Paragraphs are separated by a single newline; leading indentation is kept off.
    Cleaning is idempotent: clean(clean(t)) == clean(t).
    """
    text = normalize(text)
    if markdown:
        text = strip_markdown(text)
    text = remove_inline_junk(_REPOST.sub("", text))
    # Blank lines carry no meaning here: some sites put one between every line, others
    # none at all. Whether two lines belong together is decided by reflow alone, which
    # keeps cleaning idempotent.
    lines = [_SPACES.sub(" ", _strip_bare_domains(line)).strip() for line in text.split("\n")]
    lines = [line for line in lines if line == _GAP or (line and not is_junk_line(line))]
    kept: list[str] = []
    for line in reflow(lines):
        if line == _GAP:
            # Text was cut out here: mark a sentence left unfinished with an ellipsis,
            # which also keeps a second cleaning from joining it to what follows.
            if kept and kept[-1][-1] not in PARAGRAPH_ENDS:
                kept[-1] += "……"
            continue
        line = _join_padded_digits(line)
        # Sites print the title twice: in the page header and above the text (with a
        # placeholder for a name, at times), or repeat a line.
        if kept and (line == kept[-1] or (len(kept) <= 3 and _copy_of_title(line, kept[0]))):
            continue
        kept.append(line)
    return "\n".join(kept)
