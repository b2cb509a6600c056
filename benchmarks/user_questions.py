"""Questions in users' own words over corpus/ and the government work reports.

benchmarks/user_questions.jsonl holds 235 questions written for this project in the voice
of people who have not read the documents (everyday words instead of the documents'
phrasing, facts asked indirectly, a year, a congress or a place that decides among
near-identical reports, 2-6 character search-box queries), and 70 that nothing in the
corpus answers. Each answerable question names its document and gold phrases: a passage
is relevant when it comes from that document and contains one of them, so the labels
survive any change of segmentation. The set is split in halves by kind (`split`): tune
on dev, report test.

The index holds corpus/ and the 87 gov_reports documents (../shared/data), each written
as a .txt whose first line is its title, as a user's copy of a report would be. It is
built once into the user's cache and rebuilt incrementally when the code changes.

    python -m benchmarks.user_questions [--split dev|test|all] [--modes bm25,dense,hybrid]
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from retriever import Retriever
from retriever.bm25 import STOPWORDS, _jieba
from retriever.config import user_cache_dir
from retriever.search import search

from .common import BENCH, ROOT, data_file, log, read_jsonl
from .metrics import mrr_at

QUESTIONS = BENCH / "user_questions.jsonl"
K = 10
KINDS = ("year", "fact", "paraphrase", "place_or_meeting", "keyword")
# Question words and time words that say nothing about the subject: left out of the
# overlap between a question and its gold sentence.
_OVERLAP_STOP = STOPWORDS | {"今年", "去年", "多少", "哪些", "什么", "怎么", "如何", "为什么"}


def documents() -> dict[str, str] | None:
    """The gov_reports texts by file name, each with its title as first line."""
    path = data_file("gov_reports", "documents.jsonl")
    if path is None:
        return None
    return {f"{d['id']}.txt": f"{d['title']}\n{d['text']}" for d in read_jsonl(path)}


def build(rebuild: bool = False) -> Retriever | None:
    """The index of corpus/ and gov_reports, in the user's cache (incremental)."""
    docs = documents()
    if docs is None:
        return None
    work = user_cache_dir() / "bench" / "user-questions"
    texts = work / "gov_reports"
    texts.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        path = texts / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    retriever, report = Retriever.build([ROOT / "corpus", texts], index_dir=work / "index", rebuild=rebuild)
    log(f"user questions: index of {report.documents} documents, {report.passages} passages ({report.embedded} embedded)")
    return retriever


def doc_key(doc_id: str) -> str:
    """A document as the question set names it: its file name without .txt."""
    return Path(doc_id).name.removesuffix(".txt")


def relevant_passages(retriever: Retriever, row: dict) -> set[int]:
    return {
        i
        for i, p in enumerate(retriever.index.passages)
        if doc_key(p.doc_id) == doc_key(row["doc"]) and any(g in p.text for g in row["gold"])
    }


def sentence_around(text: str, phrase: str) -> str:
    at = text.find(phrase)
    start = max(text.rfind(c, 0, at) for c in "。！？\n") + 1
    ends = [e for e in (text.find(c, at + len(phrase)) for c in "。！？\n") if e >= 0]
    return text[start : min(ends) + 1 if ends else len(text)]


def overlap(question: str, sentence: str) -> float | None:
    """Share of the question's words (two characters or more, no stop words) that occur in
    the gold sentence: how much the question copies the document."""
    words = {w for w in _jieba().lcut(question) if len(w) > 1 and w not in _OVERLAP_STOP}
    return sum(w in sentence for w in words) / len(words) if words else None


def evaluate(retriever: Retriever, rows: list[dict], modes: list[str]) -> dict:
    """Per mode: hit@1, hit@5, MRR@10 and the document of the first result, overall and by kind."""
    embedder = retriever.embedder
    relevant = [relevant_passages(retriever, r) for r in rows]
    lost = [r["id"] for r, rel in zip(rows, relevant) if not rel]
    if lost:
        log(f"user questions: no passage holds the gold of {', '.join(lost)}")
    vectors = embedder.encode([r["question"] for r in rows])
    out: dict = {}
    for mode in modes:
        per_kind: dict[str, list[dict]] = defaultdict(list)
        for row, rel, vector in zip(rows, relevant, vectors):
            hits = search(retriever.index, row["question"], vector, K, mode)
            ranked = [h.passage_id for h in hits]
            scores = {
                "hit@1": float(bool(ranked[:1] and ranked[0] in rel)),
                "hit@5": float(bool(set(ranked[:5]) & rel)),
                "MRR@10": mrr_at(ranked, rel, K),
                "doc@1": float(bool(hits) and doc_key(hits[0].passage.doc_id) == doc_key(row["doc"])),
            }
            per_kind[row["kind"]].append(scores)
            per_kind["all"].append(scores)
        out[mode] = {kind: _mean(values) for kind, values in per_kind.items()}
    return out


def _mean(values: list[dict]) -> dict:
    return {"n": len(values), **{m: sum(v[m] for v in values) / len(values) for m in values[0]}}


def overlap_stats(rows: list[dict], retriever: Retriever) -> dict:
    texts = {doc_key(d.doc_id): d.text for d in retriever.index.documents.values()}
    by_kind: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        text = texts.get(doc_key(r["doc"]), "")
        values = [overlap(r["question"], sentence_around(text, g)) for g in r["gold"] if g in text]
        values = [v for v in values if v is not None]
        if values:
            by_kind[r["kind"]].append(max(values))
            by_kind["all"].append(max(values))
    return {k: round(sum(v) / len(v), 3) for k, v in by_kind.items()}


def table(results: dict) -> str:
    lines = ["| mode | kind | n | hit@1 | hit@5 | MRR@10 | doc@1 |", "|---|---|---|---|---|---|---|"]
    for mode, kinds in results.items():
        for kind in ("all", *KINDS):
            if kind in kinds:
                m = kinds[kind]
                lines.append(
                    f"| {mode} | {kind} | {m['n']} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['MRR@10']:.3f} | {m['doc@1']:.3f} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--modes", default="bm25,dense,hybrid")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    retriever = build(args.rebuild)
    if retriever is None:
        return
    rows = [r for r in read_jsonl(QUESTIONS) if r["kind"] != "off_topic" and args.split in ("all", r["split"])]
    log(f"user questions: {len(rows)} {args.split} questions; word overlap with the gold sentence {overlap_stats(rows, retriever)}")
    print(table(evaluate(retriever, rows, args.modes.split(","))))


if __name__ == "__main__":
    main()
