import asyncio
import gzip
import random
import zlib

import pytest
import zstandard
from starlette.requests import Request
from starlette.types import Message

from collector.bodies import read_body
from collector.errors import InvalidEncoding, PayloadTooLarge, UnsupportedEncoding

DATA = b'[{"event": "a"}]' * 500


def request(body: bytes, chunk: int = 1000) -> Request:
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    messages: list[Message] = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]

    async def receive() -> Message:
        return messages.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    return Request(scope, receive)


def read(body: bytes, encoding: str | None, cap: int = 1 << 20) -> bytes:
    return asyncio.run(read_body(request(body), encoding, cap, 8 << 20))


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        (None, lambda d: d),
        ("identity", lambda d: d),
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("zstd", lambda d: zstandard.ZstdCompressor().compress(d)),
    ],
)
def test_read_body_decodes_each_encoding(encoding: str | None, compress: object) -> None:
    assert read(compress(DATA), encoding) == DATA  # type: ignore[operator]


def test_read_body_takes_raw_deflate_too() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert read(compressor.compress(DATA) + compressor.flush(), "deflate") == DATA


@pytest.mark.parametrize("encoding", ["gzip", "zstd", None])
def test_read_body_refuses_what_inflates_past_the_cap(encoding: str | None) -> None:
    data = b"\0" * (2 << 20)
    body = {
        "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        None: lambda d: d,
    }[encoding](data)
    with pytest.raises(PayloadTooLarge):
        read(body, encoding, cap=1 << 20)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("zstd", lambda d: zstandard.ZstdCompressor().compress(d))],
)
def test_read_body_joins_many_pieces_in_order(encoding: str, compress: object) -> None:
    # Several 64 KiB pieces, fed a few compressed bytes at a time.
    data = random.Random(7).randbytes(150_000) + DATA * 30
    body = compress(data)  # type: ignore[operator]
    assert asyncio.run(read_body(request(body, chunk=7), encoding, 1 << 20, 8 << 20)) == data


def test_read_body_at_exactly_the_cap_is_fine() -> None:
    data = b"x" * 4096
    assert read(gzip.compress(data), "gzip", cap=4096) == data


@pytest.mark.parametrize("encoding", ["br", "compress", "gzip, br"])
def test_read_body_refuses_unknown_encodings(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding):
        read(DATA, encoding)


@pytest.mark.parametrize(
    ("body", "encoding"),
    [(b"garbage", "gzip"), (gzip.compress(DATA)[:-8], "gzip"), (b"garbage", "zstd")],
)
def test_read_body_refuses_corrupt_or_truncated_data(body: bytes, encoding: str) -> None:
    with pytest.raises(InvalidEncoding):
        read(body, encoding)


def test_read_body_decodes_every_gzip_member() -> None:
    assert read(gzip.compress(b"[1,") + gzip.compress(b"2]"), "gzip") == b"[1,2]"


def test_read_body_refuses_garbage_after_the_stream() -> None:
    with pytest.raises(InvalidEncoding):
        read(gzip.compress(DATA) + b"trailing garbage", "gzip")
    with pytest.raises(InvalidEncoding):
        read(zlib.compress(DATA) + b"more", "deflate")


def test_read_body_tells_zlib_from_raw_deflate_across_tiny_chunks() -> None:
    body = zlib.compress(DATA)
    assert asyncio.run(read_body(request(body, chunk=1), "deflate", 1 << 20, 8 << 20)) == DATA
