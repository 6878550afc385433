"""`pipeline init`: a starter project that `pipeline check` passes and `pipeline run` runs as written (the real
command, in a new process), its placeholders refused until they are set, nothing ever overwritten but with --force
pipeline.toml alone, a value that will not do refused before anything is written, and the themes taxonomy the same
as the shipped project's."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from pipeline import placeholders
from pipeline.cli import main
from pipeline.commands import init
from pipeline.config import load_project
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = Path(sys.executable).with_name("pipeline")  # the installed command, as pyproject's script makes it
FLAGS = ["--name", "Peer Network", "--site-url", "https://news.example.org", "--timezone", "Europe/London",
         "--from-email", "news@example.org"]
POST = "---\ntitle: Our first seminar\ndate: 2026-03-10\n---\n\nPeer workers met in Leeds to plan a seminar.\n"


def pipeline(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIPELINE_")}
    return subprocess.run([str(PIPELINE), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_new_project_checks_and_runs_as_written_and_publishes_a_post_added_to_it(tmp_path):
    made = pipeline("init", "network", *FLAGS, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    project = tmp_path / "network"
    assert sorted(files_in(project)) == ["content/events.toml", "content/jobs.toml", "pipeline.toml"]
    assert (project / "content" / "blog").is_dir() and not any((project / "content" / "blog").iterdir())
    out = made.stdout.splitlines()
    assert out[:5] == ["wrote network/ (a new project):", "  pipeline.toml", "  content/blog/",
                       "  content/jobs.toml", "  content/events.toml"]
    assert out[5] == "next:" and "set first" not in made.stdout  # every value given: no placeholder
    assert [line.split("#")[0].strip() for line in out[6:]] == [
        f"pipeline {step} -c network/pipeline.toml" for step in ("check", "run", "serve", "schedule")]

    checked = pipeline("check", "-c", "network/pipeline.toml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "OK — 3 sources, 2 transforms, 3 sinks" in checked.stdout

    ran = pipeline("run", "-c", "network/pipeline.toml", "--as-of", "2026-03-01", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "run as of 2026-03-01: no new issue; done" in ran.stdout
    sources = [line.split()[1:5] for line in ran.stdout.splitlines() if line.split()[:1] == ["source"]]
    assert sources == [[name, "ok", "0", "items"] for name in ("blog", "jobs", "events")]
    site = project / "out"
    assert (site / "index.html").is_file() and (site / "feed.xml").is_file()
    assert not (site / "blog").exists() and not list((project / "outbox").rglob("*.eml"))

    (project / "content" / "blog" / "first-seminar.md").write_text(POST, encoding="utf-8")
    again = pipeline("run", "-c", "network/pipeline.toml", "--as-of", "2026-04-01", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    page = site / "blog" / "first-seminar" / "index.html"
    assert "Our first seminar" in page.read_text(encoding="utf-8")
    assert "Our first seminar" in (site / "feed.xml").read_text(encoding="utf-8")
    assert "https://news.example.org/blog/first-seminar/" in (site / "feed.xml").read_text(encoding="utf-8")


def test_the_starter_holds_the_values_given_the_sources_and_sinks_and_no_secret(tmp_path):
    name = 'Réseau "Co-pro" \\ Leeds'  # quotes, a backslash and an accent, written as TOML reads them back
    assert main(["init", str(tmp_path), *FLAGS[2:], "--name", name]) == 0
    text = (tmp_path / "pipeline.toml").read_text(encoding="utf-8")
    config = tomllib.loads(text)

    assert config["pipeline"] | {} == {**config["pipeline"], "name": name, "site_url": "https://news.example.org",
                                       "timezone": "Europe/London"}
    assert {name: (table["type"], table.get("path")) for name, table in config["sources"].items()} == {
        "blog": ("blog", "content/blog"), "jobs": ("jobs", "content/jobs.toml"),
        "events": ("events", "content/events.toml")}
    assert "# [sources.partner-news]\n# type = \"feed\"" in text  # the partner feed: an example, commented out
    assert list(config["transforms"]) == ["themes", "summary"]
    assert [(name, table["type"]) for name, table in config["sinks"].items()] == [
        ("newsletter", "email"), ("feed", "rss"), ("archive", "archive")]
    assert config["sinks"]["newsletter"]["from_email"] == "news@example.org"
    assert config["sinks"]["newsletter"]["delivery"] == {"type": "outbox"}
    keys = []

    def walk(table: dict) -> None:
        for key, value in table.items():
            keys.append(key.lower())
            if isinstance(value, dict) and key != "taxonomy":
                walk(value)

    walk(config)
    assert not [key for key in keys if any(word in key for word in ("key", "password", "secret", "token"))]
    for variable in ("SENDGRID_API_KEY", "PIPELINE_SECRET"):  # the comments say where the secrets come from
        assert variable in text
    lines = text.splitlines()
    headers = [number for number, line in enumerate(lines) if line.startswith("[") and "taxonomy" not in line]
    assert len(headers) == 11
    for number in headers:  # each table says what it is for, and where the README tells more
        comment = []
        while lines[number - 1 - len(comment)].startswith("#"):
            comment.append(lines[number - 1 - len(comment)])
        assert comment and "README" in " ".join(comment), lines[number]
    assert load_project(tmp_path / "pipeline.toml").core.name == name
    odd = "tab\t del\x7f"  # TOML wants DEL escaped too, which JSON's escapes leave as it is
    assert tomllib.loads(init.starter(name=odd, site_url="https://x.org", timezone="UTC",
                                      from_email="a@x.org"))["pipeline"]["name"] == odd


def test_nothing_in_the_new_content_is_published_but_its_examples_are_records_that_work(tmp_path, capsys):
    assert main(["init", str(tmp_path), *FLAGS]) == 0
    for name in ("jobs.toml", "events.toml"):
        path = tmp_path / "content" / name
        assert tomllib.loads(path.read_text(encoding="utf-8")) == {}  # comments only
        lines = path.read_text(encoding="utf-8").split("\n\n", 1)[1].splitlines()  # the example, after the header
        path.write_text("\n".join(line.removeprefix("#").split(" #")[0].strip() if line.startswith("#") else line
                                  for line in lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["run", "-c", str(tmp_path / "pipeline.toml")]) == 0, capsys.readouterr()  # dated from today
    pages = {p.parent.parent.name for p in (tmp_path / "out").glob("*/*/index.html")}
    assert {"jobs", "events"} <= pages
    (event,) = tomllib.loads((tmp_path / "content" / "events.toml").read_text(encoding="utf-8"))["event"]
    month = event["start"].strftime("%Y-%m")  # its id and booking link name the month it is in, not April's
    assert event["id"] == f"seminar-{month}" and event["booking_url"].endswith(f"/seminars/{month}")


def test_without_the_options_the_name_and_zone_are_guessed_and_placeholders_stop_check(tmp_path, monkeypatch,
                                                                                       capsys):
    monkeypatch.setenv("TZ", "America/New_York")
    folder = tmp_path / "coproduction-network"
    assert main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "set first, in" in out and "  site_url in [pipeline]" in out and "  from_email in [sinks.newsletter]" in out
    config = tomllib.loads((folder / "pipeline.toml").read_text(encoding="utf-8"))
    assert config["pipeline"]["name"] == "Coproduction network"
    assert config["pipeline"]["timezone"] == "America/New_York"
    assert config["pipeline"]["site_url"] == placeholders.SITE_URL
    assert config["sinks"]["newsletter"]["from_email"] == placeholders.FROM_EMAIL

    assert main(["check", "-c", str(folder / "pipeline.toml")]) == 2
    assert capsys.readouterr().err.splitlines() == [  # every placeholder at once, not one per try
        "error: pipeline.toml: [pipeline]: site_url: 'https://change-me.invalid' is a placeholder (no site is ever "
        "under .invalid); set it to the address the site and `pipeline serve` will be at, such as "
        "'https://news.example.org'",
        "error: pipeline.toml: [sinks.newsletter] (email): from_email: 'newsletter@change-me.invalid' is a "
        "placeholder (no mail reaches .invalid); set it to the address the newsletter is sent from, such as "
        "'news@example.org'"]

    assert main(["init", str(folder), "--force", "--site-url", "https://news.example.org"]) == 0
    capsys.readouterr()
    assert main(["check", "-c", str(folder / "pipeline.toml")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: pipeline.toml: [sinks.newsletter] (email): from_email: 'newsletter@change-me.invalid' is a "
        "placeholder (no mail reaches .invalid); set it to the address the newsletter is sent from, such as "
        "'news@example.org'"]


@pytest.mark.parametrize("host", ["change-me.invalid", "News.INVALID.", "invalid"])
def test_a_host_under_invalid_is_refused_wherever_it_is_written(write_project, host):
    """Not the starter's value alone: a site or a sender under .invalid (RFC 6761) can never be reached."""
    config = write_project(f'[pipeline]\nname = "N"\nsite_url = "https://{host}/news"\n[sinks.feed]\ntype = "rss"\n')
    with pytest.raises(ConfigError, match=r"\[pipeline\]: site_url: .* is a placeholder"):
        load_project(config)
    config = write_project('[pipeline]\nname = "N"\n[sinks.newsletter]\ntype = "email"\nfrom_email = "a@b.org"\n'
                           f'reply_to = "team@{host}"\n')
    with pytest.raises(ConfigError, match=r"reply_to: .* is a placeholder .*; set it to a real address, or remove it"):
        load_project(config)


def test_an_existing_pipeline_toml_or_content_file_is_refused_and_force_replaces_pipeline_toml_alone(tmp_path,
                                                                                                  capsys):
    (tmp_path / "pipeline.toml").write_text("# mine\n", encoding="utf-8")
    assert main(["init", str(tmp_path), *FLAGS]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path}/pipeline.toml exists already; nothing was written (--force replaces it, and keeps "
        f"content/)"]
    assert files_in(tmp_path) == {"pipeline.toml": b"# mine\n"} and not (tmp_path / "content").exists()

    (tmp_path / "pipeline.toml").unlink()
    (tmp_path / "pipeline.toml").mkdir()  # not even --force replaces a folder
    assert main(["init", str(tmp_path), *FLAGS, "--force"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path}/pipeline.toml is a folder; give another DIR; nothing was written"]
    assert list(tmp_path.iterdir()) == [tmp_path / "pipeline.toml"]
    (tmp_path / "pipeline.toml").rmdir()
    mine = {"content/jobs.toml": b"# my jobs\n", "content/blog/post.md": POST.encode()}
    for path, data in mine.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    assert main(["init", str(tmp_path), *FLAGS]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path}/content/jobs.toml exists already; nothing was written (--force keeps it as it is and "
        f"replaces only pipeline.toml)"]
    assert files_in(tmp_path) == mine

    (tmp_path / "pipeline.toml").write_text("# mine\n", encoding="utf-8")
    assert main(["init", str(tmp_path), *FLAGS, "--force"]) == 0
    out = capsys.readouterr().out
    assert "  content/jobs.toml (there already: kept as it is)" in out and "  content/events.toml\n" in out
    after = files_in(tmp_path)
    assert {path: after[path] for path in mine} == mine  # content is never replaced nor deleted
    assert sorted(after) == ["content/blog/post.md", "content/events.toml", "content/jobs.toml", "pipeline.toml"]
    assert tomllib.loads(after["pipeline.toml"].decode())["pipeline"]["name"] == "Peer Network"


@pytest.mark.parametrize("option, value, error", [
    ("--timezone", "Europe/Londres", "--timezone: unknown time zone 'Europe/Londres'; use an IANA name such as "
                                     "'Europe/London'"),
    ("--site-url", "news.example.org", "--site-url: 'news.example.org' is not an absolute http(s) URL"),
    ("--site-url", "https://news.example.org/?x=1", "--site-url: 'https://news.example.org/?x=1' has a query or a "
                                                    "fragment"),
    ("--site-url", "https://x.invalid", "--site-url: 'https://x.invalid' is a placeholder"),
    ("--from-email", "news.example.org", "--from-email: 'news.example.org' is not an email address like "
                                         "news@example.org"),
    ("--from-email", "news@x.invalid", "--from-email: 'news@x.invalid' is a placeholder"),
    ("--name", "  ", "--name: give the network's name"),
    ("--name", "two\nlines", "--name: 'two\\nlines' has a line break or a control character"),
])
def test_a_value_that_will_not_do_is_refused_on_one_line_with_nothing_written(tmp_path, capsys, option, value,
                                                                                error):
    args = dict(zip(FLAGS[::2], FLAGS[1::2], strict=True)) | {option: value}
    folder = tmp_path / "network"
    assert main(["init", str(folder), *[word for pair in args.items() for word in pair]]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {error}") and line.endswith("; nothing was written"), line
    assert not folder.exists()


def test_the_starters_taxonomy_is_the_shipped_projects(tmp_path):
    shipped = tomllib.loads((ROOT / "pipeline.toml").read_text(encoding="utf-8"))["transforms"]["themes"]
    assert main(["init", str(tmp_path), *FLAGS]) == 0
    started = tomllib.loads((tmp_path / "pipeline.toml").read_text(encoding="utf-8"))["transforms"]["themes"]
    assert started["taxonomy"] == shipped["taxonomy"] == init.taxonomy()
    assert len(started["taxonomy"]) == 21 and started["max_themes"] == shipped["max_themes"]


def test_the_files_init_reads_are_in_the_package(tmp_path):
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["pipeline"]
    scaffold = ROOT / "pipeline" / "scaffold"
    for name in ("pipeline.toml.tmpl", "taxonomy.toml", "jobs.toml.tmpl", "events.toml.tmpl"):
        assert (scaffold / name).is_file()
        assert any(fnmatch.fnmatch(f"scaffold/{name}", pattern) for pattern in patterns), name


@pytest.mark.parametrize("environ, zone", [
    ({"TZ": "Europe/Paris"}, "Europe/Paris"),
    ({"TZ": ":Asia/Tokyo"}, "Asia/Tokyo"),
    ({"TZ": ":/usr/share/zoneinfo/Africa/Lagos"}, "Africa/Lagos"),
    ({"TZ": "EST5EDT,M3.2.0,M11.1.0"}, "UTC"),  # a POSIX rule, no IANA zone
    ({"TZ": "localtime"}, "UTC"),
    ({"TZ": ""}, "UTC"),
])
def test_the_machines_zone_is_taken_from_tz_when_it_is_an_iana_one(environ, zone):
    assert init.machine_zone(environ, Path("/nonexistent")) == zone


def test_the_machines_zone_is_otherwise_where_etc_localtime_links(tmp_path):
    target = tmp_path / "usr" / "share" / "zoneinfo" / "America" / "Sao_Paulo"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"TZif")
    link = tmp_path / "localtime"
    link.symlink_to(target)
    assert init.machine_zone({}, link) == "America/Sao_Paulo"
    assert init.machine_zone({}, tmp_path / "missing") == "UTC"
    plain = tmp_path / "copied"
    plain.write_bytes(b"TZif")  # a copy of a zone file, not a link: which zone is not known
    assert init.machine_zone({}, plain) == "UTC"


def test_help_lists_init_without_importing_it():
    script = ("import json, sys\nfrom pipeline import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n"
              "    pass\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith(('pipeline', 'pydantic')))),"
              " file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "init" in done.stdout and "a commented pipeline.toml" in " ".join(done.stdout.split())
    loaded = json.loads(done.stderr.splitlines()[-1])
    assert not [m for m in loaded if m.startswith(("pipeline.commands", "pipeline.placeholders", "pydantic"))]
