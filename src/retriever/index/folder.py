"""The index on disk: FAISS vectors, passage store, BM25 and manifest.json.

Layout of `indexes/<name>/`:

    manifest.json        what is indexed, with which model; names the live generation
    .lock                held by the one process writing this index
    gen-<time>-<id>/     one complete generation of the data files:
        vectors.faiss    FAISS inner-product index over unit vectors
        passages.jsonl   one passage per line, in vector order
        documents.jsonl  one cleaned document per line (passage offsets point into it)
        sentences.npz    a vector per sentence of each passage, for the summaries
        bm25.npz, bm25_vocab.json

The folder is the tool's own: a build refuses one that is neither empty nor an index,
and removes nothing but generation folders that hold only the files listed above.

A write builds a new generation directory, then replaces manifest.json in one atomic
rename. Readers follow the manifest, so they see the old index or the new one, never
half of one; a crash mid-write leaves the old index as it was. The generation before
the live one is kept, so a reader that has just read the old manifest still finds its
files.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retriever import atomic
from retriever.config import DEFAULT_MILVUS_FILE, INDEX_FORMAT_VERSION
from retriever.errors import BadIndexError, IndexBusy, StorageError, UsageError
from retriever.index.bm25 import BM25
from retriever.index.faiss_store import FAISS_FILE
from retriever.index.manifest import MANIFEST, CorpusInfo, FileInfo, Manifest, ManifestError, ModelInfo, StoreSpec
from retriever.index.stores import Vectors, store_for
from retriever.text.metadata import Metadata, metadata, session_year
from retriever.text.segment import Passage

if TYPE_CHECKING:
    from retriever.reading.load import Document

_LOCK = ".lock"
_PASSAGES = "passages.jsonl"
_DOCUMENTS = "documents.jsonl"
_SENTENCES = "sentences.npz"
# Every file a generation folder can hold: a folder with anything else in it is not
# one this index wrote, whatever its name.
_DATA_FILES = frozenset({FAISS_FILE, _PASSAGES, _DOCUMENTS, _SENTENCES, "bm25.npz", "bm25_vocab.json"})


@dataclass(frozen=True)
class IndexedDocument:
    doc_id: str
    path: str
    title: str
    text: str
    sha256: str
    passages: tuple[int, int]  # [first, last + 1) passage ids
    meta: Metadata = Metadata()


@dataclass
class SentenceVectors:
    """A unit vector per sentence of each passage, each embedded on its own: search
    scores a passage by its best sentence too, and the summary under `retriever ask`
    rates sentences without running the model.

    Kept as 8 bits per value with a scale per sentence: a quarter of float32. A search
    reads those of its ~200 candidates, 1,000-1,500 sentences at 10k passages, and
    numpy widens float16 without a fast path (1.7 ns a value, 0.9 ms a question);
    int8 widens 16 times faster. Cosines move by about 0.0005 (at most 0.0025).
    """

    indptr: np.ndarray  # int64 (passages + 1,): passage p's sentences are [indptr[p], indptr[p+1])
    spans: np.ndarray  # int32 (sentences, 2): character offsets in the passage text
    codes: np.ndarray  # int8 (sentences, dim): each vector / its scale, rounded
    scales: np.ndarray  # float32 (sentences,): each vector's largest |value| / 127

    def of(self, passage_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The spans and float32 vectors of one passage's sentences."""
        lo, hi = self.indptr[passage_id], self.indptr[passage_id + 1]
        return self.spans[lo:hi], self.codes[lo:hi].astype(np.float32) * self.scales[lo:hi, None]

    def spans_of(self, passage_id: int) -> list[tuple[int, int]]:
        lo, hi = self.indptr[passage_id], self.indptr[passage_id + 1]
        return [(int(a), int(b)) for a, b in self.spans[lo:hi]]

    def best(self, passage_ids: np.ndarray, query: np.ndarray, min_chars: int) -> np.ndarray:
        """For each passage, the highest cosine to `query` of one of its sentences of at
        least `min_chars` characters; NaN where it has none. One gather for all."""
        lo, hi = self.indptr[passage_ids], self.indptr[passage_ids + 1]
        counts = hi - lo
        owner = np.repeat(np.arange(len(passage_ids)), counts)
        rows = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        sims = (self.codes[rows].astype(np.float32) @ query.astype(np.float32)) * self.scales[rows]
        sims[(self.spans[rows, 1] - self.spans[rows, 0]) < min_chars] = np.nan
        best = np.full(len(passage_ids), -np.inf, dtype=np.float32)
        np.fmax.at(best, owner, sims)
        return np.where(np.isneginf(best), np.nan, best)

    @classmethod
    def stack(cls, parts: Sequence[tuple[np.ndarray | Sequence[tuple[int, int]], np.ndarray]], dim: int) -> SentenceVectors:
        """From (spans, vectors) per passage, in passage order."""
        indptr = np.zeros(len(parts) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(spans) for spans, _ in parts])
        spans = np.concatenate([np.asarray(s, dtype=np.int32).reshape(-1, 2) for s, _ in parts] or [np.zeros((0, 2), np.int32)])
        # Passage by passage: quantizing all at once held three float32 copies of every
        # sentence vector (206 MiB at the peak for 35,000 sentences, 36 this way).
        quantized = [_quantized(np.asarray(v, dtype=np.float32).reshape(-1, dim)) for _, v in parts]
        codes = np.concatenate([c for c, _ in quantized] or [np.zeros((0, dim), np.int8)])
        scales = np.concatenate([s for _, s in quantized] or [np.zeros(0, np.float32)])
        return cls(indptr, spans, codes, scales)

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:  # np.savez would add ".npz" to a name without it
            np.savez(f, indptr=self.indptr, spans=self.spans, codes=self.codes, scales=self.scales)

    @classmethod
    def load(cls, path: Path) -> SentenceVectors:
        arrays = np.load(path)
        if "codes" in arrays:
            return cls(arrays["indptr"], arrays["spans"], arrays["codes"], arrays["scales"])
        # An index written before 8-bit sentences holds float16 "vectors": converted
        # as it opens (about 0.4 s per 10k passages), until it is next rebuilt or added to.
        return cls(arrays["indptr"], arrays["spans"], *_quantized(arrays["vectors"]))


def _quantized(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-bit codes and a scale per row (a row of zeros keeps scale 1)."""
    vectors = vectors.astype(np.float32, copy=False)
    top = np.abs(vectors).max(axis=1, initial=0.0)
    scales = np.where(top > 0, top / 127, 1.0).astype(np.float32)
    return np.rint(vectors / scales[:, None]).astype(np.int8), scales


@dataclass(frozen=True)
class Made:
    """What a build says of a new generation for its manifest: the model and what it
    indexed, the pipeline that cut its passages and how BM25 made its terms."""

    model: ModelInfo
    corpus: CorpusInfo
    pipeline: dict
    bm25: dict


@dataclass
class Index:
    directory: Path
    manifest: Manifest
    passages: list[Passage]
    documents: dict[str, IndexedDocument]
    vectors: Vectors  # what its store opened: FAISS's index or a Milvus collection
    bm25: BM25
    sentences: SentenceVectors
    # Views of the index computed once and kept while it is open (scope.py's table of
    # the documents' passages and dates).
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def model(self) -> str:
        return self.manifest.model.name

    @property
    def backend(self) -> str:
        return self.manifest.model.backend

    @property
    def export_recipe(self) -> int | None:
        """The ONNX export recipe its vectors came from (onnx_export.EXPORT_RECIPE)."""
        return self.manifest.model.export_recipe

    @property
    def dim(self) -> int:
        return self.manifest.model.dim

    def meta(self, doc_id: str) -> Metadata:
        """A document's date and issuers (none for an index of bare passages, as the
        benchmarks build in memory)."""
        document = self.documents.get(doc_id)
        return document.meta if document is not None else Metadata()


def nearest(index: Index, query: np.ndarray, n: int, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The n passages nearest to one question's vector, by its store's search
    (FAISS on one thread, or Milvus); among those `within` marks, when given."""
    return index.vectors.search(query.reshape(1, -1).astype(np.float32), n, within)


def exists(directory: Path) -> bool:
    return (directory / MANIFEST).is_file()


def stamp(directory: Path) -> tuple[int, int, int] | None:
    """What identifies the live generation without reading it (None: no index):
    manifest.json is replaced (a new inode) whenever a new generation goes live."""
    try:
        s = (directory / MANIFEST).stat()
    except OSError:
        return None
    return (s.st_ino, s.st_mtime_ns, s.st_size)


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not directory.exists():
        raise BadIndexError(f"{directory}: no index here; build one with `retriever index PATHS --index-dir {directory}`")
    if not directory.is_dir():  # an index's own manifest.json named, or any file
        index = f"; the index is its folder, {directory.parent}" if directory.name == MANIFEST else ""
        raise BadIndexError(f"{directory}: a file, not an index (an index is a folder){index}")
    if not path.is_file():
        raise BadIndexError(f"{directory}: not an index (no {MANIFEST}); build one with `retriever index`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadIndexError(f"{path}: unreadable manifest ({e}); rebuild it with `retriever index`") from None
    if not Manifest.marks_an_index(data):
        raise BadIndexError(f"{path}: not the manifest of an index; build one in a folder of its own with `retriever index`")
    version = data.get("format_version")
    if version != INDEX_FORMAT_VERSION:
        raise BadIndexError(
            f"{directory}: index format {version}, this retriever reads format {INDEX_FORMAT_VERSION}; "
            "rebuild it with `retriever index`"
        )
    try:
        return Manifest.from_dict(data, _DATA_FILES)
    except ManifestError as e:
        raise BadIndexError(f"{path}: unreadable manifest ({e}); rebuild it with `retriever index PATHS --rebuild`") from None


def load(directory: Path) -> Index:
    """Open an index, checking that every file the manifest lists is there and whole."""
    manifest = read_manifest(directory)
    gen = directory / manifest.generation
    for name, info in manifest.files.items():
        file = gen / name
        if not file.is_file():
            raise BadIndexError(f"{file}: missing; rebuild it with `retriever index --rebuild`")
        if file.stat().st_size != info.bytes:
            raise BadIndexError(
                f"{file}: truncated or altered (size differs from manifest); rebuild it with `retriever index --rebuild`"
            )
    passages = _read(gen, _PASSAGES, lambda path: [Passage.from_dict(p) for p in _read_jsonl(path)])
    documents = _read(gen, _DOCUMENTS, lambda path: _read_documents(gen))
    vectors = store_for(manifest.vector_store, directory).open(gen, manifest)
    bm25 = _read(gen, "bm25.npz", lambda path: BM25.load(gen), label="bm25.npz or bm25_vocab.json")
    sentences = _read(gen, _SENTENCES, SentenceVectors.load)
    if not (vectors.ntotal == len(passages) == bm25.n_docs == len(sentences.indptr) - 1):
        raise BadIndexError(f"{gen}: vectors, passages and BM25 disagree in count; rebuild it with `retriever index`")
    return Index(directory, manifest, passages, documents, vectors, bm25, sentences)


def _read(gen: Path, name: str, reader, label: str | None = None):
    """reader(gen / name), any failure an error that names the file."""
    try:
        return reader(gen / name)
    except Exception as e:  # noqa: BLE001 - numpy, zipfile, json and FAISS each raise their own
        raise BadIndexError.unreadable(gen / (label or name), e) from None


def _read_documents(gen: Path) -> dict[str, IndexedDocument]:
    return {
        d["doc_id"]: IndexedDocument(
            d["doc_id"],
            d["path"],
            d["title"],
            d["text"],
            d["sha256"],
            tuple(d["passages"]),
            _stored_metadata(d),
        )  # fmt: skip
        for d in _read_jsonl(gen / _DOCUMENTS)
    }


def _stored_metadata(d: dict) -> Metadata:
    if "date_from" not in d:  # an index written before documents had metadata: what the text says of itself
        return metadata(d["title"], d["text"])
    meta = Metadata.from_dict(d)
    if meta.date is None and (year := session_year(d["title"])):
        # Written before a title naming a congress session dated its document.
        return replace(meta, date=f"{year:04d}", date_from="title")
    return meta


def read_documents(directory: Path) -> tuple[Manifest, dict[str, IndexedDocument]]:
    """The manifest and the document store alone, without vectors or BM25: what
    `retriever info` shows, without the cost of loading FAISS."""
    manifest = read_manifest(directory)
    gen = directory / manifest.generation
    return manifest, _read(gen, _DOCUMENTS, lambda path: _read_documents(gen))


def verify(directory: Path) -> list[str]:
    """Problems found by checking every file against the manifest's checksums, and a
    Milvus collection against the passages."""
    manifest = read_manifest(directory)
    gen = directory / manifest.generation
    problems = []
    for name, info in manifest.files.items():
        file = gen / name
        if not file.is_file():
            problems.append(f"{file}: missing")
        elif sha256(file) != info.sha256:
            problems.append(f"{file}: checksum differs from manifest")
    return problems + store_for(manifest.vector_store, directory).problems(manifest)


@contextmanager
def write_lock(directory: Path) -> Iterator[None]:
    """Hold the index's writer lock; a second writer fails at once with a clear message,
    and so does a directory that cannot be written or is not the index's own (before
    any work). A directory this call made is removed again if nothing was written."""
    _check_own(directory)
    made = not directory.exists()
    try:
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "a file, not a directory", str(directory))
        directory.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC and no link followed: a file planted under this name stays as it is.
        fd = os.open(directory / _LOCK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise StorageError(directory, "the index", e) from None
    with open(fd, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"{directory}: another `retriever index` is writing this index; try again when it ends") from None
        try:
            yield
        finally:
            if made and not exists(directory):  # a first build that failed leaves no trace
                with contextlib.suppress(OSError):
                    # All in the folder is this build's own: it made the folder.
                    shutil.rmtree(directory / DEFAULT_MILVUS_FILE, ignore_errors=True)
                    os.unlink(directory / _LOCK)
                    directory.rmdir()


def _check_own(directory: Path) -> None:
    """UsageError unless `directory` may hold an index: one that does not exist yet, is
    empty, or is an index (by its manifest, or by holding nothing but what an index
    writes). The filesystem root and the home folder never may."""
    resolved = directory.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise UsageError(f"{directory}: an index needs a folder of its own, not {resolved}; choose one such as indexes/NAME")
    if not directory.is_dir():
        return
    if Manifest.marks_an_index(_raw_manifest(directory)):
        return
    try:
        # A few more entries than an index has are enough to tell; a huge folder costs no more.
        entries = list(itertools.islice(directory.iterdir(), 64))
    except OSError as e:
        raise StorageError(directory, "the index", e) from None
    generations = [e for e in entries if e.name.startswith(("gen-", ".tmp-gen-")) and _is_generation(e)]
    foreign = [
        e.name
        for e in entries
        if e not in generations
        and not (e.name == _LOCK and e.is_file() and not e.is_symlink() and e.stat().st_size == 0)
        # milvus-lite's data (a folder), written before the manifest by a build that stopped.
        and not (e.name == DEFAULT_MILVUS_FILE and not e.is_symlink())
        # A manifest that cannot be read is the index's own if its generations are there.
        and not (e.name == MANIFEST and any((g / _PASSAGES).is_file() for g in generations))
    ]
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (", …" if len(foreign) > 3 else "")
        raise UsageError(
            f"{directory}: not an index and not empty (holds {shown}); an index needs a folder of its own: "
            "choose a new or empty one"
        )


def _is_generation(folder: Path) -> bool:
    """A folder holding nothing but an index's data files (none at all for one a crash
    cut short)."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return False
        entries = list(itertools.islice(folder.iterdir(), len(_DATA_FILES) + 1))
        return all(e.name in _DATA_FILES and e.is_file() and not e.is_symlink() for e in entries)
    except OSError:
        return False


def _remove_generation(folder: Path) -> None:
    """Remove a generation folder, if it holds only an index's data files: one with a
    file of anyone else's in it stays whole."""
    if not _is_generation(folder):
        return
    with contextlib.suppress(OSError):
        for name in _DATA_FILES:
            (folder / name).unlink(missing_ok=True)
        folder.rmdir()  # refused if something appeared meanwhile: then it stays


def write(
    directory: Path,
    documents: list[Document],
    passages: list[Passage],
    doc_ranges: dict[str, tuple[int, int]],
    vectors: np.ndarray,
    sentences: SentenceVectors,
    bm25: BM25,
    made: Made,
    store: StoreSpec,
) -> Manifest:
    """Write a new generation and make it live. Call under write_lock().

    `store` says where the vectors go: FAISS files in the generation, or a Milvus
    collection of the generation's own.
    """
    vector_store = store_for(store, directory)
    previous = _raw_manifest(directory)
    generation = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    tmp = directory / f".tmp-{generation}"
    try:
        tmp.mkdir(parents=True)
        written, vector_params, names = vector_store.write(tmp, generation, vectors)
        names += _write_data(tmp, documents, passages, doc_ranges, sentences, bm25)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        manifest = Manifest(
            generation=generation,
            model=made.model,
            corpus=made.corpus,
            files={n: FileInfo((tmp / n).stat().st_size, sha256(tmp / n)) for n in names},
            vector_store=written,
            vector_index=vector_params,
            pipeline=made.pipeline,
            bm25=made.bm25,
            versions=_versions(),
            created=previous.get("created", now) if previous else now,
            updated=now,
        )
        for name in names:
            _fsync(tmp / name)
        os.rename(tmp, directory / generation)
        _write_manifest(directory, manifest)
    except BaseException as e:
        _remove_generation(tmp)
        vector_store.discard(generation)  # what the store wrote, if it got that far
        if isinstance(e, OSError):  # a full disk, a read-only file system: one line, not a traceback
            raise StorageError(directory, "the index", e) from None
        raise
    keep = {generation, previous.get("generation") if previous else None}
    for old in [*directory.glob("gen-*"), *directory.glob(".tmp-gen-*")]:
        if old.name not in keep:
            _remove_generation(old)
    vector_store.keep(written, _previous_store(previous))
    return manifest


def _write_data(
    gen: Path,
    documents: list[Document],
    passages: list[Passage],
    doc_ranges: dict[str, tuple[int, int]],
    sentences: SentenceVectors,
    bm25: BM25,
) -> list[str]:
    """Write a generation's passages, documents, sentence vectors and BM25 into `gen`;
    the names of the files written."""
    _write_jsonl(gen / _PASSAGES, (p.to_dict() for p in passages))
    _write_jsonl(
        gen / _DOCUMENTS,
        (
            {
                "doc_id": d.doc_id,
                "path": d.path,
                "title": d.title,
                "sha256": d.sha256,
                "passages": list(doc_ranges[d.doc_id]),
                **d.meta.to_dict(),
                "text": d.text,
            }
            for d in documents
        ),
    )
    sentences.save(gen / _SENTENCES)
    return [_PASSAGES, _DOCUMENTS, _SENTENCES, *bm25.save(gen)]


def remove(directory: Path) -> list[str]:
    """Remove the index in `directory`: its generations and their vectors (in the
    folder, or the Milvus collections they name), its manifest and its lock, then the
    folder if that empties it. Nothing but what an index writes: the names of anything
    else in the folder are returned, and it stays."""
    manifest = read_manifest(directory)  # a folder that is no index is refused, untouched
    with write_lock(directory):
        store = store_for(manifest.vector_store, directory)
        for generation in [*directory.glob("gen-*"), *directory.glob(".tmp-gen-*")]:
            if _is_generation(generation):
                store.discard(generation.name)
                _remove_generation(generation)
        try:
            (directory / MANIFEST).unlink()
        except OSError as e:
            raise StorageError(directory, "the index", e) from None
    with contextlib.suppress(OSError):
        (directory / _LOCK).unlink()
        directory.rmdir()  # refused while anything else is in it
    return sorted(e.name for e in directory.iterdir()) if directory.is_dir() else []


def _raw_manifest(directory: Path) -> dict | None:
    """The manifest in `directory` read as it is, unchecked: the one a write replaces may
    be of another format version (an index built by an older retriever, now built
    again), and still names the generation that readers may hold, when the index was
    created and where its vectors are."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def corpus_fingerprint(documents: list[Document]) -> str:
    h = hashlib.sha256()
    for d in sorted(documents, key=lambda d: d.doc_id):
        h.update(f"{d.doc_id}\0{d.sha256}\n".encode())
    return h.hexdigest()[:16]


def _versions() -> dict[str, str]:
    from importlib import metadata  # 12 ms of imports: only writers need it

    out = {}
    for name in ("retriever", "onnxruntime", "onnx", "sentence-transformers", "torch", "faiss-cpu", "rjieba", "numpy"):
        try:  # under the names a reader knows them by: this tool installs as retriever-zh
            out[name] = metadata.version("retriever-zh" if name == "retriever" else name)
        except metadata.PackageNotFoundError:
            pass  # torch and sentence-transformers only where the torch backend is installed
    return out


def _read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def _write_jsonl(path: Path, rows: Iterator[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _previous_store(previous: dict | None) -> StoreSpec | None:
    """Where the replaced manifest kept its vectors, if it says so readably."""
    try:
        return StoreSpec.from_dict(previous.get("vector_store")) if previous else None
    except ManifestError:
        return None


def _write_manifest(directory: Path, manifest: Manifest) -> None:
    atomic.write_text(directory / MANIFEST, json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2), sync=True)
