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
from collections import defaultdict
from pathlib import Path

import numpy as np

from retriever import Retriever
from retriever.config import user_cache_dir
from retriever.index.bm25 import BM25
from retriever.ranking.features import SHORT_CHARS, compact
from retriever.search import search
from retriever.text.words import STOPWORDS, load_jieba, query_terms, terms

from .common import BENCH, ROOT, data_file, log, question_vectors, read_jsonl
from .metrics import mrr_at, ndcg_at, paired_bootstrap

QUESTIONS = BENCH / "user_questions.jsonl"
K = 10
KINDS = ("year", "fact", "paraphrase", "place_or_meeting", "keyword", "short")

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
    # Spaces apart: a gold phrase copied from a text whose digits were padded with them
    # (「从4 0 个减少到2 9 个」) is found in the text cleaning joined (「从40个减少到29个」).
    gold = [g.replace(" ", "") for g in row["gold"]]
    return {
        i
        for i, p in enumerate(retriever.index.passages)
        if doc_key(p.doc_id) == doc_key(row["doc"]) and any(g in p.text.replace(" ", "") for g in gold)
    }


def sentence_around(text: str, phrase: str) -> str:
    at = text.find(phrase)
    start = max(text.rfind(c, 0, at) for c in "。！？\n") + 1
    ends = [e for e in (text.find(c, at + len(phrase)) for c in "。！？\n") if e >= 0]
    return text[start : min(ends) + 1 if ends else len(text)]


def overlap(question: str, sentence: str) -> float | None:
    """Share of the question's words (two characters or more, no stop words) that occur in
    the gold sentence: how much the question copies the document."""
    words = {w for w in load_jieba().lcut(question) if len(w) > 1 and w not in _OVERLAP_STOP}
    return sum(w in sentence for w in words) / len(words) if words else None


MODES = ("bm25", "dense", "blend", "hybrid")
DOCUMENT_DEPTH = 100  # passages searched to rank documents by their best one (10 documents and more)
DOCUMENT_METRICS = ("doc@1", "MRR@10", "nDCG@10")


def per_question(retriever: Retriever, rows: list[dict], modes: tuple[str, ...] = MODES) -> dict[str, list[dict]]:
    """For each mode, each question's hit@1, hit@5, reciprocal rank (MRR@10) and whether
    the first result comes from the right document."""
    relevant = [relevant_passages(retriever, r) for r in rows]
    lost = [r["id"] for r, rel in zip(rows, relevant) if not rel]
    if lost:
        log(f"user questions: no passage holds the gold of {', '.join(lost)}")
    vectors = question_vectors(retriever.embedder, [r["question"] for r in rows])
    out: dict[str, list[dict]] = {}
    for mode in modes:
        out[mode] = []
        for row, rel, vector in zip(rows, relevant, vectors):
            hits = search(retriever.index, row["question"], vector, K, mode)
            ranked = [h.passage_id for h in hits]
            out[mode].append({
                "kind": row["kind"],
                "short": is_short(row["question"]),
                "hit@1": float(bool(ranked[:1] and ranked[0] in rel)),
                "hit@5": float(bool(set(ranked[:5]) & rel)),
                "MRR@10": mrr_at(ranked, rel, K),
                "doc@1": float(bool(hits) and doc_key(hits[0].passage.doc_id) == doc_key(row["doc"])),
            })  # fmt: skip
    return out


def documents_ranked(retriever: Retriever, rows: list[dict]) -> dict[str, list[dict]]:
    """Finding the right document: documents in the order of their best passage in the
    default search, against plain BM25 over whole documents (title and text), the
    baseline long documents are usually held to. Per question, doc@1, MRR@10 and nDCG@10
    of the one right document."""
    docs = list(retriever.index.documents.values())
    whole = BM25.build([terms(f"{d.title}\n{d.text}") for d in docs])
    vectors = question_vectors(retriever.embedder, [r["question"] for r in rows])
    out: dict[str, list[dict]] = {"best passage (hybrid)": [], "BM25 over whole documents": []}
    for row, vector in zip(rows, vectors):
        hits = search(retriever.index, row["question"], vector, DOCUMENT_DEPTH, "hybrid")
        by_passage = list(dict.fromkeys(doc_key(h.passage.doc_id) for h in hits))
        bm25 = whole.scores(query_terms(row["question"]))
        by_bm25 = [doc_key(docs[i].doc_id) for i in np.argsort(-bm25, kind="stable")[:K] if bm25[i] > 0]
        right = doc_key(row["doc"])
        for name, ranked in (("best passage (hybrid)", by_passage), ("BM25 over whole documents", by_bm25)):
            out[name].append({
                "doc@1": float(ranked[:1] == [right]),
                "MRR@10": mrr_at(ranked, {right}, K),
                "nDCG@10": ndcg_at(ranked, {right}, K),
            })  # fmt: skip
    return out


def is_short(question: str) -> bool:
    """A search-box query, whatever its kind, as the ranker counts one."""
    return len(compact(question)) <= SHORT_CHARS


def by_kind(scores: list[dict]) -> dict[str, dict]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in scores:
        groups["all"].append(s)
        groups[s["kind"]].append(s)
        if s["short"]:
            groups["short"].append(s)
    return {kind: {"n": len(v), **{m: sum(x[m] for x in v) / len(v) for m in METRICS}} for kind, v in groups.items()}


METRICS = ("hit@1", "hit@5", "MRR@10", "doc@1")
PAIRED = ("hit@1", "hit@5", "MRR@10")


def verdicts(retriever: Retriever, rows: list[dict]) -> dict:
    """How often the answer says nothing answers: on real questions (false alarms) and on
    off-topic ones (catches), near misses apart."""
    answered = {r["id"]: retriever.ask(r["question"], k=5, summary_chars=0).answered for r in rows}
    real = [r for r in rows if r["kind"] != "off_topic"]
    off = [r for r in rows if r["kind"] == "off_topic" and not r.get("near_miss")]
    near = [r for r in rows if r.get("near_miss")]
    share = lambda group: sum(answered[r["id"]] is False for r in group) / len(group) if group else 0.0  # noqa: E731
    return {
        "real": len(real), "false_alarms": share(real),
        "off_topic": len(off), "caught": share(off),
        "near_misses": len(near), "near_caught": share(near),
    }  # fmt: skip


def overlap_stats(rows: list[dict], retriever: Retriever) -> dict:
    texts = {doc_key(d.doc_id): d.text for d in retriever.index.documents.values()}
    by: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        text = texts.get(doc_key(r["doc"]), "")
        values = [v for v in (overlap(r["question"], sentence_around(text, g)) for g in r["gold"] if g in text) if v is not None]
        if values:
            by[r["kind"]].append(max(values))
            by["all"].append(max(values))
    return {k: round(sum(v) / len(v), 3) for k, v in by.items()}


def table(results: dict) -> str:
    lines = ["| mode | kind | n | hit@1 | hit@5 | MRR@10 | doc@1 |", "|---|---|---|---|---|---|---|"]
    for mode, kinds in results.items():
        for kind in ("all", *KINDS):
            if kind in kinds:
                m = kinds[kind]
                lines.append(f"| {mode} | {kind} | {m['n']} | " + " | ".join(f"{m[x]:.3f}" for x in METRICS) + " |")
    return "\n".join(lines)


def run(quick: bool = False, retriever: Retriever | None = None) -> dict:
    retriever = retriever or build()
    if retriever is None:
        return {"skipped": "../shared/data/gov_reports not found"}
    rows = read_jsonl(QUESTIONS)
    out: dict = {
        "documents": len(retriever.index.documents),
        "passages": len(retriever.index.passages),
        "splits": {},
    }
    for split in ("dev", "test"):
        answerable = [r for r in rows if r["kind"] != "off_topic" and r["split"] == split]
        scores = per_question(retriever, answerable)
        out["splits"][split] = {
            "questions": len(answerable),
            "overlap": overlap_stats(answerable, retriever),
            "modes": {mode: by_kind(s) for mode, s in scores.items()},
            # The default (the learned ranker) against the hand-set blend and each single
            # ranker, question by question.
            "paired": {
                f"hybrid - {other}": {
                    m: paired_bootstrap([x[m] for x in scores["hybrid"]], [x[m] for x in scores[other]]) for m in PAIRED
                }
                for other in ("blend", "bm25", "dense")
            },  # fmt: skip
            "verdicts": verdicts(retriever, [r for r in rows if r["split"] == split]),
            "documents": _documents(documents_ranked(retriever, answerable)),
        }
        log(f"user questions: {split} done")
    return out


def _documents(scores: dict[str, list[dict]]) -> dict:
    passage, whole = scores["best passage (hybrid)"], scores["BM25 over whole documents"]
    return {
        "methods": {name: {m: float(np.mean([x[m] for x in s])) for m in DOCUMENT_METRICS} for name, s in scores.items()},
        "paired": {m: paired_bootstrap([x[m] for x in passage], [x[m] for x in whole]) for m in DOCUMENT_METRICS},
    }


def headline(results: dict) -> list[str]:
    if "splits" not in results:
        return []
    test = results["splits"]["test"]
    h, bl, b, d = (test["modes"][m]["all"] for m in ("hybrid", "blend", "bm25", "dense"))
    v = test["verdicts"]
    return [
        f"user questions, test half ({test['questions']}): hybrid (learned ranker) hit@1 {h['hit@1']:.3f}, hit@5 "
        f"{h['hit@5']:.3f}, MRR@10 {h['MRR@10']:.3f} (hand-set blend {bl['hit@1']:.3f} / {bl['MRR@10']:.3f}, BM25 "
        f"{b['MRR@10']:.3f}, dense {d['MRR@10']:.3f}); off-topic caught {v['caught']:.0%} at {v['false_alarms']:.0%} false alarms"
    ]


def markdown(results: dict) -> str:
    if "splits" not in results:
        return f"Skipped: {results.get('skipped')}\n"
    out = [
        f"{results['documents']} documents ({results['passages']:,} passages: corpus/ and gov_reports, each report "
        "titled on its first line). Tuned on dev (`python -m benchmarks.tune_search`), reported on test. A hit is a "
        "passage of the right document holding a gold phrase; doc@1: the first result is from the right document.\n"
    ]
    for split in ("test", "dev"):
        data = results["splits"][split]
        overlap = ", ".join(f"{k} {v:.2f}" for k, v in sorted(data["overlap"].items()))
        out += [
            f"**{split} half** — {data['questions']} questions; word overlap with the gold sentence: {overlap}\n",
            table(data["modes"]),
        ]
        out += ["", "| difference (95% paired bootstrap interval) | " + " | ".join(PAIRED) + " |", "|---|---|---|---|"]
        for name, metrics in data["paired"].items():
            cells = [f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]" for mean, lo, hi in metrics.values()]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        v = data["verdicts"]
        out += [
            "",
            f"Does anything answer? Real questions judged unanswered (false alarms): {v['false_alarms']:.1%} of "
            f"{v['real']}; off-topic questions caught: {v['caught']:.1%} of {v['off_topic']}; near misses (the "
            f"corpus's words, not its facts) caught: {v['near_caught']:.1%} of {v['near_misses']}.\n",
        ]
        if "documents" in data:  # runs before the document ranking was measured lack it
            docs = data["documents"]
            out += [
                "Finding the right document (87 long reports and corpus/'s 5): documents in the order of their best "
                f"passage (the default search, {DOCUMENT_DEPTH} passages deep) against BM25 over whole documents.\n",
                "| documents ranked by | " + " | ".join(DOCUMENT_METRICS) + " |",
                "|---|" + "---|" * len(DOCUMENT_METRICS),
                *(
                    f"| {name} | " + " | ".join(f"{m[x]:.3f}" for x in DOCUMENT_METRICS) + " |"
                    for name, m in docs["methods"].items()
                ),
                "| difference (95% paired bootstrap interval) | "
                + " | ".join(f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]" for mean, lo, hi in docs["paired"].values())
                + " |",
                "",
            ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--report", action="store_true", help="the whole section: both halves, bootstrap, verdicts")
    args = parser.parse_args()
    retriever = build(args.rebuild)
    if retriever is None:
        return
    if args.report:
        print(markdown(run(retriever=retriever)))
        return
    rows = [r for r in read_jsonl(QUESTIONS) if r["kind"] != "off_topic" and args.split in ("all", r["split"])]
    log(
        f"user questions: {len(rows)} {args.split} questions; word overlap with the gold sentence {overlap_stats(rows, retriever)}"
    )
    scores = per_question(retriever, rows, tuple(args.modes.split(",")))
    print(table({mode: by_kind(s) for mode, s in scores.items()}))


if __name__ == "__main__":
    main()
