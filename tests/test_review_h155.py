"""Review h155: the last round's changes (h149's site inputs, h151's operations) against what they promise."""

from __future__ import annotations

from pipeline import site
from pipeline.templating import SHIPPED_TEMPLATES
from tests.test_archive_unchanged import SKIPPED, planned, settle, site_of  # noqa: F401 (the fixture)

FRONT = (SHIPPED_TEMPLATES / "site" / "front.html").read_text(encoding="utf-8")


def _front_with(text: str) -> str:
    return FRONT.replace("{% endblock %}", text + "{% endblock %}", 1)


def test_a_template_in_a_linked_folder_that_a_site_template_includes_is_shown_when_edited(site_of, tmp_path):  # noqa: F811
    """templates/partials/ a symbolic link to a folder several projects share: the loader reads through it, but
    Jinja2 lists templates without following a linked folder, so an edit of the partial was in no page key and the
    front page kept the old note. A loop of links in templates/ is walked once, not for ever."""
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with('{% include "partials/note.html" %}'), encoding="utf-8")
    shared = tmp_path / "shared-partials"
    shared.mkdir()
    (shared / "again").symlink_to(shared, target_is_directory=True)  # a loop: shared/again/again/... is shared
    (tmp_path / "templates" / "partials").symlink_to(shared, target_is_directory=True)
    note = shared / "note.html"
    note.write_text("<p>First note.</p>", encoding="utf-8")
    built = site_of()
    assert "First note." in built.read(site.FRONT_PAGE)
    settle(built)
    note.write_text("<p>Second note.</p>", encoding="utf-8")
    built.write()
    assert "Second note." in built.read(site.FRONT_PAGE)
