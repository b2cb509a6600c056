"""Batch summaries: documents → one record each (title, summary, outline, keywords).

The records of `retriever summarize` and of `summarize_files`/`summarize_text`. Files
are done one after the other: embedding the sentences takes nearly all the time (12
.docx reports of 200,000 characters: 0.17 s to read, 39 s to summarize) and the model
already uses both cores, so reading ahead on threads measured no gain. A file that
cannot be read becomes a failed record with its cause; the others go on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from retriever.config import ENV_MAX_FILE_MB, LIMITS, ProgressCallback, SummaryConfig, announce, max_file_bytes
from retriever.embedding.embedders import Embedder
from retriever.errors import InputError, counted, path_text
from retriever.reading.load import STDIN_NAME, Document, find_files, load_document, load_stream
from retriever.summary.extract import Summary, summarize_document
from retriever.summary.keywords import Reference, keywords
from retriever.text.metadata import Metadata
from retriever.text.segment import paragraphs


@dataclass(frozen=True)
class DocumentSummary:
    """One record of `retriever summarize`."""

    path: str
    title: str
    chars: int
    summary: Summary
    outline: list[dict]  # {"level": int (1 the top), "title": str, "start": int}
    keywords: list[str]
    query: str | None = None
    notes: tuple[str, ...] = ()  # what reading it repaired (load.Document.notes); why its summary is empty
    meta: Metadata = Metadata()  # its date and issuers (load.Document.meta)
    # The file it was read from (None for text and standard input): `path` is only
    # its name as shown, with bytes that are not UTF-8 escaped.
    source: Path | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        out = {
            "path": self.path,
            "title": self.title,
            "chars": self.chars,
            "date": self.meta.date,
            "issuer": self.meta.issuer,
            "summary": self.summary.text,
            "sentences": self.summary.to_dict()["sentences"],
            "outline": self.outline,
            "keywords": self.keywords,
        }
        if self.query is not None:
            out["query"] = self.query
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def budget(chars: int, max_chars: int | None, ratio: float | None, config: SummaryConfig = SummaryConfig()) -> int:
    """Characters a document's summary may use: `ratio` of the document (never under
    config.ratio_floor_chars nor over Limits.max_summary_chars), capped by `max_chars`
    when both are given."""
    if ratio is None:
        return max_chars if max_chars is not None else config.doc_max_chars
    by_ratio = min(max(round(ratio * chars), config.ratio_floor_chars), LIMITS.max_summary_chars)
    return min(by_ratio, max_chars) if max_chars is not None else by_ratio


def summarize_one(
    doc: Document,
    embedder: Embedder,
    max_chars: int | None = None,
    ratio: float | None = None,
    query: str | None = None,
    source: Path | None = None,
    reference: Reference | None = None,
    progress: ProgressCallback | None = None,
) -> DocumentSummary:
    paras = paragraphs(doc.text)
    # A level is a depth in the outline, from 1: the length of the heading's own path. Its
    # rank differs by how it was found (Word's Heading 1 and 第一章 rank 0, 一、 1) and by
    # what the document skips (「一是」 points right under 「一、」 are level 2, not 3).
    outline = [
        {"level": len(p.path), "title": h.title, "start": p.sentences[0].start}
        for p in paras
        if (h := p.outline_heading) and p.sentences
    ]
    chars = budget(len(doc.text), max_chars, ratio)
    # A share of the text is quoted in whole sentences: a budget in characters may cut a
    # long one at a comma to say more, a share is approximate anyway, and pieces of
    # sentences under a small share read badly (「…是能够推动…」).
    whole = ratio is not None
    embedding = (lambda done, total: progress("sentences", done, total)) if progress else None
    summary = summarize_document(doc.text, doc.doc_id, doc.title, embedder, chars, query=query, whole=whole, progress=embedding)
    notes = doc.notes
    if not summary.text:  # said, not left to an empty field
        least = SummaryConfig().min_sentence_chars
        lengths = [len(s.text) for p in paras for s in p.sentences if len(s.text) >= least]
        if whole and lengths:
            notes += (
                f"nothing quoted: --ratio {ratio:g} gives {chars:,} characters, and its shortest whole sentence has "
                f"{min(lengths):,}; raise --ratio or give --max-chars",
            )
        elif lengths and chars < least:
            notes += (f"nothing quoted: a budget of {counted(chars, 'character')} holds no sentence (they have {least} or more)",)
        else:
            notes += (
                f"nothing to summarize: no sentence of {least} characters or more in its {counted(len(doc.text), 'character')}",
            )
    return DocumentSummary(
        path=doc.path,
        title=doc.title,
        chars=len(doc.text),
        summary=summary,
        outline=outline,
        keywords=keywords(doc.text, reference=reference),
        query=query,
        notes=notes,
        meta=doc.meta,
        source=source,
    )


def _inputs(
    paths: Sequence[Path | str], include: Sequence[str] | None, exclude: Sequence[str] | None, follow_links: bool
) -> list[Path | str | InputError]:
    """Files to read, in order: each given path expanded, or the error that it is
    (a link not followed among them)."""
    out: list[Path | str | InputError] = []
    roots = [Path(p) for p in paths if str(p) != STDIN_NAME]
    for p in paths:
        if str(p) == STDIN_NAME:
            out.append(STDIN_NAME)
            continue
        try:
            files, links, _ = find_files([Path(p)], include, exclude, follow_links, roots)
            out.extend(files)
            out.extend(links)
        except InputError as e:
            out.append(e)
    return out


def _read(item: Path | str | InputError) -> Document | InputError:
    if isinstance(item, InputError):
        return item
    try:
        if item != STDIN_NAME:
            return load_document(Path(item))
        limit = max_file_bytes()
        data = sys.stdin.buffer.read(limit + 1)  # bounded: `cat /dev/zero |` never ends
        if len(data) > limit:
            raise InputError(STDIN_NAME, f"too large (over {limit / 2**20:.0f} MB; set {ENV_MAX_FILE_MB} to raise it)")
        return load_stream(data, STDIN_NAME)
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
    follow_links: bool = False,
    reference: Reference | None = None,
    skip: Sequence[Path] = (),
) -> Iterable[DocumentSummary | InputError]:
    """One record per file under `paths` (`-` reads standard input), as each is done;
    keywords are set apart against `reference` (an index's words) if given. Files of
    `skip` are never read (the file the records are written to, inside a folder read).

    `embedder()` gives the model; it is called only for readable documents, so that a
    run whose files all fail never loads it.
    """
    skipped = {os.path.realpath(p) for p in skip}
    items = [
        i for i in _inputs(paths, include, exclude, follow_links) if not isinstance(i, Path) or os.path.realpath(i) not in skipped
    ]
    for n, item in enumerate(items, 1):
        if not isinstance(item, InputError):
            announce(progress, "summarize", path_text(item))
        doc = _read(item)
        if isinstance(doc, InputError):
            yield doc
        else:
            source = item if isinstance(item, Path) else None
            yield summarize_one(doc, embedder(), max_chars, ratio, query, source=source, reference=reference, progress=progress)
        if progress:
            progress("summarize", n, len(items))
