"""The pages of `pipeline serve`: Jinja2 templates in `templates/web/`, styled by the site's stylesheet.

The stylesheet is inlined in each page (site.css, then web.css), so the app needs no static
route behind the proxy, and the Content-Security-Policy allows exactly that style by its hash:
no script, no other style, no frame, forms posting only to this site.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.config import Project
from pipeline.templating import build_environment

STYLESHEETS = ("site/site.css", "web/web.css")


class Pages:
    def __init__(self, project: Project):
        self.env, _ = build_environment(project)  # a plugin's failure here is reported by `pipeline run`
        self.style = "\n".join(self.env.loader.get_source(self.env, name)[0] for name in STYLESHEETS)
        digest = base64.b64encode(hashlib.sha256(self.style.encode("utf-8")).digest()).decode("ascii")
        self.csp = (f"default-src 'none'; style-src 'sha256-{digest}'; form-action 'self'; "
                    f"frame-ancestors 'none'; base-uri 'none'")

    def render(self, template: str, *, status: int = 200, headers: dict[str, str] | None = None,
               **context: Any) -> HTMLResponse:
        html = self.env.get_template(f"web/{template}").render(style=self.style, **context)
        return HTMLResponse(html, status_code=status, headers=headers)


class SecurityHeaders:
    """ASGI middleware: the same protective headers on every response, pages and errors alike."""

    def __init__(self, app: ASGIApp, csp: str):
        self.app = app
        self.headers = [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),  # links hold tokens: never send them to another site
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
