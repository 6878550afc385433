"""The archive sink: rebuilds index.html and one page per issue from state on every run."""

from __future__ import annotations

from pydantic import Field

from pipeline import components
from pipeline.components import Sink, SinkResult
from pipeline.edition import Edition, from_record
from pipeline.files import write_atomic
from pipeline.run_context import RunContext
from pipeline.site import archive_dir, edition_page, feed_url
from plugins.sinks.archive.pages import IndexEntry, index_entry, issue_page
from plugins.sinks.email.render import render_edition

INDEX_TEMPLATE = "archive/index.html"
STYLESHEET = "archive/archive.css"


class ArchiveSink(Sink):
    """Every issue's web version (the email's templates, with every item) and an index of them all, newest first."""

    name = "archive"
    description = "static web archive of every issue (out_dir/archive)"

    class Settings(components.Settings):
        title: str | None = Field(default=None, min_length=1)  # default: "<network> newsletter archive"

    def write(self, edition: Edition | None, run: RunContext) -> SinkResult:
        folder = archive_dir(self.project)
        title = self.settings.title or f"{self.project.core.name} newsletter archive"
        feed_title = f"{self.project.core.name} (RSS)"
        issues: list[str] = []
        entries: list[IndexEntry] = []
        for record in run.store.editions():  # newest first
            issue = from_record(run.store, record)
            page = folder / edition_page(issue.number)
            html = render_edition(issue, run, max_per_section=None).html  # the web version: no item left out
            write_atomic(page, issue_page(html, index_href="index.html",
                                          feed_href=feed_url(self.project), feed_title=feed_title))
            issues.append(str(page))
            entries.append(index_entry(issue))
        env = run.templates
        css, _, _ = env.loader.get_source(env, STYLESHEET)
        write_atomic(folder / "archive.css", css)
        index = env.get_template(INDEX_TEMPLATE).render(
            title=title, editions=entries, feed_url=feed_url(self.project), feed_title=feed_title,
            stylesheet="archive.css")
        write_atomic(folder / "index.html", index)
        pages = len(issues) + 1
        return SinkResult(f"{pages} page{'s' if pages != 1 else ''} in {folder.name}/",
                          [str(folder / "index.html"), str(folder / "archive.css"), *issues])
