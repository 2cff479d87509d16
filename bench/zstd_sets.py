"""What zstd costs per record as librdkafka calls it, by the number of records in a set.

    python -m bench.zstd_sets [--seconds 2] [--json]

librdkafka (2.x, linked against the system libzstd) compresses each set of records for a
partition (a message set) with a zstd stream it creates for that set and frees after it,
without telling zstd the set's size. bench/c/zstd_sets.c times that way against one stream
kept and re-initialised per set (the same calls but the creation and the freeing), in C,
so that no Python call is in the figures, on sets of 1 to 400 of the pipeline's records
(key, value and header bytes, as a set holds them, the seeded web mix) at the collector's
level 1. The difference is what each set costs for its stream alone; the figures per set
size show what small sets (a topic with few records spread over many partitions) cost per
record. Needs a C compiler and libzstd (librdkafka's own dependency).
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
from pathlib import Path

from bench import print_figures
from bench.pipeline import SECRET, START_MS, USER_AGENT
from collector.config import Settings
from collector.decoding import decode_with_msgspec
from collector.normalize import Received
from collector.pipeline import Pipeline
from loadtest.payloads import client_ips, track_bodies

ROOT = Path(__file__).resolve().parent.parent
LEVEL = 1
SET_SIZES = (1, 6, 20, 70, 137, 400)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="CPU seconds per figure")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    compiler = shutil.which("cc")
    if compiler is None:
        raise SystemExit("bench.zstd_sets needs a C compiler (cc)")
    run = ROOT / ".run"
    run.mkdir(exist_ok=True)
    binary = run / "zstd_sets"
    source = ROOT / "bench" / "c" / "zstd_sets.c"
    subprocess.run([compiler, "-O2", "-o", str(binary), str(source), "-l:libzstd.so.1"], check=True)
    records = record_bytes()
    path = run / "zstd-records.bin"
    path.write_bytes(b"".join(struct.pack("<I", len(r)) + r for r in records))
    output = subprocess.run(
        [str(binary), str(path), str(LEVEL), str(args.seconds), *map(str, SET_SIZES)],
        check=True,
        capture_output=True,
    ).stdout
    measured = json.loads(output)
    figures: dict[str, object] = {
        "level": LEVEL,
        "record_bytes": round(sum(map(len, records)) / len(records)),
    }
    for size in SET_SIZES:
        each = measured[f"set_{size}"]
        fresh, kept = each["stream_per_set_us_per_record"], each["kept_stream_us_per_record"]
        figures[f"set_{size}_stream_per_set_us_per_record"] = fresh
        figures[f"set_{size}_kept_stream_us_per_record"] = kept
        figures[f"set_{size}_stream_us_per_set"] = round((fresh - kept) * size, 1)
        figures[f"set_{size}_ratio"] = each["ratio"]
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
