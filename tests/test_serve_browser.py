"""The pages of `pipeline serve` in headless Chromium: filled in and clicked through, with JavaScript off
(the pages need none), and every page checked by axe-core in light and dark, with no violation.

axe-core's `axe.min.js` comes from the `axe-playwright-python` package (test extra).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlparse

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, expect

from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.serve_fixtures import LiveServer, live_serve_project

CLIENTS = (f"192.0.2.{n}" for n in itertools.count(1))  # documentation addresses, one per browser context
AXE = Axe()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    with live_serve_project(tmp_path_factory, "serve-browser") as server:
        yield server


@pytest.fixture
def store(live) -> Iterator[Store]:
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    yield store
    store.close()


def context(browser: Browser, live: LiveServer, **options) -> BrowserContext:
    """A browser of its own (its own client address, as the proxy reports it) that never leaves loopback."""
    made = browser.new_context(base_url=live.url, extra_http_headers={"X-Forwarded-For": next(CLIENTS)}, **options)
    made.route("**/*", lambda route: route.continue_() if urlparse(route.request.url).hostname == "127.0.0.1"
               else route.abort())
    return made


def confirm_path(live: LiveServer, address: str) -> str:
    message = live.wait_for_message(address)
    return re.search(r"https://network\.example\.org(/confirm/\S+)", message.get_content()).group(1)


def test_join_choose_and_leave_with_javascript_off(browser, live, store):
    with context(browser, live, java_script_enabled=False) as ctx:
        tab = ctx.new_page()
        tab.goto("/subscribe")
        tab.get_by_label("Email address").fill("reader@example.org")
        tab.get_by_label("Your name").fill("Reader")
        tab.get_by_label("research").check()
        tab.get_by_role("button", name="Subscribe").click()
        expect(tab.locator("h1")).to_have_text("Check your inbox")

        tab.goto(confirm_path(live, "reader@example.org"))
        expect(tab.locator("h1")).to_have_text("Confirm your subscription")
        tab.get_by_role("button", name="Confirm my subscription").click()
        expect(tab.locator("h1")).to_have_text("You are subscribed")
        assert live.status("reader@example.org") == "active"

        tab.get_by_role("link", name="Choose your themes, or leave the newsletter").click()
        expect(tab.get_by_label("research")).to_be_checked()
        tab.get_by_label("research").uncheck()
        tab.get_by_label("Open Dialogue").check()
        tab.get_by_role("button", name="Save my themes").click()
        expect(tab.get_by_text("Your choice is saved.")).to_be_visible()
        assert subs.find_subscriber(store, "reader@example.org").themes == frozenset({"Open Dialogue"})

        tab.get_by_role("button", name="Unsubscribe").click()
        expect(tab.locator("h1")).to_have_text("You have unsubscribed")
        assert live.status("reader@example.org") == "unsubscribed"


def test_the_unsubscribe_link_of_an_email(browser, live, store):
    member = subs.add(store, "linked@example.org", "", [], how="cli", at=datetime.now(UTC))
    path = "/unsubscribe/" + live.app.state.web.links.tokens.make("unsubscribe", member.id)
    with context(browser, live, java_script_enabled=False) as ctx:
        tab = ctx.new_page()
        tab.goto(path)
        assert live.status("linked@example.org") == "active"
        tab.get_by_role("button", name="Unsubscribe").click()
        expect(tab.locator("h1")).to_have_text("You have unsubscribed")
        assert [c["name"] for c in ctx.cookies()] == []  # leaving sets no cookie
    assert live.status("linked@example.org") == "unsubscribed"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe(browser, live, store, scheme):
    now = datetime.now(UTC)
    member = subs.add(store, f"axe-{scheme}@example.org", "", ["research"], how="cli", at=now)
    tokens = live.app.state.web.links.tokens
    errors: list[str] = []
    with context(browser, live, color_scheme=scheme) as ctx:
        tab = ctx.new_page()
        tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        tab.on("pageerror", lambda error: errors.append(str(error)))
        checked: list[str] = []

        def check(name: str) -> None:
            results = AXE.run(tab)
            assert results.violations_count == 0, f"{name} ({scheme}):\n{results.generate_report()}"
            expect(tab.locator("h1")).to_have_count(1)
            expect(tab.locator("main")).to_have_count(1)
            checked.append(name)

        tab.goto("/subscribe")
        check("subscribe form")
        tab.get_by_label("Email address").fill(f"new-{scheme}@example")  # the browser lets it through; we do not
        tab.get_by_role("button", name="Subscribe").click()
        expect(tab.get_by_text("Enter an email address like name@example.org.").first).to_be_visible()
        check("subscribe form with a problem")
        tab.get_by_label("Email address").fill(f"new-{scheme}@example.org")
        tab.get_by_role("button", name="Subscribe").click()
        check("check your inbox")
        tab.goto(confirm_path(live, f"new-{scheme}@example.org"))
        check("confirm")
        tab.get_by_role("button", name="Confirm my subscription").click()
        check("subscribed")
        tab.goto("/preferences/" + tokens.make("preferences", member.id))
        check("preferences")
        tab.get_by_role("button", name="Save my themes").click()
        check("preferences saved")
        tab.goto("/unsubscribe/" + tokens.make("unsubscribe", member.id))
        check("unsubscribe")
        tab.get_by_role("button", name="Unsubscribe").click()
        check("unsubscribed")
        tab.goto("/preferences/" + tokens.make("preferences", member.id))
        check("not subscribed")
        tab.goto("/unsubscribe/forged")
        check("bad link")
        tab.goto("/nowhere")
        check("not found")
    assert len(checked) == 12
    assert [e for e in errors if "404" not in e and "400" not in e] == []  # nothing refused by the CSP
