"""What every reader returns (Extracted) and shares: the budget that bounds what
reading one file may cost, one-line causes for library errors, the sniffing of a
format from its bytes.

Every failure is an InputError with a one-line cause: format libraries raise all kinds
of exceptions on malformed files, and a batch must be able to report a bad file and go
on. Format libraries are imported inside their reader, so that start-up does not pay
for formats it does not read.
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from retriever.config import ENV_MAX_CHARS, ReadLimits, max_document_chars
from retriever.errors import InputError, TooMuchText
from retriever.text.metadata import FileProperties


@dataclass(frozen=True)
class Extracted:
    """Raw text, one paragraph, heading or table row per line, and a title if the
    format names one (an HTML page's <h1> or <title>, a .docx Title paragraph)."""

    text: str
    title: str | None = None
    notes: tuple[str, ...] = ()  # what was repaired on the way (a character cut off at the end)
    properties: FileProperties = FileProperties()  # what the file's own properties say (date, author)


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
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc/.xls/.ppt, and password-protected .docx
_HTML_START = re.compile(
    rb"\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL
)


def sniff(data: bytes) -> str:
    """The format of bytes without a name: "pdf", "docx", "ole", "rtf", "html" or "text"."""
    if data.startswith(_PDF_MAGIC):
        return "pdf"
    if data.startswith(ZIP_MAGIC):
        return "docx"
    if data.startswith(OLE_MAGIC):
        return "ole"
    if data.removeprefix(codecs.BOM_UTF8).startswith(b"{\\rtf"):
        return "rtf"
    return "html" if _HTML_START.match(data[:1024].removeprefix(codecs.BOM_UTF8)) else "text"


def refuse_rtf(path: Path | str) -> NoReturn:
    # Its text is markup (「{\rtf1\ansi\ansicpg936 …」): read as plain text it gave
    # summaries and keywords of control words.
    raise InputError(path, "an RTF file (its text is markup, not read): save it as .docx or .txt")


def refuse_ole(path: Path | str) -> NoReturn:
    raise InputError(
        path,
        "a legacy Office file (.doc/.xls/.ppt) or a password-protected .docx: save it as .docx without a password",
    )


CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef"


def table_lines(rows: list[list[list[str]]]) -> list[str]:
    """A table's rows (each a list of cells, each a list of paragraphs) as lines: a row
    of two or more cells as Markdown writes it (「| 任务 | 责任单位 | 时限 |」), which keeps
    it whole through cleaning and out of summaries; a row of one cell (a framed box of
    text, a layout table) as its paragraphs; an empty row not at all."""
    lines = []
    for row in rows:
        cells = [" ".join(paragraphs).replace("|", "｜") for paragraphs in row if paragraphs]
        if len(cells) > 1:
            lines.append("| " + " | ".join(cells) + " |")
        elif cells:
            lines.extend(next(p for p in row if p))
    return lines


def one_line(text: str) -> str:
    return " ".join(text.split())


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
