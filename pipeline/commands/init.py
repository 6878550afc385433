"""`pipeline init [DIR] [--name NAME] [--site-url URL] [--timezone ZONE] [--from-email ADDRESS] [--force]`: a new
project to start from.

Writes DIR/pipeline.toml, a commented starter made from pipeline/scaffold/pipeline.toml.tmpl (the themes taxonomy
pasted in from pipeline/scaffold/taxonomy.toml, the one the shipped project has), and the empty sources it names:
content/blog/, content/jobs.toml and content/events.toml, whose example records (dated from today, so that
uncommented they are an open job and a coming event) are comments. What was not given
is guessed (the name from the folder, the machine's time zone when it is an IANA one, else UTC) or left as a
placeholder that every command refuses until it is set (pipeline/placeholders.py).

Nothing is overwritten: an existing pipeline.toml or content file stops it before anything is written, naming the
file; with --force pipeline.toml is replaced and content that is there is kept as it is. A value that would not
do (a zone, an address, a URL) stops it the same way, with the line `pipeline check` would print.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import string
import sys
import unicodedata
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from pipeline import placeholders
from pipeline.config import NOT_ZONES  # said here first, naming --timezone
from pipeline.errors import PipelineError
from pipeline.files import folder_problem, write_atomic

HELP = "write a new project to start from: a commented pipeline.toml and empty content folders"
CONFIG = "pipeline.toml"
# The content the starter's sources read: (path in DIR, its template in pipeline/scaffold, or None for a folder)
CONTENT = (("content/blog", None), ("content/jobs.toml", "jobs.toml.tmpl"), ("content/events.toml", "events.toml.tmpl"))
_OPTION = {"name": "--name", "site_url": "--site-url", "timezone": "--timezone"}


class InitError(PipelineError):
    """What was given will not do, or a file is there already; nothing was written."""

    exit_code = 2


def register(command: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    sub = command("init", cmd_init, HELP)
    sub.add_argument("dir", metavar="DIR", nargs="?", type=Path, default=Path("."),
                     help="the project's folder, made if need be (default: the current folder)")
    sub.add_argument("--name", help="the network's name (default: from the folder's name)")
    sub.add_argument("--site-url", metavar="URL", help="where the site and `pipeline serve` will be "
                                                       "(default: a placeholder to set before the first run)")
    sub.add_argument("--timezone", metavar="ZONE", help="an IANA zone such as Europe/London "
                                                        "(default: the machine's, else UTC)")
    sub.add_argument("--from-email", metavar="ADDRESS", help="the address the newsletter is sent from "
                                                             "(default: a placeholder to set before the first run)")
    sub.add_argument("--force", action="store_true",
                     help="replace an existing pipeline.toml (content that is there is always kept)")


def cmd_init(args) -> int:
    written, kept = init(args.dir, name=args.name, site_url=args.site_url, timezone=args.timezone,
                         from_email=args.from_email, force=args.force)
    if note := _plain_http(args.site_url):
        print(f"note: --site-url: {note}", file=sys.stderr)
    print(f"wrote {args.dir}/ (a new project):")
    for path in written:
        print(f"  {path}")
    for path in kept:
        print(f"  {path} (there already: kept as it is)")
    todo = (["site_url in [pipeline]"] if args.site_url is None else []) + \
        (["from_email in [sinks.newsletter]"] if args.from_email is None else [])
    if todo:
        print(f"set first, in {args.dir / CONFIG} (placeholders now, which every command refuses):")
        for line in todo:
            print(f"  {line}")
    config = "" if args.dir == Path(".") else f" -c {shlex.quote(str(args.dir / CONFIG))}"
    steps = [("check", "says what is wrong, a line each"),
             ("run", "the site into out/; an issue holds what was posted in the month before a newsletter day"),
             ("serve", "where people subscribe, choose their themes and leave"),
             ("schedule", "the monthly issue and the refresh; run it and serve as services (README, \"Operations\")")]
    width = max(len(f"pipeline {step}{config}") for step, _ in steps)
    print("next:")
    for step, what in steps:
        print(f"  {f'pipeline {step}{config}':<{width}}   # {what}")
    return 0


def _plain_http(site_url: str | None) -> str:
    """What a site_url in plain http loses, or "" (https, or this machine's address, for trying it out)."""
    from urllib.parse import urlsplit

    from pipeline.hosts import is_private

    if site_url is None or urlsplit(site_url).scheme.lower() != "http" or is_private(site_url):
        return ""
    return ("plain http: the emails will carry no one-click unsubscribe (RFC 8058 wants https; Gmail and Yahoo "
            "ask it of bulk senders), and the form's cookie is not Secure; set an https site_url for a public site")


def init(folder: Path, *, name: str | None = None, site_url: str | None = None, timezone: str | None = None,
         from_email: str | None = None, force: bool = False) -> tuple[list[str], list[str]]:
    """Write the starter project into `folder`; return (the paths written, the content files kept), relative to it.
    InitError, with nothing written, when a value will not do or a file is there already (pipeline.toml: unless
    `force`)."""
    if problem := folder_problem(folder):
        raise InitError(f"{problem}; give another DIR; nothing was written")
    values = _checked(folder, name, site_url, timezone, from_email)
    config = folder / CONFIG
    if config.is_dir():
        raise InitError(f"{config} is a folder; give another DIR; nothing was written")
    if (config.exists() or config.is_symlink()) and not force:  # a link to nothing is someone's too
        raise InitError(f"{config} exists already; nothing was written (--force replaces it, and keeps content/)")
    kept = []
    for path, template in CONTENT:
        target = folder / path
        if template is None:
            if problem := folder_problem(target):
                raise InitError(f"{problem}; the blog source reads that folder; nothing was written")
        elif target.exists() or target.is_symlink():
            if not target.is_file():  # a folder, or a link to nothing: kept, the source could not read it
                what = "a folder" if target.is_dir() else f"a link to {os.readlink(target)}, which is not there"
                raise InitError(f"{target} is {what}; the {Path(path).stem} source reads a file there; "
                                f"nothing was written")
            if not force:
                raise InitError(f"{target} exists already; nothing was written (--force keeps it as it is and "
                                f"replaces only {CONFIG})")
            kept.append(path)
    written = [CONFIG]
    made, new = [], []  # the files this call makes, and the folders not there before it: undone if it fails
    for place in (folder / "content" / "blog", folder / "content", folder, *folder.parents):
        if os.path.lexists(place):
            break
        new.append(place)
    try:
        for path, template in CONTENT:
            target = folder / path
            if template is None:
                if target.is_dir():
                    kept.append(f"{path}/")
                    continue
                target.mkdir(parents=True)
                written.append(f"{path}/")
            elif path not in kept:
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "x", encoding="utf-8") as out:  # never over a file made meanwhile
                    made.append(target)
                    out.write(string.Template(_scaffold(template)).substitute(_example_dates(values["timezone"])))
                written.append(path)
        write_atomic(config, starter(**values))
    except OSError as exc:
        for path in made:
            path.unlink(missing_ok=True)
        for place in new:  # deepest first; one something else has put a file in meanwhile stays
            with contextlib.suppress(OSError):
                place.rmdir()
        raise InitError(f"{exc.filename or folder}: cannot be written ({exc.strerror or exc}); nothing was "
                        f"written") from None
    return written, kept


def _example_dates(zone: str) -> dict[str, str]:
    """The dates of the content files' example records, from today in the project's zone: a job open for four
    weeks and an event six weeks away, so that uncommented they are published as open and coming."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(zone)).date()
    start = today + timedelta(weeks=6)
    return {"posted": today.isoformat(), "closing_date": (today + timedelta(weeks=4)).isoformat(),
            "start": start.isoformat(), "year": str(today.year), "month": start.strftime("%Y-%m")}


def starter(*, name: str, site_url: str, timezone: str, from_email: str) -> str:
    """The starter pipeline.toml for these values."""
    import json

    def quoted(text: str) -> str:  # JSON's escapes are TOML's; TOML also wants DEL escaped, which JSON leaves
        return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")

    note = "       # a placeholder: set it, or every command refuses to run"
    taxonomy = _scaffold("taxonomy.toml")
    taxonomy = taxonomy[taxonomy.index("\n[") + 1:].rstrip("\n")  # without the file's header, about the file
    return string.Template(_scaffold("pipeline.toml.tmpl")).substitute(
        name=quoted(name), site_url=quoted(site_url), timezone=quoted(timezone), from_email=quoted(from_email),
        site_url_note=note if site_url == placeholders.SITE_URL else "",
        from_email_note=note if from_email == placeholders.FROM_EMAIL else "", taxonomy=taxonomy)


def taxonomy() -> dict:
    """The packaged taxonomy, as the themes transform reads it from [transforms.themes.taxonomy]."""
    import tomllib

    return tomllib.loads(_scaffold("taxonomy.toml"))["transforms"]["themes"]["taxonomy"]


def _scaffold(name: str) -> str:
    return (resources.files("pipeline") / "scaffold" / name).read_text(encoding="utf-8")


def _checked(folder: Path, name: str | None, site_url: str | None, timezone: str | None,
             from_email: str | None) -> dict[str, str]:
    """The starter's values: those given, checked as `pipeline check` checks them, and the rest guessed or left
    as placeholders. InitError naming the option for the first that will not do."""
    from pydantic import ValidationError

    from pipeline.config import CoreSettings
    from pipeline.settings_errors import plain_message

    name = name_from(folder) if name is None else name.strip()
    if not name:
        raise InitError("--name: give the network's name, as the email, the feed and the site will show it; "
                        "nothing was written")
    if any(unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") for char in name):  # not Cf: ZWNJ, soft hyphen
        raise InitError(f"--name: {name!r} has a line break or a control character; give the name on one line; "
                        f"nothing was written")
    given = {"name": name, **({"site_url": site_url} if site_url is not None else {}),
             **({"timezone": timezone} if timezone is not None else {})}
    if timezone is not None and timezone.strip() in NOT_ZONES:  # a name in the database, but of no one place
        raise InitError(f"--timezone: {timezone!r} is not a place's zone (it would be whatever machine runs the "
                        f"project next); use an IANA name such as 'Europe/London'; nothing was written")
    try:
        core = CoreSettings.model_validate(given, context={"base_dir": folder})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InitError(f"{_OPTION.get(str(err['loc'][0]), err['loc'][0])}: {plain_message(err)}; "
                        f"nothing was written") from None
    if from_email is not None:
        from pipeline.subscribers.addresses import sender_spelling

        from_email = from_email.strip()
        try:
            if placeholder := placeholders.address_problem(from_email, "from_email"):
                raise ValueError(placeholder)
            sender_spelling(from_email)
        except ValueError as exc:
            raise InitError(f"--from-email: {exc}; nothing was written") from None
    return {"name": core.name, "site_url": core.site_url if site_url is not None else placeholders.SITE_URL,
            "timezone": core.timezone if timezone is not None else machine_zone(),
            "from_email": from_email if from_email is not None else placeholders.FROM_EMAIL}


def name_from(folder: Path) -> str:
    """A network's name made from its folder's: `coproduction-network` gives "Coproduction network"."""
    words = [word for word in re.split(r"[-_\s]+", folder.resolve().name) if word]
    name = " ".join(words)
    if not name:
        return "Our network"
    return name[0].upper() + name[1:] if name.islower() else name


def machine_zone(environ: dict[str, str] | None = None, localtime: Path = Path("/etc/localtime")) -> str:
    """The machine's time zone when it is an IANA one (TZ, else what /etc/localtime links to), else "UTC"."""
    import zoneinfo

    environ = os.environ if environ is None else environ
    if "TZ" in environ:  # what the C library and every program here go by
        candidate = environ["TZ"].removeprefix(":")
    else:
        try:
            candidate = str(localtime.resolve(strict=True))
        except OSError:
            return "UTC"
    candidate = candidate.rpartition("/zoneinfo/")[2] if candidate.startswith("/") else candidate
    if candidate in NOT_ZONES or candidate not in zoneinfo.available_timezones():
        return "UTC"
    return candidate
