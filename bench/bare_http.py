"""The floor under the collector's per-request cost: a bare Starlette app on uvicorn.

    python -m bench.bare_http [--seconds 8] [--connections 32] [--json]

Serves one POST route that reads the body and answers a constant, on the same event loop
(uvloop) and parser (httptools) as `collector serve`, and drives it with bench.throughput's
load generator and one-event /track bodies. Prints the server's CPU per request (all its
threads, from /proc): what any request costs before the collector does anything.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time

import httpx

from bench import print_figures
from bench.throughput import cpu_seconds, encode_requests, load
from loadtest.payloads import track_bodies
from tests.support.server import free_port


def serve(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def track(request: Request) -> Response:
        await request.body()
        return Response(b'{"accepted":1,"rejected":0,"errors":[]}', media_type="application/json")

    app = Starlette(routes=[Route("/track", track, methods=["POST"])])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.bare_http", "--serve", str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.post(f"http://127.0.0.1:{port}/track", content=b"[]", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    sys.exit("bare server did not start")
                time.sleep(0.1)
        requests = encode_requests("/track", track_bodies(200, 1))
        asyncio.run(load(port, requests, 1, 2.0, args.connections))
        before = cpu_seconds(server.pid)
        started = time.monotonic()
        tally = asyncio.run(load(port, requests, 1, args.seconds, args.connections))
        elapsed = time.monotonic() - started
        spent = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait(10)
    requests = max(tally.requests, 1)
    result = {
        "requests": tally.requests,
        "requests_per_s": round(tally.requests / elapsed),
        "server_cpu_us_per_request": round(spent * 1e6 / requests, 1),
    }
    print_figures(result, args.json)


if __name__ == "__main__":
    main()
