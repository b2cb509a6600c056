"""Summaries as a reader checks them, beside ROUGE.

ROUGE counts shared characters; a reader sees other faults. Over the user questions of
benchmarks/user_questions.jsonl (dev half for tuning, test half reported) and over the
documents of the user-question index, each summary is checked for:

- **answer first**: the summary's first sentence holds a gold phrase of the question
  (and, for context, whether any sentence does);
- **mixed editions**: figures from two different documents of the same kind (titles
  equal once years and ordinals are taken out: the 2023 and 2024 work reports) in one
  answer, which a reader takes as two current figures;
- **unmarked cuts**: a quote that starts after the start of its sentence, or ends
  before its end (a comma, a semicolon), without an ellipsis to say so;
- **headings quoted**: a quote holding a line break (a heading glued to its text) or
  opening with an outline marker (一、, （二）, 一要, 1.);
- **documents quoted** by summaries of questions that name one year (「97年GDP打算长多快」):
  reports of several years say nearly the same things, and a reader asking about one year
  wants that year's, not a collage of editions;
- for document summaries, the share of quotes that carry a figure (targets, amounts,
  dates), where slogans carry none.

    python -m benchmarks.reader_checks [--split dev|test|all] [--no-documents]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections import defaultdict

from retriever import Retriever
from retriever.summary.extract import Summary, summarize_document
from retriever.text.query import understand
from retriever.text.segment import split_sentences

from .common import log, read_jsonl
from .user_questions import QUESTIONS, build, doc_key

# A figure: digits (with a decimal part or a unit) or a Chinese-numeral amount.
FIGURE = re.compile(
    r"[0-9０-９][0-9０-９.．,，]*\s*(?:%|％|万|亿|元|美元|人|户|个|项|倍|吨|公里|千米|平方|斤|亩|年|月|日)|百分之"
)
# Outline markers a quote must not open with (the text after them is the sentence).
MARKER = re.compile(
    r"^(?:[一二三四五六七八九十]+[、.．]|[(（][一二三四五六七八九十\d]+[)）]|\d{1,2}[、.．](?!\d)"
    r"|[一二三四五六七八九十]+[是要](?=\S)|第[一二三四五六七八九十]+[，,、]|[①-⑳])"
)
_ENDS = "。！？!?…"
_CLOSERS = "”’」』）)】》"
ELLIPSIS = "…"


def kind_of(title: str) -> str:
    """Documents of one kind: the title without digits, numerals and edition marks."""
    return re.sub(r"[0-9０-９一二三四五六七八九十百零〇]+|[年届次第()（）\s]", "", title)


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace(" ", "")


def displayed(summary: Summary) -> list[tuple[bool, bool]]:
    """For each quote: does the summary's text mark a cut before it, and after it?"""
    text, at, out = summary.text, 0, []
    for s in summary.sentences:
        body = s.text.rstrip("，,、：:；;")
        pos = text.find(body, at)
        if pos < 0:  # cannot place it: count it as marked neither way
            out.append((False, False))
            continue
        end = pos + len(body)
        out.append((text[max(0, pos - 1) : pos] == ELLIPSIS, text[end : end + 1] == ELLIPSIS))
        at = end
    return out


# Connectives that lean on the sentence before, and salutations; a quote may leave them
# out, one or several (「同志们，综上所述，」).
CONNECTIVE = re.compile(
    r"^(?:(?:但是|但|而且|然后|然後|随后|隨後|所以|其实|其實|另外|同时|同時|因此|此外|首先|其次|再次|最后|当然|當然"
    r"|总之|總之|总而言之|總而言之|综上所述|綜上所述|同志们|同志們)[，,]?)+$"
)


def starts_cleanly(context: str, offset: int) -> bool:
    """Does a quote at `offset` of `context` (its passage or document) open its
    sentence, an outline marker or connective before it aside?"""
    line_start = context.rfind("\n", 0, offset) + 1
    for s in split_sentences(context[line_start:], line_start):
        if s.start <= offset < s.end:
            before = context[s.start : offset]
            if not before or CONNECTIVE.match(before):
                return True
            marker = MARKER.match(context[s.start : offset + 1])
            return bool(marker) and marker.end() >= len(before)
    return True


def ends_cleanly(text: str) -> bool:
    return text.rstrip(_CLOSERS)[-1:] in _ENDS


def cut_faults(summary: Summary, context_of) -> tuple[int, int]:
    """(quotes cut without a mark, quotes) of a summary; `context_of(quote)` gives the
    text its offsets point into, with that text's own offset. A quote that the next
    one continues (or that continues the one before) is not cut there."""
    faults = 0
    quotes = summary.sentences
    for n, (s, (mark_before, mark_after)) in enumerate(zip(quotes, displayed(summary))):
        context, base = context_of(s)
        continues = n > 0 and (quotes[n - 1].doc_id, quotes[n - 1].end) == (s.doc_id, s.start)
        continued = n + 1 < len(quotes) and (quotes[n + 1].doc_id, quotes[n + 1].start) == (s.doc_id, s.end)
        bad_start = not continues and not starts_cleanly(context, s.start - base) and not mark_before
        bad_end = not continued and not ends_cleanly(s.text) and not mark_after
        faults += bad_start or bad_end
    return faults, len(quotes)


def heading_faults(summary: Summary) -> int:
    return sum("\n" in s.text.strip() or bool(MARKER.match(s.text)) for s in summary.sentences)


def question_checks(retriever: Retriever, rows: list[dict]) -> dict:
    passages = retriever.index.passages
    by_doc: dict[str, list] = defaultdict(list)
    for p in passages:
        by_doc[p.doc_id].append(p)
    titles = {d.doc_id: d.title for d in retriever.index.documents.values()}

    def context_of(s):
        for p in by_doc[s.doc_id]:
            if p.start <= s.start < p.end:
                return p.text, p.start
        return s.text, s.start

    n = first = anywhere = mixed = cut = quotes = headings = empty = 0
    one_year_docs: list[int] = []  # documents quoted, per summary of a question naming one year
    examples: list[dict] = []
    for row in rows:
        answer = retriever.ask(row["question"])
        summary = answer.summary
        n += 1
        if not summary.sentences:
            empty += 1
            continue
        gold = [nfkc(g) for g in row["gold"]]
        has = [doc_key(s.doc_id) == doc_key(row["doc"]) and any(g in nfkc(s.text) for g in gold) for s in summary.sentences]
        first += has[0]
        anywhere += any(has)
        if len(understand(row["question"]).years) == 1:
            one_year_docs.append(len({s.doc_id for s in summary.sentences}))
        kinds: dict[str, set[str]] = defaultdict(set)
        for s in summary.sentences:
            if FIGURE.search(s.text):
                kinds[kind_of(titles.get(s.doc_id, s.title))].add(s.doc_id)
        is_mixed = any(len(docs) > 1 for docs in kinds.values())
        mixed += is_mixed
        f, q = cut_faults(summary, context_of)
        cut, quotes = cut + f, quotes + q
        headings += heading_faults(summary)
        if (not has[0] or is_mixed) and len(examples) < 8:
            examples.append({"q": row["question"], "first": summary.sentences[0].text[:60], "mixed": is_mixed})
    answered = max(1, n - empty)
    return {
        "questions": n,
        "summarized": n - empty,
        "answer_first": first / answered,
        "answer_anywhere": anywhere / answered,
        "mixed_editions": mixed / answered,
        "unmarked_cuts": cut / max(1, quotes),
        "headings_quoted": headings / max(1, quotes),
        "quotes_per_summary": quotes / answered,
        "one_year_questions": len(one_year_docs),
        "documents_quoted_one_year": sum(one_year_docs) / max(1, len(one_year_docs)),
        "examples": examples,
    }


def document_checks(retriever: Retriever) -> dict:
    """Default summaries of every indexed document."""
    docs = list(retriever.index.documents.values())
    texts = {d.doc_id: d.text for d in docs}
    quotes = figures = cut = headings = with_figure = 0
    for d in docs:
        summary = summarize_document(d.text, d.doc_id, d.title, retriever.embedder, 300)
        f, q = cut_faults(summary, lambda s: (texts[s.doc_id], 0))
        n_fig = sum(bool(FIGURE.search(s.text)) for s in summary.sentences)
        quotes, cut, figures = quotes + q, cut + f, figures + n_fig
        headings += heading_faults(summary)
        with_figure += n_fig > 0
    return {
        "documents": len(docs),
        "quotes": quotes,
        "figure_quotes": figures / max(1, quotes),
        "summaries_with_a_figure": with_figure / max(1, len(docs)),
        "unmarked_cuts": cut / max(1, quotes),
        "headings_quoted": headings / max(1, quotes),
    }


def run(split: str = "dev", documents: bool = True, retriever: Retriever | None = None) -> dict:
    retriever = retriever or build()
    if retriever is None:
        return {"skipped": "../shared/data/gov_reports not found"}
    rows = [r for r in read_jsonl(QUESTIONS) if r["kind"] != "off_topic"]
    out: dict = {}
    for half in ("dev", "test") if split == "all" else (split,):
        out[half] = question_checks(retriever, [r for r in rows if r["split"] == half])
        log(f"reader checks: {half} questions done")
    if documents:
        out["documents"] = document_checks(retriever)
    return out


def headline(results: dict) -> list[str]:
    if "test" not in results:
        return []
    t = results["test"]
    return [
        f"reader checks, test questions ({t['summarized']}): answer first {t['answer_first']:.1%} (anywhere "
        f"{t['answer_anywhere']:.1%}), documents quoted for one-year questions {t.get('documents_quoted_one_year', 0):.2f}, "
        f"two editions' figures together {t['mixed_editions']:.1%}, unmarked cuts "
        f"{t['unmarked_cuts']:.1%}, headings quoted {t['headings_quoted']:.1%}"
    ]


def markdown(results: dict) -> str:
    if "skipped" in results:
        return f"Skipped: {results['skipped']}\n"
    lines = [
        "Over the user questions (benchmarks/user_questions.jsonl; tuned on dev, reported on test) and the "
        "documents of their index; `python -m benchmarks.reader_checks --split all`. Answer first: the first "
        "sentence holds a gold phrase; one-year questions: those that name one year (n), and the documents their "
        "summaries quote on average; mixed editions: figures from two documents of one kind in one answer; "
        "unmarked cuts and headings quoted: shares of all quotes.\n",
        "| question summaries | n | answer first | answer anywhere | one-year questions: n, documents quoted "
        "| mixed editions | unmarked cuts | headings quoted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for half in ("dev", "test"):
        if half in results:
            r = results[half]
            lines.append(
                f"| {half} half | {r['summarized']} | {r['answer_first']:.1%} | {r['answer_anywhere']:.1%} | "
                f"{r.get('one_year_questions', 0)}, {r.get('documents_quoted_one_year', 0):.2f} | "
                f"{r['mixed_editions']:.1%} | {r['unmarked_cuts']:.1%} | {r['headings_quoted']:.1%} |"
            )
    if "documents" in results:
        d = results["documents"]
        lines += [
            "",
            "| document summaries (300 characters) | documents | quotes with a figure | summaries with a figure | unmarked cuts | headings quoted |",
            "|---|---|---|---|---|---|",
            f"| all indexed | {d['documents']} | {d['figure_quotes']:.1%} | {d['summaries_with_a_figure']:.1%} | "
            f"{d['unmarked_cuts']:.1%} | {d['headings_quoted']:.1%} |",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=("dev", "test", "all"))
    parser.add_argument("--no-documents", action="store_true", help="question summaries only")
    args = parser.parse_args()
    results = run(args.split, not args.no_documents)
    print(json.dumps(results, indent=1, ensure_ascii=False), file=sys.stderr)
    print(markdown(results))


if __name__ == "__main__":
    main()
