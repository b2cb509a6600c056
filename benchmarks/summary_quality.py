"""Summary quality: generic summaries against VCSum references, and question summaries over corpus/.

Part 1, VCSum (Wu et al., Findings of ACL 2023; ../shared/data/vcsum/segments.jsonl): each
topic segment of a meeting transcript has a human summary. Every method extracts sentences
of the segment within a budget of the reference's length in characters (the setting of the
published extractive comparison) and is scored with character-level ROUGE F1 ×100
(benchmarks/rouge.py). Methods:

- retriever: the tool's own generic summary (`summarize_document`: centrality to the
  document's centre + salience, MMR, quotes of at most half the budget where commas allow);
- lead: the first sentences that fit;
- textrank, lexrank: sumy's implementations, words cut by jieba;
- oracle: greedy ROUGE-2 oracle against the reference, an upper bound for extraction.

Part 2, question summaries over corpus/: for each labelled question of
benchmarks/questions.jsonl, `Retriever.ask(question, k=5)`; does its summary keep a gold
phrase that its passages hold, and how much do its sentences repeat one another?

    python -m benchmarks.summary_quality [--quick] [--json OUT.json] [--plot DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path

from benchmarks.common import BENCH, ROOT, data_file, log, read_jsonl, stopwatch
from benchmarks.rouge import chars, mean_f1, rouge_n
from retriever import Retriever
from retriever.config import SummaryConfig
from retriever.embedding.embedders import Embedder
from retriever.summary.extract import summarize_document
from retriever.text.clean import clean
from retriever.text.segment import split_sentences
from retriever.text.words import cut

METHODS = ("retriever", "lead", "textrank", "lexrank", "oracle")
QUICK_SEGMENTS = 10
QUICK_QUESTIONS = 20
K = 5


# --- sentences and the simple selectors ----------------------------------------------


def sentences_of(text: str) -> tuple[str, list[str]]:
    """The cleaned text and its sentences, split the way the tool splits paragraphs.

    Every baseline selects from this one list, so that differences come from the
    selection, not the split. (`summarize_document` splits the same cleaned text with the
    same `split_sentences`, line by line, but then applies its own candidate rules: it
    skips a title line and bare headings, drops sentences under 8 characters and cuts
    sentences longer than half the budget at commas.)
    """
    cleaned = clean(text)
    return cleaned, [s.text for line in cleaned.split("\n") for s in split_sentences(line)]


def lead(sentences: Sequence[str], budget: int) -> str:
    """The first sentences in document order that fit; one that does not fit is skipped."""
    out, used = [], 0
    for s in sentences:
        if used + len(s) <= budget:
            out.append(s)
            used += len(s)
    return "".join(out)


def greedy_by_rating(sentences: Sequence[str], ratings: Sequence[float], budget: int) -> str:
    """Best-rated sentences that fit the budget, printed in document order.

    Python's sort is stable, so equal ratings go to the earlier sentence.
    """
    order = sorted(range(len(sentences)), key=lambda i: -ratings[i])
    chosen, used = [], 0
    for i in order:
        if used + len(sentences[i]) <= budget:
            chosen.append(i)
            used += len(sentences[i])
    return "".join(sentences[i] for i in sorted(chosen))


def oracle(sentences: Sequence[str], reference: str, budget: int) -> str:
    """Greedy extractive oracle: add the sentence that raises ROUGE-2 F1 the most.

    Ties on ROUGE-2 go to ROUGE-1 F1, then to the earlier sentence; it stops when no
    sentence that fits raises (ROUGE-2, ROUGE-1). Candidates are scored as the text they
    would make in document order, which is what gets printed. Greedy, so a lower bound
    of the true (exponential-search) oracle, and still an upper bound for the methods.
    """
    chosen: list[int] = []
    used = 0
    best = (0.0, 0.0)
    while True:
        pick, pick_key = None, best
        for i, s in enumerate(sentences):
            if i in chosen or used + len(s) > budget:
                continue
            text = "".join(sentences[j] for j in sorted([*chosen, i]))
            key = (rouge_n(text, reference, 2).f1, rouge_n(text, reference, 1).f1)
            if key > pick_key:
                pick, pick_key = i, key
        if pick is None:
            break
        chosen.append(pick)
        used += len(sentences[pick])
        best = pick_key
    return "".join(sentences[i] for i in sorted(chosen))


# --- TextRank and LexRank through sumy -------------------------------------------------


class JiebaTokenizer:
    """The tokenizer sumy's sentences ask for their words: jieba, punctuation dropped.

    sumy's own tokenizers need nltk data, which cannot be downloaded here; the object
    document model only calls `to_words`. A token is kept if it has a letter or digit
    (Han characters count), which drops punctuation and whitespace tokens. No stop words:
    sumy has no Chinese list of its own and the classics did not need one.
    """

    def to_words(self, text: str) -> list[str]:
        return [w for w in cut(text) if any(c.isalnum() for c in w)]

    def to_sentences(self, text: str) -> list[str]:  # pragma: no cover - the DOM is built by hand
        raise NotImplementedError("sentences are given, never split by sumy")


def sumy_ratings(summarizer: Callable, sentences: Sequence[str]) -> list[float]:
    """The rating sumy's summarizer gives each sentence, in document order.

    sumy's summarizers take a sentence count, or any callable that receives the
    SentenceInfo(sentence, order, rating) tuples sorted best first and returns those to
    keep: passing one that keeps them all exposes every rating without private calls.
    All sentences go into one paragraph: TextRank and LexRank only see the sentence list.
    """
    from sumy.models.dom import ObjectDocumentModel, Paragraph
    from sumy.models.dom import Sentence as SumySentence

    tokenizer = JiebaTokenizer()
    document = ObjectDocumentModel([Paragraph([SumySentence(s, tokenizer) for s in sentences])])
    ranked: list = []

    def keep_all(infos: list) -> list:
        ranked.extend(infos)
        return infos

    summarizer(document, keep_all)
    ratings = [0.0] * len(sentences)
    for info in ranked:
        ratings[info.order] = float(info.rating)  # order = index in document.sentences
    return ratings


def textrank_lexrank() -> dict[str, Callable]:
    """sumy's TextRank (Mihalcea & Tarau 2004) and LexRank (Erkan & Radev 2004), defaults kept.

    TextRank: PageRank (damping 0.85) over sentence similarity = shared words / (log |s1|
    + log |s2|). LexRank: PageRank over the graph of TF-IDF cosine > 0.1.
    """
    from sumy.summarizers.lex_rank import LexRankSummarizer
    from sumy.summarizers.text_rank import TextRankSummarizer

    return {"textrank": TextRankSummarizer(), "lexrank": LexRankSummarizer()}


# --- part 1: VCSum ---------------------------------------------------------------------


def vcsum(quick: bool, embedder: Embedder) -> dict:
    """ROUGE of every method on the VCSum test segments (first 30 in quick mode)."""
    path = data_file("vcsum", "segments.jsonl")
    if path is None:
        return {"skipped": "../shared/data/vcsum/segments.jsonl not found"}
    segments = [s for s in read_jsonl(path) if s["split"] == "test"]
    if quick:
        segments = segments[:QUICK_SEGMENTS]
    graph_methods = textrank_lexrank()

    outputs: dict[str, list[str]] = {m: [] for m in METHODS}
    seconds = dict.fromkeys(METHODS, 0.0)
    references, budgets, sentence_counts = [], [], []
    for n, seg in enumerate(segments, 1):
        reference = seg["summary"].strip()
        budget = len(reference)
        cleaned, sentences = sentences_of(seg["text"])
        references.append(reference)
        budgets.append(budget)
        sentence_counts.append(len(sentences))
        # The segment id stands in for a title: the headline would leak what it is about.
        runs: dict[str, Callable[[], str]] = {
            "retriever": lambda: summarize_document(cleaned, seg["id"], seg["id"], embedder, max_chars=budget).text,
            "lead": lambda: lead(sentences, budget),
            "textrank": lambda: greedy_by_rating(sentences, sumy_ratings(graph_methods["textrank"], sentences), budget),
            "lexrank": lambda: greedy_by_rating(sentences, sumy_ratings(graph_methods["lexrank"], sentences), budget),
            "oracle": lambda: oracle(sentences, reference, budget),
        }
        for method, make in runs.items():
            with stopwatch() as t:
                outputs[method].append(make())
            seconds[method] += t[0]
        if n % 10 == 0:
            log(f"vcsum: {n}/{len(segments)} segments")

    methods = {}
    for method in METHODS:
        scores = mean_f1(outputs[method], references)
        methods[method] = {
            **{k: round(v, 2) for k, v in scores.items()},
            "mean_chars": round(sum(map(len, outputs[method])) / len(segments), 1),
            "empty": sum(1 for o in outputs[method] if not o),
            "ms_per_segment": round(1000 * seconds[method] / len(segments), 1),
        }
    return {
        "split": "test",
        "segments": len(segments),
        "mean_budget_chars": round(sum(budgets) / len(budgets), 1),
        "mean_sentences": round(sum(sentence_counts) / len(sentence_counts), 1),
        "methods": methods,
    }


# --- part 2: question summaries over corpus/ -------------------------------------------


def bigram_jaccard(a: str, b: str) -> float:
    """Jaccard of the character-bigram sets of two sentences (punctuation and spaces removed)."""
    x, y = chars(a), chars(b)
    ga, gb = {x[i : i + 2] for i in range(len(x) - 1)}, {y[i : i + 2] for i in range(len(y) - 1)}
    return len(ga & gb) / len(ga | gb) if ga | gb else 0.0


def redundancy(sentences: Sequence[str]) -> float:
    """The highest bigram Jaccard between two sentences of one summary (0 with one sentence)."""
    return max((bigram_jaccard(a, b) for a, b in combinations(sentences, 2)), default=0.0)


def query_summaries(quick: bool, retriever: Retriever) -> dict:
    """Gold kept, gold available, redundancy and length of `ask` summaries."""
    questions = read_jsonl(BENCH / "questions.jsonl")
    if quick:
        questions = questions[:QUICK_QUESTIONS]

    kept = available = kept_when_available = 0
    redundancies, lengths, summary_ms = [], [], []
    multi = 0  # summaries with two sentences or more, the ones that can repeat themselves
    for q in questions:
        answer = retriever.ask(q["question"], k=K)
        summary = answer.summary
        in_summary = any(g in summary.text for g in q["gold"])
        in_passages = any(g in hit.passage.text for hit in answer.results for g in q["gold"])
        kept += in_summary
        available += in_passages
        kept_when_available += in_summary and in_passages
        lengths.append(len(summary.text))
        summary_ms.append(answer.timings_ms.get("summary", math.nan))
        if summary.sentences:
            redundancies.append(redundancy([s.text for s in summary.sentences]))
            multi += len(summary.sentences) > 1

    n = len(questions)
    return {
        "questions": n,
        "k": K,
        "summary_chars": SummaryConfig.max_chars,
        "gold_kept": round(kept / n, 3),
        "gold_available": round(available / n, 3),
        # Of the questions whose passages hold the gold, the share whose summary keeps it.
        "kept_when_available": round(kept_when_available / available, 3) if available else None,
        # Over non-empty summaries; a one-sentence summary counts 0.
        "redundancy": round(sum(redundancies) / len(redundancies), 3) if redundancies else None,
        "multi_sentence_summaries": multi,
        "empty_summaries": n - len(redundancies),
        "mean_chars": round(sum(lengths) / n, 1),
        "mean_summary_ms": round(sum(summary_ms) / n, 1),
    }


# --- the benchmark's surface -----------------------------------------------------------


def run(quick: bool, retriever: Retriever | None = None) -> dict:
    """Both parts, with the model of `retriever` (default: indexes/default); a
    JSON-serializable dict. A part whose data is missing says {"skipped": why}."""
    retriever = retriever or Retriever.open(ROOT / "indexes" / "default")
    with stopwatch() as t1:
        part1 = vcsum(quick, retriever.embedder)
    with stopwatch() as t2:
        part2 = query_summaries(quick, retriever)
    return {"quick": quick, "vcsum": part1, "query": part2, "seconds": {"vcsum": round(t1[0], 1), "query": round(t2[0], 1)}}


def headline(results: dict) -> list[str]:
    """One line per part for the README's headline figures."""
    lines = []
    v, q = results["vcsum"], results["query"]
    if "skipped" not in v:
        m = v["methods"]
        fig = lambda name: "/".join(f"{m[name][k]:.1f}" for k in ("R1", "R2", "RL"))  # noqa: E731
        best = max(("lead", "textrank", "lexrank"), key=lambda name: m[name]["R2"])
        lines.append(
            f"VCSum {v['split']} ({v['segments']} segments): summary ROUGE-1/2/L F1 {fig('retriever')} vs "
            f"best baseline ({best}) {fig(best)}; greedy oracle {fig('oracle')}"
        )
    if "skipped" not in q:
        redundant = "–" if q["redundancy"] is None else f"{q['redundancy']:.3f}"
        lines.append(
            f"question summaries ({q['questions']} questions): gold phrase kept {q['gold_kept']:.3f} "
            f"of {q['gold_available']:.3f} available in the top {q['k']}; redundancy {redundant}"
        )
    return lines


def markdown(results: dict) -> str:
    """Tables for RESULTS.md."""
    out = []
    v = results["vcsum"]
    if "skipped" in v:
        out.append(f"### Generic summaries on VCSum\n\nSkipped: {v['skipped']}.\n")
    else:
        out += [
            f"### Generic summaries on VCSum ({v['split']}, {v['segments']} segments)\n",
            f"Budget = the reference summary's length (mean {v['mean_budget_chars']:.0f} characters); "
            f"{v['mean_sentences']:.0f} sentences per segment on average. Character-level ROUGE F1 ×100 "
            "(`benchmarks/rouge.py`: clipped n-gram counts, punctuation and spaces removed).\n",
            "| method | R1 | R2 | RL | mean chars | ms / segment |",
            "|---|---|---|---|---|---|",
        ]
        for method, m in v["methods"].items():
            name = f"{method} (upper bound)" if method == "oracle" else method
            out.append(
                f"| {name} | {m['R1']:.2f} | {m['R2']:.2f} | {m['RL']:.2f} | {m['mean_chars']:.0f} | {m['ms_per_segment']:.0f} |"
            )
        out.append("")
    q = results["query"]
    if "skipped" in q:
        out.append(f"### Question summaries over corpus/\n\nSkipped: {q['skipped']}.\n")
    else:
        fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
        out += [
            f"### Question summaries over corpus/ ({q['questions']} questions, k={q['k']}, {q['summary_chars']} characters)\n",
            "Gold kept: the summary contains a gold phrase; gold available: one of the top-5 passages "
            "does (the ceiling); redundancy: highest character-bigram Jaccard between two sentences of "
            "a summary, averaged (0 = no overlap).\n",
            "| gold kept | gold available | kept when available | redundancy | mean chars | empty |",
            "|---|---|---|---|---|---|",
            f"| {fmt(q['gold_kept'])} | {fmt(q['gold_available'])} | {fmt(q['kept_when_available'])} "
            f"| {fmt(q['redundancy'])} | {q['mean_chars']:.0f} | {q['empty_summaries']} |",
            "",
        ]
    return "\n".join(out)


def plot(results: dict, out_dir: Path) -> list[Path]:
    """One bar chart of R1/R2/RL per method on VCSum (ASCII labels: no CJK font needed)."""
    v = results["vcsum"]
    if "skipped" in v:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    methods = list(v["methods"])
    x = np.arange(len(methods))
    width = 0.26
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for j, metric in enumerate(("R1", "R2", "RL")):
        values = [v["methods"][m][metric] for m in methods]
        bars = ax.bar(x + (j - 1) * width, values, width, label=f"ROUGE-{metric[1:]}")
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, methods)
    ax.set_ylabel("F1 x 100 (characters)")
    ax.set_title(f"VCSum {v['split']}, {v['segments']} segments, budget = reference length")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary_quality.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"first {QUICK_SEGMENTS} segments, {QUICK_QUESTIONS} questions")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="write the chart into this directory")
    args = parser.parse_args()

    results = run(args.quick)
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        for p in plot(results, args.plot):
            log(f"wrote {p}")
    sys.stdout.write("\n".join(f"- {line}" for line in headline(results)) + "\n\n" + markdown(results) + "\n")


if __name__ == "__main__":
    main()
