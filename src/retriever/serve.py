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
"""

import contextlib
import copy
import logging
import os
import socket
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import AliasChoices, BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from . import __version__
from . import index as index_store
from .api import Retriever, summarize_text
from .config import BadIndexError, InputError, RetrieverError, SearchConfig, ServeConfig, SummaryConfig, UsageError
from .digest import summarize_one
from .load import load_stream

log = logging.getLogger("retriever.serve")

Mode = Literal["hybrid", "dense", "bm25"]
CONFIG = ServeConfig()


def _stamp(directory: Path) -> tuple[int, int, int] | None:
    """What identifies the live generation without reading it: manifest.json is replaced
    (a new inode) whenever `retriever index` makes a new generation live."""
    try:
        s = (directory / index_store.MANIFEST).stat()
    except OSError:
        return None
    return (s.st_ino, s.st_mtime_ns, s.st_size)


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
        self._stamp = _stamp(self.directory)
        self._lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self.loaded_at = time.time()
        self.reload_error: str | None = None

    def current(self) -> Retriever:
        stamp = _stamp(self.directory)
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
        log.info("now serving %s", retriever.index.manifest["generation"])

    def settle(self, timeout: float = 60.0) -> None:
        """Wait for a reload under way (tests, and a clean shutdown)."""
        if self._loader:
            self._loader.join(timeout)


class AskRequest(BaseModel):
    question: str = Field(validation_alias=AliasChoices("question", "q"), min_length=1, max_length=CONFIG.max_question_chars)
    k: int = Field(SearchConfig.k, ge=1, le=CONFIG.max_k)
    mode: Mode = SearchConfig.mode
    summary_chars: int = Field(SummaryConfig.max_chars, ge=0, le=CONFIG.max_summary_chars)


class SummarizeRequest(BaseModel):
    text: str = Field(min_length=1)
    title: str = ""
    max_chars: int | None = Field(None, ge=1, le=CONFIG.max_summary_chars)
    ratio: float | None = Field(None, gt=0, le=1)
    query: str | None = Field(None, max_length=CONFIG.max_question_chars)


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 and the JSON error,
    whether its length is announced (refused before it is read) or it comes chunked
    (refused once the count passes the limit)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            return await self.refuse(scope, send)
        seen, over, refused = 0, False, False

        async def counted():
            nonlocal seen, over
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                over = True
                raise ValueError("request body too large")
            return message

        async def checked(message):
            # A body that failed to read is answered by the app with an error of its
            # own (or by an exception, below): the client gets the 413 instead.
            nonlocal refused
            if not over:
                await send(message)
            elif not refused:
                refused = True
                await self.refuse(scope, send)

        try:
            await self.app(scope, counted, checked)
        except Exception:
            if not over:
                raise
            if not refused:
                await self.refuse(scope, send)

    async def refuse(self, scope, send) -> None:
        response = JSONResponse({"error": f"request body too large: the limit is {self.limit:,} bytes"}, status_code=413)
        await response(scope, None, send)


def create_app(retriever: Retriever, config: ServeConfig = CONFIG, lifespan=None) -> FastAPI:
    """The service over an opened index (`retriever serve` opens and warms it).

    `config` sets the body limit and how many questions are answered at once; the
    limits on a question's fields are the defaults (CONFIG), which the request models
    and the OpenAPI schema carry. `lifespan` is FastAPI's, run at start and shutdown.
    """
    live = LiveIndex(retriever)
    asks = threading.BoundedSemaphore(config.concurrent_asks)
    summaries = threading.Lock()  # one document at a time: each already uses every core
    page = resources.files("retriever").joinpath("page.html").read_text(encoding="utf-8")
    started = time.time()

    app = FastAPIOffline(
        title="retriever",
        version=__version__,
        description="Semantic search and extractive summaries over a Chinese document index.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.state.live = live

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)
    async def invalid(request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(part) for part in e.get("loc", ()) if part not in ("query", "body"))
            problems.append(f"{where}: {e.get('msg', 'invalid')}" if where else e.get("msg", "invalid"))
        return error(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RetrieverError)
    async def retriever_error(request: Request, exc: RetrieverError) -> JSONResponse:
        status = 400 if isinstance(exc, UsageError) else 422 if isinstance(exc, InputError) else 503 if isinstance(exc, BadIndexError) else 500
        return error(status, str(exc))

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> JSONResponse:
        # Starlette raises the exception again once this answer is sent: uvicorn logs it.
        return error(500, f"internal error ({type(exc).__name__}); the server's log has the details")

    def answer(req: AskRequest) -> JSONResponse:
        with asks:
            result = live.current().ask(req.question, k=req.k, mode=req.mode, summary_chars=req.summary_chars)
        return JSONResponse(result.to_dict())

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", summary="Alive, and what is served")
    def healthz() -> dict:
        r = live.current()
        m = r.index.manifest
        return {
            "status": "ok",
            "index": str(r.index.directory),
            "generation": m["generation"],
            "documents": m["corpus"]["documents"],
            "passages": m["corpus"]["passages"],
            "model": m["model"]["name"],
            "backend": m["model"]["backend"],
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(live.loaded_at)),
            "uptime_s": round(time.time() - started, 1),
            "reload_error": live.reload_error,
        }

    @app.get("/api/ask", summary="The passages most relevant to a question, and a cited summary")
    def ask_get(
        q: Annotated[str, Query(min_length=1, max_length=CONFIG.max_question_chars, description="The question")],
        k: Annotated[int, Query(ge=1, le=CONFIG.max_k)] = SearchConfig.k,
        mode: Mode = SearchConfig.mode,
        summary_chars: Annotated[int, Query(ge=0, le=CONFIG.max_summary_chars)] = SummaryConfig.max_chars,
    ) -> JSONResponse:
        return answer(AskRequest(q=q, k=k, mode=mode, summary_chars=summary_chars))

    @app.post("/api/ask", summary="The same as GET, the question in a JSON body")
    def ask_post(req: AskRequest) -> JSONResponse:
        return answer(req)

    @app.post(
        "/api/summarize",
        summary="Summarize a document: JSON text, or a file uploaded as multipart/form-data",
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
                                "max_chars": {"type": "integer"},
                                "ratio": {"type": "number"},
                                "query": {"type": "string"},
                            },
                        }
                    },
                }
            }
        },
    )
    async def summarize(request: Request) -> JSONResponse:
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind == "application/json":
            req = SummarizeRequest.model_validate_json(await request.body())
            work = lambda: summarize_json(live.current(), req)  # noqa: E731
        elif kind == "multipart/form-data":
            async with request.form(max_files=1, max_fields=8) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise UsageError("multipart upload without a `file` field")
                options = SummarizeRequest(text="-", **{k: v for k, v in form.items() if k != "file" and v != ""})
                data, name = await upload.read(), upload.filename or "upload"
            work = lambda: summarize_upload(live.current(), data, name, options)  # noqa: E731
        else:
            return error(415, "send JSON {\"text\": …} or a multipart/form-data upload with a `file` field")

        def run() -> dict:
            with summaries:
                return work()

        return JSONResponse(await run_in_threadpool(run))

    @app.get("/api/info", summary="What is indexed, with which model, and the sizes")
    def info() -> JSONResponse:
        return JSONResponse(live.current().info())

    return app


def summarize_json(retriever: Retriever, req: SummarizeRequest) -> dict:
    record = summarize_text(req.text, req.max_chars, req.ratio, req.query, req.title, embedder=retriever.embedder)
    return record.to_dict()


def summarize_upload(retriever: Retriever, data: bytes, name: str, options: SummarizeRequest) -> dict:
    """An uploaded file, read as a file of that name would be (its suffix gives the format)."""
    doc = load_stream(data, os.path.basename(name) or "upload")
    return summarize_one(doc, retriever.embedder, options.max_chars, options.ratio, options.query).to_dict()


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

    import uvicorn

    from .client import register, unregister

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logging.getLogger("retriever").addHandler(handler)
    logging.getLogger("retriever").setLevel(logging.INFO)

    started = time.perf_counter()
    retriever.warm_up()
    host, port = sock.getsockname()[:2]
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{local if ':' not in local else f'[{local}]'}:{port}"
    m = retriever.index.manifest
    announce(
        f"Serving {retriever.index.directory} ({m['corpus']['documents']} documents, {m['corpus']['passages']} passages, "
        f"{m['model']['name']} {m['model']['backend']}; ready in {time.perf_counter() - started:.1f} s)\n"
        f"  search page  {url}/\n  API          {url}/api/ask?q=…   docs {url}/docs\n"
        "Ctrl+C stops it."
    )

    @contextlib.asynccontextmanager
    async def registered(app: FastAPI):
        # Registered while requests are taken: `ask` then finds this service. uvicorn
        # runs the shutdown half before it ends the process on SIGTERM.
        registration = register(retriever.index.directory, url)
        try:
            yield
        finally:
            unregister(registration)

    app = create_app(retriever, config, lifespan=registered)
    # Logs, the access log included (uvicorn's goes to stdout), go to stderr like every command's.
    logs = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    logs["handlers"]["access"]["stream"] = "ext://sys.stderr"
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="info", log_config=logs, access_log=access_log, timeout_graceful_shutdown=5)
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn stopped on Ctrl+C, then raised it again: stopping was the point
    app.state.live.settle(timeout=5)
