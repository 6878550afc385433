"""The README's reverse-proxy examples let through what `pipeline serve` accepts."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.web import webhooks

README = Path(__file__).resolve().parent.parent / "README.md"
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


def _nginx_blocks_proxying_to_serve() -> list[str]:
    blocks = re.findall(r"```text\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    found = [block for block in blocks if "proxy_pass http://127.0.0.1:8000" in block]
    assert found, "no nginx example in the README"
    return found


def test_each_nginx_example_lets_a_webhook_batch_through_up_to_serves_limit():
    """nginx refuses a body over 1 MB unless told otherwise; serve takes a webhook post up to its own limit. A
    batch between the two would be refused by nginx, retried by SendGrid, and its unsubscribes never applied."""
    for block in _nginx_blocks_proxying_to_serve():
        size = re.search(r"client_max_body_size (\d+)([kmg]?);", block, re.I)
        assert size, block
        assert int(size[1]) * _UNITS[size[2].lower()] >= webhooks.MAX_BODY, block
