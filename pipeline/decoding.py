"""An HTTP body read and unpacked with a bound on what it becomes, not only on what arrives.

httpx unpacks each chunk it reads whole, through every `Content-Encoding` layer: a few kilobytes sent as
`gzip, gzip` become gigabytes in memory before a caller counting the chunks could stop. Here the raw bytes
are unpacked layer by layer, at most `PIECE` bytes out of each layer at a time, so reading stops as soon
as the body passes its limit, whatever the layers hold. Only gzip and deflate are asked for
(`ACCEPT_ENCODING`) and unpacked.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable

ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024
MOST_LAYERS = 4  # no server packs a feed more than twice; more is a hostile answer
PACKED = frozenset({"br", "zstd", "compress", "x-compress", "x-bzip2", "bzip2", "lzma", "xz", "exi", "pack200-gzip",
                    "aes128gcm"})  # packings known and not unpacked here; any other word (a server's "utf-8") is none


class TooLarge(Exception):
    """The body, unpacked, is larger than the limit."""


class UnknownEncoding(Exception):
    """The body is packed in a way this reader does not unpack (br, zstd, compress …, or too many layers)."""


class _Deflate:
    """HTTP's deflate: zlib's format, or (as some servers send it) raw deflate; told apart by the first bytes."""

    def __init__(self) -> None:
        self._unpacker: zlib._Decompress | None = None
        self._first = b""

    def decompress(self, data: bytes, most: int) -> bytes:
        if self._unpacker is None:
            self._first += data
            if len(self._first) < 2:  # zlib's header is two bytes: too few to tell the two apart yet
                return b""
            try:
                self._unpacker = zlib.decompressobj()
                return self._unpacker.decompress(self._first, most)
            except zlib.error:
                self._unpacker = zlib.decompressobj(-zlib.MAX_WBITS)
                return self._unpacker.decompress(self._first, most)
        return self._unpacker.decompress(data, most)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._unpacker.unconsumed_tail if self._unpacker is not None else b""


_GZIP_MAGIC = b"\x1f\x8b"


class _Gzip:
    """gzip: one member after another (RFC 1952 allows several, concatenated, as `gzip -c a b` writes them), each
    unpacked in turn. Zero bytes after a member are padding; anything else that is not a member is ignored, as
    gzip(1) does ("trailing garbage ignored").

    zlib is handed a window of the input at a time, small after a member's end and doubling while a member goes
    on (at most `MOST_IN`), and what is left is given back as a view, not a copy: zlib copies out all it was
    handed past a member's end (`unused_data`), so handing it the whole rest each time made a body of 100,000
    tiny members quadratic."""

    FIRST_IN = 32
    MOST_IN = 16 * 1024

    def __init__(self) -> None:
        self._unpacker: zlib._Decompress | None = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._window = self.FIRST_IN
        self._tail: bytes | memoryview = b""  # what is left of the data last handed in
        self._held = b""  # a "\x1f" that ended a chunk between members: a member's start or garbage, not known yet
        self._ignoring = False

    def decompress(self, data: bytes | memoryview, most: int) -> bytes:
        self._tail = b""
        if self._ignoring:
            return b""
        if self._held:
            data, self._held = self._held + bytes(data), b""
        data = memoryview(data)
        if self._unpacker is None:  # between members
            head = bytes(data[:self._window])
            rest = head.lstrip(b"\0")
            if not rest:  # padding, perhaps more of it
                self._tail, self._window = data[len(head):], min(2 * self._window, self.MOST_IN)
                return b""
            data = data[len(head) - len(rest):]
            if not _GZIP_MAGIC.startswith(rest[:2]):  # not a member: garbage after the body
                self._ignoring = True
                return b""
            if len(data) == 1:  # "\x1f" alone: the next chunk tells
                self._held = b"\x1f"
                return b""
            self._unpacker = zlib.decompressobj(zlib.MAX_WBITS | 16)
        piece = data[:self._window]
        out = self._unpacker.decompress(piece, most)
        if self._unpacker.eof:
            left = len(self._unpacker.unused_data)
            self._unpacker, self._window = None, self.FIRST_IN
        else:
            left = len(self._unpacker.unconsumed_tail)
            if not left:
                self._window = min(2 * self._window, self.MOST_IN)
        self._tail = data[len(piece) - left:]
        return out

    @property
    def unconsumed_tail(self) -> bytes | memoryview:
        return self._tail


def unpackers(content_encoding: str) -> list:
    """One unpacker per layer of `content_encoding`, the last applied first. A word that names no packing ("utf-8",
    "none", as misconfigured servers send) is no layer, as for httpx; UnknownEncoding for a packing not unpacked
    here, or for more than `MOST_LAYERS` layers."""
    layers = [layer.strip().lower() for layer in content_encoding.split(",")]
    made = []
    for layer in reversed(layers):
        if layer in ("gzip", "x-gzip"):
            made.append(_Gzip())
        elif layer == "deflate":
            made.append(_Deflate())
        elif layer in PACKED:
            raise UnknownEncoding(layer)
    if len(made) > MOST_LAYERS:
        raise UnknownEncoding(f"{len(made)} layers of gzip or deflate")
    return made


def bounded_body(raw: Iterable[bytes], content_encoding: str, limit: int,
                 still_in_time: Callable[[], bool] = lambda: True) -> bytes | None:
    """The body of `raw` (the bytes as they came) unpacked, TooLarge past `limit` bytes; None as soon as
    `still_in_time()` is False (checked after each piece, so a trickle or a slow unpacking ends there)."""
    layers = unpackers(content_encoding)
    body = bytearray()

    def take(level: int, data: bytes) -> bool:
        """Unpack `data` at layer `level` and those after it into `body`; False when time ran out."""
        if level == len(layers):
            body.extend(data)
            if len(body) > limit:
                raise TooLarge
            return True
        layer = layers[level]
        while data:
            try:
                out = layer.decompress(data, PIECE)
            except zlib.error as exc:
                raise ValueError(f"its compressed body is damaged ({exc})") from None
            data = layer.unconsumed_tail
            if out and not take(level + 1, out):
                return False
            if not still_in_time():
                return False
        return True

    for chunk in raw:
        if not take(0, chunk) or not still_in_time():
            return None
    return bytes(body)
