"""What zstd costs per record as librdkafka calls it, by the number of records in a batch.

    python -m bench.zstd_sets [--seconds 1] [--json]

librdkafka (2.x, linked against the system libzstd) compresses each batch of records for a
partition (a message set) with a zstd stream it creates for that batch and frees after it,
without telling zstd the batch's size. This times that way against one context kept and
reused, on batches of 1 to 400 of the pipeline's records (key, value and header bytes
concatenated, as a batch holds them, the seeded web mix), at the collector's level 1, through
libzstd's C API (ctypes; one call per batch, so the calls' own cost is small against a
batch's). The difference per batch is what each message set costs besides its bytes: it
explains why small batches (a topic with few records spread over many partitions) cost more
per record than large ones. CPU is this process's (time.process_time).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import time

from bench import print_figures
from bench.pipeline import SECRET, START_MS, USER_AGENT
from collector.config import Settings
from collector.decoding import decode_with_msgspec
from collector.normalize import Received
from collector.pipeline import Pipeline
from loadtest.payloads import client_ips, track_bodies

LEVEL = 1
SET_SIZES = (1, 6, 20, 70, 137, 400)


class _Buffer(ctypes.Structure):
    # ZSTD_outBuffer and ZSTD_inBuffer have the same layout: pointer, size, position.
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t), ("pos", ctypes.c_size_t)]


def load_zstd() -> ctypes.CDLL:
    zstd = ctypes.CDLL(ctypes.util.find_library("zstd") or "libzstd.so.1")
    zstd.ZSTD_createCStream.restype = ctypes.c_void_p
    zstd.ZSTD_createCCtx.restype = ctypes.c_void_p
    zstd.ZSTD_compressBound.restype = ctypes.c_size_t
    zstd.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
    zstd.ZSTD_freeCStream.argtypes = [ctypes.c_void_p]
    zstd.ZSTD_initCStream.argtypes = [ctypes.c_void_p, ctypes.c_int]
    zstd.ZSTD_compressStream.restype = ctypes.c_size_t
    zstd.ZSTD_compressStream.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    zstd.ZSTD_endStream.restype = ctypes.c_size_t
    zstd.ZSTD_endStream.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    zstd.ZSTD_isError.argtypes = [ctypes.c_size_t]
    zstd.ZSTD_compressCCtx.restype = ctypes.c_size_t
    zstd.ZSTD_compressCCtx.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
    ]
    return zstd


def record_bytes(count: int = 2000) -> list[bytes]:
    pipeline = Pipeline(Settings(), SECRET)
    bodies = track_bodies(count // 100, 100)
    ips = client_ips(len(bodies))
    records = []
    for index, body in enumerate(bodies):
        received = Received(
            received_ms=START_MS + index * 1000, client_ip=ips[index], user_agent=USER_AGENT
        )
        for record in pipeline.process(decode_with_msgspec(body).events, received).records:
            headers = b"".join(name.encode() + value for name, value in record.headers)
            records.append((record.key or b"") + record.value + headers)
    return records


def batches(records: list[bytes], size: int) -> list[bytes]:
    return [
        b"".join(records[(start + i) % len(records)] for i in range(size))
        for start in range(0, len(records), size)
    ]


def check(zstd: ctypes.CDLL, result: int) -> int:
    if zstd.ZSTD_isError(result):
        raise RuntimeError(f"zstd failed: {result}")
    return result


def stream_per_batch(zstd: ctypes.CDLL, batch: bytes, out: ctypes.Array[ctypes.c_char]) -> int:
    """One batch as librdkafka compresses it: a new stream, its size not told, then freed."""
    stream = zstd.ZSTD_createCStream()
    try:
        check(zstd, zstd.ZSTD_initCStream(stream, LEVEL))
        source = ctypes.c_char_p(batch)
        inp = _Buffer(ctypes.cast(source, ctypes.c_void_p), len(batch), 0)
        outp = _Buffer(ctypes.cast(out, ctypes.c_void_p), len(out), 0)
        check(zstd, zstd.ZSTD_compressStream(stream, ctypes.byref(outp), ctypes.byref(inp)))
        if check(zstd, zstd.ZSTD_endStream(stream, ctypes.byref(outp))) != 0:
            raise RuntimeError("zstd did not finish the frame")
        return int(outp.pos)
    finally:
        zstd.ZSTD_freeCStream(stream)


def time_per_record(compress: object, sets: list[bytes], size: int, seconds: float) -> float:
    """CPU µs per record of `compress` over the batches, cycled for `seconds` of CPU."""
    done = 0
    started = time.process_time()
    while True:
        for batch in sets:
            compress(batch)  # type: ignore[operator]
        done += len(sets) * size
        elapsed = time.process_time() - started
        if elapsed >= seconds:
            return elapsed / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    zstd = load_zstd()
    records = record_bytes()
    figures: dict[str, object] = {
        "level": LEVEL,
        "record_bytes": round(sum(map(len, records)) / len(records)),
    }
    context = zstd.ZSTD_createCCtx()
    for size in SET_SIZES:
        sets = batches(records, size)
        out = ctypes.create_string_buffer(zstd.ZSTD_compressBound(max(map(len, sets))))

        def per_batch(batch: bytes, out: ctypes.Array[ctypes.c_char] = out) -> int:
            return stream_per_batch(zstd, batch, out)

        def reused(batch: bytes, out: ctypes.Array[ctypes.c_char] = out) -> int:
            return check(
                zstd, zstd.ZSTD_compressCCtx(context, out, len(out), batch, len(batch), LEVEL)
            )

        as_librdkafka = time_per_record(per_batch, sets, size, args.seconds)
        kept = time_per_record(reused, sets, size, args.seconds)
        compressed = sum(per_batch(batch) for batch in sets)
        figures[f"set_{size}_librdkafka_us_per_record"] = round(as_librdkafka, 3)
        figures[f"set_{size}_reused_context_us_per_record"] = round(kept, 3)
        figures[f"set_{size}_librdkafka_us_per_set"] = round(as_librdkafka * size, 1)
        figures[f"set_{size}_ratio"] = round(sum(map(len, sets)) / compressed, 1)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
