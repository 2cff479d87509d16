"""Request bodies, decompressed as they stream in, never past a cap.

`Content-Encoding: gzip`, `deflate` (zlib-wrapped, or raw as some clients send it) and
`zstd` are decoded; anything else is a 415. The decompressed size is capped: a body that
inflates past it is refused with 413 as soon as it does, having held at most the cap in
memory (a 1 MiB gzip bomb that would become 1 GiB costs the cap, not the gigabyte). zstd frames
may not ask for a window above the configured maximum, which bounds the decoder's own memory.
The compressed size is capped before this, by collector.ingest_routes.
"""

from __future__ import annotations

import zlib

import zstandard
from starlette.requests import Request

from collector.errors import InvalidEncoding, PayloadTooLarge, UnsupportedEncoding

_PIECE = 64 * 1024


async def read_body(
    request: Request, encoding: str | None, max_bytes: int, max_zstd_window: int
) -> bytes:
    """The request body, decoded per `encoding` (its Content-Encoding header), at most
    `max_bytes` long."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        body = await request.body()
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"body exceeds {max_bytes} bytes")
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        return await _inflate(request, encoding, max_bytes)
    if encoding == "zstd":
        return _unzstd(await request.body(), max_bytes, max_zstd_window)
    raise UnsupportedEncoding(
        f"Content-Encoding {encoding[:32]!r} is not supported; use gzip, deflate or zstd"
    )


class _Inflated:
    """Decompressed output, gathered in pieces of about _PIECE bytes and joined once.

    Not one growing buffer: each copy a buffer outgrows goes back to the allocator, which may
    hold on to it (jemalloc does, for seconds), several times the cap in all. Not the pieces
    the decoder hands out either: a body trickling in a byte at a time would make a million
    tiny objects. Only a body within the cap is ever joined, holding it twice for a moment.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.pieces: list[bytes] = []
        self.pending = bytearray()

    def room(self) -> int:
        """How much more to ask a decoder for: up to a piece, and one byte past the cap."""
        return min(_PIECE, self.max_bytes + 1 - self.size)

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"body inflates past {self.max_bytes} bytes")
        self.pending += data
        if len(self.pending) >= _PIECE:
            self.pieces.append(bytes(self.pending))
            self.pending.clear()

    def join(self) -> bytes:
        return b"".join([*self.pieces, self.pending])


async def _inflate(request: Request, encoding: str, max_bytes: int) -> bytes:
    decoder: zlib._Decompress | None = None
    start = b""  # the first bytes, until there are enough to tell zlib from raw deflate
    out = _Inflated(max_bytes)

    def feed(data: bytes) -> None:
        nonlocal decoder
        while data:
            if decoder is None or decoder.eof:
                if decoder is not None and encoding == "deflate":
                    raise InvalidEncoding("data after the end of the deflate stream")
                # gzip allows several members one after another; each needs a decoder.
                decoder = zlib.decompressobj(_window_bits(encoding, data))
            out.add(decoder.decompress(data, out.room()))
            data = decoder.unused_data if decoder.eof else decoder.unconsumed_tail

    try:
        async for chunk in request.stream():
            if decoder is None and len(start) + len(chunk) < 2:
                start += chunk
                continue
            feed(start + chunk if decoder is None else chunk)
            start = b""
        if start:
            feed(start)
    except zlib.error as exc:
        raise InvalidEncoding(f"body is not valid {encoding} data: {exc}") from None
    if decoder is None:
        return b""
    if not decoder.eof:
        raise InvalidEncoding(f"{encoding} body is truncated")
    return out.join()


def _window_bits(encoding: str, first: bytes) -> int:
    if encoding != "deflate":
        return 16 + zlib.MAX_WBITS  # gzip header and trailer
    # HTTP's deflate is zlib-wrapped; some clients send raw deflate. A zlib header has
    # compression method 8 in its low nibble and is a multiple of 31 read as 16 bits.
    if len(first) >= 2 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0:
        return zlib.MAX_WBITS
    return -zlib.MAX_WBITS


def _unzstd(compressed: bytes, max_bytes: int, max_window: int) -> bytes:
    decompressor = zstandard.ZstdDecompressor(max_window_size=max_window)
    out = _Inflated(max_bytes)
    try:
        with decompressor.stream_reader(compressed, read_across_frames=True) as reader:
            while piece := reader.read(out.room()):
                out.add(piece)
    except zstandard.ZstdError as exc:
        raise InvalidEncoding(f"body is not valid zstd data: {exc}") from None
    return out.join()
