"""pipeline.toml validation: every mistake is one line naming the file, the table and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline import components, hookimpl
from pipeline.config import load_project
from pipeline.errors import ConfigError


def error_lines(project_from, toml: str, files=None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        project_from(toml, files)
    assert info.value.exit_code == 2
    return info.value.lines


def test_a_valid_project_builds_one_component_per_table_in_order(project_from):
    project = project_from("""
        [sources.one]
        type = "feed"
        url = "https://partner.example.org/feed.xml"
        [sources.two]
        type = "feed"
        url = "https://other.example.org/atom.xml"
        kind = "job"
        [transforms.summary]
        type = "summary"
        max_chars = 200
        [transforms.themes]
        type = "themes"
        taxonomy = { recovery = ["recovery"] }
        [sinks.feed]
        type = "rss"
    """)
    assert [s.instance for s in project.sources] == ["one", "two"]
    assert project.sources[1].settings.kind == "job"
    assert [t.instance for t in project.transforms] == ["summary", "themes"]
    assert project.transforms[0].settings.max_chars == 200
    assert project.core.site_url == "https://network.example.org"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"pipeline.toml: no such file; run from the folder"):
        load_project(tmp_path / "pipeline.toml")


def test_malformed_toml_names_the_file_and_line(write_project):
    path = write_project("[pipeline]\nname = \"N\nsite_url = 1\n")
    with pytest.raises(ConfigError, match=r"pipeline.toml: not valid TOML \(.*line 2"):
        load_project(path)


def test_unknown_key_names_file_table_key_and_allowed_keys(project_from):
    (line,) = error_lines(project_from, """
        [sinks.feed]
        type = "rss"
        limt = 10
    """)
    assert line.startswith("pipeline.toml: [sinks.feed] (rss): unknown key 'limt'")
    assert "allowed: limit" in line
    assert line.endswith(", type, deadline)")  # the host's own keys of the table are allowed too


def test_missing_required_key(project_from):
    (line,) = error_lines(project_from, """
        [sources.partner]
        type = "feed"
        [sinks.feed]
        type = "rss"
    """)
    assert line == "pipeline.toml: [sources.partner] (feed): missing required key 'url'"


def test_unknown_plugin_type_lists_what_is_installed(project_from):
    (line,) = error_lines(project_from, """
        [sources.partner]
        type = "fead"
        [sinks.feed]
        type = "rss"
    """)
    assert "[sources.partner]: unknown source type 'fead'" in line
    assert "feed" in line and "blog" in line


def test_a_missing_content_folder_is_a_config_error(project_from):
    (line,) = error_lines(project_from, """
        [sources.blog]
        type = "blog"
        path = "content/blog"
        [sinks.feed]
        type = "rss"
    """)
    assert "[sources.blog] (blog): path: folder 'content/blog' does not exist" in line
    assert "create it or correct the path" in line


def test_a_feed_file_that_does_not_exist(project_from):
    (line,) = error_lines(project_from, """
        [sources.partner]
        type = "feed"
        url = "feeds/partner.xml"
        [sinks.feed]
        type = "rss"
    """)
    assert "url: file 'feeds/partner.xml' does not exist" in line


def test_secrets_in_the_toml_are_refused_with_a_hint(project_from):
    lines = error_lines(project_from, """
        [sinks.feed]
        type = "rss"
        api_key = "SG.abc"
    """)
    assert "unknown key 'api_key'" in lines[0]
    assert "secrets are read from the environment" in lines[0]


def test_core_settings_are_checked_too(project_from):
    lines = error_lines(project_from, """
        [pipeline]
        name = "N"
        timezone = "Mars/Olympus"
        [schedule]
        newsletter_day = 31
        newsletter_time = "8am"
        [sinks.feed]
        type = "rss"
    """)
    text = "\n".join(lines)
    assert "[pipeline]: timezone: unknown time zone 'Mars/Olympus'" in text
    assert "[schedule]: newsletter_day" in text
    assert "[schedule]: newsletter_time: '8am' is not a time of day as HH:MM" in text


def test_source_settings_out_of_range_are_refused(project_from, tmp_path):
    lines = error_lines(project_from, """
        [sources.partner]
        type = "feed"
        url = "https://partner.example.org/feed.xml"
        max_items = -1
        [sources.posts]
        type = "blog"
        path = "posts"
        base_url = "network.example.org/blog"
        [sinks.feed]
        type = "rss"
    """, {"posts/.keep": ""})
    assert lines == [
        "pipeline.toml: [sources.partner] (feed): max_items: must be at least 1, not -1",
        "pipeline.toml: [sources.posts] (blog): base_url: 'network.example.org/blog' is not an absolute http(s) "
        "URL such as 'https://network.example.org'"]


def test_pipeline_table_needs_a_name(project_from):
    lines = error_lines(project_from, "[pipeline]\n[sinks.feed]\ntype = \"rss\"\n")
    assert lines == ["pipeline.toml: [pipeline]: missing required key 'name'"]


def test_unknown_top_level_table(project_from):
    lines = error_lines(project_from, "[sink.feed]\ntype = \"rss\"\n")
    assert any("unknown table [sink]" in line for line in lines)


def test_all_problems_are_reported_at_once(project_from):
    lines = error_lines(project_from, """
        [sources.a]
        type = "nope"
        [sources.b]
        type = "feed"
        [sinks.feed]
        type = "rss"
        colour = "red"
    """)
    assert len(lines) == 3


def test_a_mistake_in_the_pipeline_table_does_not_hide_those_of_the_other_tables(project_from):
    lines = error_lines(project_from, """
        [pipeline]
        name = "N"
        timezone = "Europe/Lundon"
        site_url = "https://news.invalid"
        [sinks.feed]
        type = "rss"
        colour = "red"
    """)
    assert [line.split(": ")[1] for line in lines] == ["[pipeline]", "[pipeline]", "[sinks.feed] (rss)"], lines
    assert ["site_url" in lines[0], "timezone" in lines[1], "colour" in lines[2]] == [True] * 3, lines


def test_a_folder_of_the_pipeline_table_that_will_not_do_is_said_alone(project_from):
    """The other tables are checked against its folders (plugins_dir's plugins, out_dir): with the default in its
    place, they would be refused for what is not wrong."""
    lines = error_lines(project_from, '[pipeline]\nname = "N"\nplugins_dir = 5\n'
                                      '[sources.mine]\ntype = "from-my-plugins"\n[sinks.feed]\ntype = "rss"\n')
    assert len(lines) == 1 and "plugins_dir" in lines[0], lines


def test_no_sinks_means_nothing_would_be_produced(project_from):
    lines = error_lines(project_from, '[sources.a]\ntype = "feed"\nurl = "https://x.example.org/f"\n')
    assert "no [sinks.*] tables" in lines[0]


def test_the_shipped_pipeline_toml_is_valid():
    from pathlib import Path

    project = load_project(Path(__file__).parent.parent / "pipeline.toml")
    assert {s.instance for s in project.sources} == {"network-blog", "open-dialogue-uk", "jobs", "events"}
    assert [t.instance for t in project.transforms] == ["themes", "summary"]
    assert [s.instance for s in project.sinks] == ["newsletter", "feed", "archive"]


def test_workers_default_to_the_cpus_this_process_may_use(project_from, monkeypatch):
    import os
    sink = '[sinks.feed]\ntype = "rss"\n'
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert project_from(f'[pipeline]\nname = "N"\n{sink}').core.workers == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert project_from(f'[pipeline]\nname = "N"\n{sink}').core.workers == 8  # at most 8
    assert project_from(f'[pipeline]\nname = "N"\nworkers = 1\n{sink}').core.workers == 1


def test_a_number_that_is_not_finite_is_refused(write_project):
    path = write_project('[transforms.themes]\ntype = "themes"\nmin_score = inf\n[sinks.feed]\ntype = "rss"\n')
    with pytest.raises(ConfigError, match=r"\[transforms\.themes\].*min_score"):
        load_project(path)


THEMES = "pipeline.toml: [transforms.themes] (themes)"


@pytest.mark.parametrize("theme, expected", [
    ('[transforms.themes.taxonomy."peer support"]\nstrong = ["peer support"]\nphrase = ["peers"]',
     "taxonomy.\"peer support\": unknown key 'phrase' (allowed: phrases, strong, weak, exclude, weight)"),
    ('[transforms.themes.taxonomy]\na = "just a string"',
     "taxonomy.a: must be a list of strings or a table (keys: phrases, strong, weak, exclude, weight), not a string"),
], ids=["a typo inside a theme's table", "a theme neither a list nor a table"])
def test_a_mistake_in_a_theme_is_one_line_with_the_themes_keys(project_from, theme, expected):
    lines = error_lines(project_from, f'[transforms.themes]\ntype = "themes"\n{theme}\n[sinks.feed]\ntype = "rss"\n')
    assert lines == [f"{THEMES}: {expected}"]


def test_a_theme_given_as_a_list_or_a_table_is_checked_as_that(project_from):
    lines = error_lines(project_from, """
        [transforms.themes]
        type = "themes"
        [transforms.themes.taxonomy]
        listed = ["recovery", 3]
        [transforms.themes.taxonomy."peer support"]
        phrases = ["peers", { phrase = "peer mentor*", weigth = 2 }, 4]
        weight = "heavy"
        [sinks.feed]
        type = "rss"
    """)
    assert lines == [
        f"{THEMES}: taxonomy.listed.1: must be a string in quotes, not 3",
        f"{THEMES}: taxonomy.\"peer support\".phrases.1: unknown key 'weigth' (allowed: phrase, weight)",
        f"{THEMES}: taxonomy.\"peer support\".phrases.2: must be a string or a table (keys: phrase, weight), "
        f"not a number",
        f"{THEMES}: taxonomy.\"peer support\".weight: must be a number, not 'heavy'",
    ]


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str
    end: str = ""


class Windowed(components.Transform):
    name = "windowed"

    class Settings(components.Settings):
        window: Window
        quiet: int | Window = 0

    def apply(self, items, run):
        pass


class WindowedPlugin:
    @hookimpl
    def register_transforms(self, register):
        register(Windowed)


def test_any_plugins_nested_table_and_union_is_described_the_same_way(project_from):
    with pytest.raises(ConfigError) as info:
        project_from("""
            [transforms.w]
            type = "windowed"
            window = { start = "09:00", edn = "17:00" }
            quiet = ["22:00"]
            [sinks.feed]
            type = "rss"
        """, plugins=[("windowed", WindowedPlugin())])
    where = "pipeline.toml: [transforms.w] (windowed)"
    assert info.value.lines == [
        f"{where}: window: unknown key 'edn' (allowed: start, end)",
        f"{where}: quiet: must be a number or a table (keys: start, end), not a list",
    ]


def test_a_union_of_plain_values_names_every_choice_on_one_line():
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, ValidationError

    from pipeline.settings_errors import describe_errors
    from pipeline.settings_types import HttpUrl

    class Chosen(BaseModel):
        model_config = ConfigDict(extra="forbid")
        workers: int | Literal["auto"] = "auto"
        home: HttpUrl | Literal["none"] = "none"
        scale: int | float = 1

    def lines(data: dict) -> list[str]:
        with pytest.raises(ValidationError) as info:
            Chosen.model_validate(data)
        return describe_errors("p.toml: [t]", Chosen, data, info.value.errors())

    assert lines({"workers": "many"}) == ["p.toml: [t]: workers: must be a whole number, not 'many'; or must be 'auto'"]
    assert lines({"home": 5}) == ["p.toml: [t]: home: must be a string or one of 'none', not a number"]
    assert lines({"home": "ftp://x"})[0].startswith("p.toml: [t]: home: 'ftp://x' is not an absolute http(s) URL")
    assert lines({"scale": "big"}) == ["p.toml: [t]: scale: must be a number, not a string"]


@pytest.mark.parametrize(("toml", "says"), [
    ('[alerts]\nto = "organiser@example.org"', '[alerts]: to: must be a list in brackets, such as ["a", "b"], '
                                              "not 'organiser@example.org'"),
    ("[schedule]\nnewsletter_day = 31", "[schedule]: newsletter_day: must be at most 28, not 31"),
    ('[pipeline]\nname = "N"\nworkers = 1.5', "[pipeline]: workers: must be a whole number, not 1.5"),
    ('[sinks.feed]\ntype = "rss"\nlimit = "many"', "[sinks.feed] (rss): limit: must be a whole number, not 'many'"),
    ('[sinks.mail]\ntype = "email"\nfrom_email = "news@example.org"\ndelivery = "sendgrid"',
     "[sinks.mail] (email): delivery: must be a table: its keys under a [heading] of its own, or "
     "{ key = \"value\" }, not 'sendgrid'"),
])
def test_a_value_of_the_wrong_kind_says_what_it_must_be_and_what_was_given(project_from, toml, says):
    """In an organiser's words, not pydantic's ("Input should be a valid list"), with the value given."""
    found = error_lines(project_from, toml + ("" if "[sinks" in toml else '\n[sinks.feed]\ntype = "rss"\n'))
    assert [line for line in found if says in line], found


def test_a_secrets_value_is_never_repeated_in_the_error(project_from):
    found = error_lines(project_from, '[serve]\nsecret_env = 12345678901234567890\n[sinks.feed]\ntype = "rss"\n')
    assert found and not [line for line in found if "12345678901234567890" in line], found


def test_a_value_under_a_key_named_like_a_credential_is_never_repeated():
    """Review (helper 93): only key, password, secret and token hid a value; a passphrase or a DSN was repeated."""
    from pipeline.settings_errors import describe_errors

    class Creds(BaseModel):
        model_config = ConfigDict(extra="forbid")
        passphrase: int = 0
        database_dsn: int = 0
        retries: int = 0

    data = {"passphrase": "987654321x", "database_dsn": "postgres://u:pw@h/db", "retries": "many"}
    with pytest.raises(ValidationError) as info:
        Creds.model_validate(data)
    found = describe_errors("p.toml: [t]", Creds, data, info.value.errors())
    assert found == ["p.toml: [t]: passphrase: must be a whole number",
                     "p.toml: [t]: database_dsn: must be a whole number",
                     "p.toml: [t]: retries: must be a whole number, not 'many'"]


@pytest.mark.parametrize("site_url", ["https://uni.example.ac.uk/news?lang=en", "https://uni.example.ac.uk/news#top",
                                      "https://uni.example.ac.uk/a/../news", "https://uni.example.ac.uk/./news"])
def test_a_site_url_whose_links_cannot_reach_its_pages_is_refused(project_from, site_url):
    """Review (helper 94). Every link is site_url + "/unsubscribe/<token>" and so on: after a query or a fragment
    the rest is no path ("…/news?lang=en/unsubscribe/…" asks for /news), and a browser resolves dot segments
    before asking ("/a/../news/unsubscribe/…" is /news/unsubscribe/…), while `pipeline serve` puts its routes
    under the path as written (render.site_path: "/news", "/a/../news"). Such a site_url is accepted, and no
    mailed unsubscribe link reaches serve; it should be refused at load, saying why."""
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="site_url"):
        project_from(f'[pipeline]\nname = "N"\nsite_url = "{site_url}"\n')


# -- review (helper 95) ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("site_url", ["https://uni.example.ac.uk/%2E%2E/news", "https://uni.example.ac.uk/news/%2e",
                                      "https://uni.example.ac.uk/a/.%2E/news",
                                      "https://uni.example.ac.uk/\\evil.example"])
def test_a_site_url_with_dot_segments_spelt_otherwise_or_a_backslash_is_refused(project_from, site_url):
    """Review (helper 95). `config._not_plain` refuses '.', '..' and empty segments as written, but a browser (the
    WHATWG URL parser) also reads '%2e', '%2E%2E' and '.%2E' as dot segments, and reads a backslash as a slash in an
    http(s) URL. So '/%2E%2E/news/unsubscribe/…' is asked for as /unsubscribe/…, which serve does not answer, and
    with site_url 'https://uni.example.ac.uk/\\evil.example' the pages' links and form action start with
    '/\\evil.example/…', which a browser reads as //evil.example/…: another host, the case fa5c644 refused for '//'.
    Expected: refused at load, saying why."""
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="site_url"):
        project_from(f"[pipeline]\nname = \"N\"\nsite_url = '{site_url}'\n")


def test_a_site_url_with_a_user_and_password_is_refused(project_from):
    """Review (helper 95). site_url 'https://editor:hunter2@uni.example.ac.uk/news' is accepted, and every link in
    every email, the feed and the archive is built from it, so the password goes to each subscriber. Expected:
    refused at load (without repeating the password)."""
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="site_url") as refused:
        project_from('[pipeline]\nname = "N"\nsite_url = "https://editor:hunter2@uni.example.ac.uk/news"\n')
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(("table", "why"), [
    ('type = "email"\nfrom_email = "news@network.example.org"\n', "one project sends one newsletter"),
    ('type = "rss"\n', "both would write out_dir/feed.xml"),
    ('type = "archive"\n', "both would make out_dir the site"),
])
def test_a_second_sink_of_a_type_a_project_has_once_is_refused_saying_why(project_from, table, why):
    toml = f'[pipeline]\nname = "N"\n[sinks.first]\n{table}[sinks.second]\n{table}'
    with pytest.raises(ConfigError) as caught:
        project_from(toml)
    (line,) = caught.value.lines
    assert line.startswith("pipeline.toml: [sinks.second]: a second ") and "[sinks.first]" in line and why in line


def test_a_subclass_of_a_sink_a_project_has_once_is_that_sink(project_from):
    """A plugin's sink made from the rss sink (another name, the same files) is refused beside it."""
    from plugins.sinks.rss.sink import RssSink

    class ShortFeed(RssSink):
        name = "short-feed"

    class Plugin:
        @hookimpl
        def register_sinks(self, register):
            register(ShortFeed)

    with pytest.raises(ConfigError, match=r"\[sinks.short\]: a second rss sink beside \[sinks.feed\]"):
        project_from('[pipeline]\nname = "N"\n[sinks.feed]\ntype = "rss"\n[sinks.short]\ntype = "short-feed"\n',
                     plugins=[("short", Plugin())])


def test_a_leading_tilde_in_a_path_setting_is_the_users_home(project_from, tmp_path, monkeypatch):
    """`out_dir = "~/site"`, a blog's `path = "~/posts"` and a plugin's plain `Path` settings: the home folder, not
    a folder named `~` beside pipeline.toml."""
    class Archive(components.Sink):
        name = "home-archive"

        class Settings(components.Settings):
            folder: Path
            extra: list[Path] = []

        def write(self, edition, run):
            return components.SinkResult("nothing")

    class Plugin:
        @hookimpl
        def register_sinks(self, register):
            register(Archive)

    home = tmp_path / "home"
    (home / "posts").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    project = project_from('[pipeline]\nname = "N"\nout_dir = "~/site"\n'
                           '[sources.blog]\ntype = "blog"\npath = "~/posts"\n'
                           '[sinks.keep]\ntype = "home-archive"\nfolder = "~/kept"\nextra = ["~/more", "here"]\n',
                           plugins=[("home_archive", Plugin())])
    assert project.core.out_dir == home / "site"
    assert project.sources[0].settings.path == home / "posts"
    [sink] = project.sinks
    assert sink.settings.folder == home / "kept"
    assert sink.settings.extra == [home / "more", project.root / "here"]
