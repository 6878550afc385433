"""A page for every item, and an .ics file for every event.

A blog post is shown in full; a partner's news item links out to the partner's page; a job has its
closing date and how to apply; an event its time at the venue, programme, speakers, prices and
calendar links. Each lists its themes (linking to their pages) and the issue it was in.

An item's page is named after its title: when the title changes, the page moves, and where it was
(linked by the emails already sent) leads on to it, its .ics as well; so does where an item was that is on the site
under a new id (`pipeline/state/successors.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from pipeline import item_view, site
from pipeline.models import Kind
from pipeline.sanitize import first_image
from pipeline.state.successors import successors
from plugins.sinks.archive.builder import Site
from plugins.sinks.archive.facts import Facts, cached_facts, remade_facts
from plugins.sinks.archive.render import KIND_LABELS, Head
from plugins.sinks.archive.writer import Planned, key


def plan_items(built: Site) -> list[Planned]:
    planned: list[Planned] = []
    issue_of, announcements, merged_into = built.issue_of, built.announcements, built.merged_into
    for entry in built.facts.values():
        issue = issue_of.get(entry.id)
        merges = ""
        if entry.id in announcements or entry.id in built.announced_later:  # what its page shows announced it
            merges = built.prints(built.shown([*announcements.get(entry.id, ()),
                                               *built.announced_later.get(entry.id, ())]))
        elif entry.id in merged_into:  # the job or event this announces
            merges = built.prints(built.shown([merged_into[entry.id]]))
        # A copy of news another source's item passed on too, which the lists have in its place (`Site.kept_for`):
        # its page names that one, as canonical too, and the sitemap lists that one alone
        kept = built.kept_for.get(entry.id)
        made_from = key(built.version, "item", entry.path, entry.fp, built.state_of(entry),
                        issue.number if issue else "", merges, f"{kept.path}|{kept.title}" if kept else "")
        planned.append(Planned(entry.path, made_from, lambda entry=entry: _item_page(built, entry),
                               listed=kept is None))
        if entry.kind == "event" and entry.start:  # an event with no details has nothing to put in a calendar
            planned.append(Planned(calendar_path(entry), key(built.version, "ics", entry.fp, entry.path,
                                                             built.revision(entry)),
                                   lambda entry=entry: _event_ics(built, entry), listed=False))
    return planned


def plan_withdrawn(built: Site, known: Iterable[str], planned: list[Planned]) -> list[Planned]:
    """Where the page of an item the organisers took out was (`Source.complete`), and every address it had before
    (under an earlier title, or one its own URL named): a page saying it was withdrawn, for the emails already sent
    that link there (unless another page has that address now); or, when an item of its source, kind, title and date
    is on the site (the same post under a new slug or file name: a new id), a page leading on to that one."""
    from pipeline.state.site import moved_pages, withdrawn_facts

    rows = withdrawn_facts(built.store)
    withdrawn = {item_id: made for item_id, cached in rows if (made := cached_facts(cached)) is not None}
    # Those another version cached (a later one's, after going back), made again from the item (one still stored)
    withdrawn |= remade_facts(built.project, built.store, {item_id: cached for item_id, cached in rows
                                                           if item_id not in withdrawn})
    by_prefix: dict[tuple[str, str], Facts | None] = {}
    for entry in withdrawn.values():
        at = (site.KIND_FOLDERS[Kind(entry.kind)], entry.id[:8])
        by_prefix[at] = None if at in by_prefix else entry
    addresses = [(entry.path, entry) for entry in withdrawn.values()]
    addresses += [(path, withdrawn[item]) for path, item in sorted(moved_pages(built.store).items())
                  if item in withdrawn]
    for path in sorted(known):
        folder, _, name = path.rstrip("/").partition("/")
        if path.endswith("/") and name[-9:-8] == "-" and "/" not in name and by_prefix.get((folder, name[-8:])):
            addresses.append((path, by_prefix[(folder, name[-8:])]))
    wanted = {page.path for page in planned}
    # An event still stored keeps its .ics beside each such page, saying it is cancelled: the emails sent link it, and
    # an app that imported it reads it again (an event pruned from the store since has nothing left to say). One
    # that leads on to the same event under a new id offers that event's calendar there instead.
    events = [entry.id for entry in withdrawn.values() if entry.kind == "event" and entry.start]
    revisions = built.store.revisions(item.id for item in built.items(events))
    # The same item under another id, on the site now (a post whose slug or file name changed,
    # pipeline/state/successors.py): its old addresses lead on to it, as for a title changed.
    leads = {old: built.facts[new] for old, new in successors(built.store).items()
             if old in withdrawn and new in built.facts}
    # One whose id was corrected, then cancelled: under the UID it kept, its revisions counted together (calendars)
    kept = built.cancelled(set(revisions) - leads.keys(), revisions)
    gone = []
    for path, entry in addresses:
        if path in wanted:
            continue
        wanted.add(path)
        now = leads.get(entry.id)
        if now is not None:
            gone.append(Planned(path, key(built.version, "moved", now.path, now.title, now.summary),
                                lambda path=path, now=now: built.renderer.page(
                                    "moved.html", path, Head(now.title, now.summary), target=now.path),
                                listed=False))
        else:
            gone.append(Planned(path, key(built.version, "withdrawn", path, entry.title, entry.kind),
                                lambda path=path, entry=entry: built.renderer.page(
                                    "withdrawn.html", path, Head(entry.title, "Withdrawn"), kind=entry.kind),
                                listed=False))
        ics = path + "event.ics"
        if ics in wanted:
            continue
        if now is not None and now.kind == "event" and now.start:  # the same event under its new id: its calendar,
            wanted.add(ics)  # as beside a page its title moved (`plan_moved`), not a cancellation of an event on
            gone.append(Planned(ics, key(built.version, "ics", now.fp, now.path, built.revision(now)),
                                lambda now=now: _event_ics(built, now), listed=False))
        elif entry.id in revisions:
            wanted.add(ics)
            revision, uid_of = kept.get(entry.id, (revisions[entry.id], ""))
            stored = _stored(entry, revision, uid_of)
            gone.append(Planned(ics, key(built.version, "cancelled", entry.fp, entry.path, str(stored.revision),
                                         uid_of),
                                lambda entry=entry, stored=stored: _event_ics(built, entry, stored, cancelled=True),
                                listed=False))
    return gone


def _stored(entry: Facts, revision, uid_of: str = ""):
    from pipeline.calendars import Stored  # icalendar is loaded only when a calendar is made

    return Stored(entry.path, revision, uid_of)


def plan_moved(built: Site, known: Iterable[str], planned: list[Planned]) -> list[Planned]:
    """Where an item's page was written before (`known`: every file the sink wrote): under an earlier title (an
    item's page in its kind's folder is `<kind folder>/<slug>-<first 8 of its id>/`), or at an address its own URL
    no longer names (`site_state.moved_pages`): a page leading on to it, and its .ics again."""
    from pipeline.state.site import moved_pages

    wanted = {page.path for page in planned}
    found: dict[tuple[str, str], Facts | None] = {}
    for entry in built.facts.values():
        at = (site.KIND_FOLDERS[Kind(entry.kind)], entry.id[:8])
        found[at] = None if at in found else entry  # two items with one prefix: neither is guessed
    left = moved_pages(built.store)
    moved = []
    # The files written, and every address an item's page left (its files may have gone while the item was away)
    for path in sorted(set(known) | set(left) | {base + "event.ics" for base in left}):
        file = "event.ics" if path.endswith("/event.ics") else "" if path.endswith("/") else None
        if file is None:
            continue
        base = path.removesuffix(file)
        folder, _, name = base.rstrip("/").partition("/")
        entry = found.get((folder, name[-8:])) if name[-9:-8] == "-" and "/" not in name else None
        entry = entry or built.facts.get(left.get(base, ""))
        if entry is None or path in wanted or base == entry.path:
            continue
        if not file:
            moved.append(Planned(path, key(built.version, "moved", entry.path, entry.title, entry.summary),
                                 lambda path=path, entry=entry: built.renderer.page(
                                     "moved.html", path, Head(entry.title, entry.summary), target=entry.path),
                                 listed=False))
        elif calendar_path(entry) in wanted and (path in known or base in left):
            moved.append(Planned(path, key(built.version, "ics", entry.fp, entry.path, built.revision(entry)),
                                 lambda entry=entry: _event_ics(built, entry), listed=False))
    return moved


def _event_ics(built: Site, entry: Facts, stored=None, *, cancelled: bool = False) -> bytes:
    from pipeline import calendars  # icalendar is loaded only when a calendar is made

    return calendars.event_ics(built.project, built.items([entry.id])[0], stored or built.stored(entry),
                               cancelled=cancelled)


def calendar_path(entry: Facts) -> str:
    """An event's .ics, beside its page (as `site.event_calendar_path` places it)."""
    return entry.path + "event.ics"


def _item_page(built: Site, entry: Facts) -> str:
    item = built.item(entry.id, later=True)
    view = item_view.item_view(item, built.project.tz, whole=True, also_url=built.also_url)
    issue = built.issue_of.get(entry.id)
    into = built.facts.get(built.merged_into.get(entry.id, ""))
    kept = built.kept_for.get(entry.id)
    link_out = item.url and site.path_of_url(built.project, item.url) is None  # elsewhere: a partner's page
    description = entry.summary or f"{KIND_LABELS[entry.kind]} from {built.project.core.name}"
    head = Head(entry.title, description, og_type="article", image=view.image)
    return built.renderer.page(
        "item.html", entry.path, head, entry=entry, item=item, view=view, state=built.state_of(entry),
        issue=issue, into=into, link_out=view.url if link_out else "", host=_host(item.url),
        calendar=calendar_path(entry) if entry.kind == "event" and entry.start else "", all_events=site.CALENDAR,
        lead_image=view.image if view.image and not first_image(item.body_html, view.image)[0] else "",
        language=site.other_language(built.project, item), kept=kept, **({"target": kept.path} if kept else {}))


def _host(url: str) -> str:
    """'opendialogue-uk.example.org' for a link to it ('' for none)."""
    return (urlsplit(url).hostname or "").removeprefix("www.") if url else ""
