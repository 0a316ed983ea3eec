"""HTTP pieces the service adds around BentoML: a body size limit, JSON only, and JSON errors.

BentoML reads the whole body into memory before validating it, so without a limit one client can
make a worker allocate whatever it sends. :class:`BodySizeLimit` refuses larger bodies with 413
before anything is parsed: at once when ``Content-Length`` says so, and while reading when the body
comes in chunks without a length.

BentoML also picks a parser by ``Content-Type``: forms and multipart (which can fetch files from
URLs for file fields) and its own pickle format besides JSON. Every endpoint of this service takes
JSON, so :class:`JsonOnly` answers 415 to any other declared type before a parser runs: a smaller
attack surface, and a clear answer to ``curl -d`` without ``-H 'Content-Type: application/json'``
(curl then says ``application/x-www-form-urlencoded``) instead of a confusing validation error.

And :class:`RequestTimeout` replaces BentoML's own ``TimeoutMiddleware`` (``traffic.timeout``),
which schedules a timer for every request and never cancels it: each one stays alive, with its
future and context, for the whole timeout. At 1,300 requests/s and the 60 s timeout that is some
78,000 live timers. Measured once by hand in the served service (8 connections, 20 s of ``wrk``,
the collector's generations counted from inside the worker): 22,252 timers and 134,560 objects
in the oldest generation, and each full collection of them paused the event loop for 34 ms, the
tail of the latency. ``tests/service/test_http.py`` counts the timers left by both middlewares.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def error_response(status: int, message: str, **extra: Any) -> JSONResponse:
    """A JSON error body ``{"error": message, ...}`` with ``status``."""
    return JSONResponse({"error": message, **extra}, status_code=status)


class BodySizeLimit:
    """ASGI middleware: answer 413 to any HTTP request whose body exceeds ``max_bytes``.

    Args:
        app: the wrapped ASGI application.
        max_bytes: the largest body accepted.
        setting: the name of the setting that controls the limit, quoted in the error.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, setting: str = "the limit") -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.setting = setting

    def _too_large(self, size: str) -> JSONResponse:
        return error_response(
            413,
            f"request body of {size} bytes exceeds the limit of {self.max_bytes} bytes "
            f"({self.setting})",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await error_response(400, "Content-Length is not an integer")(scope, receive, send)
                return
            if length > self.max_bytes:
                await self._too_large(str(length))(scope, receive, send)
                return
            # The server (h11/httptools) holds the body to the declared length: nothing to count.
            await self.app(scope, receive, send)
            return
        # No length announced (chunked): read up to the limit first, then replay to the app.
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._too_large(f"more than {self.max_bytes}")(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            if messages:
                return messages.pop(0)
            return await receive()

        await self.app(scope, replay, send)


class JsonOnly:
    """ASGI middleware: answer 415 to a ``POST`` whose ``Content-Type`` is not JSON.

    A missing ``Content-Type`` is taken as JSON (BentoML's default); parameters such as
    ``charset`` are ignored (JSON is UTF-8).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") == "POST":
            declared = dict(scope.get("headers") or []).get(b"content-type")
            if declared is not None:
                media = declared.split(b";", 1)[0].strip().lower()
                if media != b"application/json":
                    shown = media.decode("latin-1")[:100]
                    response = error_response(
                        415,
                        f"Content-Type {shown!r} is not supported: send the body as JSON with "
                        "'Content-Type: application/json'",
                        field="Content-Type",
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class RequestTimeout:
    """ASGI middleware: BentoML's ``traffic.timeout``, with its timer cancelled once answered.

    The same behaviour as ``bentoml._internal.server.http.traffic.TimeoutMiddleware`` (same
    arguments; a 504 with a JSON ``error`` when no response has started within ``timeout``
    seconds), except that the timer is cancelled as soon as the response starts, instead of
    living on for the rest of the timeout (see the module docstring). Installed in its place by
    :func:`replace_bentoml_timeout`.
    """

    #: The class this one replaced (set by :func:`replace_bentoml_timeout`).
    replaced: type | None = None

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    @staticmethod
    def _expire(waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_exception(TimeoutError())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(self.timeout, self._expire, waiter)

        async def started(message: Message) -> None:
            if not waiter.done():
                waiter.set_result(None)  # the timer is cancelled as the wait below ends
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, started))
        # An app that fails before it answers ends the wait too (BentoML's waits out the timeout).
        task.add_done_callback(lambda _: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        except TimeoutError:
            if task.cancel():
                response = error_response(
                    504, f"Not able to process the request in {self.timeout:g} seconds"
                )
                await response(scope, receive, send)
            return
        finally:
            timer.cancel()
        await task


def replace_bentoml_timeout() -> None:
    """Make BentoML build :class:`RequestTimeout` where it would build its ``TimeoutMiddleware``.

    BentoML imports the class from its ``traffic`` module each time it assembles a worker's
    middleware, so replacing the module's name before the app is built is enough; the service
    module calls this at import, which happens first.
    """
    from bentoml._internal.server.http import traffic

    if traffic.TimeoutMiddleware is not RequestTimeout:
        RequestTimeout.replaced = traffic.TimeoutMiddleware  # BentoML's, for the tests
        traffic.TimeoutMiddleware = RequestTimeout  # type: ignore[misc,assignment]
