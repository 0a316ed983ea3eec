"""HTTP pieces the service adds around BentoML: a request body size limit and JSON errors.

BentoML reads the whole body into memory before validating it, so without a limit one client can
make a worker allocate whatever it sends. :class:`BodySizeLimit` refuses larger bodies with 413
before anything is parsed: at once when ``Content-Length`` says so, and while reading when the body
comes in chunks without a length.
"""

from __future__ import annotations

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
