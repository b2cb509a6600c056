"""Uploads are read in processes of their own: bounded in memory and time, and what they
cost is never the service's."""

from __future__ import annotations

import threading
import time
import tracemalloc

import pytest

from retriever.config import ReadLimits
from retriever.errors import InputError, TooMuchText
from retriever.reading.isolated import UploadReader

DOC = "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。"


def test_an_upload_is_read_in_a_worker_as_it_would_be_here():
    from retriever.reading.load import load_stream

    reader = UploadReader(ReadLimits(), 512 << 20)
    data = DOC.encode("gb18030")  # decoded by the worker, jieba's frequencies and all
    assert reader.read(data, "讲话.txt") == load_stream(data, "讲话.txt")
    with pytest.raises(InputError) as caught:
        reader.read(b"  \n", "empty.txt")
    assert (caught.value.path, caught.value.cause) == ("empty.txt", "empty file")
    with pytest.raises(TooMuchText) as too_much:
        UploadReader(ReadLimits(max_chars=10), 512 << 20).read(DOC.encode(), "long.txt")
    assert too_much.value.limit == 10


def test_a_worker_past_its_memory_bound_fails_alone():
    reader = UploadReader(ReadLimits(), 32 << 20)
    text = ("要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。" * 200_000).encode()  # 17 MB, far more decoded
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as caught:
            reader.read(text, "big.txt")
        handed_over = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.cause == "reading it needs more than the 32 MB of memory an upload may use"
    # The service read nothing: it held the bytes and their copy on the way to the worker
    # (1.1 times their size), where reading them here peaks at 3 times.
    assert handed_over < 2 * len(text)
    assert reader.read(DOC.encode(), "next.txt").title == "基层治理讲话"  # and the next upload is read


def test_a_worker_past_its_deadline_is_stopped():
    reader = UploadReader(ReadLimits(max_seconds=0.05), 512 << 20)
    reader.GRACE_S = 0.0
    text = ("第一行没有句号\n" * 200_000).encode()  # seconds of cleaning
    started = time.perf_counter()
    with pytest.raises(InputError) as caught:
        reader.read(text, "slow.txt")
    assert time.perf_counter() - started < 5
    assert caught.value.cause == "took longer than 0.05 s to read"
    assert not [t for t in threading.enumerate() if t.name == "retriever-upload"]
