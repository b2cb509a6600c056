"""A .docx to raw text: paragraphs, headings from their styles and outline levels (as
Markdown marks), Word's own numbering drawn as it shows it, list items and table rows
as Markdown writes them; bounded against zip bombs and floods of empty runs."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from retriever.config import ReadLimits
from retriever.errors import InputError
from retriever.reading.docx_numbering import Numbering, int_or, read_numbering
from retriever.reading.docx_numbering import W as _W
from retriever.reading.extracted import (
    OLE_MAGIC,
    ZIP_MAGIC,
    Extracted,
    ReadBudget,
    one_line,
    reason,
    refuse_ole,
    table_lines,
)
from retriever.text.metadata import FileProperties

_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Subtrees whose text is not the paragraph's own: deleted revisions, text boxes (their
# paragraphs are their own), the fallback copy of alternate content; and properties,
# which hold no text.
_DOCX_SKIP = frozenset({f"{_W}del", f"{_W}txbxContent", _MC_FALLBACK, f"{_W}pPr", f"{_W}rPr"})
_DOCX_TITLE_STYLE = re.compile(r"^(?:title|标题|標題)$", re.IGNORECASE)
# Word's heading styles by name (stored in English whatever Word shows, but some tools
# write localized names): "heading 2", "标题 2", "標題 2".
_DOCX_HEADING_STYLE = re.compile(r"^(?:heading|标题|標題)\s*([1-9])$", re.IGNORECASE)
_BODY_TEXT_LEVEL = 9  # w:outlineLvl 9: body text, no heading


@dataclass(frozen=True)
class _Style:
    id: str
    name: str
    outline_level: int | None  # 0 for a top heading (Heading 1), None where the style sets none
    based_on: str | None
    numbering: tuple[str, int | None] | None = None  # the list (w:numId) and level that number it


def _paragraph_style(paragraph, styles: dict[str, _Style]) -> _Style | None:
    style_id = paragraph.find(f"{_W}pPr/{_W}pStyle")
    return styles.get(style_id.get(f"{_W}val", "")) if style_id is not None else None


def _heading_level(paragraph, style: _Style | None, styles: dict[str, _Style]) -> int | None:
    """A paragraph's heading level (1 for Heading 1), by its own outline level, else its
    style's or the style it is based on, else the style's name; None for body text.
    Many Word documents mark their headings so, without numbers in the text."""
    own = paragraph.find(f"{_W}pPr/{_W}outlineLvl")
    if own is not None:
        level = int_or(own.get(f"{_W}val"), None)
        return level + 1 if level is not None and level < _BODY_TEXT_LEVEL else None
    for current in _chain(style, styles):
        if current.outline_level is not None:
            return current.outline_level + 1 if current.outline_level < _BODY_TEXT_LEVEL else None
        named = _DOCX_HEADING_STYLE.match(current.name.strip())
        if named:
            return int(named.group(1))
    return None


def _paragraph_label(paragraph, style: _Style | None, styles: dict[str, _Style], numbering: Numbering) -> str | None:
    """The number or bullet Word draws before the paragraph (「一、」, 「1. 」, 「- 」), by
    its own numbering or its style's; None for a paragraph without one."""
    own = paragraph.find(f"{_W}pPr/{_W}numPr")
    if own is not None:
        found, numbered_by = _numbering_of(own), None
    else:
        numbered_by = next((s for s in _chain(style, styles) if s.numbering), None)
        found = numbered_by.numbering if numbered_by else None
    if found is None or found[0] == "0":  # w:numId 0: numbering switched off
        return None
    num_id, ilvl = found
    if ilvl is None:  # a heading style linked to a list: the level that names the style
        ilvl = numbering.style_level(num_id, numbered_by.id) if numbered_by else 0
    return numbering.label(num_id, ilvl)


def _chain(style: _Style | None, styles: dict[str, _Style]) -> Iterator[_Style]:
    """The style and those it is based on, nearest first; a loop in a hostile file ends
    after ten."""
    for _ in range(10):
        if style is None:
            return
        yield style
        style = styles.get(style.based_on) if style.based_on else None


def _numbering_of(num_pr) -> tuple[str, int | None] | None:
    num_id, ilvl = num_pr.find(f"{_W}numId"), num_pr.find(f"{_W}ilvl")
    if num_id is None:
        return None
    return num_id.get(f"{_W}val", "0"), int_or(ilvl.get(f"{_W}val"), None) if ilvl is not None else None


def _paragraph_text(p) -> str:
    parts: list[str] = []
    stack = [p]
    while stack:
        el = stack.pop()
        tag = el.tag
        if tag == f"{_W}t":
            parts.append(el.text or "")
        elif tag == f"{_W}tab":
            parts.append("\t")
        elif tag in (f"{_W}br", f"{_W}cr"):
            parts.append("\n")
        elif tag == f"{_W}noBreakHyphen":
            parts.append("-")
        if tag not in _DOCX_SKIP:
            stack.extend(reversed([c for c in el if isinstance(c.tag, str)]))
    return "".join(parts)


def _docx_blocks(parent):
    """Paragraphs and tables in document order, through content controls."""
    for el in parent:
        if el.tag in (f"{_W}p", f"{_W}tbl"):
            yield el
        elif el.tag in (f"{_W}sdt", f"{_W}customXml"):
            content = el.find(f"{_W}sdtContent")
            yield from _docx_blocks(content if content is not None else el)


def _table_rows(tbl) -> list[str]:
    """One line per row, as Markdown writes a table's (table_lines); a merged cell is
    one cell, a nested table's rows are part of their cell's text."""
    rows = []
    for tr in tbl.iter(f"{_W}tr"):
        if next(tr.iterancestors(f"{_W}tbl")) is not tbl:
            continue
        cells = []
        for tc in tr.iter(f"{_W}tc"):
            if next(tc.iterancestors(f"{_W}tr")) is not tr:
                continue
            cells.append([t for t in (one_line(_paragraph_text(p)) for p in tc.iter(f"{_W}p")) if t])
        rows.extend(table_lines([cells]))
    return rows


_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_OFFICE_DOCUMENT = "/officeDocument"
_STYLES = "/styles"
_NUMBERING = "/numbering"
_CORE = "/core-properties"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
# What the main part's folder says an Office archive is, when it is not Word.
_NOT_WORD = {"xl": "an Excel workbook (.xlsx)", "ppt": "a PowerPoint presentation (.pptx)"}


def _check_inflation(archive: zipfile.ZipFile, names: list[str], path: Path | str, limits: ReadLimits) -> None:
    """Refuse a zip bomb before anything is inflated: the parts to read must not claim
    more than limits.max_inflated_bytes in all, nor inflate more than
    limits.max_inflate_ratio times. zipfile never inflates a part beyond the size it
    claims (and checks the CRC), so the claims bound what reading costs."""
    infos = [archive.getinfo(name) for name in names]
    total = sum(i.file_size for i in infos)
    if total > limits.max_inflated_bytes:
        raise InputError(
            path,
            f"a zip bomb? its text parts would inflate to {total / 2**20:,.0f} MB "
            f"(the limit is {limits.max_inflated_bytes / 2**20:.0f} MB)",
        )
    for i in infos:
        if i.file_size > limits.inflate_grace_bytes and i.file_size > limits.max_inflate_ratio * max(1, i.compress_size):
            raise InputError(
                path,
                f"a zip bomb? {i.filename} inflates {i.file_size / max(1, i.compress_size):,.0f} times "
                f"(to {i.file_size / 2**20:,.0f} MB; real documents: under {limits.max_inflate_ratio})",
            )


def _part_target(archive: zipfile.ZipFile, rels: str, kind: str, base: str) -> str | None:
    """The part a relationships file points to for `kind` (a type URI ending), as a
    name in the archive."""
    from lxml import etree

    try:
        root = etree.fromstring(archive.read(rels))
    except (KeyError, etree.XMLSyntaxError):
        return None
    for rel in root.iter(_RELS):
        if rel.get("Type", "").endswith(kind) and rel.get("TargetMode") != "External":
            target = rel.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
    return None


def _docx_parts(archive: zipfile.ZipFile, path: Path | str) -> tuple[str, str | None, str | None, str | None]:
    """The names of the main document part, of its styles, of its numbering and of its
    core properties."""
    main = _part_target(archive, "_rels/.rels", _OFFICE_DOCUMENT, "")
    if main is None:
        main = "word/document.xml"
    folder = main.split("/")[0]
    if folder in _NOT_WORD:
        raise InputError(path, f"{_NOT_WORD[folder]}, not a Word document: not supported (formats: .txt .md .html .docx .pdf)")
    if main not in archive.namelist():
        raise InputError(path, "not a readable .docx file (a zip archive without a Word document in it)")
    directory, name = posixpath.split(main)
    rels, names = f"{directory}/_rels/{name}.rels", set(archive.namelist())
    styles, numbering = (_part_target(archive, rels, kind, directory) for kind in (_STYLES, _NUMBERING))
    core = _part_target(archive, "_rels/.rels", _CORE, "")

    def present(part: str | None) -> str | None:
        return part if part in names else None

    return main, present(styles), present(numbering), present(core)


def _styles(archive: zipfile.ZipFile, part: str | None) -> dict[str, _Style]:
    """The document's paragraph styles by id: name, outline level, the style each is based on."""
    from lxml import etree

    if part is None:
        return {}
    styles = {}
    for _, style in etree.iterparse(archive.open(part), tag=f"{_W}style"):
        name, level, based = style.find(f"{_W}name"), style.find(f"{_W}pPr/{_W}outlineLvl"), style.find(f"{_W}basedOn")
        num_pr = style.find(f"{_W}pPr/{_W}numPr")
        style_id = style.get(f"{_W}styleId", "")
        styles[style_id] = _Style(
            style_id,
            name.get(f"{_W}val", "") if name is not None else "",
            int_or(level.get(f"{_W}val"), None) if level is not None else None,
            based.get(f"{_W}val") if based is not None else None,
            _numbering_of(num_pr) if num_pr is not None else None,
        )
        style.clear()
    return styles


def _core_properties(archive: zipfile.ZipFile, part: str | None) -> FileProperties:
    """Title, author and creation date from docProps/core.xml (a few elements)."""
    from lxml import etree

    if part is None:
        return FileProperties()
    root = etree.fromstring(archive.read(part))

    def first(tag: str) -> str | None:
        el = root.find(tag)
        return one_line(el.text) if el is not None and el.text and el.text.strip() else None

    created, creator = first(f"{_DCTERMS}created"), first(f"{_DC}creator")
    if (creator, created) in _TEMPLATE_STAMPS:  # the library's, not the document's
        created = creator = None
    return FileProperties(first(f"{_DC}title"), created, creator)


# Core properties that a library copies into every file it writes from its template:
# python-docx's default template says every such document was made on 2013-12-23 (files
# written by scripts, common in offices, would all be filed under 2013).
_TEMPLATE_STAMPS = {("python-docx", "2013-12-23T23:15:00Z")}


def _body_blocks(stream, budget: ReadBudget):
    """The children of <w:body>, one at a time, each dropped once used: the body is
    parsed as a stream, so memory holds one paragraph or table, not the document."""
    from lxml import etree

    depth = inside = 0
    for event, el in etree.iterparse(stream, events=("start", "end")):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        inside += 1
        if inside > budget.limits.max_block_elements:  # one paragraph or table, held whole until it ends
            raise InputError(
                budget.path,
                f"a paragraph or table of over {budget.limits.max_block_elements:,} XML elements: not a document this tool reads",
            )
        if depth == 2:  # <w:document> is depth 1, <w:body> 2: its children end at 2
            budget.block("paragraphs")
            inside = 0
            yield el
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]


def read_docx(data: bytes, path: Path | str, limits: ReadLimits = ReadLimits()) -> Extracted:
    """Paragraphs, list items and table rows of a Word document, in order;
    headers, footers, comments and deleted revisions left out. Read as a stream, within
    `limits` (a zip bomb is refused before it is inflated)."""
    from lxml import etree

    if data.startswith(OLE_MAGIC):
        refuse_ole(path)
    if not data.startswith(ZIP_MAGIC):
        raise InputError(path, "not a .docx file (not a zip archive)")
    budget = ReadBudget(path, limits)
    lines: list[str] = []
    title = None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            main, *parts = _docx_parts(archive, path)
            _check_inflation(archive, [main, *filter(None, parts)], path, limits)
            styles_part, numbering_part, core_part = parts
            properties = _core_properties(archive, core_part)
            styles = _styles(archive, styles_part)
            numbering = read_numbering(archive.open(numbering_part)) if numbering_part else Numbering()
            for element in _body_blocks(archive.open(main), budget):
                for block in _docx_blocks([element]):
                    if block.tag == f"{_W}tbl":
                        lines.extend(budget.text(row) for row in _table_rows(block))
                        continue
                    text = _paragraph_text(block)
                    style = _paragraph_style(block, styles)
                    label = _paragraph_label(block, style, styles, numbering) or ""  # counted even when empty, as Word does
                    budget.text(label + text)
                    if not text.strip():
                        lines.append(text)
                        continue
                    if title is None and style and _DOCX_TITLE_STYLE.match(style.name.strip()):
                        title = one_line(text)
                    level = _heading_level(block, style, styles)
                    # A heading marked by its style is written as Markdown marks it: the
                    # outline reads it as it reads a .md file's. Word's number goes
                    # before the text, where Word shows it (「一、」 makes a heading of a
                    # plain paragraph as it does in a text file; 「- 」 an item of a list).
                    lines.append(f"{'#' * min(level, 6)} {label}{one_line(text)}" if level else label + text)
    except InputError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, etree.XMLSyntaxError, KeyError, OSError, EOFError, ValueError) as e:
        raise InputError(path, f"not a readable .docx file ({reason(e)})") from None
    return Extracted("\n".join(lines), title, properties=properties)
