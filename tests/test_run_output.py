"""The run table as printed (pipeline/commands/styled.py): plain text to a pipe or a log, styled by Rich on a
terminal or when FORCE_COLOR asks, and never styled or moved by what a plugin wrote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.test_sources import RSS, SINK

# A source whose failure says Rich markup and a terminal's escape sequence (clear the screen), as a feed's or a
# plugin's text can.
LOUD_SOURCE = '''\
from pipeline import hookimpl
from pipeline.components import Source
from pipeline.errors import SourceError


class Loud(Source):
    name = "loud"

    def fetch(self, run):
        raise SourceError("gave up on [bold red]everything[/] \\x1b[2J\\x1b]0;owned\\x07 here")


@hookimpl
def register_sources(register):
    register(Loud)
'''

REFRESH = """
import json, sys
from pipeline import cli
code = cli.main(["refresh", "--config", sys.argv[1], "--as-of", "2016-02-01"])
sys.stdout.flush()
print(json.dumps({"exit": code, "rich": "rich" in sys.modules}), file=sys.stderr)
"""


def _refresh(config, **environment) -> tuple[str, dict]:
    """A refresh in a new process whose output is a pipe: (its standard output, its exit code and whether
    Rich was loaded)."""
    env = {key: value for key, value in os.environ.items() if key not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run([sys.executable, "-c", REFRESH, str(config)], capture_output=True, text=True, timeout=120,
                          env={**env, **environment})
    return done.stdout, json.loads(done.stderr.strip().splitlines()[-1])


@pytest.fixture
def project(write_project):
    return write_project('[pipeline]\nname = "N"\nplugins_dir = "local_plugins"\n'
                         '[sources.partner]\ntype = "feed"\nurl = "partner.xml"\n[sources.noisy]\ntype = "loud"\n'
                         + SINK, {"partner.xml": RSS, "local_plugins/loud.py": LOUD_SOURCE})


def test_a_refresh_writing_to_a_pipe_prints_its_table_as_plain_text_without_loading_rich(project):
    out, ended = _refresh(project)

    assert ended == {"exit": 3, "rich": False}
    lines = out.splitlines()
    assert lines[0].split() == ["stage", "name", "result", "seconds"]
    partner = next(line for line in lines if " partner " in line)
    assert partner.split()[:3] == ["source", "partner", "ok"]
    assert "sources that failed: noisy (the others reached the sinks)" in lines
    assert lines[-1] == "refresh as of 2016-02-01: no new issue; done, with problems"
    assert "\x1b" not in out and "\x07" not in out


def test_markup_and_escape_sequences_a_plugin_wrote_are_printed_as_text_never_obeyed(project):
    for out, _ in (_refresh(project), _refresh(project, FORCE_COLOR="1")):
        noisy = next(line for line in out.splitlines() if " noisy " in line)
        assert "gave up on [bold red]everything[/] [2J]0;owned here" in noisy, noisy
        assert "\x1b[2J" not in out and "\x1b]0;" not in out and "\x07" not in out


@pytest.mark.parametrize("environment, styled", [({"FORCE_COLOR": "1"}, True), ({"FORCE_COLOR": ""}, False),
                                                 ({"TTY_COMPATIBLE": "1"}, True),
                                                 ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False)])
def test_rich_styles_the_table_where_its_own_rule_says_the_output_takes_colour(project, environment, styled):
    out, ended = _refresh(project, **environment)

    assert ended == {"exit": 3, "rich": styled}
    assert ("\x1b[32mok" in out) is styled  # green
    assert ("\x1b[31mFAILED" in out) is styled  # red
    plain = out if not styled else re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert "sources that failed: noisy (the others reached the sinks)" in plain.splitlines()
