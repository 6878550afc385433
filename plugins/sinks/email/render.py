"""Rendering an edition as an email: Jinja2 makes MJML, mjml-python (MRML) makes the HTML.

The HTML holds nothing about any one recipient. The email shows a few items a section and is
kept under Gmail's clipping limit; the issue's web version (the `archive` sink's page, made from
the same per-item views in `pipeline/item_view.py`) shows the rest.

A link the HTML renders with no address (`href=""`) is reported as a problem of the run, naming the template:
a project's own copy of `issue.mjml` made before the links to pages no sink writes became "" (and were left
out by the shipped template) still links to them so. So is an address of such a page the plain text prints
(`{{ archive_url }}` outside `{% if archive_url %}`): an own copy of `issue.txt` from then says "Past issues: "
and gives none, and the text has no markup to find that by, so the template's printing of it is noted.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mjml import mjml2html

from pipeline import item_view, site
from pipeline.config import Project
from pipeline.edition import Edition
from pipeline.mail.message import header_link
from pipeline.models import Item, Kind
from pipeline.run_context import RunContext
from plugins.sinks.email import view

HTML_TEMPLATE = "email/issue.mjml"
TEXT_TEMPLATE = "email/issue.txt"
GMAIL_CLIP_BYTES = 102 * 1024  # Gmail hides the rest of a longer HTML part behind "[Message clipped]"
_EMPTY_LINK = re.compile(r"""<a\s(?:[^>]*\s)?href\s*=\s*(?:"\s*"|'\s*')""", re.IGNORECASE)  # not data-href=""
# "" where there is no such page (subscribe_url: the form of `pipeline serve`, with an email sink only)
_PAGES = ("issue_url", "archive_url", "feed_url", "subscribe_url", "unsubscribe", "preferences")


class _Unwritten(str):
    """"" for the address of a page no sink writes, as the text template sees it: false in `{% if %}` and empty
    when printed, as "" is, and each printing of it noted in `printed` by name."""

    def __new__(cls, name: str, printed: set[str]):
        unwritten = super().__new__(cls, "")
        unwritten.name, unwritten.printed = name, printed
        return unwritten

    def __str__(self) -> str:
        self.printed.add(self.name)
        return ""


@dataclass
class RenderedEdition:
    subject: str
    html: str
    text: str


def render_edition(edition: Edition, run: RunContext, *, unsubscribe: str = "", preferences: str = "",
                   max_per_section: int | None = None, check_links: bool = True) -> RenderedEdition:
    """Subject, HTML and plain text of `edition`.

    :param unsubscribe: the recipient's own unsubscribe link in the footer (a tag filled in per
        recipient); "" leaves the footer's unsubscribe line out (the issue's web version is the archive's
        page, made from the site's templates, not from this).
    :param preferences: the same for the link to the recipient's preferences page.
    :param check_links: say (as the run's problem) when a link of the template leads nowhere; not for a copy rendered
        without the recipient's own links, which a template may link without `{% if %}`.
    :param max_per_section: for the email: at most this many items a section, then a link to the
        web version for the rest; fewer (down to none) if the HTML would still be over
        `GMAIL_CLIP_BYTES`. None: every item. A project without an `archive` sink has
        no web version: its email shows every item, and links to no page of the site.
    """
    web = site.publishes(run.project, "archive")
    # With no web version to hold the rest, every item is shown (past Gmail's clip if need be: its "View
    # entire message" still shows them) and nothing links to pages no sink writes.
    limit = max_per_section if web else None
    email = max_per_section is not None  # else the web version: every field whole
    # Which item has the page an own URL names (two items may name one): the page the archive gives each.
    owners = site.own_pages(run.project, run.store) if web else {}
    rendered, printed = _render(edition, run, unsubscribe, preferences, limit, web, email, owners)
    while limit and _size_sent(rendered.html) > GMAIL_CLIP_BYTES:
        limit = min(limit - 1, limit * 3 // 4)  # a quarter fewer each time: 10, 7, 5, 3, 2, 1, 0
        rendered, printed = _render(edition, run, unsubscribe, preferences, limit, web, email, owners)
    if check_links and _EMPTY_LINK.search(rendered.html):
        _template_problem(run, HTML_TEMPLATE, 'a link of the issue has no address (href=""), so it leads nowhere: '
                          "the template links to a page no sink of this project writes; put such a link inside "
                          "{% if issue_url %} (archive_url, feed_url, subscribe_url, unsubscribe) as the shipped "
                          "email/issue.mjml does")
    if check_links and printed:
        _template_problem(run, TEXT_TEMPLATE, f"the plain text prints {', '.join(printed)}, the address of a page no "
                          'sink of this project writes (""), so it names a page and gives no address: put each '
                          "inside {% if issue_url %} (archive_url, feed_url...) as the shipped email/issue.txt does")
    return rendered


def _size_sent(html: str) -> int:
    """The bytes of `html` as a subscriber receives it: each `%token%` filled in with their own token, counted as the
    longest one (the unsubscribe and preferences links)."""
    from pipeline.mail import TOKEN_TAG
    from pipeline.subscribers.signing import LONGEST_TOKEN

    return len(html.encode()) + html.count(TOKEN_TAG) * (LONGEST_TOKEN - len(TOKEN_TAG))


def _template_problem(run: RunContext, name: str, message: str) -> None:
    """A problem of the template `name`, said once a run: each choice of themes renders its own version of the
    issue, from the same template."""
    where = f"template {run.templates.get_template(name).filename}"
    if f"{where}: {message}" not in run.problems:
        run.problem(where, message)


def _render(edition: Edition, run: RunContext, unsubscribe: str, preferences: str, limit: int | None,
            web: bool, email: bool, owners: Mapping[str, str]) -> tuple[RenderedEdition, list[str]]:
    """The edition rendered, and which addresses of pages no sink writes the plain text printed (in `_PAGES`
    order)."""
    project = run.project
    page_of = site.pages_of(owners)  # where an announcement merged into a job or event links (`site.also_link`)
    sections = view.sections(edition, project.tz, limit, _calendar_links(project, web, owners),
                             lambda item: site.item_link(project, item, owners), cut=email,
                             also_url=lambda also: site.also_link(project, also, page_of),
                             language=lambda item: site.other_language(project, item),
                             web_page=_web_pages(project, edition) if web else lambda item: "")
    changes = [_ascii_change(change) for change in view.changes(
        edition, project.tz, lambda item: site.item_link(project, item, owners),
        language=lambda item: site.other_language(project, item))]
    context = {
        "edition": edition,
        "subject": view.subject_line(edition.title),
        "intro": view.intro(edition) if edition.items or not changes else
        "Nothing new for your themes this time, but something an earlier issue told you of has changed.",
        "sections": [_ascii_links(section) for section in sections],
        # the jobs and events earlier issues sent that changed since, under `changes_title` ("Changed since issue N")
        "changes_title": item_view.changes_title(edition.changes) if changes else "",
        "changes": changes,
        # "" where no sink writes the page: the templates then leave the link out
        "issue_url": header_link(site.edition_url(project, edition.number)) if web else "",
        "archive_url": header_link(site.archive_url(project)) if web else "",
        "feed_url": header_link(site.feed_url(project)) if site.publishes(project, "rss") else "",
        "subscribe_url": header_link(site.subscribe_url(project)),  # for whoever was forwarded it; "" with no email
        "unsubscribe": header_link(unsubscribe),
        "preferences": header_link(preferences),
        # the email's direction, for its `dir` and the side its text is set to; an item's, where its `lang` differs
        "direction": site.direction(project.core.language),
        "direction_of": site.direction,
        # `project.site_url` as the email links it ("signed up at …"), an address typed in its description so too;
        # the rest of the project as it is
        "project": project.core.model_copy(update={"site_url": header_link(project.core.site_url),
                                                   "description": typed_links(project.core.description)}),
    }
    mjml_source = run.templates.get_template(HTML_TEMPLATE).render(context)
    # fonts={}: no web-font <link>s; the template uses system fonts.
    html = mjml2html(mjml_source, disable_comments=True, fonts={})
    printed: set[str] = set()
    unwritten = {name: _Unwritten(name, printed) for name in _PAGES if not context[name]}
    text = run.templates.get_template(TEXT_TEMPLATE).render({**context, **unwritten})
    return RenderedEdition(context["subject"], html, text), [name for name in _PAGES if name in printed]


def _web_pages(project: Project, edition: Edition) -> Callable[[Item], str]:
    """Item -> the address of the page of the issue's web version that shows it: the archive lists the whole issue
    (`edition.whole`, a subscriber's version being part of it) `site.PAGE_SIZE` a page (issue-N.html,
    issue-N-page-2.html…)."""
    pages = {item_id: position // site.PAGE_SIZE + 1 for position, item_id in enumerate(edition.whole)}
    return lambda item: site.url(project, site.edition_page_path(edition.number, pages.get(item.id, 1)))


def _ascii_links(section: view.SectionView) -> view.SectionView:
    """`section` with every address its items link or show in ASCII, as a header takes it and a browser sends it
    (`header_link`: a host outside ASCII in its IDNA form, a path %-escaped), as List-Unsubscribe has it: a mail
    client finds the links of the plain text itself, and may leave one outside ASCII unlinked, or cut it short. So
    with an address typed in free text (a job's "how to apply", an event's speakers, a summary): `typed_links`."""
    section.more_url = header_link(section.more_url)
    for item in section.items:
        item.url, item.calendar_url, item.image = header_link(item.url), header_link(item.calendar_url), \
            header_link(item.image)
        if item.event is not None:
            item.event.booking_url, item.event.more_url = header_link(item.event.booking_url), \
                header_link(item.event.more_url)
        for also in item.also:
            also.url = header_link(also.url)
        for shown in (item, item.job, item.event, *item.also, *(item.event.prices if item.event else ())):
            _typed_in(shown)
    return section


def _ascii_change(change: item_view.ChangeView) -> item_view.ChangeView:
    """A change's link and text as `_ascii_links` makes an item's."""
    change.url = header_link(change.url)
    _typed_in(change)
    return change


_LINKED = frozenset({"url", "calendar_url", "image", "booking_url"})  # links already: `header_link`
# Where an address a mail client would link starts in text: a URL, one starting www. (not in the middle of a word),
# an email address (its part before the @, looked for only from a word's first character: from every one, a long
# word with no @ in it cost its length squared, and a field of a hostile feed can be as long as it likes)
_TYPED = re.compile(r"(?<![A-Za-z0-9])(?:https?://|www\.)|(?<![\w.+'-])[\w.+'-]+@", re.IGNORECASE)
_NEVER_IN = frozenset('<>"`{}|\\^')  # what no address holds unescaped: it ends there
_TRAILING = ".,;:!?'\")]}"  # after an address, the sentence's: a full stop, a closing bracket or quote


def _typed_in(shown: object | None) -> None:
    """Each text field of the view `shown` (an item's, its job's, its event's...) with `typed_links`."""
    if shown is None:
        return
    for name, value in vars(shown).items():
        if name not in _LINKED and isinstance(value, str) and not value.isascii():
            setattr(shown, name, typed_links(value))
        elif isinstance(value, list) and value and all(isinstance(line, str) for line in value):  # a programme
            setattr(shown, name, [typed_links(line) for line in value])


def typed_links(text: str) -> str:
    """`text` with each address typed in it, which a mail client links by itself, in ASCII as the email's own links
    are: a URL, or one starting www., as `header_link` writes it; an email address with its domain in IDNA (the same
    mailbox). An address ends at a space, at a character no address holds unescaped, at punctuation outside ASCII
    (an ellipsis, a closing guillemet, an ideographic full stop), and before the punctuation that ends a sentence;
    words that are no address, and all that punctuation, stay as they are."""
    if text.isascii():
        return text
    done, at = [], 0
    for start in _TYPED.finditer(text):
        if start.start() < at:  # inside the address before it ("https://ann@bücher.de")
            continue
        end = start.end()
        while end < len(text) and _in_address(text[end]):
            end += 1
        while end > start.end() and text[end - 1] in _TRAILING:
            end -= 1
        done += [text[at:start.start()], _in_ascii(text[start.start():end])]
        at = end
    return "".join(done) + text[at:]


def _in_address(char: str) -> bool:
    return not char.isspace() and char not in _NEVER_IN and (
        char.isascii() or unicodedata.category(char)[0] not in "PSZC")


def _in_ascii(address: str) -> str:
    """The address found in text, as the email writes its own links; as it was if it has no such form."""
    if address.isascii():
        return address
    user, at, domain = address.partition("@")
    if at and "://" not in address and not address.lower().startswith("www."):
        import idna  # here: an address outside ASCII is rare

        try:
            return f"{user}@{idna.encode(domain, uts46=True).decode('ascii')}"
        except UnicodeError:  # idna.IDNAError is one: a domain no mail reaches, so nothing a client links
            return address
    scheme = "" if "://" in address else "http://"  # www.… read as a browser reads it, shown without
    linked = header_link(scheme + address)
    return linked[len(scheme):] if linked.isascii() and linked.startswith(scheme) else address


def _calendar_links(project: Project, web: bool, owners: Mapping[str, str]) -> Callable[[Item], str]:
    """An event's .ics on the site, when the project publishes the site (`web`: an `archive` sink); else none: for an
    item of another kind too, even with event details (the site writes a calendar for an event with a date alone)."""
    if not web:
        return lambda item: ""
    return lambda item: site.url(project, site.event_calendar_path(project, item, owners)) \
        if item.kind is Kind.EVENT and item.event else ""
