"""The collector as users run it: `collector serve` in its own process, over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx

# Tests post as a browser would; a script's user agent would be routed to the bots topic.
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class CollectorProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a pipe nobody reads would block the collector once full.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the fixture

    def client(self, write_key: str | None = "test-write-key") -> httpx.Client:
        """An HTTP client for this collector that presents itself as a browser and, unless
        told otherwise, authenticates with the write key the tests configure."""
        auth = None if write_key is None else httpx.BasicAuth(write_key, "")
        return httpx.Client(base_url=self.url, headers=BROWSER, auth=auth, timeout=60)

    def start(self, timeout_s: float = 30.0) -> CollectorProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited at start:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError(f"collector not up after {timeout_s}s:\n{self.output()}")

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, as an orchestrator stops it; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")
