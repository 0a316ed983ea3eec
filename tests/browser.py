"""Open a page in a real headless Chromium, as a person would, and say what went wrong.

Playwright's Python package drives Debian's ``chromium-headless-shell`` (``make system-deps``
installs it); Playwright's own browser builds are never downloaded. :class:`Browser` starts the
browser once (about 2 s here), then :meth:`Browser.check` opens one page (a file or a local
server's address), collects console errors, uncaught page errors and failed requests, refuses
every request to a host other than this machine (a page that needs the network is a failure:
the project runs offline), and writes a full-page screenshot.

Usage::

    with Browser() as browser:
        seen = browser.check(path_or_url, ROOT / "var/screenshots/page.png")
    assert not seen.problems, seen.problems
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
#: Screenshots go here: under var/, which git ignores.
SCREENSHOTS = ROOT / "var" / "screenshots"
#: Debian's headless Chromium; ``FRAUDOPS_CHROMIUM`` names another binary.
CHROMIUM = "/usr/bin/chromium-headless-shell"
#: Hosts a page may load from: this machine (a local server such as ``evidently ui``).
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: Schemes that never leave the machine.
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about"})


def chromium_path() -> str:
    """The Chromium binary to drive.

    Raises:
        FileNotFoundError: it is not installed (``make system-deps`` installs it).
    """
    path = os.environ.get("FRAUDOPS_CHROMIUM") or shutil.which(CHROMIUM) or CHROMIUM
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"{path} not found: `make system-deps` installs Debian's chromium-headless-shell"
        )
    return path


def is_local(url: str) -> bool:
    """Does ``url`` stay on this machine (a file, inline data or a loopback server)?"""
    parts = urlparse(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOCAL_HOSTS


@dataclass
class Seen:
    """What one page did while it loaded and settled."""

    url: str
    title: str = ""
    screenshot: Path | None = None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    #: Requests to another host, refused (the page would need the network).
    network_requests: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Every error, one line each; empty when the page rendered cleanly."""
        return (
            [f"console error: {m}" for m in self.console_errors]
            + [f"page error: {m}" for m in self.page_errors]
            + [f"request failed: {m}" for m in self.failed_requests]
            + [f"network request (not local): {m}" for m in self.network_requests]
        )


class Browser:
    """One headless Chromium for several pages (a context manager).

    Args:
        viewport: the window's width and height in CSS pixels.
    """

    def __init__(self, viewport: tuple[int, int] = (1280, 900)) -> None:
        self.viewport = viewport
        self._playwright = None
        self._browser = None

    def __enter__(self) -> Browser:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        try:
            # --no-sandbox: the tests run as root here, where Chromium's sandbox refuses to start.
            self._browser = self._playwright.chromium.launch(
                executable_path=chromium_path(), args=["--no-sandbox"]
            )
        except BaseException:
            self._playwright.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._playwright is not None:
            self._playwright.stop()

    def check(
        self,
        target: str | Path,
        screenshot: Path,
        *,
        wait_for: str | None = None,
        settle_ms: int = 300,
        timeout_ms: int = 15_000,
        full_page: bool = True,
    ) -> Seen:
        """Open one page in a fresh context, let it settle, screenshot it, report what it did.

        Args:
            target: a file (path) or an address (``file://``, ``http://127.0.0.1:PORT/...``).
            screenshot: the PNG to write (its folder is made).
            wait_for: a selector to wait for before the screenshot (a web app such as the
                Evidently UI renders after its scripts fetched their data).
            settle_ms: how long to wait after the load for late errors (timers, fetches).
            timeout_ms: the limit for the load and for ``wait_for``.
            full_page: screenshot the whole page, not only the window (a monitoring report is
                about 25,000 px high with Evidently's part; its window shows the decision).

        Returns:
            What the page did (:attr:`Seen.problems` lists the errors).
        """
        assert self._browser is not None, "use Browser() as a context manager"
        url = target if isinstance(target, str) else Path(target).resolve().as_uri()
        seen = Seen(url=url)
        context = self._browser.new_context(
            viewport={"width": self.viewport[0], "height": self.viewport[1]}
        )
        try:

            def route(route_: object) -> None:
                request = route_.request  # type: ignore[attr-defined]
                if is_local(request.url):
                    route_.continue_()  # type: ignore[attr-defined]
                else:
                    seen.network_requests.append(request.url)
                    route_.abort("blockedbyclient")  # type: ignore[attr-defined]

            context.route("**/*", route)
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    seen.console_errors.append(f"{m.text} ({m.location.get('url', '')})")
                    if m.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
            page.on(
                "requestfailed",
                lambda r: (
                    seen.failed_requests.append(f"{r.url}: {r.failure}")
                    if is_local(r.url)  # a refused remote request is listed once, above
                    else None
                ),
            )
            page.goto(url, wait_until="load", timeout=timeout_ms)
            if wait_for:
                page.wait_for_selector(wait_for, timeout=timeout_ms)
            page.wait_for_timeout(settle_ms)
            seen.title = page.title()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=full_page)
            seen.screenshot = screenshot
        finally:
            context.close()
        return seen
