"""Writing summary records to a file: JSON Lines, Markdown or CSV, chosen by suffix."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from . import atomic
from .config import InputError, StorageError, UsageError
from .digest import DocumentSummary, record_dict

Record = DocumentSummary | InputError


def _jsonl(records: Sequence[Record]) -> str:
    return "".join(json.dumps(record_dict(r), ensure_ascii=False) + "\n" for r in records)


def _markdown(records: Sequence[Record]) -> str:
    out = []
    for r in records:
        if isinstance(r, InputError):
            out += [f"## {r.path}", "", f"**Not summarized:** {r.cause}", ""]
            continue
        out += [f"## {r.title or r.path}", "", f"`{r.path}` · {r.chars:,} characters"]
        if r.keywords:
            out[-1] += " · keywords: " + "、".join(r.keywords)
        if r.query:
            out[-1] += f" · question: {r.query}"
        out += ["", r.summary.text or "*(nothing to summarize)*", ""]
        if r.outline:
            top = min(h["level"] for h in r.outline)
            out += ["Outline:", ""]
            out += [f"{'  ' * (h['level'] - top)}- {h['title']}" for h in r.outline]
            out.append("")
    return "\n".join(out)


CSV_COLUMNS = ("path", "title", "chars", "keywords", "summary", "outline", "error")


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
            row = [r.path, "", "", "", "", "", r.cause]
        else:
            outline = " / ".join(h["title"] for h in r.outline)
            row = [r.path, r.title, r.chars, "、".join(r.keywords), r.summary.text, outline, ""]
        writer.writerow([_cell(c) if isinstance(c, str) else c for c in row])
    return buffer.getvalue()


WRITERS: dict[str, Callable[[Sequence[Record]], str]] = {".jsonl": _jsonl, ".md": _markdown, ".csv": _csv}


def check_out_path(path: Path) -> None:
    """UsageError unless the file's suffix names a format: checked before any work."""
    if path.suffix.lower() not in WRITERS:
        raise UsageError(f"{path}: unknown output format {path.suffix or '(no suffix)'}; use {', '.join(WRITERS)}")


def write_records(records: Sequence[Record], path: Path) -> None:
    """Write the records in the format the suffix names, atomically (a reader never sees
    half a file). CSV gets a BOM so that spreadsheet programs read it as UTF-8."""
    check_out_path(path)
    text = WRITERS[path.suffix.lower()](records)
    encoding = "utf-8-sig" if path.suffix.lower() == ".csv" else "utf-8"
    try:
        atomic.write_text(path, text, encoding=encoding)
    except OSError as e:
        raise StorageError(path, "the summaries", e) from None
