"""HTML to raw text: the main text only (no navigation, headers, footers or link
lists), headings h1-h6, list items and data tables' rows as Markdown writes them, the
page's own title."""

from __future__ import annotations

import re
from pathlib import Path

from retriever.config import ReadLimits
from retriever.errors import InputError
from retriever.reading.encoding import decode
from retriever.reading.extracted import CJK, Extracted, one_line, reason, table_lines
from retriever.text.metadata import FileProperties

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
# A table with a cell longer than this lays out a page (a government site's article in
# one cell), it does not tabulate data: rendered as text, not as rows.
_DATA_CELL_MAX = 300

# A source line break between two CJK characters is layout (browsers show nothing there);
# elsewhere it is a space.
_CJK_NEWLINE = re.compile(rf"(?<=[{CJK}])[ \t\r\n\f]*\n[ \t\r\n\f]*(?=[{CJK}])")
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
# Or joins it and the section with bare dashes (「标题-今日要闻-某某市人民政府门户网站」), which
# a title may hold itself (「中国-东盟博览会」): cut where the last part names a site.
_BARE_DASH = re.compile(r"(?<=[^\x00-\x7f])[-–—](?=[^\x00-\x7f])")
_SITE = re.compile(r"(?:网|网站|門戶網站|门户网站|门户|官网|官方网站|平台|客户端)$")
_SECTION_MAX = 6  # 「今日要闻」, 「政务动态」


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML page declares (<meta charset>, http-equiv or XML declaration)."""
    head = data[:4096]
    m = _XML_ENCODING.match(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii") if m else None


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


def _cell_text(cell) -> str:
    return one_line(_CJK_NEWLINE.sub("", cell.text_content()))


def _data_rows(table) -> list[str] | None:
    """A data table's rows, as table_lines writes them; None for a table that lays out
    the page (one holding another table, or a cell of running text)."""
    if next(table.iterdescendants("table"), None) is not None:
        return None
    rows = [[[text] if (text := _cell_text(cell)) else [] for cell in tr if cell.tag in _CELLS] for tr in table.iter("tr")]
    if any(len(cell[0]) > _DATA_CELL_MAX for row in rows for cell in row if cell):
        return None
    if not any(sum(1 for cell in row if cell) > 1 for row in rows):
        return None
    return table_lines(rows)


def _list_marker(item, numbers: dict) -> str:
    """What a list item is written with: its number in an <ol> (「3. 」, counted from
    the list's start in `numbers`, one count per list), else a bullet."""
    parent = item.getparent()
    if parent is None or parent.tag != "ol":
        return "- "
    if parent not in numbers:
        try:
            numbers[parent] = int(parent.get("start", "1"))
        except ValueError:
            numbers[parent] = 1
    numbers[parent] += 1
    return f"{numbers[parent] - 1}. "


def _render(root) -> list[str]:
    """The text of `root`: block elements and <br> break lines, list items and data
    tables' rows are written as Markdown writes them, a layout table's cells separated
    by spaces, inline elements run on; whitespace collapses as a browser shows it."""
    from lxml import etree

    parts: list[str] = []
    pre = 0
    numbers: dict = {}  # each <ol>'s next number
    walk = etree.iterwalk(root, events=("start", "end"))
    for event, el in walk:
        tag = el.tag
        if event == "start":
            if tag in _BLOCKS or tag == "br":
                parts.append(_BREAK)
            elif tag in _CELLS:
                parts.append("\t")
            if tag == "table" and not pre and (rows := _data_rows(el)) is not None:
                parts.append(_BREAK.join(rows))
                walk.skip_subtree()  # its end (and its tail) still comes
                continue
            if tag == "li" and not pre:
                parts.append(_list_marker(el, numbers))
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
            return one_line(meta.get("content"))
    for el in root.iter("title"):
        parts = [p for p in _TITLE_SEPARATOR.split(one_line(el.text_content())) if p]
        if parts:
            # The title comes first; a very short first part is a section (「新闻 - 标题」).
            return _without_site(max(parts[:2], key=len) if len(parts[0]) < 4 else parts[0])
    return None


def _without_site(title: str) -> str:
    """「标题-今日要闻-某某市人民政府门户网站」 -> 「标题」: a last part that names a site goes, and
    the short sections before it."""
    cuts = [m.start() for m in _BARE_DASH.finditer(title)]
    if not cuts or not _SITE.search(title):
        return title
    end = cuts.pop()
    while cuts and end - cuts[-1] - 1 <= _SECTION_MAX:
        end = cuts.pop()
    return title[:end]


# <meta> names that give a page's publication date and its publisher, tried in order
# (Dublin Core, Open Graph's article, and those Chinese government and news sites use).
_META_DATES = (
    "article:published_time", "dcterms.issued", "dc.date.issued", "dcterms.created", "dc.date", "pubdate",
    "publishdate", "firstpublishedtime", "publishtime", "date",
)  # fmt: skip
_META_AUTHORS = ("dc.publisher", "contentsource", "source", "dc.creator", "author")


def _head_properties(root, title: str | None) -> FileProperties:
    """The page's date and publisher as its <meta> elements give them."""
    found: dict[str, str] = {}
    for meta in root.iter("meta"):
        key = (meta.get("name") or meta.get("property") or meta.get("itemprop") or "").strip().lower()
        value = one_line(meta.get("content") or "")
        if key and value and key not in found:
            found[key] = value

    def first(keys: tuple[str, ...]) -> str | None:
        return next((found[k] for k in keys if k in found), None)

    return FileProperties(title, first(_META_DATES), first(_META_AUTHORS))


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
    properties = _head_properties(root, head_title)
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
    h1 = next((t for t in (one_line(h.text_content()) for h in content.iter("h1")) if t), None)
    return Extracted("\n".join(_render(content)), h1 or head_title, tuple(notes), properties)
