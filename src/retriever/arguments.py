"""The checks of what a call is given, shared by the library, the CLI and the service,
so that what one refuses the others refuse with the same message (README "When things
go wrong" lists the bounds, config.Limits)."""

from __future__ import annotations

import itertools
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

from retriever.config import LIMITS, SEARCH_MODES, SearchConfig
from retriever.errors import SURROGATES, UsageError


def _whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_mode(mode: object) -> str:
    if mode not in SEARCH_MODES:
        raise UsageError(f"unknown mode {mode!r}: choose one of {', '.join(SEARCH_MODES)}")
    return str(mode)


def check_question(question: object, mode: str = SearchConfig.mode, what: str = "question") -> str:
    """The question stripped, or UsageError: not text, empty, too long, not valid
    Unicode (bytes that were not UTF-8 on the command line), or an unknown mode."""
    check_mode(mode)
    if not isinstance(question, str):
        raise UsageError(f"the {what} must be text, not {type(question).__name__}")
    question = question.strip()
    if not question:
        raise UsageError(f"the {what} is empty")
    if len(question) > LIMITS.max_question_chars:
        raise UsageError(
            f"the {what} is too long: {len(question):,} characters, the limit is {LIMITS.max_question_chars:,} "
            "(to summarize a document, use `retriever summarize`)"
        )
    if SURROGATES.search(question):
        raise UsageError(f"the {what} is not valid text (bytes that are not UTF-8)")
    return question


def check_passage_id(passage_id: object, passages: int) -> int:
    if not _whole(passage_id) or not 0 <= passage_id < passages:  # type: ignore[operator]
        raise UsageError(f"no passage {shown(passage_id)} in this index: it has passages 0 to {passages - 1}")
    return int(passage_id)  # type: ignore[call-overload]


def check_k(k: object) -> int:
    if not _whole(k) or not 1 <= k <= LIMITS.max_k:  # type: ignore[operator]
        raise UsageError(f"k (the number of passages) must be a whole number from 1 to {LIMITS.max_k}, not {k!r}")
    return int(k)  # type: ignore[call-overload]


def check_budget(chars: object, name: str, allow_zero: bool = False) -> int:
    """A summary's budget in characters: 1 (or 0, meaning none) to Limits.max_summary_chars."""
    low = 0 if allow_zero else 1
    if not _whole(chars) or not low <= chars <= LIMITS.max_summary_chars:  # type: ignore[operator]
        raise UsageError(
            f"{name} (the summary's budget) must be a whole number of characters from {low} to "
            f"{LIMITS.max_summary_chars:,}, not {shown(chars)}"
        )
    return int(chars)  # type: ignore[call-overload]


def shown(value: object, limit: int = 60) -> str:
    """repr(value) cut to `limit` characters, for an error message (10**400 has 401 digits)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**limit else f"a {len(str(abs(value)))}-digit number"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_ratio(ratio: object) -> float:
    try:
        ok = not isinstance(ratio, bool) and isinstance(ratio, numbers.Real) and 0 < float(ratio) <= 1
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise UsageError(f"ratio must be a number above 0 and at most 1, not {shown(ratio)}")
    return float(ratio)  # type: ignore[arg-type]


def check_text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a str, not {type(value).__name__}")
    return value


def check_patterns(patterns: object, name: str) -> list[str]:
    """Glob patterns (include/exclude): one str is one pattern, or an iterable of them;
    None for none."""
    if patterns is None:
        return []
    if isinstance(patterns, str):
        return [patterns]
    if isinstance(patterns, (bytes, bytearray)) or not isinstance(patterns, Iterable):
        raise UsageError(f"{name} must be a glob pattern or a list of them, not {type(patterns).__name__}")
    out = list(itertools.islice(patterns, LIMITS.max_patterns + 1))
    if len(out) > LIMITS.max_patterns:
        raise UsageError(f"{name}: more than {LIMITS.max_patterns:,} patterns")
    for p in out:
        if not isinstance(p, str):
            raise UsageError(f"each pattern of {name} must be a str, not {type(p).__name__}: {shown(p)}")
    return out


def check_paths(paths: object, default: Path | None = None) -> list[Path]:
    """The paths of a call that reads files: one path (str or os.PathLike) is one path,
    not the characters of its name; a list of them; None for `default`. TypeError for
    anything else, UsageError for an empty list."""
    if paths is None and default is not None:
        return [default]
    if isinstance(paths, (str, os.PathLike)):
        return [_path(paths)]
    if isinstance(paths, (bytes, bytearray)) or not isinstance(paths, Iterable):
        raise TypeError(f"paths must be a path or a list of paths, not {type(paths).__name__}")
    out = []
    for p in itertools.islice(paths, LIMITS.max_paths + 1):
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"each path must be a str or os.PathLike, not {type(p).__name__}: {shown(p)}")
        out.append(_path(p))
    if not out:
        raise UsageError("no paths given")
    if len(out) > LIMITS.max_paths:
        raise UsageError(f"more than {LIMITS.max_paths:,} paths in one call; name their folders instead")
    return out


def _path(path: str | os.PathLike) -> Path:
    """A path as given, refused when empty: Path("") is the current folder, which a
    `build(os.environ.get("DOCS", ""))` would index whole (and replace the index with)."""
    if not os.fspath(path):
        raise UsageError("a path is empty; name a file or folder ('.' for the current folder)")
    return Path(path)


def check_index_dir(index_dir: object) -> Path | None:
    """An index's folder as given, None for the default one; UsageError for an empty
    one (it would mean the default, or the current folder, by accident)."""
    if index_dir is None:
        return None
    if not isinstance(index_dir, (str, os.PathLike)):
        raise TypeError(f"index_dir must be a str or os.PathLike, not {type(index_dir).__name__}")
    if not os.fspath(index_dir):
        raise UsageError("index_dir is empty; name the index's folder, or leave it out for the default index")
    return Path(index_dir)


def check_summary_options(max_chars: object, ratio: object, query: object) -> None:
    """UsageError for a summary option out of bounds: checked before any work."""
    if max_chars is not None:
        check_budget(max_chars, "max_chars")
    if ratio is not None:
        check_ratio(ratio)
    if query is not None:
        check_question(query, what="query")
