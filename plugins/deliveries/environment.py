"""Settings that name an environment variable holding a secret (an API key, an SMTP login)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _variable_name(value: str) -> str:
    # The message never repeats the value: if it is not a name, it may well be the secret itself.
    if not _NAME.fullmatch(value):
        raise ValueError("must be the name of an environment variable (letters, digits and _), not the key "
                         "itself; put the key in that variable, never in pipeline.toml")
    return value


EnvVarName = Annotated[str, AfterValidator(_variable_name)]
