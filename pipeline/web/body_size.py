"""How much a route lets a request send: more is refused with 413, as the app's own error page.

In place of Starlette's `max_body_size`, whose 413 for a Content-Length over the limit is plain
text without the protective headers, and replaces any page the app had begun to answer with.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import request_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE = "That was more than this address takes. Go back and try again."


class BodyLimit:
    """ASGI app: `endpoint` for a body of at most `limit` bytes. A Content-Length over it is refused before
    the endpoint runs; a body without one (chunked) is counted as it arrives. Either raises HTTPException(413),
    which the app's exception handler renders. A client that hangs up before its body is in ends the request
    quietly (Starlette's ClientDisconnect would reach uvicorn's log as an error, with its traceback)."""

    def __init__(self, endpoint, limit: int):
        self.app: ASGIApp = request_response(endpoint)
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = Headers(scope=scope).get("content-length", "")
        if length.isascii() and length.isdigit() and int(length) > self.limit:
            raise HTTPException(413, TOO_LARGE)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, TOO_LARGE)
            return message

        try:
            await self.app(scope, counted, send)
        except ClientDisconnect:  # the client hung up before its body was in: nobody to answer, nothing to log
            pass
