"""Writing summary records: JSON Lines, Markdown or CSV, chosen by name or by the file's
suffix, to a file or to standard output."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

from retriever import atomic
from retriever.errors import InputError, StorageError, UsageError

# Light to import (the reading stack comes with the documents, not with their records):
# `retriever ask` imports this module through the library's surface.
if TYPE_CHECKING:
    from retriever.summary.documents import DocumentSummary

Record = Union["DocumentSummary", InputError]


def record_dict(record: DocumentSummary | InputError) -> dict:
    """The JSON record of a summary, or {"path", "error"} for a file that failed."""
    if isinstance(record, InputError):
        return {"path": record.path, "error": record.cause}
    return record.to_dict()


def _jsonl(records: Sequence[Record]) -> str:
    return "".join(json.dumps(record_dict(r), ensure_ascii=False) + "\n" for r in records)


def _markdown(records: Sequence[Record]) -> str:
    out = []
    for r in records:
        if isinstance(r, InputError):
            out += [f"## {r.path}", "", f"**Not summarized:** {r.cause}", ""]
            continue
        out += [f"## {r.title or r.path}", "", f"`{r.path}` · {r.chars:,} characters"]
        out[-1] += r.meta.label()
        if r.keywords:
            out[-1] += " · keywords: " + "、".join(r.keywords)
        if r.query:
            out[-1] += f" · question: {r.query}"
        out += ["", r.summary.text or f"*({'; '.join(r.notes) or 'nothing to summarize'})*", ""]  # why it is empty
        if r.outline:
            out += ["Outline:", ""]
            out += [f"{'  ' * (h['level'] - 1)}- {h['title']}" for h in r.outline]
            out.append("")
    return "\n".join(out)


CSV_COLUMNS = ("path", "title", "chars", "date", "issuer", "keywords", "summary", "outline", "notes", "error")


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one that begins with = + - @ (or a tab
    or carriage return before them) would be run as a formula, e.g. =HYPERLINK(…) in a
    title. A leading apostrophe makes it text, as OWASP's guidance on CSV injection says."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(records: Sequence[Record]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for r in records:
        row: list[str | int]
        if isinstance(r, InputError):
            row = [r.path, "", "", "", "", "", "", "", "", r.cause]
        else:
            outline = " / ".join(h["title"] for h in r.outline)
            row = [
                r.path,
                r.title,
                r.chars,
                r.meta.date or "",
                r.meta.issuer or "",
                "、".join(r.keywords),
                r.summary.text,
                outline,
                "; ".join(r.notes),  # what reading repaired; why a summary is empty
                "",
            ]
        writer.writerow([_cell(c) if isinstance(c, str) else c for c in row])
    return buffer.getvalue()


WRITERS: dict[str, Callable[[Sequence[Record]], str]] = {"jsonl": _jsonl, "md": _markdown, "csv": _csv}
STDOUT = Path("-")  # --out -: standard output


def output_format(path: Path | None, fmt: str | None) -> str:
    """The format records are written in: `fmt` if given, else the file's suffix; a
    UsageError for neither, an unknown one, or two that differ (checked before any work)."""
    known = ", ".join(WRITERS)
    suffix = path.suffix.lower().lstrip(".") if path is not None and path != STDOUT else ""
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        if fmt not in WRITERS:
            raise UsageError(f"unknown output format {fmt!r}: choose one of {known}")
        if suffix in WRITERS and suffix != fmt:  # Markdown in a .csv file opens as nonsense
            raise UsageError(f"--format {fmt}, but {path} names the format {suffix}: choose one")
        return fmt
    if suffix not in WRITERS:
        where = "standard output" if path in (None, STDOUT) else f"{path} (suffix {path.suffix or 'none'})"
        raise UsageError(f"which format for {where}? give --format {'|'.join(WRITERS)}")
    return suffix


def write_records(records: Sequence[Record], path: Path, fmt: str | None = None) -> None:
    """Write the records in `fmt` (default: the format the suffix names) to `path`, or to
    standard output for `-`. A file is replaced atomically (a reader never sees half
    of it); a device or pipe named as a path (/dev/stdout) is written as it is. CSV in
    a file gets a BOM so that spreadsheet programs read it as UTF-8."""
    fmt = output_format(path, fmt)
    text = WRITERS[fmt](records)
    if path == STDOUT:
        with contextlib.suppress(BrokenPipeError):  # `… --format csv | head`: the reader has enough
            sys.stdout.write(text)
            sys.stdout.flush()
        return
    try:
        if path.exists() and not stat.S_ISREG(path.stat().st_mode):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            atomic.write_text(path, text, encoding="utf-8-sig" if fmt == "csv" else "utf-8")
    except OSError as e:
        raise StorageError(path, "the summaries", e) from None
