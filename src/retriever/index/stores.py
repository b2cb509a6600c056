"""Where an index keeps its vectors: FAISS files in each generation (faiss_store.py), or
a collection of each generation's own in Milvus (milvus.py).

One interface, VectorStore, and one factory, store_for(), which reads what the manifest
records under "vector_store": the index folder and the build speak to the store and
never ask which one it is. What a store opens is Vectors: search(x, n, within),
reconstruct_batch(ids), reconstruct_n(start, n) and ntotal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from retriever.index.faiss_store import FaissStore
from retriever.index.manifest import Manifest, StoreSpec
from retriever.index.milvus import MilvusStore


class Vectors(Protocol):
    """What a store opens: the calls search and build make of a generation's vectors."""

    @property
    def ntotal(self) -> int: ...

    def search(self, x: np.ndarray, n: int, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The n best inner products of each row of x: (scores, ids), -1 ids past the
        end; among the passages `within` marks (bool, one per passage), when given."""
        ...

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray: ...

    def reconstruct_n(self, start: int, n: int) -> np.ndarray: ...


class VectorStore(Protocol):
    spec: StoreSpec  # what the manifest records under "vector_store", without a generation's own

    def describe(self) -> str:
        """Where the vectors go, in a few words (build notes)."""
        ...

    def where(self, manifest: Manifest) -> str:
        """Where a written generation's vectors are (`retriever info`)."""
        ...

    def check_reachable(self) -> None:
        """BadIndexError unless the store can be written: before any work."""
        ...

    def write(self, tmp: Path, generation: str, vectors: np.ndarray) -> tuple[StoreSpec, dict, list[str]]:
        """Store a generation's vectors (files go in `tmp`): its manifest entry, its index
        parameters and the names of the files written."""
        ...

    def discard(self, generation: str) -> None:
        """Undo what write() did for a generation that failed."""
        ...

    def keep(self, live: StoreSpec, previous: StoreSpec | None) -> None:
        """After a swap: keep the live and the previous generation's vectors, no others."""
        ...

    def open(self, gen: Path, manifest: Manifest) -> Vectors:
        """The vectors of the generation `manifest` names (in directory `gen`)."""
        ...

    def problems(self, manifest: Manifest) -> list[str]:
        """What `retriever info --check` finds wrong beyond the files' checksums."""
        ...


def store_for(spec: StoreSpec | None, directory: Path) -> VectorStore:
    """The store a manifest's "vector_store" entry (or a --vector-store spec) names:
    FAISS files when none does."""
    if spec is not None and spec.is_milvus:
        return MilvusStore(spec, directory)
    return FaissStore()
