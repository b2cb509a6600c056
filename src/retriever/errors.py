"""The errors the library raises: each one a line the user can act on, naming the file
or the argument and the cause. The CLI prints them without a traceback, the service
maps them to HTTP statuses, once each."""

from __future__ import annotations

import os
import re
from pathlib import Path

# Lone surrogates: what Python makes of bytes that are not UTF-8 in a command-line
# argument or a file name; they cannot be written as UTF-8 (JSON, the terminal).
SURROGATES = re.compile("[\ud800-\udfff]")


def counted(n: int, noun: str) -> str:
    """「1 document」, 「2 documents」: a count with its noun, for messages."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def path_text(path: os.PathLike | str) -> str:
    """A path as text that can go anywhere (JSON, a UTF-8 file, the terminal): bytes of
    the name that are not UTF-8, which Python keeps as lone surrogates (common in
    archives unpacked from other systems), shown as \\xNN escapes, as `ls -b` does."""
    text = os.fspath(path)
    if SURROGATES.search(text):
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


class RetrieverError(Exception):
    """An error the user can act on; the CLI prints it as one line, without a traceback."""


class InputError(RetrieverError):
    """A file that cannot be read as a document."""

    def __init__(self, path: Path | str, cause: str):
        self.path = path_text(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class TooMuchText(InputError):
    """A document with more text than the reader's budget allows."""

    def __init__(self, path: Path | str, limit: int, variable: str):
        super().__init__(path, f"too much text (over {limit:,} characters; set {variable} to raise the limit)")
        self.limit = limit


class BadIndexError(RetrieverError):
    """A missing, broken or mismatched index."""

    @classmethod
    def unreadable(cls, what: os.PathLike | str, error: Exception) -> BadIndexError:
        """An index file that failed to load, with the first line of why (numpy,
        zipfile, json and FAISS each raise their own errors, FAISS with C++ text)."""
        cause = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        return cls(f"{what}: unreadable ({cause}); rebuild it with `retriever index --rebuild`")


class IndexBusy(RetrieverError):
    """Another process is writing the index: it is fine, and can be written when that ends."""


class UsageError(RetrieverError):
    """A bad argument: an empty question, an unknown mode."""


class ChangedIndex(UsageError):
    """A request names a result of an index that has changed since it was shown (its
    passage ids were numbered again): asking again gives the current ones."""


class StorageError(RetrieverError):
    """A file could not be written (a full disk, a read-only file system, a path that is
    not a directory); what was there before is as it was."""

    def __init__(self, path: os.PathLike | str, what: str, error: OSError):
        cause = error.strerror or str(error)
        if error.filename is not None and os.fspath(error.filename) != os.fspath(path):
            cause += f" ({path_text(error.filename)})"
        super().__init__(f"{path_text(path)}: cannot write {what}: {cause}")
