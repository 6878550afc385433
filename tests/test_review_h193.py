"""Review h193: the pages of `pipeline serve` by keyboard alone, zoomed to 200% and 400% (640 and 320 px wide), in
light and dark, the 429 and "link expired" pages too; what a screen reader is told when the preferences are saved;
the pages' boxes in a right-to-left language."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from itsdangerous.timed import TimestampSigner
from playwright.sync_api import Page, expect

from pipeline.state import Store
from pipeline.state import subscribers as subs
from tests.serve_fixtures import LiveServer, live_serve_project
from tests.test_serve_browser import confirm_path as _confirm_path
from tests.test_serve_browser import context as _context

AXE = Axe()
SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth"
# The pages test_serve_browser.py's axe test does not open: axe-core checks them here
NOT_IN_SERVE_BROWSER = {"a link naming no one", "an expired confirm link", "a confirm link whose address left",
                        "too many requests (429)"}

# Every control a keyboard should reach on the page, in document order (no positive tabindex on these pages).
CONTROLS = """() => [...document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]')]
  .filter(e => e.tabIndex >= 0 && !e.disabled && e.type !== 'hidden' && e.checkVisibility())
  .map((e, i) => { e.dataset.stop = i; return i; })"""
# The focused element: its stop (as CONTROLS numbered it), whether it shows its focus, its outline, the colour
# behind the outline (the nearest background of what holds it) and whether it is in the viewport.
FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e), box = e.getBoundingClientRect();
  let behind = 'rgba(0, 0, 0, 0)';
  for (let p = e.parentElement; p && /rgba\\(.*, 0\\)$|transparent/.test(behind); p = p.parentElement)
    behind = getComputedStyle(p).backgroundColor;
  return {stop: e.dataset.stop === undefined ? null : Number(e.dataset.stop), name: e.outerHTML.slice(0, 80),
          visible: e.matches(':focus-visible'), outline: style.outlineStyle, width: parseFloat(style.outlineWidth),
          colour: style.outlineColor, behind,
          shown: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
                 && box.left < innerWidth && box.top < innerHeight};
}"""


def _rgb(text: str) -> tuple[float, ...]:
    return tuple(float(n) for n in re.findall(r"[\d.]+", text)[:3])


def _contrast(one: str, two: str) -> float:
    def luminance(colour: tuple[float, ...]) -> float:
        r, g, b = (c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in colour)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(_rgb(one)), luminance(_rgb(two))), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[LiveServer]:
    with live_serve_project(tmp_path_factory, "h193") as server:
        yield server


@pytest.fixture
def store(live) -> Iterator[Store]:
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    yield store
    store.close()


def _subscribe(tab: Page, address: str) -> None:
    tab.goto("/subscribe")
    tab.get_by_label("Email address").fill(address)
    tab.get_by_role("button", name="Subscribe").click()


def _expired_confirm_path(live: LiveServer, subscriber_id: int) -> str:
    """A confirm link signed eight days ago."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 8 * 86400)
        return "/confirm/" + live.app.state.web.links.tokens.make("confirm", subscriber_id)


def _every_page(tab: Page, live: LiveServer, store: Store, tag: str) -> Iterator[str]:
    """Opens each page `pipeline serve` shows, in turn, yielding its name once it is in the tab."""
    tokens = live.app.state.web.links.tokens
    member = subs.add(store, f"member-{tag}@example.org", "", ["research"], how="cli", at=datetime.now(UTC))
    tab.goto("/subscribe")
    yield "subscribe form"
    tab.get_by_label("Email address").fill(f"new-{tag}@example")  # the browser lets it through; the server does not
    tab.get_by_role("button", name="Subscribe").click()
    expect(tab.locator("#problem")).to_be_visible()
    yield "subscribe form with a problem"
    _subscribe(tab, f"new-{tag}@example.org")
    yield "check your inbox"
    tab.goto(_confirm_path(live, f"new-{tag}@example.org"))
    yield "confirm"
    tab.get_by_role("button", name="Confirm my subscription").click()
    yield "subscribed"
    tab.goto("/preferences/" + tokens.make("preferences", member.id))
    yield "preferences"
    tab.get_by_role("button", name="Save my themes").click()
    yield "preferences saved"
    tab.goto("/unsubscribe/" + tokens.make("unsubscribe", member.id))
    yield "unsubscribe"
    tab.get_by_role("button", name="Unsubscribe").click()
    yield "unsubscribed"
    tab.goto("/preferences/" + tokens.make("preferences", member.id))
    yield "not subscribed"
    tab.goto("/preferences/" + tokens.make("preferences", 999_999_999))
    yield "a link naming no one"
    tab.goto(_expired_confirm_path(live, member.id))
    yield "an expired confirm link"
    _subscribe(tab, f"gone-{tag}@example.org")
    subs.remove(store, f"gone-{tag}@example.org", how="cli", at=datetime.now(UTC))
    tab.goto(_confirm_path(live, f"gone-{tag}@example.org"))
    yield "a confirm link whose address left"
    tab.goto("/unsubscribe/forged")
    yield "a bad link"
    tab.goto("/nowhere")
    yield "not found"
    for _ in range(2):  # the per-address limit is 2
        _subscribe(tab, f"new-{tag}@example.org")
    yield "too many requests (429)"


def _walk(tab: Page) -> list[dict]:
    """Every stop of the Tab key through the page, from its first control to its last, and one more: after the
    last, the focus leaves the page (to the browser's own controls), as it should, and is not held."""
    expected = tab.evaluate(CONTROLS)
    if tab.evaluate(FOCUSED) is not None:  # a page that opens with the focus inside it (the problem summary)
        for _ in range(len(expected) + 1):
            tab.keyboard.press("Tab")
            if tab.evaluate(FOCUSED) is None:
                break
    stops = []
    for _ in range(len(expected) + 1):
        tab.keyboard.press("Tab")
        stops.append(tab.evaluate(FOCUSED))
    assert [stop and stop["stop"] for stop in stops] == [*expected, None], \
        f"the Tab key's path {[s and s['name'] for s in stops]} is not every control in order, then out"
    return stops[:-1]


def test_a_saved_choice_is_said_in_the_title_and_by_a_status_that_has_the_focus(browser, live, store):
    """'Your choice is saved.' was a plain paragraph, under a title that did not change: a screen reader, which
    starts at the title of the page the post gave, was told nothing was saved."""
    member = subs.add(store, "saver@example.org", "", ["research"], how="cli", at=datetime.now(UTC))
    with _context(browser, live) as ctx:
        tab = ctx.new_page()
        tab.goto("/preferences/" + live.app.state.web.links.tokens.make("preferences", member.id))
        assert tab.title() == "Your newsletter preferences · Test Network"
        assert tab.get_by_role("status").count() == 0
        tab.get_by_role("button", name="Save my themes").click()
        assert tab.title() == "Saved: Your newsletter preferences · Test Network"
        expect(tab.get_by_role("status")).to_have_text("Your choice is saved.")
        assert tab.evaluate("document.activeElement.id") == "saved"
        tab.keyboard.press("Tab")  # and on from there to the choice
        assert tab.evaluate("document.activeElement.id") == "theme-1"


@pytest.fixture(scope="module")
def right_to_left(tmp_path_factory) -> Iterator[LiveServer]:
    with live_serve_project(tmp_path_factory, "h193-ar", "ar") as server:
        yield server


def test_the_problem_and_saved_boxes_are_marked_at_the_start_of_the_line_right_to_left(browser, right_to_left):
    """The bar beside 'There is a problem' and 'Your choice is saved.' was a border-left: on an Arabic page, whose
    lines start at the right, it stood at their end."""
    live = right_to_left
    store = Store(live.project.core.state_dir / "pipeline.sqlite")
    try:
        member = subs.add(store, "rtl-saver@example.org", "", [], how="cli", at=datetime.now(UTC))
    finally:
        store.close()
    sides = "e => [getComputedStyle(e).borderRightWidth, getComputedStyle(e).borderLeftWidth]"
    with _context(browser, live) as ctx:
        tab = ctx.new_page()
        tab.goto("/subscribe")
        tab.get_by_label("Email address").fill("someone@example")
        tab.get_by_role("button", name="Subscribe").click()
        assert tab.locator(".problem").evaluate(sides) == ["4px", "0px"]
        tab.goto("/preferences/" + live.app.state.web.links.tokens.make("preferences", member.id))
        tab.get_by_role("button", name="Save my themes").click()
        assert tab.locator(".done").evaluate(sides) == ["4px", "0px"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_by_keyboard_zoomed_to_200_and_400_percent(browser, live, store, scheme):
    """At 200% zoom (a 1280 px window is 640 CSS px wide) each page scrolls nowhere sideways, and the Tab key reaches
    every control in order, each showing its focus with an outline of at least 3:1 against what it is drawn on
    (WCAG 1.4.11, 2.4.7), then leaves the page; at 400% (320 px) nothing scrolls sideways either. The pages that
    test_serve_browser.py does not check with axe-core pass it here."""
    with _context(browser, live, color_scheme=scheme, viewport={"width": 640, "height": 400}) as ctx:
        tab = ctx.new_page()
        seen = []
        for name in _every_page(tab, live, store, scheme):
            if name in NOT_IN_SERVE_BROWSER:
                results = AXE.run(tab)
                assert results.violations_count == 0, f"{name} ({scheme}):\n{results.generate_report()}"
            assert not tab.evaluate(SIDEWAYS), f"{name} scrolls sideways at 640 px"
            for stop in _walk(tab):
                assert stop["visible"] and stop["outline"] == "solid" and stop["width"] >= 2, (name, stop)
                assert stop["shown"], f"{name}: {stop['name']} has the focus out of sight"
                assert _contrast(stop["colour"], stop["behind"]) >= 3, \
                    f"{name} ({scheme}): the focus outline of {stop['name']} is {stop['colour']} on {stop['behind']}"
            tab.set_viewport_size({"width": 320, "height": 400})
            assert not tab.evaluate(SIDEWAYS), f"{name} scrolls sideways at 320 px"
            tab.set_viewport_size({"width": 640, "height": 400})
            seen.append(name)
    assert len(seen) == 16 and NOT_IN_SERVE_BROWSER <= set(seen)


def _tab_to(tab: Page, selector: str) -> None:
    """Press Tab until the focus is on `selector` (at most once round the page)."""
    for _ in range(len(tab.evaluate(CONTROLS)) + 1):
        tab.keyboard.press("Tab")
        if tab.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"the Tab key never reached {selector} on {tab.url}")


def test_by_keyboard_alone_join_confirm_choose_and_leave(browser, live, store):
    """Every step of the pages works from the keyboard: the skip link, the form (Enter in a field sends it), the
    problem summary's link to its field, a tick box (Space), each button and link (Enter)."""
    address = "keys@example.org"
    with _context(browser, live, viewport={"width": 640, "height": 400}) as ctx:
        tab = ctx.new_page()
        tab.goto("/subscribe")
        tab.keyboard.press("Tab")
        assert tab.evaluate("document.activeElement.textContent") == "Skip to the content"
        assert tab.locator(".skip").bounding_box()["x"] >= 0  # shown once focused
        tab.keyboard.press("Enter")
        tab.keyboard.press("Tab")
        assert tab.evaluate("document.activeElement.id") == "email"
        tab.keyboard.type("keys@example")
        tab.keyboard.press("Enter")
        expect(tab).to_have_title(re.compile("^Error: "))
        tab.keyboard.press("Tab")
        tab.keyboard.press("Enter")  # the summary's link to the field
        assert tab.evaluate("document.activeElement.id") == "email"
        tab.keyboard.press("End")
        tab.keyboard.type(".org")
        tab.keyboard.press("Tab")
        tab.keyboard.type("Kim")
        tab.keyboard.press("Tab")
        tab.keyboard.press("Space")
        assert tab.evaluate("[document.activeElement.value, document.activeElement.checked]") == ["research", True]
        _tab_to(tab, "button")
        tab.keyboard.press("Enter")
        expect(tab.locator("h1")).to_have_text("Check your inbox")

        tab.goto(_confirm_path(live, address))
        _tab_to(tab, "main button")
        tab.keyboard.press("Enter")
        expect(tab.locator("h1")).to_have_text("You are subscribed")
        assert live.status(address) == "active"
        _tab_to(tab, "main a")
        tab.keyboard.press("Enter")
        expect(tab.locator("h1")).to_have_text("Your newsletter preferences")
        _tab_to(tab, "#theme-1")
        tab.keyboard.press("Space")  # research off
        _tab_to(tab, "#theme-3")
        tab.keyboard.press("Space")  # Open Dialogue on
        _tab_to(tab, "button[value=save]")
        tab.keyboard.press("Enter")
        expect(tab.get_by_role("status")).to_have_text("Your choice is saved.")
        assert subs.find_subscriber(store, address).themes == frozenset({"Open Dialogue"})
        _tab_to(tab, "button[value=leave]")
        tab.keyboard.press("Enter")
        expect(tab.locator("h1")).to_have_text("You have unsubscribed")
    assert live.status(address) == "unsubscribed"


def test_a_theme_taken_out_is_said_to_each_tick_box_with_the_hint(browser, live, store):
    """'"Mad studies", which you chose, is no longer a theme' was a paragraph in the fieldset that no tick box named:
    a screen reader going from box to box with the Tab key (as a form is read) heard the hint, never that."""
    member = subs.add(store, "retired@example.org", "", ["Mad studies"], how="cli", at=datetime.now(UTC))
    with _context(browser, live) as ctx:
        tab = ctx.new_page()
        tab.goto("/preferences/" + live.app.state.web.links.tokens.make("preferences", member.id))
        for box in ("research", "peer support", "Open Dialogue"):
            expect(tab.get_by_label(box)).to_have_accessible_description(re.compile(
                r"^Tick none to get everything\..* “Mad studies”, which you chose, is no longer a theme of Test "
                r"Network: you get everything until you choose again\.$"))
