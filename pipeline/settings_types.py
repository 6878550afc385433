"""Setting types shared by components: paths resolved against the folder of `pipeline.toml`.

Validation runs with a context `{"base_dir": Path}`; relative paths are taken from there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

from pydantic import AfterValidator, ValidationInfo


def _base(info: ValidationInfo) -> Path:
    context = info.context or {}
    return Path(context.get("base_dir", "."))


def project_path(value: Path, base: Path) -> Path:
    """`value` with a leading `~` (`~user`) as that home folder, as a shell reads it, then taken from `base` when
    still relative."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _resolve(value: Path, info: ValidationInfo) -> Path:
    return project_path(value, _base(info))


def _existing_dir(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if path.is_file():
        raise ValueError(f"'{value}' is a file, and a folder is wanted here (looked in {path}); give its folder")
    if not path.is_dir():
        raise ValueError(f"folder '{value}' does not exist (looked in {path}); create it or correct the path")
    return path


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if path.is_dir():
        raise ValueError(f"'{value}' is a folder, and a file is wanted here (looked in {path}); give the file's path")
    if not path.is_file():
        raise ValueError(f"file '{value}' does not exist (looked in {path}); create it or correct the path")
    return path


def host_problem(url: str) -> str:
    """Why the host name of an http(s) `url` can never be looked up (none, a part empty or over 63 characters, the
    whole over 253, or not valid IDNA), or "" (also for an address written as digits). The resolver would only
    say so as each request is made, in words that name no URL."""
    try:
        host = urlparse(url).hostname or ""
    except ValueError:
        return ""  # not for here: the URL does not parse at all
    if not host:  # `https://`, `https:///feed.xml`: httpx would say only that the scheme is missing
        return "it names no host"
    if ":" in host:  # an IPv6 address
        return ""
    if not host.isascii():
        import idna

        try:
            host = idna.encode(host.lower()).decode("ascii")  # as httpx encodes it
        except idna.IDNAError as exc:
            return f"the host name {host!r} is not a valid international name ({exc})"
    name = host.removesuffix(".")  # a final dot names the root: no part of the 253
    labels = name.split(".")
    if len(name) > 253 or not all(0 < len(label) <= 63 for label in labels):
        return (f"the host name {host!r} cannot be looked up: each part between dots must have 1 to 63 "
                f"characters, and the whole at most 253")
    return ""


def _url_or_file(value: str, info: ValidationInfo) -> str:
    """An http(s) URL, or a local file (relative to pipeline.toml) that must exist. The URL may read environment
    variables, `${NAME}`, in its user name, password, path and query; it is kept as written, which messages repeat
    (any credential written out masked), and a source reads the address to request with `redact.expand` as it
    fetches (`pipeline/redact.py`)."""
    from pipeline.redact import placeholder_problem, redact_url

    scheme = urlparse(value).scheme
    if scheme in ("http", "https"):
        if problem := placeholder_problem(value):
            raise ValueError(f"{redact_url(value)!r}: {problem}")
        if problem := host_problem(value):
            raise ValueError(f"{redact_url(value)!r}: {problem}; correct the URL")
        return value
    if "${" in value:
        raise ValueError("${NAME} is read from the environment only in an http(s) address, not in a file's path; "
                         "write the path out")
    if scheme == "file":
        value = urlparse(value).path
    elif scheme and len(scheme) > 1:
        raise ValueError(f"'{redact_url(value)}' is neither an http(s) URL nor a file path")
    return str(_existing_file(Path(value), info))


def absolute_http_url(value: str, example: str = "https://network.example.org") -> str:
    """`value` if it is an absolute http(s) URL; else ValueError, with `example` of one."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{value!r} is not an absolute http(s) URL such as {example!r}")
    if problem := host_problem(value):
        raise ValueError(f"{value!r}: {problem}; correct the URL")
    return value


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _variable_name(value: str) -> str:
    # The message never repeats the value: if it is not a name, it may well be the secret itself.
    if not _VARIABLE_NAME.fullmatch(value):
        raise ValueError("must be the name of an environment variable (letters, digits and _), not the secret "
                         "itself; put the secret in that variable, never in pipeline.toml")
    return value


ProjectPath = Annotated[Path, AfterValidator(_resolve)]
EnvVarName = Annotated[str, AfterValidator(_variable_name)]  # a setting naming the variable that holds a secret
HttpUrl = Annotated[str, AfterValidator(absolute_http_url)]
ExistingDir = Annotated[Path, AfterValidator(_existing_dir)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
UrlOrFile = Annotated[str, AfterValidator(_url_or_file)]
