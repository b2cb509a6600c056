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

Hostile clients are bounded: Host names (HostCheck), other sites' scripts (SameOrigin),
bodies in size and time (BodyLimit), request heads in size and time (GuardedH11Protocol),
and the work of a summary (create_app's lanes). Responses carry SecurityHeaders.
"""

import asyncio
import base64
import contextlib
import copy
import hashlib
import ipaddress
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar

import anyio
import h11
import uvicorn
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import AliasChoices, BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from . import __version__
from . import index as index_store
from .api import Retriever, summarize_text
from .config import (
    LIMITS,
    SEARCH_MODES,
    BadIndexError,
    InputError,
    ReadLimits,
    RetrieverError,
    SearchConfig,
    ServeConfig,
    SummaryConfig,
    UsageError,
)
from .digest import check_options, summarize_one
from .formats import TooMuchText
from .schemas import AskResponse, HealthResponse, InfoResponse, SummarizeResponse, errors
from .upload import UploadReader

log = logging.getLogger("retriever.serve")

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


# pydantic parses the fields; their bounds are checked by config's check_* (through
# Retriever.ask and digest.check_options), as for the CLI and the library, so that what
# one refuses the service refuses in the same words (400). The OpenAPI schema gives the
# bounds in these descriptions.
ABOUT = {
    "question": f"The question: 1 to {LIMITS.max_question_chars:,} characters",
    "k": f"How many passages: 1 to {LIMITS.max_k}",
    "mode": "How passages are ranked: " + ", ".join(SEARCH_MODES),
    "summary_chars": f"The summary's budget in characters: 0 (none) to {LIMITS.max_summary_chars:,}",
}
MODE_ENUM: dict[str, Any] = {"enum": list(SEARCH_MODES)}


class AskRequest(BaseModel):
    question: str = Field(validation_alias=AliasChoices("question", "q"), description=ABOUT["question"])
    k: int = Field(SearchConfig.k, description=ABOUT["k"])
    mode: str = Field(SearchConfig.mode, description=ABOUT["mode"], json_schema_extra=MODE_ENUM)
    summary_chars: int = Field(SummaryConfig.max_chars, description=ABOUT["summary_chars"])


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

# pydantic's words for a value of the wrong type, in the user's.
IN_USER_TERMS = {
    "missing": "{} is required",
    "int_type": "{} must be a whole number",
    "int_parsing": "{} must be a whole number",
    "int_from_float": "{} must be a whole number",
    "float_type": "{} must be a number",
    "float_parsing": "{} must be a number",
    "string_type": "{} must be a string",
    "json_invalid": "the body is not valid JSON",
    "model_type": "the body must be a JSON object",
    "model_attributes_type": "the body must be a JSON object",
}


def problem(error: Mapping[str, Any]) -> str:
    """One pydantic error as the service says it."""
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "body")) or "the body"
    words = IN_USER_TERMS.get(error.get("type", ""))
    return words.format(where) if words else f"{where}: {error.get('msg', 'invalid')}"


class BodyLimit:
    """ASGI middleware: a request body over `limit` bytes gets 413 and the JSON error,
    whether its length is announced (refused before it is read) or it comes chunked
    (refused once the count passes the limit). Its time is bounded by
    GuardedH11Protocol."""

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
        await response(scope, _no_body, send)


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_name(value: str) -> str:
    """The name in a Host header, without the port: `[::1]:8000` gives `::1`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def allowed_hosts(config: ServeConfig) -> frozenset[str] | None:
    """The Host names the service answers to, or None for any (ServeConfig.allowed_hosts):
    on loopback, the local names and the address listened on too (the URL announced)."""
    names = {host_name(name) for name in config.allowed_hosts}
    if "*" in names:
        return None
    if is_loopback(config.host):
        return LOCAL_NAMES | names | {host_name(config.host)}
    return LOCAL_NAMES | names if names else None


class HostCheck:
    """ASGI middleware: a request whose Host is not allowed gets 400 and the JSON error.

    Against DNS rebinding: a web page can make its own name resolve to 127.0.0.1, and
    its scripts then reach this service (which has no authentication) under that name.
    """

    def __init__(self, app, allowed: frozenset[str]):
        self.app, self.allowed = app, allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            name = host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
            if name not in self.allowed:
                message = (
                    f"host {name!r} is not allowed (this service answers to {', '.join(sorted(self.allowed))}); "
                    f"to allow it, start the service with --allow-host {name}"
                )
                return await JSONResponse({"error": message}, status_code=400)(scope, receive, send)
        await self.app(scope, receive, send)


class SameOrigin:
    """ASGI middleware: the API answers its own page and clients that are not browsers,
    never a script on another site (403). Any page the user visits could otherwise
    make the local service do its work, uploads and all: the Host check cannot tell,
    since the browser sends the right Host. Browsers say where a request comes from in
    Sec-Fetch-Site (all current ones) and Origin (on every POST); curl, `retriever ask`
    and scripts send neither.

    An Origin naming one of `public` (the names given with --allow-host) is the page's
    own too: a reverse proxy that rewrites Host sends the service its own address while
    the browser names the public one."""

    def __init__(self, app, public: frozenset[str] = frozenset()):
        self.app, self.public = app, public

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            headers = dict(scope["headers"])
            site = headers.get(b"sec-fetch-site", b"same-origin").decode("latin-1")
            origin = headers.get(b"origin")
            host = headers.get(b"host", b"").decode("latin-1").lower()
            if site not in ("same-origin", "none") or (origin is not None and not _same_origin(origin, host, self.public)):
                where = origin.decode("latin-1") if origin else f"a {site} page"
                message = f"cross-site request from {where} refused: the API answers its own page and programs, not other sites"
                return await JSONResponse({"error": message}, status_code=403)(scope, receive, send)
        await self.app(scope, receive, send)


def _same_origin(origin: bytes, host: str, public: frozenset[str]) -> bool:
    scheme, _, rest = origin.decode("latin-1").lower().partition("://")
    return scheme in ("http", "https") and (rest == host or host_name(rest) in public)


class SecurityHeaders:
    """ASGI middleware: headers that keep a browser from guessing a response's type,
    framing a page (clickjacking) or sending its address on; the search page also
    gets a Content-Security-Policy that allows its own inline script and styles (by
    their hashes) and requests to this service, nothing else."""

    def __init__(self, app, page_policy: str):
        self.app, self.page_policy = app, page_policy.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
        if scope["path"] == "/":
            extra.append((b"content-security-policy", self.page_policy))

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def page_policy(page: str) -> str:
    """The search page's Content-Security-Policy: its one inline script and style
    allowed by hash, fetches to this service, nothing from elsewhere."""
    digest = lambda tag: "".join(  # noqa: E731
        f" 'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
    )
    return (
        f"default-src 'none'; script-src{digest('script')}; style-src{digest('style')}; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


# The page's icon (also what /favicon.ico answers, which browsers ask for on every load).
FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0b6bcb"/>'
    b'<circle cx="14" cy="14" r="7" fill="none" stroke="#fff" stroke-width="3"/>'
    b'<path d="M19 19l7 7" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/></svg>'
)

HEAD_END = re.compile(rb"\n\r?\n")  # the blank line that ends a request head, as h11 finds it


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with four guards that uvicorn has no setting for.

    uvicorn runs h11 here (its "auto" takes httptools only when installed, and it is
    not); http_server() gives it this subclass, with the limits of `limits`.
    - The request line and headers must arrive within header_timeout_s of the
      connection opening or the previous answer ending: a client trickling header
      lines (slowloris) held its connection for ever, since every byte stopped
      uvicorn's keep-alive timer.
    - The body must arrive within body_timeout_s of the head, or gets 408 (the request
      handler hears that the client is gone): a client sending a byte now and then
      held its connection, and a file descriptor, for ever.
    - A request line or headers over the limits get 414 or 431 and the JSON error,
      where h11 answered a bare 400 past 16 KB (a 2,000-character question is 18 KB
      of URL).
    - After such an answer, a lingering close: the unread rest of the request is read
      and dropped a while (linger_s), since closing on unread data sends a TCP reset,
      which can destroy the answer before the client reads it.
    """

    limits: ClassVar[ServeConfig] = CONFIG

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # One clock at a time: for the head while h11 awaits one (IDLE), for the body
        # while it awaits that (SEND_BODY); `timed` is the state it runs for.
        self.timer: asyncio.TimerHandle | None = None
        self.timed: type[h11.IDLE] | type[h11.SEND_BODY] | None = None
        self.lingering = False
        super().connection_made(transport)
        self.watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # dropped: the answer is sent, the connection closing
        super().data_received(data)
        self.watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.watch()

    def watch(self) -> None:
        """Start the head's clock when h11 begins to wait for a request (IDLE), the body's
        when the head is in and a body is awaited (SEND_BODY); stop it when what it times
        is in, or the connection goes. Later bytes do not restart it."""
        state = self.conn.their_state
        if state not in (h11.IDLE, h11.SEND_BODY) or self.lingering or self.transport.is_closing():
            self.stop_timer()
        elif self.timed is not state:
            self.stop_timer()
            head = state is h11.IDLE
            seconds = self.limits.header_timeout_s if head else self.limits.body_timeout_s
            self.timer = self.loop.call_later(seconds, self.head_timed_out if head else self.body_timed_out)
            self.timed = state

    def stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.timed = None

    def body_timed_out(self) -> None:
        self.timer = self.timed = None
        if self.conn.their_state is not h11.SEND_BODY:
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_started:
            self.transport.close()  # answered already (413): nothing more to say
            return
        if cycle is not None:  # the handler waiting for the body hears that the client left
            cycle.disconnected = True
            cycle.message_event.set()
        self.refuse(408, f"the request body did not arrive within {self.limits.body_timeout_s:g} s")

    def handle_events(self) -> None:
        # Before h11 reads a head: past its own limit, it answers a bare 400 and closes.
        if self.conn.their_state is h11.IDLE and (refusal := self.oversized(self.conn.trailing_data[0])):
            return self.refuse(*refusal)
        super().handle_events()

    def head_timed_out(self) -> None:
        self.timer = self.timed = None
        if self.conn.trailing_data[0]:
            self.refuse(408, f"the request line and headers did not arrive within {self.limits.header_timeout_s:g} s")
        else:
            self.transport.close()  # nothing was asked: nothing to answer

    def oversized(self, buffer: bytes) -> tuple[int, str] | None:
        """(414 or 431, why) for a request head, whole or in part, over the limits."""
        end = HEAD_END.search(buffer)
        head = len(buffer) if end is None else end.start()
        line = buffer.find(b"\n", 0, head)
        line = head if line < 0 else line
        if line > self.limits.max_request_line_bytes:
            return 414, f"request line too long: the limit is {self.limits.max_request_line_bytes:,} bytes"
        if head - line > self.limits.max_header_bytes:
            return 431, f"request headers too large: the limit is {self.limits.max_header_bytes:,} bytes"
        return None

    def refuse(self, status: int, message: str) -> None:
        """Answer with the JSON error, then close in a way that lets the client read it."""
        log.warning("refused a request from %s: %d %s", self.client[0] if self.client else "a client", status, message)
        self.stop_timer()
        body = JSONResponse({"error": message}).body
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        response = h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status])
        self.transport.write(
            self.conn.send(response) + self.conn.send(h11.Data(data=bytes(body))) + self.conn.send(h11.EndOfMessage())
        )
        self.lingering = True
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then its end: the client reads both and closes
        self.loop.call_later(self.limits.linger_s, self.transport.close)


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
    asks = threading.BoundedSemaphore(config.concurrent_asks)
    # Summaries run in two lanes of worker threads: short texts concurrent_asks at a
    # time, long ones one at a time (each already uses every core), so that a short
    # text never waits behind a long one. A request waits for its lane without holding
    # a worker thread: long texts queued on a lock would take the threads that every
    # other request needs.
    small_lane, big_lane = anyio.CapacityLimiter(config.concurrent_asks), anyio.CapacityLimiter(1)
    # Uploads are read (parsed, decoded, cleaned) concurrent_reads at a time, each in a
    # process of its own (upload.py), and refused as soon as their text passes the
    # summary's limit: before cleaning, which takes seconds a million characters.
    reads = anyio.CapacityLimiter(config.concurrent_reads)
    reader = UploadReader(
        ReadLimits(max_chars=config.max_summarize_chars, max_seconds=config.max_read_seconds), config.max_read_memory_mb << 20
    )
    page = resources.files("retriever").joinpath("page.html").read_text(encoding="utf-8")
    started = time.time()
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
    app.state.reader = reader

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def too_long(what: str, chars: int | None = None) -> str:
        """413's words: the text's length where it was counted; a text refused while
        it was read is known only to be longer than the limit."""
        limit = config.max_summarize_chars
        if chars is None:
            return f"{what} is too long to summarize here: more than {limit:,} characters"
        return f"{what} is too long to summarize here: {chars:,} characters, the limit is {limit:,}"

    @app.exception_handler(RequestValidationError)
    @app.exception_handler(ValidationError)
    async def invalid(request: Request, exc: RequestValidationError | ValidationError) -> JSONResponse:
        problems = dict.fromkeys(problem(e) for e in exc.errors())  # once each, in order
        return error(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RetrieverError)
    async def retriever_error(request: Request, exc: RetrieverError) -> JSONResponse:
        status = (
            400
            if isinstance(exc, UsageError)
            else 422
            if isinstance(exc, InputError)
            else 503
            if isinstance(exc, BadIndexError)
            else 500
        )
        return error(status, str(exc))

    @app.exception_handler(ClientDisconnect)
    async def went_away(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # Nothing failed and nobody reads the answer: one line, where uvicorn logged a traceback.
        log.warning("client went away during the upload to %s", request.url.path)
        return error(400, "client went away")

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

    # Every route may meet the guards in front of it: a Host not allowed or a cross-site
    # request (400, 403), a body too large or too slow (413, 408), a stopping service (503).
    guarded = (400, 403, 408, 413, 500, 503)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get(
        "/healthz", summary="Alive, and what is served", response_model=None,
        responses={200: {"model": HealthResponse}, **errors(*guarded)},
    )  # fmt: skip
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

    ask_responses = {200: {"model": AskResponse}, **errors(*guarded, 422)}

    @app.get(
        "/api/ask", summary="The passages most relevant to a question, and a cited summary", response_model=None,
        responses=ask_responses,
    )  # fmt: skip
    def ask_get(
        q: Annotated[str, Query(description=ABOUT["question"])],
        k: Annotated[int, Query(description=ABOUT["k"])] = SearchConfig.k,
        mode: Annotated[str, Query(description=ABOUT["mode"], json_schema_extra=MODE_ENUM)] = SearchConfig.mode,
        summary_chars: Annotated[int, Query(description=ABOUT["summary_chars"])] = SummaryConfig.max_chars,
    ) -> JSONResponse:
        return answer(AskRequest(question=q, k=k, mode=mode, summary_chars=summary_chars))

    @app.post("/api/ask", summary="The same as GET, the question in a JSON body", response_model=None, responses=ask_responses)
    def ask_post(req: AskRequest) -> JSONResponse:
        return answer(req)

    @app.post(
        "/api/summarize",
        summary="Summarize a document: JSON text, or a file uploaded as multipart/form-data",
        response_model=None,
        responses={200: {"model": SummarizeResponse}, **errors(*guarded, 415, 422, 499)},
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
            check_options(req.max_chars, req.ratio, req.query)  # before waiting for a lane
            what, chars = "the text", len(req.text)
            work = lambda: summarize_text(  # noqa: E731
                req.text, req.max_chars, req.ratio, req.query, req.title, embedder=Stoppable(retriever.embedder, stop)
            )
        elif kind == "multipart/form-data":
            data, name, options = await uploaded(request)
            check_options(options.max_chars, options.ratio, options.query)
            # Read as a file of that name would be (its suffix gives the format).
            name = os.path.basename(name) or "upload"
            try:
                doc = await anyio.to_thread.run_sync(lambda: reader.read(data, name), limiter=reads)
            except TooMuchText:
                raise HTTPException(413, too_long(name)) from None
            what, chars = doc.path, len(doc.text)
            work = lambda: summarize_one(  # noqa: E731
                doc, Stoppable(retriever.embedder, stop), options.max_chars, options.ratio, options.query
            )
        else:
            return error(415, 'send JSON {"text": …} or a multipart/form-data upload with a `file` field')
        if chars > config.max_summarize_chars:
            raise HTTPException(413, too_long(what, chars))
        lane = small_lane if chars <= config.small_summarize_chars else big_lane
        summary = await unless_client_leaves(
            request, stop, lambda: anyio.to_thread.run_sync(work, limiter=lane, abandon_on_cancel=True), shutdown
        )
        if summary is None and shutdown.stopping:
            return error(503, STOPPING)
        if summary is None:
            log.info("client went away: its summary of %s stopped", what)
            return error(499, "client went away")  # nobody reads it
        return JSONResponse(summary.to_dict())

    @app.get(
        "/api/info", summary="What is indexed, with which model, and the sizes", response_model=None,
        responses={200: {"model": InfoResponse}, **errors(*guarded)},
    )  # fmt: skip
    def info() -> JSONResponse:
        return JSONResponse(live.current().info())

    return app


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


STOPPING = "the service is stopping; ask again when it is back"


class Shutdown:
    """What is stopped when the service is told to stop (SIGTERM, Ctrl+C): summaries
    under way stop at their next batch and those waiting for a lane never start, each
    answered 503, before uvicorn's grace period ends and it cancels what is left."""

    def __init__(self):
        self.stopping = False
        self._running: set = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def begin(self) -> None:
        """Called from the signal handler: the cancelling is done by the event loop."""
        self.stopping = True
        if self._loop is not None:
            for cancel in list(self._running):
                self._loop.call_soon_threadsafe(cancel)

    @contextlib.contextmanager
    def running(self, cancel):
        """Within the block, `cancel` is called when the service stops (at once if it is stopping)."""
        self._loop = asyncio.get_running_loop()
        if self.stopping:
            cancel()
        self._running.add(cancel)
        try:
            yield
        finally:
            self._running.discard(cancel)


class Stopping:
    """ASGI middleware: a request that uvicorn cancels as it stops gets 503 if it has no
    answer yet, and the cancellation ends here, instead of a 500 and a traceback in the
    log for each."""

    def __init__(self, app, shutdown: Shutdown):
        self.app, self.shutdown = app, shutdown

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        answered = False

        async def tracked(message):
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except asyncio.CancelledError:
            if not self.shutdown.stopping:
                raise
            if not answered:
                with contextlib.suppress(Exception):
                    await JSONResponse({"error": STOPPING}, status_code=503)(scope, _no_body, send)


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

    from .client import register, unregister

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    logging.getLogger("retriever").addHandler(handler)
    logging.getLogger("retriever").setLevel(logging.INFO)
    # The event loop shares the interpreter with threads reading uploads (pypdf, lxml:
    # Python): switching every millisecond, not every 5, lets it answer between their steps.
    sys.setswitchinterval(config.switch_interval_s)

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
        f"Serving {retriever.index.directory} ({m['corpus']['documents']} documents, {m['corpus']['passages']} passages, "
        f"{m['model']['name']} {m['model']['backend']}; ready in {time.perf_counter() - started:.1f} s)\n"
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
