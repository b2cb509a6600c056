"""The library surface: build an index, open it, ask it; summarize documents.

    from retriever import Retriever
    r = Retriever.open()                      # indexes/default, or a path
    answer = r.ask("如何化解矛盾纠纷", k=5)
    answer = r.ask("养老服务", within=Scope(years=(2019,), paths=("reports/*",)))
    for hit in answer.results: print(hit.rank, hit.score, hit.passage.text)
    print(answer.summary.text)
    answer.to_dict()                          # the JSON of `retriever ask --json`

`import retriever` gives the same names (retriever/__init__.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retriever.arguments import (
    check_budget,
    check_index_dir,
    check_k,
    check_passage_id,
    check_paths,
    check_patterns,
    check_question,
    check_summary_options,
    check_text,
)
from retriever.config import (
    ANSWER_THRESHOLDS,
    DEFAULT_CORPUS_DIR,
    DEFAULT_INDEX_DIR,
    ENV_MAX_CHARS,
    ReadLimits,
    SearchConfig,
    SummaryConfig,
    TuneConfig,
    default_backend,
    default_index_dir,
    default_model,
    is_project_folder,
    max_document_chars,
)
from retriever.embedding.embedders import MIN_AGREEMENT, Embedder, check_backend, load_embedder
from retriever.embedding.onnx_export import export_recipe
from retriever.embedding.onnx_runtime import cpu_summary
from retriever.errors import (
    BadIndexError,
    ChangedIndex,
    InputError,
    RetrieverError,
    TooMuchText,
    UsageError,
    path_text,
)
from retriever.index import folder as index_store
from retriever.index.folder import exists as index_exists
from retriever.index.folder import remove as remove_index_files
from retriever.index.folder import stamp as index_stamp
from retriever.index.manifest import Manifest
from retriever.index.scope import Scope, Selection
from retriever.index.stores import store_for
from retriever.ranking.features import SIGNALS, for_ranker
from retriever.ranking.judgements import Judgement, check_verdict
from retriever.ranking.judgements import append as append_judgement
from retriever.ranking.store import TUNING, ranker_for
from retriever.ranking.store import discard as discard_tuning
from retriever.ranking.tune import tune as tune_ranker
from retriever.ranking.tune import undo as undo_tune
from retriever.search import Hit, Verdict, candidates, judge, score_name, search
from retriever.summary.extract import Summary, summarize_hits
from retriever.summary.records import STDOUT, output_format, record_dict, write_records
from retriever.text.words import for_matching, query_terms, question_cutter, warm_up_tokenizer

# Building and reading documents are imported where they are used: `retriever ask`
# starts without the reading stack.
if TYPE_CHECKING:
    from retriever.config import ProgressCallback
    from retriever.index.build import BuildReport
    from retriever.reading.isolated import UploadReader
    from retriever.reading.load import Document
    from retriever.summary.documents import DocumentSummary
    from retriever.summary.keywords import Reference

# Warnings on the way (an index of an older export), for the caller's logging; the command
# line shows them as 「retriever: …」 on stderr.
log = logging.getLogger("retriever")


@dataclass(frozen=True)
class Answer:
    """What `Retriever.ask` answers (`to_dict()`: the JSON of `retriever ask --json`).

    results: the passages, best first (Hit); summary: the sentences quoted from them,
    each citing its hit's rank (Summary); verdict (and `answered`, `confidence`,
    `reason`): whether the index seems to answer the question at all; score: what a
    hit's score means in this mode; scope: the documents asked within (Scope), if any;
    timings_ms: encode, search and summary times; index, model and ranker: what answered.
    Two answers are equal when they say the same, however long each took; an answer holds
    lists, so is not hashable (to key a cache by one, hash its `to_dict()` JSON without
    "timings_ms").
    """

    query: str
    mode: str
    score: str  # what `score` means in this mode
    results: list[Hit]
    summary: Summary
    index: str
    model: str
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    verdict: Verdict = Verdict(None, None)  # whether the index seems to answer at all
    scope: Selection | None = None  # the documents asked within, when the question was scoped
    ranker: str | None = None  # hybrid mode: "shipped" or "tuned" (the index's own, `retriever tune`)

    # Said outright: frozen, a dataclass would hash its fields and fail on the list.
    __hash__ = None  # type: ignore[assignment]

    # The verdict's fields, where the JSON has them: at the top.
    @property
    def answered(self) -> bool | None:
        return self.verdict.answered

    @property
    def confidence(self) -> float | None:
        return self.verdict.confidence

    @property
    def reason(self) -> str | None:
        return self.verdict.reason

    def to_dict(self) -> dict:
        """The JSON object of `retriever ask --json`."""
        return {
            "query": self.query,
            "mode": self.mode,
            **self.verdict.to_dict(),
            "score": self.score,
            **({"ranker": self.ranker} if self.ranker else {}),
            "results": [h.to_dict() for h in self.results],
            "summary": self.summary.to_dict(),
            "index": self.index,
            "model": self.model,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            **({"scope": self.scope.to_dict()} if self.scope else {}),
        }


class _OneBlasThread:
    """numpy's BLAS held to one thread while questions are answered. Its matrices are
    small (a question against a few thousand sentence vectors), and its threads would
    wait on the cores that ONNX Runtime's threads still spin on right after encoding
    the question, as FAISS's did (faiss_store.search): measured at 10,759 passages,
    search 7.5 ms with both threads, 4.0 with one.

    The setting is process-wide: the first question in sets it, the last one out puts
    back what was there (a service answers a few at once). Not for a process's first
    question: threadpoolctl takes 7 ms to load, more than it saves one question."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._asked = False  # whether the process has answered a question before
        self._inside = 0
        self._controller: Any = None  # threadpoolctl's: finds the loaded BLAS libraries once (1.5 ms)
        self._limiter: Any = None  # what puts the libraries back, while a question is inside

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            first, self._asked = not self._asked, True
            if not first:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                if not self._inside:
                    self._limiter = self._controller.limit(limits=1, user_api="blas")
                self._inside += 1
        if first:
            yield
            return
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if not self._inside and self._limiter is not None:
                    self._limiter.restore_original_limits()


_one_blas_thread = _OneBlasThread()


class Retriever:
    """An opened index and the model that embeds questions for it."""

    def __init__(self, index: index_store.Index, embedder: Embedder | None = None):
        self.index = index
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        # Loaded on first use: `retriever info` and BM25-only searches never need it.
        if self._embedder is None:
            self._embedder = load_embedder(self.index.model, self.index.backend)
            recipe = export_recipe(self.index.backend)
            if self.index.export_recipe != recipe:
                # Questions and passages embedded by different exports are not quite
                # alike (recipe 4's int8 vectors were wrong on CPUs without VNNI).
                log.warning(
                    f"{path_text(self.index.directory)} was embedded by export recipe {self.index.export_recipe}, "
                    f"questions now by recipe {recipe}: run `retriever index` to embed it again"
                )
        if self._embedder.dim != self.index.dim:
            raise BadIndexError(
                f"{self.index.directory}: built with vectors of dimension {self.index.dim}, "
                f"model {self._embedder.name} gives {self._embedder.dim}; rebuild it with `retriever index`"
            )
        return self._embedder

    @classmethod
    def open(cls, index_dir: Path | str | None = None, model: str | None = None) -> Retriever:
        """Open an index (default: config.default_index_dir(): $RETRIEVER_INDEX, the
        current project folder's indexes/default, the configuration file's, else the
        user's own). A project folder's default index is built from its corpus/ on
        first use.

        `model`, if given, must be the model the index was built with.
        """
        directory = check_index_dir(index_dir) or default_index_dir()
        if index_dir is None and not index_store.exists(directory):
            corpus = first_use_corpus(directory)
            if corpus is None:
                raise BadIndexError(
                    f"no index at {path_text(directory)} yet: build it from your documents with "
                    "`retriever index FOLDER…` (or Retriever.build(paths))"
                )
            return cls.build([corpus], index_dir=directory, model=model)[0]
        idx = index_store.load(directory)
        if model and model != idx.model:
            raise BadIndexError(
                f"{idx.directory}: built with model {idx.model}, not {model}; "
                f"rebuild it with `retriever index --model {model}` or drop --model"
            )
        return cls(idx)

    @classmethod
    def build(
        cls,
        paths: Path | str | Sequence[Path | str] | None = None,
        index_dir: Path | str | None = None,
        model: str | None = None,
        progress: ProgressCallback | None = None,
        embedder: Embedder | None = None,
        backend: str | None = None,
        rebuild: bool = False,
        add: bool = False,
        include: Sequence[str] | None = None,
        exclude: Sequence[str] | None = None,
        vector_store: str | None = None,
        uri: str | None = None,
        collection: str | None = None,
        ray: bool | str = False,
        follow_links: bool = False,
    ) -> tuple[Retriever, BuildReport]:
        """Index the files under `paths` into `index_dir` (default: again what the index
        holds, see `indexed_sources`; corpus/ for a new one).

        Incremental: unchanged files are not read again and passages already in the
        index are not embedded again (`rebuild=True` starts over). The index then holds
        exactly these files, or with `add=True` these and what it held before;
        `include`/`exclude` are glob filters (e.g. "*.pdf") for files in directories;
        symbolic links that lead out of `paths` are not followed unless `follow_links`.
        Files that cannot be read (and links not followed) are skipped and listed in the
        report; if none can be read, nothing is written and InputError is raised. The
        index is replaced atomically: until the new one is complete, readers see the old
        one.

        `vector_store` "milvus" keeps the vectors in Milvus at `uri` (a server, or a
        milvus-lite file; default milvus.db in the index), in collections named after
        `collection`; "faiss" in files (the default). An index keeps its store until
        told otherwise. `ray` embeds on Ray: True starts a local instance, a string is
        a cluster's address.
        """
        from retriever.index.build import build_index

        directory = check_index_dir(index_dir) or default_index_dir()
        sources = check_paths(paths) if paths is not None else indexed_sources(directory)
        include, exclude = check_patterns(include, "include"), check_patterns(exclude, "exclude")
        if backend is not None:
            check_backend(backend)  # before any file is read
        store = None
        if vector_store or uri or collection:
            from retriever.index.milvus import spec

            store = spec(vector_store, uri, collection, directory)

        def get_embedder(name: str, backend: str) -> Embedder:
            # Called only when some passage needs embedding: an up-to-date index loads
            # no model (load_embedder caches, so the Retriever below reuses a loaded one).
            if embedder:
                return embedder
            if ray:
                from retriever.embedding.distributed import RayEmbedder

                return RayEmbedder(name, backend, address=ray if isinstance(ray, str) else None)
            return load_embedder(name, backend)

        report = build_index(
            sources, directory, model or (embedder.name if embedder else None), get_embedder, progress,
            backend=backend or (embedder.backend if embedder else None), rebuild=rebuild, add=add, include=include,
            exclude=exclude, vector_store=store, follow_links=follow_links,
        )  # fmt: skip
        return cls(index_store.load(directory), embedder), report

    def warm_up(self) -> None:
        """Load the model and the word segmenter now, for a process that will answer
        many questions (`retriever serve` calls it): the first answer is then as fast as
        the rest, and questions are cut by rjieba (3 µs) rather than the lexicon that
        spares a one-question process rjieba's 0.1 s of loading."""
        warm_up_tokenizer()
        self.ask("预热", k=1)

    def ask(
        self,
        question: str,
        k: int = SearchConfig.k,
        mode: str = SearchConfig.mode,
        summary_chars: int = SummaryConfig.max_chars,
        within: Scope | None = None,
        explain: bool = False,
    ) -> Answer:
        """The k most relevant passages and a cited extractive summary; only from the
        documents `within` admits, when given (by path, date or name). With `explain`
        (hybrid mode), each result says what each of the ranker's signals added."""
        question = check_question(question, mode)
        k, summary_chars = check_k(k), check_budget(summary_chars, "summary_chars", allow_zero=True)
        timings: dict[str, float] = {}
        t = time.perf_counter()
        selection = within.select(self.index) if within else None  # before any work: a scope of nothing is an error
        if selection:
            timings["scope"] = (time.perf_counter() - t) * 1000
        needs_vector = mode != "bm25" or summary_chars > 0
        # First use in a process loads the model and what cuts the question into words:
        # timed apart, so that encode/search/summary show the cost of the question itself.
        t = time.perf_counter()
        embedder = self.embedder if needs_vector else None
        question_cutter()
        timings["load"] = (time.perf_counter() - t) * 1000
        with _one_blas_thread():
            t = time.perf_counter()
            query_vector = embedder.encode([for_matching(question)])[0] if embedder else None
            timings["encode"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            ranker, which = ranker_for(self.index.directory)
            hits = search(self.index, question, query_vector, k, mode, within=selection, ranker=ranker, explain=explain)
            verdict = judge(self.index, question, hits, query_vector, ANSWER_THRESHOLDS.get(self.index.model))
            timings["search"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            # Nothing that answers: the nearest passages are listed, but not summarized as if
            # they were an answer.
            summary = (
                summarize_hits(question, hits, query_vector, self.index.sentences.of, summary_chars)
                if summary_chars > 0 and verdict.answered is not False
                else Summary("", ())
            )
            timings["summary"] = (time.perf_counter() - t) * 1000
        return Answer(
            query=question,
            mode=mode,
            score=score_name(mode, SearchConfig(), ranker.depth),
            results=hits,
            summary=summary,
            index=path_text(self.index.directory),
            model=self.index.model,
            timings_ms=timings,
            verdict=verdict,
            scope=selection,
            ranker=which if mode == "hybrid" else None,
        )

    def judge(
        self,
        question: str,
        passage_id: int,
        verdict: str,
        within: Scope | None = None,
        doc_id: str | None = None,
        start: int | None = None,
    ) -> dict:
        """Record that passage `passage_id` answers `question` (verdict "good") or does
        not ("bad"), with what the ranker sees of the question's candidates, beside the
        index for `retriever tune`. How many judgements the index then holds.

        `doc_id` and `start`, the result's as it was shown, guard against an index
        indexed again since (its passage ids numbered anew): ChangedIndex if the passage
        `passage_id` is no longer that one."""
        question = check_question(question)
        verdict = check_verdict(verdict)
        passage_id = check_passage_id(passage_id, len(self.index.passages))
        passage = self.index.passages[passage_id]
        if (doc_id is not None and doc_id != passage.doc_id) or (start is not None and start != passage.start):
            raise ChangedIndex(
                f"passage {passage_id} is no longer the result shown ({doc_id}, from {start}): "
                "the index was indexed again since; ask again and judge the new result"
            )
        selection = within.select(self.index) if within else None
        query_vector = self.embedder.encode([for_matching(question)])[0]
        found = candidates(self.index, question, query_vector, within=selection)
        rows = np.flatnonzero(found.ids == passage_id)
        if not len(rows):
            raise UsageError(f"passage {passage_id} is not among the candidates for this question: nothing to learn from it")
        ranker = ranker_for(self.index.directory)[0]
        ranked = for_ranker(self.index, question, query_terms(question), found, ranker.depth, keep=int(rows[0]))
        judgement = Judgement(
            question, verdict, {"passage_id": passage_id, "doc_id": passage.doc_id, "start": passage.start, "end": passage.end},
            SIGNALS, ranked.signals, ranked.kinds, int(np.flatnonzero(ranked.rows == rows[0])[0]),
        )  # fmt: skip
        held = append_judgement(self.index.directory, judgement, TuneConfig().max_judgements)
        return {"question": question, "passage_id": passage_id, "verdict": verdict, "judgements": held}

    def tune(self, undo: bool = False) -> dict:
        """Refit the ranker on the index's judgements and install it if it ranks them
        better (`retriever tune`); or go back to the ranker the last tune replaced."""
        if undo:
            return {"undone": True, "ranker": undo_tune(self.index.directory)}
        return tune_ranker(self.index.directory).to_dict()

    def info(self) -> dict:
        """What is indexed: the manifest plus per-document counts and sizes on disk."""
        return _info(self.index.directory, self.index.manifest, self.index.documents)

    def check(self, sample: int = 8) -> dict:
        """What `retriever info --check` finds: every file against its checksum, and
        whether the running model still gives the index's vectors. `sample` passages
        spread over the index are embedded again and compared with the stored vectors:
        an index made by another embedder (another model file or export recipe, or an
        int8 model that was wrong on the CPU that built it) is answered with vectors
        that do not match its own, and search quietly gets worse."""
        problems = index_store.verify(self.index.directory)
        passages = self.index.passages
        ids = np.unique(np.linspace(0, len(passages) - 1, min(sample, len(passages))).round().astype(np.int64))
        try:
            stored = self.index.vectors.reconstruct_batch(ids)
        except RetrieverError as e:  # a vector store that lost vectors: said once
            return {"problems": problems or [str(e)], "vectors": None}
        embedder = self.embedder
        again = embedder.encode([for_matching(passages[i].text) for i in ids])
        # A damaged vectors file can give anything, 1e38 or NaN included: the lowest
        # cosine then, said as a problem below rather than as numpy's overflow warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            stored /= np.maximum(np.linalg.norm(stored, axis=1, keepdims=True), 1e-12)  # an 8-bit store gives them roughly
            agreement = float(np.nan_to_num((stored * again).sum(axis=1), nan=-1.0).min(initial=1.0))
        made = self.index.manifest.model
        if agreement < MIN_AGREEMENT:
            problems.append(
                f"the model gives other vectors than the index holds (cosine {agreement:.3f} at worst over {len(ids)} "
                f"passages, needs {MIN_AGREEMENT}): the index was made by another embedder "
                f"({_made_by(made.backend, made.export_recipe, made.precision)}, "
                f"built on {made.built_on or 'an unrecorded CPU'}) than the one running here "
                f"({_made_by(embedder.backend, export_recipe(embedder.backend), embedder.precision)}, on {cpu_summary()}); "
                "rebuild it with `retriever index --rebuild`"
            )
        return {
            "problems": problems,
            "vectors": {
                "passages": len(ids),
                "min_cosine": round(agreement, 4),
                "needs": MIN_AGREEMENT,
                "running": {"backend": embedder.backend, "precision": embedder.precision, "cpu": cpu_summary()},
            },
        }


def _made_by(backend: str | None, recipe: int | None, precision: str | None) -> str:
    """How vectors are made, in a few words: "onnx-int8, export recipe 5, int8"."""
    return ", ".join([str(backend)] + ([f"export recipe {recipe}"] if recipe else []) + ([precision] if precision else []))


def indexed_sources(directory: Path) -> list[Path]:
    """What `retriever index` without paths indexes: again the paths the index at
    `directory` was built from (from the folder it was built in, where the manifest
    records them relative to it), or corpus/ when there is no index yet. Never another
    folder's corpus/ in place of what an index holds, which would remove all of it:
    UsageError where its sources are gone or unknown (a manifest that cannot be read)."""
    if not index_exists(directory):
        return [DEFAULT_CORPUS_DIR]
    name_them = f"name the paths to index: `retriever index PATHS --index-dir {path_text(directory)}`"
    try:
        corpus = index_store.read_manifest(directory).corpus
    except BadIndexError:
        raise UsageError(
            f"{path_text(directory)}: unreadable manifest, what it holds is unknown: {name_them} --rebuild"
        ) from None
    # From the folder it was built in, when that is another (paths as the messages show them).
    built_in = corpus.built_in()
    base = built_in if built_in != Path.cwd().resolve() else Path()
    sources = [base / s for s in corpus.sources]  # an absolute source stays as it is
    if not sources or not all(s.exists() for s in sources):
        built = f" in {corpus.base}" if corpus.base else ""
        what = f"{', '.join(corpus.sources)}{built}" if sources else "paths it does not record"
        raise UsageError(f"{path_text(directory)} was built from {what}, not all of them here now: {name_them}")
    return sources


def first_use_corpus(directory: Path) -> Path | None:
    """The folder the default index `directory` is built from on first use: corpus/ in
    a project folder (a clone, `make demo`), when that is where the index goes; never
    for the user's own index, which is built by `retriever index` from what they name."""
    return DEFAULT_CORPUS_DIR if directory == DEFAULT_INDEX_DIR and is_project_folder() else None


def describe(index_dir: Path | str | None = None) -> dict:
    """`Retriever.info()` of an index without opening it: reads the manifest and the
    document store only (no FAISS, no BM25), which is what `retriever info` needs."""
    directory = check_index_dir(index_dir) or default_index_dir()
    manifest, documents = index_store.read_documents(directory)
    return _info(directory, manifest, documents)


def _info(directory: Path, m: Manifest, documents: dict[str, index_store.IndexedDocument]) -> dict:
    return {
        "index": path_text(directory),
        "model": m.model.to_dict(),
        "corpus": m.corpus.to_dict(),
        "documents": [
            {
                "doc_id": d.doc_id,
                "title": d.title,
                "chars": len(d.text),
                "passages": d.passages[1] - d.passages[0],
                **d.meta.to_dict(),
            }  # fmt: skip
            for d in documents.values()
        ],
        "bytes": sum(f.bytes for f in m.files.values()),
        # Where the vectors are: FAISS files here, or a Milvus URI and collection.
        "vector_store": {
            **m.vector_store.to_dict(),
            "index": m.vector_index,
            "where": store_for(m.vector_store, directory).where(m),
        },
        "format_version": m.format_version,
        "versions": m.versions,
        "created": m.created,
        "updated": m.updated,
    }


def summarize_text(
    text: str,
    max_chars: int | None = None,
    ratio: float | None = None,
    query: str | None = None,
    title: str = "",
    model: str | None = None,
    embedder: Embedder | None = None,
    backend: str | None = None,
    against: Path | str | Reference | None = None,
) -> DocumentSummary:
    """A generic extractive summary of raw text (cleaned first), in document order.

    The budget is `max_chars` (default 400) or `ratio` of the cleaned text; with
    `query`, sentences relevant to it are preferred. Keywords are the words that set the
    text apart from general Chinese or, given `against` (an index directory, or a
    keywords.Reference), from the documents of that index.
    """
    from retriever.reading.load import Document
    from retriever.summary.documents import summarize_one
    from retriever.text.clean import clean
    from retriever.text.metadata import metadata
    from retriever.text.segment import find_title, unglue_title

    check_text(text, "the text")
    check_text(title, "title")
    check_summary_options(max_chars, ratio, query)
    limit = max_document_chars()
    if len(text) > limit:  # a file's limit: memory and time stay bounded
        raise TooMuchText("<text>", limit, ENV_MAX_CHARS)
    reference = _reference(against)
    cleaned = unglue_title(clean(text))
    if not cleaned:
        raise UsageError("no text to summarize once site chrome and junk were removed")
    title = title or find_title(cleaned, fallback="")
    doc = Document("<text>", "<text>", title, cleaned, "", meta=metadata(title, cleaned))
    embedder = embedder or load_embedder(model or default_model(), backend or default_backend())
    return summarize_one(doc, embedder, max_chars, ratio, query, reference=reference)


def summarize_files(
    paths: Path | str | Sequence[Path | str],
    max_chars: int | None = None,
    ratio: float | None = None,
    query: str | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    model: str | None = None,
    embedder: Embedder | None = None,
    backend: str | None = None,
    progress: ProgressCallback | None = None,
    follow_links: bool = False,
    against: Path | str | Reference | None = None,
    skip: Sequence[Path | str] = (),
) -> list[DocumentSummary | InputError]:
    """One record per file under `paths` (one path or a list; directories walked, `-` is
    standard input), or the InputError that kept a file from being read (symbolic links
    that lead out of `paths` are not followed unless `follow_links`). Same records as
    summarize_text, keywords set apart against the index `against` if given. Files of
    `skip` are never read: the file the records go to, when it lies in a folder read.
    """
    from retriever.summary.documents import summarize_paths

    paths = check_paths(paths)
    check_summary_options(max_chars, ratio, query)
    include, exclude = check_patterns(include, "include"), check_patterns(exclude, "exclude")
    reference = _reference(against)  # a bad index fails before any file is read
    # The model loads with the first readable document (load_embedder caches it).
    get_embedder = lambda: embedder or load_embedder(model or default_model(), backend or default_backend())  # noqa: E731
    skipped = [Path(p) for p in skip]
    records = summarize_paths(
        paths, get_embedder, max_chars, ratio, query, include, exclude, progress, follow_links, reference, skipped
    )
    return list(records)


def _reference(against: Path | str | Reference | None) -> Reference | None:
    """The words of the index `against`, for keywords: its BM25 terms and IDF only."""
    from retriever.summary.keywords import Reference

    if against is None or isinstance(against, Reference):
        return against
    return Reference.of_index(check_index_dir(against) or default_index_dir())


def upload_reader(limits: ReadLimits, max_memory_bytes: int) -> UploadReader:
    """What reads uploads, each in a worker process of its own with that memory bound
    and the deadline of `limits` (reading/isolated.py); start() it before use."""
    from retriever.reading.isolated import UploadReader

    return UploadReader(limits, max_memory_bytes)


def summarize_document(
    doc: Document, embedder: Embedder, max_chars: int | None = None, ratio: float | None = None, query: str | None = None
) -> DocumentSummary:
    """The record of a document read already (an upload): summarize_files' for one file."""
    from retriever.summary.documents import summarize_one

    return summarize_one(doc, embedder, max_chars, ratio, query)


def remove_index(directory: Path) -> list[str]:
    """Remove the index in `directory` and what `retriever tune` kept beside it (its
    judgements and rankers); the names of anything else in the folder, which stays."""
    left = remove_index_files(directory)
    if TUNING in left:
        discard_tuning(directory)
        with contextlib.suppress(OSError):
            directory.rmdir()  # refused while anything else is in it
        left = sorted(e.name for e in directory.iterdir()) if directory.is_dir() else []
    return left


# The front ends (cli/, serve/) import nothing else of the package than this module,
# maintenance, arguments, config and errors (a contract in pyproject.toml checks it):
# what they use beyond the above is named here.
__all__ = [
    "Answer",
    "Retriever",
    "STDOUT",
    "describe",
    "first_use_corpus",
    "index_exists",
    "index_stamp",
    "output_format",
    "record_dict",
    "remove_index",
    "summarize_files",
    "summarize_document",
    "summarize_text",
    "upload_reader",
    "write_records",
]
