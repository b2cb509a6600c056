"""How the CLI's output looks on a terminal: text made safe to print, progress (bars on
a terminal, lines elsewhere), answers and summaries with lines broken as Chinese is set.
Each takes the console it draws on; the commands own the consoles."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from retriever.errors import counted, path_text

if TYPE_CHECKING:
    from retriever.api import DocumentSummary


# Control characters in what is shown (a file named with ESC[2J or a newline, a title
# with a bidirectional override) would act on the terminal or break the line: they are
# shown as escapes. Texts keep their length (highlight offsets point into them).
_CONTROLS = [*range(0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROLS} | {9: "\\t", 10: "\\n", 13: "\\r"}
_BLOTS = dict.fromkeys(_CONTROLS, "\ufffd")


def shown(text: str, keep_length: bool = False) -> str:
    """`text` safe to print on a terminal: control characters escaped (or, with
    `keep_length`, replaced one for one)."""
    return text.translate(_BLOTS if keep_length else _ESCAPES)


def markup(value: object) -> str:
    """A value to put into rich markup: shown safely, its brackets not read as markup."""
    return escape(shown(path_text(value) if isinstance(value, os.PathLike) else str(value)))


def print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# Without a terminal (a log, CI, a pipe), progress is a line now and then: the first
# once a stage has taken PROGRESS_FIRST_S (quick work stays quiet), then one every
# PROGRESS_EVERY_S, and one when the stage ends.
PROGRESS_FIRST_S, PROGRESS_EVERY_S = 2.0, 10.0
PROGRESS_ITEM_CHARS = 40  # of the file being read, on a terminal
PROGRESS_LABELS = {
    "read": "Reading files",
    "embed": "Embedding passages and sentences",
    "summarize": "Summarizing",
    "sentences": "Embedding the document's sentences",  # one long document: most of its time
}


@contextmanager
def progress(console: Console) -> Iterator:
    """A progress callback for the library, on stderr: bars on a terminal; elsewhere
    lines with counts and the rate, as pip and git write them in a log.

    Nothing is printed before the first report, so that an error before any work is
    the only thing printed.
    """
    if not console.is_terminal:
        yield progress_lines(console)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[item]}", style="dim"),
        console=console,
        transient=True,  # the closing line of the command says what was done
    )
    tasks: dict[str, TaskID] = {}
    current: dict[str, str] = {}  # the file each stage works on

    def update(stage: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if stage not in tasks:
            tasks[stage] = bar.add_task(PROGRESS_LABELS.get(stage, stage), total=total, item="")
        bar.update(tasks[stage], completed=done, total=total, item=current.get(stage, "") if done < total else "")

    def item(stage: str, name: str) -> None:
        # The tail of a long path: the file's own name is what tells.
        current[stage] = shown(name if len(name) <= PROGRESS_ITEM_CHARS else "…" + name[-PROGRESS_ITEM_CHARS + 1 :])
        if stage in tasks:
            bar.update(tasks[stage], item=current[stage])

    update.item = item  # type: ignore[attr-defined]  # config.announce looks for it
    try:
        yield update
    finally:
        if tasks:
            bar.stop()


def progress_lines(console: Console, clock=time.monotonic):
    """The callback that writes progress as lines: `Embedding passages and sentences:
    1,024/9,316 (11%), 95/s`."""
    started: dict[str, float] = {}
    shown: dict[str, float] = {}  # when each stage last printed a line

    def update(stage: str, done: int, total: int) -> None:
        now = clock()
        began = started.setdefault(stage, now)
        if stage in shown:
            due = done >= total or now - shown[stage] >= PROGRESS_EVERY_S
        else:
            due = now - began >= PROGRESS_FIRST_S
        if not due:
            return
        shown[stage] = now
        line = f"{PROGRESS_LABELS.get(stage, stage)}: {done:,}/{total:,}"
        if total:
            line += f" ({done / total:.0%})"
        if now > began and done:
            line += f", {done / (now - began):,.1f}/s"
        console.print(line, markup=False, highlight=False)

    return update


# Line breaking as Chinese is set: a line never starts with closing punctuation (nor a
# citation mark like [2]) and never ends with opening punctuation; a Latin word or a
# number stays whole. rich folds Chinese at the last cell that fits, anywhere.
NO_LINE_START = frozenset("。，、；：？！）》」』〉】〕”’…·,.;:?!)]}%›–—")
NO_LINE_END = frozenset("（《「『〈【〔“‘([{–—")
CITE = re.compile(r" ?\[\d+\]")


def _breakable(text: str, at: int) -> bool:
    """May a line end before text[at]? (Spaces there are dropped: what follows them counts.)"""
    nxt = at
    while nxt < len(text) - 1 and text[nxt] == " ":
        nxt += 1
    before, after = text[at - 1], text[nxt]
    if after in NO_LINE_START or before in NO_LINE_END or CITE.match(text, at):
        return False
    # A run of Latin letters, digits and signs is a word: broken only at a space.
    return not (before.isascii() and not before.isspace() and after.isascii() and not after.isspace())


def wrapped(text: Text, width: int, indent: int = 0) -> Text:
    """`text` in lines of at most `width` cells (the first as it is, the others
    indented by `indent` spaces), broken where Chinese typesetting allows; spaces at
    a break are dropped."""
    plain, lines, start = text.plain, [], 0
    room = width
    while start < len(plain):
        end, used = start, 0
        while end < len(plain) and used + cell_len(plain[end]) <= room:
            used += cell_len(plain[end])
            end += 1
        if end == len(plain):
            lines.append(text[start:end])
            break
        end = max(end, start + 1)  # a character wider than the room still moves on
        cut = end
        # Back up to where a break is allowed, but not past a third of the line.
        while cut - start > (end - start) * 2 // 3 and not _breakable(plain, cut):
            cut -= 1
        if not _breakable(plain, cut):
            cut = end
        lines.append(text[start:cut])
        start = cut
        while start < len(plain) and plain[start] == " ":
            start += 1
        room = max(width - indent, 1)
    out = Text()
    for n, line in enumerate(lines):
        line.rstrip()
        out.append(Text("\n" + " " * indent) if n else Text())
        out.append(line)
    return out


def location(doc_id: str, heading_path: tuple[str, ...] | list[str]) -> str:
    return " › ".join([doc_id, *heading_path])


EXPLAINED_TERMS = 6  # the largest contributions shown under a result


def explanation(parts: dict[str, float]) -> str:
    """A result's largest contributions, 「year_text +0.84 · bm25 −0.31 · …」: what
    lifted it above the average candidate, or held it under."""
    largest = sorted(parts.items(), key=lambda kv: -abs(kv[1]))[:EXPLAINED_TERMS]
    return " · ".join(f"{name} {value:+.2f}".replace("-", "−") for name, value in largest)


def print_answer(out: Console, answer: dict) -> None:
    """Draw the JSON of `ask --json`: the same whether answered here or by a service."""
    if not answer["results"]:
        out.print(f"No passage matches 「{markup(answer['query'])}」.")
        return
    if answer.get("answered") is False:
        out.print(
            Text(f"Nothing here seems to answer 「{shown(answer['query'])}」 ({answer.get('reason', '')}).", style="yellow")
        )
        out.print(Text("The nearest passages, for what they are worth:\n", style="dim"))
    width = out.width
    if answer.get("scope"):
        scope = answer["scope"]
        within = f"Within {counted(scope['documents'], 'document')} ({counted(scope['passages'], 'passage')})"
        if scope.get("undated"):
            within += f"; {scope['undated']} without a date left out"
        out.print(wrapped(Text(shown(within), style="dim"), width))
        out.print()
    for hit in answer["results"]:
        head = Text()
        head.append(f"[{hit['rank']}] ", style="bold cyan")
        head.append(f"{hit['score']:.3f}  ", style="magenta")
        head.append(shown(hit["title"]), style="bold")
        out.print(wrapped(head, width, 4))
        where = f"    {shown(location(hit['doc_id'], hit['heading_path']))}  ({hit['start']}–{hit['end']})"
        # Date and issuers, where the document names them (a service of an earlier version sends neither).
        where += "".join(f" · {shown(v)}" for v in (hit.get("date"), hit.get("issuer")) if v)
        out.print(wrapped(Text(where, style="dim"), width, 4))
        body = Text(shown(hit["text"].replace("\n", " "), keep_length=True))
        # Newlines became spaces of the same length, so spans still line up.
        for start, end in hit["highlights"]:
            body.stylize("bold yellow", start, end)
        out.print(wrapped(Text("    ").append(_without_heading_marks(body, hit["text"])), width, 4))
        if hit.get("explain"):
            out.print(wrapped(Text("    why: " + explanation(hit["explain"]), style="dim"), width, 4))
        out.print()
    if not answer["summary"]["sentences"]:
        out.print(wrapped(Text(f"score = {answer['score']}", style="dim"), width))
        return
    head = Text("Summary", style="bold underline")
    if answer.get("confidence") is not None:  # how likely the best passage answers (search.judge)
        head.append(f"  confidence {answer['confidence']:.2f}", style="dim")
    out.print(head)
    for s in answer["summary"]["sentences"]:
        line = Text(shown(s.get("shown") or s["text"]))  # a service of an earlier version sends no "shown"
        line.append(f" [{s['cites']}]", style="bold cyan")
        out.print(wrapped(line, width, 2))
    out.print()
    out.print(wrapped(Text(f"score = {answer['score']}; [n] cites result n", style="dim"), width))


# Markdown's heading marks at a line's start: how the headings of .md and .html files are
# kept in the text; not shown.
_HEADING_MARK = re.compile(r"(?:^|(?<=\n))#{1,6} ")


def _without_heading_marks(body: Text, text: str) -> Text:
    """`body`, the passage `text` styled, without its heading marks (styles kept)."""
    out, at = Text(), 0
    for m in _HEADING_MARK.finditer(text):
        out.append_text(body[at : m.start()])
        at = m.end()
    out.append_text(body[at:])
    return out


def print_tune(out: Console, report: dict) -> None:
    """What `retriever tune` learned from, how both rankers did, and what it did."""
    out.print(
        f"{report['judgements']:,} judgements ({report['good']:,} good, {report['bad']:,} bad) on "
        f"{report['questions']:,} questions" + (f"; {report['skipped']} unreadable lines skipped" if report["skipped"] else "")
    )
    out.print(
        f"Cross-validated agreement with the judgements (1/rank of a good passage, 1 − 1/rank of a bad one): "
        f"{report['using']} ranker {report['before']:.3f}, refit {report['after']:.3f}"
    )
    out.print(Text(report["message"], style="bold green" if report["installed"] else "yellow"))


def print_summary(out: Console, record: DocumentSummary) -> None:
    from rich.panel import Panel

    # The panel's lines are broken here, as `ask` breaks its own (never before 。，、),
    # within the panel's border and padding: rich would break them anywhere.
    inner = max(out.width - 4, 8)
    meta = f"{record.path} · {record.chars:,} characters"
    meta += record.meta.label()
    if record.keywords:
        meta += " · keywords: " + "、".join(record.keywords)
    body = wrapped(Text(shown(meta), style="dim"), inner)
    body.append("\n\n")
    summary = Text(shown(record.summary.text)) if record.summary.text else Text("(nothing to summarize)", style="dim")
    body.append(wrapped(summary, inner))
    if record.outline:
        body.append("\n\nOutline", style="bold")
        # The top two levels of the outline: enough to see the document's shape.
        for h in record.outline:
            if h["level"] <= 2:
                indent = 2 * (h["level"] - 1)
                body.append("\n")
                body.append(wrapped(Text(" " * indent + shown(h["title"]), style="cyan"), inner, indent + 2))
    out.print(Panel(body, title=Text(shown(record.title or record.path), style="bold"), title_align="left", expand=True))
