"""`pipeline serve [--host] [--port]`: run the web app (subscribe, confirm, unsubscribe, preferences,
webhooks) with uvicorn, meant to sit behind a reverse proxy at `site_url`."""

from __future__ import annotations

import argparse
import socket
import sys
import warnings
from collections.abc import Callable

from pipeline.config import load_project
from pipeline.errors import PipelineError
from pipeline.logs import redact_logger
from pipeline.mail.transactional import mail_sink


def register(command: Callable[[str, Callable, str], argparse.ArgumentParser]) -> None:
    serve = command("serve", cmd_serve, "run the web app where people subscribe, confirm, choose themes and leave")
    serve.add_argument("--host", help="address to listen on (default: [serve] host, 127.0.0.1)")
    serve.add_argument("--port", type=_port,
                       help="port to listen on (default: [serve] port, 8000; 0: a free one, which it prints)")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535, or 0 for a free one)")
    return int(text)


def _say_which_secret(project) -> None:
    """Which secret checks the links, and a warning when the mail sent so far was signed with another: every link
    in it would be refused as not one we sent (a run given PIPELINE_SECRET, serve started without it)."""
    from pipeline.subscribers.signing import Links, mismatch, secret_source

    ours = secret_source(project)
    before = mismatch(project, Links(project))
    if before is not None:
        print(f"warning: the links mailed so far were signed with the secret from {before}, and this server checks "
              f"them with the one from {ours}: it refuses every unsubscribe, preferences and confirm link in them; "
              f"start it with the secret the runs use (README, \"Signed links\")", file=sys.stderr)
    else:
        print(f"links are signed and checked with the secret from {ours}", file=sys.stderr)


def cmd_serve(args) -> int:
    import uvicorn  # only this command needs the web stack

    from pipeline.web.app import build_app
    from pipeline.web.server import Server
    from pipeline.web.server_log import quiet_bad_forms, quiet_bad_requests
    from pipeline.web.timely import timely_protocol

    project = load_project(args.config)
    app = build_app(project)
    for problem in app.state.problems:
        print(f"warning: {problem}", file=sys.stderr)
    try:
        mail_sink(project)
    except PipelineError as exc:  # the other pages still work; the form could only pretend
        print(f"warning: the subscribe form cannot send confirmations: {exc}", file=sys.stderr)
    host = args.host or project.serve.host
    listening = _listening(host, project.serve.port if args.port is None else args.port)
    port = listening[0].getsockname()[1]  # the one given, or the free one chosen for --port 0
    _say_which_secret(project)
    print(f"serving {project.core.site_url}/subscribe and the links in every email on {_where(host, port)} "
          f"(Ctrl-C to stop)", file=sys.stderr)
    # Forwarded headers are handled by the app (only from [serve] trusted_proxies); no access log,
    # since paths hold the tokens of unsubscribe and preferences links.
    # A request not all in within [serve] request_seconds has its connection closed (slowloris: web/timely.py).
    # No WebSocket (the app has no such route), whatever library is installed: uvicorn would upgrade each request
    # asking for one, for the app to refuse, and log two lines naming the client each time (web/server_log.py).
    config = uvicorn.Config(app, host=host, port=port, proxy_headers=False, server_header=False,
                            access_log=False, log_level="info", http=timely_protocol(project.serve.request_seconds),
                            ws="none")
    redact_logger("uvicorn.error")  # (after Config sets its logging up) the traceback of an error no page caught
    quiet_bad_requests("uvicorn.error")  # what it warns of each bad request, said once (web/server_log.py)
    quiet_bad_forms()  # and what python-multipart warns of each form body it cannot parse
    # A signal before uvicorn has taken over its handling (while asyncio.run sets its loop up) stops `serve` with
    # the server's coroutine made but never run: Python's warning of it would follow the stop's own line.
    warnings.filterwarnings("ignore", message="coroutine 'Server.serve' was never awaited", category=RuntimeWarning)
    try:
        Server(config).run(sockets=listening)
    finally:
        for sock in listening:  # closed by uvicorn when it served; not when a signal came first
            sock.close()
    return 0


def _listening(host: str, port: int) -> list[socket.socket]:
    """Sockets listening on every address of `host` (all interfaces for ""), as asyncio would bind them, or
    one line saying why not (uvicorn would log it and exit). They listen at once, not in uvicorn after the
    app's startup: till then another process could bind the port too. For port 0 the first socket takes a free
    port and the others that same one, so that one number reaches the server on every address."""
    where = _where(host, port)
    try:
        found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise PipelineError(f"cannot listen on {where} ({exc.strerror or exc}); check --host or "
                            f"[serve] host") from None
    sockets: list[socket.socket] = []
    try:
        unmade = None
        for family, kind, proto, _, address in dict.fromkeys(found):
            try:
                sock = socket.socket(family, kind, proto)
            except OSError as exc:  # a family the system lacks (IPv6 turned off): skipped, as asyncio does
                unmade = exc
                continue
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len({entry[0] for entry in found}) > 1:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # IPv4 has its own socket here
            if len(sockets) > 1:  # the port the first was given: the same one, or the free one chosen for port 0
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen()
        if not sockets:
            raise unmade
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise PipelineError(f"cannot listen on {where} ({exc.strerror or exc}); stop what uses it, or "
                            f"choose another port with --port or [serve] port") from None
    return sockets


def _where(host: str, port: int) -> str:
    """'127.0.0.1:8000', '[::1]:8000', or 'port 8000 of every interface' for an empty host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}" if host else f"port {port} of every interface"
