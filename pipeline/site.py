"""Where things live on the published site: `out_dir` is the site root, served at `site_url`."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Project

FEED_FILE = "feed.xml"
ARCHIVE_DIR = "archive"


def feed_path(project: Project) -> Path:
    return project.core.out_dir / FEED_FILE


def feed_url(project: Project) -> str:
    return f"{project.core.site_url}/{FEED_FILE}"


def archive_dir(project: Project) -> Path:
    return project.core.out_dir / ARCHIVE_DIR


def archive_url(project: Project) -> str:
    return f"{project.core.site_url}/{ARCHIVE_DIR}/"


def edition_page(number: int) -> str:
    """File name of an edition's page inside the archive folder."""
    return f"issue-{number}.html"


def edition_url(project: Project, number: int) -> str:
    return f"{project.core.site_url}/{ARCHIVE_DIR}/{edition_page(number)}"
