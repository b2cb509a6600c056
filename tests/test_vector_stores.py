"""The VectorStore contract (stores.py), the same for every store: FAISS files,
milvus-lite and a real Milvus server."""

from pathlib import Path

import numpy as np
import pytest

from retriever.index.manifest import FAISS, CorpusInfo, Manifest, ModelInfo, StoreSpec
from retriever.index.stores import store_for

N, DIM = 60, 16


@pytest.fixture(params=["faiss", "milvus-lite", "milvus-server"])
def spec(request, tmp_path) -> StoreSpec:
    if request.param == "faiss":
        return FAISS
    pytest.importorskip("milvus_lite")
    uri = "milvus.db" if request.param == "milvus-lite" else request.getfixturevalue("milvus_server")
    return StoreSpec("milvus", uri, f"contract_{abs(hash(str(tmp_path))) % 10**8}")


def unit_vectors(seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((N, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def written(store, directory: Path, generation: str, vectors: np.ndarray) -> Manifest:
    """What index.write records of a generation: its store entry and index parameters."""
    gen = directory / generation
    gen.mkdir()
    entry, params, files = store.write(gen, generation, vectors)
    assert all((gen / f).is_file() for f in files)
    return Manifest(generation, ModelInfo("fake", "fake", DIM), CorpusInfo("", N, N, 0), {}, entry, params)


def test_what_is_written_is_found_read_back_and_checked(spec, tmp_path):
    store = store_for(spec, tmp_path)
    vectors = unit_vectors(0)
    manifest = written(store, tmp_path, "gen-1", vectors)
    opened = store.open(tmp_path / "gen-1", manifest)
    assert opened.ntotal == N
    queries = unit_vectors(1)[:5]
    scores, ids = opened.search(queries, 5)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :5]
    assert ids.tolist() == exact.tolist()
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, exact, axis=1), atol=1e-5)
    assert np.allclose(opened.reconstruct_batch(np.array([3, 0, 59])), vectors[[3, 0, 59]], atol=1e-6)
    assert np.allclose(opened.reconstruct_n(0, N), vectors, atol=1e-6)
    assert store.problems(manifest) == []
    store.check_reachable()
    where = store.where(manifest)
    if spec.type == "faiss":
        assert (store.describe(), where) == ("FAISS files", "FAISS files (flat-fp16)")
    else:
        collection = manifest.vector_store.collection
        assert collection == f"{spec.prefix}_gen_1"
        assert where == f"Milvus at {spec.uri}, collection {collection}"


def test_a_search_within_marked_passages_finds_n_of_them_in_exact_order(spec, tmp_path):
    """The filter is applied inside the search: n results however few passages are
    marked, the best of them by exact inner product, as a store of only those would."""
    store = store_for(spec, tmp_path)
    vectors = unit_vectors(0)
    opened = store.open(tmp_path / "gen-1", written(store, tmp_path, "gen-1", vectors))
    within = np.zeros(N, dtype=bool)
    within[[2, 3, 4, 5, 6, 30, 31, 32, 58, 59]] = True  # three runs, as three documents' passages are
    queries = unit_vectors(1)[:5]
    scores, ids = opened.search(queries, 6, within)
    marked = np.flatnonzero(within)
    exact = marked[np.argsort(-(queries @ vectors[marked].T), axis=1, kind="stable")[:, :6]]
    assert ids.tolist() == exact.tolist()
    assert np.allclose(scores, np.take_along_axis(queries @ vectors.T, exact, axis=1), atol=1e-5)
    # Asked for more than are marked: all of them, then nothing.
    _, ids = opened.search(queries[:1], 12, within)
    assert sorted(ids[0][:10].tolist()) == marked.tolist() and ids[0][10:].tolist() == [-1, -1]


def test_only_the_live_and_the_previous_generation_are_kept(spec, tmp_path):
    store = store_for(spec, tmp_path)
    manifests = [written(store, tmp_path, f"gen-{n}", unit_vectors(n)) for n in (1, 2, 3)]
    store.keep(manifests[2].vector_store, manifests[1].vector_store)
    for n, manifest in enumerate(manifests, 1):
        opens = True
        try:
            store.open(tmp_path / f"gen-{n}", manifest)
        except Exception:  # noqa: BLE001 - what a dropped generation raises is the store's own
            opens = False
        # FAISS files go with their generation's directory (index.write removes it).
        assert opens == (n > 1 or spec.type == "faiss"), n


def test_a_failed_generation_is_discarded(spec, tmp_path):
    store = store_for(spec, tmp_path)
    manifest = written(store, tmp_path, "gen-1", unit_vectors(0))
    store.discard("gen-1")
    if spec.type == "milvus":
        assert store.problems(manifest) == [f"Milvus at {spec.uri}: collection {spec.prefix}_gen_1 is missing"]
