"""Chinese numerals and units, each defined once: the digits of a year written out
(二〇二四), the numbers of outline headings (第十二章, （三）), the units a figure carries.
"""

from __future__ import annotations

import re

# Written digit by digit, as years are (二〇二四年, 二零二四年).
DIGITS = "〇零一二三四五六七八九"
DIGIT_VALUES = dict(zip(DIGITS, "00123456789"))
# Counting to ninety-nine: section numbers (一、 第十二章), ordinals (十九大).
COUNTING = "一二三四五六七八九十"
# Section numbers past ninety-nine and their other forms (第一百零二条, 两).
SECTION_NUMERALS = COUNTING + "百零〇两"
# Arabic digits, half- and full-width, as a regular-expression class body.
ARABIC = "0-9０-９"
# What a figure's number is followed by: shares, amounts, counts and dates.
# Traditional script writes some apart (萬, 億, 噸): a report of the 1950s, or one
# from Taiwan or Hong Kong, gives its figures in them.
UNITS = (
    "%", "％", "‰", "万", "萬", "亿", "億", "千", "百", "元", "美元", "人", "户", "戶", "个", "個", "项", "項",
    "倍", "吨", "噸", "公里", "千米", "平方", "米", "斤", "亩", "畝", "年", "月", "日", "天", "岁", "歲",
    "家", "所", "座", "件", "次",
)  # fmt: skip
# The units of a document's key figures (targets and totals): shares and large amounts,
# not counts of years or items.
KEY_UNITS = ("%", "％", "‰", "万", "萬", "亿", "億", "元", "美元", "吨", "噸", "公里", "平方")


def counting_value(numeral: str) -> int:
    """一 … 九十九 as an int (十九 → 19, 二十 → 20, 二十一 → 21); digit by digit without 十
    (二〇 → 20); Arabic digits as they are (19 → 19)."""
    if numeral.isdigit():
        return int(numeral)
    if "十" not in numeral:
        return int("".join(DIGIT_VALUES[c] for c in numeral))
    tens, _, units = numeral.partition("十")
    return (int(DIGIT_VALUES[tens]) if tens else 1) * 10 + (int(DIGIT_VALUES[units]) if units else 0)


def alternation(words: tuple[str, ...]) -> str:
    """A regular-expression group matching any of `words`, tried in their order."""
    return "(?:" + "|".join(words) + ")"


# A figure: an amount with its unit, a share, a date. Two editions of a report (this
# year's and last year's) give different figures for the same thing.
_NUMBER = rf"[{ARABIC}][{ARABIC}.．,，]*\s*"
_LARGE_NUMERAL = rf"|百分之|[{COUNTING}百千]+(?:万|萬|亿|億)"
FIGURE = re.compile(_NUMBER + alternation(UNITS) + _LARGE_NUMERAL)
# A key figure of a document: a share or an amount in the ten thousands and up, the
# targets and totals a report is read for (a count of years or items is not one).
KEY_FIGURE = re.compile(_NUMBER + alternation(KEY_UNITS) + _LARGE_NUMERAL)
# A question that asks for an amount (「多少」「几成」「多快」「比例」): a passage or a
# sentence that holds a figure is likelier to answer it.
ASKS_AMOUNT = re.compile(r"多少|几|多[大高快长远重久]|比例|比重|增速|增幅|幅度|规模|数量|人数")
# Of those, a question that asks a date (「几月几号」): its answer's figure is a date, where
# another's is a key figure (an amount or a share; 「１９９６年」 answers no 「多快」).
ASKS_DATE = re.compile(r"几[月号日]")
