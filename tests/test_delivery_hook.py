"""register_deliveries: a delivery method from another plugin is used by the email sink like a built-in."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import parseaddr

from pipeline import hookimpl
from pipeline.components import Deliverer, Delivery, Settings
from pipeline.runner import run, state_path
from pipeline.state import Store, journal
from tests.conftest import make_item

TOML = """
[sources.s]
type = "static"
[sinks.newsletter]
type = "email"
subscribers = "subscribers.csv"
from_email = "news@network.example.org"
unsubscribe = "mailto:news@network.example.org"
[sinks.newsletter.delivery]
type = "pigeon"
loft = "Leeds"
"""
SUBSCRIBERS = "email,name\nann@example.org,Ann\nbob@example.org,Bob\n"


class Plugin:
    """A source of one item and a delivery method that keeps what it is asked to send."""

    def __init__(self, refuse: str = "", spell=str):
        self.sent = []
        plugin = self

        class Pigeon(Deliverer):
            name = "pigeon"

            class Settings(Settings):
                loft: str

            def send(self, messages, run):
                results = []
                for message in messages:
                    plugin.sent.append((self.settings.loft, message["To"], message["Subject"]))
                    address = parseaddr(message["To"])[1]
                    ok = refuse not in address or not refuse
                    results.append(Delivery(spell(address), ok, "pigeon-1" if ok else "", "" if ok else "lost"))
                return results

        from pipeline.components import Source

        class Static(Source):
            name = "static"

            def fetch(self, run):
                return [make_item(title="Peer support in Leeds",
                                  published=datetime(2016, 1, 20, tzinfo=UTC))]

        self.pigeon, self.static = Pigeon, Static

    @hookimpl
    def register_deliveries(self, register):
        register(self.pigeon)

    @hookimpl
    def register_sources(self, register):
        register(self.static)


def test_a_plugin_delivery_method_sends_the_issue(project_from):
    plugin = Plugin()
    project = project_from(TOML, {"subscribers.csv": SUBSCRIBERS}, plugins=[("pigeon", plugin)])
    report = run(project, as_of=date(2016, 2, 1))
    assert report.exit_code == 0
    assert sorted(to for _, to, _ in plugin.sent) == ["Ann <ann@example.org>", "Bob <bob@example.org>"] or \
        sorted(to for _, to, _ in plugin.sent) == ["ann@example.org", "bob@example.org"]
    assert {loft for loft, _, _ in plugin.sent} == {"Leeds"}
    store = Store(state_path(project))
    assert journal.delivered_to(store, 1) == {"ann@example.org", "bob@example.org"}
    store.close()


def test_its_settings_are_validated_like_any_component(project_from):
    import pytest

    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[sinks.newsletter.delivery\] \(pigeon\): unknown key 'colour'"):
        project_from(TOML.replace('loft = "Leeds"', 'loft = "Leeds"\ncolour = "grey"'),
                     {"subscribers.csv": SUBSCRIBERS}, plugins=[("pigeon", Plugin())])


def test_a_failed_message_fails_the_sink_and_is_retried_next_run(project_from):
    plugin = Plugin(refuse="bob")
    project = project_from(TOML, {"subscribers.csv": SUBSCRIBERS}, plugins=[("pigeon", plugin)])
    first = run(project, as_of=date(2016, 2, 1))
    (failed,) = first.failed("sink")
    assert "lost" in failed.summary
    plugin.sent.clear()
    run(project, as_of=date(2016, 2, 1))
    assert [to for _, to, _ in plugin.sent] in (["Bob <bob@example.org>"], ["bob@example.org"])


def test_an_outcome_reported_under_another_spelling_of_the_address_is_its_recipients(project_from):
    """A delivery may give back the address in its own spelling (the domain's xn-- form, capitals): the outcome is
    still that recipient's, journalled under the list's spelling, not a message in doubt."""
    from pipeline.subscribers.addresses import ascii_spelling

    plugin = Plugin(spell=lambda address: ascii_spelling(address).upper())
    listed = "email,name\ncy@b\u00fccher.de,Cy\nann@example.org,Ann\n"
    project = project_from(TOML, {"subscribers.csv": listed}, plugins=[("pigeon", plugin)])
    report = run(project, as_of=date(2016, 2, 1))
    assert report.exit_code == 0, [r.summary for r in report.failed("sink")]
    assert len(plugin.sent) == 2
    store = Store(state_path(project))
    assert journal.delivered_to(store, 1) == {"cy@b\u00fccher.de", "ann@example.org"}
    store.close()
