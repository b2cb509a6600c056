"""What a question names besides its words: years, congresses, five-year plans and bodies
in the short forms people type, and their full forms as documents write them.

People write 「2019年」, 「19年」, 「二〇一九年」 or 「九三年」, 「十九大」, 「十三五」 and 「人大」;
reports write 「2019年政府工作报告」, 「第十九次全国代表大会」, 「第十三个五年规划」 and
「全国人民代表大会」. `understand` adds the full forms to the text that BM25 matches (the
question shown stays as typed) and returns the years the question names, also through
the congress, session or plan it names (「十九大」 met in 2017), which search prefers
among documents whose titles carry them (reports of several years say nearly the same
things; the year decides), and of the year after too for a question on how a year turned
out (a year's results are reported once it is over). The rules are the general
conventions of Chinese writing, not lists taken from any corpus.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

from retriever.text.numerals import COUNTING, DIGIT_VALUES, DIGITS, counting_value

_YEAR_4 = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")
_YEAR_2 = re.compile(r"(?<![\d.])(\d\d)(?=年)")
_CN_YEAR = re.compile(rf"(?<![{DIGITS}十])([{DIGITS}]{{4}}|[{DIGITS}]{{2}})(?=年)")
# Two digits and 年 are also a span of years (「近10年」, 「成立70年来」, 「改革开放40年」,
# 「五六年间」): so read when a word of duration comes before or after, in either script
# (「過去10年」, 「70年來」).
_SPAN_BEFORE = re.compile(
    r"(近|过去|過去|最近|连续|連續|成立|建国|建國|开放|開放|解放|长达|長達|历时|歷時|将近|將近|约|約|每|这|這|那|第)\s*$"
)
_SPAN_AFTER = re.compile(r"年(代|来|來|间|間|内|內|里|裡|裏|多|左右|之久|以上|以下)")
# A range of years (「2019—2021年」, 「2016至2020年」, 「从2013年到2017年」) names those between;
# up to ten, as a plan or a decade does (「1949-2019」 is a span of history, no years asked).
_YEAR_RANGE = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)年?\s*(?:到|至|—|–|-|~|～)\s*(1[5-9]\d\d|20\d\d)(?!\d)")
_MAX_RANGE = 10
_DECADE = re.compile(rf"(?<![\d{COUNTING}])([1-9]0|[二三四五六七八九]十)年代")
# 「十九大」, 「二十大」: a party congress by its ordinal, where what follows shows it is one
# (「三大攻坚战」 is not).
_CONGRESS = re.compile(
    rf"(?<![{COUNTING}第])([{COUNTING}]{{1,3}})大(?=$|[\s，。、？！?,.；;：:的上时時前后後以期报報会會提召精代])"
)
# A five-year plan by its ordinal (「十三五时期」, 「“六五”」, 「一五計劃」): a period of its own.
_PLAN = re.compile(rf"(?<![{COUNTING}第])([{COUNTING}]{{1,2}})五(?=计划|計劃|规划|規劃|期间|期間|时期|時期|末|初|”|\"|」|』)")
# The number of a congress, a term or a session: 「十三」 or 「13」.
CONGRESS_NUMBER = rf"([{COUNTING}]{{1,3}}|\d{{1,2}})"
# A session of the National People's Congress as people name it (「十三届全国人大二次会议」,
# 「四届人大」), not a province's (「省十三届人大」).
_NPC = re.compile(
    rf"(?<![省市县区縣區第{COUNTING}\d])第?{CONGRESS_NUMBER}[届屆](?:全国|全國)?(?:人大|人民代表大会|人民代表大會)"
    rf"(?:第?{CONGRESS_NUMBER}次)?"
)
# When the national congresses met. The National People's Congress has met once a year of
# its five-year term since the sixth (1983); its first five terms met in the years listed.
# The Party's national congress has met every five years since the twelfth (1982).
_NPC_EARLY = {
    1: (1954, 1955, 1956, 1957, 1958),
    2: (1959, 1960, 1962, 1963),
    3: (1964,),
    4: (1975,),
    5: (1978, 1979, 1980, 1981, 1982),
}
_PARTY_EARLY = {1: 1921, 2: 1922, 3: 1923, 4: 1925, 5: 1927, 6: 1928, 7: 1945, 8: 1956, 9: 1969, 10: 1973, 11: 1977}
# Short forms of bodies and their full names (the standard abbreviations).
_SHORT_FORMS = {"人大": "人民代表大会", "政协": "政治协商会议", "政協": "政治協商會議", "党代会": "全国代表大会"}
# A question on how a year turned out (「粮食收了多少」, 「到底增长了多少」, 「实际涨了几个
# 点」), not on what was planned for it (「打算」, 「目标定的多少」, 「要砍多少」): a year's
# results are reported once it is over (the work report of 1985 gives 1984's harvest,
# that of 1984 its plan), so the documents of the year after answer it too.
_OUTCOME_ASKED = re.compile(r"了|最后|最後|到底|实际|實際|一共|结果|結果")
_PLAN_ASKED = re.compile(
    r"打算|计划|計劃|规划|規劃|部署|目标|目標|定|准备|準備|预期|預期|预计|預計|要|想|安排|力争|力爭|争取|爭取|预算|預算|拟|擬"
)
# Words those characters are only part of (「了解」, 「为了」; 「主要」, 「稳定」, 「思想」).
_NOT_MARKERS = re.compile(
    r"了解|瞭解|为了|為了|除了|主要|重要|需要|只要|不要|稳定|穩定|一定|肯定|确定|確定|决定|決定|规定|規定|思想"
)


def _asks_outcome(question: str) -> bool:
    """Does the question ask how something turned out rather than what was planned?"""
    words = _NOT_MARKERS.sub(" ", question)
    return bool(_OUTCOME_ASKED.search(words)) and not _PLAN_ASKED.search(words)


@dataclass(frozen=True)
class Understood:
    text: str  # the question and the full forms of what it names, for matching
    years: frozenset[int]  # the years it names (a decade names ten, a five-year plan six)
    # The years whose documents answer it: those it names and, for a question on how the
    # one year it writes turned out, the year after, whose report looks back on it.
    answered_in: frozenset[int]


def _two_digit_year(yy: int) -> int:
    """「19年」 is 2019, 「93年」 1993: the latest such year not after next year."""
    return 2000 + yy if 2000 + yy <= time.localtime().tm_year + 1 else 1900 + yy


def _a_span(text: str, m: re.Match[str]) -> bool:
    """Whether two digits and 年 at `m` count years rather than name one (a decade,
    「年代」, is read apart)."""
    return bool(_SPAN_BEFORE.search(text, 0, m.start()) or _SPAN_AFTER.match(text, m.end()))


def years_in(text: str) -> set[int]:
    """The years `text` names: 2019, 19年, 二〇一九年, 九三年; 八十年代 names ten."""
    years = {int(y) for y in _YEAR_4.findall(text)}
    for m in _YEAR_2.finditer(text):
        if not _a_span(text, m):
            years.add(_two_digit_year(int(m.group(1))))
    for m in _CN_YEAR.finditer(text):
        digits = m.group(1)
        value = int("".join(DIGIT_VALUES[c] for c in digits))
        if len(digits) == 4:
            years.add(value)
        elif not _a_span(text, m):
            years.add(_two_digit_year(value))
    for first, last in _YEAR_RANGE.findall(text):
        if 0 < int(last) - int(first) <= _MAX_RANGE:
            years |= set(range(int(first), int(last) + 1))
    for decade in _DECADE.findall(text):
        start = 1900 + counting_value(decade)
        years |= set(range(start, start + 10))
    return years


def _ordinal(n: int) -> str:
    """19 → 十九 (how an ordinal is written in 「第十九次」)."""
    tens, units = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else "一二三四五六七八九"[tens - 1] + "十")
    return head + ("" if units == 0 else "一二三四五六七八九"[units - 1])


def npc_session_years(term: int, session: int | None = None) -> tuple[int, ...]:
    """The year the National People's Congress's term met in its session, or, with no
    session, every year it met (none for a term or session that has not met)."""
    if term in _NPC_EARLY:
        years = _NPC_EARLY[term]
    else:
        years = tuple(range(1983 + 5 * (term - 6), 1988 + 5 * (term - 6))) if term > 5 else ()
    if session is not None:
        years = (years[session - 1],) if 1 <= session <= len(years) else ()
    return tuple(y for y in years if y <= time.localtime().tm_year)


def party_congress_year(n: int) -> int | None:
    """The year the Party's nth national congress met."""
    year = _PARTY_EARLY.get(n) or (1982 + 5 * (n - 12) if n >= 12 else None)
    return year if year is not None and year <= time.localtime().tm_year else None


def _plan_years(n: int) -> range:
    """The years of the nth five-year plan (1953-57 the first; 1963-65 were no plan's) and
    the next, whose report looks back on it."""
    start = {1: 1953, 2: 1958}.get(n, 1966 + 5 * (n - 3))
    return range(start, start + 6)


@lru_cache(maxsize=256)
def understand(question: str) -> Understood:
    """The question with the full forms of the years, congresses, five-year plans and
    bodies it names."""
    years = years_in(question)
    # Years written otherwise than as four digits, in four (a decade adds no words).
    extra = [f"{y}年" for y in sorted(years) if len(years) <= 3 and str(y) not in question]
    for numeral in _PLAN.findall(question):
        n = counting_value(numeral)
        plan = _plan_years(n)
        if plan.start <= time.localtime().tm_year:
            years |= set(plan)
            extra.append(f"第{_ordinal(n)}个五年")
    # A congress or a session names the year it met: its documents are of that year.
    for numeral in _CONGRESS.findall(question):
        n = counting_value(numeral)
        extra.append(f"第{_ordinal(n)}次全国代表大会")
        if year := party_congress_year(n):
            years.add(year)
    for term, session in _NPC.findall(question):
        years |= set(npc_session_years(counting_value(term), counting_value(session) if session else None))
    extra += [full for short, full in _SHORT_FORMS.items() if short in question and full not in question]
    answered_in = frozenset(years)
    # One year, as written: not one a congress, a session or a plan also names.
    named_otherwise = any(p.search(question) for p in (_PLAN, _CONGRESS, _NPC))
    if len(years) == 1 and not named_otherwise and _asks_outcome(question):
        answered_in |= {year + 1 for year in years}
    return Understood(" ".join([question, *extra]), frozenset(years), answered_in)


@lru_cache(maxsize=4096)
def title_years(title: str) -> frozenset[int]:
    """The years a document's title names (「2019年政府工作报告」): what a question's
    years are matched against."""
    return frozenset(years_in(title))
