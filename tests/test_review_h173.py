"""Review h173: `pipeline plugins` and a plugin that lost a component name to another plugin."""

from __future__ import annotations

import json

from pipeline.cli import main

FIRST = ("from pipeline import hookimpl\nfrom pipeline.components import Transform\n"
         "class Shared(Transform):\n    name = 'h173_shared'\n"
         "    def apply(self, items, run):\n        pass\n"
         "@hookimpl\ndef register_transforms(register):\n    register(Shared)\n")
SECOND = ("from pipeline import hookimpl\nfrom pipeline.components import Source, Transform\n"
          "class Shared(Transform):\n    name = 'h173_shared'\n"
          "    def apply(self, items, run):\n        pass\n"
          "class Own(Source):\n    name = 'h173_own'\n"
          "    def fetch(self, run):\n        return []\n"
          "@hookimpl\ndef register_transforms(register):\n    register(Shared)\n"
          "@hookimpl\ndef register_sources(register):\n    register(Own)\n")
TOML = '[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.feed]\ntype = "rss"\n'
REASON = ("transform 'h173_shared' was not registered: plugin 'h173_first' registered that name first; "
          "block one with PIPELINE_BLOCK_PLUGINS")


def _project(write_project):
    return write_project(TOML, {"local/h173_first.py": FIRST, "local/h173_second.py": SECOND,
                                "local/h173_import.py": "import h173_no_such_module\n"})


def test_plugins_lists_the_components_of_a_plugin_that_lost_a_name_and_the_one_refused(write_project, capsys):
    """The plugin whose `h173_shared` was refused was listed as BROKEN, as if none of its components loaded,
    though its source `h173_own` is registered and works. Now its row lists `h173_own` and names the refused
    component and the plugin whose name it is, the conflict line under the table saying what to do; a plugin
    that did not load at all is still BROKEN. The conflict still makes the command exit 2."""
    path = _project(write_project)
    capsys.readouterr()
    assert main(["plugins", "-c", str(path)]) == 2
    rows = {line.split()[0]: " ".join(line.split()) for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["h173_first"].startswith("h173_first transform h173_shared ")
    assert rows["h173_second"].startswith("h173_second source h173_own; refused: transform h173_shared "
                                          "(name taken by plugin 'h173_first') /")
    assert "BROKEN" not in rows["h173_second"] and "BROKEN" not in rows["h173_first"]
    assert rows["h173_import"].startswith("h173_import BROKEN ")
    assert rows["broken:"].startswith("broken: plugin 'h173_import' failed to load")
    assert rows["conflict:"] == ("conflict: transform 'h173_shared' is registered by both plugin 'h173_first' "
                                 "and plugin 'h173_second'; block one with PIPELINE_BLOCK_PLUGINS")


def test_plugins_json_gives_the_refused_component_apart_from_broken(write_project, capsys):
    path = _project(write_project)
    capsys.readouterr()
    assert main(["plugins", "-c", str(path), "--json"]) == 2
    data = json.loads(capsys.readouterr().out)
    listed = {plugin["name"]: plugin for plugin in data["plugins"]}
    second = listed["h173_second"]
    assert second["broken"] is None
    assert second["components"] == [{"category": "source", "name": "h173_own"}]
    assert second["refused"] == [{"category": "transform", "name": "h173_shared", "owner": "h173_first",
                                  "reason": REASON}]
    assert listed["h173_first"]["refused"] == [] and listed["h173_first"]["broken"] is None
    assert listed["h173_import"]["broken"].startswith("failed to load from ")
    assert listed["h173_import"]["refused"] == []
    assert data["exit_code"] == 2 and len(data["conflicts"]) == 1


def test_a_plugin_registering_one_name_twice_is_told_so_not_that_another_plugin_has_it(write_project, capsys):
    """A plugin that registers two transforms of one name was told its name was taken by itself, and to block one
    of the two plugins ("registered by both plugin 'p' and plugin 'p'; block one with PIPELINE_BLOCK_PLUGINS")."""
    twice = ("from pipeline import hookimpl\nfrom pipeline.components import Transform\n"
             "class One(Transform):\n    name = 'h173_twice'\n    def apply(self, items, run):\n        pass\n"
             "class Two(One):\n    pass\n"
             "@hookimpl\ndef register_transforms(register):\n    register(One)\n    register(Two)\n")
    path = write_project(TOML, {"local/h173_self.py": twice})
    capsys.readouterr()
    assert main(["plugins", "-c", str(path)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert ("conflict: plugin 'h173_self' registers transform 'h173_twice' twice; give each component a name of its "
            "own") in out
    assert "refused: transform h173_twice (registered twice by this plugin)" in out
    assert "block one" not in out
