"""Vectors in a FAISS index file of each generation: the exhaustive or approximate index
a build makes, and the store that writes and opens it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from retriever.config import SearchConfig, VectorIndexConfig
from retriever.errors import BadIndexError
from retriever.index.manifest import FAISS, Manifest, StoreSpec

FAISS_FILE = "vectors.faiss"


def _faiss():
    import faiss

    return faiss


def build_vector_index(vectors: np.ndarray, config: VectorIndexConfig) -> tuple[object, dict]:
    """A FAISS inner-product index over the unit vectors, exhaustive or approximate by
    their number, and its parameters for the manifest. Either way the candidates it
    finds, `refine` times as many as asked for, are re-scored by exact inner products,
    so that scores are those of the float vectors.

    The exhaustive one scans half-precision copies: a scan is bound by reading memory,
    and at 10,700 passages it took 0.77 ms instead of 1.5 for floats out of DRAM, with
    the same top 100 for each of 200 questions. The approximate one walks an HNSW graph
    over 8-bit codes (distances about twice as cheap as on floats); its recall is the
    graph's own.
    """
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(x) < config.exact_below:
        codes = faiss.IndexScalarQuantizer(x.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        index = faiss.IndexRefineFlat(codes)
        index.k_factor = config.refine_factor
        index.add(x)
        return index, {"type": "flat-fp16", "refine": config.refine_factor}
    graph = faiss.IndexHNSWSQ(x.shape[1], faiss.ScalarQuantizer.QT_8bit, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = config.hnsw_ef_construction
    index = faiss.IndexRefineFlat(graph)
    index.k_factor = config.refine_factor
    index.train(x)
    index.add(x)
    params = {
        "M": config.hnsw_m,
        "efConstruction": config.hnsw_ef_construction,
        "efSearch": config.hnsw_ef_search,
        "refine": config.refine_factor,
    }
    set_ef_search(index, config.hnsw_ef_search)
    return index, {"type": "hnsw-sq8", **params}


def set_ef_search(index, ef: int) -> None:
    """The HNSW graph's efSearch, inside the re-ranking wrapper."""
    _faiss().downcast_index(index.base_index).hnsw.efSearch = ef


class FaissVectors:
    """An opened FAISS index, answering the calls search and build make of vectors."""

    def __init__(self, index: Any):
        self.index = index

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(self, x: np.ndarray, n: int, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """On one thread: ONNX Runtime's threads still spin on both cores right after
        encoding the question, and OpenMP threads that wait for them made an exact search
        over 10,700 passages take 7.3 ms instead of 2.2 (benchmarks/ compares one and all
        threads). The setting is put back, so that a build still adds on every core.

        `within` (a mark per passage) keeps the search to the marked passages: FAISS
        skips the others as it scans or walks the graph, so n results come back if
        there are n."""
        faiss = _faiss()
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            if within is None:
                return self.index.search(x, n)
            bitmap = np.packbits(within, bitorder="little")  # held here while FAISS reads it
            selector = faiss.IDSelectorBitmap(len(within), faiss.swig_ptr(bitmap))
            base = faiss.downcast_index(self.index.base_index)
            if isinstance(base, faiss.IndexHNSW):
                if int(within.sum()) < VectorIndexConfig.exact_below:
                    # Few passages within: scored exactly, as a graph walk that must pass
                    # by the many outside could miss some; as many as an exact index scans.
                    refine = faiss.downcast_index(self.index.refine_index)
                    return refine.search(x, n, params=faiss.SearchParameters(sel=selector))
                inner = faiss.SearchParametersHNSW(sel=selector, efSearch=base.hnsw.efSearch)
            else:
                inner = faiss.SearchParameters(sel=selector)
            params = faiss.IndexRefineSearchParameters(k_factor=self.index.k_factor, base_index_params=inner)
            return self.index.search(x, n, params=params)
        finally:
            faiss.omp_set_num_threads(threads)

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        return self.index.reconstruct_batch(ids)

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        return self.index.reconstruct_n(start, n)


class FaissStore:
    """A FAISS index file in each generation (build_vector_index)."""

    spec = FAISS

    def describe(self) -> str:
        return "FAISS files"

    def where(self, manifest: Manifest) -> str:
        return f"FAISS files ({manifest.vector_index_type})"

    def check_reachable(self) -> None:
        pass  # the directory is checked by the writer's lock

    def write(self, tmp: Path, generation: str, vectors: np.ndarray) -> tuple[StoreSpec, dict, list[str]]:
        index, params = build_vector_index(vectors, VectorIndexConfig())
        # Written by Python, not faiss.write_index: a full disk is then an OSError (one
        # line for the user), not a RuntimeError carrying FAISS's C++ stack.
        (tmp / FAISS_FILE).write_bytes(_faiss().serialize_index(index))
        return self.spec, params, [FAISS_FILE]

    def discard(self, generation: str) -> None:
        pass  # the file went with the generation's directory

    def keep(self, live: StoreSpec, previous: StoreSpec | None) -> None:
        pass  # the file goes with its generation's directory

    def open(self, gen: Path, manifest: Manifest) -> FaissVectors:
        path = gen / FAISS_FILE
        try:
            index = _faiss().read_index(str(path))
        except Exception as e:  # noqa: BLE001 - FAISS raises RuntimeError with C++ text
            raise BadIndexError.unreadable(path, e) from None
        params = manifest.vector_index
        if manifest.vector_index_type == "hnsw-sq8":
            # A search asks for `candidates` neighbours (and the re-ranking for `refine`
            # times as many): the graph walk must keep as many.
            set_ef_search(index, max(params["efSearch"], SearchConfig.candidates * params["refine"]))
        return FaissVectors(index)

    def problems(self, manifest: Manifest) -> list[str]:
        return []  # the file is among those whose checksums are checked
