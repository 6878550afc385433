"""Setting types shared by components: paths resolved against the folder of `pipeline.toml`.

Validation runs with a context `{"base_dir": Path}`; relative paths are taken from there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

from pydantic import AfterValidator, ValidationInfo


def _base(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


def _resolve(value: Path, info: ValidationInfo) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else _base(info) / path


def _existing_dir(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if not path.is_dir():
        raise ValueError(f"folder '{value}' does not exist (looked in {path}); create it or correct the path")
    return path


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if not path.is_file():
        raise ValueError(f"file '{value}' does not exist (looked in {path}); create it or correct the path")
    return path


def _url_or_file(value: str, info: ValidationInfo) -> str:
    """An http(s) URL, or a local file (relative to pipeline.toml) that must exist."""
    scheme = urlparse(value).scheme
    if scheme in ("http", "https"):
        return value
    if scheme == "file":
        value = urlparse(value).path
    elif scheme and len(scheme) > 1:
        raise ValueError(f"'{value}' is neither an http(s) URL nor a file path")
    return str(_existing_file(Path(value), info))


def absolute_http_url(value: str, example: str = "https://network.example.org") -> str:
    """`value` if it is an absolute http(s) URL; else ValueError, with `example` of one."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{value!r} is not an absolute http(s) URL such as {example!r}")
    return value


ProjectPath = Annotated[Path, AfterValidator(_resolve)]
HttpUrl = Annotated[str, AfterValidator(absolute_http_url)]
ExistingDir = Annotated[Path, AfterValidator(_existing_dir)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
UrlOrFile = Annotated[str, AfterValidator(_url_or_file)]
