"""The manifest of an index (manifest.json): what the index holds and how it was made.

Read and checked in one place (Manifest.from_dict: a hand-edited or foreign file gives
one line naming what is wrong, never a traceback from deep inside a reader), written by
one writer (Manifest.to_dict), and read everywhere else as typed attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from retriever.config import INDEX_FORMAT_VERSION

MANIFEST = "manifest.json"
FORMAT = "retriever-index"  # the manifest's "format": what marks a folder as an index
GENERATION = re.compile(r"gen-[0-9T]+-[0-9a-f]+")


class ManifestError(ValueError):
    """What is wrong with a manifest's shape, in a few words."""


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class StoreSpec:
    """Where an index keeps its vectors: FAISS files in each generation ("faiss"), or a
    collection per generation in Milvus ("milvus", at `uri`, collections named from
    `prefix`; `collection` is the live generation's own, once written)."""

    type: str = "faiss"
    uri: str | None = None
    prefix: str | None = None
    collection: str | None = None

    @property
    def is_milvus(self) -> bool:
        return self.type == "milvus"

    def without_collection(self) -> StoreSpec:
        """The store itself, apart from any one generation's collection."""
        return replace(self, collection=None)

    @classmethod
    def from_dict(cls, data: object) -> StoreSpec:
        if data is None:
            return FAISS
        if isinstance(data, dict) and data.get("type") == "faiss":
            return FAISS
        if isinstance(data, dict) and data.get("type") == "milvus":
            if not all(isinstance(data.get(k), str) for k in ("uri", "prefix")) or not isinstance(
                data.get("collection"), str | None
            ):
                raise ManifestError("`vector_store` is neither FAISS files nor a Milvus collection")
            return cls("milvus", data["uri"], data["prefix"], data.get("collection"))
        raise ManifestError("`vector_store` is neither FAISS files nor a Milvus collection")

    def to_dict(self) -> dict:
        if not self.is_milvus:
            return {"type": self.type}
        out = {"type": self.type, "uri": self.uri, "prefix": self.prefix}
        if self.collection is not None:
            out["collection"] = self.collection
        return out


FAISS = StoreSpec()


@dataclass(frozen=True)
class ModelInfo:
    """The model the vectors come from, and how they were made (`retriever info`)."""

    name: str
    backend: str
    dim: int
    export_recipe: int | None = None  # the ONNX export's (embedding.onnx_export.EXPORT_RECIPE)
    precision: str | None = None  # as run when embedding: an int8 model that disagreed ran as fp32
    built_on: str | None = None  # the CPU that embedded
    normalized: bool = True

    @classmethod
    def from_dict(cls, data: object) -> ModelInfo:
        if not (isinstance(data, dict) and isinstance(data.get("name"), str) and isinstance(data.get("backend"), str)):
            raise ManifestError("`model` needs a name and a backend")
        if not (_count(data.get("dim")) and data["dim"] > 0):
            raise ManifestError("`model.dim` is not a positive whole number")
        recipe = data.get("export_recipe")
        return cls(
            data["name"],
            data["backend"],
            data["dim"],
            recipe if _count(recipe) else None,
            data.get("precision") if isinstance(data.get("precision"), str) else None,
            data.get("built_on") if isinstance(data.get("built_on"), str) else None,
            bool(data.get("normalized", True)),
        )

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "backend": self.backend, "export_recipe": self.export_recipe}
        if self.precision is not None:
            out["precision"] = self.precision
        if self.built_on is not None:
            out["built_on"] = self.built_on
        out |= {"dim": self.dim, "normalized": self.normalized}
        return out


@dataclass(frozen=True)
class CorpusInfo:
    """What was indexed: counts, the fingerprint of the documents' contents, the paths
    given to `retriever index`, and the folder it was first built in (`base`: relative
    sources and document ids are relative to it; "" in an index made before it was kept)."""

    fingerprint: str
    documents: int
    passages: int
    chars: int
    sources: tuple[str, ...] = ()
    base: str = ""

    def built_in(self) -> Path:
        """The folder its ids and sources are relative to: `base` where it still is, else
        the current folder (an index made before `base` was kept, a project moved)."""
        return Path(self.base) if self.base and Path(self.base).is_dir() else Path.cwd().resolve()

    @classmethod
    def from_dict(cls, data: object) -> CorpusInfo:
        if not (isinstance(data, dict) and all(_count(data.get(k)) for k in ("documents", "passages", "chars"))):
            raise ManifestError("`corpus` needs counts of documents, passages and chars")
        sources = data.get("sources", [])
        return cls(
            str(data.get("fingerprint", "")),
            data["documents"],
            data["passages"],
            data["chars"],
            tuple(s for s in sources if isinstance(s, str)) if isinstance(sources, list) else (),
            data["base"] if isinstance(data.get("base"), str) else "",
        )

    def to_dict(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "documents": self.documents,
            "passages": self.passages,
            "chars": self.chars,
            "sources": list(self.sources),
            "base": self.base,
        }


@dataclass(frozen=True)
class FileInfo:
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """An index's manifest. `data_files` are the names a generation may hold: the
    reader of a manifest says which (index/folder.py)."""

    generation: str
    model: ModelInfo
    corpus: CorpusInfo
    files: dict[str, FileInfo]
    vector_store: StoreSpec = FAISS
    # The vector index's parameters, as its store made them: {"type": "flat-fp16",
    # "refine": 2}, {"type": "hnsw-sq8", "M", "efConstruction", "efSearch", "refine"},
    # {"type": "milvus", "index", "metric"}.
    vector_index: dict = field(default_factory=dict)
    # What decided the passages (code fingerprint, segmentation) and BM25's terms: an
    # index built otherwise is read again, or gets its BM25 made again.
    pipeline: dict = field(default_factory=dict)
    bm25: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    created: str | None = None
    updated: str | None = None
    format_version: int = INDEX_FORMAT_VERSION

    @property
    def vector_index_type(self) -> str:
        return str(self.vector_index.get("type", "flat"))

    @staticmethod
    def marks_an_index(data: object) -> bool:
        """Whether `data` is an index's manifest (one written before the "format" marker
        is known by its keys)."""
        return isinstance(data, dict) and (
            data.get("format") == FORMAT or {"format_version", "generation", "files"} <= data.keys()
        )

    @classmethod
    def from_dict(cls, data: dict, data_files: frozenset[str]) -> Manifest:
        """The manifest of `data`, of this format version; ManifestError for a shape
        readers cannot rely on."""
        if not (isinstance(data.get("generation"), str) and GENERATION.fullmatch(data["generation"])):
            raise ManifestError("`generation` is not the name of a generation folder")
        model, corpus = ModelInfo.from_dict(data.get("model")), CorpusInfo.from_dict(data.get("corpus"))
        files = data.get("files")
        if not (
            isinstance(files, dict)
            and files
            and all(
                name in data_files
                and isinstance(info, dict)
                and _count(info.get("bytes"))
                and isinstance(info.get("sha256"), str)
                for name, info in files.items()
            )
        ):
            raise ManifestError("`files` must list the index's data files, each with bytes and sha256")
        store = StoreSpec.from_dict(data.get("vector_store"))
        if store.is_milvus and store.collection is None:
            raise ManifestError("`vector_store` is neither FAISS files nor a Milvus collection")
        vector_index = data.get("vector_index", {})
        if not isinstance(vector_index, dict) or (
            vector_index.get("type") == "hnsw-sq8" and not all(_count(vector_index.get(k)) for k in ("efSearch", "refine"))
        ):
            raise ManifestError("`vector_index` is not a vector index's parameters")

        def table(key: str) -> dict:
            return data[key] if isinstance(data.get(key), dict) else {}

        def text(key: str) -> str | None:
            return data[key] if isinstance(data.get(key), str) else None

        return cls(
            generation=data["generation"],
            model=model,
            corpus=corpus,
            files={name: FileInfo(info["bytes"], info["sha256"]) for name, info in files.items()},
            vector_store=store,
            vector_index=vector_index,
            pipeline=table("pipeline"),
            bm25=table("bm25"),
            versions=table("versions"),
            created=text("created"),
            updated=text("updated"),
            format_version=data["format_version"],
        )

    def to_dict(self) -> dict:
        """manifest.json's content, its keys in the order they have always been written."""
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "model": self.model.to_dict(),
            "pipeline": self.pipeline,
            "segmentation": self.pipeline.get("segmentation", {}),
            "bm25": self.bm25,
            "corpus": self.corpus.to_dict(),
            "vector_store": self.vector_store.to_dict(),
            "vector_index": self.vector_index,
            "generation": self.generation,
            "files": {name: {"bytes": f.bytes, "sha256": f.sha256} for name, f in self.files.items()},
            "versions": self.versions,
            "created": self.created,
            "updated": self.updated,
        }
