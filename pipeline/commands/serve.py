"""`pipeline serve [--host] [--port]`: run the web app (subscribe, confirm, unsubscribe, preferences,
webhooks) with uvicorn, meant to sit behind a reverse proxy at `site_url`."""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable

from pipeline.config import load_project
from pipeline.errors import PipelineError
from pipeline.mail.transactional import mail_sink


def register(command: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    serve = command("serve", cmd_serve, "run the web app where people subscribe, confirm, choose themes and leave")
    serve.add_argument("--host", help="address to listen on (default: [serve] host, 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port to listen on (default: [serve] port, 8000)")


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def cmd_serve(args) -> int:
    import uvicorn  # only this command needs the web stack

    from pipeline.web.app import build_app

    project = load_project(args.config)
    app = build_app(project)
    try:
        mail_sink(project)
    except PipelineError as exc:  # the other pages still work; the form could only pretend
        print(f"warning: the subscribe form cannot send confirmations: {exc}", file=sys.stderr)
    host = args.host or project.serve.host
    port = args.port or project.serve.port
    listening = _listening(host, port)
    print(f"serving {project.core.site_url}/subscribe and the links in every email on http://{host}:{port} "
          f"(Ctrl-C to stop)", file=sys.stderr)
    # Forwarded headers are handled by the app (only from [serve] trusted_proxies); no access log,
    # since paths hold the tokens of unsubscribe and preferences links.
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=False, server_header=False,
                            access_log=False, log_level="info")
    uvicorn.Server(config).run(sockets=[listening])
    return 0


def _listening(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port`, or one line saying why not (uvicorn would log it and exit)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise PipelineError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); check --host or "
                            f"[serve] host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen()  # now, not in uvicorn after the app's startup: till then another could bind it too
    except OSError as exc:
        sock.close()
        raise PipelineError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); stop what uses it, or "
                            f"choose another port with --port or [serve] port") from None
    return sock
