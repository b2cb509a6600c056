"""Faults: a damaged index file in turn, and `retriever index` killed (SIGKILL) mid-run.

The killed builds run in a child process with a fake embedder that waits at each
stage, so that the kill lands where the test says: while reading, while embedding,
and after the new generation is on disk but before the manifest names it.
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import write_corpus
from typer.testing import CliRunner

from retriever import BadIndexError, Retriever, RetrieverError
from retriever.cli.commands import app

TESTS = Path(__file__).resolve().parent
DOCS = {
    "a.txt": "基层治理讲话\n一、化解矛盾纠纷\n要建立矛盾纠纷排查调处机制,及时发现和化解各类矛盾纠纷。加强人民调解组织建设。",
    "b.txt": "乡村振兴座谈会\n要抓好人居环境整治,清理生活垃圾和污水,建设美丽乡村。",
    "c.txt": "产业发展报告\n要因地制宜发展特色产业,带动群众增收致富。发展乡村旅游,拓宽农民增收渠道。",
}
QUESTIONS = ("如何化解矛盾纠纷", "怎样发展乡村产业", "人居环境整治")


def answers(index_dir: str) -> list:
    r = Retriever.open(index_dir)
    return [a.to_dict()["results"] for a in (r.ask(q) for q in QUESTIONS)]


@pytest.fixture
def built(in_tmp, fake_embedder) -> Path:
    write_corpus(in_tmp, DOCS)
    Retriever.build(["corpus"], index_dir="idx")
    return Path("idx")


def _generation(index_dir: Path) -> Path:
    return index_dir / json.loads((index_dir / "manifest.json").read_text())["generation"]


FILES = ("vectors.faiss", "passages.jsonl", "documents.jsonl", "sentences.npz", "bm25.npz", "bm25_vocab.json")


def _garbage(path: Path) -> None:
    """Same size, other bytes: only reading the file can tell."""
    size = path.stat().st_size
    path.write_bytes(bytes((i * 7 + 3) % 256 for i in range(size)))


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize(
    "damage,expected",
    [
        (lambda p: p.unlink(), "missing"),
        (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated or altered"),
        (_garbage, "unreadable"),
    ],
    ids=["missing", "truncated", "garbage"],
)
def test_each_damaged_file_gives_a_one_line_error_naming_it(built, fake_embedder, name, damage, expected):
    damage(_generation(built) / name)
    with pytest.raises(BadIndexError) as caught:
        Retriever.open("idx")
    message = str(caught.value)
    stem = name.split(".")[0]
    assert expected in message and stem in message and "retriever index --rebuild" in message
    assert "\n" not in message
    # The command line says the same in one line, exit code 1, no traceback.
    result = CliRunner().invoke(app, ["ask", "矛盾纠纷", "--index-dir", "idx"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and expected in result.stderr and "Traceback" not in result.stderr


@pytest.mark.filterwarnings("error::RuntimeWarning")  # a damaged vector is a problem said, not numpy's overflow
def test_a_flipped_byte_is_found_by_info_check(built, fake_embedder):
    vectors = _generation(built) / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[-5] ^= 0xFF  # inside the vector data: the file still loads
    vectors.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["info", "--index-dir", "idx", "--check"])
    assert result.exit_code == 1
    assert "vectors.faiss: checksum differs from manifest" in " ".join(result.stdout.split())  # rich wraps lines


def test_another_format_version_says_rebuild(built, fake_embedder):
    manifest = json.loads(Path("idx/manifest.json").read_text())
    manifest["format_version"] = 1
    Path("idx/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BadIndexError, match="index format 1, this retriever reads format 3; rebuild it"):
        Retriever.open("idx")
    # As the message says, a plain `retriever index` builds it again (after embedding,
    # the old manifest is only read for its generation and creation time).
    r, report = Retriever.build(["corpus"], index_dir="idx")
    assert report.written and report.notes[0].startswith("the old index could not be read")
    assert r.index.manifest.created == manifest["created"] and answers("idx")


# The child: build corpus/ into idx with a fake embedder, announcing each stage on
# stdout and then pausing, so that the parent can kill it right there.
CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from conftest import FakeEmbedder
    import retriever.api, retriever.index.folder
    from retriever import Retriever

    STOP = {stop!r}
    def mark(stage):
        print(stage, flush=True)
        if stage == STOP:
            time.sleep(60)

    fake = FakeEmbedder()
    encode = fake.encode
    def slow_encode(*args, **kwargs):
        mark("embed")
        return encode(*args, **kwargs)
    fake.encode = slow_encode
    retriever.api.load_embedder = lambda name, backend=None: fake
    swap = retriever.index.folder._write_manifest
    def slow_swap(directory, manifest):
        mark("swap")  # the new generation is on disk, the manifest still names the old one
        swap(directory, manifest)
    retriever.index.folder._write_manifest = slow_swap
    Retriever.build(["corpus"], index_dir="idx", progress=lambda stage, done, total: mark(stage) if done == 1 else None)
    mark("done")
    """
)


@pytest.mark.parametrize("stop", ["read", "embed", "swap"])
def test_sigkill_mid_build_leaves_the_old_index_answering(built, fake_embedder, stop):
    before_manifest = Path("idx/manifest.json").read_text()
    before = answers("idx")
    # A change for the killed build to work on: one file edited, one added.
    Path("corpus/b.txt").write_text(DOCS["b.txt"] + "垃圾分类要因地制宜。", encoding="utf-8")
    Path("corpus/d.txt").write_text("新增文件\n要加强基层党组织建设,发挥党员先锋模范作用。", encoding="utf-8")

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(tests=str(TESTS), stop=stop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        for line in child.stdout:
            if line.strip() == stop:
                break
        else:
            pytest.fail(f"the child ended before {stop}: {child.stderr.read()[-500:]}")
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The old index is untouched: same manifest, same answers.
    assert Path("idx/manifest.json").read_text() == before_manifest
    assert answers("idx") == before
    # The next run does the work (the lock died with the child) and leaves no debris.
    r, report = Retriever.build(["corpus"], index_dir="idx")
    assert (report.added, report.changed, report.unchanged, report.written) == (1, 1, 2, True)
    assert "corpus/d.txt" in r.index.documents
    assert not list(Path("idx").glob(".tmp-gen-*"))
    assert len(list(Path("idx").glob("gen-*"))) <= 2


# --- a disk that cannot take the index ------------------------------------------------


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_an_index_dir_that_is_a_file_or_below_one(in_tmp, fake_embedder):
    write_corpus(in_tmp, DOCS)
    Path("afile").write_text("x")
    for target, message in (
        ("afile", "error: afile: cannot write the index: a file, not a directory"),
        ("afile/sub", "error: afile/sub: cannot write the index: Not a directory"),
    ):
        assert _one_line_error(CliRunner().invoke(app, ["index", "corpus", "--index-dir", target])) == message
    assert Path("afile").read_text() == "x" and fake_embedder.calls == 0  # refused before any embedding


@pytest.mark.parametrize("code, cause", [(28, "No space left on device"), (30, "Read-only file system")])
def test_a_full_or_read_only_disk_leaves_the_old_index(built, monkeypatch, code, cause):
    """ENOSPC or EROFS while the new generation is written: one line, and the old index
    answers as before (a real small tmpfs is tried below where the system allows it)."""
    before = answers("idx")
    Path("corpus/d.txt").write_text("新增文件\n要加强基层党组织建设,发挥党员先锋模范作用。", encoding="utf-8")

    def full(*args, **kwargs):
        raise OSError(code, cause)

    monkeypatch.setattr("retriever.index.folder.SentenceVectors.save", full)
    assert _one_line_error(CliRunner().invoke(app, ["index", "corpus", "--index-dir", "idx"])) == (
        f"error: idx: cannot write the index: {cause}"
    )
    assert answers("idx") == before
    assert sorted(p.name for p in Path("idx").iterdir() if p.name.startswith(".tmp")) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KB tmpfs, where this process may mount one (root on Linux); skipped elsewhere."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root); the mocked ENOSPC test covers the logic")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_real_full_disk(in_tmp, fake_embedder, tiny_disk):
    # Passages enough to need more than 256 KB of index files.
    write_corpus(in_tmp, {f"{i}.txt": f"第{i}号文件\n" + f"要做好第{i}项工作,落实各项措施。" * 40 for i in range(300)})
    result = CliRunner().invoke(app, ["index", "corpus", "--index-dir", str(tiny_disk / "idx")])
    # Progress lines come first where reading takes over 2 s (a busy machine).
    result.stderr_bytes = re.sub(rb"(?m)^Reading files: .*\n", b"", result.stderr_bytes)
    assert _one_line_error(result) == f"error: {tiny_disk / 'idx'}: cannot write the index: No space left on device"
    assert not (tiny_disk / "idx").exists()  # nothing half-written left, not even the folder it made
    out = CliRunner().invoke(app, ["summarize", "corpus/1.txt", "--out", str(tiny_disk / "big.md")])
    assert out.exit_code == 0  # small enough
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    again = CliRunner().invoke(app, ["summarize", "corpus/2.txt", "--out", str(tiny_disk / "big.md")])
    assert _one_line_error(again).startswith(f"error: {tiny_disk / 'big.md'}: cannot write the summaries: Read-only file system")


def test_a_disk_full_before_the_vectors_is_one_line_too(in_tmp, fake_embedder, tiny_disk):
    """The vectors are the first file of a generation: FAISS's own writer raised a
    RuntimeError with its C++ stack there (52 lines)."""
    write_corpus(in_tmp, DOCS)
    with open(tiny_disk / "filler", "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:  # every block taken
            f.write(b"\0" * 4096)
    result = CliRunner().invoke(app, ["index", "corpus", "--index-dir", str(tiny_disk / "idx")])
    assert _one_line_error(result) == f"error: {tiny_disk / 'idx'}: cannot write the index: No space left on device"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]


class _RayUp(Exception):
    """Raised by the fake Ray once started, to stop RayEmbedder there."""


def _fake_ray(monkeypatch, failures: list[str]):
    calls: list[str | None] = []

    class FakeRay:
        def is_initialized(self):
            return False

        def init(self, address=None, **_):
            calls.append(address)
            if failures:
                raise RuntimeError(failures.pop(0))

        def shutdown(self):
            calls.append("shutdown")

        def cluster_resources(self):
            raise _RayUp

    monkeypatch.setattr("retriever.embedding.distributed._ray", lambda address=None: FakeRay())
    return calls


def test_a_local_ray_start_that_timed_out_is_tried_again_up_to_three_times(monkeypatch):
    from retriever.embedding.distributed import RayEmbedder

    timeouts = ["Timed out waiting for file /tmp/ray/session_1/gcs_server_port_0", "The current node timed out during startup."]
    calls = _fake_ray(monkeypatch, list(timeouts))
    with pytest.raises(_RayUp):
        RayEmbedder("m3e-small", "onnx-int8")
    assert calls == [None, "shutdown", None, "shutdown", None]

    calls = _fake_ray(monkeypatch, [*timeouts, timeouts[0]])
    with pytest.raises(RetrieverError, match="cannot start or reach Ray .Timed out waiting for file"):
        RayEmbedder("m3e-small", "onnx-int8")
    assert calls == [None, "shutdown", None, "shutdown", None]


def test_ray_fails_at_once_on_other_errors_and_on_a_cluster_address(monkeypatch):
    from retriever.embedding.distributed import RayEmbedder

    calls = _fake_ray(monkeypatch, ["Permission denied: /tmp/ray"])
    with pytest.raises(RetrieverError, match="Permission denied"):
        RayEmbedder("m3e-small", "onnx-int8")
    assert calls == [None]
    calls = _fake_ray(monkeypatch, ["Timed out waiting for file /tmp/ray/session_1/gcs_server_port_0"])
    with pytest.raises(RetrieverError, match="at ray://head:10001"):
        RayEmbedder("m3e-small", "onnx-int8", address="ray://head:10001")
    assert calls == ["ray://head:10001"]
