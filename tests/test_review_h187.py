"""Review h187: the pages of `pipeline serve` on a phone (320 px): nothing scrolls sideways."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from urllib.parse import urlparse

import pytest

from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.browser_fixtures import browser  # noqa: F401
from tests.serve_fixtures import live_serve_project

CLIENTS = (f"192.0.2.{n}" for n in itertools.count(101))
SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth"


@pytest.fixture(scope="module", params=["cy", "ar"])
def live(tmp_path_factory, request):
    with live_serve_project(tmp_path_factory, f"h187-{request.param}", request.param) as server:
        yield server


def _phone(browser, live):  # noqa: F811
    made = browser.new_context(base_url=live.url, viewport={"width": 320, "height": 640},
                               extra_http_headers={"X-Forwarded-For": next(CLIENTS)})
    made.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).hostname == "127.0.0.1"
               else route.abort())
    return made


def test_the_confirm_page_with_a_long_name_does_not_scroll_sideways(browser, live):  # noqa: F811
    address = f"long-name-{next(CLIENTS).replace('.', '-')}@example.org"
    with _phone(browser, live) as ctx:
        tab = ctx.new_page()
        tab.goto("/subscribe")
        tab.get_by_label("Email address").fill(address)
        tab.get_by_label("Your name").fill("Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch-" * 2)
        tab.get_by_role("button", name="Subscribe").click()
        message = live.wait_for_message(address)
        tab.goto(re.search(r"https://network\.example\.org(/confirm/\S+)", message.get_content()).group(1))
        assert tab.get_by_text("Llanfairpwll", exact=False).count() == 1
        assert not tab.evaluate(SIDEWAYS)


def test_no_page_scrolls_sideways_right_to_left(browser, live):  # noqa: F811
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    try:
        member = subs.add(store, f"rtl-{next(CLIENTS)}@example.org", "", [], how="cli", at=datetime.now(UTC))
    finally:
        store.close()
    tokens = live.app.state.web.links.tokens
    with _phone(browser, live) as ctx:
        tab = ctx.new_page()
        for path in ("/subscribe", "/preferences/" + tokens.make("preferences", member.id),
                     "/unsubscribe/" + tokens.make("unsubscribe", member.id), "/unsubscribe/forged", "/nowhere"):
            tab.goto(path)
            assert not tab.evaluate(SIDEWAYS), f"{path} ({live.project.core.language}) scrolls sideways"


def test_a_problem_with_the_form_is_in_the_title_and_has_the_focus(browser, live):  # noqa: F811
    with _phone(browser, live) as ctx:
        tab = ctx.new_page()
        tab.goto("/subscribe")
        tab.get_by_label("Email address").fill("someone@example")  # the browser lets it through; the server does not
        tab.get_by_role("button", name="Subscribe").click()
        assert tab.title().startswith("Error: Subscribe to the newsletter")
        assert tab.evaluate("document.activeElement.id") == "problem"
        assert tab.locator("#problem").get_attribute("role") == "alert"
