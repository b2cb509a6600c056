"""Writing a file so that readers see the old one or the new one, never half of one,
and so that nobody else's file is ever written through it.

The new content goes to a temporary file next to the target, created exclusively under
an unpredictable name (a link or file planted under a name the tool would use is never
followed or overwritten), then renamed over the target in one step. On any error the
temporary file goes and the target is as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def _umask() -> int:
    # Read, not set and restored: os.umask() changes it for every thread for a moment.
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            match = re.search(r"^Umask:\s*([0-7]+)$", f.read(), re.MULTILINE)
        if match:
            return int(match.group(1), 8)
    except OSError:
        pass
    return 0o022


_MODE = 0o666 & ~_umask()  # what open() would give a new file: mkstemp's is 0600


def _temporary(path: Path) -> tuple[int, str]:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, _MODE)
    return fd, tmp


@contextmanager
def _replaces(path: Path, tmp: str) -> Iterator[None]:
    """Rename `tmp` over `path` when the block ends without error; else remove it."""
    try:
        yield
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # a read-only file system refuses this too
            os.unlink(tmp)
        raise


@contextmanager
def replacing(path: Path, encoding: str = "utf-8", newline: str | None = None, sync: bool = False) -> Iterator[IO[str]]:
    """A text file open for writing that takes `path`'s place when the block ends without
    error. `sync` flushes it to the disk first (for files whose loss after a crash would
    break something else, as a manifest would)."""
    fd, tmp = _temporary(path)
    with _replaces(path, tmp), open(fd, "w", encoding=encoding, newline=newline) as f:
        yield f
        if sync:
            f.flush()
            os.fsync(f.fileno())


@contextmanager
def replacing_binary(path: Path) -> Iterator[IO[bytes]]:
    """replacing() for bytes (numpy's files)."""
    fd, tmp = _temporary(path)
    with _replaces(path, tmp), open(fd, "wb") as f:
        yield f


@contextmanager
def replacing_path(path: Path) -> Iterator[Path]:
    """The path of a new empty file that takes `path`'s place when the block ends
    without error: for writers that open files by name (SQLite)."""
    fd, tmp = _temporary(path)
    os.close(fd)
    with _replaces(path, tmp):
        yield Path(tmp)


def write_text(path: Path, text: str, encoding: str = "utf-8", sync: bool = False) -> None:
    with replacing(path, encoding=encoding, newline="", sync=sync) as f:
        f.write(text)
