"""Review h101: an organiser configuring pipeline.toml and writing plugins by the README's guide.
Each test fails while its problem is there."""

from __future__ import annotations

import textwrap
from datetime import date

import pytest

from pipeline.cli import main
from pipeline.errors import ConfigError

POST = {"posts/leeds.md": "---\ntitle: A day in Leeds\ndate: 2016-03-01\n---\nWhat peer support can do.\n"}
BLOG = '[sources.blog]\ntype = "blog"\npath = "posts"\n'
CSV = "title,date,url,text\nSeminar 4,2016-03-01,https://x.example.org/4,<b>Hi</b>\n"

# A loose plugin file, as the README's "A source" writes one, with a settings model the test chooses
PLUGIN = '''
import csv
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from pipeline import hookimpl
from pipeline.components import Settings, Sink, SinkResult, Source
from pipeline.dates import aware
from pipeline.models import Item, Kind, item_id
from pipeline.settings_types import ExistingFile


class NoticesSource(Source):
    name = "notices"

    {settings}

    def fetch(self, run):
        with open(self.settings.path, newline="", encoding="utf-8") as rows:
            for row in csv.DictReader(rows):
                yield Item(id=item_id(self.instance, row["title"]), kind=Kind.NEWS, source=self.instance,
                           title=row["title"], published=aware(date.fromisoformat(row["date"]), self.project.tz))


{marker}
def register_sources(register):
    register(NoticesSource)
'''


def plugin_file(settings: str = "class Settings(Settings):\n        path: Path", marker: str = "@hookimpl") -> str:
    return PLUGIN.format(settings=settings, marker=marker)


def _lines(exc: ConfigError) -> str:
    return "\n".join(exc.lines)


# -- configuration -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("folders", ['out_dir = "site"\nstate_dir = "site/state"\n', 'out_dir = "."\n'])
def test_a_state_folder_inside_the_published_output_folder_is_refused(project_from, folders):
    """The organiser keeps the whole project under the web root (`out_dir = "site"`, `state_dir = "site/state"`, or
    `out_dir = "."`). Now `pipeline check` says OK and a run writes the state database (every subscriber's address
    and consent record) and `state/secret` (the key that signs every unsubscribe and confirm link) into the folder
    that is published. The outbox inside out_dir is refused for just this reason (plugins/deliveries/outbox.py);
    the state folder should be refused the same way, on one line naming [pipeline] state_dir and out_dir."""
    toml = f'[pipeline]\nname = "N"\nsite_url = "https://network.example.org"\n{folders}{BLOG}' \
           '[sinks.feed]\ntype = "rss"\n'
    with pytest.raises(ConfigError) as caught:
        project_from(toml, POST)
    said = _lines(caught.value)
    assert "state_dir" in said and "out_dir" in said


def test_two_rss_sinks_do_not_silently_write_the_same_feed(project_from):
    """The README says one component can run as several instances. The organiser adds a second `rss` table (a short
    feed of the latest item) beside the main one. Now both write out/feed.xml (and the theme feeds): the second
    overwrites the first without a word, so the main feed is gone. Two email sinks are refused at start-up
    (plugins/sinks/email); two rss sinks writing the same files should be too (or write to different files)."""
    toml = BLOG + '[sinks.rss]\ntype = "rss"\ntitle = "Main"\n[sinks.rss-short]\ntype = "rss"\nlimit = 1\n' \
                  'title = "Short"\n'
    with pytest.raises(ConfigError) as caught:
        project_from(toml, POST)
    assert "rss-short" in _lines(caught.value)


def test_a_type_put_under_the_wrong_kind_of_table_says_so(project_from):
    """The organiser writes `[sinks.feed] type = "feed"` (the README's source `feed` reads RSS; the sink is `rss`).
    Now the line says "unknown sink type 'feed' ... (install the plugin that provides it, or check the spelling)":
    it is installed, as a source. The line should say that `feed` is a source type (a [sources.*] table)."""
    with pytest.raises(ConfigError) as caught:
        project_from(BLOG + '[sinks.feed]\ntype = "feed"\nurl = "https://example.org/feed.xml"\n', POST)
    (line,) = [line for line in caught.value.lines if "[sinks.feed]" in line]
    assert "source" in line


def test_pipeline_plugins_says_when_the_plugins_folder_is_not_there(write_project, capsys):
    """The organiser misspells `plugins_dir = "local_plugin"` and runs `pipeline plugins` to see whether their
    loose file is found (README "While you write one"). Now it lists the installed plugins only and exits 0,
    saying nothing about the folder (config.load_plugins skips a missing folder silently); `pipeline check` does
    report it. `pipeline plugins` should name the folder that is not there and exit 2."""
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugin"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": plugin_file()})
    code = main(["plugins", "-c", str(path)])
    captured = capsys.readouterr()
    assert code == 2
    assert "local_plugin" in captured.out + captured.err


# -- writing a plugin ----------------------------------------------------------------------------------------

def _source_n_runs_from_elsewhere(path, tmp_path, monkeypatch) -> None:
    """Run the project at `path` from another folder (as cron and systemd do): its source `n` reads its file."""
    from pipeline.config import load_project
    from pipeline.runner import run

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    report = run(load_project(path), as_of=date(2016, 4, 1))
    (source,) = [r for r in report.results if r.name == "n"]
    assert source.ok, source.summary


def test_a_path_setting_is_relative_to_pipeline_toml(write_project, tmp_path, monkeypatch):
    """The README: "`self.settings` is your validated `Settings` (a path is relative to `pipeline.toml`...)". The
    organiser's plugin declares `path: Path` and runs `pipeline run -c /srv/network/pipeline.toml` from another
    folder (cron, systemd). Now the path stays relative to the current folder: the source fails with
    FileNotFoundError 'n.csv'. Only the settings_types annotations resolve; a plain Path should too (or the host
    should refuse such a field, saying to use ProjectPath/ExistingFile)."""
    path = write_project('[pipeline]\nname = "N"\nworkers = 1\nplugins_dir = "local_plugins"\n'
                         '[sources.n]\ntype = "notices"\npath = "n.csv"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": plugin_file(), "n.csv": CSV})
    _source_n_runs_from_elsewhere(path, tmp_path, monkeypatch)


def test_a_settings_model_that_forgets_the_base_class_still_rejects_unknown_keys(write_project, capsys):
    """A newcomer writes `class Settings(BaseModel)` (pydantic's own) instead of `Settings(Settings)`. The README
    promises "unknown keys are rejected". Now the organiser's typo `pth = "n.csv"` is silently dropped and
    `pipeline check` says OK; the source then runs on its default. The host should reject the unknown key (or
    refuse the plugin's model) on one line naming the table and the key."""
    settings = 'class Settings(BaseModel):\n        path: str = "notices.csv"'
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                         '[sources.n]\ntype = "notices"\npth = "n.csv"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": plugin_file(settings), "n.csv": CSV})
    code = main(["check", "-c", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "[sources.n]" in err and "pth" in err


def test_a_settings_class_that_is_not_a_pydantic_model_is_reported_by_plugin(write_project, capsys):
    """A newcomer writes the settings as a dataclass. Now `pipeline check` stops with "error: unexpected
    AttributeError: type object 'Settings' has no attribute 'model_fields'" (config._build reads
    `component.Settings.model_fields` outside any guard), exit 1, naming neither the plugin nor the table. It should
    be one line naming the table and the plugin (its settings are not a pipeline Settings model), exit 2."""
    settings = 'from dataclasses import dataclass\n\n    @dataclass\n    class Settings:\n        path: str = ""'
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                         '[sources.n]\ntype = "notices"\npath = "n.csv"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": plugin_file(settings), "n.csv": CSV})
    code = main(["check", "-c", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "notices" in err and "unexpected" not in err


def test_a_hook_not_marked_hookimpl_is_reported_naming_the_plugin(write_project, capsys):
    """A newcomer forgets the `@hookimpl` line above `register_sources`. Now the file loads, registers nothing, and
    `pipeline check` says "unknown source type 'notices'; installed: ... (install the plugin that provides it, or
    check the spelling)": nothing points at the file. A misspelt hook is caught (plugins._check_hooks); a function
    named like a hook but not marked should be reported too, naming the plugin and @hookimpl."""
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                         '[sources.n]\ntype = "notices"\npath = "n.csv"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": plugin_file(marker=""), "n.csv": CSV})
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "hookimpl" in err and "notices" in err


def _run_with(pipeline_project, code: str, toml: str):
    project = pipeline_project(toml, POST, plugins=[("mine", _module(code))])
    return project.run(as_of=date(2016, 4, 1), check=False)


def _module(code: str):
    import types

    module = types.ModuleType("mine")
    exec(compile(textwrap.dedent(code), "mine.py", "exec", dont_inherit=True), module.__dict__)  # no __future__
    return module


def test_a_source_with_a_misspelt_fetch_is_named_as_such(pipeline_project):
    """The organiser's source spells its method `fech`. Now the run's line for it reads "FAILED
    NotImplementedError:" with nothing after it (components.Source.fetch raises a bare NotImplementedError), and
    `pipeline check` said OK. The line should say that the source does not implement `fetch`."""
    code = '''
        from pipeline import hookimpl
        from pipeline.components import Source

        class Notices(Source):
            name = "notices"

            def fech(self, run):
                return []

        @hookimpl
        def register_sources(register):
            register(Notices)
    '''
    report = _run_with(pipeline_project, code, BLOG + '[sources.n]\ntype = "notices"\n')
    (result,) = [r for r in report.results if r.name == "n"]
    assert not result.ok and "fetch" in result.summary, result.summary


def test_a_sink_that_returns_nothing_is_told_what_to_return(pipeline_project):
    """A sink's `write` ends without `return SinkResult(...)`. Now its line reads "AttributeError: 'NoneType'
    object has no attribute 'summary'", a message about the host's internals, while a source that returns the
    wrong thing is told "fetch() returned dict, not Item". It should say write() returned None, not a SinkResult."""
    code = '''
        from pipeline import hookimpl
        from pipeline.components import Sink

        class Chat(Sink):
            name = "chat"

            def write(self, edition, run):
                pass

        @hookimpl
        def register_sinks(register):
            register(Chat)
    '''
    report = _run_with(pipeline_project, code, BLOG + '[sinks.chat]\ntype = "chat"\n')
    (result,) = [r for r in report.results if r.name == "chat"]
    assert "SinkResult" in result.summary and "AttributeError" not in result.summary, result.summary


def test_the_readme_webhook_sink_never_prints_a_token_put_in_token_env(pipeline_project):
    """The README's sink (examples/webhook-sink) reads its token from the variable `token_env` names. The organiser
    puts the token itself there (`token_env = "xoxb-..."`), as the README's own `api_key_env` guards against. Now
    `pipeline check` says OK and the run prints "environment variable xoxb-...-SECRET is not set": the token goes to
    the terminal, the log, the run report in the state database and the organisers' alert email. It should be
    refused without being repeated, as `api_key_env` and `secret_env` are."""
    toml = BLOG + '[sinks.chat]\ntype = "webhook"\nurl = "http://127.0.0.1:9/hook"\n' \
                  'token_env = "xoxb-1234-SECRETTOKEN"\n'
    project = pipeline_project(toml, POST)
    try:
        report = project.run(as_of=date(2016, 4, 1), check=False)
        said = " ".join([r.summary for r in report.results] + report.problems)
    except ConfigError as exc:
        said = _lines(exc)
    assert "SECRETTOKEN" not in said


_ONE_ITEM = '''
    from datetime import datetime, UTC

    from pipeline import hookimpl
    from pipeline.components import Source
    from pipeline.models import Item, Kind, item_id

    class Notices(Source):
        name = "notices"

        def fetch(self, run):
            yield Item(id=item_id(self.instance, "a"), kind=Kind.NEWS, source=self.instance, title="Seminar 4",
                       published=datetime(2016, 3, 2, tzinfo=UTC), {field})

    @hookimpl
    def register_sources(register):
        register(Notices)
'''


def test_an_items_themes_given_as_one_string_are_not_split_into_letters(pipeline_project):
    """The organiser's CSV source passes a column as it is: `themes=row["themes"]`, the string "peer support".
    Now the host (runner._checked: `map(one_line, item.themes)`) iterates the string: the item is tagged 'p', 'e',
    'r', 's', 'u', 'o', 't', and the site and the rss sink publish a theme page and a feed per letter, without a
    word. The host should refuse it on the source's line (themes must be a list of names) or take it as one
    theme; never one theme per character."""
    code = _ONE_ITEM.replace("{field}", 'themes="peer support"')
    project = pipeline_project('[sources.n]\ntype = "notices"\n', {}, plugins=[("mine", _module(code))])
    report = project.run(as_of=date(2016, 4, 1), check=False)
    (source,) = [r for r in report.results if r.name == "n"]
    if source.ok:
        (item,) = project.items()
        assert item.themes == ["peer support"]
    else:
        assert "themes" in source.summary, source.summary


def test_an_item_whose_summary_is_none_is_taken_as_its_other_text_fields_are(pipeline_project):
    """A CSV source writes `summary=row.get("summary")`, None for a row without one (as it may for `url`,
    `author` and `body_html`, which the host takes). Now the source fails with "AttributeError: 'NoneType' object
    has no attribute 'isascii'" (runner._checked: strip_controls(item.summary)), a line that names no field. A
    None summary should be taken as no summary, as a None author or url is (or refused naming `summary`)."""
    code = _ONE_ITEM.replace("{field}", "summary=None")
    project = pipeline_project('[sources.n]\ntype = "notices"\n', {}, plugins=[("mine", _module(code))])
    report = project.run(as_of=date(2016, 4, 1), check=False)
    (source,) = [r for r in report.results if r.name == "n"]
    assert source.ok or "summary" in source.summary, source.summary


def test_a_table_using_a_blocked_plugin_says_it_is_blocked(write_project, capsys, monkeypatch):
    """The organiser blocked a broken plugin with PIPELINE_BLOCK_PLUGINS=notices (README "While you write one")
    while a table still uses it. Now `pipeline check` says "unknown source type 'notices'; installed: ...
    (install the plugin that provides it, or check the spelling)": it is installed and spelt right, only blocked.
    The line should say the plugin is blocked by PIPELINE_BLOCK_PLUGINS."""
    monkeypatch.setenv("PIPELINE_BLOCK_PLUGINS", "notices")
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                         '[sources.notices]\ntype = "notices"\npath = "n.csv"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": plugin_file(), "n.csv": CSV})
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "PIPELINE_BLOCK_PLUGINS" in err, err


def test_your_own_project_without_local_plugins_passes_check(tmp_path, capsys):
    """README "Your own project", step 1: copy `pipeline.toml`, `content/` "and, if you will write plugins,
    `local_plugins/`"; step 3: `pipeline check -c your/pipeline.toml`. An organiser who writes no plugins copies the
    first two. Now check fails: "[pipeline] plugins_dir: folder .../local_plugins does not exist" (the shipped
    pipeline.toml names it). The steps as written should give a project that passes `pipeline check`.
    (Resolved: step 1 now says to delete `plugins_dir` when writing no plugins, which the organiser does here.)"""
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    own = tmp_path / "own"
    own.mkdir()
    toml = (repo / "pipeline.toml").read_text(encoding="utf-8")
    assert 'plugins_dir = "local_plugins"\n' in toml
    (own / "pipeline.toml").write_text(toml.replace('plugins_dir = "local_plugins"\n', ""), encoding="utf-8")
    shutil.copytree(repo / "content", own / "content")
    code = main(["check", "-c", str(own / "pipeline.toml")])
    assert code == 0, capsys.readouterr().err


def test_the_fixture_runs_a_loose_in_workers_transform_as_the_pipeline_does(pipeline_project, item_factory, tmp_path):
    """The organiser tests their loose transform file (the README's reading-time, `in_workers = True`) with the
    shipped fixture, `plugins=["local_plugins/longread.py"]`, on a run big enough for worker processes
    (`workers = 2`, 450 items). Now the transform fails: "ModuleNotFoundError: No module named
    'pipeline_test_plugins'": testing.load_plugin_file names the module `pipeline_test_plugins.<stem>`, which the
    forkserver workers cannot import, while the host's `pipeline_local_plugins.<stem>` is loaded there from its path
    (transforming._module). The same file in plugins_dir works. The fixture should run it as the pipeline does."""
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from pipeline.models import Kind

    example = Path(__file__).resolve().parents[1] / "examples" / "reading-time" / "pipeline_reading_time.py"
    plugin = tmp_path / "local_plugins" / "longread.py"
    plugin.parent.mkdir()
    plugin.write_text(example.read_text().replace('name = "reading-time"', 'name = "longread"'))
    items = [item_factory(Kind.POST, f"Post {i}", body_html="<p>" + "word " * 300 + "</p>",
                          published=datetime(2016, 3, 1, tzinfo=UTC) + timedelta(minutes=i)) for i in range(450)]
    toml = '[pipeline]\nname = "T"\nsite_url = "https://network.example.org"\nworkers = 2\n' \
           '[transforms.lr]\ntype = "longread"\nminutes = 1\n[sinks.feed]\ntype = "rss"\n'
    project = pipeline_project(toml, {}, plugins=[str(plugin)], items=items)
    report = project.run(as_of=date(2016, 4, 1), check=False)
    (transform,) = [r for r in report.results if r.name == "lr"]
    assert transform.ok, transform.summary


@pytest.mark.parametrize("language", ["en_GB", "English"])
def test_a_language_that_is_not_a_language_tag_is_refused_or_made_one(project_from, language):
    """The organiser writes `language = "en_GB"` (as a Linux locale is spelt) or "English". Now it is taken as it
    is: every page says `<html lang="en_GB">` and the feed `<language>en_GB</language>`, which no browser, screen
    reader or feed reader understands, and site.py compares each item's language with "en_gb", so every partner
    item in en-GB is marked as written in another language. The host already knows a tag's shape
    (sanitize._LANGUAGE_TAG, for items); [pipeline] language should be refused on one line naming the key, or
    normalised to "en-GB"."""
    toml = f'[pipeline]\nname = "N"\nlanguage = "{language}"\n{BLOG}[sinks.feed]\ntype = "rss"\n'
    try:
        project = project_from(toml, POST)
    except ConfigError as exc:
        assert "language" in _lines(exc)
    else:
        assert project.core.language == "en-GB"


def test_an_empty_network_name_is_refused(project_from):
    """`name` is "required" (README, [pipeline]): the email's From name, the feed's title, the archive's heading.
    An organiser who leaves the shipped `name = ""` to fill in later gets `pipeline check` OK, and a feed with an
    empty <title>, emails from "" and pages headed by nothing. An empty (or blank) name should be refused on one
    line naming [pipeline] name."""
    with pytest.raises(ConfigError) as caught:
        project_from(f'[pipeline]\nname = " "\n{BLOG}[sinks.feed]\ntype = "rss"\n', POST)
    assert "name" in _lines(caught.value)


@pytest.mark.parametrize("table, files, wrong", [
    ('[sources.blog]\ntype = "blog"\npath = "posts/leeds.md"\n', POST, "posts/leeds.md"),
    ('[sources.jobs]\ntype = "jobs"\npath = "posts"\n', POST, "posts"),
])
def test_a_path_of_the_wrong_kind_is_not_said_to_be_missing(project_from, table, files, wrong):
    """The organiser points the blog at one post (`path = "posts/leeds.md"`) or the jobs source at a folder. Now the
    line says "folder 'posts/leeds.md' does not exist (...); create it or correct the path" (settings_types
    _existing_dir / _existing_file): it does exist, and creating it is impossible. The line should say it is a file
    where a folder is wanted (or the other way round), not that it does not exist."""
    with pytest.raises(ConfigError) as caught:
        project_from(table + '[sinks.feed]\ntype = "rss"\n', files)
    (line,) = caught.value.lines
    assert wrong in line and "does not exist" not in line, line


_COMPLETE_SOURCE = '''
    import csv
    from datetime import date

    from pipeline import hookimpl
    from pipeline.components import Settings, Source
    from pipeline.dates import aware
    from pipeline.models import Item, Kind, item_id
    from pipeline.settings_types import ExistingFile

    class Notices(Source):
        name = "notices"
        complete = True

        class Settings(Settings):
            path: ExistingFile

        def fetch(self, run):
            with open(self.settings.path, newline="", encoding="utf-8") as rows:
                for row in csv.DictReader(rows):
                    yield Item(id=item_id(self.instance, row["title"]), kind=Kind.NEWS, source=self.name,
                               title=row["title"], published=aware(date.fromisoformat(row["date"]), self.project.tz))

    @hookimpl
    def register_sources(register):
        register(Notices)
'''


def test_an_item_naming_no_source_of_the_project_is_not_taken_silently(pipeline_project):
    """A newcomer writes `source=self.name` (the type, "notices") where the README says `source=self.instance` (the
    table, "n"), in a source that says `complete = True`. Now the run takes the items, reports nothing, and a row
    taken out of the CSV is never withdrawn: the host checks only that an item does not name *another* source of
    the project (runner._fetch_all), and withdrawal looks for the items stored under "n". The source should fail
    saying to give source=self.instance (or the host should file the items under it), so that a removed row is
    withdrawn as the README promises."""
    project = pipeline_project('[sources.n]\ntype = "notices"\npath = "n.csv"\n',
                               {"n.csv": "title,date\nSeminar 4,2016-03-01\nSeminar 5,2016-03-02\n"},
                               plugins=[("mine", _module(_COMPLETE_SOURCE))])
    first = project.refresh(as_of=date(2016, 3, 10), check=False)
    (source,) = [r for r in first.results if r.name == "n"]
    if not source.ok:
        assert "source=self.instance" in source.summary, source.summary
        return
    project.write({"n.csv": "title,date\nSeminar 4,2016-03-01\n"})
    project.refresh(as_of=date(2016, 3, 11))
    assert [item.title for item in project.items()] == ["Seminar 4"]


def test_a_mistake_in_the_projects_own_template_names_the_template(pipeline_project):
    """README "Templates": the organiser copies a template into `templates/` beside pipeline.toml to change it, and
    makes a mistake: an `{% if %}` left open in email/issue.txt, a misspelt `{{ projet.name }}` in site/item.html.
    Now the sinks' lines read "TemplateSyntaxError: Unexpected end of template. Jinja was looking for ... 'endif'"
    and "UndefinedError: 'projet' is undefined": neither names the file (nor its line), among some twenty
    templates, and `pipeline check` said OK. Each line should name the template the mistake is in."""
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "templates"
    text = (shipped / "email" / "issue.txt").read_text() + "{% if subscribe_url %}\nJoin us.\n"
    page = (shipped / "site" / "item.html").read_text().replace("<h1", "{{ projet.name }}<h1", 1)
    project = pipeline_project(BLOG, {**POST, "templates/email/issue.txt": text, "templates/site/item.html": page})
    report = project.run(as_of=date(2016, 4, 1), check=False)
    said = {r.name: r.summary for r in report.results if not r.ok}
    assert "email/issue.txt" in said.get("newsletter", ""), said
    assert "site/item.html" in said.get("archive", ""), said


def test_a_transform_that_returns_a_filtered_list_is_not_silently_ignored(pipeline_project):
    """The organiser writes a transform to leave out sponsored posts as a newcomer would:
    `return [item for item in items if "Sponsored" not in item.title]`. Now the run says "ok" and the sponsored
    post is in the email, the feed and the site: the host ignores what `apply` returns (it is documented to change
    items in place), while a source's wrong return is reported ("fetch() returned dict, not Item"). A transform
    whose `apply` returns something should be reported on its line (apply changes items in place; its return is
    ignored), not pass as ok."""
    code = '''
        from pipeline import hookimpl
        from pipeline.components import Transform

        class NoSponsored(Transform):
            name = "no-sponsored"

            def apply(self, items, run):
                return [item for item in items if "Sponsored" not in item.title]

        @hookimpl
        def register_transforms(register):
            register(NoSponsored)
    '''
    posts = {**POST, "posts/ad.md": "---\ntitle: Sponsored post\ndate: 2016-03-02\n---\nAn advert.\n"}
    project = pipeline_project(BLOG + '[transforms.ns]\ntype = "no-sponsored"\n', posts,
                               plugins=[("mine", _module(code))])
    report = project.run(as_of=date(2016, 4, 1), check=False)
    (transform,) = [r for r in report.results if r.name == "ns"]
    titles = [item.title for item in project.items()]
    assert not transform.ok or "Sponsored post" not in titles, (transform.summary, titles)


def test_a_settings_validator_that_raises_is_reported_naming_the_table_and_plugin(write_project, capsys):
    """A plugin's settings check a column name with a dict look-up (`{"title": ..., "date": ...}[value]`), which
    raises KeyError for the organiser's typo `column = "titel"`. Now `pipeline check` ends with "error: unexpected
    KeyError: 'titel' (set PIPELINE_DEBUG=1 ...)", exit 1: config._validate catches only pydantic's
    ValidationError, so the host crashes without naming the table, the key or the plugin. It should be one line
    naming [sources.v] and the plugin, exit 2, like any other broken plugin."""
    code = textwrap.dedent('''
        from pydantic import field_validator

        from pipeline import hookimpl
        from pipeline.components import Settings, Source

        class Columns(Source):
            name = "columns"

            class Settings(Settings):
                column: str = "title"

                @field_validator("column")
                @classmethod
                def _known(cls, value):
                    return {"title": "title", "date": "date"}[value]

            def fetch(self, run):
                return []

        @hookimpl
        def register_sources(register):
            register(Columns)
    ''')
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                         '[sources.v]\ntype = "columns"\ncolumn = "titel"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/columns.py": code})
    code = main(["check", "-c", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "[sources.v]" in err and "unexpected" not in err


def test_csv_jobs_a_row_cut_short_is_reported_and_skipped_not_the_whole_file(pipeline_project):
    """examples/README.md: csv-jobs, "a bad row is reported and skipped". The organiser's jobs.csv has a row typed by
    hand whose empty last columns (url, how_to_apply, description) were left off with their commas. Now the whole
    source fails with "AttributeError: 'NoneType' object has no attribute 'replace'" (html.escape(None) in
    pipeline_csv_jobs.fetch, outside its try), so the good jobs of the file are lost too, and the line names no row.
    That row should be reported with its line number (or taken with its empty fields) and the rest kept."""
    from pathlib import Path

    rows = (Path(__file__).resolve().parents[1] / "examples" / "csv-jobs" / "tests" / "jobs.csv").read_text()
    header, good = rows.splitlines()[:2]
    short = "leeds-peer,Peer worker,Leeds Mind,Leeds,£9.50 an hour,2016-01-25,2016-02-20"
    project = pipeline_project('[sources.jobs]\ntype = "csv-jobs"\npath = "jobs.csv"\n',
                               {"jobs.csv": f"{header}\n{good}\n{short}\n"})
    report = project.run(as_of=date(2016, 2, 1), check=False)
    (source,) = [r for r in report.results if r.name == "jobs"]
    assert source.ok, source.summary
    assert "Administrator for the new London centre" in [item.title for item in project.items()]


def test_the_readme_webhook_sink_refuses_a_url_without_a_scheme_at_start_up(project_from):
    """The README's sink (examples/webhook-sink) takes `url: str`. The organiser pastes the chat's address without
    its scheme, `url = "chat.example.org/hook"`. Now `pipeline check` says OK, and the monthly run makes and sends
    the issue, then fails the sink with "UnsupportedProtocol: Request URL is missing an 'http://' or 'https://'
    protocol." (exit 1): the post for that issue is lost until someone notices. The package ships
    `pipeline.settings_types.HttpUrl` for this; the README's example should refuse it at start-up, on one line
    naming [sinks.chat] url."""
    with pytest.raises(ConfigError) as caught:
        project_from(BLOG + '[sinks.chat]\ntype = "webhook"\nurl = "chat.example.org/hook"\n', POST)
    assert "[sinks.chat]" in _lines(caught.value) and "url" in _lines(caught.value)


def test_blocking_a_name_that_is_no_plugin_says_so(write_project, capsys, monkeypatch):
    """The organiser's loose file `notices.py` is broken; they block it by the name of its component type, as
    pipeline.toml spells it, or with a typo: PIPELINE_BLOCK_PLUGINS=notice. Now nothing is said about the name
    that matched nothing (plugins.build_plugin_manager just never meets it): `pipeline check` still refuses the
    broken plugin, and the organiser cannot tell why the block did not take. The host should say, on one line,
    that PIPELINE_BLOCK_PLUGINS names 'notice', which is no plugin (with the names it could be)."""
    monkeypatch.setenv("PIPELINE_BLOCK_PLUGINS", "notice")
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": "import not_installed_anywhere\n"})
    main(["check", "-c", str(path)])
    captured = capsys.readouterr()
    assert "'notice'" in captured.out + captured.err, captured.err


def test_check_refuses_a_signing_secret_that_every_run_would_refuse(write_project, capsys, monkeypatch):
    """README step 3: "`pipeline check` says what is wrong, a line each; `pipeline run` then makes the first
    issue". The organiser sets PIPELINE_SECRET=short (under the 16 characters required). Now `pipeline check` says
    OK; `pipeline run` fetches, makes issue 1 and then fails the email sink with "environment variable
    PIPELINE_SECRET is set but shorter than 16 characters" (exit 1). A missing SENDGRID_API_KEY or SMTP login is
    caught by check at start-up; so should this be, on one line naming PIPELINE_SECRET, exit 2."""
    monkeypatch.setenv("PIPELINE_SECRET", "short")
    path = write_project(BLOG + '[sinks.newsletter]\ntype = "email"\nfrom_email = "news@network.example.org"\n',
                         POST)
    code = main(["check", "-c", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "PIPELINE_SECRET" in err, (code, err)


def test_a_run_finished_hook_that_raises_does_not_change_the_runs_outcome(pipeline_project):
    """hookspecs.run_finished: "An exception here is reported with the plugin's name; it does not change the run's
    outcome." The organiser's notification plugin raises (its chat service is down). Now the run that went well
    ends "done, with problems" and exits 3 (runner._notify appends it to report.problems, which sets the exit code),
    printed as "skipped: plugin 'mine': run_finished raised ..." though nothing was skipped; under cron or
    `pipeline schedule` a good run reads as a partial one. The run should still exit 0, with the failure reported
    by name."""
    code = '''
        from pipeline import hookimpl

        @hookimpl
        def run_finished(report, project):
            raise RuntimeError("the chat service is down")
    '''
    project = pipeline_project(BLOG, POST, plugins=[("mine", _module(code))])
    report = project.run(as_of=date(2016, 4, 1), check=False)
    assert report.exit_code == 0, (report.exit_code, report.problems)


def test_a_plugin_setting_named_type_is_refused_as_deadline_is(write_project, capsys):
    """A plugin's settings have a field `type` (the notice type: "seminar", "course"). The organiser writes
    `type = "notices"` for the component, as every table must, and the plugin's own `type` can never be given: the
    host takes `type` out of the table first (config._build). Now `pipeline check` says "missing required key
    'type'" for a table that has one, a message no organiser can act on. A setting named `deadline` is refused
    naming the plugin ("the host's key"); one named `type` should be too."""
    code = textwrap.dedent('''
        from pipeline import hookimpl
        from pipeline.components import Settings, Source

        class Notices(Source):
            name = "notices"

            class Settings(Settings):
                type: str

            def fetch(self, run):
                return []

        @hookimpl
        def register_sources(register):
            register(Notices)
    ''')
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                         '[sources.n]\ntype = "notices"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": code})
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert "missing required key 'type'" not in err and "host" in err, err


def test_a_default_path_setting_is_checked_and_taken_from_pipeline_toml(write_project, tmp_path, monkeypatch):
    """The plugin gives its file a default, `path: ExistingFile = "n.csv"`, so the organiser's table can leave it
    out. The component Settings base (components.Settings) does not validate defaults, unlike CoreSettings
    (`validate_default=True`, "defaults resolve too"): the default is neither checked to exist (`pipeline check`
    says OK without the file) nor taken from pipeline.toml's folder, so a run from another folder (cron, systemd)
    fails with FileNotFoundError: 'n.csv'. A default path should be resolved and checked as a given one is."""
    path = write_project('[pipeline]\nname = "N"\nworkers = 1\nplugins_dir = "local_plugins"\n'
                         '[sources.n]\ntype = "notices"\n[sinks.feed]\ntype = "rss"\n',
                         {"local_plugins/notices.py": plugin_file(
                             'class Settings(Settings):\n        path: ExistingFile = "n.csv"'),
                          "n.csv": CSV})
    _source_n_runs_from_elsewhere(path, tmp_path, monkeypatch)


def test_a_problem_a_plugin_reports_is_one_line(pipeline_project):
    """A source reports a bad row with what its parser said: `run.problem(where, str(exc))`, and many exceptions
    (pydantic's ValidationError, yaml's, csv's) say it over several lines. Now the run prints "skipped: n.csv:3:
    1 validation error for Row" and the rest on lines of their own, in the run table, the log and the alert
    email, while a SourceError's message is cut to its first line. Each problem should be one line (folded as the
    host folds an item's title)."""
    code = '''
        from pipeline import hookimpl
        from pipeline.components import Source

        class Notices(Source):
            name = "notices"

            def fetch(self, run):
                run.problem("n.csv:3", "1 validation error for Row\\ndate\\n  Input should be a valid date")
                return []

        @hookimpl
        def register_sources(register):
            register(Notices)
    '''
    project = pipeline_project(BLOG + '[sources.n]\ntype = "notices"\n', POST, plugins=[("mine", _module(code))])
    report = project.run(as_of=date(2016, 4, 1), check=False)
    (problem,) = report.problems
    assert "n.csv:3" in problem and "\n" not in problem, problem


def test_a_record_kept_with_a_warning_is_not_printed_as_skipped(pipeline_project, caplog):
    """README "A source": "a record it keeps all the same, with a warning, says so with `run.problem(where, message,
    skipped=False)`". The organiser's source keeps a row with a date it had to guess, and says so. Now the run
    prints "skipped: n.csv:3: date guessed as 2016-03-01; kept" (runner._log_report writes every problem as
    "skipped: ..."), so the organiser goes looking for a row that is in the issue. A kept record's line should not
    say it was skipped."""
    import logging

    code = '''
        from pipeline import hookimpl
        from pipeline.components import Source

        class Notices(Source):
            name = "notices"

            def fetch(self, run):
                run.problem("n.csv:3", "date guessed as 2016-03-01; kept", skipped=False)
                return []

        @hookimpl
        def register_sources(register):
            register(Notices)
    '''
    project = pipeline_project(BLOG + '[sources.n]\ntype = "notices"\n', POST, plugins=[("mine", _module(code))])
    with caplog.at_level(logging.INFO, logger="pipeline"):
        project.run(as_of=date(2016, 4, 1), check=False)
    (line,) = [record.getMessage() for record in caplog.records if "date guessed" in record.getMessage()]
    assert "skipped" not in line, line
