"""The real-browser helper (tests/browser.py) catches what it promises to catch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import Browser, is_local

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


def _page(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(
        f"<!doctype html><html><head><title>{name}</title></head><body>{body}</body></html>"
    )
    return path


def test_a_clean_local_page_has_no_problems_and_gets_a_screenshot(browser, tmp_path):
    (tmp_path / "style.css").write_text("h1 { color: #c0392b }")
    page = _page(tmp_path, "clean.html", '<link rel="stylesheet" href="style.css"><h1>ok</h1>')
    seen = browser.check(page, tmp_path / "shots/clean.png")
    assert seen.problems == []
    assert seen.title == "clean.html"
    assert (tmp_path / "shots/clean.png").read_bytes().startswith(PNG)


def test_script_errors_are_caught_both_logged_and_uncaught(browser, tmp_path):
    page = _page(
        tmp_path,
        "broken.html",
        "<script>console.error('chart failed'); setTimeout(() => undefinedFn(), 50)</script>",
    )
    seen = browser.check(page, tmp_path / "broken.png")
    assert any("chart failed" in e for e in seen.console_errors), seen
    assert any("undefinedFn" in e for e in seen.page_errors), seen
    assert len(seen.problems) >= 2


def test_a_request_to_another_host_is_refused_and_reported(browser, tmp_path):
    page = _page(
        tmp_path,
        "remote.html",
        '<script src="https://cdn.example.org/lib.js"></script><img src="http://example.com/a.png">',
    )
    seen = browser.check(page, tmp_path / "remote.png")
    assert sorted(seen.network_requests) == [
        "http://example.com/a.png",
        "https://cdn.example.org/lib.js",
    ]
    assert any("network request (not local)" in p for p in seen.problems)


def test_a_missing_local_file_is_a_failed_request(browser, tmp_path):
    page = _page(tmp_path, "missing.html", '<img src="no-such-chart.png">')
    seen = browser.check(page, tmp_path / "missing.png")
    assert any("no-such-chart.png" in r for r in seen.failed_requests), seen


def test_only_this_machine_counts_as_local():
    assert is_local("file:///tmp/x.html")
    assert is_local("data:image/png;base64,AAAA")
    assert is_local("http://127.0.0.1:8000/api/projects")
    assert is_local("http://localhost:5000/#/experiments/1")
    assert not is_local("https://cdn.jsdelivr.net/npm/plotly.js")
    assert not is_local("http://127.0.0.1.example.com/")
