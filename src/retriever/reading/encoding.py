"""Bytes to text in any common Chinese encoding: a BOM, a declared charset, UTF-8, or
the likelier of GB18030 and Big5 by jieba's word model; a file in none of them is an
InputError that says so."""

from __future__ import annotations

import codecs
import itertools
import math
import re
from functools import lru_cache
from pathlib import Path

from retriever.errors import InputError
from retriever.text.words import for_matching, load_jieba

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
