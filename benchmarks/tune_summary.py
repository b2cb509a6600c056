"""Tune the document summary's weights on VCSum dev (never on test).

Runs the tool's own `summarize_document` over the dev segments for each combination
of the weights in SummaryConfig (centrality, salience, position; the MMR trade-off),
then, at the default weights, for each number of rounds that move the document's
centre and with and without the cap on a quote's length, and for each weight of key
figures; it prints ROUGE-1/2/L F1 at
the reference's length, best first. Sentence vectors are
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
from retriever.config import SummaryConfig, default_model
from retriever.embedding.embedders import load_embedder
from retriever.summary.extract import summarize_document
from retriever.text.clean import clean


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
    weights = []
    for centrality, salience in itertools.product(steps, steps):
        position = round(1.0 - centrality - salience, 2)
        if position < 0:
            continue
        for redundancy in (0.6, 0.7, 0.8, 0.9):
            weights.append(
                replace(
                    base,
                    centrality_weight=centrality,
                    salience_weight=salience,
                    position_weight=position,
                    document_redundancy=redundancy,
                )
            )
    table(segments, embedder, weights, ("centrality_weight", "salience_weight", "position_weight", "document_redundancy"), 15)
    shapes = [
        replace(base, centre_rounds=rounds, max_quote_share=share) for rounds in (0, 1, 2, 3, 5, 10) for share in (0.5, 1.0)
    ]
    table(segments, embedder, shapes, ("centre_rounds", "max_quote_share"), len(shapes))
    figures = [replace(base, figure_weight=w) for w in (0.0, 0.1, 0.2, 0.3, 0.5)]
    table(segments, embedder, figures, ("figure_weight",), len(figures))


def table(segments: list[dict], embedder, configs: list[SummaryConfig], fields: tuple[str, ...], top: int) -> None:
    """Score each config on the segments; print the best `top` as a Markdown table."""
    rows = []
    for config in configs:
        scores = evaluate(segments, embedder, config)
        values = [getattr(config, f) for f in fields]
        rows.append((scores["R2"] + scores["RL"], values, scores))
        log(
            "tune: "
            + " ".join(f"{f} {v}" for f, v in zip(fields, values))
            + f": R1 {scores['R1']:.2f} R2 {scores['R2']:.2f} RL {scores['RL']:.2f}"
        )
    rows.sort(key=lambda r: -r[0])
    print("| " + " | ".join(fields) + " | R1 | R2 | RL |")
    print("|" + "---|" * (len(fields) + 3))
    for _, values, sc in rows[:top]:
        print("| " + " | ".join(str(v) for v in values) + f" | {sc['R1']:.2f} | {sc['R2']:.2f} | {sc['RL']:.2f} |")
    print()


if __name__ == "__main__":
    main()
