"""Build the web app of `pipeline serve` from a loaded project.

Routes sit under the path of `site_url` (`render.site_path`); the reverse proxy sends these paths here
unchanged and serves `out/` for the rest. For a site at its host's root:

    GET  /subscribe                the form                 POST /subscribe            ask; mails a confirmation
    GET  /confirm/<token>          a page with a button     POST /confirm/<token>      activate
    GET  /unsubscribe/<token>      a page with a button     POST /unsubscribe/<token>  leave (RFC 8058 one-click)
    GET  /preferences/<token>      themes, and leave        POST /preferences/<token>  save themes, or leave
                                                            POST /webhooks/sendgrid    bounces, complaints...

With `site_url = "https://uni.example.ac.uk/coproduction"` they are /coproduction/subscribe and so on, and
every other path (/subscribe too) is 404. A request for a host the site is not served under gets 400 before
any route runs (`hosts.py`).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from pipeline.config import Project
from pipeline.errors import ConfigError
from pipeline.runner import state_path
from pipeline.state import Store, provider_reports
from pipeline.state.access import cannot_open
from pipeline.subscribers.signing import Links, signing_secret
from pipeline.subscribers.suppressions import keep as keep_suppressions
from pipeline.subscribers.themes import always_sent, taxonomy_themes
from pipeline.web import pages, webhooks
from pipeline.web.body_size import BodyLimit
from pipeline.web.guards import FormTokens, RateLimiter
from pipeline.web.hosts import AllowedHosts, HostCheck
from pipeline.web.proxy import ForwardedHeaders
from pipeline.web.render import Pages, SecurityHeaders, site_path

FORM_BODY = 64 * 1024  # bytes: a form post is a few hundred


def build_app(project: Project) -> Starlette:
    """The app, with its own connection to the state database (closed when the app shuts down).

    Raises ConfigError when the signing secret cannot be had (see `signing.signing_secret`), or when
    `site_url`'s host is not a name a browser could send.
    """
    secret = signing_secret(project)
    settings = project.serve
    try:
        hosts = AllowedHosts(project.core.site_url, settings.allowed_hosts)
    except ValueError as exc:
        raise ConfigError(f"{project.config_path.name}: [pipeline]: site_url: {project.core.site_url!r}: {exc}; "
                          f"correct the URL") from None
    path = state_path(project)
    try:
        store = Store(path)
    except (OSError, sqlite3.Error) as exc:  # the line every command gives: its rights, a folder in its place, damage
        raise cannot_open(path, exc) or exc from None
    keep_suppressions(store, project)
    # whether SendGrid's Event Webhook can be heard here: a serve listening whose webhook is never heard is an alert
    listening = webhooks.usable(os.environ.get(settings.webhook_key_env, ""))
    provider_reports.listening(store, datetime.now(UTC) if listening else None)
    window = settings.limit_minutes * 60
    page_renderer = Pages(project)
    web = pages.Web(project, store, page_renderer, Links(project, secret), FormTokens(secret),
                    per_client=RateLimiter(settings.per_client_limit, window),
                    per_address=RateLimiter(settings.per_address_limit, window),
                    total=RateLimiter(settings.total_limit, window), total_told=RateLimiter(1, window),
                    per_subscriber=RateLimiter(settings.preferences_limit, window),
                    hosts=hosts,
                    themes=taxonomy_themes(project), always_note=_always_note(always_sent(project)))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # The confirmations already asked for go out first (on a thread: the event loop is not held meanwhile).
        await run_in_threadpool(pages.stop_mailer, web)
        store.close()

    # Matched against the path as uvicorn decodes it, so site_url's own spelling (%20, an accent) is decoded too.
    at = unquote(site_path(project.core.site_url))
    routes = [
        Route(f"{at}/subscribe", pages.subscribe_form, methods=["GET"]),
        Route(f"{at}/subscribe", BodyLimit(pages.subscribe, FORM_BODY), methods=["POST"]),
        Route(f"{at}/confirm/{{token}}", pages.confirm_page, methods=["GET"]),
        Route(f"{at}/confirm/{{token}}", BodyLimit(pages.confirm_post, FORM_BODY), methods=["POST"]),
        Route(f"{at}/unsubscribe/{{token}}", pages.unsubscribe_page, methods=["GET"]),
        Route(f"{at}/unsubscribe/{{token}}", BodyLimit(pages.unsubscribe_post, FORM_BODY), methods=["POST"]),
        Route(f"{at}/preferences/{{token}}", pages.preferences_page, methods=["GET"]),
        Route(f"{at}/preferences/{{token}}", BodyLimit(pages.preferences_post, FORM_BODY), methods=["POST"]),
        Route(f"{at}/webhooks/sendgrid", BodyLimit(webhooks.sendgrid, webhooks.MAX_BODY), methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: pages.http_error},
                    middleware=[Middleware(ForwardedHeaders, trusted=settings.trusted_proxies),
                                Middleware(SecurityHeaders, csp=page_renderer.csp,
                                           error_page=lambda: pages.server_error(web)),
                                Middleware(HostCheck, allowed=web.hosts, refused=lambda: pages.unknown_host(web))])
    # Starlette would answer /subscribe/ with a redirect to an address made from the request's Host header.
    app.router.redirect_slashes = False
    app.state.web = web
    app.state.problems = page_renderer.problems
    return app


def _always_note(kinds: list[str]) -> str:
    if not kinds:
        return ""
    listed = kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
    return f" {listed[0].upper()}{listed[1:]} are in every issue, whatever you choose."
