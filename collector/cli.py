"""The `collector` command."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys

import uvicorn

from collector import __version__, allocator, native
from collector.app import create_app
from collector.config import ConfigError, from_environment

logger = logging.getLogger("collector")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="collector", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP collector")
    serve.add_argument("--host", help="address to listen on (COLLECTOR_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (COLLECTOR_PORT, 8080)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = from_environment(host=args.host, port=args.port)
        # Before create_app: the producer's threads must start on the allocator they keep.
        # Only for the command line itself: a caller passing argv is not run again.
        if argv is None:
            allocator.run_on(settings.allocator)
        app = create_app(settings)
    except ConfigError as exc:
        print(f"collector: {exc}", file=sys.stderr)
        return 2
    logger.info("hot path: %s, allocator: %s", native.IMPLEMENTATION, allocator.loaded())

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        # The client address (bot rates, truncated IP) comes from X-Forwarded-For only when
        # the connection is from a trusted proxy.
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
        log_level=args.log_level,
        timeout_graceful_shutdown=settings.delivery_timeout_ms // 1000 + 10,
    )
    server = uvicorn.Server(config)
    # Events become short-lived dicts and lists without reference cycles, which reference
    # counting frees; the cyclic collector, run every 700 allocations by default, only costs
    # time (5 % of the collector's CPU under load, in perf). Objects made at start-up are
    # moved out of its sight, and it runs a hundred times less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(70_000, 10, 10)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT (stops accepting, finishes in-flight
    # requests, runs the lifespan shutdown that flushes the producer) and then re-raises the
    # signal to the handler that was installed before it. Installing a no-op one here makes
    # a graceful shutdown end with exit status 0 instead of death by signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    # Exit 1 if the server never started, or if records were still undelivered at the end.
    return 0 if server.started and not getattr(app.state, "undelivered", 0) else 1


if __name__ == "__main__":
    sys.exit(main())
