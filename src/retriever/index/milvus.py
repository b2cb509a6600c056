"""Passage vectors in Milvus, through pymilvus: `retriever index --vector-store milvus`.

The URI is a Milvus server or cluster (`http://host:19530`) or a local file, which
milvus-lite serves in-process (tests and the local demo; one process at a time may
open it). Everything else of the index (passages, documents, BM25, sentence vectors,
the manifest) stays in the index directory, so that the text and the vectors agree:

- each index generation writes its own collection, `<prefix>_<generation>`, and the
  manifest names it, so the swap to a new generation stays one atomic rename of
  manifest.json; collections of generations no longer kept are dropped after it;
- a passage's primary key is its passage id, as in the FAISS index.

MilvusVectors answers the calls the rest of the package makes of a FAISS index
(search, reconstruct_batch, reconstruct_n, ntotal), so search and build need not know
where the vectors live.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from retriever.config import DEFAULT_MILVUS_FILE, ENV_MILVUS_TOKEN, VECTOR_STORES
from retriever.errors import BadIndexError, RetrieverError, UsageError
from retriever.index.manifest import FAISS, Manifest, StoreSpec

_INSERT_BATCH = 2_000
_GET_BATCH = 1_000


def _pymilvus():
    try:
        import pymilvus
    except ImportError:
        raise RetrieverError("the Milvus vector store needs pymilvus: pip install 'retriever[milvus]'") from None
    # pymilvus logs every failed call with a traceback; the error raised says it once.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    return pymilvus


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "grpc://"))


def manifest_uri(uri: str, index_dir: Path) -> str:
    """The URI as the manifest keeps it: a server as given; a milvus-lite file relative
    to the index directory when it lies inside it (the index can then be moved)."""
    if is_server(uri):
        return uri
    path = Path(os.path.abspath(uri))
    try:
        return path.relative_to(Path(os.path.abspath(index_dir))).as_posix()
    except ValueError:
        return str(path)


def spec(kind: str | None, uri: str | None, collection: str | None, index_dir: Path) -> StoreSpec | None:
    """The vector store asked for by `--vector-store`, `--uri` and `--collection`, or
    None when none is (the index keeps its own). A URI alone means Milvus."""
    if kind is None and uri is None and collection is None:
        return None
    kind = kind or "milvus"
    if kind not in VECTOR_STORES:
        raise UsageError(f"unknown vector store {kind!r}: choose one of {', '.join(VECTOR_STORES)}")
    if kind == "faiss":
        if uri or collection:
            raise UsageError("--uri and --collection are for --vector-store milvus")
        return FAISS
    if uri and is_server(uri) and urlsplit(uri).password:
        # The URI is written to the manifest, beside the index: a secret must not be.
        raise UsageError(f"--uri: give the password or token in {ENV_MILVUS_TOKEN} (user:password), not in the URI")
    if collection is not None and not re.fullmatch(r"[A-Za-z_][0-9A-Za-z_]{0,150}", collection):
        raise UsageError(f"collection {collection!r}: Milvus names are letters, digits and _, not starting with a digit")
    return StoreSpec(
        "milvus", manifest_uri(uri, index_dir) if uri else DEFAULT_MILVUS_FILE, collection or default_prefix(index_dir)
    )


def index_type(uri: str) -> str:
    """AUTOINDEX on a server, which picks the type for its version and hardware; exact
    (FLAT) in milvus-lite, which holds what one machine holds, like FAISS's exact index."""
    return "AUTOINDEX" if is_server(uri) else "FLAT"


def _connect_uri(uri: str, index_dir: Path) -> str:
    return uri if is_server(uri) or os.path.isabs(uri) else str(index_dir / uri)


def default_prefix(index_dir: Path) -> str:
    """Collections of this index: its directory's name and a hash of its path, so that
    indexes of the same name elsewhere do not share a server's collections."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", Path(os.path.abspath(index_dir)).name)[:40]
    digest = hashlib.sha256(os.fsencode(os.path.abspath(index_dir))).hexdigest()[:8]
    return f"retriever_{name}_{digest}"


def collection_name(prefix: str, generation: str) -> str:
    return f"{prefix}_{generation}".replace("-", "_")


@lru_cache(maxsize=8)
def client(uri: str):
    """One client per URI and process (milvus-lite starts its server on the first). A
    server's URI may name a database (http://host:19530/team); its token, a secret, comes
    from the environment (RETRIEVER_MILVUS_TOKEN: user:password or an API key)."""
    pymilvus = _pymilvus()
    try:
        if is_server(uri):
            return pymilvus.MilvusClient(uri, token=os.environ.get(ENV_MILVUS_TOKEN, ""))
        return pymilvus.MilvusClient(uri)
    except Exception as e:  # noqa: BLE001 - pymilvus raises its own types, and grpc's
        hint = " (milvus-lite lets one process open a file: is a `retriever serve` using it?)" if not is_server(uri) else ""
        raise BadIndexError(f"Milvus at {uri}: cannot connect ({_reason(e)}){hint}") from None


def check_reachable(uri: str, index_dir: Path) -> None:
    """BadIndexError unless the Milvus at `uri` answers: a build checks before it reads
    or embeds anything that it will be able to write its vectors."""
    try:
        client(_connect_uri(uri, index_dir)).list_collections()
    except RetrieverError:
        raise
    except Exception as e:  # noqa: BLE001 - pymilvus raises its own types, and grpc's
        raise BadIndexError(f"Milvus at {uri}: cannot connect ({_reason(e)})") from None


def problems(uri: str, index_dir: Path, collection: str, passages: int) -> list[str]:
    """What `retriever info --check` finds wrong with an index's collection: missing, or
    not one vector per passage."""
    try:
        c = client(_connect_uri(uri, index_dir))
        if not c.has_collection(collection):
            return [f"Milvus at {uri}: collection {collection} is missing"]
        # count(*) counts what a search can find; the collection's statistics count
        # deleted rows too until the server compacts them.
        rows = int(c.query(collection, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"])
    except RetrieverError as e:
        return [str(e)]
    except Exception as e:  # noqa: BLE001
        return [f"Milvus at {uri}: cannot check collection {collection} ({_reason(e)})"]
    if rows != passages:
        return [f"Milvus at {uri}: collection {collection} holds {rows:,} vectors for {passages:,} passages"]
    return []


def _reason(e: Exception) -> str:
    return getattr(e, "message", None) or str(e).splitlines()[0] or type(e).__name__


def write(uri: str, index_dir: Path, collection: str, vectors: np.ndarray) -> None:
    """Create `collection` holding `vectors` (row i has id i), indexed for inner product."""
    pymilvus = _pymilvus()
    c = client(_connect_uri(uri, index_dir))
    try:
        if c.has_collection(collection):
            c.drop_collection(collection)  # left by a build that died before its swap
        schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
        schema.add_field("vector", pymilvus.DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
        index = c.prepare_index_params()
        index.add_index(field_name="vector", index_type=index_type(uri), metric_type="IP")
        c.create_collection(collection, schema=schema, index_params=index)
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        for start in range(0, len(x), _INSERT_BATCH):
            rows = [{"id": start + j, "vector": v} for j, v in enumerate(x[start : start + _INSERT_BATCH])]
            c.insert(collection, rows)
        c.flush(collection)
    except RetrieverError:
        raise
    except Exception as e:  # noqa: BLE001
        raise BadIndexError(f"Milvus at {uri}: cannot write collection {collection} ({_reason(e)})") from None


def drop(uri: str, index_dir: Path, prefix: str, keep: set[str], live: str) -> None:
    """Drop the collections named `prefix_…` but those in `keep`, and release those kept
    but the `live` one from the server's memory: the previous generation stays for a
    reader that still holds it (which loads it again if it asks), not in RAM for good."""
    c = client(_connect_uri(uri, index_dir))
    for name in c.list_collections():
        if not name.startswith(prefix + "_"):
            continue
        if name not in keep:
            c.drop_collection(name)
        elif name != live:
            c.release_collection(name)


def drop_collection(uri: str, index_dir: Path, name: str) -> None:
    c = client(_connect_uri(uri, index_dir))
    if c.has_collection(name):
        c.drop_collection(name)


def id_filter(within: np.ndarray) -> str:
    """A Milvus filter expression for the marked ids: one range per run of them (a
    document's passages are one run), 「(id >= 0 and id < 40) or (id >= 95 and id < 130)」."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], within.astype(np.int8), [0]))))
    return " or ".join(f"(id >= {a} and id < {b})" for a, b in zip(edges[::2].tolist(), edges[1::2].tolist()))


class MilvusVectors:
    """A collection answering like the FAISS index it stands for."""

    def __init__(self, uri: str, index_dir: Path, collection: str, dim: int):
        self.uri, self.collection, self.dim = uri, collection, dim
        self._client = client(_connect_uri(uri, index_dir))
        try:
            if not self._client.has_collection(collection):
                raise BadIndexError(
                    f"Milvus at {uri}: collection {collection} is missing; rebuild it with `retriever index --rebuild`"
                )
            self._client.load_collection(collection)
            self.ntotal = int(self._client.get_collection_stats(collection)["row_count"])
        except RetrieverError:
            raise
        except Exception as e:  # noqa: BLE001
            raise BadIndexError(f"Milvus at {uri}: cannot open collection {collection} ({_reason(e)})") from None

    def _failed(self, doing: str, e: Exception) -> BadIndexError:
        # A server gone or failing is the index's trouble, said in one line (a 503 from
        # `retriever serve`), not pymilvus's traceback.
        return BadIndexError(f"Milvus at {self.uri}: cannot {doing} collection {self.collection} ({_reason(e)})")

    def search(self, x: np.ndarray, n: int, within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The n best inner products for each row of x: (scores, ids), -1 ids past the
        end; among the passages `within` marks, by a filter expression Milvus applies
        inside its search."""
        try:
            hits = self._client.search(
                self.collection, data=[row.tolist() for row in np.asarray(x, dtype=np.float32)], limit=n,
                filter="" if within is None else id_filter(within), search_params={"metric_type": "IP"},
            )  # fmt: skip
        except Exception as e:  # noqa: BLE001 - pymilvus raises its own types, and grpc's
            raise self._failed("search", e) from None
        scores = np.full((len(hits), n), -np.inf, dtype=np.float32)
        ids = np.full((len(hits), n), -1, dtype=np.int64)
        for row, found in enumerate(hits):
            for j, hit in enumerate(found):
                scores[row, j], ids[row, j] = hit["distance"], hit["id"]
        return scores, ids

    def reconstruct_batch(self, ids: np.ndarray) -> np.ndarray:
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        wanted = [int(i) for i in ids]
        rows: dict[int, list[float]] = {}
        for start in range(0, len(wanted), _GET_BATCH):
            try:
                got = self._client.get(self.collection, ids=wanted[start : start + _GET_BATCH], output_fields=["vector"])
            except Exception as e:  # noqa: BLE001
                raise self._failed("read", e) from None
            for r in got:
                rows[int(r["id"])] = r["vector"]
        for j, i in enumerate(wanted):
            if i not in rows:
                raise BadIndexError(f"Milvus at {self.uri}: collection {self.collection} lacks passage {i}; rebuild the index")
            out[j] = rows[i]
        return out

    def reconstruct_n(self, start: int, n: int) -> np.ndarray:
        return self.reconstruct_batch(np.arange(start, start + n))


class MilvusStore:
    """A collection per generation, `<prefix>_<generation>`, in milvus-lite (a file in the
    index directory) or a Milvus server."""

    def __init__(self, spec: StoreSpec, directory: Path):
        assert spec.uri is not None and spec.prefix is not None  # StoreSpec.from_dict and spec() see to it
        self.spec = spec.without_collection()
        self.uri, self.prefix, self.directory = spec.uri, spec.prefix, directory

    def describe(self) -> str:
        return f"Milvus at {self.uri} ({self.prefix})"

    def where(self, manifest: Manifest) -> str:
        return f"Milvus at {self.uri}, collection {manifest.vector_store.collection}"

    def check_reachable(self) -> None:
        check_reachable(self.uri, self.directory)

    def _collection(self, generation: str) -> str:
        return collection_name(self.prefix, generation)

    def write(self, tmp: Path, generation: str, vectors: np.ndarray) -> tuple[StoreSpec, dict, list[str]]:
        collection = self._collection(generation)
        write(self.uri, self.directory, collection, vectors)
        params = {"type": "milvus", "index": index_type(self.uri), "metric": "IP"}
        return replace(self.spec, collection=collection), params, []

    def discard(self, generation: str) -> None:
        with contextlib.suppress(Exception):  # a leftover collection costs space, not correctness
            drop_collection(self.uri, self.directory, self._collection(generation))

    def keep(self, live: StoreSpec, previous: StoreSpec | None) -> None:
        assert live.collection is not None  # write() names it
        kept = {live.collection, previous.collection if previous else None}
        with contextlib.suppress(Exception):  # the same
            drop(self.uri, self.directory, self.prefix, {c for c in kept if c}, live=live.collection)

    def open(self, gen: Path, manifest: Manifest) -> MilvusVectors:
        return MilvusVectors(self.uri, self.directory, _collection_of(manifest), manifest.model.dim)

    def problems(self, manifest: Manifest) -> list[str]:
        return problems(self.uri, self.directory, _collection_of(manifest), manifest.corpus.passages)


def _collection_of(manifest: Manifest) -> str:
    collection = manifest.vector_store.collection
    assert collection is not None  # Manifest.from_dict requires it of a Milvus store
    return collection
