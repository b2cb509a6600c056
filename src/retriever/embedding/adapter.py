"""A question adapter: a question's vector moved towards where its answers lie, for search.

A question and the passage that answers it say different things (「多少」 against a
figure, 「怎么」 against a measure), and m3e-small places every text of a corpus close to
every other (cosines 0.6-0.85). An adapter is a small linear map learned for one model
from public question-passage pairs (CMRC 2018's trial split and half of DRCD's articles;
benchmarks/train_adapter.py): a question's vector v becomes v + (v·down)·up, of unit
length again. It moves the question away from what all texts share, towards what tells
its answers apart. Passages and sentences keep their vectors, so an index needs no
rebuilding; a model without an adapter file keeps its questions as embedded.

Search's dense side compares the moved vector with the passages (search.py); whether
anything answers at all, and how close a sentence is to the question in a summary, are
judged on the question as embedded, their thresholds and scales fitted for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ADAPTERS = Path(__file__).parent / "adapters"


@dataclass(frozen=True)
class Adapter:
    down: np.ndarray  # float32 (dim, rank)
    up: np.ndarray  # float32 (rank, dim)
    about: dict  # what it was trained on, and how

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """The vectors (one, or rows) moved and of unit length again, float32."""
        moved = vectors + (vectors @ self.down) @ self.up
        return (moved / np.linalg.norm(moved, axis=-1, keepdims=True)).astype(np.float32)

    def save(self, path: Path) -> None:
        np.savez(path, down=self.down.astype(np.float32), up=self.up.astype(np.float32), about=json.dumps(self.about))


def adapter_file(model: str) -> Path:
    return ADAPTERS / f"{model}.npz"


@lru_cache(maxsize=8)
def adapter_for(model: str, dim: int) -> Adapter | None:
    """The adapter shipped for `model` (by the name `retriever model install` knows it:
    a model given by its path has none), if one ships and fits its vectors' dimension."""
    path = adapter_file(model)
    if "/" in model or not path.is_file():
        return None
    with np.load(path) as arrays:
        adapter = Adapter(arrays["down"], arrays["up"], json.loads(str(arrays["about"])))
    return adapter if adapter.down.shape[0] == dim == adapter.up.shape[1] else None
