"""The C allocator `collector serve` runs on: jemalloc unless told otherwise.

librdkafka allocates a message, its headers and their list for every record on the event
loop's thread and frees them on its broker thread, where glibc's malloc is at its worst. With
jemalloc the collector spent about 8 % less CPU per event under load on average, varied half
as much from run to run, and held about 6 MiB more memory (docs/benchmarks.md); Vector and
Relay ship with it too. It keeps freed memory for a while, so code that must bound its peak
memory should not grow one big buffer (collector.bodies).

A process cannot change its malloc once it runs, so `serve` executes itself again, once,
with the library in LD_PRELOAD, before any thread starts. Python's own small objects keep
their pymalloc arenas either way. A missing library is a warning, not an error, and an
LD_PRELOAD someone else set is left alone: the collector then runs on what it has.
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Allocator = Literal["jemalloc", "system"]

# Debian's libjemalloc2.
JEMALLOC = "libjemalloc.so.2"
# Set in the environment of the second run: one try only, even where the loader drops
# LD_PRELOAD (secure-execution mode: setuid, file capabilities), which would otherwise make
# every run try again, forever.
TRIED = "COLLECTOR_ALLOCATOR_PRELOADED"


def _library_directories() -> tuple[str, ...]:
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    return tuple(d for d in (f"/usr/lib/{arch}", f"/lib/{arch}", "/usr/lib64", "/usr/lib") if d)


def preload_environment(
    allocator: Allocator, environ: Mapping[str, str], directories: tuple[str, ...] | None = None
) -> dict[str, str] | None:
    """The environment to run again with so that `allocator` is loaded, or None when this
    process should go on as it is: on the system's malloc, after its one try, with an
    LD_PRELOAD someone else set (an allocator, a profiler or a sanitizer of their choosing),
    or without the library."""
    if allocator == "system" or TRIED in environ:
        return None
    if environ.get("LD_PRELOAD", "").strip():
        logger.info("LD_PRELOAD is set already (%s); not adding jemalloc", environ["LD_PRELOAD"])
        return None
    for directory in _library_directories() if directories is None else directories:
        path = Path(directory, JEMALLOC)
        if path.exists():
            return {**environ, "LD_PRELOAD": str(path), TRIED: "1"}
    logger.warning(
        "%s not found (Debian: apt-get install libjemalloc2); running on the system's malloc, "
        "which costs more CPU per event",
        JEMALLOC,
    )
    return None


def loaded(maps: Path = Path("/proc/self/maps")) -> str:
    """Which allocator this process runs on, from the libraries mapped into it."""
    try:
        text = maps.read_text()
    except OSError:
        return "unknown"
    return "jemalloc" if "libjemalloc" in text else "system"


def run_on(allocator: Allocator) -> None:
    """Execute this same command again with `allocator` preloaded, if it needs to be."""
    environment = preload_environment(allocator, os.environ)
    if environment is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            # orig_argv is the interpreter's own command line, its flags and `-m` included;
            # the process keeps its pid, so supervisors and signals see no difference.
            os.execve(sys.executable, sys.orig_argv, environment)
        except OSError as exc:
            logger.warning("could not run again with %s preloaded: %s", JEMALLOC, exc)
    elif allocator == "jemalloc" and TRIED in os.environ and loaded() != "jemalloc":
        logger.warning("%s was preloaded but did not load; on the system's malloc", JEMALLOC)
