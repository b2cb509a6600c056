"""Find and read documents: bytes → decoded text → cleaned text.

Every failure is an InputError naming the file and the cause, so that a batch can
report it and go on with the other files.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .clean import clean
from .config import TEXT_SUFFIXES, InputError
from .segment import find_title

_MARKDOWN_SUFFIXES = (".md", ".markdown")
# Share of decoded characters that must be ordinary text for a GB18030 guess to stand:
# arbitrary bytes often decode as GB18030 without error, but into rare characters.
_PLAUSIBLE_SHARE = 0.9
# Whitespace, printable ASCII, CJK ideographs and CJK, full-width and general punctuation.
_ORDINARY = re.compile(r"[\s -~\u4e00-\u9fff\u3000-\u303f\uff00-\uffef\u2010-\u206f]")


@dataclass(frozen=True)
class Document:
    """A document ready to segment: `text` is the cleaned text all offsets refer to."""

    doc_id: str
    path: str
    title: str
    text: str
    sha256: str  # of the file's bytes: tells an unchanged file from a changed one


def find_files(paths: list[Path]) -> list[Path]:
    """The text files named by `paths`, directories walked recursively, in a stable order.

    A path that does not exist is an error; so is a directory without text files.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                Path(root) / name
                for root, dirs, names in os.walk(path)
                for name in names
                if name.lower().endswith(TEXT_SUFFIXES) and not name.startswith(".")
            )
            if not files:
                raise InputError(path, f"no text files ({', '.join(TEXT_SUFFIXES)}) in this directory")
            found.extend(files)
        elif path.exists():
            found.append(path)
        else:
            raise InputError(path, "no such file or directory")
    # A file named twice (directly and inside a named directory) is read once.
    unique: dict[Path, Path] = {}
    for p in found:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def _plausible(text: str) -> bool:
    return len(_ORDINARY.findall(text)) >= _PLAUSIBLE_SHARE * len(text)


def decode(data: bytes, path: Path | str) -> str:
    """Decode a text file: UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise InputError(path, f"invalid UTF-16 at byte {e.start}") from None
    if b"\x00" in data:
        raise InputError(path, "binary file (contains NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        utf8_error = e
    try:
        text = data.decode("gb18030")
        if _plausible(text):
            return text
    except UnicodeDecodeError:
        pass
    bad = data[utf8_error.start : utf8_error.start + 1].hex()
    raise InputError(
        path,
        f"cannot decode: not UTF-8 (byte 0x{bad} at offset {utf8_error.start}) and not GB18030 text; "
        "convert it to UTF-8",
    )


def doc_id_for(path: Path) -> str:
    """A stable id: the path relative to the working directory when it lies below it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def load_document(path: Path) -> Document:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(path, e.strerror or str(e)) from None
    if not data.strip():
        raise InputError(path, "empty file")
    text = clean(decode(data, path), markdown=path.suffix.lower() in _MARKDOWN_SUFFIXES)
    if not text:
        raise InputError(path, "no text left once site chrome and junk were removed")
    return Document(
        doc_id=doc_id_for(path),
        path=str(path),
        title=find_title(text, fallback=path.stem),
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
    )
