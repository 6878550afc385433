"""The pages of `pipeline serve`: Jinja2 templates in `templates/web/`, styled by the site's stylesheet.

The stylesheet is inlined in each page (site.css, then web.css), so the app needs no static
route behind the proxy, and the Content-Security-Policy allows exactly that style by its hash:
no script, no other style, no frame, forms posting only to this site.

Every page lives under `site_url`'s path (`site_path`): the routes, and every link and form action a
page renders, start with it, so a site at `https://uni.example.ac.uk/coproduction` has its form at
`/coproduction/subscribe`, where the links in its emails point.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.config import Project
from pipeline.errors import exception_text
from pipeline.redact import redact_text
from pipeline.templating import build_environment
from pipeline.web.server_log import log_masked

STYLESHEETS = ("site/site.css", "web/web.css")


def site_path(site_url: str) -> str:
    """The path of `site_url`, as written there, without a trailing slash: "" for a site at its host's root,
    "/coproduction" for `https://uni.example.ac.uk/coproduction/`. Every route of the app and every link a
    page renders starts with it, as the links mailed (`site_url` + "/unsubscribe/...") do."""
    return urlsplit(site_url).path.rstrip("/")


class Pages:
    def __init__(self, project: Project):
        from pipeline.site import subscribe_url

        self.app_path = site_path(project.core.site_url)  # what a page's links to the app start with
        self.subscribe_url = subscribe_url(project)  # the site's navigation links it, here as on every archive page
        # Who holds the data and how to reach them (UK GDPR art. 13), under the form: the newsletter's reply address
        sink = next((sink for sink in project.sinks if hasattr(sink, "sender")), None)
        self.privacy = {"controller": project.core.name, "url": project.serve.privacy_url or "",
                        "contact": (sink.sender()[2] or sink.sender()[0]) if sink is not None else ""}
        self.env, failures = build_environment(project)
        # A plugin's failure leaves the pages without what it adds: said once, as `serve` starts (and by each run).
        self.problems = [redact_text(f"plugin {plugin!r}: prepare_jinja_environment raised {type(exc).__name__}: "
                                     f"{exception_text(exc)}; the pages are rendered without what it adds")
                         for plugin, exc in failures.items()]  # (masked, as a run's problems are)
        self.style = "\n".join(self.env.loader.get_source(self.env, name)[0] for name in STYLESHEETS)
        digest = base64.b64encode(hashlib.sha256(self.style.encode("utf-8")).digest()).decode("ascii")
        self.csp = (f"default-src 'none'; style-src 'sha256-{digest}'; form-action 'self'; "
                    f"frame-ancestors 'none'; base-uri 'none'")

    def render(self, template: str, *, status: int = 200, headers: dict[str, str] | None = None,
               **context: Any) -> HTMLResponse:
        return HTMLResponse(self._html(template, **context), status_code=status, headers=headers)

    def consent_wording(self, page: str, **context: Any) -> str:
        """What `page` (the form, or the page with the button, rendered with `context`) tells a person about their
        data, in plain text, for their consent record: `web/consent.html`'s text when the page shows it, else (an
        organiser's own page without it) the page's whole text. Made afresh each time, as the pages are."""
        from pipeline.sanitize import html_to_text

        shown = html_to_text(self._html(page, **context))
        try:
            wording = html_to_text(self._html("consent.html", **context))
        except Exception:  # an organiser's own consent.html that needs what only its page has: the page says it
            return shown
        return wording if " ".join(wording.split()) in " ".join(shown.split()) else shown

    def _html(self, template: str, **context: Any) -> str:
        return self.env.get_template(f"web/{template}").render(style=self.style, app_path=self.app_path,
                                                               subscribe_url=self.subscribe_url, privacy=self.privacy,
                                                               **context)


# The address of a page of the app holds a token that acts on its subscriber (and never expires, but a confirm
# token's): no link from it, not even to the site's own pages on this host, whose scripts read it as
# `document.referrer`, may carry it. The subscribe form alone (its address holds nothing) says `SAME_ORIGIN`: a
# page of `no-referrer` makes the browser send `Origin: null` with its form's post, which `guards.same_origin` refuses.
NO_REFERRER = (b"referrer-policy", b"no-referrer")
SAME_ORIGIN = {"Referrer-Policy": "same-origin"}


class SecurityHeaders:
    """ASGI middleware: the same protective headers on every response, pages and errors alike; `Referrer-Policy:
    no-referrer` unless the response set its own (`SAME_ORIGIN`, the subscribe form's).

    That includes the 500 of an unexpected exception: Starlette's own error response is sent from
    outside every middleware, so this one sends the page itself (`error_page`), and logs the exception with
    every address masked (`server_log.log_masked`) rather than passing it on to uvicorn, which would log it
    as it is.
    """

    def __init__(self, app: ASGIApp, csp: str, error_page: Callable[[], Response] | None = None):
        self.app = app
        self.error_page = error_page
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.get("headers", [])
                policy = [] if any(name.lower() == b"referrer-policy" for name, _ in headers) else [NO_REFERRER]
                message = {**message, "headers": [*headers, *self.headers, *policy]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            log_masked(exc, "unexpected error answering %s %s: %s: %s", scope.get("method", ""), _route_of(scope),
                       type(exc).__name__, exception_text(exc))
            if not started:  # else the answer is cut short: uvicorn closes the connection
                await self._server_error()(scope, receive, send_with_headers)

    def _server_error(self) -> Response:
        try:
            if self.error_page is not None:
                return self.error_page()
        except Exception as exc:
            log_masked(exc, "could not render the error page")
        return PlainTextResponse("Internal Server Error", status_code=500)


def _route_of(scope: Scope) -> str:
    """The request's path with each value the route took from it (a token) as "…": for the log."""
    path = scope.get("path", "")
    for value in (scope.get("path_params") or {}).values():
        if isinstance(value, str) and value:
            path = path.replace(value, "…")
    return path
