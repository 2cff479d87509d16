"""The C allocator `collector serve` runs on: jemalloc unless told otherwise.

librdkafka allocates a message, its headers and their list for every record on the event
loop's thread and frees them on its broker thread, where glibc's malloc is at its worst. With
jemalloc the collector spent about 12 % less CPU per event under load, varied far less from
run to run, and held 5 MiB more memory (docs/benchmarks.md); Vector and Relay ship with it
too.

A process cannot change its malloc once it runs, so `serve` executes itself again, once,
with the library in LD_PRELOAD, before any thread starts. Python's own small objects keep
their pymalloc arenas either way. A missing library is a warning, not an error: the
collector then runs on the system's malloc.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Allocator = Literal["jemalloc", "system"]

# Debian's libjemalloc2; the dynamic loader finds it by this name in its usual directories.
JEMALLOC = "libjemalloc.so.2"
_SEARCHED = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
)


def preload_environment(
    allocator: Allocator, environ: Mapping[str, str], searched: tuple[str, ...] = _SEARCHED
) -> dict[str, str] | None:
    """The environment to run again with so that `allocator` is loaded, or None when this
    process should go on as it is (system malloc, already preloaded, or no library)."""
    if allocator == "system":
        return None
    preloaded = environ.get("LD_PRELOAD", "").replace(":", " ").split()
    if any(Path(entry).name == JEMALLOC for entry in preloaded):
        return None
    if not any(Path(directory, JEMALLOC).exists() for directory in searched):
        logger.warning(
            "%s not found (Debian: apt-get install libjemalloc2); running on the system's "
            "malloc, which costs more CPU per event",
            JEMALLOC,
        )
        return None
    return {**environ, "LD_PRELOAD": " ".join([JEMALLOC, *preloaded])}


def loaded(maps: Path = Path("/proc/self/maps")) -> str:
    """Which allocator this process runs on, from the libraries mapped into it."""
    try:
        text = maps.read_text()
    except OSError:
        return "unknown"
    return "jemalloc" if JEMALLOC in text else "system"


def run_on(allocator: Allocator) -> None:
    """Execute this same command again with `allocator` preloaded, if it needs to be."""
    environment = preload_environment(allocator, os.environ)
    if environment is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        # orig_argv is the interpreter's own command line, its flags and `-m` included; the
        # process keeps its pid, so supervisors and signals see no difference.
        os.execve(sys.executable, sys.orig_argv, environment)
