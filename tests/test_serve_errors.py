"""An unexpected error in a page of `pipeline serve`: the visitor gets the error page, and the log one line and a
traceback with no subscriber's address in them (the README promises `serve`'s log holds none)."""

from __future__ import annotations

import logging

import httpx
import pytest

from pipeline.web import pages
from tests.serve_fixtures import live_serve_project

ADDRESS = "typed.by.anyone@example.org"


async def _preferences_that_fail(request):
    raise ValueError(f"no subscriber matches {ADDRESS!r}")  # as a library's error may name what it was given


@pytest.fixture
def logged(caplog):
    """`watch()`, called once uvicorn has set its logging up, has `caplog` take every record of uvicorn's error
    logger (which does not reach the root one) and of the app's."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    caplog.set_level(logging.INFO, logger="pipeline.web")
    caplog.watch = lambda: uvicorn_log.addHandler(caplog.handler)
    yield caplog
    uvicorn_log.removeHandler(caplog.handler)


def _text(caplog) -> str:
    formatter = logging.Formatter()
    return "\n".join(formatter.format(record) for record in caplog.records)


def _failing_preferences(tmp_path_factory, monkeypatch, logged, name: str) -> tuple[httpx.Response, str, str]:
    """A preferences page that raises, asked for on a live `serve`: its answer, the token asked with, what was logged
    (once it is seen serving the next request)."""
    monkeypatch.setattr(pages, "preferences_page", _preferences_that_fail)
    with live_serve_project(tmp_path_factory, name) as server:
        logged.watch()
        token = server.app.state.web.links.tokens.make("preferences", 1)
        answer = httpx.get(f"{server.url}/preferences/{token}", timeout=10)
        assert httpx.get(f"{server.url}/subscribe", timeout=10).status_code == 200  # and it goes on serving
    return answer, token, _text(logged)


def test_an_unexpected_error_in_a_page_logs_no_address(tmp_path_factory, monkeypatch, logged):
    """A route raising an exception whose message held an address reached uvicorn's log as "Exception in ASGI
    application" with the whole traceback, the address in it. Now the visitor still gets the site's 500 page, and
    the app logs one line naming the request's method and route, with the traceback, every address masked;
    uvicorn logs nothing of it."""
    answer, token, text = _failing_preferences(tmp_path_factory, monkeypatch, logged, "failing-page")
    assert answer.status_code == 500
    assert "Something went wrong" in answer.text
    assert answer.headers["x-frame-options"] == "DENY"  # the protective headers, as on every page
    assert ADDRESS not in text and "typed.by.anyone" not in text, text
    assert "ValueError: no subscriber matches '<an address>'" in text, text
    assert "GET /preferences/…" in text, text  # which page failed, without its token
    assert token not in text
    assert not [r for r in logged.records if r.name.startswith("uvicorn")], text


def test_an_error_page_that_cannot_be_rendered_still_answers_500(tmp_path_factory, monkeypatch, logged):
    """When the error page itself fails to render, the visitor gets a plain 500 and the log holds both failures,
    masked."""
    def broken_page(web):
        raise RuntimeError(f"template missing for {ADDRESS}")

    monkeypatch.setattr(pages, "server_error", broken_page)
    answer, _, text = _failing_preferences(tmp_path_factory, monkeypatch, logged, "failing-error-page")
    assert answer.status_code == 500
    assert answer.text == "Internal Server Error"
    assert "typed.by.anyone" not in text, text
    assert "template missing for <an address>" in text and "no subscriber matches" in text, text


def test_each_kind_of_bad_request_is_said_again_each_hour_with_how_many_came():
    """uvicorn's warning of a request it cannot parse was said once and then never again until `serve` restarted:
    a flood a week later, or one lasting for days, left no line at all. Now it is said at most once an hour, with how
    many came since, so the log holds one line an hour however many requests come."""
    from pipeline.web.server_log import EVERY, _OncePerRequestKind

    now = [1000.0]
    said = _OncePerRequestKind(clock=lambda: now[0])

    def warn(message: str) -> str | None:
        record = logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 0, message, (), None)
        return record.getMessage() if said.filter(record) else None

    first = warn("Invalid HTTP request received.")
    assert first is not None and "said at most once every 60 minutes" in first
    assert [warn("Invalid HTTP request received.") for _ in range(41)] == [None] * 41
    assert warn("Unsupported upgrade request.") is not None  # another kind: its own count
    assert warn("No supported WebSocket library detected.") is None  # the advice: never
    assert warn("Something else went wrong.") == "Something else went wrong."  # any other line: as it is
    now[0] += EVERY - 1
    assert warn("Invalid HTTP request received.") is None
    now[0] += 1
    again = warn("Invalid HTTP request received.")
    assert again == "Invalid HTTP request received. (from a client; 43 such requests in the last 60 minutes)", again
    now[0] += 10 * EVERY  # a quiet week: the next one is said at once, counting itself
    assert warn("Invalid HTTP request received.").endswith("(from a client; 1 such request in the last 600 minutes)")
