"""What every benchmark shares: where the data is, how to say it is missing, timing."""

from __future__ import annotations

import json
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
# Public evaluation sets live beside the project, never inside it.
DATA = ROOT.parent / "shared" / "data"


def run_and_print(doc: str, quick_help: str, run, markdown) -> None:
    """`python -m benchmarks.X [--quick]`: run one section, its raw results (JSON) on
    stderr and its Markdown on stdout."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    results = run(parser.parse_args().quick)
    print(json.dumps(results, indent=1), file=sys.stderr)
    print(markdown(results))


def question_vectors(embedder, questions: list[str]) -> np.ndarray:
    """Each question's vector as `Retriever.ask` computes it: in matching form (traditional
    characters simplified, full-width folded) and embedded alone. The int8 model sets its
    activation scales per batch, so a question embedded among others comes out a little
    different (cosine 0.995-0.999), enough to swap near-tied passages."""
    from retriever.text.words import for_matching

    return np.stack([embedder.encode([for_matching(q)])[0] for q in questions]) if questions else np.zeros((0, 0))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def data_file(name: str, file: str) -> Path | None:
    """../shared/data/<name>/<file>, or None (saying so on stderr) when it is absent."""
    path = DATA / name / file
    if not path.is_file():
        log(f"{name}: {path} not found, skipped")
        return None
    return path


def ranker_learned_from(name: str, query: dict, article_id: str) -> bool:
    """Whether the shipped ranker learned from this question of a public set
    (benchmarks/train_ranker.py): CMRC 2018's trial split and DRCD's questions on half of
    its articles, chosen by a hash of the article. The benchmarks report the others."""
    if name == "cmrc2018":
        return query["split"] == "trial"
    return zlib.crc32(str(article_id).encode()) % 2 == 1


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """with stopwatch() as t: ...  → t[0] is the elapsed seconds afterwards."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)
