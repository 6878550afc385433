"""The `archive` sink: the readers' site, out_dir as a whole (pipeline/site.py says where each page lives).

    [sinks.archive]
    type = "archive"
    title = "Back issues"        # optional: the archive index's heading (default "<network> newsletter archive")

On every run, a refresh included, it brings out/ in line with the state database: the front page,
every issue's web version and the archive's index, a page for every item, a page per theme and
per month with their indexes, jobs and events, search, an .ics per event and the calendar of all
events (`pipeline/calendars.py`), the sources' own files (the blog's images: `Source.site_files`), one
stylesheet and sitemap.xml. Only what changed
is rendered and written (writer.py); the pages of items no longer stored are removed, while a list page
no longer made (a theme no item carries, a shorter list's page 2) leads on to where it went (lists.py, `plan_left`).
A refresh that finds nothing changed since the last build, on the disk either, plans nothing (unchanged.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from pipeline import components, site
from pipeline.components import Sink, SinkResult

if TYPE_CHECKING:
    from pipeline.edition import Edition
    from pipeline.run_context import RunContext

STYLESHEET_TEMPLATE = "site/site.css"


class ArchiveSink(Sink):
    """The site: every issue's web version, a page per item, theme, month, jobs, events, search."""

    name = "archive"
    single = "both would make out_dir the site, each removing what the other wrote"
    description = "the readers' site: issues, items, themes, months, jobs, events, search (out_dir)"

    class Settings(components.Settings):
        title: str | None = Field(default=None, min_length=1)  # default: "<network> newsletter archive"

    def write(self, edition: Edition | None, run: RunContext) -> SinkResult:
        # The site's modules are loaded here: loading the plugins (`pipeline check`, a run) does not need them.
        from pipeline.state import site as site_state
        from pipeline.state.site import pages_written
        from plugins.sinks.archive import unchanged
        from plugins.sinks.archive.builder import Site
        from plugins.sinks.archive.files import plan_files
        from plugins.sinks.archive.issues import plan_archive_index, plan_issues
        from plugins.sinks.archive.items import plan_items, plan_moved, plan_withdrawn
        from plugins.sinks.archive.lists import plan_left, plan_lists
        from plugins.sinks.archive.search import plan_search
        from plugins.sinks.archive.sitemap import plan_sitemap
        from plugins.sinks.archive.writer import Planned, key, publish

        inputs = unchanged.inputs_of(self, run, files := site_state.written_files(run.store, self.instance))
        counted = unchanged.unchanged(self, run, inputs, files)
        if counted is not None:  # as the last build left it: nothing to plan
            return SinkResult(f"{counted}: 0 made again, 0 written (nothing changed since the last build)", [])
        site_state.record_build(run.store, self.instance, None)  # a build stopped part-way leaves none
        problems = len(run.problems)

        built = Site(self, run)
        css = built.renderer.asset(STYLESHEET_TEMPLATE)
        planned: list[Planned] = [
            Planned(site.STYLESHEET, key(css), lambda: css, listed=False),
            *plan_issues(built), *plan_archive_index(built), *plan_items(built), *plan_lists(built),
            *plan_search(built),
        ]
        known = pages_written(run.store, self.instance)
        planned += plan_files(built, planned, known)
        planned += plan_withdrawn(built, known, planned)
        planned += plan_moved(built, known, planned)
        planned += plan_left(built, known, planned)
        planned.append(plan_sitemap(self.project, built.version, planned))
        done = publish(self.project, run.store, self.instance, planned, known)
        pages = sum(1 for page in planned if page.listed)
        counted = f"{pages} page{'s' if pages != 1 else ''}, {len(planned)} files"
        if not done.rendered and not done.removed and len(run.problems) == problems:  # else the next run plans it
            after = unchanged.inputs_of(self, run, site_state.written_files(run.store, self.instance))
            unchanged.remember(self, run, after, after == inputs, built.facts, counted)
        said = [f"{done.rendered} made again", f"{len(done.written)} written"]
        if done.removed:
            said.append(f"{len(done.removed)} removed")
        return SinkResult(f"{counted}: " + ", ".join(said), done.written)
