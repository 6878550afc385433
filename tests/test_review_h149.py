"""Review h149: the archive sink's "unchanged refresh" skip (plugins/sinks/archive/unchanged.py) against what a site
should show: each case changes what the site is made from (or out/), and the next refresh must show it."""

from __future__ import annotations

from pipeline import site
from pipeline.templating import SHIPPED_TEMPLATES
from pipeline.testing import BASE_TOML
from tests.test_archive_sink import SINK
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


PLUGIN = '''
from pipeline.hookspecs import hookimpl


@hookimpl
def prepare_jinja_environment(env, project):
    env.globals["motto"] = {motto!r}
'''


def _with_plugin(tmp_path, motto: str) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir(exist_ok=True)
    (folder / "motto.py").write_text(PLUGIN.format(motto=motto), encoding="utf-8")


def test_a_plugin_preparing_the_environment_changed_is_shown(site_of, tmp_path, project_from):  # noqa: F811
    """A plugin of plugins_dir giving the templates a global: its code changed, the pages using it show it."""
    toml = BASE_TOML + 'plugins_dir = "plugins"\n' + SINK
    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with("<p>{{ motto }}</p>"), encoding="utf-8")
    _with_plugin(tmp_path, "Nothing about us without us.")
    built = site_of(toml=toml)
    assert "Nothing about us without us." in built.read(site.FRONT_PAGE)
    settle(built)
    _with_plugin(tmp_path, "Peer support works.")
    built.project = project_from(toml)
    built.write()
    assert "Peer support works." in built.read(site.FRONT_PAGE)


SETTING = """
from pipeline.components import Settings, Source
from pipeline.hookspecs import hookimpl


class MottoSource(Source):
    name = "motto"

    class Settings(Settings):
        motto: str

    def fetch(self, run):
        return []


@hookimpl
def register_sources(register):
    register(MottoSource)


@hookimpl
def prepare_jinja_environment(env, project):
    env.globals["motto"] = next(s.settings.motto for s in project.sources if s.name == "motto")
"""


def test_a_setting_a_plugin_preparing_the_environment_reads_is_shown_when_changed(site_of, tmp_path,  # noqa: F811
                                                                                   project_from):
    """The same plugin giving the templates a setting of its own component (pipeline.toml): changed, it is shown."""
    def toml(motto: str) -> str:
        return BASE_TOML + f'plugins_dir = "plugins"\n[sources.motto]\ntype = "motto"\nmotto = "{motto}"\n' + SINK

    own = tmp_path / "templates" / "site" / "front.html"
    own.parent.mkdir(parents=True)
    own.write_text(_front_with("<p>{{ motto }}</p>"), encoding="utf-8")
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "motto.py").write_text(SETTING, encoding="utf-8")
    built = site_of(toml=toml("Nothing about us without us."))
    assert "Nothing about us without us." in built.read(site.FRONT_PAGE)
    settle(built)
    built.project = project_from(toml("Peer support works."))
    built.write()
    assert "Peer support works." in built.read(site.FRONT_PAGE)
    settle(built)  # and, unchanged again, it is left as it is
