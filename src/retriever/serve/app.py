"""`retriever serve`: the model and the index loaded once, answering over HTTP.

    GET  /                 the search page (one self-contained file: no CDN, works offline)
    GET  /healthz          alive, and which index generation is served
    GET  /api/ask?q=…      the JSON of `retriever ask --json`; POST /api/ask takes JSON
    POST /api/summarize    JSON text, or a file uploaded as multipart → a summary record
    GET  /api/info         the JSON of `retriever info --json`
    GET  /docs             OpenAPI docs (their script and styles served from the package)

Errors are JSON `{"error": "…"}` with a 4xx status for a bad request and 5xx for a
failure, never a traceback. A request answers from the index that was live when it
came in: when `retriever index` makes a new generation live, LiveIndex loads it beside
the old one and swaps it in once it is complete.

Hostile clients are bounded by the guards in front of the app (guards.py) and, for the
work of a summary, by create_app's lanes.
"""

import asyncio
import contextlib
import copy
import ctypes
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from typing import Annotated, Any

import anyio
import uvicorn
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import AliasChoices, BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from retriever import __version__
from retriever.api import Retriever, Scope, index_stamp, summarize_document, summarize_text, upload_reader
from retriever.arguments import check_summary_options
from retriever.config import LIMITS, SEARCH_MODES, ReadLimits, SearchConfig, ServeConfig, SummaryConfig
from retriever.errors import BadIndexError, ChangedIndex, IndexBusy, InputError, RetrieverError, TooMuchText, UsageError
from retriever.serve.guards import (
    CONFIG,
    STOPPING,
    BodyLimit,
    GuardedH11Protocol,
    HostCheck,
    SameOrigin,
    SecurityHeaders,
    Shutdown,
    Stopping,
    allowed_hosts,
    host_name,
    page_policy,
)
from retriever.serve.schemas import AskResponse, HealthResponse, InfoResponse, JudgeResponse, SummarizeResponse, errors

log = logging.getLogger("retriever.serve")


class LiveIndex:
    """The Retriever that answers requests, replaced when the index on disk changes.

    Each request takes current(): a stat of manifest.json (microseconds). When it has
    changed, one background thread loads the new generation and its model while
    requests go on with the old one; the swap is one assignment. A generation that
    fails to load leaves the old one serving and is reported by /healthz.
    """

    def __init__(self, retriever: Retriever):
        self.directory = retriever.index.directory
        self._retriever = retriever
        self._stamp = index_stamp(self.directory)
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self.loaded_at = time.time()
        self.reload_error: str | None = None

    def current(self) -> Retriever:
        stamp = index_stamp(self.directory)
        if stamp != self._stamp and stamp is not None:
            with self._lock:
                if stamp != self._stamp and not (self._loader and self._loader.is_alive()):
                    self._stamp = stamp  # tried once per change, whether it loads or not
                    self._loader = threading.Thread(target=self._reload, name="retriever-reload", daemon=True)
                    self._loader.start()
        return self._retriever

    def _reload(self) -> None:
        try:
            retriever = Retriever.open(self.directory)
            retriever.warm_up()
        except Exception as e:  # noqa: BLE001 - whatever the cause, the old index goes on serving
            self.reload_error = str(e) if isinstance(e, RetrieverError) else f"{type(e).__name__}: {e}"
            log.error("kept the index already served: %s", self.reload_error)
            return
        self._retriever, self.loaded_at, self.reload_error = retriever, time.time(), None
        log.info("now serving %s", retriever.index.manifest.generation)

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for a reload under way (tests, and a clean shutdown)."""
        if self._loader:
            self._loader.join(timeout)


# pydantic parses the fields; their bounds are checked by config's check_* (through
# Retriever.ask and arguments.check_summary_options), as for the CLI and the library, so that what
# one refuses the service refuses in the same words (400). The OpenAPI schema gives the
# bounds in these descriptions.
ABOUT = {
    "question": f"The question: 1 to {LIMITS.max_question_chars:,} characters",
    "k": f"How many passages: 1 to {LIMITS.max_k}",
    "mode": "How passages are ranked: " + ", ".join(SEARCH_MODES),
    "summary_chars": f"The summary's budget in characters: 0 (none) to {LIMITS.max_summary_chars:,}",
    "in": "Only documents under this folder or matching this glob (repeatable), e.g. reports/2019/*",
    "year": "Only documents of this year (repeatable)",
    "since": "Only documents dated on or after this day: 2019, 2019-03 or 2019-03-05",
    "until": "Only documents dated on or before this day",
    "doc": "Only this document, by id or path (repeatable)",
    "explain": "Each result says what each of the ranker's signals added to its score (hybrid mode)",
}
MODE_ENUM: dict[str, Any] = {"enum": list(SEARCH_MODES)}


class _Scoped(BaseModel):
    """A question and the documents it was asked within."""

    question: str = Field(validation_alias=AliasChoices("question", "q"), description=ABOUT["question"])
    paths: list[str] = Field([], validation_alias=AliasChoices("in", "paths"), description=ABOUT["in"], max_length=64)
    year: list[int] = Field([], description=ABOUT["year"], max_length=64)
    since: str | None = Field(None, description=ABOUT["since"], max_length=40)
    until: str | None = Field(None, description=ABOUT["until"], max_length=40)
    doc: list[str] = Field([], description=ABOUT["doc"], max_length=64)

    def scope(self) -> Scope | None:
        if not (self.paths or self.year or self.since or self.until or self.doc):
            return None
        return Scope(tuple(self.paths), tuple(self.year), self.since, self.until, tuple(self.doc))


class AskRequest(_Scoped):
    k: int = Field(SearchConfig.k, description=ABOUT["k"])
    mode: str = Field(SearchConfig.mode, description=ABOUT["mode"], json_schema_extra=MODE_ENUM)
    summary_chars: int = Field(SummaryConfig.max_chars, description=ABOUT["summary_chars"])
    explain: bool = Field(False, description=ABOUT["explain"])


class JudgeRequest(_Scoped):
    """A judgement on one result of a question (asked within the same documents, if it was)."""

    passage_id: int = Field(description="The result's passage_id")
    doc_id: str | None = Field(
        None, description="The result's doc_id: given, a judgement of an index changed since is refused (409)"
    )
    start: int | None = Field(None, description="The result's start, likewise")
    verdict: str = Field(
        description="good: it answers the question; bad: it does not", json_schema_extra={"enum": ["good", "bad"]}
    )


class SummaryOptions(BaseModel):
    """The options of a summary: JSON fields, or form fields beside an uploaded file."""

    max_chars: int | None = Field(
        None, description=f"The budget in characters: 1 to {LIMITS.max_summary_chars:,} (default {SummaryConfig.doc_max_chars})"
    )
    ratio: float | None = Field(None, description="The budget as a share of the document: above 0, at most 1")
    query: str | None = Field(
        None, description=f"Prefer what answers this question: 1 to {LIMITS.max_question_chars:,} characters"
    )


class SummarizeRequest(SummaryOptions):
    text: str = Field(
        description=f"The text: at most {CONFIG.max_summarize_chars:,} characters (ServeConfig.max_summarize_chars)"
    )
    title: str = ""


FORM_FIELDS = ("file", *SummaryOptions.model_fields)

# pydantic's words for a value it cannot take, in the user's: {} is the field, the other
# names pydantic's ctx (the limit the value passed). Each is one the service's fields
# can meet (tests/test_serve.py meets them all); another type says pydantic's own words.
IN_USER_TERMS = {
    "missing": "{} is required",
    "int_type": "{} must be a whole number",
    "int_parsing": "{} must be a whole number",
    "int_from_float": "{} must be a whole number",
    "int_parsing_size": "{} is too large a number",
    "finite_number": "{} must be a finite number",
    "float_type": "{} must be a number",
    "float_parsing": "{} must be a number",
    "bool_type": "{} must be true or false",
    "bool_parsing": "{} must be true or false",
    "string_type": "{} must be a string",
    "string_too_long": "{} must be at most {max_length:,} characters",
    "list_type": "{} must be a list",
    "too_long": "{} must have at most {max_length:,} values, not {actual_length:,}",
    "json_invalid": "the body is not valid JSON",
    "model_type": "the body must be a JSON object",
    "model_attributes_type": "the body must be a JSON object",
}


def problem(error: Mapping[str, Any], located: bool = True) -> str:
    """One pydantic error as the service says it. `located`: its loc starts with where
    the value came from (query, body), as FastAPI's do; a model's own (model_validate)
    starts with the field, which may be called `query` (a summary's)."""
    loc = tuple(error.get("loc", ()))
    where = ".".join(str(part) for part in (loc[1:] if located else loc)) or "the body"
    words = IN_USER_TERMS.get(error.get("type", ""))
    return words.format(where, **error.get("ctx", {})) if words else f"{where}: {error.get('msg', 'invalid')}"


# The search modes as the page names them; a mode without a name here shows its own.
MODE_NAMES = {"hybrid": "混合", "blend": "混合（固定权重）", "dense": "语义", "bm25": "关键词"}


def search_page_html() -> str:
    """The search page, its choices of mode and of k those the service accepts, each
    default selected."""
    page = resources.files("retriever.serve").joinpath("page.html").read_text(encoding="utf-8")
    ks = sorted({k for k in (3, SearchConfig.k, 10) if 1 <= k <= LIMITS.max_k})
    k_options = "".join(f'<option value="{k}"{" selected" if k == SearchConfig.k else ""}>{k} 段</option>' for k in ks)
    mode_options = "".join(
        f'<option value="{m}"{" selected" if m == SearchConfig.mode else ""}>{MODE_NAMES.get(m, m)}</option>'
        for m in SEARCH_MODES
    )
    return page.replace("{k_options}", k_options).replace("{mode_options}", mode_options)


# The page's icon (also what /favicon.ico answers, which browsers ask for on every load).
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0b6bcb"/>'
    b'<circle cx="14" cy="14" r="7" fill="none" stroke="#fff" stroke-width="3"/>'
    b'<path d="M19 19l7 7" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/></svg>'
)


def http_server(app: FastAPI, config: ServeConfig = CONFIG, **options) -> uvicorn.Server:
    """uvicorn serving `app` with GuardedH11Protocol and `config`'s limits (run(), and the
    tests' real servers); `options` are uvicorn.Config's."""
    protocol = type("GuardedH11Protocol", (GuardedH11Protocol,), {"limits": config})
    # A head over the limits is refused before h11 would see more of it.
    head_limit = config.max_request_line_bytes + config.max_header_bytes
    return StoppingServer(uvicorn.Config(app, http=protocol, h11_max_incomplete_event_size=head_limit, **options))


class StoppingServer(uvicorn.Server):
    """uvicorn's server, telling the app's Shutdown as soon as it is asked to stop."""

    def handle_exit(self, sig: int, frame) -> None:
        shutdown = getattr(getattr(self.config.app, "state", None), "shutdown", None)
        if isinstance(shutdown, Shutdown):
            shutdown.begin()
        super().handle_exit(sig, frame)


def create_app(retriever: Retriever, config: ServeConfig = CONFIG, lifespan=None) -> FastAPI:
    """The service over an opened index (`retriever serve` opens and warms it).

    `config` sets the Host names answered, the limits of bodies and summaries, and how
    many questions are answered at once; the limits on a question's fields are LIMITS,
    checked as by the library. `lifespan` is FastAPI's, run at start and shutdown.
    """
    live = LiveIndex(retriever)
    page = search_page_html()
    shutdown = Shutdown()
    app = FastAPIOffline(
        title="retriever",
        version=__version__,
        description="Semantic search and extractive summaries over a Chinese document index.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    # "*" lets any Host in (behind a port mapping), never any site's scripts.
    app.add_middleware(SameOrigin, public=frozenset(host_name(h) for h in config.allowed_hosts if h != "*"))
    app.add_middleware(Stopping, shutdown=shutdown)
    app.add_middleware(SecurityHeaders, page_policy=page_policy(page))
    hosts = allowed_hosts(config)
    if hosts is not None:
        app.add_middleware(HostCheck, allowed=hosts)  # added last, so checked first
    app.state.live = live
    app.state.shutdown = shutdown
    # Uploads are read (parsed, decoded, cleaned) concurrent_reads at a time, each in a
    # process of its own (reading/isolated.py), and refused as soon as their text passes
    # the summary's limit: before cleaning, which takes seconds a million characters.
    app.state.reader = upload_reader(
        ReadLimits(max_chars=config.max_summarize_chars, max_seconds=config.max_read_seconds), config.max_read_memory_mb << 20
    )
    _answer_errors(app)
    _page_and_health(app, live, page)
    _asks(app, live, config)
    _summaries(app, live, config, app.state.reader, shutdown)
    return app


# Every route may meet the guards in front of it: a Host not allowed or a cross-site
# request (400, 403), a body too large or too slow (413, 408), a stopping service (503).
GUARDED = (400, 403, 408, 413, 500, 503)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _too_long(limit: int, what: str, chars: int | None = None) -> str:
    """413's words: the text's length where it was counted; a text refused while it was
    read is known only to be longer than the limit."""
    if chars is None:
        return f"{what} is too long to summarize here: more than {limit:,} characters"
    return f"{what} is too long to summarize here: {chars:,} characters, the limit is {limit:,}"


def _answer_errors(app: FastAPI) -> None:
    """Every error as JSON {"error": …} with its status, never a traceback."""

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)
    async def invalid(request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
        located = isinstance(exc, RequestValidationError)
        problems = dict.fromkeys(problem(e, located) for e in exc.errors())  # once each, in order
        return _error(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(RetrieverError)
    async def retriever_error(request: Request, exc: RetrieverError) -> JSONResponse:
        status = (
            409
            if isinstance(exc, ChangedIndex)
            else 400
            if isinstance(exc, UsageError)
            else 422
            if isinstance(exc, InputError)
            else 503
            if isinstance(exc, (BadIndexError, IndexBusy))
            else 500
        )
        return _error(status, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def went_away(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # Nothing failed and nobody reads the answer: one line, where uvicorn logged a traceback.
        log.warning("client went away during the upload to %s", request.url.path)
        return _error(400, "client went away")

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> JSONResponse:
        # Starlette raises the exception again once this answer is sent: uvicorn logs it.
        return _error(500, f"internal error ({type(exc).__name__}); the server's log has the details")


def _page_and_health(app: FastAPI, live: LiveIndex, page: str) -> None:
    """The search page, its icon, /healthz and /api/info."""
    started = time.time()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get(
        "/healthz", summary="Alive, and what is served", response_model=None,
        responses={200: {"model": HealthResponse}, **errors(*GUARDED)},
    )  # fmt: skip
    def healthz() -> dict:
        r = live.current()
        m = r.index.manifest
        return {
            "status": "ok",
            "index": str(r.index.directory),
            "generation": m.generation,
            "documents": m.corpus.documents,
            "passages": m.corpus.passages,
            "model": m.model.name,
            "backend": m.model.backend,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(live.loaded_at)),
            "uptime_s": round(time.time() - started, 1),
            "reload_error": live.reload_error,
        }

    @app.get(
        "/api/info", summary="What is indexed, with which model, and the sizes", response_model=None,
        responses={200: {"model": InfoResponse}, **errors(*GUARDED)},
    )  # fmt: skip
    def info() -> JSONResponse:
        return JSONResponse(live.current().info())


def _asks(app: FastAPI, live: LiveIndex, config: ServeConfig) -> None:
    """GET and POST /api/ask, config.concurrent_asks answered at a time."""
    asks = threading.BoundedSemaphore(config.concurrent_asks)

    def answer(req: AskRequest) -> JSONResponse:
        with asks:
            result = live.current().ask(
                req.question, k=req.k, mode=req.mode, summary_chars=req.summary_chars, within=req.scope(), explain=req.explain
            )
        return JSONResponse(result.to_dict())

    ask_responses = {200: {"model": AskResponse}, **errors(*GUARDED, 422)}

    def json_only(request: Request) -> None:
        """A route of a JSON body refuses another content type with 415, as /api/summarize
        does (JSON sent as text/plain was refused as "the body must be a JSON object")."""
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise HTTPException(415, "send the request as JSON, with Content-Type: application/json")

    @app.get(
        "/api/ask", summary="The passages most relevant to a question, and a cited summary", response_model=None,
        responses=ask_responses,
    )  # fmt: skip
    def ask_get(
        q: Annotated[str, Query(description=ABOUT["question"])],
        k: Annotated[int, Query(description=ABOUT["k"])] = SearchConfig.k,
        mode: Annotated[str, Query(description=ABOUT["mode"], json_schema_extra=MODE_ENUM)] = SearchConfig.mode,
        summary_chars: Annotated[int, Query(description=ABOUT["summary_chars"])] = SummaryConfig.max_chars,
        paths: Annotated[list[str] | None, Query(alias="in", description=ABOUT["in"])] = None,
        year: Annotated[list[int] | None, Query(description=ABOUT["year"])] = None,
        since: Annotated[str | None, Query(description=ABOUT["since"])] = None,
        until: Annotated[str | None, Query(description=ABOUT["until"])] = None,
        doc: Annotated[list[str] | None, Query(description=ABOUT["doc"])] = None,
        explain: Annotated[bool, Query(description=ABOUT["explain"])] = False,
    ) -> JSONResponse:
        return answer(
            AskRequest.model_validate(
                {
                    "question": q, "k": k, "mode": mode, "summary_chars": summary_chars,
                    "in": paths or [], "year": year or [], "since": since, "until": until, "doc": doc or [],
                    "explain": explain,
                }
            )
        )  # fmt: skip

    @app.post(
        "/api/ask", summary="The same as GET, the question in a JSON body", response_model=None,
        responses={**ask_responses, **errors(415)}, dependencies=[Depends(json_only)],
    )  # fmt: skip
    def ask_post(req: AskRequest) -> JSONResponse:
        return answer(req)

    @app.post(
        "/api/judge", summary="Record whether a result answers a question, for `retriever tune` to learn from",
        response_model=None, responses={200: {"model": JudgeResponse}, **errors(*GUARDED, 409, 415, 422)},
        dependencies=[Depends(json_only)],
    )  # fmt: skip
    def judge(req: JudgeRequest) -> JSONResponse:
        with asks:
            result = live.current().judge(
                req.question, req.passage_id, req.verdict, within=req.scope(), doc_id=req.doc_id, start=req.start
            )
        return JSONResponse(result)


def _summaries(app: FastAPI, live: LiveIndex, config: ServeConfig, reader, shutdown: Shutdown) -> None:
    """POST /api/summarize: JSON text or an uploaded file.

    Summaries run in two lanes of worker threads: short texts concurrent_asks at a time,
    long ones one at a time (each already uses every core), so that a short text never
    waits behind a long one. A request waits for its lane without holding a worker
    thread: long texts queued on a lock would take the threads that every other request
    needs.
    """
    small_lane, big_lane = anyio.CapacityLimiter(config.concurrent_asks), anyio.CapacityLimiter(1)
    reads = anyio.CapacityLimiter(config.concurrent_reads)

    @app.post(
        "/api/summarize",
        summary="Summarize a document: JSON text, or a file uploaded as multipart/form-data",
        response_model=None,
        responses={200: {"model": SummarizeResponse}, **errors(*GUARDED, 415, 422, 499)},
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {"schema": SummarizeRequest.model_json_schema()},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary"},
                                **SummaryOptions.model_json_schema()["properties"],
                            },
                        }
                    },
                }
            }
        },
    )
    async def summarize(request: Request) -> JSONResponse:
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        retriever = live.current()  # its model is loaded, if need be, in the worker thread
        stop = threading.Event()  # set when the client goes: the work stops between batches
        if kind == "application/json":
            req = SummarizeRequest.model_validate_json(await request.body())
            check_summary_options(req.max_chars, req.ratio, req.query)  # before waiting for a lane
            what, chars = "the text", len(req.text)
            work = lambda: summarize_text(  # noqa: E731
                req.text, req.max_chars, req.ratio, req.query, req.title, embedder=Stoppable(retriever.embedder, stop)
            )
        elif kind == "multipart/form-data":
            data, name, options = await uploaded(request)
            check_summary_options(options.max_chars, options.ratio, options.query)
            # Read as a file of that name would be (its suffix gives the format).
            name = os.path.basename(name) or "upload"
            try:
                doc = await anyio.to_thread.run_sync(lambda: reader.read(data, name), limiter=reads)
            except TooMuchText:
                raise HTTPException(413, _too_long(config.max_summarize_chars, name)) from None
            finally:
                del data
                _trim_malloc()
            what, chars = doc.path, len(doc.text)
            work = lambda: summarize_document(  # noqa: E731
                doc, Stoppable(retriever.embedder, stop), options.max_chars, options.ratio, options.query
            )
        else:
            return _error(415, 'send JSON {"text": …} or a multipart/form-data upload with a `file` field')
        if chars > config.max_summarize_chars:
            raise HTTPException(413, _too_long(config.max_summarize_chars, what, chars))
        lane = small_lane if chars <= config.small_summarize_chars else big_lane
        summary = await unless_client_leaves(
            request, stop, lambda: anyio.to_thread.run_sync(work, limiter=lane, abandon_on_cancel=True), shutdown
        )
        if summary is None and shutdown.stopping:
            return _error(503, STOPPING)
        if summary is None:
            log.info("client went away: its summary of %s stopped", what)
            return _error(499, "client went away")  # nobody reads it
        return JSONResponse(summary.to_dict())


class Abandoned(Exception):
    """The client of this work has gone."""


class Stoppable:
    """An embedder that stops between its batches once `stop` is set (the client of the
    work has gone): a summary of 100,000 characters embeds for minutes, and 48 of them
    abandoned kept both cores busy for 16 minutes."""

    def __init__(self, embedder, stop: threading.Event):
        self.embedder, self.stop = embedder, stop

    def __getattr__(self, name: str):
        return getattr(self.embedder, name)

    def encode(self, texts, batch_size: int = 32, progress=None):
        def check(done: int, total: int) -> None:
            if self.stop.is_set():
                raise Abandoned
            if progress:
                progress(done, total)

        if self.stop.is_set():
            raise Abandoned
        return self.embedder.encode(texts, batch_size=batch_size, progress=check)


async def unless_client_leaves(request: Request, stop: threading.Event, work, shutdown: Shutdown):
    """The result of `await work()`, or None once the client disconnects or the service
    stops: work still waiting for its lane never starts, work under way hears it
    through `stop`."""
    with anyio.CancelScope() as scope:

        def cancel() -> None:
            stop.set()
            scope.cancel()

        async def watch() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass
            cancel()

        watcher = asyncio.ensure_future(watch())  # a task of its own; errors of `work` stay as they are
        try:
            with shutdown.running(cancel):
                return await work()
        except Abandoned:
            return None
        finally:
            watcher.cancel()
    return None  # cancelled: the client is gone, or the service stopping


async def uploaded(request: Request) -> tuple[bytes, str, SummaryOptions]:
    """The file of a multipart upload, its name and the summary's options (form fields)."""
    async with request.form(max_files=1, max_fields=8) as form:
        fields = set(form.keys())
        if {"file", "text"} <= fields:
            raise UsageError("send either a file (multipart) or a text (JSON), not both")
        if unknown := sorted(fields - set(FORM_FIELDS)):
            raise UsageError(
                f"unknown form field {', '.join(f'`{name}`' for name in unknown)}: the fields are {', '.join(FORM_FIELDS)}"
            )
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UsageError("multipart upload without a `file` field")
        options = SummaryOptions.model_validate({k: v for k, v in form.items() if k != "file" and v != ""})
        return await upload.read(), upload.filename or "upload", options


# glibc's allocator: M_ARENA_MAX and M_MMAP_THRESHOLD (mallopt), and malloc_trim to
# give freed memory back.
_M_ARENA_MAX, _M_MMAP_THRESHOLD = -8, -3


@functools.cache
def _libc():
    """The C library, loaded once (its allocator is tuned at start and trimmed after each upload)."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): its allocator returns memory as it does
        return None


def _bound_malloc() -> None:
    """Two malloc arenas, not glibc's eight per core. An upload's megabytes pass through
    the threads that receive, parse and hand it over; each thread's arena kept what it
    had held (three 15 MB uploads at once: the service from 160 MB to 640 MB, and 470 MB
    when they had gone)."""
    if libc := _libc():
        libc.mallopt(_M_ARENA_MAX, 2)
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 20)


def _trim_malloc() -> None:
    """Give the memory an upload held back to the system once it is read."""
    if libc := _libc():
        libc.malloc_trim(0)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: any free one).

    Made with IPPROTO_TCP, not socket.create_server's protocol 0: asyncio turns Nagle's
    algorithm off only for connections whose protocol says TCP, and with it on, every
    answer on a kept-alive connection waited 40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another with --port") from None
    return sock


def run(retriever: Retriever, sock: socket.socket, access_log: bool = True, announce=print, config: ServeConfig = CONFIG) -> None:
    """Serve on a bound socket until SIGINT or SIGTERM; `ask` finds it meanwhile."""
    import sys

    from retriever.serve.client import register, unregister

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logging.getLogger("retriever").addHandler(handler)
    logging.getLogger("retriever").setLevel(logging.INFO)
    # The event loop shares the interpreter with threads reading uploads (pypdf, lxml:
    # Python): switching every millisecond, not every 5, lets it answer between their steps.
    sys.setswitchinterval(config.switch_interval_s)
    _bound_malloc()

    started = time.perf_counter()
    retriever.warm_up()
    host, port = sock.getsockname()[:2]
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{local if ':' not in local else f'[{local}]'}:{port}"

    @contextlib.asynccontextmanager
    async def registered(app: FastAPI):
        # Registered while requests are taken: `ask` then finds this service. uvicorn
        # runs the shutdown half before it ends the process on SIGTERM.
        registration = register(retriever.index.directory, url)
        try:
            yield
        finally:
            unregister(registration)

    # The address listened on decides which Host names are answered (allowed_hosts).
    app = create_app(retriever, replace(config, host=host, port=port), lifespan=registered)
    app.state.reader.start()  # the process upload readers fork from, before the first upload
    m = retriever.index.manifest
    announce(
        f"Serving {retriever.index.directory} ({m.corpus.documents} documents, {m.corpus.passages} passages, "
        f"{m.model.name} {m.model.backend}; ready in {time.perf_counter() - started:.1f} s)\n"
        f"  search page  {url}/\n  API          {url}/api/ask?q=…   docs {url}/docs\n"
        "Ctrl+C stops it."
    )

    # Logs, the access log included (uvicorn's goes to stdout), go to stderr like every command's.
    logs = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logs["handlers"]["access"]["stream"] = "ext://sys.stderr"
    server = http_server(app, config, log_level="info", log_config=logs, access_log=access_log, timeout_graceful_shutdown=5)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn stopped on Ctrl+C, then raised it again: stopping was the point
    app.state.live.settle(timeout=5)
