"""Which documents a question is asked within: by path (`--in GLOB`), by date
(`--year`, `--since`, `--until`) and by name (`--doc`).

A Scope says what is wanted; select() finds the documents of an index it admits and
marks their passages. Search hands that mark to the vector store, which filters inside
its search (FAISS through an ID selector, Milvus through a filter expression), so that
k results come back however few documents the scope keeps, ranked as an index of only
those documents would rank them.

Dates are as precise as each document's (metadata.py): a document dated 「2019」 is
within `--since 2019-06`, as its year may be; a document without a date is outside any
date filter, and the selection counts those left out so that the user can be told.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

import numpy as np

from retriever.errors import UsageError
from retriever.index.folder import Index, IndexedDocument
from retriever.text.metadata import date_span, parse_date

_GLOB_MAGIC = re.compile(r"[*?\[]")
MAX_EACH = 64  # --in, --year or --doc given this many times at most
MAX_PATTERN_CHARS = 1_000


def _path_pattern(pattern: str) -> re.Pattern[str]:
    """A glob matched against a document's path or any tail of it that starts a
    folder or file name: 「2019/*.pdf」 finds 「/home/me/reports/2019/a.pdf」; a pattern
    without wildcards is a folder or a file (「reports/2019」, 「a.pdf」). Case is
    ignored, as the suffixes of the files read are."""
    pattern = pattern.strip().removeprefix("./").rstrip("/").lower()
    globs = [pattern] if _GLOB_MAGIC.search(pattern) else [pattern, f"{pattern}/*"]
    return re.compile(r"(?:^|.*/)(?:" + "|".join(fnmatch.translate(g) for g in globs) + ")")


def _day(value: str | None, option: str, last: bool) -> date | None:
    if value is None:
        return None
    parsed = parse_date(str(value))
    if parsed is None:
        raise UsageError(f"{option} {value!r}: not a date; give 2019, 2019-03 or 2019-03-05")
    first_day, last_day = date_span(parsed)
    return last_day if last else first_day


@dataclass(frozen=True)
class Scope:
    """Documents to ask within; empty fields do not narrow. Several paths, years or
    documents: any of them (a document in either folder, of either year)."""

    paths: tuple[str, ...] = ()  # globs or folders, matched against each document's path
    years: tuple[int, ...] = ()
    since: str | None = None  # 「2019」, 「2019-03」 or 「2019-03-05」: from the first day it may mean
    until: str | None = None  # to the last day it may mean
    docs: tuple[str, ...] = ()  # document ids or paths
    _first: date | None = field(init=False, repr=False, compare=False)
    _last: date | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lists from JSON or Typer are kept as tuples: a Scope is hashable and compares by value.
        # One path or one year is one, not the characters of a name (Scope(paths="reports")).
        for name in ("paths", "years", "docs"):
            value = getattr(self, name) or ()
            if isinstance(value, (str, os.PathLike, int)):
                value = (value,)
            elif isinstance(value, (bytes, bytearray)) or not isinstance(value, Iterable):
                raise UsageError(f"Scope {name}: give one or a list, not {type(value).__name__}")
            value = tuple(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
            object.__setattr__(self, name, value)
        if any(not str(p).strip("./ ") for p in self.paths):
            raise UsageError("--in: give a folder, a file or a pattern such as 'reports/2019/*'")
        # What a request may ask of a service: a few patterns of path length, compiled once each.
        for option, values in (("--in", self.paths), ("--year", self.years), ("--doc", self.docs)):
            if len(values) > MAX_EACH:
                raise UsageError(f"{option}: at most {MAX_EACH} of them")
        if any(len(str(p)) > MAX_PATTERN_CHARS for p in self.paths):
            raise UsageError(f"--in: a pattern of at most {MAX_PATTERN_CHARS:,} characters")
        for year in self.years:
            if isinstance(year, bool) or not isinstance(year, int) or not 1000 <= year <= 2999:
                raise UsageError(f"--year {year!r}: give a year such as 2019")
        first, last = _day(self.since, "--since", last=False), _day(self.until, "--until", last=True)
        if first and last and first > last:
            raise UsageError(f"--since {self.since} is after --until {self.until}")
        object.__setattr__(self, "_first", first)
        object.__setattr__(self, "_last", last)

    @property
    def dated(self) -> bool:
        """Whether it asks for dates (and so leaves out documents without one)."""
        return bool(self.years or self._first or self._last)

    def __bool__(self) -> bool:
        return bool(self.paths or self.dated or self.docs)

    def to_dict(self) -> dict:
        """The scope as the JSON of an answer and the fields of the API give it."""
        out: dict[str, object] = {}
        if self.paths:
            out["in"] = list(self.paths)
        if self.years:
            out["year"] = list(self.years)
        if self.since:
            out["since"] = self.since
        if self.until:
            out["until"] = self.until
        if self.docs:
            out["doc"] = list(self.docs)
        return out

    def describe(self) -> str:
        """The scope as the options that give it: 「--in reports/* --year 2019」."""
        parts = []
        for key, value in self.to_dict().items():
            parts += [f"--{key} {v}" for v in value] if isinstance(value, list) else [f"--{key} {value}"]
        return " ".join(parts)

    def select(self, index: Index) -> Selection:
        """The documents of `index` within the scope and their passages. UsageError when
        a --doc names no document, or nothing is within."""
        table = _Documents.of(index)
        rows = np.ones(len(table.ids), dtype=bool)
        if self.docs:
            found = {d: table.row(d) for d in set(self.docs)}
            unknown = sorted(d for d, row in found.items() if row is None)
            if unknown:
                raise UsageError(f"--doc {unknown[0]}: no such document in the index (`retriever info` lists them)")
            rows[:] = False
            rows[[row for row in found.values() if row is not None]] = True
        if self.paths:
            rows &= np.logical_or.reduce([table.matching(p) for p in self.paths])
        undated = 0
        if self.dated:
            dated = table.first >= 0
            undated = int((rows & ~dated).sum())
            rows &= dated
            if self.years:
                rows &= np.logical_or.reduce([(table.first_year <= y) & (y <= table.last_year) for y in self.years])
            if self._first:
                rows &= table.last >= self._first.toordinal()
            if self._last:
                rows &= table.first <= self._last.toordinal()
        if not rows.any():
            there = _what_there_is(table, undated) if self.dated else _folders(table)
            raise UsageError(f"no indexed document is within {self.describe()}{there}")
        # A mark on each passage of the documents within: +1 where a document's passages
        # begin, -1 where they end, summed along.
        edges = np.zeros(len(index.passages) + 1, dtype=np.int32)
        np.add.at(edges, table.starts[rows], 1)
        np.add.at(edges, table.ends[rows], -1)
        mask = np.cumsum(edges[:-1]) > 0
        return Selection(self, tuple(table.ids[i] for i in np.flatnonzero(rows)), mask, undated)


@dataclass
class _Documents:
    """An opened index's documents as columns, made once per index (Index.derived):
    their passage ranges and the first and last day their dates may mean (as ordinals,
    -1 when undated), so that a scope is a few array operations; and the documents each
    --in pattern matched, kept per pattern (a user asks within the same folder again)."""

    ids: list[str]
    paths: list[str]  # lower-cased, as patterns are matched
    rows: dict[str, int]  # a document's row by its id, by its path and by its absolute path
    absolute: list[str]  # its path from / (the index's base folder joined to a relative one), lower-cased
    starts: np.ndarray
    ends: np.ndarray
    first: np.ndarray
    last: np.ndarray
    first_year: np.ndarray
    last_year: np.ndarray
    matched: dict[str, np.ndarray] = field(default_factory=dict)

    _PATTERNS_KEPT: ClassVar[int] = 32  # a mark per document each: 32 bytes a document at most

    @classmethod
    def of(cls, index: Index) -> _Documents:
        table = index.derived.get(cls)
        if table is None:
            table = index.derived[cls] = cls.make(list(index.documents.values()), index.manifest.corpus.base)
        return table

    @classmethod
    def make(cls, documents: list[IndexedDocument], base: str = "") -> _Documents:
        spans = [d.meta.span() for d in documents]
        first = np.array([s[0].toordinal() if s else -1 for s in spans], dtype=np.int64)
        last = np.array([s[1].toordinal() if s else -1 for s in spans], dtype=np.int64)
        # A document's path is relative to the folder the index was built in (its base);
        # as an absolute path it is found from any folder. An index without a base knows
        # only the relative ones.
        absolute = [_absolute(d.path, base) if base or os.path.isabs(d.path) else "" for d in documents]
        rows = {d.path: i for i, d in enumerate(documents)} | {d.doc_id: i for i, d in enumerate(documents)}
        rows |= {a: i for i, a in enumerate(absolute) if a}
        return cls(
            ids=[d.doc_id for d in documents],
            paths=[d.path.lower() for d in documents],
            rows=rows,
            absolute=[a.lower() for a in absolute],
            starts=np.array([d.passages[0] for d in documents], dtype=np.int64),
            ends=np.array([d.passages[1] for d in documents], dtype=np.int64),
            first=first,
            last=last,
            first_year=np.array([s[0].year if s else 0 for s in spans], dtype=np.int64),
            last_year=np.array([s[1].year if s else -1 for s in spans], dtype=np.int64),
        )

    def row(self, doc: str) -> int | None:
        """A document's row by its id or its path, as given or from the current folder."""
        for key in (doc, doc.removeprefix("./"), _absolute(doc)):
            if key in self.rows:
                return self.rows[key]
        return None

    def matching(self, pattern: str) -> np.ndarray:
        """Which documents' paths `pattern` matches (_path_pattern): their paths as
        indexed, or as absolute paths the pattern names from the current folder."""
        found = self.matched.get(pattern)
        if found is None:
            regex, here = _path_pattern(pattern), _path_pattern(_absolute(pattern.strip()))
            found = np.fromiter(
                (bool(regex.match(p)) or bool(a and here.match(a)) for p, a in zip(self.paths, self.absolute)),
                dtype=bool,
                count=len(self.paths),
            )
            if len(self.matched) >= self._PATTERNS_KEPT:
                self.matched.clear()
            self.matched[pattern] = found
        return found


def _absolute(path: str, base: str = "") -> str:
    """`path` from / : joined to `base` (default: the current folder) when relative."""
    return os.path.normpath(os.path.join(base or os.getcwd(), path))


def _folders(table: _Documents, shown: int = 3) -> str:
    """Where the index's documents are, for the message of a path or --doc scope that
    finds nothing: their folders as indexed, the commonest first."""
    counts = Counter(os.path.dirname(p) or "." for p in table.ids)
    names = [folder for folder, _ in counts.most_common(shown)]
    more = f" and {len(counts) - shown} more" if len(counts) > shown else ""
    return f" (the documents are in {', '.join(names)}{more}; paths are matched as indexed, or from this folder)"


def _what_there_is(table: _Documents, undated: int) -> str:
    """What dates the index holds, for the message of a scope that finds nothing."""
    years = sorted(set(table.first_year[table.first >= 0].tolist()))
    said = f" (the documents are dated {years[0]}–{years[-1]}" if years else " (no document has a date"
    return said + (f"; {undated} without a date" if undated and years else "") + ")"


@dataclass(frozen=True)
class Selection:
    """What a scope selects in one index: the documents, their passages (a mark per
    passage id) and how many documents a date filter left out for lacking a date."""

    scope: Scope
    doc_ids: tuple[str, ...]
    mask: np.ndarray  # bool (passages,)
    undated: int = 0

    @property
    def passages(self) -> int:
        return int(self.mask.sum())

    def to_dict(self) -> dict:
        return {**self.scope.to_dict(), "documents": len(self.doc_ids), "passages": self.passages, "undated": self.undated}
