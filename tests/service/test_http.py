"""The request timeout that replaces BentoML's: same answers, no timer left behind.

Driven as ASGI in process (no server): what matters is what stays scheduled on the event loop
after each request, which a served test cannot see.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from bentoml._internal.server.http import traffic

from level2.service.http import RequestTimeout

#: BentoML's own middleware, whether or not the service module has replaced it yet.
BentoMLTimeout = RequestTimeout.replaced or traffic.TimeoutMiddleware

App = Callable[[dict, Callable, Callable], Awaitable[None]]


async def answer_ok(scope: dict, receive: Callable, send: Callable) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def answer_late(scope: dict, receive: Callable, send: Callable) -> None:
    await asyncio.sleep(5)
    await answer_ok(scope, receive, send)


async def fail_before_answering(scope: dict, receive: Callable, send: Callable) -> None:
    raise RuntimeError("the app failed")


async def call(app: App) -> list[dict]:
    """One HTTP request through ``app``; the ASGI messages it sent."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/predict"}, receive, send)
    return sent


def live_timers(loop: asyncio.AbstractEventLoop) -> int:
    return sum(not handle.cancelled() for handle in loop._scheduled)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("middleware", "left"), [(RequestTimeout, 0), (BentoMLTimeout, 200)])
def test_no_timer_outlives_its_answered_request(middleware, left: int) -> None:
    """BentoML's leaves one timer per request for the whole timeout; the replacement none."""

    async def run() -> tuple[int, list[list[dict]]]:
        app = middleware(answer_ok, timeout=60)
        answers = [await call(app) for _ in range(200)]
        return live_timers(asyncio.get_running_loop()), answers

    timers, answers = asyncio.run(run())
    assert timers == left
    assert all(a[0]["status"] == 200 and a[1]["body"] == b"ok" for a in answers)


def test_a_request_past_the_timeout_gets_a_504_naming_it() -> None:
    sent = asyncio.run(call(RequestTimeout(answer_late, timeout=0.05)))
    assert sent[0]["status"] == 504
    assert json.loads(sent[1]["body"]) == {
        "error": "Not able to process the request in 0.05 seconds"
    }


def test_an_app_that_fails_before_answering_raises_at_once_not_at_the_timeout() -> None:
    async def run() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(RuntimeError, match="the app failed"):
            await call(RequestTimeout(fail_before_answering, timeout=30))
        assert live_timers(loop) == 0
        return loop.time() - start

    assert asyncio.run(run()) < 5
