"""Batch summaries: documents → one record each (title, summary, outline, keywords).

The records of `retriever summarize` and of `summarize_files`/`summarize_text`. Files
are done one after the other: embedding the sentences takes nearly all the time (12
.docx reports of 200,000 characters: 0.17 s to read, 39 s to summarize) and the model
already uses both cores, so reading ahead on threads measured no gain. A file that
cannot be read becomes a failed record with its cause; the others go on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .bm25 import keywords
from .config import InputError, SummaryConfig, UsageError
from .embed import Embedder
from .load import Document, find_files, load_document, load_stream
from .segment import paragraphs
from .summarize import Summary, summarize_document

# (stage, done, total); the stage is "summarize" (documents).
ProgressCallback = Callable[[str, int, int], None]

STDIN = "-"


@dataclass(frozen=True)
class DocumentSummary:
    """One record of `retriever summarize`."""

    path: str
    title: str
    chars: int
    summary: Summary
    outline: list[dict]  # {"level": int, "title": str, "start": int}
    keywords: list[str]
    query: str | None = None

    def to_dict(self) -> dict:
        out = {
            "path": self.path,
            "title": self.title,
            "chars": self.chars,
            "summary": self.summary.text,
            "sentences": self.summary.to_dict()["sentences"],
            "outline": self.outline,
            "keywords": self.keywords,
        }
        if self.query is not None:
            out["query"] = self.query
        return out


def record_dict(record: DocumentSummary | InputError) -> dict:
    """The JSON record of a summary, or {"path", "error"} for a file that failed."""
    if isinstance(record, InputError):
        return {"path": record.path, "error": record.cause}
    return record.to_dict()


def budget(chars: int, max_chars: int | None, ratio: float | None, config: SummaryConfig = SummaryConfig()) -> int:
    """Characters a document's summary may use: `ratio` of the document (never under
    config.ratio_floor_chars), capped by `max_chars` when both are given."""
    if ratio is None:
        return max_chars if max_chars is not None else config.doc_max_chars
    if not 0 < ratio <= 1:
        raise UsageError(f"--ratio must be above 0 and at most 1, not {ratio}")
    by_ratio = max(round(ratio * chars), config.ratio_floor_chars)
    return min(by_ratio, max_chars) if max_chars is not None else by_ratio


def summarize_one(
    doc: Document,
    embedder: Embedder,
    max_chars: int | None = None,
    ratio: float | None = None,
    query: str | None = None,
) -> DocumentSummary:
    outline = [
        {"level": p.heading.rank, "title": p.heading.title, "start": p.sentences[0].start}
        for p in paragraphs(doc.text)
        if p.heading and p.sentences
    ]
    chars = budget(len(doc.text), max_chars, ratio)
    return DocumentSummary(
        path=doc.path,
        title=doc.title,
        chars=len(doc.text),
        summary=summarize_document(doc.text, doc.doc_id, doc.title, embedder, chars, query=query),
        outline=outline,
        keywords=keywords(doc.text),
        query=query,
    )


def _inputs(
    paths: Sequence[Path | str], include: Sequence[str] | None, exclude: Sequence[str] | None
) -> list[Path | str | InputError]:
    """Files to read, in order: each given path expanded, or the error that it is."""
    out: list[Path | str | InputError] = []
    for p in paths:
        if str(p) == STDIN:
            out.append(STDIN)
            continue
        try:
            out.extend(find_files([Path(p)], include=include, exclude=exclude))
        except InputError as e:
            out.append(e)
    return out


def _read(item: Path | str | InputError) -> Document | InputError:
    if isinstance(item, InputError):
        return item
    try:
        return load_stream(sys.stdin.buffer.read(), STDIN) if item == STDIN else load_document(Path(item))
    except InputError as e:
        return e


def summarize_paths(
    paths: Sequence[Path | str],
    embedder: Callable[[], Embedder],
    max_chars: int | None = None,
    ratio: float | None = None,
    query: str | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    progress: ProgressCallback | None = None,
) -> Iterable[DocumentSummary | InputError]:
    """One record per file under `paths` (`-` reads standard input), as each is done.

    `embedder()` gives the model; it is called only for readable documents, so that a
    run whose files all fail never loads it.
    """
    budget(0, max_chars, ratio)  # a bad --ratio is an error before any work
    items = _inputs(paths, include, exclude)
    for n, doc in enumerate(map(_read, items), 1):
        yield doc if isinstance(doc, InputError) else summarize_one(doc, embedder(), max_chars, ratio, query)
        if progress:
            progress("summarize", n, len(items))
