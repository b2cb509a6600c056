"""What a document says of itself: when it was issued and by whom.

From the text, by the conventions of Chinese official writing: the dated line a
document ends with (its 落款: the issuing bodies, then 「2023年3月5日」) or opens with
(「（2021年3月11日第十三届全国人民代表大会第四次会议通过）」, 「——2019年3月5日在…上」),
the year its title names (today's year rule), or the national congress session it names
(「第十三届全国人民代表大会第四次会议关于…的决议」 is of 2021). From the file, what its properties
say (a .docx's core properties, a page's <meta>, a PDF's info): the readers pass them
in as FileProperties. What the text's own dated line says comes first, then the file's
date where it agrees with the title's year (a file converted years later carries the
year of its conversion), then the title's year or session.

A body is told by how bodies are named (人民政府, 委员会, 办公厅, 局, 部 …), so that
a person (「张三」) or a program's user name (「Administrator」) is never taken for one.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from retriever.text.numerals import COUNTING, DIGIT_VALUES, DIGITS, counting_value
from retriever.text.query import CONGRESS_NUMBER, npc_session_years, party_congress_year, title_years, years_in
from retriever.text.segment import Passage
from retriever.text.words import for_matching

_YEAR = rf"(\d{{4}}|[{DIGITS}]{{4}})"
# 「2023年3月5日」, 「二〇二三年三月五日」, with or without the day; spaces between allowed.
_CN_DATE = re.compile(rf"{_YEAR}\s*年\s*(\d{{1,2}}|[{COUNTING}]{{1,3}})\s*月(?:\s*(\d{{1,2}}|[{COUNTING}]{{1,3}})\s*日)?")
# 「中華民國112年3月5日」, 「中華民國一百一十三年三月五日」: Taiwan's official documents count
# years from 1912 (民國元年).
_ROC_DATE = re.compile(
    rf"(?:中华民国|中華民國|民国|民國)\s*(\d{{1,3}}|[{DIGITS}十百]{{1,6}})\s*年\s*(\d{{1,2}}|[{COUNTING}]{{1,3}})\s*月(?:\s*(\d{{1,2}}|[{COUNTING}]{{1,3}})\s*日)?"
)
_ROC_OFFSET = 1911
# 「2023-03-05」, 「2023/3/5」, 「2023.03.05」, and the PDF's 「D:20230305…」.
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?(?!\d)|^D:(\d{4})(\d\d)?(\d\d)?")
# What a dated line may open with: an opening bracket, a dash, spaces.
_LEAD = re.compile(r"^[\s（(〔\[【—–\-]*")
_DATED_LINE_MAX = 60  # 「2019年3月5日在第十三届全国人民代表大会第二次会议上」: 26
_HEAD_LINES, _TAIL_LINES = 6, 8
_PRINTED = re.compile(rf"(.+?)\s*({_CN_DATE.pattern})\s*印发$")

# How the names of bodies end: governments, committees, offices, departments, bureaus,
# courts, congresses, companies, associations, schools.
_BODY_END = re.compile(
    r"(政府|委员会|常委会|会议|委|办公室|办公厅|办|部|局|厅|署|院|会|中心|处|科|所|站|队|公司|集团|银行|"
    r"协会|学会|联合会|商会|大学|学院|学校|党委|党组|工委|支部|总支|小组|街道|社区|法院|检察院|政协)$"
)
_BODY_MAX = 30
_NOT_A_NAME = re.compile(r"[，。；：！？,;:!?“”\"《》]")
_TITLE_BODY = re.compile(r"^(.{2,40}?)关于")
# Or the body a report speaks for, as its opening says (「我代表第十五届中央委员会向大会作报告。」,
# 「我受十二届中央委员会委托，向大会作报告。」).
_SPEAKS_FOR = re.compile(r"我(?:受|代表)([^，,。；;、\s]{2,24}?)(?:委托|向|作|，|,)")
# Or a title that is the body's name and the kind of document, a year on either side or
# none (「2019年中华人民共和国国务院政府工作报告」, 「最高人民法院工作报告」).
_GENRE_TITLE = re.compile(
    r"^(?:\d{4}年度?)?(.{3,30}?)(?:\d{4}年度?)?"
    r"(?:政府工作报告|工作报告|工作总结|工作要点|报告|通知|通告|公告|决定|意见|办法|规定|方案|纲要|决议|公报)$"
)

# The national congresses a title may name instead of a date (「第十三届全国人民代表大会第四次
# 会议关于政府工作报告的决议」, 「在中国共产党第九次全国代表大会上的报告」, 「…(十四大)」):
# each met in a known year (query.npc_session_years, query.party_congress_year).
_NPC_SESSION = re.compile(rf"第?{CONGRESS_NUMBER}届全国(?:人民代表大会|人大)第?{CONGRESS_NUMBER}次会议")
# The congress's own documents: its report, its resolutions, a speech at it (not 「党的三大
# 作风」, nor 「党的十八大以来」).
_PARTY_CONGRESS = re.compile(
    rf"(?:(?:中国共产党|党的)第{CONGRESS_NUMBER}次全国代表大会|党的{CONGRESS_NUMBER}大)(?=上|报告|关于|$)|[（(]{CONGRESS_NUMBER}大[)）]"
)


@dataclass(frozen=True)
class FileProperties:
    """What a file's own properties say, as found (empty when it says nothing)."""

    title: str | None = None
    date: str | None = None  # the raw value: 「2023-03-05T08:00:00Z」, 「D:20230305…」
    author: str | None = None


@dataclass(frozen=True)
class Metadata:
    """A document's date (as precise as its source: 「2023-03-05」, 「2023-03」 or
    「2023」), where the date came from, and the bodies that issued it."""

    date: str | None = None
    date_from: str | None = None  # "text", "file" or "title"
    issuer: str | None = None

    @property
    def year(self) -> int | None:
        return int(self.date[:4]) if self.date else None

    def span(self) -> tuple[datetime.date, datetime.date] | None:
        """The first and last day the date may mean (all of 2019 for 「2019」)."""
        return None if self.date is None else date_span(self.date)

    def label(self) -> str:
        """The date and issuers as a line of a record shows them: 「 · 2023-03-05 · 国务院」."""
        return "".join(f" · {v}" for v in (self.date, self.issuer) if v)

    def to_dict(self) -> dict:
        return {"date": self.date, "date_from": self.date_from, "issuer": self.issuer}

    @classmethod
    def from_dict(cls, data: dict) -> Metadata:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        found = text("date")
        return cls(found if found and parse_date(found) else None, text("date_from"), text("issuer"))


def document_years(title: str, meta: Metadata) -> frozenset[int]:
    """The years a document is of: its title's, and its date's."""
    return title_years(title) | {meta.year} if meta.year is not None else title_years(title)


def heading_years(passage: Passage) -> frozenset[int] | None:
    """The years the nearest heading that names one or two years names (「一、2018年工作
    回顾」), or None where none does. A decade (「九十年代」) names no year of its own."""
    for heading in reversed(passage.heading_path):
        named = title_years(heading)
        if 0 < len(named) <= 2:
            return named
    return None


def passage_years(passage: Passage, meta: Metadata) -> frozenset[int]:
    """The years a passage is of: its document's, unless the nearest heading that names
    one or two years names others. The report of 2019 looks back on 2018 under
    「一、2018年工作回顾」: what it says there (城镇新增就业1361万人) is no answer to a
    question about 2019."""
    years = document_years(passage.title, meta)
    named = heading_years(passage)
    return years if named is None else years & named


def answers_years(passage: Passage, meta: Metadata, years: frozenset[int], answered_in: frozenset[int]) -> bool:
    """Is the passage of a year a question asks about (query.Understood: the years it
    names, and the documents' years that answer it)? Its years (passage_years) among
    them; for a question on how a year turned out (answered beyond the years named), the
    year after's look back on it too (「一、2018年工作回顾」 in the report of 2019), and
    where that document's headings name no year, all of it."""
    if answered_in == years:
        return bool(passage_years(passage, meta) & years)
    named = heading_years(passage)
    return bool(document_years(passage.title, meta) & answered_in) and (named is None or bool(named & years))


def _number(token: str | None) -> int | None:
    """「12」, 「十二」, 「二〇二三」, 「一百零三」 as an int."""
    if not token:
        return None
    if token.isdecimal():  # half- or full-width digits
        return int(token)
    if all(c in DIGIT_VALUES for c in token):
        return int("".join(DIGIT_VALUES[c] for c in token))
    if "百" in token:  # a year of 民國 (「一百一十三年」)
        hundreds, _, rest = token.partition("百")
        rest = rest.lstrip("〇零")
        count, below = _number(hundreds or "一"), _number(rest) if rest else 0
        return None if count is None or below is None else count * 100 + below
    tens, _, units = token.partition("十")
    if "十" not in token:
        return COUNTING.index(token) + 1 if token in COUNTING else None
    if any(part not in tuple(COUNTING[:9]) for part in (tens, units) if part):  # 「〇十」, 「十一二」
        return None
    return (COUNTING.index(tens) + 1 if tens else 1) * 10 + (COUNTING.index(units) + 1 if units else 0)


def _as_date(year: int | None, month: int | None, day: int | None) -> str | None:
    """「2023-03-05」, 「2023-03」 or 「2023」, or None if that is no date."""
    if year is None or not 1000 <= year <= 2999:
        return None
    if month is None:
        return f"{year:04d}"
    if not 1 <= month <= 12:
        return None
    if day is None:
        return f"{year:04d}-{month:02d}"
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        return None


def parse_date(value: str) -> str | None:
    """A date written any common way, as 「2023-03-05」, 「2023-03」 or 「2023」: what a
    file's property holds, what `--since` is given, or a Chinese date."""
    value = value.strip()
    if re.fullmatch(r"\d{4}", value):
        return _as_date(int(value), None, None)
    m = _ISO_DATE.search(value)
    if m:
        y, mo, d = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(4), m.group(5), m.group(6))
        return _as_date(int(y), _number(mo), _number(d))
    m = _CN_DATE.search(value) or _ROC_DATE.search(value)
    return _chinese_date(m) if m else None


def _chinese_date(m: re.Match[str]) -> str | None:
    """The date a match of _CN_DATE or _ROC_DATE names (year, month, day in its groups)."""
    year = _number(m.group(1))
    if year is not None and m.re is _ROC_DATE:
        year += _ROC_OFFSET
    return _as_date(year, _number(m.group(2)), _number(m.group(3)))


def date_span(value: str) -> tuple[datetime.date, datetime.date]:
    """The first and last day of 「2023」, 「2023-03」 or 「2023-03-05」."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 1:
        return datetime.date(parts[0], 1, 1), datetime.date(parts[0], 12, 31)
    if len(parts) == 2:
        first = datetime.date(parts[0], parts[1], 1)
        following = datetime.date(parts[0] + parts[1] // 12, parts[1] % 12 + 1, 1)
        return first, following - datetime.timedelta(days=1)
    day = datetime.date(*parts)
    return day, day


def _line_date(line: str) -> str | None:
    """The date a line opens with, if the line is a dated line (short, the date first):
    「2023年3月5日」, 「（2021年3月11日…会议通过）」."""
    # 「二○二三年」: a circle often stands for 〇.
    body = _LEAD.sub("", line.strip()).replace("○", "〇")
    if len(body) > _DATED_LINE_MAX:
        return None
    m = _CN_DATE.match(body) or _ROC_DATE.match(body)
    if not m or m.group(3) is None:  # a month alone is a heading (「2023年3月工作安排」), not a date line
        return None
    return _chinese_date(m)


def is_body(name: str) -> bool:
    """Whether `name` reads as the name of a body: short, not a sentence, ends as bodies' names do
    (in either script: 「國務院辦公廳」 as 「国务院办公厅」)."""
    name = for_matching(name.strip())
    return 2 <= len(name) <= _BODY_MAX and not _NOT_A_NAME.search(name) and bool(_BODY_END.search(name))


def _bodies_before(lines: list[str], i: int) -> str | None:
    """The bodies named by the lines just before line i (one body a line, or several on one)."""
    bodies: list[str] = []
    for line in reversed(lines[:i]):
        names = line.split()
        if not names or not all(is_body(n) for n in names):
            break
        bodies[:0] = names
    return "、".join(bodies) or None


def _signature(lines: list[str]) -> tuple[str | None, str | None]:
    """The date and issuers of a document's 落款: a dated line among its last lines, and
    the lines just before it that name bodies."""
    tail = lines[-_TAIL_LINES:]
    for i in range(len(tail) - 1, -1, -1):
        found = _line_date(tail[i])
        if found is not None:
            return found, _bodies_before(tail, i)
    return None, None


def _inner_signature(lines: list[str]) -> tuple[str | None, str | None]:
    """A 落款 inside the text: the first dated line right after a line that names bodies.
    A notice that issues a plan (「关于印发…的通知」) signs before the plan it carries."""
    for i in range(1, len(lines)):
        found = _line_date(lines[i])
        if found is not None and (issuer := _bodies_before(lines, i)):
            return found, issuer
    return None, None


def _printed(lines: list[str]) -> str | None:
    """The date of a 版记's last line (「XX市人民政府办公室　2024年3月6日印发」): the day the
    office that prints a document sent it out, a day or so after it was signed."""
    for line in reversed(lines[-_TAIL_LINES:]):
        m = _PRINTED.match(line.strip())
        if m and is_body(m.group(1)):
            return parse_date(m.group(2))
    return None


def _title_issuer(title: str) -> str | None:
    """「国务院关于…的通知」: the body before 关于 (「國務院關於…」 likewise, named as written);
    「2019年中华人民共和国国务院政府工作报告」: the body before the kind of document."""
    title = title.strip()
    simplified = for_matching(title)
    m = _TITLE_BODY.match(simplified) or _GENRE_TITLE.match(simplified)
    if not m:
        return None
    # OpenCC keeps the length of all but a few phrases: the title's own words if it did.
    body = title[m.start(1) : m.end(1)] if len(simplified) == len(title) else m.group(1)
    names = re.split(r"[\s、]+", body)
    return "、".join(names) if all(is_body(n) for n in names) else None


def _spoken_for(lines: list[str]) -> str | None:
    """The body an opening says its speaker speaks for (「我代表第十五届中央委员会…」)."""
    return next((m.group(1) for line in lines for m in _SPEAKS_FOR.finditer(line) if is_body(m.group(1))), None)


def session_year(title: str) -> int | None:
    """The year of the national congress session a title names, if it names one."""
    if "大" not in title:  # every congress is a 大会 or an N大: no OpenCC for other titles at open
        return None
    title = for_matching(title)  # 「第十三屆全國人民代表大會第四次會議」 too
    if m := _NPC_SESSION.search(title):
        years = npc_session_years(counting_value(m.group(1)), counting_value(m.group(2)))
        return years[0] if years else None
    if m := _PARTY_CONGRESS.search(title):
        return party_congress_year(counting_value(next(g for g in m.groups() if g)))
    return None


def metadata(title: str, text: str, file: FileProperties = FileProperties()) -> Metadata:
    """The date and issuers of a document: its text's own dated line (its 落款 at the end, a
    dated line at its head, a 落款 inside it, the 版记's day of printing), else the file's
    date where the title names no other year, else the title's one year (or the year of
    the congress session it names); the bodies of its 落款, else of its title
    (「…关于」), else the body its opening speaks for (「我代表…中央委员会」), else the file's
    author if that names a body."""
    lines = [line for line in text.splitlines() if line.strip()]
    found, issuer = _signature(lines)
    if found is None:
        found = next((d for d in map(_line_date, lines[:_HEAD_LINES]) if d), None)
    if found is None:
        found, issuer = _inner_signature(lines)
    if found is None:
        found = _printed(lines)
    date_from = "text" if found else None
    title_years = years_in(title)
    if not title_years and (session := session_year(title)):
        title_years = {session}
    if found is None and file.date:
        from_file = parse_date(file.date)
        if from_file and (not title_years or int(from_file[:4]) in title_years):
            found, date_from = from_file, "file"
    if found is None and len(title_years) == 1:
        found, date_from = f"{next(iter(title_years)):04d}", "title"
    if issuer is None:
        issuer = _title_issuer(title)
    if issuer is None:
        issuer = _spoken_for(lines[:_HEAD_LINES])
    if issuer is None and file.author and is_body(file.author):
        issuer = file.author.strip()
    return Metadata(found, date_from, issuer)
