"""Compressed bodies over real HTTP: gzip, deflate, zstd, bombs and unknown encodings."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import msgspec
import zstandard

from tests.integration.conftest import StartCollector
from tests.support.kafka import consume_all

BATCH = msgspec.json.encode([{"event": f"e{n}", "anonymous_id": "a"} for n in range(20)])
CAP = 10 * 1024 * 1024


def peak_rss(pid: int) -> int:
    """The process's high-water mark of resident memory, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def gzip_bomb(inflated: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1 << 20)
    parts = [compressor.compress(block) for _ in range(inflated >> 20)]
    return b"".join(parts) + compressor.flush()


def test_gzip_deflate_and_zstd_bodies_are_decoded(
    start_collector: StartCollector, topic: str
) -> None:
    collector = start_collector()
    bodies = {
        "gzip": gzip.compress(BATCH),
        "deflate": zlib.compress(BATCH),
        "zstd": zstandard.ZstdCompressor().compress(BATCH),
    }
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    bodies_raw = raw_deflate.compress(BATCH) + raw_deflate.flush()
    with collector.client() as client:
        for encoding, body in bodies.items():
            response = client.post("/track", content=body, headers={"Content-Encoding": encoding})
            assert response.status_code == 200, (encoding, response.text)
            assert response.json()["accepted"] == 20
        response = client.post(
            "/track", content=bodies_raw, headers={"Content-Encoding": "deflate"}
        )
        assert response.status_code == 200
    assert len(consume_all(topic)) == 80


def test_bad_and_unknown_encodings_are_refused(start_collector: StartCollector, topic: str) -> None:
    collector = start_collector()
    with collector.client() as client:
        response = client.post("/track", content=BATCH, headers={"Content-Encoding": "br"})
        assert response.status_code == 415
        assert response.json()["error"] == "unsupported_encoding"
        response = client.post(
            "/track", content=b"not gzip at all", headers={"Content-Encoding": "gzip"}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_encoding"
        truncated = gzip.compress(BATCH)[:-12]
        response = client.post("/track", content=truncated, headers={"Content-Encoding": "gzip"})
        assert response.status_code == 400
    assert consume_all(topic) == []


def test_a_gzip_bomb_is_refused_without_inflating_it(
    start_collector: StartCollector, topic: str
) -> None:
    bomb = gzip_bomb(1 << 30)  # about 1 MiB that inflates to 1 GiB
    assert len(bomb) < 1_100_000
    collector = start_collector(COLLECTOR_MAX_BODY_BYTES=str(2 << 20))
    assert collector.process is not None
    with collector.client() as client:
        assert client.post("/track", content=BATCH).status_code == 200  # warm up
        before = peak_rss(collector.process.pid)
        response = client.post("/track", content=bomb, headers={"Content-Encoding": "gzip"})
        after = peak_rss(collector.process.pid)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert after - before < 2 * CAP, f"peak RSS grew by {(after - before) >> 20} MiB"
    assert len(consume_all(topic)) == 20


def test_a_zstd_bomb_is_refused(start_collector: StartCollector, topic: str) -> None:
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (256 << 20))
    collector = start_collector()
    with collector.client() as client:
        response = client.post("/track", content=bomb, headers={"Content-Encoding": "zstd"})
    assert response.status_code == 413
    assert consume_all(topic) == []


def test_text_plain_json_is_accepted(start_collector: StartCollector, topic: str) -> None:
    collector = start_collector()
    with collector.client() as client:
        response = client.post("/track", content=BATCH, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert len(consume_all(topic)) == 20


def test_cors_preflight_allowed_and_refused(start_collector: StartCollector) -> None:
    collector = start_collector(COLLECTOR_CORS_ORIGINS="https://shop.example")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    with collector.client() as client:
        allowed = client.options(
            "/v1/batch", headers={"Origin": "https://shop.example", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        assert "Origin" in allowed.headers["vary"]
        assert "access-control-allow-credentials" not in allowed.headers
        refused = client.options(
            "/v1/batch", headers={"Origin": "https://evil.example", **preflight}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        post = client.post(
            "/track", json=[{"event": "x"}], headers={"Origin": "https://shop.example"}
        )
        assert post.headers["access-control-allow-origin"] == "https://shop.example"
        assert "Origin" in post.headers["vary"]
        other = client.post(
            "/track", json=[{"event": "x"}], headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
