"""The `email` sink: renders each new issue once per choice of themes and sends it to every active
subscriber, through the delivery journal (`pipeline/mail/sending.py` says what is guaranteed).

    [sinks.newsletter]
    type = "email"
    subscribers = "subscribers.csv"          # optional: imported as active on every run
    from_email = "news@network.example.org"
    unsubscribe = "mailto:news@network.example.org?subject=unsubscribe"   # also in List-Unsubscribe
    max_items_per_section = 10               # the rest are in the web version (the archive)
    delivery = { type = "outbox" }           # or "sendgrid", "smtp", with their settings

Who receives an issue is decided when it is sent: the active subscribers then. A subscriber who
follows some themes gets the posts and news carrying one of them, and every job and event
(`always_include`); following no theme means following all of them. The issue's "Changed since" (jobs and
events earlier issues sent that changed: `pipeline/changes.py`) follows the same choice; a choice with a change and
nothing new is sent the issue all the same, a change being told once. A theme the taxonomy renamed
counts as its new name; one taken out is dropped from a choice, and a choice left with none follows
them all (`pipeline/subscribers/themes.py`, `choice_now`).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator

from pipeline import components, hookimpl, site
from pipeline.components import Deliverer, Sink, SinkResult
from pipeline.config import Project
from pipeline.edition import Edition
from pipeline.errors import SinkError, SubscriberError
from pipeline.files import write_if_changed
from pipeline.mail import TOKEN_TAG
from pipeline.models import Item, Kind
from pipeline.placeholders import address_problem
from pipeline.run_context import RunContext
from pipeline.settings_types import ExistingFile
from pipeline.subscribers.addresses import sender_spelling, without_addresses

log = logging.getLogger("pipeline.sinks.email")

if TYPE_CHECKING:  # the renderer (Jinja2, MJML, the item view) is loaded when an issue is first rendered
    from pipeline.mail.message import Mailing, Recipient
    from pipeline.mail.sending import SendReport
    from plugins.sinks.email.render import RenderedEdition


class EmailSink(Sink):
    name = "email"
    single = "the delivery journal and the subscriber list are one per project: one project sends one newsletter"
    description = "Send each new issue to the active subscribers (HTML and plain text)."

    class Settings(components.Settings):
        subscribers: ExistingFile | None = None  # a CSV list imported as active on every run
        from_email: str
        from_name: str | None = None
        reply_to: str = ""
        unsubscribe: str = ""  # a mailto: link; default mailto:<from_email>?subject=unsubscribe
        list_id: str = ""  # default: '<name> <<sink>.<from_email's domain>>'
        always_include: list[Kind] = Field(default_factory=lambda: [Kind.JOB, Kind.EVENT])
        max_items_per_section: int = Field(default=10, ge=1)  # fewer if needed to stay under Gmail's clip
        delivery: dict[str, Any] = Field(default_factory=lambda: {"type": "outbox"})

        @field_validator("from_email", "reply_to")
        @classmethod
        def _address(cls, value: str, info: ValidationInfo) -> str:
            value = value.strip()
            if placeholder := address_problem(value, info.field_name):  # as `pipeline init` writes it
                raise ValueError(placeholder)
            return sender_spelling(value) if value else value

        @field_validator("unsubscribe")
        @classmethod
        def _unsubscribe_link(cls, value: str) -> str:
            value = value.strip()
            if value and (not value.startswith("mailto:") or any(c.isspace() or c in "<>," for c in value)):
                raise ValueError(f"{value!r} must be a mailto: link with no spaces; each subscriber's own "
                                 f"https unsubscribe link is made from [pipeline] site_url")
            address, mark, query = value.removeprefix("mailto:").partition("?")
            if value and not address.isascii():  # sent in its IDNA form, as from_email is, so the link stays
                value = f"mailto:{sender_spelling(address)}{mark}{query}"
            if not value.isascii() or '"' in value:  # List-Unsubscribe takes only these (message._safe_link)
                raise ValueError(f"{value!r}: write what follows the ? with %-escapes (%C3%BC for ü), as a header "
                                 f"takes only plain ASCII")
            return value

    def __init__(self, instance: str, settings: Settings, project: Project):
        super().__init__(instance, settings, project)
        self._links = None  # the signed links of the last `groups`
        self.deliverer: Deliverer = project.build_component(
            "delivery", f"{project.config_path.name}: [sinks.{instance}.delivery]", settings.delivery)

    def sender(self) -> tuple[str, str, str]:
        name = self.project.core.name if self.settings.from_name is None else self.settings.from_name
        return self.settings.from_email, name, self.settings.reply_to

    def write(self, edition: Edition | None, run: RunContext, *, only: frozenset[str] | None = None) -> SinkResult:
        """Render the issue, and send it to the active subscribers it has not reached; `only`: to those of these
        addresses alone (`pipeline deliveries --resend`: not to who joined since it went out)."""
        # Sending and the subscriber list load here, not with the plugin: a refresh without a send needs neither.
        from pipeline.mail.sending import send_issue, settle_open_batches
        from pipeline.state import journal
        from pipeline.subscribers.expiry import expire_requests
        from pipeline.subscribers.readmission import not_waiting

        if not run.dry_run:  # every run, a refresh too: a request unconfirmed for 7 days is not kept
            expire_requests(run.store, self.deliverer, at=run.clock())
        if edition is None:  # a refresh: still settle a killed send's batches while they can be cancelled
            settled = [] if run.dry_run else settle_open_batches(run.store, self.deliverer, run.clock)
            if run.mode == "run":  # with nothing new, the list is imported (or checked) all the same: every run
                self.import_list(run)
            return SinkResult("; ".join([*settled, "no new edition; nothing sent"]))
        rendered = self.render(edition, run)
        files = self._save(edition.number, self.render(edition, run, personal=False))
        latest = run.store.latest_edition()
        joining = self.import_list(run)  # every run: one re-making an older issue too, which it sends to nobody
        if latest is not None and latest.number > edition.number:  # never mail an old issue to new readers
            return SinkResult(f"issue {edition.number} re-rendered; not sent, since issue {latest.number} "
                              f"is newer", files)
        groups, nothing_new = self.groups(edition, rendered, run, only=self._among(edition.number, only, run))
        groups = _again(groups, only)
        if run.dry_run:
            return SinkResult(self._dry_run_summary(edition.number, groups, joining, run), files)
        self._note_secret(groups, run)
        unreached, met = self._readmit(run), {}
        # none still on the provider's lists is handed over (it would drop it, and the journal say sent)
        keeps_lists = type(self.deliverer).readmit is not Deliverer.readmit  # smtp, outbox: none to be on
        if keeps_lists:
            groups = [(mailing, not_waiting(recipients, unreached, met, run.store)) for mailing, recipients in groups]
        report = send_issue(run.store, self.deliverer, edition.number, groups, now=run.clock, run=run)
        self._held_failed(edition.number, met, report, run)  # before `passed_over`: they have a record now
        passed_over = self._among(edition.number, only, run) if only is not None else \
            journal.active_without_delivery(run.store, edition.number)
        if passed_over:  # they changed their themes, or joined, while the send ran: their choice, now
            later, _ = self.groups(edition, rendered, run, only=passed_over)
            later = _again(later, only)  # in a resend, still the organiser's choice
            met = {}
            if keeps_lists:
                later = [(mailing, not_waiting(recipients, unreached, met, run.store)) for mailing, recipients in later]
            extra = send_issue(run.store, self.deliverer, edition.number, later, now=run.clock, run=run)
            self._held_failed(edition.number, met, extra, run)
            report.merge(extra)
        return SinkResult(self._summary(edition.number, report, nothing_new, run), files)

    def _readmit(self, run: RunContext) -> dict[str, str]:
        """Take whoever came back after unsubscribing or bouncing off the delivery's own suppression lists before
        the send (SendGrid would drop their mail without a word); one it could not is a problem of the run, named,
        left out of this send and asked again before the next: {address, lower case: the line for the journal}."""
        from pipeline.subscribers.readmission import readmit_returning

        unreached = {}
        for address, why in readmit_returning(run.store, self.deliverer):
            run.problem(f"subscriber {address}", f"came back to the list, but the {self.deliverer.name} delivery could "
                        f"not take them off its own suppression lists ({why}), so this issue is not sent to them yet; "
                        f"the next run asks again, then sends it", skipped=False)
            unreached[address.lower()] = (f"not sent: may still be on the {self.deliverer.name} delivery's own "
                                          f"suppression lists ({why}); the next run takes them off, then sends it")
        return unreached

    def _held_failed(self, number: int, met: dict[str, str], report, run: RunContext) -> None:
        """Those the send left out for the provider's lists: failed, for the next run (one the journal says had
        the issue already keeps that: `record_failed` changes only a failed delivery)."""
        from pipeline.state import journal
        from pipeline.state.journal import FAILED, Outcome

        if not met:
            return
        had = journal.statuses(run.store, number)
        for address in sorted(set(met) - set(had)):
            journal.record_failed(run.store, edition=number, channel=self.deliverer.name, recipients=[address],
                                  error=met[address], at=run.clock())
            report.add(Outcome(address, FAILED, error=met[address]))

    def _among(self, number: int, only: frozenset[str] | None, run: RunContext) -> list | None:
        """(id, email, name, themes) of the active subscribers in `only` that issue `number` has not reached;
        None without `only` (every active subscriber)."""
        from pipeline.state import journal

        if only is None:
            return None
        return [row for row in journal.active_without_delivery(run.store, number) if row[1] in only]

    def _dry_run_summary(self, number: int, groups: list, joining: int, run: RunContext) -> str:
        """What a real run would send: to the active subscribers the journal does not hold as sent, in flight or
        unknown (a re-made latest issue goes only to those it has not reached), counted as the real run counts."""
        from collections import Counter

        from pipeline.state import journal

        held, versions, counted = journal.statuses(run.store, number), 0, Counter()
        for _, recipients in groups:
            statuses = [held.get(recipient.email, "") for recipient in recipients]
            versions += "" in statuses
            counted.update("waiting" if not status else "unknown" if status == journal.UNKNOWN else "already"
                           for status in statuses)
        extra = f", {counted['already']} already sent" if counted["already"] else ""
        extra += f", {counted['unknown']} unknown" if counted["unknown"] else ""
        extra += f", and {joining} new from {self.settings.subscribers.name}" if joining else ""
        return (f"dry run: issue {number} would go to {counted['waiting']} active subscribers in {versions} "
                f"version(s){extra}; nothing sent or recorded")

    def _note_secret(self, groups: list, run: RunContext) -> None:
        """Warn when this issue's links are signed with another secret than the mail before it (a `pipeline serve`
        still using that one refuses them), and remember this one (`signing.note_mailed`)."""
        from pipeline.state import journal
        from pipeline.subscribers import signing

        links = self._links
        made = signing.secret_path(self.project)  # made by this very process, when mail went out before it
        if links is None or not groups:
            if not journal.delivered_before(run.store):  # the secret all links will be signed with: nothing to say
                signing.MADE_HERE.discard(made)
            return
        new = made in signing.MADE_HERE and signing.environment_secret(self.project) is None and \
            journal.delivered_before(run.store)
        if new:
            log.warning("this issue's links are signed with a new secret, just made at %s, but issues were mailed "
                        "before with links signed by another: theirs (unsubscribe, preferences) no longer work; put "
                        "back the state/secret they were signed with (from a backup of the state folder), or set "
                        "PIPELINE_SECRET to it, before the next send (README, \"Signed links\")", made)
        signing.MADE_HERE.discard(made)  # said once: this issue's mail is the first signed with it
        if not new and (before := signing.mismatch(self.project, links)) is not None:  # (a new secret: said above)
            log.warning("this issue's links are signed with the secret from %s, the mail before it with the one from "
                        "%s: a `pipeline serve` still using that one refuses them; give serve and every run the same "
                        "secret (README, \"Signed links\")", signing.secret_source(self.project), before)
        signing.note_mailed(self.project, links)

    def render(self, edition: Edition, run: RunContext, *, personal: bool = True) -> RenderedEdition:
        """The email of `edition`, with tags where each recipient's own links go; with `personal=False`, the copy
        kept in out/newsletter/, which may be published with the site: without those links, which no tag fills
        there, as the archive's web version has none."""
        site = self.project.core.site_url
        from plugins.sinks.email.render import render_edition

        return render_edition(edition, run, unsubscribe=f"{site}/unsubscribe/{TOKEN_TAG}" if personal else "",
                              preferences=f"{site}/preferences/{TOKEN_TAG}" if personal else "",
                              max_per_section=self.settings.max_items_per_section, check_links=personal)

    def mailing(self, edition: Edition, rendered: RenderedEdition, run: RunContext, *, test: bool = False,
                choices: tuple[str, ...] = ()) -> Mailing:
        """`rendered` to send; `choices`: the stored choices of themes it is the version for (a send's groups)."""
        from pipeline.mail.message import Mailing

        sender_email, sender_name, reply_to = self.sender()
        return Mailing(rendered.subject, sender_email, sender_name, rendered.text, rendered.html, run.clock(),
                       reply_to=reply_to, edition=edition.number, list_id=self.list_id(),
                       unsubscribe_mailto=self.settings.unsubscribe or f"mailto:{sender_email}?subject=unsubscribe",
                       unsubscribe_base=f"{self.project.core.site_url}/unsubscribe/", test=test, choices=choices)

    def list_id(self) -> str:
        """RFC 2919: a phrase and a label that stays the same for the life of the list."""
        if self.settings.list_id:
            return self.settings.list_id
        label = "".join(c if c.isalnum() or c == "-" else "-" for c in self.instance.lower()).strip("-") or "news"
        return f"{_phrase(self.project.core.name)} <{label}.{self.settings.from_email.rpartition('@')[2]}>"

    def import_list(self, run: RunContext) -> int:
        """The `subscribers` CSV, imported as `pipeline subscribers import` does (its `status` column
        suppresses, someone who left is never brought back by it); a dry run only checks it. Its bad
        rows are the run's problems; its pending rows (never imported) are a warning, as are Mailchimp's
        non-subscribed contacts (never opted in), and an exported
        member taken over the limits on a new address is logged (INFO)."""
        from pipeline.state import subscribers as subscriber_state
        from pipeline.subscribers import csv_io
        from pipeline.subscribers.importing import import_list, not_opted_in_note, pending_note
        from pipeline.subscribers.themes import taxonomy_themes

        path = self.settings.subscribers
        if path is None:
            return 0
        try:
            listed = csv_io.read_csv(path)
        except SubscriberError as exc:
            raise SinkError(str(exc)) from None
        done = import_list(run.store, listed, taxonomy_themes(self.project), how=f"csv import {path.name}",
                           at=run.clock(), write=not run.dry_run)
        for problem in done.problems:
            where, _, message = problem.partition(": ")  # "file:line: what is wrong; what to do"
            run.problem(where, message)
        for note in done.notes:
            log.info(note)
        if done.pending:
            log.warning(pending_note(path, done.pending))
        if done.not_opted_in:  # a CSV of Mailchimp's non-subscribed contacts, who never opted in
            log.warning(not_opted_in_note(path, done.not_opted_in))
        if done.written:
            return 0
        # A dry run imports nothing: how many more the list would bring is counted instead.
        return sum(1 for row in listed.rows if not row.status or row.status == "active"
                   if subscriber_state.find_subscriber(run.store, row.email) is None)

    def groups(self, edition: Edition, rendered: RenderedEdition, run: RunContext, *,
               only: list[tuple[int, str, str, frozenset[str]]] | None = None,
               ) -> tuple[list[tuple[Mailing, Iterable[Recipient]]], int]:
        """One mailing per distinct choice of themes, with its recipients (read as they are sent); and how
        many active subscribers have nothing new for their choice this time. `only`: just these
        (id, email, name, themes)."""
        from pipeline.mail.message import Recipient
        from pipeline.state import subscribers as subscriber_state
        from pipeline.subscribers import signing
        from pipeline.subscribers.themes import following

        links = self._links = signing.Links(self.project)
        groups, nothing_new = [], 0
        chosen_by: dict[frozenset[str], list] = {}
        for sid, email, name, themes in only or ():
            chosen_by.setdefault(themes, []).append((sid, email, name))
        # A choice naming a theme since renamed counts as the new one; one taken out, as the rest (`choice_now`).
        follows, counted_as = following(self.project, run.store), {}
        for themes in (chosen_by if only is not None else subscriber_state.active_choices(run.store)):
            counted_as.setdefault(follows(themes), []).append(themes)
        for followed, stored in counted_as.items():
            chosen = self.for_themes(edition, followed)
            members = itertools.chain.from_iterable(
                chosen_by[themes] if only is not None else subscriber_state.active_with_choice(run.store, themes)
                for themes in stored)
            if not chosen.items and not chosen.changes:  # nothing new or changed for this choice: nothing sent
                nothing_new += sum(1 for _ in members)
                continue
            version = rendered if chosen is edition else self.render(chosen, run)
            token = links.token
            recipients = (Recipient(email, name, token(subscriber_id)) for subscriber_id, email, name in members)
            choices = tuple(subscriber_state.stored_themes(themes) for themes in stored)
            groups.append((self.mailing(edition, version, run, choices=choices), recipients))
        return groups, nothing_new

    def for_themes(self, edition: Edition, themes: frozenset[str]) -> Edition:
        """`edition` with only what a subscriber following `themes` gets (all of it for no themes). A theme
        spelt in another case or with other accents is the same theme, as on the site ('Peer Support')."""
        if not themes:
            return edition
        chosen = {item.id for item in self.items_for([change.item for change in edition.changes], themes)}
        return dataclasses.replace(edition, items=self.items_for(edition.items, themes, edition.copies), sections={},
                                   changes=[change for change in edition.changes if change.item.id in chosen])

    def items_for(self, items: list[Item], themes: frozenset[str],
                  copies: Mapping[str, list[str]] | None = None) -> list[Item]:
        """Those of `items` a subscriber following `themes` gets (all of them for no themes): `themes` as they count
        now (`themes.following`), not as stored; an item the copies of whose page were left out for it (`copies`:
        `Edition.copies`) goes to whoever follows a theme of theirs too."""
        if not themes:
            return items
        followed = {site.theme_path(theme) for theme in themes}
        copies = copies or {}
        return [item for item in items if item.kind in self.settings.always_include
                or followed.intersection(map(site.theme_path, [*item.themes, *copies.get(item.id, ())]))]

    def _summary(self, number: int, report: SendReport, nothing_new: int, run: RunContext) -> str:
        channel = self.deliverer.name
        lines = [*report.resolved]
        if report.unknown_before:  # said on every run of this issue until the organiser decides
            run.problem(f"issue {number}", f"{report.unknown_before} recipient(s) may or may not have the issue "
                                           f"(unknown); `pipeline deliveries --issue {number}` lists them and "
                                           f"`--resend unknown` sends to them")
        for address, why in report.bounced:  # one line each, naming the address and the server's reply
            run.problem(f"issue {number}", f"{address} bounced, so it is marked bounced and not sent to again: "
                                           f"{why}")
        if report.failed or report.unknown:
            first = (report.unknown or report.failed)[0]
            bounced = f"{len(report.bounced)} bounced, " if report.bounced else ""
            # Kept in the run history and mailed in an alert: the reason, never whose (`pipeline deliveries` says)
            raise SinkError("; ".join(lines + [
                f"issue {number}: {report.sent} sent via {channel}, {len(report.failed)} failed, {bounced}"
                f"{len(report.unknown)} unknown (the first: {without_addresses(first[1])}); running again sends the "
                f"failed ones; `pipeline deliveries --issue {number}` lists each"]))
        extra = f", {nothing_new} with nothing new for their themes" if nothing_new else ""
        extra += f", {report.unknown_before} unknown" if report.unknown_before else ""
        extra += f", {len(report.bounced)} bounced" if report.bounced else ""
        return "; ".join(lines + [f"issue {number}: {report.sent} sent via {channel}, "
                                  f"{report.already} already sent{extra}"])

    def _save(self, number: int, rendered: RenderedEdition) -> list[str]:
        folder: Path = self.project.core.out_dir / "newsletter"
        html, text = folder / f"issue-{number}.html", folder / f"issue-{number}.txt"
        # The issue made again with nothing changed (a send finished): its files are left as they are.
        return [str(path) for path, data in ((html, rendered.html), (text, rendered.text))
                if write_if_changed(path, data.encode("utf-8"))]


@hookimpl
def register_sinks(register) -> None:
    register(EmailSink)


def _phrase(name: str) -> str:
    """`name` as a header's phrase (RFC 5322 3.2.5): a quoted string when it holds a character that would otherwise
    end it or be read as more (`<>()[]:;@,"` or a backslash), so a List-Id's id is the one in the last brackets."""
    if not any(ch in '<>()[]:;@,"\\' for ch in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _again(groups: list, only: frozenset[str] | None) -> list:
    """`groups` as a resend (`only`, the organiser's choice) hands them over: a delivery that keeps files writes
    beside what it holds (`Mailing.again`); as they are otherwise."""
    if only is None:
        return groups
    return [(dataclasses.replace(mailing, again=True), recipients) for mailing, recipients in groups]
