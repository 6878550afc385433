"""Review h164: `pipeline serve`'s deadline for a request (web/timely.py), its quiet log (web/server_log.py), a
client that hangs up (web/body_size.py) and its Referrer-Policy (web/render.py), each against the real server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.serve_fixtures import ServeProcess, serve_project


def _with_request_seconds(folder: Path, seconds: int) -> Path:
    project = serve_project(folder)
    project.config_path.write_text(project.config_path.read_text().replace(
        "per_client_limit = 5", f"per_client_limit = 5\nrequest_seconds = {seconds}"), encoding="utf-8")
    return project.config_path


def _answer(sock: socket.socket, ends: bytes = b"</html>") -> bytes:
    """What the server sends until `ends` (b"" if it closes the connection first)."""
    sock.settimeout(10)
    answer = b""
    while ends not in answer:
        try:
            chunk = sock.recv(65536)
        except ConnectionError:
            return b""
        if not chunk:
            return b""
        answer += chunk
    return answer


def _send_slowly(sock: socket.socket, data: bytes, seconds: float, pieces: int = 10) -> None:
    """`data` in `pieces` parts, spread over `seconds`: a slow link, not a slowloris."""
    size = -(-len(data) // pieces)
    for start in range(0, len(data), size):
        sock.sendall(data[start:start + size])
        time.sleep(seconds / pieces)


def test_a_request_after_one_answered_before_its_body_was_in_has_its_own_time(tmp_path, monkeypatch):
    """A post answered before its body was in (413 for a Content-Length over the limit; the webhook's 403 or 503
    from its headers alone) kept the deadline it began with: the client finishing its body, as a browser does,
    then asking again on that connection, was cut off mid-request once `request_seconds` had passed since the
    first began, however quickly the second came. Now the deadline of the next request starts when the server
    begins to wait for it: once the body of the one answered is in."""
    monkeypatch.delenv("TEST_SERVE_SECRET", raising=False)
    with ServeProcess(_with_request_seconds(tmp_path / "early", 4)) as serving:
        head = f"Host: 127.0.0.1:{serving.port}\r\n".encode("ascii")
        with socket.create_connection(("127.0.0.1", serving.port), timeout=10) as sock:
            sock.sendall(b"POST /subscribe HTTP/1.1\r\n" + head + b"Content-Type: application/x-www-form-urlencoded"
                         b"\r\nContent-Length: 70000\r\n\r\n")
            assert _answer(sock).startswith(b"HTTP/1.1 413")  # over the form's 64 KB: refused at once
            _send_slowly(sock, b"email=" + b"a" * 69994, 2.5)  # the browser sends its body all the same, in 2.5 s
            try:
                _send_slowly(sock, b"GET /subscribe HTTP/1.1\r\n" + head + b"\r\n", 2.5)  # and the next, in 2.5 s
            except ConnectionError:
                pass  # (cut off as it was sent: no answer, below)
            assert _answer(sock).startswith(b"HTTP/1.1 200")
        err = serving.stop()
    assert "Traceback" not in err, err
