"""Where an index keeps its vectors: FAISS files in each generation, or a collection of
each generation's own in Milvus (milvus.py).

One interface, VectorStore, and one factory, store_for(), which reads what the manifest
records under "vector_store": index.py and build.py speak to the store and never ask
which one it is. The vectors a store opens answer FAISS's calls: search(x, n),
reconstruct_batch(ids), reconstruct_n(start, n) and ntotal.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retriever.config import BadIndexError, VectorIndexConfig

FAISS_FILE = "vectors.faiss"


class VectorStore(Protocol):
    spec: dict  # what the manifest records under "vector_store", without a generation's own

    def describe(self) -> str:
        """Where the vectors go, in a few words (build notes)."""
        ...

    def where(self, manifest: dict) -> str:
        """Where a written generation's vectors are (`retriever info`)."""
        ...

    def check_reachable(self) -> None:
        """BadIndexError unless the store can be written: before any work."""
        ...

    def write(self, tmp: Path, generation: str, vectors: np.ndarray) -> tuple[dict, dict, list[str]]:
        """Store a generation's vectors (files go in `tmp`): its manifest entry, its index
        parameters and the names of the files written."""
        ...

    def discard(self, generation: str) -> None:
        """Undo what write() did for a generation that failed."""
        ...

    def keep(self, live: dict, previous: dict | None) -> None:
        """After a swap: keep the live and the previous generation's vectors, no others."""
        ...

    def open(self, gen: Path, manifest: dict) -> Any:
        """The vectors of the generation `manifest` names (in directory `gen`)."""
        ...

    def search(self, vectors: Any, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The n best inner products of each row of x: (scores, ids)."""
        ...

    def problems(self, manifest: dict) -> list[str]:
        """What `retriever info --check` finds wrong beyond the files' checksums."""
        ...


def store_for(spec: dict | None, directory: Path) -> VectorStore:
    """The store a manifest's "vector_store" entry (or a --vector-store spec) names."""
    spec = spec or {"type": "faiss"}
    if spec["type"] == "milvus":
        return MilvusStore(spec, directory)
    return FaissStore()


def _faiss():
    import faiss

    return faiss


class FaissStore:
    """A FAISS index file in each generation (index.build_vector_index)."""

    spec = {"type": "faiss"}

    def describe(self) -> str:
        return "FAISS files"

    def where(self, manifest: dict) -> str:
        return f"FAISS files ({manifest.get('vector_index', {}).get('type', 'flat')})"

    def check_reachable(self) -> None:
        pass  # the directory is checked by the writer's lock

    def write(self, tmp: Path, generation: str, vectors: np.ndarray) -> tuple[dict, dict, list[str]]:
        from retriever.index.folder import build_vector_index

        index, params = build_vector_index(vectors, VectorIndexConfig())
        # Written by Python, not faiss.write_index: a full disk is then an OSError (one
        # line for the user), not a RuntimeError carrying FAISS's C++ stack.
        (tmp / FAISS_FILE).write_bytes(_faiss().serialize_index(index))
        return dict(self.spec), params, [FAISS_FILE]

    def discard(self, generation: str) -> None:
        pass  # the file went with the generation's directory

    def keep(self, live: dict, previous: dict | None) -> None:
        pass  # the file goes with its generation's directory

    def open(self, gen: Path, manifest: dict) -> Any:
        from retriever.config import SearchConfig
        from retriever.index.folder import set_ef_search

        path = gen / FAISS_FILE
        try:
            index = _faiss().read_index(str(path))
        except Exception as e:  # noqa: BLE001 - FAISS raises RuntimeError with C++ text
            raise BadIndexError.unreadable(path, e) from None
        params = manifest.get("vector_index", {"type": "flat"})
        if params["type"] == "hnsw-sq8":
            # A search asks for `candidates` neighbours (and the re-ranking for `refine`
            # times as many): the graph walk must keep as many.
            set_ef_search(index, max(params["efSearch"], SearchConfig.candidates * params["refine"]))
        return index

    def search(self, vectors: Any, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """On one thread: ONNX Runtime's threads still spin on both cores right after
        encoding the question, and OpenMP threads that wait for them made an exact search
        over 10,700 passages take 7.3 ms instead of 2.2 (benchmarks/ compares one and all
        threads). The setting is put back, so that a build still adds on every core."""
        faiss = _faiss()
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return vectors.search(x, n)
        finally:
            faiss.omp_set_num_threads(threads)

    def problems(self, manifest: dict) -> list[str]:
        return []  # the file is among those whose checksums are checked


class MilvusStore:
    """A collection per generation, `<prefix>_<generation>`, in milvus-lite (a file in the
    index directory) or a Milvus server (milvus.py)."""

    def __init__(self, spec: dict, directory: Path):
        self.spec = {k: v for k, v in spec.items() if k != "collection"}
        self.uri, self.prefix, self.directory = spec["uri"], spec["prefix"], directory

    def describe(self) -> str:
        return f"Milvus at {self.uri} ({self.prefix})"

    def where(self, manifest: dict) -> str:
        return f"Milvus at {self.uri}, collection {manifest['vector_store']['collection']}"

    def check_reachable(self) -> None:
        from retriever.index.milvus import check_reachable

        check_reachable(self.uri, self.directory)

    def _collection(self, generation: str) -> str:
        from retriever.index.milvus import collection_name

        return collection_name(self.prefix, generation)

    def write(self, tmp: Path, generation: str, vectors: np.ndarray) -> tuple[dict, dict, list[str]]:
        from retriever.index import milvus

        collection = self._collection(generation)
        milvus.write(self.uri, self.directory, collection, vectors)
        params = {"type": "milvus", "index": milvus.index_type(self.uri), "metric": "IP"}
        return {**self.spec, "collection": collection}, params, []

    def discard(self, generation: str) -> None:
        from retriever.index.milvus import drop_collection

        with contextlib.suppress(Exception):  # a leftover collection costs space, not correctness
            drop_collection(self.uri, self.directory, self._collection(generation))

    def keep(self, live: dict, previous: dict | None) -> None:
        from retriever.index.milvus import drop

        kept = {live["collection"], (previous or {}).get("collection")}
        with contextlib.suppress(Exception):  # the same
            drop(self.uri, self.directory, self.prefix, {c for c in kept if c}, live=live["collection"])

    def open(self, gen: Path, manifest: dict) -> Any:
        from retriever.index.milvus import MilvusVectors

        return MilvusVectors(self.uri, self.directory, manifest["vector_store"]["collection"], int(manifest["model"]["dim"]))

    def search(self, vectors: Any, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return vectors.search(x, n)

    def problems(self, manifest: dict) -> list[str]:
        from retriever.index.milvus import problems

        return problems(self.uri, self.directory, manifest["vector_store"]["collection"], manifest["corpus"]["passages"])
