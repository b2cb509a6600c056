"""What stands between the service and hostile clients: Host names (HostCheck), other
sites' scripts (SameOrigin), bodies in size and time (BodyLimit), request heads in size
and time (GuardedH11Protocol), security headers on every response (SecurityHeaders),
and the refusal of new work while the service stops (Shutdown, Stopping)."""

import asyncio
import base64
import contextlib
import hashlib
import ipaddress
import logging
import re
from typing import ClassVar

import h11
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from retriever.config import ServeConfig

log = logging.getLogger("retriever.serve")
# The service's default settings; a connection is held to their bounds before any app
# sees it (GuardedH11Protocol.limits; http_server gives a server its own).
CONFIG = ServeConfig()


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


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
