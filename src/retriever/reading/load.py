"""Find and read documents: bytes → raw text (a reader per format: encoding.py for plain
text, html.py, docx.py, pdf.py) → cleaned text.

Plain text and Markdown in any common Chinese encoding, HTML pages (their main text),
.docx and .pdf. Every failure is an InputError naming the file and the cause, so that a
batch can report it and go on with the other files.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from retriever.config import (
    DOCUMENT_SUFFIXES,
    DOCX_SUFFIXES,
    ENV_MAX_CHARS,
    ENV_MAX_FILE_MB,
    HTML_SUFFIXES,
    PDF_SUFFIXES,
    TEXT_SUFFIXES,
    ReadLimits,
    max_file_bytes,
)
from retriever.errors import InputError, TooMuchText, counted, path_text
from retriever.reading.docx import read_docx
from retriever.reading.encoding import decode
from retriever.reading.extracted import Extracted, ReadBudget, reason, refuse_ole, refuse_rtf, sniff
from retriever.reading.html import read_html
from retriever.reading.pdf import read_pdf
from retriever.text.clean import clean
from retriever.text.metadata import Metadata, metadata
from retriever.text.segment import find_title, unglue_title

__all__ = ["Document", "decode", "doc_id_for", "find_files", "load_document", "load_stream"]

_MARKDOWN_SUFFIXES = (".md", ".markdown")
READ_FORMATS = (".txt", ".md", ".html", ".docx", ".pdf")
STDIN_NAME = "-"


@dataclass(frozen=True)
class Document:
    """A document ready to segment: `text` is the cleaned text all offsets refer to."""

    doc_id: str
    path: str
    title: str
    text: str
    sha256: str  # of the file's bytes: tells an unchanged file from a changed one
    notes: tuple[str, ...] = ()  # what reading it repaired, for the user to know
    meta: Metadata = Metadata()  # its date and issuers, from the file and the text


def _matches(patterns: Sequence[str], name: str, relative: str) -> bool:
    """Does a glob match the file name or its path below the directory walked?
    Case-insensitive, like the suffixes: `*.pdf` finds `REPORT.PDF`."""
    name, relative = name.lower(), relative.lower()
    return any(fnmatch.fnmatchcase(name, p.lower()) or fnmatch.fnmatchcase(relative, p.lower()) for p in patterns)


def _inside(real: str, roots: Sequence[str]) -> bool:
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def _outside(path: Path, real: str) -> InputError:
    return InputError(
        path, f"a link to {path_text(real)}, outside the paths being read: not followed (--follow-links follows it)"
    )


# Formats people keep text in that are not read: a folder of them is said, not passed over.
OTHER_TEXT_SUFFIXES = (".doc", ".wps", ".rtf", ".odt", ".pages", ".epub")


class Found(NamedTuple):
    files: list[Path]
    refused: list[InputError]  # symbolic links not followed, each saying so
    other: Counter[str]  # files of OTHER_TEXT_SUFFIXES passed over in directories, by suffix


def _walk(top: Path, include: Sequence[str], exclude: Sequence[str], roots: Sequence[str], follow_links: bool) -> Found:
    """Supported files below `top`, hidden ones skipped, the links not followed, and
    the files of other text formats passed over (none when `include` chooses).

    A symbolic link that leads out of `roots` (the real paths of everything being
    read) is not followed unless `follow_links`: a link such as `passwd.txt ->
    /etc/passwd` in a shared folder would otherwise put that file into the index. A
    link to a directory inside the tree (a loop back up, or a second way to a
    directory walked anyway) is never entered; one leading out of it, once.
    """
    top_real = os.path.realpath(top)
    seen = {top_real}
    found: list[Path] = []
    refused: list[InputError] = []
    other: Counter[str] = Counter()
    for root, dirs, names in os.walk(top, followlinks=True):
        here = Path(root)
        below = here.relative_to(top)
        kept = []
        for d in sorted(dirs):
            if d.startswith(".") or _matches(exclude, d, (below / d).as_posix()):
                continue
            real, link = os.path.realpath(here / d), os.path.islink(here / d)
            if link and not follow_links and not _inside(real, roots):
                refused.append(_outside(here / d, real))
                continue
            if real in seen or (link and _inside(real, [top_real])):
                continue
            seen.add(real)
            kept.append(d)
        dirs[:] = kept
        for name in names:
            if name.startswith("."):
                continue
            relative = (below / name).as_posix()
            if not name.lower().endswith(DOCUMENT_SUFFIXES):
                suffix = os.path.splitext(name)[1].lower()
                if suffix in OTHER_TEXT_SUFFIXES and not include and not _matches(exclude, name, relative):
                    other[suffix] += 1
                continue
            if include and not _matches(include, name, relative):
                continue
            if _matches(exclude, name, relative):
                continue
            path = here / name
            if path.is_symlink():
                # A broken link or a loop of links is kept, to be reported when read.
                real = os.path.realpath(path)
                if os.path.exists(real) and not follow_links and not _inside(real, roots):
                    refused.append(_outside(path, real))
                    continue
                found.append(path)
            else:
                # A named pipe or socket with a document's name too: reading it says what
                # it is and skips it (read_file), rather than passing it over unsaid.
                found.append(path)
    return Found(sorted(found), refused, other)


def find_files(
    paths: Sequence[Path],
    include: Sequence[str] | str | None = None,
    exclude: Sequence[str] | str | None = None,
    follow_links: bool = False,
    roots: Sequence[Path] | None = None,
) -> Found:
    """The documents named by `paths`, directories walked recursively, in a stable
    order; the symbolic links found there that lead out of `roots` (default:
    `paths`) and were not followed, each as an InputError that says so; and how many
    files of other text formats (.doc, .rtf…) the directories held.

    In directories, only supported suffixes (config.DOCUMENT_SUFFIXES) are taken, hidden
    files and directories are skipped, and `include`/`exclude` glob patterns (fnmatch:
    `*.pdf`, `drafts/*`) filter by file name or by path below the directory; an excluded
    directory is not entered. A file named explicitly is always taken, whatever its
    suffix or the patterns, and followed if it is a link. A path that does not exist is
    an error; so is a directory without documents.
    """
    include, exclude = _patterns(include), _patterns(exclude)
    real_roots = [os.path.realpath(p) for p in (roots or paths)]
    found: list[Path] = []
    refused: list[InputError] = []
    other: Counter[str] = Counter()
    for path in map(Path, paths):
        if path.is_dir():
            walked = _walk(path, include, exclude, real_roots, follow_links)
            if not walked.files and not walked.refused:
                filtered = " matching the include/exclude patterns" if include or exclude else ""
                held = f" (it holds {unread(walked.other)})" if walked.other else ""
                raise InputError(path, f"no documents ({', '.join(DOCUMENT_SUFFIXES)}){filtered} in this directory{held}")
            found.extend(walked.files)
            refused.extend(walked.refused)
            other += walked.other
        elif path.exists():
            found.append(path)
        elif path.is_symlink():
            raise InputError(path, "broken symbolic link (or a loop of links)")
        else:
            raise InputError(path, "no such file or directory")
    # A file found twice (named directly and inside a named directory, or through a
    # link) is read once: by its own name where it has one here, not a link's.
    direct = {os.path.abspath(p) for p in found if os.path.realpath(p) == os.path.abspath(p)}
    unique: dict[str, Path] = {}
    for p in found:
        real = os.path.realpath(p)
        if real not in direct or real == os.path.abspath(p):
            unique.setdefault(real, p)
    return Found(list(unique.values()), refused, other)


def unread(other: Counter[str]) -> str:
    """Files of other text formats, as a note says them: 「3 .doc files and 1 .rtf file,
    not read: save them as .docx, .txt or .pdf」."""
    counts = [counted(n, f"{suffix} file") for suffix, n in sorted(other.items(), key=lambda x: (-x[1], x[0]))]
    them = "them" if sum(other.values()) > 1 else "it"
    return f"{' and '.join(counts)}, not read: save {them} as .docx, .txt or .pdf"


def _patterns(patterns: Sequence[str] | str | None) -> list[str]:
    """Glob patterns: one pattern is one pattern, not the characters of its text."""
    return [patterns] if isinstance(patterns, str) else list(patterns or [])


def doc_id_for(path: Path, base: Path | None = None) -> str:
    """A stable id: the path relative to `base` (an index's folder of origin, default
    the working directory) when it lies below it, else absolute."""
    resolved = Path(os.path.realpath(path))  # unlike Path.resolve, never raises on a loop of links
    try:
        return path_text(resolved.relative_to((base or Path.cwd()).resolve()).as_posix())
    except ValueError:
        return path_text(resolved.as_posix())


def format_of(path: Path | str, data: bytes) -> str:
    """The format to read: "text", "markdown", "html", "docx" or "pdf" by suffix; for a
    suffix that names no format (a saved page such as .shtml or .asp, a PDF without a
    suffix), by content."""
    suffix = Path(path).suffix.lower()
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    for fmt, suffixes in (("html", HTML_SUFFIXES), ("docx", DOCX_SUFFIXES), ("pdf", PDF_SUFFIXES)):
        if suffix in suffixes:
            return fmt
    sniffed = sniff(data)
    if sniffed == "docx" and suffix and suffix not in DOCUMENT_SUFFIXES:
        # A zip archive named for what it is (.xlsx, .pptx, .zip): say that the format
        # is not read, rather than that it is a broken .docx.
        raise InputError(path, f"{suffix} files are not read (the formats read: {', '.join(READ_FORMATS)})")
    # A binary format is told by its magic number whatever the name says; a .txt that
    # holds markup stays text, as it always was.
    return "text" if suffix in TEXT_SUFFIXES and sniffed == "html" else sniffed


_READERS = {"html": read_html, "docx": read_docx, "pdf": read_pdf}
# A character takes at most 4 bytes in every encoding read (UTF-8, GB18030, UTF-16/32):
# plain text of more bytes holds too many characters, told before it is decoded.
_MAX_BYTES_PER_CHAR = 4


def _extract(fmt: str, data: bytes, path: str, limits: ReadLimits) -> Extracted:
    if fmt == "ole":
        refuse_ole(path)
    if fmt == "rtf":
        refuse_rtf(path)
    reader = _READERS.get(fmt)
    if reader is None:
        budget = ReadBudget(path, limits)
        if len(data) > _MAX_BYTES_PER_CHAR * budget.max_chars:
            raise TooMuchText(path, budget.max_chars, ENV_MAX_CHARS)
        notes: list[str] = []
        return Extracted(decode(data, path, notes=notes), notes=tuple(notes))
    try:
        return reader(data, path, limits)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001
        # The readers turn what their libraries raise into InputError; a malformed
        # file that still gets through must not stop a batch either.
        raise InputError(path, f"cannot read this {fmt} file ({reason(e)})") from None


def _document(data: bytes, fmt: str, doc_id: str, path: str, fallback_title: str, limits: ReadLimits = ReadLimits()) -> Document:
    if not data.strip():
        raise InputError(path, "empty file")
    extracted = _extract(fmt, data, path, limits)
    # The readers that do not stream are checked here, before cleaning (seconds a million characters).
    ReadBudget(path, limits).text(extracted.text)
    text = unglue_title(clean(extracted.text, markdown=fmt == "markdown"))
    if not text:
        raise InputError(path, "no text left once site chrome and junk were removed")
    title = extracted.title or find_title(text, fallback=fallback_title)
    return Document(
        doc_id=doc_id,
        path=path,
        title=title,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        notes=extracted.notes,
        meta=metadata(title, text, extracted.properties),
    )


def load_document(path: Path, base: Path | None = None) -> Document:
    """Read one file of any supported format into a cleaned Document, its id relative
    to `base` (doc_id_for)."""
    path = Path(path)
    data = read_file(path, max_file_bytes())
    return _document(data, format_of(path, data), doc_id_for(path, base), path_text(path), path_text(path.stem))


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (a link followed), at most `limit` of them: a FIFO or
    a device is refused before it is read (one could block for ever, /dev/zero never
    ends), and no more than the limit is read whatever size the file reports (/proc
    files report 0)."""
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            kind = os.fstat(fd)
            if not stat.S_ISREG(kind.st_mode):
                raise InputError(path, f"{_KINDS.get(stat.S_IFMT(kind.st_mode), 'a special file')}, not a regular file: not read")
            data = b"" if kind.st_size > limit else f.read(limit + 1)
    except OSError as e:
        broken = path.is_symlink() and not path.exists()
        raise InputError(path, "broken symbolic link (or a loop of links)" if broken else e.strerror or str(e)) from None
    if kind.st_size > limit or len(data) > limit:
        size = max(kind.st_size, len(data))
        raise InputError(
            path,
            f"too large ({'over ' if size == len(data) else ''}{size / 2**20:.0f} MB, the limit is {limit / 2**20:.0f} MB; "
            f"set {ENV_MAX_FILE_MB} to raise it)",
        )
    return data


_KINDS = {
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
}


def load_stream(data: bytes, name: str = STDIN_NAME, fmt: str | None = None, limits: ReadLimits = ReadLimits()) -> Document:
    """A Document from bytes read from standard input or uploaded: `name` is its doc_id
    and path; the format is `fmt` ("text", "markdown", "html", "docx", "pdf"), or told
    by the name's suffix and the content as for a file. `limits` bound what reading it
    may cost (the service's are tighter)."""
    name = path_text(name)
    if name == STDIN_NAME:
        return _document(data, fmt or sniff(data), name, name, "stdin", limits)
    return _document(data, fmt or format_of(name, data), name, name, Path(name).stem, limits)
