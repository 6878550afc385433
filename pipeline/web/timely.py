"""How long a client of `pipeline serve` has to send a request: `[serve] request_seconds`, headers and body together.

uvicorn waits for ever for a request's headers, and for its body, however slowly they come (it times out only a
connection idle between two requests): a client sending a byte now and then (slowloris) held its connection, and a
few hundred such clients every connection the process may open, so that the form and the links stopped answering
anyone. A proxy that buffers requests (nginx does) shields `serve` from this; one that does not, or `serve` reached
directly (`--host 0.0.0.0`), does not. Here each request must be in, whole, within `request_seconds` of when the
server began to wait for it (the connection opened, or the previous request was answered and all in: after one
answered before its body was in, a 413, from when that body is in); past that the connection is closed, and a page
still reading that body ends as for a client that hung up (`body_size.BodyLimit`). Nor may a client leave its
answers untaken: one that sends request after request on a connection (pipelined) and reads none of the answers
would hold it as long, and keep `serve` from stopping, which waits for them to go out; a connection whose answers
have waited `request_seconds` for the client to take them (its buffer full, `pause_writing` till `resume_writing`)
is closed too, and one closed (by the deadline, by uvicorn's keep-alive timeout) whose last answers are still not
taken `request_seconds` later is cut: `close()` waits for them to go out.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_WAITING = (h11.IDLE, h11.SEND_BODY)  # the client's side of the connection while its request is not all in


def timely_protocol(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request is not all in within `seconds`, or whose client
    takes nothing of its answers for `seconds`."""

    class Timely(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _unread: asyncio.TimerHandle | None = None
        _watch: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._wait_for_request()
            self._watch = self.loop.call_later(seconds, self._watch_closing, False)

        def data_received(self, data: bytes) -> None:
            answered_early = self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY
            super().data_received(data)
            if self.conn.their_state not in _WAITING:  # the whole request is in: the answer is ours to take time on
                self._stop_waiting()
            elif answered_early and self.conn.our_state is not h11.DONE:  # its body in, the next one is waited for
                self._wait_for_request()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._deadline is None and not self.transport.is_closing() and self.conn.their_state in _WAITING:
                self._wait_for_request()  # the next one (a request answered before its body was in keeps its own)

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            self._stop_waiting_to_write()
            if self._watch is not None:
                self._watch.cancel()
                self._watch = None
            super().connection_lost(exc)

        def pause_writing(self) -> None:  # what we wrote is not being taken: the client reads nothing
            super().pause_writing()
            self._stop_waiting_to_write()
            self._unread = self.loop.call_later(seconds, self._not_reading)

        def resume_writing(self) -> None:
            self._stop_waiting_to_write()
            super().resume_writing()

        def _stop_waiting_to_write(self) -> None:
            if self._unread is not None:
                self._unread.cancel()
                self._unread = None

        def _not_reading(self) -> None:
            self._unread = None
            self.transport.abort()  # (close() would wait for the client to take what is written: for ever)

        def _watch_closing(self, was_closing: bool) -> None:
            """Every `seconds`: a connection closed (by us, by uvicorn) whose answers its client has still not
            taken since the last look is cut; close() waits for them to go out, for ever if nobody reads them."""
            closing = self.transport.is_closing()
            if closing and was_closing:
                self._watch = None
                self.transport.abort()
            else:
                self._watch = self.loop.call_later(seconds, self._watch_closing, closing)

        def _wait_for_request(self) -> None:
            self._stop_waiting()
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _stop_waiting(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return Timely
