"""Uploads read in worker processes: each with its own interpreter, memory bound and
deadline, so that a hostile file costs the service neither its answers nor its memory.

Reading an upload (unzipping a .docx, parsing a PDF's drawing instructions, decoding,
cleaning) is Python code that holds the interpreter lock for its whole length: in a
thread, /healthz and asks waited between its steps (p95 98 ms under three hostile PDFs,
against 3 ms at rest), and the service's memory grew with every file read at once. In a
worker process the service only waits for the answer; a worker that passes its memory
bound fails alone (MemoryError, or the process dies), one that passes its deadline is
stopped, and a new one takes its place.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal

from retriever.config import ENV_MAX_CHARS, ReadLimits
from retriever.errors import InputError, TooMuchText
from retriever.reading.load import Document, load_stream


def _work(pipe, data: bytes, name: str, limits: ReadLimits, max_memory_bytes: int) -> None:
    """In the worker: bound its memory, read, send the Document or the error back as
    plain values (exceptions whose __init__ takes other arguments than their message
    cannot cross a pipe)."""
    # The service handles Ctrl+C: a worker prints no traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The bound is on what reading adds to what the worker was forked with (the
    # interpreter, the reading stack, jieba's dictionary: address space, mostly shared).
    with open("/proc/self/statm", encoding="ascii") as f:
        mapped = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + max_memory_bytes, mapped + max_memory_bytes))
    with contextlib.suppress(OSError):
        os.nice(5)  # the questions answered meanwhile come first
    result: tuple[str, object, object]
    try:
        result = ("document", load_stream(data, name, limits=limits), None)
    except TooMuchText as e:
        result = ("too much", e.path, e.limit)
    except InputError as e:
        result = ("unreadable", e.path, e.cause)
    except MemoryError:
        result = ("memory", name, None)
    pipe.send(result)


class UploadReader:
    """Reads each upload in a process of its own, bounded to `max_memory_bytes` and to
    `limits.max_seconds` (plus a grace for handing the file over). A process per read,
    not a pool: one that must be stopped takes no other upload with it, and its memory
    is the system's again as soon as it ends. Starting one costs about 20 ms (forked from
    a server process that has imported the reading stack)."""

    GRACE_S = 5.0

    def __init__(self, limits: ReadLimits, max_memory_bytes: int):
        self.limits, self.max_memory_bytes = limits, max_memory_bytes
        self.context = multiprocessing.get_context("forkserver")
        # Forked from a small process with the reading stack imported, not from the
        # service (its model, FAISS and threads).
        self.context.set_forkserver_preload(["retriever.reading._warm"])

    def read(self, data: bytes, name: str) -> Document:
        """The upload as a Document; InputError (TooMuchText past the text limit) when it
        cannot be read within the bounds. Blocks: call it from a worker thread."""
        receiver, sender = self.context.Pipe(duplex=False)
        process = self.context.Process(
            target=_work, args=(sender, data, name, self.limits, self.max_memory_bytes), name="retriever-upload", daemon=True
        )
        process.start()
        sender.close()  # so that a worker that dies shows as the end of the pipe
        try:
            if not receiver.poll(self.limits.max_seconds + self.GRACE_S):
                raise InputError(name, f"took longer than {self.limits.max_seconds:g} s to read")
            kind, first, second = receiver.recv()
        except EOFError:  # the worker died: past its memory bound, in C code
            raise InputError(name, self._memory_cause()) from None
        finally:
            receiver.close()
            if process.is_alive():
                process.kill()
            process.join(5)
        if kind == "document":
            assert isinstance(first, Document)
            return first
        if kind == "too much":
            raise TooMuchText(str(first), int(str(second)), ENV_MAX_CHARS)
        if kind == "memory":
            raise InputError(str(first), self._memory_cause())
        raise InputError(str(first), str(second))

    def _memory_cause(self) -> str:
        return f"reading it needs more than the {self.max_memory_bytes >> 20} MB of memory an upload may use"

    def start(self) -> None:
        """Start the server the workers fork from now (about a second), not on the first upload."""
        process = self.context.Process(target=os.getpid, daemon=True)
        process.start()
        process.join()
