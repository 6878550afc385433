"""The `pipeline` command: exit codes, one-line errors, and what each subcommand prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sample_feeds import FEED_ONLY
from sample_feeds import ONE_ITEM_RSS as RSS

from pipeline.cli import main


def test_check_ok(write_project, capsys):
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["check", "-c", str(path)]) == 0
    assert "OK — 1 sources, 0 transforms, 1 sinks" in capsys.readouterr().out


def test_check_names_every_folder_a_run_writes_for_a_sandbox_to_leave_writable(write_project, capsys, tmp_path):
    """The systemd unit leaves only state/, out/ and outbox/ writable: an alerts' outbox elsewhere failed only when an
    alert was due. `check` names each folder, from the project's folder when inside it."""
    elsewhere = tmp_path.parent / f"{tmp_path.name}-alerts"
    path = write_project(FEED_ONLY + f'''
[pipeline]
name = "Network"
site_url = "https://example.org"
out_dir = "site"
[alerts]
to = ["organisers@example.org"]
from_email = "alerts@example.org"
[alerts.delivery]
type = "outbox"
folder = "{elsewhere}"
''', {"partner.xml": RSS})
    assert main(["check", "-c", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        f"writes: state/, site/, {elsewhere} (under systemd, each must be in the unit's ReadWritePaths)")
    assert main(["check", "-c", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["writes"] == [str(tmp_path / "state"), str(tmp_path / "site"),
                                                              str(elsewhere)]


def test_check_reports_config_errors_one_line_each_with_exit_2(write_project, capsys):
    path = write_project(FEED_ONLY.replace('type = "rss"', 'type = "rss"\nlimt = 3'), {"partner.xml": RSS})
    assert main(["check", "-c", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: pipeline.toml: [sinks.feed] (rss): unknown key 'limt' "
                   "(allowed: limit, title, description, type, deadline)"]


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err


def test_plugins_lists_components_and_origins(write_project, capsys):
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main(["plugins", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    feed_line = next(line for line in out.splitlines() if line.strip().startswith("feed "))
    assert "source feed" in feed_line and "entry point plugins.sources.feed" in feed_line
    assert "delivery sendgrid" in out


def test_run_prints_each_stage_and_names_failed_sources(write_project, capsys):
    path = write_project(FEED_ONLY + '[sources.down]\ntype = "feed"\nurl = "broken.xml"\n',
                         {"partner.xml": RSS, "broken.xml": "this is not a feed"})
    code = main(["run", "-c", str(path), "--as-of", "2016-02-01"])
    out = capsys.readouterr().out
    assert code == 3
    assert "partner" in out and "1 item" in out
    assert "sources that failed: down" in out
    assert "broken.xml: not an RSS or Atom feed" in out
    assert (path.parent / "out" / "feed.xml").is_file()


def test_words_from_outside_print_as_written_in_the_run_table(write_project, capsys):
    """A feed's address or title is anyone's text: rich's emoji codes (':warning:') and markup stay as typed."""
    odd = ":warning:[bold]x[/bold].xml"
    path = write_project(f'[sources.odd]\ntype = "feed"\nurl = "{odd}"\n[sinks.feed]\ntype = "rss"\n',
                         {odd: "this is not a feed"})
    assert main(["refresh", "-c", str(path), "--as-of", "2016-02-01"]) == 3
    out = capsys.readouterr().out
    assert ":warning:[bold]x[/bold].xml: not an RSS or Atom feed" in out and "\u26a0" not in out


def test_bad_as_of_date(write_project, capsys):
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    with pytest.raises(SystemExit) as info:
        main(["run", "-c", str(path), "--as-of", "1 Feb"])
    assert info.value.code == 2
    assert "'1 Feb' is not a date like 2016-02-01" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["run", "preview", "refresh"])
def test_an_as_of_date_at_the_ends_of_the_calendar_is_refused_in_one_line(write_project, capsys, command):
    """`--as-of 0001-01-01` got 'unexpected ValueError: year 0 is out of range' (exit 1): the month before it,
    which the issue's window starts from, is before the calendar's first. A date outside 1900 to 9998 is now a
    usage error, as a date that does not parse is."""
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    for far in ("0001-01-01", "9999-12-31"):
        with pytest.raises(SystemExit) as info:
            main([command, "-c", str(path), "--as-of", far])
        assert info.value.code == 2
        assert f"'{far}' is not a date from 1900 to 9998" in capsys.readouterr().err


def test_schedule_list(write_project, capsys):
    path = write_project(FEED_ONLY + '[schedule]\nnewsletter_day = 1\nnewsletter_time = "08:00"\n',
                         {"partner.xml": RSS})
    assert main(["schedule", "-c", str(path), "--list"]) == 0
    out = capsys.readouterr().out
    assert "monthly edition: next at" in out and "08:00" in out and "refresh every 60 min" in out
    assert not (path.parent / "state").exists()  # --list only reads


def test_the_command_runs_as_a_module(write_project):
    path = write_project(FEED_ONLY.replace('"rss"', '"rss"\nlimt = 1'), {"partner.xml": RSS})
    result = subprocess.run([sys.executable, "-m", "pipeline", "check", "-c", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "unknown key 'limt'" in result.stderr


def test_plugins_lists_broken_plugins_by_name_instead_of_failing(write_project, capsys):
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.feed]\ntype = "rss"\n',
                         {"local/halfdone.py": "import nonexistent_helper\n"})
    assert main(["plugins", "-c", str(path)]) == 2
    out = capsys.readouterr().out
    assert "halfdone" in out and "BROKEN" in out
    assert "broken: plugin 'halfdone' failed to load" in out and "nonexistent_helper" in out
    assert "source feed" in out  # the healthy plugins are still listed


@pytest.mark.parametrize("toml, files, expected", [
    ("[pipeline\nname = 1\n", {}, "pipeline.toml: not valid TOML"),
    ('[sources.x]\ntype = "nope"\n[sinks.feed]\ntype = "rss"\n', {}, "[sources.x]: unknown source type 'nope'"),
    ('[sources.x]\ntype = ["blog"]\n[sinks.feed]\ntype = "rss"\n', {}, "`type` must be a name in quotes"),
    ('[sources.b]\ntype = "blog"\npath = "posts"\n[sinks.feed]\ntype = "rss"\n', {},
     "path: folder 'posts' does not exist"),
    ('[pipeline]\nname = "N"\nsite_url = "network.example.org"\n[sinks.feed]\ntype = "rss"\n', {},
     "site_url: 'network.example.org' is not an absolute http(s) URL"),
    ('[pipeline]\nname = "N"\nstate_dir = "taken"\n[sinks.feed]\ntype = "rss"\n', {"taken": "a file"},
     "taken is a file; choose another path"),
    ('[pipeline]\nname = "N"\nout_dir = "taken/out"\n[sinks.feed]\ntype = "rss"\n', {"taken": "a file"},
     "taken/out: cannot use it as the output folder (Not a directory); fix [pipeline] out_dir"),
    (f'[pipeline]\nname = "N"\nstate_dir = "{"x" * 300}"\n[sinks.feed]\ntype = "rss"\n', {},
     "(File name too long); choose another path"),
    ('[pipeline]\nname = "N"\nstate_dir = "/proc/no-such-folder/state"\n[sinks.feed]\ntype = "rss"\n', {},
     "cannot use it as the state folder"),
    ('[pipeline]\nname = "N"\nout_dir = "/proc/no-such-folder/out"\n[sinks.feed]\ntype = "rss"\n', {},
     "/proc/no-such-folder/out: cannot use it as the output folder (No such file or directory); fix [pipeline] "
     "out_dir"),
])
def test_config_errors_are_one_line_with_exit_2_and_no_traceback(write_project, capsys, toml, files, expected):
    path = write_project(toml, files)
    assert main(["run", "-c", str(path), "--as-of", "2016-02-01"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert all(line.startswith("error: ") for line in err.strip().splitlines())


def test_an_output_folder_where_a_file_stands_is_refused_by_check_alone(write_project, capsys):
    path = write_project('[pipeline]\nname = "N"\nout_dir = "taken/out"\n[sinks.feed]\ntype = "rss"\n',
                         {"taken": "a file"})
    assert main(["check", "-c", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "pipeline.toml: [pipeline]: out_dir:" in err and "taken is a file, so" in err and "cannot be a folder" in err
    assert main(["status", "-c", str(path)]) == 0  # looking in, or making a backup, needs no output folder

    (path.parent / "site").symlink_to(path.parent / "gone")
    path.write_text(path.read_text().replace('out_dir = "taken/out"', 'out_dir = "site"'))
    assert main(["check", "-c", str(path)]) == 2
    assert "site is a link to" in capsys.readouterr().err


def test_a_plugin_that_calls_sys_exit_is_reported_not_fatal(write_project, capsys):
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.feed]\ntype = "rss"\n',
                         {"local/quitter.py": "import sys\nsys.exit(5)\n"})
    assert main(["check", "-c", str(path)]) == 2
    assert "plugin 'quitter' failed to load" in capsys.readouterr().err


def test_a_component_that_fails_to_set_up_is_named(write_project, capsys):
    plugin = ("from pipeline import hookimpl\nfrom pipeline.components import Sink\n"
              "class Bad(Sink):\n    name = 'bad'\n"
              "    def __init__(self, *a):\n        raise ZeroDivisionError('oops')\n"
              "@hookimpl\ndef register_sinks(register):\n    register(Bad)\n")
    path = write_project('[pipeline]\nname = "N"\nplugins_dir = "local"\n[sinks.b]\ntype = "bad"\n',
                         {"local/bad.py": plugin})
    assert main(["check", "-c", str(path)]) == 2  # set-up failures in a component are config errors
    assert "plugin 'bad' could not set up 'bad': ZeroDivisionError: oops" in capsys.readouterr().err


def test_a_corrupt_state_database_is_reported_and_left_alone(write_project, capsys):
    path = write_project(FEED_ONLY, {"partner.xml": RSS, "state/pipeline.sqlite": "not a database"})
    assert main(["run", "-c", str(path), "--as-of", "2016-02-01"]) == 2
    assert "pipeline.sqlite: the state database is damaged (file is not a database)" in capsys.readouterr().err
    assert (path.parent / "state" / "pipeline.sqlite").read_text() == "not a database"


@pytest.mark.parametrize("argv", [["--config", "{path}", "check"], ["-c", "{path}", "check"],
                                  ["check", "--config", "{path}"]])
def test_config_before_or_after_the_command(write_project, capsys, argv):
    path = write_project(FEED_ONLY, {"partner.xml": RSS})
    assert main([word.format(path=path) for word in argv]) == 0
    assert f"{path}: OK" in capsys.readouterr().out


def test_config_before_a_command_with_its_own_actions(write_project, capsys):
    path = write_project(FEED_ONLY.replace('type = "rss"', 'type = "rss"\n[sinks.mail]\ntype = "email"\n'
                                           'from_email = "n@example.org"'), {"partner.xml": RSS})
    assert main(["--config", str(path), "subscribers", "add", "ann@example.org"]) == 0
    capsys.readouterr()
    assert main(["-c", str(path), "subscribers", "list"]) == 0
    assert "ann@example.org" in capsys.readouterr().out


@pytest.mark.parametrize("options", [["-c", "{path}"], ["-v", "-c", "{path}"], ["-q", "--config", "{path}"],
                                     ["--log-file", "{log}", "-c", "{path}"]])
def test_an_action_of_a_command_takes_the_options_after_it_too(write_project, capsys, tmp_path, options):
    """README, "The command line": every command takes --config, -v, -q and --log-file before or after it,
    `subscribers ACTION` and `plugin new` too."""
    path = write_project(FEED_ONLY.replace('type = "rss"', 'type = "rss"\n[sinks.mail]\ntype = "email"\n'
                                           'from_email = "n@example.org"'), {"partner.xml": RSS})
    log = tmp_path / "cli.log"
    options = [word.format(path=path, log=log) for word in options]
    assert main(["subscribers", "add", "ann@example.org", *options]) == 0
    assert main(["subscribers", "list", *options]) == 0
    assert "ann@example.org" in capsys.readouterr().out
    assert log.is_file() == ("--log-file" in options)
    assert main(["plugin", "new", "cli-options-check", "--dir", str(tmp_path / "made"), *options]) == 0
    assert (tmp_path / "made" / "newsletter-pipeline-cli-options-check" / "pyproject.toml").is_file()


@pytest.mark.parametrize(("typed", "meant"), [("rnu", "run"), ("refesh", "refresh"), ("plugns", "plugins")])
def test_a_mistyped_command_gets_did_you_mean(capsys, typed, meant):
    with pytest.raises(SystemExit) as stopped:
        main([typed])
    assert stopped.value.code == 2
    assert f"unknown command {typed!r}; did you mean `pipeline {meant}`?" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["status"], ["status", "--runs", "3"]])
def test_status_stopped_by_a_signal_says_so_without_the_runs_words(argv):
    """Review (helper 93): `status` is named among the commands that run nothing of the pipeline, but its own
    `--runs N` option (default 10) has the dest `runs` that `_call` reads as 'this command runs the pipeline', so a
    signal stopping it said a run's words about workers and a send's batches."""
    import signal

    from pipeline import cli

    args = cli._parser(argv).parse_args(argv)

    def stopped(_args):
        raise cli.Stopped(signal.SIGTERM)

    args.command = stopped
    code, [message] = cli._call(args)
    assert (code, message) == (143, "stopped by SIGTERM (exit 143)")
