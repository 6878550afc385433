"""`pipeline backup DEST [--force] [--json]`: a checked copy of the state database, safe while it is in use.

DEST is a file to create, or a folder that exists (the copy is then `state-YYYYMMDDTHHMMSSZ.sqlite3`
in it, the time in UTC). How the copy is made and what it promises: `pipeline.state.backup`. The
run lock is not taken, so a backup neither waits for a run nor holds one up. To restore, stop
whatever uses the state folder and copy the file back as `<state_dir>/pipeline.sqlite` (README,
"Operations").
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pipeline.cli import write_json
from pipeline.config import load_project
from pipeline.errors import PipelineError
from pipeline.runner import state_path
from pipeline.state.backup import backup

HELP = "copy the state database to a file and check the copy; safe while in use"


def register(command: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    sub = command("backup", cmd_backup, HELP)
    sub.add_argument("dest", metavar="DEST",
                     help="the file to create, or a folder for state-YYYYMMDDTHHMMSSZ.sqlite3")
    sub.add_argument("--force", action="store_true", help="replace DEST if it is a file that exists")
    sub.add_argument("--json", action="store_true",
                     help="print one JSON document on standard output, and nothing else there")


def cmd_backup(args) -> int:
    project = load_project(args.config)
    source = state_path(project)
    if not source.exists():  # (a folder in its place is said as every command says it: `backup`)
        raise PipelineError(f"{source}: no state database yet; run `pipeline run` (or `pipeline refresh`) first, "
                            f"or check [pipeline] state_dir in {project.config_path.name}")
    result = backup(source, unpublished(destination(args.dest), project), replace=args.force)
    if getattr(args, "json_out", None):
        write_json(args.json_out, {"ok": True, "source": str(result.source), "path": str(result.path),
                                   "bytes": result.bytes, "pages": result.pages, "integrity_check": result.integrity,
                                   "seconds": round(result.seconds, 3)})
    else:
        print(f"backed up {result.source} to {result.path} ({_size(result.bytes)}, integrity check "
              f"{result.integrity}, {result.seconds:.1f} s)")
    return 0


def destination(text: str, now: datetime | None = None) -> Path:
    """The file DEST names: itself, or a new name in it when it is a folder; its folder must exist."""
    dest = Path(text).expanduser()
    if dest.is_dir():
        return dest / f"state-{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%dT%H%M%SZ}.sqlite3"
    if text.endswith(("/", os.sep)):  # meant as a folder (Path drops the slash)
        raise PipelineError(f"{dest}: no such folder; create it first (mkdir -p {dest}) or give a file name")
    folder = dest.parent
    if not folder.exists():
        raise PipelineError(f"{folder}: no such folder for {dest.name}; create it first (mkdir -p {folder})")
    if not folder.is_dir():
        raise PipelineError(f"{folder}: not a folder, so {dest.name} cannot go in it; give another DEST")
    return dest


def unpublished(dest: Path, project) -> Path:
    """`dest`, unless it is in the site's folder (`out_dir`), which is published: the copy holds every subscriber's
    address (and a link or `..` in the way changes nothing)."""
    site = project.core.out_dir.resolve()
    if dest.parent.resolve() == site or site in dest.parent.resolve().parents:
        raise PipelineError(f"{dest}: inside {project.core.out_dir}, the site's folder ([pipeline] out_dir), which is "
                            f"published: the copy holds every subscriber's address; give a folder outside it")
    return dest


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    size, unit = next((count / 1000 ** power, unit) for power, unit in ((3, "GB"), (2, "MB"), (1, "KB"))
                      if count >= 1000 ** power)
    return f"{size:.1f} {unit}"
