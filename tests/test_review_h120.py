"""Review h120: `pipeline init`, followed as a new organiser and then pushed on by a hostile tester.

Each test is one problem found, and fails while the problem is there.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.cli import main
from pipeline.commands import init

FLAGS = ["--name", "Peer Network", "--site-url", "https://news.example.org", "--timezone", "Europe/London",
         "--from-email", "news@example.org"]


def uncomment_examples(folder: Path) -> None:
    """What the files' header says to do: remove the # of each line of the example record."""
    for name in ("jobs.toml", "events.toml"):
        path = folder / "content" / name
        header, example = path.read_text(encoding="utf-8").split("\n\n", 1)
        path.write_text(header + "\n\n" + "\n".join(line.removeprefix("#").removeprefix(" ")
                                                    for line in example.splitlines()) + "\n", encoding="utf-8")


def test_the_example_job_and_event_are_open_and_coming_when_uncommented(tmp_path, capsys):
    """The examples had fixed 2026 dates (a job closed on 30 March, a seminar on 21 April): uncommented as the
    files say, they were published as a closed job and a past event, in no feed and no issue."""
    assert main(["init", str(tmp_path), *FLAGS]) == 0
    uncomment_examples(tmp_path)
    today = datetime.now(ZoneInfo("Europe/London")).date()
    [job] = tomllib.loads((tmp_path / "content" / "jobs.toml").read_text(encoding="utf-8"))["job"]
    [event] = tomllib.loads((tmp_path / "content" / "events.toml").read_text(encoding="utf-8"))["event"]
    assert job["posted"] == today < job["closing_date"]
    assert event["posted"] == today < event["start"].date() and event["start"] < event["end"]
    capsys.readouterr()
    assert main(["run", "-c", str(tmp_path / "pipeline.toml")]) == 0, capsys.readouterr()
    feed = (tmp_path / "out" / "feed.xml").read_text(encoding="utf-8")
    assert job["title"] in feed and event["title"] in feed  # closed jobs and past events leave the feed


def test_init_says_what_a_first_run_makes(tmp_path, capsys):
    """"pipeline run  # the first issue, into out/ and outbox/": a new project's run makes the site, and an issue
    only of what was posted in the month before the last newsletter day; a new post waits for the next."""
    assert main(["init", str(tmp_path), *FLAGS]) == 0
    [run] = [line for line in capsys.readouterr().out.splitlines() if line.lstrip().startswith("pipeline run")]
    assert "the first issue" not in run and "out/" in run and "newsletter day" in run


@pytest.mark.parametrize("kind", ["folder", "dangling link"])
def test_force_refuses_a_content_file_that_is_not_a_file(tmp_path, capsys, kind):
    """--force "kept as it is" a folder (or a link to nothing) at content/jobs.toml and exited 0; the project it
    wrote then failed `pipeline check`."""
    jobs = tmp_path / "content" / "jobs.toml"
    jobs.parent.mkdir()
    if kind == "folder":
        jobs.mkdir()
    else:
        jobs.symlink_to(tmp_path / "nowhere.toml")
    assert main(["init", str(tmp_path), *FLAGS, "--force"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert str(jobs) in line and "file" in line and line.endswith("nothing was written"), line
    assert not (tmp_path / "pipeline.toml").exists() and not (tmp_path / "content" / "events.toml").exists()


def test_a_link_named_pipeline_toml_is_not_replaced_without_force(tmp_path, capsys):
    """A pipeline.toml that is a link to a file not there (a volume not mounted yet) was replaced silently."""
    (tmp_path / "pipeline.toml").symlink_to(tmp_path / "elsewhere" / "pipeline.toml")
    assert main(["init", str(tmp_path), *FLAGS]) == 2
    assert "pipeline.toml exists already" in capsys.readouterr().err
    assert (tmp_path / "pipeline.toml").is_symlink() and not (tmp_path / "content").exists()


@pytest.mark.parametrize("zone", sorted(init.NOT_ZONES))
def test_timezone_refuses_what_init_itself_does_not_count_as_a_zone(tmp_path, capsys, zone):
    """`--timezone localtime` wrote "localtime": the zone of whatever machine runs it next (a container's UTC)."""
    try:
        ZoneInfo(zone)
    except Exception:
        pytest.skip(f"{zone} is not in this machine's zone database")
    assert main(["init", str(tmp_path / "n"), *FLAGS, "--timezone", zone]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: --timezone:") and "IANA" in line and line.endswith("nothing was written")
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize("name", ["شبکه\u200cی همکاری", "Co\u00adproduction", "Network \U0001f91d"])
def test_a_name_with_a_joiner_or_soft_hyphen_is_a_name(tmp_path, name):
    """Persian writes a zero-width non-joiner inside words; isprintable() is False for it, so --name refused it,
    which the project itself (`name` in [pipeline]) takes."""
    assert main(["init", str(tmp_path), *FLAGS[2:], "--name", name]) == 0
    assert tomllib.loads((tmp_path / "pipeline.toml").read_text(encoding="utf-8"))["pipeline"]["name"] == name


def test_a_name_of_bytes_that_are_not_utf8_is_still_refused(tmp_path, capsys):
    """What isprintable() also kept out: a lone surrogate (a folder or argument of bytes that are not UTF-8), which
    TOML cannot hold."""
    assert main(["init", str(tmp_path / "n"), *FLAGS[2:], "--name", "caf\udce9"]) == 2
    assert "--name:" in capsys.readouterr().err and not (tmp_path / "n").exists()


def test_plain_http_for_a_public_site_is_said(tmp_path, capsys):
    """`--site-url http://news.example.org` was taken without a word: its emails carry no one-click unsubscribe
    (RFC 8058 wants https; Gmail and Yahoo ask it of bulk senders) and the form's cookie is not Secure."""
    args = [*FLAGS[:2], "--site-url", "http://news.example.org", *FLAGS[4:]]
    assert main(["init", str(tmp_path / "a"), *args]) == 0
    err = capsys.readouterr().err
    assert "https" in err and "one-click" in err
    assert main(["init", str(tmp_path / "b"), *FLAGS[:2], "--site-url", "http://localhost:8000", *FLAGS[4:]]) == 0
    assert capsys.readouterr().err == ""  # trying it on this machine: nothing to say



def test_a_write_that_fails_half_way_leaves_nothing_behind(tmp_path, capsys, monkeypatch):
    """A full disk (or a DIR whose content/ alone is writable) stopped init after the content files were made and
    before pipeline.toml: they were left, so the next try was refused ("content/jobs.toml exists already")."""
    import errno

    def full(path, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(init, "write_atomic", full)
    folder = tmp_path / "a" / "network"
    assert main(["init", str(folder), *FLAGS]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "No space left on device" in line and line.endswith("nothing was written"), line
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert main(["init", str(folder), *FLAGS]) == 0
