"""Word's automatic numbering: the labels (「一、」, 「（二）」, 「1.」, a bullet) that Word
draws before numbered paragraphs but that are not in their text.

Many Word documents number their headings and lists this way (word/numbering.xml): read
as text alone, 「一、总体要求」 was 「总体要求」 and a list's items ran into each other.
Each paragraph's label is worked out as Word does: a counter per list and level, deeper
levels starting again under a new item, the level's format and label text (「%1、」).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeVar

from retriever.text.numerals import COUNTING

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"  # WordprocessingML's namespace, as lxml writes tags
# What a bulleted item is written with, as Markdown writes it: the glyph Word draws is
# often a private-use character of the Symbol font.
BULLET = "-"
_LEVEL_REF = re.compile(r"%([1-9])")
_MAX_LEVELS = 9  # w:ilvl 0-8
_MAX_LABEL = 32  # characters: a longer "number" is no label (Word allows 255 in w:lvlText)
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_CIRCLED_IDEOGRAPHS = "㈠㈡㈢㈣㈤㈥㈦㈧㈨㈩"
_HEAVENLY_STEMS = "甲乙丙丁戊己庚辛壬癸"
_EARTHLY_BRANCHES = "子丑寅卯辰巳午未申酉戌亥"
_LEGAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_ROMAN = ((1000, "m"), (900, "cm"), (500, "d"), (400, "cd"), (100, "c"), (90, "xc"), (50, "l"), (40, "xl"),
          (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))  # fmt: skip


def chinese_counting(n: int, digits: str = "零" + COUNTING[:9]) -> str:
    """1 → 一, 10 → 十, 21 → 二十一, 105 → 一百零五 (as far as 9,999)."""
    if n <= 0 or n > 9999:
        return str(n)
    units, out, zero = ("千", "百", "十", ""), list[str](), False
    for place, unit in zip((1000, 100, 10, 1), units):
        digit = n // place % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out.append(digits[0])
            zero = False
        # 十一, not 一十一, when ten leads the number.
        out.append(unit if (place == 10 and digit == 1 and not out) else digits[digit] + unit)
    return "".join(out)


def _roman(n: int) -> str:
    out = []
    for value, letters in _ROMAN:
        while n >= value:
            out.append(letters)
            n -= value
    return "".join(out)


def _letters(n: int) -> str:
    """1 → a, 26 → z, 27 → aa, as Word repeats the letter."""
    return chr(ord("a") + (n - 1) % 26) * ((n - 1) // 26 + 1)


def _from(sequence: str, n: int) -> str:
    return sequence[n - 1] if 1 <= n <= len(sequence) else str(n)


def format_number(n: int, fmt: str) -> str:
    """The number `n` in Word's number format `fmt` (w:numFmt); decimal for those not known."""
    if n <= 0:
        return str(n)
    match fmt:
        case "chineseCounting" | "chineseCountingThousand" | "japaneseCounting" | "taiwaneseCounting":
            return chinese_counting(n)
        case "chineseLegalSimplified":
            return chinese_counting(n, _LEGAL_DIGITS).replace("千", "仟").replace("百", "佰").replace("十", "拾")
        case "ideographDigital" | "taiwaneseDigital" | "japaneseDigitalTenThousand":
            return "".join("〇一二三四五六七八九"[int(d)] for d in str(n))
        case "ideographTraditional":
            return _from(_HEAVENLY_STEMS, n)
        case "ideographZodiac":
            return _from(_EARTHLY_BRANCHES, n)
        case "decimalEnclosedCircle" | "decimalEnclosedCircleChinese":
            return _from(_CIRCLED, n)
        case "ideographEnclosedCircle":
            return _from(_CIRCLED_IDEOGRAPHS, n)
        case "decimalEnclosedParen":
            return f"({n})"
        case "decimalEnclosedFullstop":
            return f"{n}."
        case "decimalZero":
            return f"{n:02d}"
        case "decimalFullWidth" | "decimalFullWidth2":
            return "".join(chr(ord(d) + 0xFEE0) for d in str(n))
        case "lowerLetter":
            return _letters(n)
        case "upperLetter":
            return _letters(n).upper()
        case "lowerRoman":
            return _roman(n)
        case "upperRoman":
            return _roman(n).upper()
    return str(n)


@dataclass(frozen=True)
class Level:
    start: int = 1
    fmt: str = "decimal"
    text: str = "%1."  # the label, %1…%9 standing for the levels' numbers
    legal: bool = False  # w:isLgl: the numbers of higher levels shown as decimals
    separator: str = "tab"  # w:suff: what follows the label (tab, space or nothing)
    style: str | None = None  # w:pStyle: the paragraph style this level numbers


@dataclass
class Numbering:
    """The document's lists (w:num → its levels) and, as paragraphs are read in order,
    each list's counters."""

    lists: dict[str, dict[int, Level]] = field(default_factory=dict)
    starts: dict[tuple[str, int], int] = field(default_factory=dict)  # w:startOverride
    counters: dict[str, list[int]] = field(default_factory=dict)

    def style_level(self, num_id: str, style_id: str) -> int:
        """The level of list `num_id` that numbers paragraphs of style `style_id` (a
        heading style linked to a list names no level of its own); else the first."""
        levels = self.lists.get(num_id, {})
        return next((ilvl for ilvl, level in sorted(levels.items()) if level.style == style_id), 0)

    def label(self, num_id: str, ilvl: int) -> str | None:
        """The label Word draws before the next paragraph of list `num_id` at level
        `ilvl`, with what follows it, counted from the paragraphs before it; None where
        the list is not defined or draws nothing."""
        levels = self.lists.get(num_id)
        if not levels or ilvl not in levels or not 0 <= ilvl < _MAX_LEVELS:
            return None
        level = levels[ilvl]
        counts = self.counters.setdefault(num_id, [0] * _MAX_LEVELS)
        started = [self.starts.get((num_id, i), levels[i].start if i in levels else 1) for i in range(_MAX_LEVELS)]
        counts[ilvl] = counts[ilvl] + 1 if counts[ilvl] else started[ilvl]
        for deeper in range(ilvl + 1, _MAX_LEVELS):
            counts[deeper] = 0  # a new item restarts the levels under it
        if level.fmt == "none" or len(level.text) > _MAX_LABEL:
            return None
        if level.fmt == "bullet":
            return BULLET + " "

        def number(m: re.Match[str]) -> str:
            i = int(m.group(1)) - 1
            shown = counts[i] or started[i]
            fmt = levels[i].fmt if i in levels else "decimal"
            return str(shown) if level.legal and i != ilvl else format_number(shown, fmt)

        label = _LEVEL_REF.sub(number, level.text).strip()
        if not label or len(label) > _MAX_LABEL:
            return None
        # 「一、」 and 「（一）」 end in their own punctuation: Word's tab after them is
        # layout. After 「1.」 or 「a)」 a space keeps the number off the text.
        joined = level.separator == "nothing" or not label[-1].isascii()
        return label if joined else label + " "


_T = TypeVar("_T", int, None)


def int_or(value: str | None, default: _T) -> int | _T:
    """An attribute's integer, or `default` where it is missing or no integer."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _levels(abstract) -> dict[int, Level]:
    levels = {}
    for lvl in abstract.iter(f"{W}lvl"):
        ilvl = int_or(lvl.get(f"{W}ilvl"), -1)
        if not 0 <= ilvl < _MAX_LEVELS:
            continue
        values = {name: (el.get(f"{W}val") if (el := lvl.find(f"{W}{name}")) is not None else None)
                  for name in ("start", "numFmt", "lvlText", "suff", "pStyle")}  # fmt: skip
        legal = lvl.find(f"{W}isLgl")
        levels[ilvl] = Level(
            start=int_or(values["start"], 1),
            fmt=values["numFmt"] or "decimal",
            text=values["lvlText"] if values["lvlText"] is not None else f"%{ilvl + 1}.",
            legal=legal is not None and legal.get(f"{W}val", "true") not in ("0", "false"),
            separator=values["suff"] or "tab",
            style=values["pStyle"],
        )
    return levels


def read_numbering(stream) -> Numbering:
    """The lists of word/numbering.xml (a stream of it), each definition dropped once
    read: the part is parsed as a stream, as the document's body is."""
    from lxml import etree

    abstracts: dict[str | None, dict[int, Level]] = {}
    nums = []
    for _, el in etree.iterparse(stream, tag=(f"{W}abstractNum", f"{W}num")):
        if el.tag == f"{W}abstractNum":
            abstracts[el.get(f"{W}abstractNumId")] = _levels(el)
        else:
            nums.append(_num(el))
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
    numbering = Numbering()
    for num_id, ref, overrides in nums:  # a w:num may come before the definition it names
        levels = {**abstracts.get(ref, {}), **{ilvl: level for ilvl, (_, level) in overrides.items() if level}}
        numbering.lists[num_id] = levels
        numbering.starts.update({(num_id, ilvl): start for ilvl, (start, _) in overrides.items() if start is not None})
    return numbering


def _num(num) -> tuple[str, str | None, dict[int, tuple[int | None, Level | None]]]:
    """A w:num: its id, the definition it names, and per level a new start or definition."""
    ref = num.find(f"{W}abstractNumId")
    overrides = {}
    for override in num.iter(f"{W}lvlOverride"):
        ilvl = int_or(override.get(f"{W}ilvl"), -1)
        start = override.find(f"{W}startOverride")
        redefined = _levels(override)
        overrides[ilvl] = (
            int_or(start.get(f"{W}val"), 1) if start is not None else None,
            redefined.get(ilvl),
        )
    return num.get(f"{W}numId", ""), ref.get(f"{W}val") if ref is not None else None, overrides
