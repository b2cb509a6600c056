"""Tune the document summary's weights on VCSum dev (never on test).

Runs the tool's own `summarize_document` over the dev segments for each combination
of the weights in SummaryConfig (centrality, salience, position; the MMR trade-off)
and prints ROUGE-1/2/L F1 at the reference's length, best first. Sentence vectors are
computed once and cached in memory, so the grid costs selection and scoring only.
benchmarks/summary_quality.py then reports the chosen defaults on the test split.

    python -m benchmarks.tune_summary [--segments N]
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace

import numpy as np

from benchmarks.common import data_file, log, read_jsonl
from benchmarks.rouge import mean_f1
from retriever.clean import clean
from retriever.config import SummaryConfig, default_model
from retriever.embed import load_embedder
from retriever.summarize import summarize_document


class CachedEmbedder:
    """The real model, each distinct text encoded once."""

    def __init__(self, inner):
        self.inner, self.name, self.backend, self.dim = inner, inner.name, inner.backend, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def encode(self, texts, batch_size=32, progress=None):
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            for text, vector in zip(missing, self.inner.encode(missing, batch_size=batch_size)):
                self.cache[text] = vector
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def evaluate(segments: list[dict], embedder, config: SummaryConfig) -> dict[str, float]:
    outputs, references = [], []
    for seg in segments:
        reference = seg["summary"].strip()
        text = clean(seg["text"])
        outputs.append(summarize_document(text, seg["id"], seg["id"], embedder, len(reference), config).text)
        references.append(reference)
    return mean_f1(outputs, references)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=0, help="use the first N dev segments (0: all)")
    args = parser.parse_args()
    path = data_file("vcsum", "segments.jsonl")
    if path is None:
        raise SystemExit("VCSum is needed to tune the summary")
    segments = [s for s in read_jsonl(path) if s["split"] == "dev"]
    if args.segments:
        segments = segments[: args.segments]
    embedder = CachedEmbedder(load_embedder(default_model()))
    log(f"tune: {len(segments)} dev segments; encoding their sentences once")
    base = SummaryConfig()
    evaluate(segments, embedder, base)  # fills the cache

    steps = [0.0, 0.25, 0.5, 0.75, 1.0]
    rows = []
    for centrality, salience in itertools.product(steps, steps):
        position = 1.0 - centrality - salience
        if position < -1e-9:
            continue
        for redundancy in (0.6, 0.7, 0.8, 0.9):
            config = replace(
                base,
                centrality_weight=centrality,
                salience_weight=salience,
                position_weight=round(position, 2),
                document_redundancy=redundancy,
            )
            scores = evaluate(segments, embedder, config)
            rows.append((scores["R2"] + scores["RL"], centrality, salience, round(position, 2), redundancy, scores))
            log(f"tune: c {centrality} s {salience} p {position:.2f} λ {redundancy}: "
                f"R1 {scores['R1']:.2f} R2 {scores['R2']:.2f} RL {scores['RL']:.2f}")
    rows.sort(key=lambda r: -r[0])
    print("| centrality | salience | position | MMR λ | R1 | R2 | RL |")
    print("|---|---|---|---|---|---|---|")
    for _, c, s, p, lam, sc in rows[:15]:
        print(f"| {c} | {s} | {p} | {lam} | {sc['R1']:.2f} | {sc['R2']:.2f} | {sc['RL']:.2f} |")


if __name__ == "__main__":
    main()
