"""Review h149: the archive sink's "unchanged refresh" skip (plugins/sinks/archive/unchanged.py) against what a site
should show: each case changes what the site is made from (or out/), and the next refresh must show it."""

from __future__ import annotations

from pipeline import site
from pipeline.templating import SHIPPED_TEMPLATES
from tests.test_archive_unchanged import SKIPPED, planned, settle, site_of  # noqa: F401 (the fixture)

FRONT = (SHIPPED_TEMPLATES / "site" / "front.html").read_text(encoding="utf-8")


def _front_with(text: str) -> str:
    return FRONT.replace("{% endblock %}", text + "{% endblock %}", 1)


def test_a_template_outside_site_that_a_site_template_includes_is_shown_when_edited(site_of, tmp_path):  # noqa: F811
    """A project's front page including a partial of its own (templates/partials/): an edit of the partial alone is
    shown, the page made again."""
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with('{% include "partials/note.html" %}'), encoding="utf-8")
    note = tmp_path / "templates" / "partials" / "note.html"
    note.parent.mkdir(parents=True)
    note.write_text("<p>First note.</p>", encoding="utf-8")
    built = site_of()
    assert "First note." in built.read(site.FRONT_PAGE)
    settle(built)
    note.write_text("<p>Second note.</p>", encoding="utf-8")
    built.write()
    assert "Second note." in built.read(site.FRONT_PAGE)
