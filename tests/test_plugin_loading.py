"""Loading plugins: entry points (built-in and third-party), a plugins folder, and broken plugins."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pipeline import hookimpl
from pipeline.components import Sink, SinkResult, Source
from pipeline.errors import ConfigError
from pipeline.plugins import build_plugin_manager
from pipeline.registry import build_registry

BUILT_IN = {"blog", "feed", "jobs", "events", "themes", "summary", "email", "rss", "archive",
            "outbox", "sendgrid", "smtp"}


def install_distribution(root: Path, module: str, code: str, entry_name: str) -> Path:
    """Install a package the way pip leaves it: a module plus a .dist-info with entry_points.txt."""
    (root / f"{module}.py").write_text(textwrap.dedent(code))
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[newsletter_pipeline]\n{entry_name} = {module}\n")
    return root


@pytest.fixture
def site_packages(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("thirdparty_")]:
        del sys.modules[name]


def test_built_in_plugins_load_through_the_entry_point_group():
    host = build_plugin_manager()
    assert BUILT_IN <= set(host.origins)
    assert all("entry point plugins." in host.origins[name] for name in BUILT_IN)
    assert not host.broken
    registry = build_registry(host)
    assert registry.get("source", "feed").plugin == "feed"
    assert registry.get("sink", "email").plugin == "email"
    assert registry.get("delivery", "outbox").plugin == "outbox"


def test_an_installed_third_party_package_is_loaded_like_a_built_in(site_packages):
    install_distribution(site_packages, "thirdparty_hello", """
        from pipeline import hookimpl
        from pipeline.components import Source

        class Hello(Source):
            name = "hello"
            def fetch(self, run):
                return []

        @hookimpl
        def register_sources(register):
            register(Hello)
    """, "hello")
    host = build_plugin_manager()
    assert "thirdparty_hello 1.0" in host.origins["hello"]
    assert build_registry(host).get("source", "hello").plugin == "hello"


def test_a_plugin_that_fails_to_import_is_reported_by_name(site_packages):
    install_distribution(site_packages, "thirdparty_broken", "import no_such_module\n", "broken-one")
    host = build_plugin_manager()
    assert "ModuleNotFoundError" in host.broken["broken-one"]
    assert "no_such_module" in host.broken["broken-one"]
    assert "feed" in host.origins and "feed" not in host.broken  # the others still load


def test_a_misspelt_hook_fails_loudly_with_the_plugin_name(tmp_path):
    (tmp_path / "typo.py").write_text(textwrap.dedent("""
        from pipeline import hookimpl
        @hookimpl
        def register_source(register):
            pass
    """))
    host = build_plugin_manager(tmp_path, entry_points=False)
    assert "register_source" in host.broken["typo"]
    assert "not a hook" in host.broken["typo"]
    assert not host.pm.has_plugin("typo")


def test_a_hook_with_an_unknown_argument_is_reported(tmp_path):
    (tmp_path / "badargs.py").write_text(textwrap.dedent("""
        from pipeline import hookimpl
        @hookimpl
        def register_sources(register, colour):
            pass
    """))
    host = build_plugin_manager(tmp_path, entry_points=False)
    assert "colour" in host.broken["badargs"]


def test_broken_plugins_stop_the_run_at_start_up_naming_each(project_from, tmp_path):
    plugins = tmp_path / "myplugins"
    plugins.mkdir()
    (plugins / "oops.py").write_text("raise RuntimeError('half-written plugin')\n")
    with pytest.raises(ConfigError) as info:
        project_from('''
            [pipeline]
            name = "N"
            plugins_dir = "myplugins"
            [sinks.feed]
            type = "rss"
        ''')
    assert "plugin 'oops'" in str(info.value)
    assert "half-written plugin" in str(info.value)


def test_a_plugin_file_named_like_an_installed_plugin_is_the_one_named_not_loaded(write_project, capsys):
    """local_plugins/jobs.py (a network's own job board) has the name of the built-in `jobs`: the built-in was
    listed as broken and the message said "plugin 'jobs' a plugin named 'jobs' is already loaded from ...; rename
    one", naming neither the file nor which one can be renamed."""
    from pipeline.cli import main

    code = "from pipeline import hookimpl\n@hookimpl\ndef register_sources(register):\n    pass\n"
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.feed]\ntype = "rss"\n',
                         {"local/jobs.py": code})
    file = path.parent / "local" / "jobs.py"
    said = (f"plugin 'jobs' from {file} was not loaded: a plugin named 'jobs' is already loaded from "
            f"newsletter-pipeline")
    assert main(["plugins", "-c", str(path)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"broken: {said}" in out and "rename the file" in out
    assert "jobs source jobs newsletter-pipeline" in out  # the built-in is listed whole, not as broken
    assert main(["check", "-c", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: {said}" in err and "rename the file" in err


def test_blocking_a_plugin_by_name(monkeypatch):
    monkeypatch.setenv("PIPELINE_BLOCK_PLUGINS", "smtp, summary")
    host = build_plugin_manager()
    assert not host.pm.has_plugin("smtp") and not host.pm.has_plugin("summary")
    assert "blocked" in host.origins["smtp"]
    registry = build_registry(host)
    assert registry.get("delivery", "smtp") is None
    assert registry.get("delivery", "outbox") is not None


def test_the_same_component_name_from_two_plugins_names_both():
    class First:
        @hookimpl
        def register_sinks(self, register):
            register(type("A", (Sink,), {"name": "twin", "write": lambda s, e, r: SinkResult("a")}))

    class Second:
        @hookimpl
        def register_sinks(self, register):
            register(type("B", (Sink,), {"name": "twin", "write": lambda s, e, r: SinkResult("b")}))

    host = build_plugin_manager(entry_points=False, extra=[("first", First()), ("second", Second())])
    registry = build_registry(host)
    assert any("'first'" in p and "'second'" in p and "twin" in p for p in registry.problems)


def test_registering_something_that_is_not_a_component_is_reported():
    class Wrong:
        @hookimpl
        def register_sources(self, register):
            register(object)

    class Nameless:
        @hookimpl
        def register_sources(self, register):
            register(type("NoName", (Source,), {}))

    registry = build_registry(build_plugin_manager(entry_points=False, extra=[("wrong", Wrong()),
                                                                             ("nameless", Nameless())]))
    assert any("'wrong'" in p and "not a subclass of Source" in p for p in registry.problems)
    assert any("'nameless'" in p and "no `name`" in p for p in registry.problems)


def test_a_register_hook_that_raises_marks_only_that_plugin_broken():
    class Exploding:
        @hookimpl
        def register_transforms(self, register):
            raise ValueError("boom")

    host = build_plugin_manager(extra=[("exploding", Exploding())])
    registry = build_registry(host)
    assert "register_transforms raised ValueError: boom" in host.broken["exploding"]
    assert registry.get("transform", "themes") is not None


def test_each_call_builds_a_fresh_manager():
    first, second = build_plugin_manager(), build_plugin_manager()
    assert first.pm is not second.pm


def test_tracing_hook_calls(monkeypatch, capsys):
    monkeypatch.setenv("PIPELINE_TRACE_HOOKS", "1")
    host = build_plugin_manager()
    build_registry(host)
    assert "register_sources" in capsys.readouterr().err


# A plugin file whose source's Settings pydantic cannot build (a field of a class it knows nothing of)
ODD_SETTINGS = ("from pipeline import hookimpl\nfrom pipeline.components import Settings, Source\n"
                "class Thing:\n    pass\n"
                "class OddSource(Source):\n    name = 'odd'\n"
                "    class Settings(Settings):\n        thing: Thing = None\n"
                "    def fetch(self, run):\n        return []\n"
                "@hookimpl\ndef register_sources(register):\n    register(OddSource)\n")


def test_a_plugin_whose_settings_pydantic_cannot_build_stops_the_run_at_start_up_naming_it(write_project):
    # Settings are built when first used (defer_build), not as the plugin loads: the error pydantic raises
    # then was an "unexpected" one (exit 1, restarted), naming neither the plugin nor its table
    from pipeline.config import load_project

    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sources.o]\ntype = "odd"\n'
                         '[sinks.feed]\ntype = "rss"\n', {"local/oddsrc.py": ODD_SETTINGS})
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert info.value.exit_code == 2
    assert str(info.value).startswith("pipeline.toml: [sources.o] (odd, from plugin 'oddsrc'): the plugin's "
                                      "settings cannot be used: PydanticSchemaGenerationError: ")


def test_plugins_lists_a_plugin_whose_settings_cannot_be_built_as_broken(write_project, capsys):
    # no table names the component, so no run would build its settings; `pipeline plugins` builds them all
    from pipeline.cli import main

    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.feed]\ntype = "rss"\n',
                         {"local/oddsrc.py": ODD_SETTINGS})
    capsys.readouterr()
    assert main(["plugins", "-c", str(path)]) == 2
    out = capsys.readouterr().out
    assert "broken: plugin 'oddsrc' registers source 'odd', whose settings cannot be used: " \
           "PydanticSchemaGenerationError: Unable to generate pydantic-core schema" in " ".join(out.split())
