"""The HTTP client the sources share (httpx), made ready while the run does something else.

Loading httpx and reading the CA certificates take about 60 ms together, and every source waits for them
at its first download. `prepare()` does both on a thread of its own while the run opens and checks the
state database; SQLite and OpenSSL let go of the GIL while they work, so the two overlap.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future
from types import ModuleType
from typing import TYPE_CHECKING

from pipeline.errors import PipelineError

# A request's extension that keeps it, and every redirect it is sent on, off localhost and non-public addresses
# (`pipeline/public_only.py`): for a feed of someone else's list (an OPML file), whose server may redirect anywhere.
PUBLIC_ONLY = "newsletter_pipeline.public_only"

if TYPE_CHECKING:
    import ssl

    import httpx


def load_httpx() -> ModuleType:
    """httpx, without its command-line client: its `__init__` loads that (click, rich, pygments: 20 ms) whenever
    click is installed, and nothing here runs it."""
    sys.modules.setdefault("httpx._main", None)  # None there: the import fails, and httpx goes on without it
    import httpx

    return httpx


def tls_context() -> ssl.SSLContext:
    """The TLS context httpx would make for `verify=True` (certifi's CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    httpx = load_httpx()
    try:
        return httpx.create_ssl_context()
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        used = next((name for name in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(name)), "")  # httpx's order
        where = f"{used}={os.environ[used]}" if used else "certifi's CA bundle"
        reason = getattr(exc, "strerror", None) or exc
        raise PipelineError(f"cannot read the CA certificates for HTTPS ({where}: {reason}); "
                            f"point SSL_CERT_FILE at a PEM bundle, or unset it") from None


def _load_all() -> ssl.SSLContext:
    import pipeline.public_only  # noqa: F401 (the client needs it, and httpcore, which httpx loads only then: 20 ms)

    return tls_context()


def prepare() -> Future[ssl.SSLContext]:
    """Start loading httpx and the TLS context now; the future gives the context."""
    future: Future[ssl.SSLContext] = Future()

    def work() -> None:
        try:
            future.set_result(_load_all())
        except BaseException as exc:  # given to whoever asks for the client
            future.set_exception(exc)

    threading.Thread(target=work, name="prepare http", daemon=True).start()
    return future


def new_client(timeout: float, user_agent: str, tls: Future[ssl.SSLContext] | None = None) -> httpx.Client:
    """The client: shared connections, `timeout` for each step, redirects followed, our User-Agent."""
    httpx = load_httpx()
    try:
        verify = tls.result() if tls is not None else tls_context()
    except PipelineError as exc:  # a fresh one for each source: the future's own would gather every caller's frames
        raise PipelineError(str(exc)) from None
    from pipeline import public_only
    from pipeline.logs import redact_logger

    redact_logger("httpx")  # its line of each request names the address sent, token and all
    client = httpx.Client(verify=verify, timeout=httpx.Timeout(timeout), follow_redirects=True,
                          headers={"User-Agent": user_agent}, event_hooks={"request": [public_only.refuse_written]})
    public_only.guard(client, verify)
    return client
