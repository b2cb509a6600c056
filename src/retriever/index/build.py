"""Indexing: files → documents → passages → vectors → a new index generation.

Incremental by default. A file whose bytes are unchanged (same SHA-256 as in the
index, same pipeline) keeps its cleaned text and passages without being read again;
a passage whose text is already in the index keeps its vector. So re-indexing an
unchanged corpus embeds nothing and writes nothing, and changing one document embeds
that document's new passages only. `rebuild=True` ignores the old index.
"""

from __future__ import annotations

import ast
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from retriever.config import (
    DEFAULT_BACKEND,
    ENV_BACKEND,
    ENV_MODEL,
    ProgressCallback,
    SearchConfig,
    SegmentConfig,
    announce,
    default_model,
)
from retriever.embedding.embedders import Embedder
from retriever.embedding.onnx_export import export_recipe
from retriever.embedding.onnx_runtime import cpu_summary
from retriever.errors import BadIndexError, InputError, path_text
from retriever.index import folder as index_store
from retriever.index.bm25 import BM25, BM25_FIELDS, passage_terms
from retriever.index.manifest import FAISS, CorpusInfo, ModelInfo, StoreSpec
from retriever.index.stores import store_for
from retriever.reading.load import Document, doc_id_for, find_files, load_document, unread
from retriever.text.segment import Passage, segment, sentence_spans
from retriever.text.words import for_matching


@dataclass(frozen=True)
class BuildReport:
    """What a build did. Document counts: added + changed + unchanged + kept = documents."""

    index_dir: Path
    documents: int
    passages: int
    chars: int
    skipped: list[InputError]
    seconds: float
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    kept: int = 0  # indexed before and not among the files given (add mode), or unreadable now
    embedded: int = 0  # passages whose vectors were computed (the rest came from the index)
    written: bool = True  # False when nothing changed and the index was left as it was
    notes: list[str] = field(default_factory=list)


# Where reading starts: a file to a cleaned document, a document to passages.
_READING_ENTRIES = ("retriever.reading.load", "retriever.text.segment")


def pipeline() -> dict:
    """What decides a document's cleaned text and passages: the code that reads,
    cleans, cuts and segments (a hash of its source) and the segmentation settings. A
    document indexed under another pipeline is read again; its vectors may still be
    reused where its passages come out the same."""
    return {"code": code_fingerprint(Path(__file__).parents[1]), "segmentation": asdict(SegmentConfig())}


def code_fingerprint(package: Path) -> str:
    """A hash of the source of every module of `package` (the folder of `retriever`)
    that reading can run: the entries and all they import, at any depth and wherever
    the import is written, so that no list kept by hand can leave one out (one once left
    out the word cutter that re-joins broken lines)."""
    h = hashlib.sha256()
    for name in reading_modules(package):
        h.update(name.encode() + b"\0" + _source(package, name).read_bytes())
    return h.hexdigest()[:16]


def reading_modules(package: Path) -> list[str]:
    """The modules of `package` that the reading entries import, directly or not."""
    found: set[str] = set()
    todo = list(_READING_ENTRIES)
    while todo:
        name = todo.pop()
        if name in found or not _source(package, name).is_file():
            continue
        found.add(name)
        for node in ast.walk(ast.parse(_source(package, name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from a.b import c` runs a.b, and c too where c is a module.
                todo += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return sorted(found)


def _source(package: Path, module: str) -> Path:
    """The file of a module named `retriever.x.y`: package/x/y.py (or its __init__.py).
    Not the package's own __init__.py: it imports the library's surface lazily, for
    its users, and reading never needs it."""
    parts = module.split(".")
    if parts[0] != package.name or len(parts) == 1:
        return package / "-not-in-package-"
    path = package.joinpath(*parts[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def file_sha256(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or None if it cannot be read (load_document says why)
    or is no regular file (opening a named pipe would wait for a writer)."""
    if not path.is_file():
        return None
    try:
        return index_store.sha256(path)
    except OSError:
        return None


def _previous(directory: Path, rebuild: bool, notes: list[str]) -> index_store.Index | None:
    if rebuild or not index_store.exists(directory):
        return None
    try:
        return index_store.load(directory)
    except BadIndexError as e:
        notes.append(f"the old index could not be read ({e}); building from scratch")
        return None


def _base(old: index_store.Index | None) -> Path:
    """The folder a document's id is its path from: the one the index was first built
    in, wherever a later build runs (so that the same file keeps its id, and `--add`
    from another folder does not index it twice); the current folder for a new index,
    or where that folder is gone (a project moved)."""
    return old.manifest.corpus.built_in() if old else Path.cwd().resolve()


def _recorded(path: Path, base: Path) -> str:
    """A path given to a build as the manifest records it: from `base` where it lies
    below it (as documents' ids are), else absolute."""
    absolute = Path(os.path.normpath(Path.cwd().resolve() / path))  # the folder as `base` names it
    return path_text(absolute.relative_to(base) if absolute.is_relative_to(base) else absolute)


def build_index(
    paths: Sequence[Path],
    directory: Path,
    model: str | None,
    load_embedder: Callable[[str, str], Embedder],
    progress: ProgressCallback | None = None,
    backend: str | None = None,
    rebuild: bool = False,
    add: bool = False,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    vector_store: StoreSpec | None = None,
    follow_links: bool = False,
) -> BuildReport:
    """Index the files under `paths` into `directory`.

    The index then holds exactly these files, or, with `add`, these files and what it
    held before; `include`/`exclude` are glob filters for the files found in
    directories. A file that cannot be read is skipped and reported; if it was indexed
    before, its old version stays. If no file can be read, InputError, and nothing is
    written. Symbolic links that lead out of `paths` are skipped unless `follow_links`.
    """
    started = time.perf_counter()
    files, not_followed, other = find_files(list(paths), include, exclude, follow_links)
    with index_store.write_lock(directory):
        notes: list[str] = [unread(other)] if other else []
        old = _previous(directory, rebuild, notes)
        name, backend, recipe, same_model = _choose_model(model, backend, old, notes)
        same_pipeline = old is not None and old.manifest.pipeline == pipeline()
        store, before_store = _choose_store(directory, vector_store, notes)
        base = _base(old)
        got = _gather(paths, files, not_followed, old, same_pipeline, add, base, progress, notes)
        bm25_settings = _bm25_settings()
        same_bm25 = old is not None and old.manifest.bm25 == bm25_settings
        unchanged = same_model and same_pipeline and same_bm25 and store == before_store
        if old and not (got.counts["added"] or got.counts["changed"] or got.removed) and unchanged:
            # Nothing to do: the index on disk is this corpus already.
            corpus = old.manifest.corpus
            return BuildReport(
                directory, corpus.documents, corpus.passages, corpus.chars, got.skipped,
                time.perf_counter() - started, unchanged=got.counts["unchanged"], kept=got.counts["kept"], written=False,
                notes=notes,
            )  # fmt: skip

        passages, ranges = _passages(got, old)
        # Everything that depends only on the documents comes before the embedding,
        # which is nearly all of a build's time: what can fail here fails early.
        corpus = CorpusInfo(
            fingerprint=index_store.corpus_fingerprint(got.documents),
            documents=len(got.documents),
            passages=len(passages),
            chars=sum(len(d.text) for d in got.documents),
            sources=tuple(sorted({*(_recorded(p, base) for p in paths), *(old.manifest.corpus.sources if old and add else ())})),
            base=path_text(base),
        )
        terms = [passage_terms(p.title, p.heading_path, p.text) for p in passages]
        bm25 = BM25.build(terms, bm25_settings["k1"], bm25_settings["b"])
        loaded: list[Embedder] = []  # the model, once a passage needs it

        def embedder() -> Embedder:
            loaded[:] = loaded or [load_embedder(name, backend)]
            return loaded[0]

        vectors, sentences, embedded = embed_passages(passages, old if same_model else None, embedder, progress)
        # How the vectors were made, for `retriever info`: what ran and where (an int8
        # model that disagreed on this CPU ran as fp32); kept from the old index when
        # nothing was embedded.
        precision, built_on = (
            (loaded[0].precision, cpu_summary())
            if loaded
            else (old.manifest.model.precision, old.manifest.model.built_on)
            if old is not None
            else (None, None)
        )
        model_info = ModelInfo(name, backend, int(vectors.shape[1]), recipe, precision, built_on)
        made = index_store.Made(model_info, corpus, pipeline(), bm25_settings)
        index_store.write(directory, got.documents, passages, ranges, vectors, sentences, bm25, made, store)
    return BuildReport(
        directory, len(got.documents), len(passages), corpus.chars, got.skipped, time.perf_counter() - started,
        added=got.counts["added"], changed=got.counts["changed"], unchanged=got.counts["unchanged"], removed=got.removed,
        kept=got.counts["kept"], embedded=embedded, notes=notes,
    )  # fmt: skip


def _choose_model(
    model: str | None, backend: str | None, old: index_store.Index | None, notes: list[str]
) -> tuple[str, str, int | None, bool]:
    """The model and backend to embed with, the export recipe, and whether the old
    index's vectors came from the same: an index keeps its model and backend unless
    others are asked for (options or the environment)."""
    name = model or os.environ.get(ENV_MODEL) or (old.model if old else default_model())
    backend = backend or os.environ.get(ENV_BACKEND) or (old.backend if old else DEFAULT_BACKEND)
    recipe = export_recipe(backend)
    same_model = old is not None and (old.model, old.backend, old.export_recipe) == (name, backend, recipe)
    if old is not None and (old.model, old.backend) != (name, backend):
        notes.append(f"model changed from {old.model} ({old.backend}) to {name} ({backend}): every passage is embedded again")
    elif old is not None and not same_model:
        was = f"recipe {old.export_recipe}" if old.export_recipe else "an unrecorded recipe"
        notes.append(f"the model's ONNX export changed ({was} to recipe {recipe}): every passage is embedded again")
    return name, backend, recipe, same_model


def _choose_store(directory: Path, asked: StoreSpec | None, notes: list[str]) -> tuple[StoreSpec, StoreSpec | None]:
    """Where the vectors go, and where they were: they stay where the index keeps them
    (FAISS files or a Milvus collection) unless asked otherwise. A store that cannot be
    written fails here, before reading and embedding."""
    before = _store_of(directory)
    store = asked or before or FAISS
    target = store_for(store, directory)
    if before is not None and store != before:
        notes.append(f"vectors move from {store_for(before, directory).describe()} to {target.describe()}")
    target.check_reachable()
    return store, before


@dataclass
class _Gathered:
    """The documents a build indexes: read anew, or taken as the old index holds them."""

    documents: list[Document] = field(default_factory=list)
    reused: dict[str, tuple[int, int]] = field(default_factory=dict)  # doc_id → its passage range in the old index
    skipped: list[InputError] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("added", "changed", "unchanged", "kept"), 0))
    removed: int = 0

    def reuse(self, before: index_store.IndexedDocument, path: str, why: str) -> None:
        """Take a document as the old index holds it: text, passages and vectors."""
        self.documents.append(Document(before.doc_id, path, before.title, before.text, before.sha256, meta=before.meta))
        self.reused[before.doc_id] = before.passages
        self.counts[why] += 1


def _gather(
    paths: Sequence[Path],
    files: list[Path],
    not_followed: list[InputError],
    old: index_store.Index | None,
    same_pipeline: bool,
    add: bool,
    base: Path,
    progress: ProgressCallback | None,
    notes: list[str],
) -> _Gathered:
    """Read the files (or reuse what the old index holds of an unchanged one), keep the
    old version of a file that cannot be read now, and with `add` the documents not
    named; in document-id order. InputError when no file could be read (links not
    followed count among the files that could not)."""
    got = _Gathered(skipped=list(not_followed))
    for n, path in enumerate(files, 1):
        announce(progress, "read", path_text(path))
        doc_id = doc_id_for(path, base)
        before = old.documents.get(doc_id) if old else None
        if before and same_pipeline and file_sha256(path) == before.sha256:
            got.reuse(before, path_text(path), "unchanged")
        else:
            try:
                got.documents.append(load_document(path, base))
                got.counts["changed" if before else "added"] += 1
                notes.extend(f"{got.documents[-1].path}: {note}" for note in got.documents[-1].notes)
            except InputError as e:
                got.skipped.append(e)
                if before:  # nothing already indexed is lost to a bad read
                    got.reuse(before, before.path, "kept")
        if progress:
            progress("read", n, len(files))
    if not got.documents:
        if len(got.skipped) == 1:
            raise got.skipped[0]
        raise InputError(
            ", ".join(map(path_text, paths)), f"none of the {len(got.skipped)} files could be read (first: {got.skipped[0]})"
        )
    named = {d.doc_id for d in got.documents}
    for doc_id, before in (old.documents if old else {}).items():
        if doc_id in named:
            continue
        if add:
            got.reuse(before, before.path, "kept")
        else:
            got.removed += 1
    # One order whatever the order of the runs that added them: by document id.
    got.documents.sort(key=lambda d: d.doc_id)
    return got


def _bm25_settings() -> dict:
    """How BM25 makes its terms and weighs them, recorded in the manifest: an index
    built otherwise gets its BM25 made again."""
    config = SearchConfig()
    return {"tokenizer": "rjieba cut_for_search", "fields": list(BM25_FIELDS), "k1": config.bm25_k1, "b": config.bm25_b}


def _passages(got: _Gathered, old: index_store.Index | None) -> tuple[list[Passage], dict[str, tuple[int, int]]]:
    """Every document's passages in order, reused ones as the old index holds them, and
    each document's range among them."""
    passages: list[Passage] = []
    ranges: dict[str, tuple[int, int]] = {}
    for doc in got.documents:
        first = len(passages)
        if doc.doc_id in got.reused:
            assert old is not None  # reused from it
            a, b = got.reused[doc.doc_id]
            passages.extend(old.passages[a:b])
        else:
            passages.extend(segment(doc.text, doc.doc_id, doc.title, SegmentConfig()))
        ranges[doc.doc_id] = (first, len(passages))
    return passages, ranges


def _store_of(directory: Path) -> StoreSpec | None:
    """Where the index keeps its vectors (without the generation's own collection), also
    for --rebuild; None for a new or unreadable index."""
    try:
        return index_store.read_manifest(directory).vector_store.without_collection()
    except BadIndexError:
        return None


def embed_passages(
    passages: list[Passage],
    old: index_store.Index | None,
    embedder: Callable[[], Embedder],
    progress: ProgressCallback | None,
) -> tuple[np.ndarray, index_store.SentenceVectors, int]:
    """A unit vector per passage and per sentence of each passage: from the old index
    where it holds the same passage text (embedded by the same model), else computed.

    Sentences are embedded on their own, not pooled from their passage's forward pass:
    pooled vectors share the passage's context and sit close together, while on its
    own the one sentence that answers a question in other words stands out (the dense
    side of the dev questions went from MRR@10 0.25 to 0.37 with a passage's best
    sentence beside it; benchmarks/user_questions.py), and the summaries tell
    sentences apart. It costs a second pass over the same characters. A text that
    repeats (boilerplate in a series of reports) is embedded once.

    Returns the vectors, the sentence vectors and how many passages were embedded.
    """
    spans = [sentence_spans(p.text) for p in passages]
    # Vectors are reused for a passage whose text the old index holds cut into the same
    # sentences (a change to how sentences are cut embeds them again).
    known: dict[str, int] = {}
    if old is not None:
        for i, p in enumerate(old.passages):
            known.setdefault(p.text, i)
        cut = {p.text: s for p, s in zip(passages, spans)}
        known = {t: i for t, i in known.items() if t in cut and old.sentences.spans_of(i) == cut[t]}
    first: dict[str, int] = {}
    for i, p in enumerate(passages):
        if p.text not in known:
            first.setdefault(p.text, i)
    missing = list(first.values())
    dim = old.dim if old is not None else 0
    # The vectors kept are fetched first, in one call: a vector store that cannot give
    # them (a Milvus server gone) fails the build before any embedding, not after it.
    reused = [i for i, p in enumerate(passages) if p.text in known]
    if reused:
        assert old is not None  # `known` comes from it
        kept = old.vectors.reconstruct_batch(np.array([known[passages[i].text] for i in reused], dtype=np.int64))
    fresh: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if missing:
        # The model reads the matching form (simplified); a sentence that is a whole
        # passage, or that repeats, is embedded once.
        keys = [for_matching(passages[i].text) for i in missing]
        sentence_keys = [[for_matching(passages[i].text[a:b]) for a, b in spans[i]] for i in missing]
        texts = list(dict.fromkeys([*keys, *(k for ks in sentence_keys for k in ks)]))
        vectors = embedder().encode(texts, progress=(lambda d, t: progress("embed", d, t)) if progress else None)
        dim = vectors.shape[1]
        of_text = dict(zip(texts, vectors))
        for key, i, ks in zip(keys, missing, sentence_keys):
            fresh[i] = (of_text[key], np.array([of_text[k] for k in ks], dtype=np.float32).reshape(-1, dim))
        fresh.update({i: fresh[first[p.text]] for i, p in enumerate(passages) if p.text in first and i not in fresh})
    out = np.empty((len(passages), dim), dtype=np.float32)
    if reused:
        out[reused] = kept
    sentence_parts = []
    for i, p in enumerate(passages):
        if i in fresh:
            out[i], of_passage = fresh[i]
        else:
            assert old is not None
            of_passage = old.sentences.of(known[p.text])[1]
        sentence_parts.append((spans[i], of_passage))
    return out, index_store.SentenceVectors.stack(sentence_parts, dim), len(missing)
