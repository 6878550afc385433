"""`pipeline explain ITEM-ID-OR-URL`: why an item carries its themes, and its summary."""

from __future__ import annotations

from rich.markup import escape

from pipeline.config import load_project
from pipeline.errors import InputError, PipelineError
from pipeline.models import Item
from pipeline.phrases import original_offset
from pipeline.runner import state_path
from pipeline.sanitize import html_to_text
from pipeline.state import Store
from pipeline.state.access import open_read_only

CONTEXT = 40  # characters shown either side of a match


def explain(config, key: str, console) -> int:
    project = load_project(config)
    path = state_path(project)
    if not path.exists():  # (a folder in its place is said as every command says it, below)
        raise PipelineError(f"{path}: no state database yet; run `pipeline refresh` first")
    store = open_read_only(path)  # reads only, as `status` does: nothing written, a read-only mount too
    try:
        found = store.find_items(key.strip()) or _by_page(project, store, key.strip())
        withdrawn = store.withdrawn_at(found[0].id) if len(found) == 1 else None
        kept = _kept_for(store, found[0]) if len(found) == 1 and withdrawn is None else None
    finally:
        store.close()
    if not found:
        raise InputError(f"no stored item has the id or URL {key!r}; give the item's whole id (or its first "
                         f"6 characters or more), its link, or the address of its page on the site")
    if len(found) > 1:
        listed = "; ".join(f"{item.id} ({_local(item.published, project.tz):%Y-%m-%d}, {item.source}: "
                           f"{_short(item.title)})" for item in found)
        raise InputError(f"{key!r} does not say which item: it is the link or the start of the id of "
                         f"{'at least ' if len(found) >= 10 else ''}{len(found)} stored items: {listed}; "
                         f"give the whole id of the one you mean")
    lines = describe(found[0], project.tz)
    if withdrawn is not None:  # still stored (the issues it was in show it), but taken out of everything to come
        lines[2:2] = [f"[yellow]withdrawn[/yellow] {_local(withdrawn, project.tz):%-d %B %Y}: its source no longer "
                      f"lists it, so it is in no feed, page or issue to come (listed again, it is back)"]
    if kept is not None:
        lines[3:3] = [f"[yellow]left out for the same page[/yellow]: {escape(kept[1])}'s {escape(_short(kept[4]))} "
                      f"(id {kept[0]}) links it too, and is the one the issues, the feeds and the site's lists show"]
    for line in lines:  # the console prints a title's ":warning:" as it is (emoji=False)
        console.print(line, soft_wrap=True)
    return 0


def _kept_for(store: Store, item: Item) -> tuple[str, str, str, str, str] | None:
    """The news item or post of another source shown in place of `item`, which links the same page (two partner
    feeds passing on one news: `duplicates.one_per_page`, the one an issue showed kept), or None."""
    from pipeline.duplicates import announced_page, copies_of_one_page, page_key, shown_in_issues

    page = announced_page(item)
    if not page:
        return None
    same = [row for row in store.announcements() if page_key(row[3]) == page]
    if len({row[1] for row in same}) < 2:
        return None
    shown = shown_in_issues(store.stored_with_editions())

    def rank(row: tuple) -> tuple:
        return row[0] not in shown, row[2], row[0]

    if item.id not in copies_of_one_page((row[0], page, row[1], rank(row)) for row in same):
        return None
    return min(same, key=rank)


def _by_page(project, store: Store, key: str) -> list[Item]:
    """The item whose page on the site `key` is (`<site_url>/jobs/…/`, with or without `index.html`): for a job or
    event with no link of its own, the only address the email shows."""
    from pipeline.site import own_pages, path_of_url

    path = path_of_url(project, key)
    if not path:
        return []
    path = path.removesuffix("index.html")
    owner = own_pages(project, store).get(path if path.endswith("/") else f"{path}/")
    return store.find_items(owner) if owner else []


def _short(text: str, most: int = 60) -> str:
    return repr(text if len(text) <= most else text[:most] + "…")


def _local(moment, tz):
    """`moment` where the network is (the day its page and the email give), when it is aware."""
    return moment.astimezone(tz) if getattr(moment, "tzinfo", None) is not None else moment


def describe(item: Item, tz) -> list[str]:
    """The lines `explain` prints for one item; its day where the network is (`tz`), as its page gives it."""
    body = html_to_text(item.body_html)
    lines = [f"[bold]{escape(item.title)}[/bold]",
             f"{item.kind.value} from {escape(item.source)}, {_local(item.published, tz):%-d %B %Y}; id {item.id}",
             escape(item.url) if item.url else "(no link)", "", f"themes: {escape(', '.join(item.themes)) or 'none'}"]
    evidence = item.theme_evidence or {}
    given = [t for t in item.themes if t not in evidence]
    if given and evidence:  # the themes transform keeps evidence of every theme it gives
        lines.append(f"  given by the source: {escape(', '.join(given))}")
    elif given:  # no evidence at all: a source's themes, or an item tagged before evidence was kept
        lines.append(f"  no evidence kept with this item: {escape(', '.join(given))} given by the source, or "
                     f"by the themes transform before it kept its evidence")
    for theme, verdict in evidence.items():
        why = escape(verdict.get("why", ""))
        mark = "[green]kept[/green]" if verdict.get("kept") else f"[yellow]not kept[/yellow]: {why}"
        score, needed = verdict.get("score", 0), verdict.get("needed", 0)
        lines.append(f"  {escape(theme)}: score {score:g} (needs {needed:g}); {mark}")
        for match in verdict.get("matches", []):
            phrase, where, at = match if isinstance(match, list) else (match["phrase"], match["where"], match["at"])
            text = item.title if where == "title" else body
            lines.append(f"    {escape(repr(phrase))} in the {where}: "
                         f"…{escape(_around(text, original_offset(text, int(at))))}…")
        if verdict.get("more"):
            lines.append(f"    and {verdict['more']} more")
    if not evidence and not given:
        lines.append("  (no theme phrase matched; the item was tagged before evidence was kept, or no theme fits)")
    lines += ["", f"summary: {escape(item.summary) or '(none)'}"]
    return lines


def _around(text: str, at: int) -> str:
    start, end = max(0, at - CONTEXT), min(len(text), at + CONTEXT)
    return " ".join(text[start:end].split())
