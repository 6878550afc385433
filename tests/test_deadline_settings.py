"""The deadline settings of transforms and sinks: `[pipeline] transform_deadline` / `sink_deadline`, and a
table's own `deadline`, a key the host keeps (sources': tests/test_fetch_deadlines.py)."""

from __future__ import annotations

import pytest

from pipeline import hookimpl
from pipeline.components import Sink, SinkResult, Transform
from pipeline.config import ConfigError, load_project

# section, a table of it, the [pipeline] key, its default, the Project method that answers
KINDS = [("transforms", 'type = "summary"', "transform_deadline", 300, "transform_deadline_of"),
         ("sinks", 'type = "archive"\ntitle = "T"', "sink_deadline", 3600, "sink_deadline_of")]
# A second table of each section, beside the first (a project has one archive sink: `Sink.single`)
ANOTHER = {"transforms": 'type = "summary"', "sinks": 'type = "email"\nfrom_email = "news@network.example.org"'}
IDS = ["transforms", "sinks"]


def _write(tmp_path, tables: str, core: str = ""):
    config = tmp_path / "pipeline.toml"
    config.write_text(f'[pipeline]\nname = "N"\n{core}[sinks.feed]\ntype = "rss"\n{tables}', encoding="utf-8")
    return config


@pytest.mark.parametrize("section, table, key, default, deadline_of", KINDS, ids=IDS)
def test_each_has_the_pipeline_deadline_unless_its_table_gives_one(tmp_path, section, table, key, default,
                                                                    deadline_of):
    config = _write(tmp_path, f"[{section}.a]\n{table}\n[{section}.b]\n{ANOTHER[section]}\ndeadline = 2.5\n",
                    f"{key} = 40\n")
    project = load_project(config)
    assert getattr(project, deadline_of)("a") == 40 and getattr(project, deadline_of)("b") == 2.5
    config = _write(tmp_path, f"[{section}.a]\n{table}\n")
    assert getattr(load_project(config), deadline_of)("a") == default


@pytest.mark.parametrize("value", ["0", "-1", '"soon"', "true", "100000"])
@pytest.mark.parametrize("section, table, key, default, deadline_of", KINDS, ids=IDS)
def test_a_deadline_that_is_not_a_number_of_seconds_is_a_config_error(tmp_path, section, table, key, default,
                                                                       deadline_of, value):
    config = _write(tmp_path, f"[{section}.a]\n{table}\ndeadline = {value}\n")
    with pytest.raises(ConfigError, match=rf"\[{section}.a\]: deadline: must be a number of seconds between 0 and "
                                          r"86400"):
        load_project(config)


@pytest.mark.parametrize("section, table, key, default, deadline_of", KINDS, ids=IDS)
def test_the_pipeline_deadline_must_be_a_number_not_true(tmp_path, section, table, key, default, deadline_of):
    with pytest.raises(ConfigError, match=key):
        load_project(_write(tmp_path, f"[{section}.a]\n{table}\n", f"{key} = true\n"))


class _OwnDeadline:
    @hookimpl
    def register_transforms(self, register):
        class OwnDeadline(Transform):
            name = "own_deadline"

            class Settings(Transform.Settings):
                deadline: str = "friday"

        register(OwnDeadline)

    @hookimpl
    def register_sinks(self, register):
        class OwnDeadline(Sink):
            name = "own_deadline"

            class Settings(Sink.Settings):
                deadline: str = "friday"

            def write(self, edition, run):
                return SinkResult("wrote")

        register(OwnDeadline)


@pytest.mark.parametrize("section, kind", [("transforms", "transform"), ("sinks", "sink")])
def test_a_plugin_with_a_setting_named_deadline_is_told_it_clashes_with_the_hosts_key(tmp_path, section, kind):
    config = _write(tmp_path, f'[{section}.a]\ntype = "own_deadline"\n')
    with pytest.raises(ConfigError, match=rf"\[{section}.a\] \(own_deadline, from plugin 'own'\): the {kind} has "
                                          r"a setting named `deadline`, which is the host's key"):
        load_project(config, extra_plugins=[("own", _OwnDeadline())])
