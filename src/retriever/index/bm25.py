"""BM25 over jieba words, stored as plain numpy arrays.

Postings are kept by term (CSC layout): scoring a query touches only the postings of
its terms. Term weights are precomputed at build time, so a query is a few numpy
additions.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retriever.config import SearchConfig
from retriever.text.words import terms


def passage_terms(title: str, heading_path: Sequence[str], text: str) -> list[str]:
    """What BM25 indexes for a passage: its words and those of its document's title and
    heading path. A passage alone often lacks what a question names (the year and body
    of a report are in its title, the subject of a section in its heading), while the
    shown passage stays its own text."""
    return terms(" ".join([title, *heading_path, text]))


# How passage_terms builds a passage's terms, recorded in the manifest: an index built
# otherwise gets its BM25 made again.
BM25_FIELDS = ("title", "heading_path", "text")


@dataclass
class BM25:
    vocab: dict[str, int]
    idf: np.ndarray  # float32 (terms,)
    indptr: np.ndarray  # int64 (terms + 1,): postings of term t are [indptr[t], indptr[t+1])
    docs: np.ndarray  # int32 passage ids
    weights: np.ndarray  # float32 saturated, length-normalized term frequencies
    n_docs: int
    k1: float
    b: float

    @classmethod
    def build(cls, token_lists: list[list[str]], k1: float = SearchConfig.bm25_k1, b: float = SearchConfig.bm25_b) -> BM25:
        n = len(token_lists)
        lengths = np.array([len(t) for t in token_lists], dtype=np.float32)
        avg = float(lengths.mean()) if n and lengths.sum() else 1.0
        vocab: dict[str, int] = {}
        postings: list[list[tuple[int, int]]] = []
        for doc, tokens in enumerate(token_lists):
            for term, count in Counter(tokens).items():
                tid = vocab.setdefault(term, len(vocab))
                if tid == len(postings):
                    postings.append([])
                postings[tid].append((doc, count))
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(p) for p in postings])
        docs = np.fromiter((d for p in postings for d, _ in p), dtype=np.int32, count=int(indptr[-1]))
        tf = np.fromiter((f for p in postings for _, f in p), dtype=np.float32, count=int(indptr[-1]))
        weights = tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[docs] / avg))
        df = np.diff(indptr).astype(np.float32)
        # Lucene's idf: never negative, so a very common word still adds a little.
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        return cls(vocab, idf, indptr, docs, weights.astype(np.float32), n, k1, b)

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every passage for the query (0 where no term matches)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in query_terms:
            tid = self.vocab.get(term)
            if tid is not None:
                lo, hi = self.indptr[tid], self.indptr[tid + 1]
                # A term lists each passage once, so plain fancy indexing adds correctly.
                out[self.docs[lo:hi]] += self.idf[tid] * self.weights[lo:hi]
        return out

    def save(self, directory: Path) -> list[str]:
        np.savez(
            directory / "bm25.npz",
            idf=self.idf,
            indptr=self.indptr,
            docs=self.docs,
            weights=self.weights,
            params=np.array([self.n_docs, self.k1, self.b], dtype=np.float64),
        )
        terms_by_id = sorted(self.vocab, key=self.vocab.__getitem__)
        (directory / "bm25_vocab.json").write_text(json.dumps(terms_by_id, ensure_ascii=False), encoding="utf-8")
        return ["bm25.npz", "bm25_vocab.json"]

    @classmethod
    def load_idf(cls, directory: Path) -> tuple[dict[str, float], int]:
        """The IDF of each term and the number of passages, without the postings: all
        that keywords.Reference needs (npz members are read one by one)."""
        arrays = np.load(directory / "bm25.npz")
        terms_by_id = json.loads((directory / "bm25_vocab.json").read_text(encoding="utf-8"))
        idf = arrays["idf"]
        if len(idf) != len(terms_by_id):
            raise ValueError(f"{len(terms_by_id)} terms but {len(idf)} IDF values")
        return dict(zip(terms_by_id, idf.tolist())), int(arrays["params"][0])

    @classmethod
    def load(cls, directory: Path) -> BM25:
        arrays = np.load(directory / "bm25.npz")
        terms_by_id = json.loads((directory / "bm25_vocab.json").read_text(encoding="utf-8"))
        n_docs, k1, b = arrays["params"]
        return cls(
            vocab={t: i for i, t in enumerate(terms_by_id)},
            idf=arrays["idf"],
            indptr=arrays["indptr"],
            docs=arrays["docs"],
            weights=arrays["weights"],
            n_docs=int(n_docs),
            k1=float(k1),
            b=float(b),
        )
