"""Where rankers live: the one shipped in the package (trained by
benchmarks/train_ranker.py) and, beside an index, the one `retriever tune` fitted to
its users' judgements, with the ranker it replaced, and the judgements themselves.

    <index>/tuning/judgements.jsonl   one judgement a line (judgements.py)
    <index>/tuning/ranker.json        the installed ranker, when tuned
    <index>/tuning/ranker.previous.json  the one before it (`retriever tune --undo`)
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from retriever.ranking.model import Ranker

SHIPPED = Path(__file__).with_name("ranker.json")
TUNING = "tuning"
JUDGEMENTS = "judgements.jsonl"
INSTALLED = "ranker.json"
PREVIOUS = "ranker.previous.json"
# Every file the tuning folder holds: the index removes these and nothing else.
FILES = (JUDGEMENTS, INSTALLED, PREVIOUS)

_loaded: dict[Path, tuple[int, Ranker]] = {}


def tuning_dir(index_dir: Path) -> Path:
    return index_dir / TUNING


def _load(path: Path) -> Ranker:
    """The ranker in `path`, read again only when the file changed."""
    stamp = path.stat().st_mtime_ns
    cached = _loaded.get(path)
    if cached is None or cached[0] != stamp:
        cached = _loaded[path] = (stamp, Ranker.load(path))
    return cached[1]


def shipped() -> Ranker:
    return _load(SHIPPED)


def ranker_for(index_dir: Path) -> tuple[Ranker, str]:
    """The ranker an index ranks with, and which: "tuned" (its own) or "shipped"."""
    own = tuning_dir(index_dir) / INSTALLED
    if own.is_file():
        return _load(own), "tuned"
    return shipped(), "shipped"


def discard(index_dir: Path) -> None:
    """Remove what tuning kept beside an index, with the index: these files only (the
    folder stays if anything else is in it)."""
    folder = tuning_dir(index_dir)
    if folder.is_symlink() or not folder.is_dir():
        return
    with contextlib.suppress(OSError):
        for name in FILES:
            (folder / name).unlink(missing_ok=True)
        folder.rmdir()
